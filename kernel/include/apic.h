/*
 * apic.h - the local APIC (timer, EOI), the IOAPIC (device IRQ routing) and
 * the legacy 8259 PICs (remapped and masked for good).
 */
#ifndef KEEL_APIC_H
#define KEEL_APIC_H

#include <stdbool.h>
#include <stdint.h>

#include "acpi.h"

void pic_disable(void);

void lapic_init(uint64_t phys);
void lapic_init_ap(void);
void lapic_eoi(void);
/* IPIs (physical destination): a fixed VECTOR, INIT, STARTUP at PAGE << 12. */
void lapic_send_ipi(uint32_t apic_id, uint8_t vector);
void lapic_send_init(uint32_t apic_id);
void lapic_send_startup(uint32_t apic_id, uint8_t page);
/* An NMI to every other core (it reaches a core spinning with interrupts off). */
void lapic_send_nmi_others(void);
uint32_t lapic_id(void);
/* Periodic timer on VECTOR_LAPIC_TIMER with INITIAL counts at divide-by-16. */
void lapic_timer_periodic(uint32_t initial);
void lapic_timer_stop(void);
/* One-shot count-down from 0xffffffff, for calibration; returns counts elapsed
 * while wait() ran. */
uint32_t lapic_timer_measure(void (*wait)(void *), void *ctx);

void ioapic_init(const struct acpi_info *acpi);
uint32_t ioapic_gsi_count(void);
/* True when this IOAPIC has an input for GSI (its base counted in). */
bool ioapic_has_gsi(uint32_t gsi);
/* Routes GSI to VECTOR (masked until ioapic_unmask). Returns false for a GSI
 * this IOAPIC does not have. */
bool ioapic_route(uint32_t gsi, uint8_t vector, bool active_low, bool level);
/* Sends GSI to the local APIC APIC_ID from now on. */
void ioapic_route_to(uint32_t gsi, uint32_t apic_id);
void ioapic_mask(uint32_t gsi);
void ioapic_unmask(uint32_t gsi);

#endif
