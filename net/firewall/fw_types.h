/*
 * fw_types.h - the vocabulary every part of the firewall shares: the error
 * enum, directions, protocol numbers, TCP flag bits, the interface table and
 * the parsed packet summary (struct fw_packet).
 *
 * The firewall (net/firewall/) is pure C: no allocation, no globals, no I/O.
 * It builds freestanding for netd and on the host for unit tests and fuzzers.
 * Every piece of state lives in a struct the caller owns and passes in; time
 * is a number of nanoseconds the caller passes in (any monotonic clock).
 *
 * Byte order: every address and port in these structs is in host order;
 * only the packet parser (fw_match.c) touches network byte order.
 */
#ifndef KEEL_FW_TYPES_H
#define KEEL_FW_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_MUST_CHECK __attribute__((warn_unused_result))

/* Errors of the firewall's API (negative); 0 is success. */
enum fw_error {
    FW_OK = 0,
    FW_E_SYNTAX = -1,    /* a configuration the compiler cannot use (fw_conf.h); the message says why */
    FW_E_FULL = -2,      /* no room: the rule set or the state table is at capacity */
    FW_E_INVAL = -3,     /* a broken call contract (bad size, NULL buffer, ...) */
    FW_E_NOT_VALID = -4, /* fw_ruleset_replace: the candidate did not parse completely */
    FW_E_EXISTS = -5,    /* fw_state_insert: a state with this key already exists */
    FW_E_LIMIT = -6,     /* a per-source limit (max-src-conn-rate) refused a new state */
    FW_E_NOT_FOUND = -7, /* fw_table_delete: no such entry */
};

/* Direction of a packet as seen by the appliance, and rule direction masks. */
#define FW_IN   1u
#define FW_OUT  2u
#define FW_BOTH (FW_IN | FW_OUT)

/* IP protocol numbers (IANA); 0 in a rule means "any protocol". */
#define FW_PROTO_ANY  0u
#define FW_PROTO_ICMP 1u
#define FW_PROTO_TCP  6u
#define FW_PROTO_UDP  17u

/* TCP flag bits, RFC 9293 section 3.1 (byte 13 of the header). */
#define FW_TH_FIN 0x01u
#define FW_TH_SYN 0x02u
#define FW_TH_RST 0x04u
#define FW_TH_PSH 0x08u
#define FW_TH_ACK 0x10u
#define FW_TH_URG 0x20u
#define FW_TH_ECE 0x40u
#define FW_TH_CWR 0x80u

/* ICMP types the firewall tracks (RFC 792). */
#define FW_ICMP_ECHO_REPLY    0u
#define FW_ICMP_UNREACH       3u
#define FW_ICMP_SOURCE_QUENCH 4u
#define FW_ICMP_REDIRECT      5u
#define FW_ICMP_ECHO_REQUEST  8u
#define FW_ICMP_TIME_EXCEEDED 11u
#define FW_ICMP_PARAM_PROBLEM 12u

/*
 * The interfaces the appliance has, in netd's order: the index of an entry is
 * the interface number in struct fw_packet and in rules.  The rule parser
 * reads only the names (from `interface NAME nic N ...` lines); antispoof
 * reads the address, which netd fills in (and updates when DHCP binds).
 */
#define FW_MAX_IFACES 8
#define FW_IFNAMSIZ   16
struct fw_iface {
    char name[FW_IFNAMSIZ]; /* NUL-terminated, non-empty */
    uint32_t addr;          /* the interface's address, valid iff has_addr */
    uint8_t prefix;         /* its network's prefix length, 0-32 */
    bool has_addr;
};
struct fw_ifaces {
    unsigned count; /* <= FW_MAX_IFACES */
    struct fw_iface ifs[FW_MAX_IFACES];
};

/*
 * A packet as the firewall sees it: filled by fw_parse_ipv4() (addresses,
 * ports, flags, lengths) and by the caller (dir, iface).  For ICMP echo the
 * identifier stands in for both ports, so echo pairs key like UDP pairs.
 * For ICMP errors (unreachable, time exceeded, ...) `inner` describes the
 * packet the error is about, when the quote was long enough to read.
 */
struct fw_packet {
    uint8_t dir;       /* FW_IN or FW_OUT: caller */
    uint8_t iface;     /* index into struct fw_ifaces: caller */
    uint8_t proto;     /* IP protocol number */
    uint8_t tcp_flags; /* FW_TH_* (TCP only) */
    uint32_t src, dst; /* IPv4 addresses */
    uint16_t sport;    /* TCP/UDP source port; ICMP echo: identifier */
    uint16_t dport;    /* TCP/UDP destination port; ICMP echo: identifier */
    uint8_t icmp_type, icmp_code;
    uint16_t len;    /* IPv4 total length: what byte counters add */
    bool ip_options; /* the header had options (IHL > 5) */
    bool has_inner;  /* ICMP error with a readable quoted packet */
    struct fw_inner {
        uint8_t proto, icmp_type;
        uint32_t src, dst;
        uint16_t sport, dport;
    } inner;
};

#endif
