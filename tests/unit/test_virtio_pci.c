/*
 * test_virtio_pci.c - drivers/virtio/virtio_pci.c: finding the virtio
 * structures and the MSI-X table in a PCI configuration snapshot, and the
 * checks against BARs and the notify structure.
 *
 * Each test builds a 256-byte configuration space by hand: the layout QEMU
 * gives virtio-net-pci (the reference), then damaged variants (no list, a
 * looping list, pointers into the header, capabilities running off the
 * end, reserved BAR numbers, short capabilities).  The parser must never
 * read outside the array (ASan watches) and never loop.
 */
#include <stdint.h>
#include <stdlib.h>

#include "unit.h"
#include "virtio.h"

struct cfgspace {
    uint8_t b[PCI_CFG_SIZE];
    unsigned last; /* offset of the last capability added, 0 if none */
};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void cs_init(struct cfgspace *c)
{
    memset(c, 0, sizeof *c);
    put16(c->b + 0x00, VIRTIO_PCI_VENDOR);
    put16(c->b + 0x02, 0x1041);
    put16(c->b + PCI_CFG_STATUS, PCI_STATUS_CAP_LIST);
}

/* Links a capability at OFF to the end of the list. */
static void cs_link(struct cfgspace *c, unsigned off)
{
    if (c->last)
        c->b[c->last + 1] = (uint8_t)off;
    else
        c->b[PCI_CFG_CAP_PTR] = (uint8_t)off;
    c->last = off;
}

static void cs_virtio(struct cfgspace *c, unsigned off, uint8_t type, uint8_t bar, uint32_t offset, uint32_t length,
                      uint8_t cap_len)
{
    uint8_t *p = c->b + off;
    p[0] = PCI_CAP_ID_VNDR;
    p[1] = 0;
    p[2] = cap_len;
    p[3] = type;
    p[4] = bar;
    put32(p + 8, offset);
    put32(p + 12, length);
    cs_link(c, off);
}

static void cs_notify(struct cfgspace *c, unsigned off, uint8_t bar, uint32_t offset, uint32_t length, uint32_t mult)
{
    cs_virtio(c, off, VIRTIO_PCI_CAP_NOTIFY_CFG, bar, offset, length, 20);
    put32(c->b + off + 16, mult);
}

static void cs_msix(struct cfgspace *c, unsigned off, uint16_t ctrl, uint32_t table)
{
    uint8_t *p = c->b + off;
    p[0] = PCI_CAP_ID_MSIX;
    p[1] = 0;
    put16(p + MSIX_CAP_CTRL, ctrl);
    put32(p + MSIX_CAP_TABLE, table);
    put32(p + 8, 0x800 | 1); /* PBA in BAR 1 at 0x800 */
    cs_link(c, off);
}

/* What QEMU 7.2 gives virtio-net-pci: MSI-X (3 vectors, table in BAR 1),
 * then the five virtio capabilities pointing into the 16 KiB BAR 4. */
static void cs_qemu(struct cfgspace *c)
{
    cs_init(c);
    cs_msix(c, 0x98, MSIX_CTRL_ENABLE | 2, 1);
    cs_virtio(c, 0x84, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 0, 20);
    cs_notify(c, 0x70, 4, 0x3000, 0x1000, 4);
    cs_virtio(c, 0x60, VIRTIO_PCI_CAP_DEVICE_CFG, 4, 0x2000, 0x1000, 16);
    cs_virtio(c, 0x50, VIRTIO_PCI_CAP_ISR_CFG, 4, 0x1000, 0x1000, 16);
    cs_virtio(c, 0x40, VIRTIO_PCI_CAP_COMMON_CFG, 4, 0x0000, 0x1000, 16);
}

static void test_qemu_layout_parsed(void)
{
    struct cfgspace c;
    struct vpci_layout l;
    cs_qemu(&c);
    CHECK_EQ(vpci_parse(c.b, &l), VIO_OK);
    CHECK(l.common.present);
    CHECK_EQ(l.common.bar, 4);
    CHECK_EQ(l.common.offset, 0);
    CHECK_EQ(l.common.length, 0x1000);
    CHECK_EQ(l.isr.offset, 0x1000);
    CHECK_EQ(l.device.offset, 0x2000);
    CHECK_EQ(l.notify.offset, 0x3000);
    CHECK_EQ(l.notify_off_multiplier, 4);
    CHECK(l.msix);
    CHECK(l.msix_enabled);
    CHECK_EQ(l.msix_table_size, 3);
    CHECK_EQ(l.msix_table.bar, 1);
    CHECK_EQ(l.msix_table.offset, 0);
    CHECK_EQ(l.msix_table.length, 48);
}

static void test_no_capability_list(void)
{
    struct cfgspace c;
    struct vpci_layout l;
    cs_qemu(&c);
    put16(c.b + PCI_CFG_STATUS, 0); /* the status bit says there is no list */
    CHECK_EQ(vpci_parse(c.b, &l), VIO_E_NO_CAP);
    CHECK(!l.common.present);
}

static void test_missing_structure_refused(void)
{
    struct cfgspace c;
    struct vpci_layout l;
    cs_init(&c);
    cs_virtio(&c, 0x40, VIRTIO_PCI_CAP_COMMON_CFG, 4, 0, 0x1000, 16);
    cs_virtio(&c, 0x50, VIRTIO_PCI_CAP_ISR_CFG, 4, 0x1000, 0x1000, 16);
    CHECK_EQ(vpci_parse(c.b, &l), VIO_E_NO_CAP); /* no notify structure */
    cs_notify(&c, 0x60, 4, 0x3000, 0x1000, 4);
    CHECK_EQ(vpci_parse(c.b, &l), VIO_OK);
    CHECK(!l.device.present); /* optional for the transport */
    CHECK(!l.msix);
}

static void test_looping_list_ends(void)
{
    struct cfgspace c;
    struct vpci_layout l;
    cs_qemu(&c);
    c.b[0x40 + 1] = 0x98; /* the last capability points back to the first */
    CHECK_EQ(vpci_parse(c.b, &l), VIO_OK);
    cs_init(&c);
    cs_virtio(&c, 0x40, VIRTIO_PCI_CAP_COMMON_CFG, 4, 0, 0x1000, 16);
    c.b[0x41] = 0x40; /* points to itself */
    CHECK_EQ(vpci_parse(c.b, &l), VIO_E_NO_CAP);
    CHECK(l.common.present);
}

static void test_pointer_into_header_ends_walk(void)
{
    struct cfgspace c;
    struct vpci_layout l;
    cs_qemu(&c);
    c.b[PCI_CFG_CAP_PTR] = 0x10; /* into the BARs */
    CHECK_EQ(vpci_parse(c.b, &l), VIO_E_NO_CAP);
    CHECK(!l.msix);
    /* The low two bits of a pointer are reserved and masked off. */
    cs_qemu(&c);
    c.b[PCI_CFG_CAP_PTR] = 0x98 | 3;
    CHECK_EQ(vpci_parse(c.b, &l), VIO_OK);
}

static void test_capability_past_the_end_ignored(void)
{
    struct cfgspace c;
    struct vpci_layout l;
    cs_init(&c);
    cs_virtio(&c, 0x40, VIRTIO_PCI_CAP_ISR_CFG, 4, 0x1000, 0x1000, 16);
    cs_notify(&c, 0x50, 4, 0x3000, 0x1000, 4);
    /* A common capability at 0xf8 claiming 16 bytes: 0xf8 + 16 > 256. */
    c.b[0xf8] = PCI_CAP_ID_VNDR;
    c.b[0xf9] = 0;
    c.b[0xfa] = 16;
    c.b[0xfb] = VIRTIO_PCI_CAP_COMMON_CFG;
    c.b[0xfc] = 4;
    cs_link(&c, 0xf8);
    CHECK_EQ(vpci_parse(c.b, &l), VIO_E_NO_CAP);
    CHECK(!l.common.present);
    /* Even the id and next pointer must fit: a pointer to 0xff. */
    cs_init(&c);
    c.b[PCI_CFG_CAP_PTR] = 0xfc;
    c.b[0xfc] = PCI_CAP_ID_VNDR;
    c.b[0xfd] = 0;
    c.b[0xfe] = 0xff; /* cap_len runs far past the end */
    CHECK_EQ(vpci_parse(c.b, &l), VIO_E_NO_CAP);
    cs_init(&c);
    c.b[PCI_CFG_CAP_PTR] = 0xf8;
    c.b[0xf8] = PCI_CAP_ID_MSIX; /* 12 bytes would run past the end */
    CHECK_EQ(vpci_parse(c.b, &l), VIO_E_NO_CAP);
    CHECK(!l.msix);
}

static void test_reserved_bar_skipped_first_valid_wins(void)
{
    struct cfgspace c;
    struct vpci_layout l;
    cs_init(&c);
    cs_virtio(&c, 0x40, VIRTIO_PCI_CAP_COMMON_CFG, 7, 0x9000, 0x1000, 16); /* reserved BAR: skip */
    cs_virtio(&c, 0x50, VIRTIO_PCI_CAP_COMMON_CFG, 2, 0x0100, 0x0100, 16); /* first valid: taken */
    cs_virtio(&c, 0x60, VIRTIO_PCI_CAP_COMMON_CFG, 4, 0x0000, 0x1000, 16); /* later: ignored */
    cs_virtio(&c, 0x70, VIRTIO_PCI_CAP_ISR_CFG, 4, 0x1000, 0x1000, 15);    /* too short: ignored */
    cs_virtio(&c, 0x80, VIRTIO_PCI_CAP_ISR_CFG, 4, 0x1100, 0x0010, 16);
    cs_virtio(&c, 0x90, VIRTIO_PCI_CAP_NOTIFY_CFG, 4, 0x2000, 0x1000, 16); /* no room for the multiplier */
    cs_notify(&c, 0xa0, 4, 0x3000, 0x1000, 2);
    cs_virtio(&c, 0xb8, 9, 4, 0, 0x10, 16); /* vendor-specific type: ignored */
    CHECK_EQ(vpci_parse(c.b, &l), VIO_OK);
    CHECK_EQ(l.common.bar, 2);
    CHECK_EQ(l.common.offset, 0x100);
    CHECK_EQ(l.isr.offset, 0x1100);
    CHECK_EQ(l.notify.offset, 0x3000);
    CHECK_EQ(l.notify_off_multiplier, 2);
}

static void test_msix_reserved_bir_and_disabled(void)
{
    struct cfgspace c;
    struct vpci_layout l;
    cs_qemu(&c);
    put32(c.b + 0x98 + MSIX_CAP_TABLE, 0x2000 | 7); /* BIR 7 is reserved */
    CHECK_EQ(vpci_parse(c.b, &l), VIO_OK);
    CHECK(!l.msix);
    cs_qemu(&c);
    put16(c.b + 0x98 + MSIX_CAP_CTRL, 0x7ff); /* not enabled, 2048 entries */
    put32(c.b + 0x98 + MSIX_CAP_TABLE, 0x1000 | 2);
    CHECK_EQ(vpci_parse(c.b, &l), VIO_OK);
    CHECK(l.msix);
    CHECK(!l.msix_enabled);
    CHECK_EQ(l.msix_table_size, 2048);
    CHECK_EQ(l.msix_table.bar, 2);
    CHECK_EQ(l.msix_table.offset, 0x1000);
    CHECK_EQ(l.msix_table.length, 2048 * 16);
}

static void test_region_checked_against_bar(void)
{
    struct vpci_region r = { .present = true, .bar = 4, .offset = 0x3000, .length = 0x1000 };
    CHECK_EQ(vpci_check_region(&r, 0x4000, 2), VIO_OK);
    CHECK_EQ(vpci_check_region(&r, 0x3fff, 2), VIO_E_BAR);
    CHECK_EQ(vpci_check_region(&r, 0x4000, 0x1001), VIO_E_BAR); /* shorter than the driver needs */
    r.offset = 0xfffff000u;
    r.length = 0x2000; /* offset + length wraps in 32 bits */
    CHECK_EQ(vpci_check_region(&r, 0x4000, 1), VIO_E_BAR);
    r.present = false;
    CHECK_EQ(vpci_check_region(&r, ~0ull, 0), VIO_E_BAR);
}

static void test_notify_offset(void)
{
    struct cfgspace c;
    struct vpci_layout l;
    cs_qemu(&c);
    CHECK_EQ(vpci_parse(c.b, &l), VIO_OK);
    CHECK_EQ(vpci_notify_offset(&l, 0), 0x3000);
    CHECK_EQ(vpci_notify_offset(&l, 1), 0x3004);
    CHECK_EQ(vpci_notify_offset(&l, 1023), 0x3000 + 4 * 1023); /* the last that fits 0x1000 */
    CHECK_EQ(vpci_notify_offset(&l, 1024), VIO_E_BAR);
    CHECK_EQ(vpci_notify_offset(&l, 0xffff), VIO_E_BAR);
    l.notify_off_multiplier = 0; /* every queue shares one doorbell: allowed */
    CHECK_EQ(vpci_notify_offset(&l, 0xffff), 0x3000);
    l.notify_off_multiplier = 0xffffffffu; /* 64-bit product: no wrap */
    CHECK_EQ(vpci_notify_offset(&l, 2), VIO_E_BAR);
    l.notify_off_multiplier = 3; /* an odd doorbell address cannot take a 16-bit write */
    CHECK_EQ(vpci_notify_offset(&l, 1), VIO_E_BAR);
    l.notify.length = 1; /* not even one doorbell */
    l.notify_off_multiplier = 4;
    CHECK_EQ(vpci_notify_offset(&l, 0), VIO_E_BAR);
}

static void test_device_ids(void)
{
    CHECK(vpci_is_device(0x1af4, 0x1041, VIRTIO_ID_NET, VIRTIO_TRANS_NET));
    CHECK(vpci_is_device(0x1af4, 0x1000, VIRTIO_ID_NET, VIRTIO_TRANS_NET));
    CHECK(vpci_is_device(0x1af4, 0x1044, VIRTIO_ID_RNG, VIRTIO_TRANS_RNG));
    CHECK(vpci_is_device(0x1af4, 0x1005, VIRTIO_ID_RNG, VIRTIO_TRANS_RNG));
    CHECK(!vpci_is_device(0x1af4, 0x1044, VIRTIO_ID_NET, VIRTIO_TRANS_NET));
    CHECK(!vpci_is_device(0x8086, 0x1041, VIRTIO_ID_NET, VIRTIO_TRANS_NET));
    CHECK(!vpci_is_device(0x1af4, 0x1001, VIRTIO_ID_NET, VIRTIO_TRANS_NET)); /* transitional block */
}

/* Every possible value of one damaged byte in the reference layout: the
 * parser must neither crash (ASan) nor hang, whatever it decides. */
static void test_every_single_byte_damage(void)
{
    struct cfgspace ref, c;
    struct vpci_layout l;
    cs_qemu(&ref);
    int ok = 0;
    for (unsigned off = 0x34; off < PCI_CFG_SIZE; off++) {
        for (unsigned v = 0; v < 256; v++) {
            c = ref;
            c.b[off] = (uint8_t)v;
            if (vpci_parse(c.b, &l) == VIO_OK) {
                ok++;
                CHECK(l.common.present && l.notify.present && l.isr.present);
                CHECK(l.common.bar < PCI_BAR_COUNT && l.notify.bar < PCI_BAR_COUNT && l.isr.bar < PCI_BAR_COUNT);
            }
        }
    }
    CHECK(ok > 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_qemu_layout_parsed),
        UNIT_TEST(test_no_capability_list),
        UNIT_TEST(test_missing_structure_refused),
        UNIT_TEST(test_looping_list_ends),
        UNIT_TEST(test_pointer_into_header_ends_walk),
        UNIT_TEST(test_capability_past_the_end_ignored),
        UNIT_TEST(test_reserved_bar_skipped_first_valid_wins),
        UNIT_TEST(test_msix_reserved_bir_and_disabled),
        UNIT_TEST(test_region_checked_against_bar),
        UNIT_TEST(test_notify_offset),
        UNIT_TEST(test_device_ids),
        UNIT_TEST(test_every_single_byte_damage),
    };
    return unit_main("virtio_pci", tests, (int)(sizeof tests / sizeof tests[0]));
}
