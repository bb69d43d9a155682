/*
 * irq.c - interrupts delivered to user space as notification bits.
 *
 * An IRQ object stands for one interrupt source: an IOAPIC line (GSI) or
 * an MSI vector.  When it fires, the kernel masks the line (for IOAPIC
 * lines; an MSI is edge-triggered and needs no mask), sets the bound bit in
 * the driver's notification, and sends EOI.  The line stays masked until
 * the driver calls SYS_IRQ_ACK, so a driver that is slow, stuck or dead
 * cannot cause an interrupt storm.  Each source is handed out at most once.
 */
#include "acpi.h"
#include "apic.h"
#include "ipc.h"
#include "kheap.h"
#include "log.h"
#include "sched.h"
#include "trap.h"

#define MSI_VECTOR_FIRST 0x60
#define MSI_VECTOR_LAST  0xdf
#define GSI_MAX          24

static struct irq *by_vector[256];
static struct acpi_info acpi_copy;

void irq_set_acpi(const struct acpi_info *a) { acpi_copy = *a; }

bool irq_owns_mmio(uint64_t phys, uint64_t len)
{
    uint64_t own[2] = { acpi_copy.lapic_phys & ~0xfffull, acpi_copy.ioapic_phys & ~0xfffull };
    for (int i = 0; i < 2; i++)
        if (phys < own[i] + 4096 && own[i] < phys + len)
            return true;
    return false;
}

static void on_irq(struct trap_frame *tf, void *ctx)
{
    (void)tf;
    struct irq *irq = ctx;
    if (irq->vector < MSI_VECTOR_FIRST)
        ioapic_mask(irq->gsi);
    irq->pending_ack = true;
    irq->count++;
    lapic_eoi();
    if (irq->ntfn)
        ntfn_signal(irq->ntfn, irq->bit);
}

static int alloc_msi_vector(void)
{
    for (int v = MSI_VECTOR_FIRST; v <= MSI_VECTOR_LAST; v++)
        if (!by_vector[v])
            return v;
    return -1;
}

/* Whether LINE (as in SYS_IRQ_GET) can be handed out: KE_OK, KE_BUSY when
 * taken (or no MSI vector is left), KE_INVALID_ARG when there is no such line. */
int irq_line_check(uint64_t line)
{
    if (line == KEEL_IRQ_MSI)
        return alloc_msi_vector() < 0 ? KE_BUSY : KE_OK;
    bool raw_gsi = line & KEEL_IRQ_GSI_LEVEL_HIGH;
    line &= ~(uint64_t)KEEL_IRQ_GSI_LEVEL_HIGH;
    if (line >= GSI_MAX)
        return KE_INVALID_ARG;
    uint32_t gsi = (line < 16 && !raw_gsi) ? acpi_copy.isa[line].gsi : (uint32_t)line;
    if (gsi >= GSI_MAX || !ioapic_has_gsi(gsi))
        return KE_INVALID_ARG;
    return by_vector[IRQ_VECTOR_BASE + gsi] ? KE_BUSY : KE_OK;
}

struct irq *irq_create(uint32_t line)
{
    struct irq *irq = kheap_alloc(sizeof *irq);
    if (!irq)
        return NULL;
    irq->hdr.type = CAP_IRQ;
    if (line == KEEL_IRQ_MSI) {
        irq->vector = (uint8_t)alloc_msi_vector();
    } else if (line & KEEL_IRQ_GSI_LEVEL_HIGH) {
        irq->gsi = line & ~KEEL_IRQ_GSI_LEVEL_HIGH;
        irq->active_low = false;
        irq->level = true;
        irq->vector = (uint8_t)(IRQ_VECTOR_BASE + irq->gsi);
    } else if (line < 16) {
        irq->gsi = acpi_copy.isa[line].gsi;
        irq->active_low = acpi_copy.isa[line].active_low;
        irq->level = acpi_copy.isa[line].level_triggered;
        irq->vector = (uint8_t)(IRQ_VECTOR_BASE + irq->gsi);
    } else {
        irq->gsi = line;
        irq->active_low = true; /* PCI INTx: level-triggered, active low */
        irq->level = true;
        irq->vector = (uint8_t)(IRQ_VECTOR_BASE + irq->gsi);
    }
    by_vector[irq->vector] = irq;
    trap_set_handler(irq->vector, on_irq, irq);
    if (irq->vector < MSI_VECTOR_FIRST)
        ioapic_route(irq->gsi, irq->vector, irq->active_low, irq->level);
    return irq;
}

int64_t irq_bind(struct irq *irq, struct notification *n, uint64_t bit, uint32_t apic_id)
{
    if (!bit)
        return KE_INVALID_ARG;
    irq->ntfn = n;
    irq->bit = bit;
    irq->pending_ack = false;
    if (irq->vector < MSI_VECTOR_FIRST) {
        ioapic_route_to(irq->gsi, apic_id);
        ioapic_unmask(irq->gsi);
    }
    return KE_OK;
}

int64_t irq_ack(struct irq *irq)
{
    if (!irq->pending_ack)
        return KE_OK; /* nothing to acknowledge: harmless */
    irq->pending_ack = false;
    if (irq->vector < MSI_VECTOR_FIRST)
        ioapic_unmask(irq->gsi);
    return KE_OK;
}

/* Called when the notification an IRQ signals dies: stop delivering. */
void irq_unbind_ntfn(struct notification *n)
{
    for (int v = 0; v < 256; v++) {
        struct irq *irq = by_vector[v];
        if (irq && irq->ntfn == n) {
            irq->ntfn = NULL;
            if (irq->vector < MSI_VECTOR_FIRST)
                ioapic_mask(irq->gsi);
        }
    }
}

void irq_destroy(struct irq *irq)
{
    if (irq->vector < MSI_VECTOR_FIRST)
        ioapic_mask(irq->gsi);
    trap_set_handler(irq->vector, NULL, NULL);
    by_vector[irq->vector] = NULL;
}
