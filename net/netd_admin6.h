/*
 * netd_admin6.h - the IPv6 rows of netd's admin tables (`show interfaces`,
 * `show arp` (neighbours), `show routes`, `show states`) and the console's
 * ping to an IPv6 address, beside netd_admin.c's IPv4 ones.  Design
 * comment in netd_admin6.c.
 */
#ifndef NETD_ADMIN6_H
#define NETD_ADMIN6_H

#include <stdint.h>

#include <keel/init.h>

#include "netd_admin.h"

/* Where rows go: N fields, one row (netd_admin.c joins them with tabs). */
typedef void netd_admin6_emit(void *ctx, const char *const *fields, unsigned n);

void netd_admin6_interfaces(const struct netd_admin *a, netd_admin6_emit *emit, void *ctx);
void netd_admin6_neighbours(const struct netd_admin *a, netd_admin6_emit *emit, void *ctx);
void netd_admin6_routes(const struct netd_admin *a, netd_admin6_emit *emit, void *ctx);
void netd_admin6_states(const struct netd_admin *a, netd_admin6_emit *emit, void *ctx);

/* The ping's raw ICMPv6 PCB (made once; its replies are counted through
 * netd_ping_count_reply).  0, or -1 when lwIP has no raw PCB left. */
int netd_ping6_open(struct netd_admin *a);

/* Sends echo request number pg->sent to pg->addr6. */
void netd_ping6_send(struct netd_admin *a);

#endif
