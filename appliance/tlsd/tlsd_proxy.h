/*
 * tlsd_proxy.h - the PROXY protocol header tlsd sends a backend first
 * (HAProxy's proxy-protocol.txt, versions 1 and 2), built from the two ends
 * of the client's connection.  Pure: linked into tlsd (tlsd_worker.c) and
 * host-tested byte for byte (tests/unit/test_tlsd_proxy.c).
 *
 * The header describes the client's connection, never the backend's: an
 * IPv4 client gets "PROXY TCP4 ..." / AF_INET, an IPv6 client "PROXY TCP6
 * ..." / AF_INET6, whatever family the backend is.  An IPv6 client whose
 * addresses are unknown (netd could not give them: the connection went)
 * gets the spec's address-less forms, "PROXY UNKNOWN" and v2's LOCAL.
 */
#ifndef TLSD_PROXY_H
#define TLSD_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLSD_PROXY_MAX 108 /* the longest header: a v1 line (section 2.1) */

/* The client's connection.  Addresses in network order: the first 4 bytes
 * for IPv4, all 16 for IPv6. */
struct tlsd_proxy_ends {
    bool v6;         /* the client came over IPv6 */
    bool known;      /* src and dst hold the addresses (always for IPv4) */
    uint8_t src[16]; /* the client */
    uint8_t dst[16]; /* the address the client connected to */
    uint16_t sport;  /* the client's port */
    uint16_t dport;  /* the listener's port */
};

/* Writes the header of VERSION (1 or 2; conf.h's CONF_PROXY_V1/V2) for E
 * into OUT and returns its length (v1: at most 107 bytes, "\r\n" ended;
 * v2: 16, 28 or 52); 0 for any other VERSION. */
size_t tlsd_proxy_header(unsigned version, const struct tlsd_proxy_ends *e, uint8_t out[TLSD_PROXY_MAX]);

#endif
