/*
 * regs.h - the Intel 8254x (82540EM, QEMU's `-device e1000`) as software
 * sees it: the registers of BAR0 this driver uses, their bits, and the
 * legacy receive and transmit descriptors.
 *
 * Source: "PCI/PCI-X Family of Gigabit Ethernet Controllers Software
 * Developer's Manual" (8254x SDM, Intel order no. 317453, rev. 4.0), cited
 * below as SDM.  Offsets are from the register summary (SDM 13.3,
 * Table 13-2) and each register's own section in SDM 13.4/13.5.  Access:
 * RO read only, WO write only, RW read/write, RC read-to-clear.
 *
 * Only what the driver programs is here; everything else keeps its reset
 * value.  No 82541/82547-only encodings (their EERD differs): the driver
 * only binds 8086:100e and the 82544/82545 parts QEMU also models, which
 * share every encoding below.
 *
 * Pure definitions: no code, no state; shared by the driver and its host
 * unit tests.
 */
#ifndef KEEL_DRIVERS_E1000_REGS_H
#define KEEL_DRIVERS_E1000_REGS_H

#include <stddef.h>
#include <stdint.h>

/* PCI identity (SDM 5, the EEPROM's Device ID word; SDM 4, PCI configuration). */
#define E1000_VENDOR_INTEL   0x8086u
#define E1000_DEV_82540EM    0x100eu  /* QEMU -device e1000 (the default) */
#define E1000_DEV_82544GC    0x1008u  /* QEMU -device e1000-82544gc */
#define E1000_DEV_82545EM    0x100fu  /* QEMU -device e1000-82545em */
#define E1000_BAR0_MIN_BYTES 0x20000u /* the 128 KiB memory BAR, SDM 4 */

/* ---------------------------------------------------------- registers ---- */

/* General (SDM 13.4.1-13.4.4). */
#define E1000_CTRL   0x00000u /* RW  device control, SDM 13.4.1 */
#define E1000_STATUS 0x00008u /* RO  device status, SDM 13.4.2 */
#define E1000_EECD   0x00010u /* RW  EEPROM/flash control, SDM 13.4.3 */
#define E1000_EERD   0x00014u /* RW  EEPROM read, SDM 13.4.4 */

/* Interrupts (SDM 13.4.17-13.4.21). */
#define E1000_ICR 0x000c0u /* RC  interrupt cause read (reading clears), SDM 13.4.17 */
#define E1000_ITR 0x000c4u /* RW  interrupt throttling, SDM 13.4.18 */
#define E1000_ICS 0x000c8u /* WO  interrupt cause set, SDM 13.4.19 */
#define E1000_IMS 0x000d0u /* RW  interrupt mask set/read, SDM 13.4.20 */
#define E1000_IMC 0x000d8u /* WO  interrupt mask clear, SDM 13.4.21 */

/* Receive (SDM 13.4.22, 13.4.25-13.4.30). */
#define E1000_RCTL  0x00100u /* RW  receive control, SDM 13.4.22 */
#define E1000_RDBAL 0x02800u /* RW  RX descriptor base low, SDM 13.4.25 */
#define E1000_RDBAH 0x02804u /* RW  RX descriptor base high, SDM 13.4.26 */
#define E1000_RDLEN 0x02808u /* RW  RX ring bytes (multiple of 128), SDM 13.4.27 */
#define E1000_RDH   0x02810u /* RW  RX head: software writes it only while RX is off, SDM 13.4.28 */
#define E1000_RDT   0x02818u /* RW  RX tail: one past the last descriptor given to hardware, SDM 13.4.29 */
#define E1000_RDTR  0x02820u /* RW  RX interrupt delay timer, SDM 13.4.30 */
#define E1000_RADV  0x0282cu /* RW  RX absolute interrupt delay (82540EM and later), Table 13-2 */

/* Transmit (SDM 13.4.33-13.4.40; the delay timers from Table 13-2). */
#define E1000_TCTL  0x00400u /* RW  transmit control, SDM 13.4.33 */
#define E1000_TIPG  0x00410u /* RW  transmit inter-packet gap, SDM 13.4.34 */
#define E1000_TDBAL 0x03800u /* RW  TX descriptor base low, SDM 13.4.36 */
#define E1000_TDBAH 0x03804u /* RW  TX descriptor base high, SDM 13.4.37 */
#define E1000_TDLEN 0x03808u /* RW  TX ring bytes (multiple of 128), SDM 13.4.38 */
#define E1000_TDH   0x03810u /* RW  TX head: software writes it only while TX is off, SDM 13.4.39 */
#define E1000_TDT   0x03818u /* RW  TX tail: one past the last descriptor given to hardware, SDM 13.4.40 */
#define E1000_TIDV  0x03820u /* RW  TX interrupt delay, Table 13-2 */
#define E1000_TADV  0x0382cu /* RW  TX absolute interrupt delay (82540EM and later), Table 13-2 */

/* Filters (SDM 13.5.1-13.5.3). */
#define E1000_MTA       0x05200u /* RW  multicast table array, 128 words, SDM 13.5.1 */
#define E1000_MTA_WORDS 128u
#define E1000_RAL0      0x05400u /* RW  receive address 0, low 32 bits of the MAC, SDM 13.5.2 */
#define E1000_RAH0      0x05404u /* RW  receive address 0, high 16 bits + AV, SDM 13.5.3 */

/* ----------------------------------------------------------------- bits ---- */

/* CTRL, SDM 13.4.1. */
#define E1000_CTRL_FD      (1u << 0)  /* full duplex (ignored while ASDE/auto-negotiation decides) */
#define E1000_CTRL_ASDE    (1u << 5)  /* auto-speed detection enable */
#define E1000_CTRL_SLU     (1u << 6)  /* set link up: lets the MAC follow the PHY's link */
#define E1000_CTRL_ILOS    (1u << 7)  /* invert loss-of-signal: must be 0 for copper */
#define E1000_CTRL_FRCSPD  (1u << 11) /* force speed */
#define E1000_CTRL_FRCDPLX (1u << 12) /* force duplex */
#define E1000_CTRL_RST     (1u << 26) /* device reset; self-clearing; wait >= 1 us before the next access */
#define E1000_CTRL_VME     (1u << 30) /* VLAN mode enable */
#define E1000_CTRL_PHY_RST (1u << 31) /* PHY reset */

/* STATUS, SDM 13.4.2. */
#define E1000_STATUS_FD         (1u << 0) /* full duplex */
#define E1000_STATUS_LU         (1u << 1) /* link up */
#define E1000_STATUS_SPEED_MASK (3u << 6) /* 00 10 Mb/s, 01 100 Mb/s, 1x 1000 Mb/s */

/* EERD, SDM 13.4.4 (the layout of every 8254x except the 82541/82547). */
#define E1000_EERD_START      (1u << 0) /* write 1 with ADDR to start a read */
#define E1000_EERD_DONE       (1u << 4) /* the read finished; DATA is valid */
#define E1000_EERD_ADDR_SHIFT 8u        /* word address, bits 15:8 */
#define E1000_EERD_ADDR_MASK  (0xffu << 8)
#define E1000_EERD_DATA_SHIFT 16u /* data word, bits 31:16 */
/* The Ethernet address is EEPROM words 00h-02h, low byte first (SDM 5, EEPROM map). */
#define E1000_EEPROM_MAC_WORD0 0u

/* Interrupt causes: the same bit in ICR/ICS/IMS/IMC, SDM 13.4.17. */
#define E1000_INT_TXDW   (1u << 0)   /* a descriptor with RS was written back */
#define E1000_INT_TXQE   (1u << 1)   /* transmit queue empty */
#define E1000_INT_LSC    (1u << 2)   /* link status change */
#define E1000_INT_RXSEQ  (1u << 3)   /* receive sequence error */
#define E1000_INT_RXDMT0 (1u << 4)   /* RX descriptors below the minimum threshold */
#define E1000_INT_RXO    (1u << 6)   /* receiver overrun: a frame was dropped for lack of descriptors */
#define E1000_INT_RXT0   (1u << 7)   /* receiver timer: frames were written back */
#define E1000_INT_ALL    0xffffffffu /* for IMC: mask everything */

/* ITR, SDM 13.4.18: minimum gap between interrupts in 256 ns units, bits 15:0. */
#define E1000_ITR_INTERVAL_MASK 0xffffu

/* RCTL, SDM 13.4.22 (Table 13-67). */
#define E1000_RCTL_EN         (1u << 1)  /* receiver enable */
#define E1000_RCTL_SBP        (1u << 2)  /* store bad packets */
#define E1000_RCTL_UPE        (1u << 3)  /* unicast promiscuous */
#define E1000_RCTL_MPE        (1u << 4)  /* multicast promiscuous */
#define E1000_RCTL_LPE        (1u << 5)  /* long packets (> 1522 bytes) */
#define E1000_RCTL_LBM_MASK   (3u << 6)  /* loopback mode: 00 = none */
#define E1000_RCTL_RDMTS_HALF (0u << 8)  /* RXDMT0 when free descriptors < 1/2 of the ring */
#define E1000_RCTL_MO_MASK    (3u << 12) /* multicast offset: 00 = bits 47:36 */
#define E1000_RCTL_BAM        (1u << 15) /* accept broadcast */
#define E1000_RCTL_BSIZE_2048 (0u << 16) /* buffer size 2048 with BSEX = 0 */
#define E1000_RCTL_BSIZE_MASK (3u << 16)
#define E1000_RCTL_VFE        (1u << 18) /* VLAN filter enable */
#define E1000_RCTL_BSEX       (1u << 25) /* buffer size extension (x16) */
#define E1000_RCTL_SECRC      (1u << 26) /* strip the Ethernet CRC: lengths exclude the FCS */

/* TCTL, SDM 13.4.33 (Table 13-76). */
#define E1000_TCTL_EN         (1u << 1) /* transmitter enable */
#define E1000_TCTL_PSP        (1u << 3) /* pad short packets to 64 bytes */
#define E1000_TCTL_CT_SHIFT   4u        /* collision threshold, bits 11:4 */
#define E1000_TCTL_CT_MASK    (0xffu << 4)
#define E1000_TCTL_COLD_SHIFT 12u /* collision distance, bits 21:12 */
#define E1000_TCTL_COLD_MASK  (0x3ffu << 12)
#define E1000_TCTL_RTLC       (1u << 24) /* retransmit on late collision */
#define E1000_TCTL_CT_DEFAULT 0x0fu      /* "recommended value 0Fh" */
#define E1000_TCTL_COLD_FD    0x40u      /* full duplex: 64-byte time */

/* TIPG, SDM 13.4.34: the values the SDM gives for the 82540EM on copper. */
#define E1000_TIPG_IPGT_SHIFT  0u
#define E1000_TIPG_IPGR1_SHIFT 10u
#define E1000_TIPG_IPGR2_SHIFT 20u
#define E1000_TIPG_IPGT_COPPER 10u
#define E1000_TIPG_IPGR1       8u
#define E1000_TIPG_IPGR2       6u

/* RAH, SDM 13.5.3. */
#define E1000_RAH_AV        (1u << 31) /* address valid: the filter is on */
#define E1000_RAH_ADDR_MASK 0xffffu    /* MAC bytes 4-5 */

/* ---------------------------------------------------------- descriptors ---- */

/*
 * Receive descriptor, SDM 3.2.3 (Table 3-1).  Software writes buffer_addr
 * (and zeroes status); hardware writes back length, checksum, status,
 * errors and special, and sets STATUS.DD last.
 */
struct e1000_rx_desc {
    uint64_t buffer_addr; /* RW(sw) physical address of a buffer of RCTL.BSIZE bytes */
    uint16_t length;      /* RO(hw) bytes written to the buffer (no FCS with SECRC) */
    uint16_t csum;        /* RO(hw) packet checksum, unused */
    uint8_t status;       /* RO(hw) E1000_RXD_STAT_*; software zeroes it before posting */
    uint8_t errors;       /* RO(hw) E1000_RXD_ERR_*, valid with EOP */
    uint16_t special;     /* RO(hw) VLAN tag, unused */
};
_Static_assert(sizeof(struct e1000_rx_desc) == 16, "SDM 3.2.3: RX descriptors are 16 bytes");
_Static_assert(offsetof(struct e1000_rx_desc, length) == 8, "SDM Table 3-1: length at byte 8");
_Static_assert(offsetof(struct e1000_rx_desc, status) == 12, "SDM Table 3-1: status at byte 12");
_Static_assert(offsetof(struct e1000_rx_desc, errors) == 13, "SDM Table 3-1: errors at byte 13");
_Static_assert(offsetof(struct e1000_rx_desc, special) == 14, "SDM Table 3-1: special at byte 14");

/* RX status, SDM 3.2.3.1. */
#define E1000_RXD_STAT_DD   (1u << 0) /* descriptor done: hardware finished with it */
#define E1000_RXD_STAT_EOP  (1u << 1) /* last descriptor of the frame */
#define E1000_RXD_STAT_IXSM (1u << 2) /* ignore checksum indication */
#define E1000_RXD_STAT_VP   (1u << 3) /* 802.1Q frame, tag stripped to `special` */

/* RX errors, SDM 3.2.3.2; valid when EOP is set. */
#define E1000_RXD_ERR_CE   (1u << 0) /* CRC or alignment error */
#define E1000_RXD_ERR_SE   (1u << 1) /* symbol error (TBI mode) */
#define E1000_RXD_ERR_SEQ  (1u << 2) /* sequence error (TBI mode) */
#define E1000_RXD_ERR_CXE  (1u << 4) /* carrier extension error */
#define E1000_RXD_ERR_TCPE (1u << 5) /* TCP/UDP checksum error (offload; not used) */
#define E1000_RXD_ERR_IPE  (1u << 6) /* IP checksum error (offload; not used) */
#define E1000_RXD_ERR_RXE  (1u << 7) /* RX data error */
/* The frame itself is damaged; the checksum bits only report offload results. */
#define E1000_RXD_ERR_FRAME                                                                                            \
    (E1000_RXD_ERR_CE | E1000_RXD_ERR_SE | E1000_RXD_ERR_SEQ | E1000_RXD_ERR_CXE | E1000_RXD_ERR_RXE)

/*
 * Legacy transmit descriptor, SDM 3.3.3 (Table 3-8), selected by
 * cmd.DEXT = 0.  Software writes everything; hardware writes back status
 * (DD) when cmd.RS is set.
 */
struct e1000_tx_desc {
    uint64_t buffer_addr; /* RW(sw) physical address of the frame bytes */
    uint16_t length;      /* RW(sw) bytes in this buffer */
    uint8_t cso;          /* RW(sw) checksum offset, unused (0) */
    uint8_t cmd;          /* RW(sw) E1000_TXD_CMD_* */
    uint8_t status;       /* RW(hw) E1000_TXD_STAT_* in bits 3:0; software writes 0 */
    uint8_t css;          /* RW(sw) checksum start, unused (0) */
    uint16_t special;     /* RW(sw) VLAN tag, unused (0) */
};
_Static_assert(sizeof(struct e1000_tx_desc) == 16, "SDM 3.3.3: TX descriptors are 16 bytes");
_Static_assert(offsetof(struct e1000_tx_desc, length) == 8, "SDM Table 3-8: length at byte 8");
_Static_assert(offsetof(struct e1000_tx_desc, cmd) == 11, "SDM Table 3-8: CMD at byte 11");
_Static_assert(offsetof(struct e1000_tx_desc, status) == 12, "SDM Table 3-8: STA at byte 12");
_Static_assert(offsetof(struct e1000_tx_desc, special) == 14, "SDM Table 3-8: special at byte 14");

/* TX command, SDM 3.3.3.1. */
#define E1000_TXD_CMD_EOP  (1u << 0) /* end of packet */
#define E1000_TXD_CMD_IFCS (1u << 1) /* insert the FCS */
#define E1000_TXD_CMD_IC   (1u << 2) /* insert checksum (CSO/CSS) */
#define E1000_TXD_CMD_RS   (1u << 3) /* report status: write back DD */
#define E1000_TXD_CMD_DEXT (1u << 5) /* extended descriptor: must be 0 for legacy */
#define E1000_TXD_CMD_VLE  (1u << 6) /* insert the VLAN tag */
#define E1000_TXD_CMD_IDE  (1u << 7) /* interrupt delay enable (TIDV) */

/* TX status, SDM 3.3.3.2. */
#define E1000_TXD_STAT_DD     (1u << 0) /* descriptor done */
#define E1000_TXD_STAT_EC     (1u << 1) /* excess collisions: the frame was not sent */
#define E1000_TXD_STAT_LC     (1u << 2) /* late collision: the frame was not sent */
#define E1000_TXD_STAT_FAILED (E1000_TXD_STAT_EC | E1000_TXD_STAT_LC)

/* Ring geometry rules, SDM 13.4.27/13.4.38: the base 16-byte aligned, the
 * length a multiple of 128 bytes (8 descriptors), at most 65536 descriptors. */
#define E1000_RING_ALIGN     16u
#define E1000_RING_LEN_ALIGN 128u

#endif
