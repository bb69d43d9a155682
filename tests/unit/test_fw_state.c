/* test_fw_state.c - connection tracking (net/firewall/fw_state.c). */
#include <string.h>

#include "fw_log.h"
#include "fw_state.h"
#include "unit.h"

#define SEC            FW_NS_PER_SEC
#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define A              IP(192, 168, 50, 10) /* a lan host */
#define B              IP(93, 184, 216, 34) /* a server on the internet */

static struct fw_state slots[64];
static uint32_t buckets[16];
static struct fw_src_node srcs[8];
static struct fw_state_table t;

static void setup(uint32_t nslots, uint32_t nbuckets)
{
    struct fw_state_storage mem = {
        slots, nslots, buckets, nbuckets, srcs, 8, { 0x0123456789abcdefull, 42 }, { 3, 5 }
    };
    CHECK_EQ(fw_state_init(&t, &mem), FW_OK);
}

static struct fw_packet pkt(uint8_t dir, uint8_t proto, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    struct fw_packet p = { 0 };
    p.dir = dir;
    p.proto = proto;
    p.src = src;
    p.sport = sport;
    p.dst = dst;
    p.dport = dport;
    p.len = 60;
    return p;
}

static struct fw_packet tcp(uint8_t dir, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, uint8_t flags)
{
    struct fw_packet p = pkt(dir, FW_PROTO_TCP, src, sport, dst, dport);
    p.tcp_flags = flags;
    return p;
}

/* The initiator's (A:40000 out to B:443) and the responder's packets. */
static struct fw_packet fwd(uint8_t flags) { return tcp(FW_OUT, A, 40000, B, 443, flags); }
static struct fw_packet rep(uint8_t flags) { return tcp(FW_IN, B, 443, A, 40000, flags); }

/* Looks p up and updates its state; returns the result, or -1 for no state. */
static int step(struct fw_packet p, uint64_t now)
{
    bool reply;
    struct fw_state *s = fw_state_lookup(&t, &p, now, &reply);
    if (!s)
        return -1;
    return fw_state_update(&t, s, &p, reply, now);
}

static struct fw_state *find(struct fw_packet p, uint64_t now)
{
    bool reply;
    return fw_state_lookup(&t, &p, now, &reply);
}

static void test_init_contract(void)
{
    struct fw_state_storage mem = { slots, 64, buckets, 16, srcs, 8, { 1, 2 }, { 3, 5 } };
    CHECK_EQ(fw_state_init(&t, &mem), FW_OK);
    CHECK_EQ(t.count, 0);
    CHECK_EQ(t.timeouts.tcp_established, 24 * 3600 * SEC);
    mem.nbuckets = 12;
    CHECK_EQ(fw_state_init(&t, &mem), FW_E_INVAL);
    mem.nbuckets = 16;
    mem.nsrcs = 6;
    CHECK_EQ(fw_state_init(&t, &mem), FW_E_INVAL);
    mem.srcs = NULL; /* no source table: fine */
    CHECK_EQ(fw_state_init(&t, &mem), FW_OK);
    mem.nslots = 0;
    CHECK_EQ(fw_state_init(&t, &mem), FW_E_INVAL);
    mem.nslots = 64;
    mem.slots = NULL;
    CHECK_EQ(fw_state_init(&t, &mem), FW_E_INVAL);
    CHECK_EQ(fw_state_init(NULL, &mem), FW_E_INVAL);
    CHECK_EQ(fw_state_init(&t, NULL), FW_E_INVAL);
}

static void test_directions(void)
{
    setup(64, 16);
    struct fw_packet syn = fwd(FW_TH_SYN);
    struct fw_state *s = NULL;
    CHECK_EQ(fw_state_insert(&t, &syn, SEC, 3, 7, 0, &s), FW_OK);
    CHECK(s != NULL);
    CHECK_EQ(t.count, 1);
    CHECK_EQ(s->rule, 3);
    CHECK_EQ(s->gen, 7);
    CHECK_EQ(s->tcp, FW_TCP_SYN_SENT);
    CHECK_EQ(s->packets[0], 1);
    CHECK_EQ(s->bytes[0], 60);
    bool reply = true;
    CHECK(fw_state_lookup(&t, &syn, SEC, &reply) == s);
    CHECK(!reply);
    struct fw_packet synack = rep(FW_TH_SYN | FW_TH_ACK);
    CHECK(fw_state_lookup(&t, &synack, SEC, &reply) == s);
    CHECK(reply);
    /* the same addresses in the wrong direction belong to no state */
    struct fw_packet wrong = synack;
    wrong.dir = FW_OUT;
    CHECK(find(wrong, SEC) == NULL);
    wrong = syn;
    wrong.dir = FW_IN;
    CHECK(find(wrong, SEC) == NULL);
    wrong = syn;
    wrong.sport++;
    CHECK(find(wrong, SEC) == NULL);
    wrong = syn;
    wrong.proto = FW_PROTO_UDP;
    CHECK(find(wrong, SEC) == NULL);
    /* a key exists once; a bad direction is refused */
    CHECK_EQ(fw_state_insert(&t, &syn, SEC, 0, 0, 0, NULL), FW_E_EXISTS);
    CHECK_EQ(fw_state_insert(&t, &synack, SEC, 0, 0, 0, NULL), FW_E_EXISTS);
    wrong = syn;
    wrong.dir = 0;
    CHECK_EQ(fw_state_insert(&t, &wrong, SEC, 0, 0, 0, NULL), FW_E_INVAL);
    /* a forwarded connection has a second state, made in the other direction */
    struct fw_packet in_lan = syn;
    in_lan.dir = FW_IN;
    CHECK_EQ(fw_state_insert(&t, &in_lan, SEC, 0, 0, 0, NULL), FW_OK);
    CHECK_EQ(t.count, 2);
    CHECK(find(syn, SEC) == s);
    CHECK(find(in_lan, SEC) != s);
    CHECK(find(in_lan, SEC) != NULL);
    CHECK_EQ(t.stats.inserted, 2);
}

static void test_tcp_handshake_and_close(void)
{
    setup(64, 16);
    uint64_t now = 100 * SEC;
    struct fw_packet syn = fwd(FW_TH_SYN);
    struct fw_state *s;
    CHECK_EQ(fw_state_insert(&t, &syn, now, 0, 0, 0, &s), FW_OK);
    CHECK_EQ(s->expires, now + 30 * SEC);
    CHECK_EQ(step(fwd(FW_TH_SYN), now), FW_ST_PASS); /* retransmitted SYN */
    CHECK_EQ(s->tcp, FW_TCP_SYN_SENT);
    CHECK_EQ(step(rep(FW_TH_SYN | FW_TH_ACK), now), FW_ST_PASS);
    CHECK_EQ(s->tcp, FW_TCP_SYN_RECV);
    CHECK(s->flags & FW_SF_REPLIED);
    CHECK_EQ(s->expires, now + 30 * SEC);
    CHECK_EQ(step(rep(FW_TH_SYN | FW_TH_ACK), now), FW_ST_PASS); /* retransmitted */
    CHECK_EQ(step(fwd(FW_TH_ACK), now), FW_ST_PASS);
    CHECK_EQ(s->tcp, FW_TCP_ESTABLISHED);
    CHECK_EQ(s->expires, now + 24 * 3600 * SEC);
    CHECK_EQ(step(rep(FW_TH_ACK | FW_TH_PSH), now + SEC), FW_ST_PASS);
    CHECK_EQ(step(rep(FW_TH_SYN | FW_TH_ACK), now + SEC), FW_ST_PASS); /* late SYN+ACK retransmission */
    CHECK_EQ(s->tcp, FW_TCP_ESTABLISHED);
    CHECK_EQ(s->packets[0], 3);
    CHECK_EQ(s->packets[1], 4);
    CHECK_EQ(s->bytes[1], 240);
    now += 2 * SEC;
    CHECK_EQ(step(fwd(FW_TH_FIN | FW_TH_ACK), now), FW_ST_PASS);
    CHECK_EQ(s->tcp, FW_TCP_FIN_WAIT);
    CHECK_EQ(s->expires, now + 60 * SEC);
    CHECK_EQ(step(rep(FW_TH_ACK), now), FW_ST_PASS);             /* half-closed: data may still flow back */
    CHECK_EQ(step(fwd(FW_TH_FIN | FW_TH_ACK), now), FW_ST_PASS); /* retransmitted FIN */
    CHECK_EQ(s->tcp, FW_TCP_FIN_WAIT);
    CHECK_EQ(step(rep(FW_TH_FIN | FW_TH_ACK), now), FW_ST_PASS);
    CHECK_EQ(s->tcp, FW_TCP_CLOSING);
    CHECK_EQ(s->expires, now + 60 * SEC);
    CHECK_EQ(step(rep(FW_TH_ACK), now), FW_ST_PASS); /* not the ACK of the last FIN */
    CHECK_EQ(s->tcp, FW_TCP_CLOSING);
    CHECK_EQ(step(fwd(FW_TH_ACK), now), FW_ST_PASS);
    CHECK_EQ(s->tcp, FW_TCP_TIME_WAIT);
    CHECK_EQ(s->expires, now + 30 * SEC);
    CHECK_EQ(step(rep(FW_TH_FIN | FW_TH_ACK), now + SEC), FW_ST_PASS); /* retransmitted FIN in TIME_WAIT */
    CHECK_EQ(s->tcp, FW_TCP_TIME_WAIT);
    CHECK(find(fwd(FW_TH_ACK), now + 31 * SEC - 1) != NULL);
    CHECK(find(fwd(FW_TH_ACK), now + 31 * SEC) == NULL); /* expired and reclaimed */
    CHECK_EQ(t.count, 0);
    CHECK_EQ(t.stats.expired, 1);
}

static void test_tcp_timeouts(void)
{
    setup(64, 16);
    struct fw_packet syn = fwd(FW_TH_SYN);
    CHECK_EQ(fw_state_insert(&t, &syn, 0, 0, 0, 0, NULL), FW_OK);
    CHECK(find(syn, 30 * SEC - 1) != NULL); /* embryonic: 30 s */
    CHECK(find(syn, 30 * SEC) == NULL);
    CHECK_EQ(fw_state_insert(&t, &syn, 0, 0, 0, 0, NULL), FW_OK);
    CHECK_EQ(step(rep(FW_TH_SYN | FW_TH_ACK), 29 * SEC), FW_ST_PASS); /* the timer restarts */
    CHECK(find(syn, 58 * SEC) != NULL);
    CHECK_EQ(step(fwd(FW_TH_ACK), 58 * SEC), FW_ST_PASS);
    CHECK(find(syn, 58 * SEC + 24 * 3600 * SEC - 1) != NULL); /* established: 24 h */
    CHECK(find(syn, 58 * SEC + 24 * 3600 * SEC) == NULL);
    /* the timeouts can be changed */
    t.timeouts.tcp_embryonic = 5 * SEC;
    CHECK_EQ(fw_state_insert(&t, &syn, 0, 0, 0, 0, NULL), FW_OK);
    CHECK(find(syn, 5 * SEC) == NULL);
}

static void test_tcp_invalid(void)
{
    setup(64, 16);
    struct fw_packet syn = fwd(FW_TH_SYN);
    struct fw_state *s;
    CHECK_EQ(fw_state_insert(&t, &syn, 0, 0, 0, 0, &s), FW_OK);
    CHECK_EQ(step(fwd(FW_TH_ACK), SEC), FW_ST_INVALID);             /* initiator ACK before any answer */
    CHECK_EQ(step(fwd(FW_TH_SYN | FW_TH_ACK), SEC), FW_ST_INVALID); /* SYN+ACK from the initiator */
    CHECK_EQ(step(rep(FW_TH_ACK), SEC), FW_ST_INVALID);             /* an answer without SYN */
    CHECK_EQ(s->tcp, FW_TCP_SYN_SENT);
    CHECK_EQ(s->expires, 30 * SEC); /* invalid packets do not keep a state alive */
    CHECK_EQ(s->packets[0] + s->packets[1], 1);
    CHECK_EQ(step(rep(FW_TH_SYN), SEC), FW_ST_PASS); /* simultaneous open */
    CHECK_EQ(s->tcp, FW_TCP_SYN_RECV);
    CHECK_EQ(step(fwd(FW_TH_SYN | FW_TH_ACK), SEC), FW_ST_PASS);
    CHECK_EQ(step(rep(FW_TH_ACK), SEC), FW_ST_PASS);
    CHECK_EQ(s->tcp, FW_TCP_ESTABLISHED);
    CHECK_EQ(step(fwd(FW_TH_SYN), 2 * SEC), FW_ST_INVALID); /* a new SYN mid-connection */
    CHECK_EQ(step(rep(FW_TH_SYN), 2 * SEC), FW_ST_INVALID);
    CHECK_EQ(step(fwd(FW_TH_SYN | FW_TH_ACK), 2 * SEC), FW_ST_INVALID);
    CHECK_EQ(s->tcp, FW_TCP_ESTABLISHED);
}

static void test_tcp_reset_and_reuse(void)
{
    setup(64, 16);
    struct fw_packet syn = fwd(FW_TH_SYN);
    struct fw_state *s;
    CHECK_EQ(fw_state_insert(&t, &syn, 0, 0, 0, 0, &s), FW_OK);
    CHECK_EQ(step(rep(FW_TH_RST | FW_TH_ACK), SEC), FW_ST_PASS); /* port closed: the RST passes */
    CHECK_EQ(s->tcp, FW_TCP_CLOSED);
    CHECK_EQ(s->expires, 11 * SEC);
    CHECK_EQ(step(rep(FW_TH_ACK), 2 * SEC), FW_ST_PASS);   /* stragglers pass */
    CHECK_EQ(step(fwd(FW_TH_SYN), 3 * SEC), FW_ST_REOPEN); /* a new connection on the same ports */
    CHECK_EQ(t.count, 0);
    CHECK_EQ(t.stats.removed, 1);
    CHECK(find(syn, 3 * SEC) == NULL);

    /* TIME_WAIT: a new SYN ends the old state too */
    CHECK_EQ(fw_state_insert(&t, &syn, 0, 0, 0, 0, &s), FW_OK);
    s->tcp = FW_TCP_TIME_WAIT;
    CHECK_EQ(step(fwd(FW_TH_SYN | FW_TH_ACK), SEC), FW_ST_INVALID);
    CHECK_EQ(step(fwd(FW_TH_SYN), SEC), FW_ST_REOPEN);
    CHECK_EQ(t.count, 0);

    /* RST mid-connection, from either side */
    CHECK_EQ(fw_state_insert(&t, &syn, 0, 0, 0, 0, &s), FW_OK);
    s->tcp = FW_TCP_ESTABLISHED;
    CHECK_EQ(step(fwd(FW_TH_RST), SEC), FW_ST_PASS);
    CHECK_EQ(s->tcp, FW_TCP_CLOSED);
    CHECK(find(syn, 11 * SEC) == NULL);
}

static void test_tcp_pickup(void)
{
    setup(64, 16);
    struct fw_packet ack = fwd(FW_TH_ACK), finack = fwd(FW_TH_FIN | FW_TH_ACK), rst = fwd(FW_TH_RST);
    struct fw_state *s;
    CHECK_EQ(fw_state_insert(&t, &ack, 0, 0, 0, 0, &s), FW_OK); /* `flags any`: mid-stream */
    CHECK_EQ(s->tcp, FW_TCP_ESTABLISHED);
    fw_state_remove(&t, s);
    CHECK_EQ(fw_state_insert(&t, &finack, 0, 0, 0, 0, &s), FW_OK);
    CHECK_EQ(s->tcp, FW_TCP_FIN_WAIT);
    CHECK_EQ(s->fin, 1);
    fw_state_remove(&t, s);
    CHECK_EQ(fw_state_insert(&t, &rst, 0, 0, 0, 0, &s), FW_OK);
    CHECK_EQ(s->tcp, FW_TCP_CLOSED);
    CHECK_EQ(s->expires, 10 * SEC);
}

static void test_udp_icmp_other(void)
{
    setup(64, 16);
    struct fw_packet q = pkt(FW_OUT, FW_PROTO_UDP, A, 5353, B, 53), a = pkt(FW_IN, FW_PROTO_UDP, B, 53, A, 5353);
    struct fw_state *s;
    CHECK_EQ(fw_state_insert(&t, &q, 0, 0, 0, 0, &s), FW_OK);
    CHECK_EQ(s->tcp, FW_TCP_NONE);
    CHECK(!(s->flags & FW_SF_REPLIED));
    CHECK_EQ(step(a, 59 * SEC), FW_ST_PASS);
    CHECK(s->flags & FW_SF_REPLIED);
    CHECK(find(q, 59 * SEC + 60 * SEC - 1) != NULL); /* udp: 60 s from the last packet */
    CHECK(find(q, 59 * SEC + 60 * SEC) == NULL);

    struct fw_packet echo = pkt(FW_OUT, FW_PROTO_ICMP, A, 77, B, 77), answer = pkt(FW_IN, FW_PROTO_ICMP, B, 77, A, 77);
    echo.icmp_type = FW_ICMP_ECHO_REQUEST;
    answer.icmp_type = FW_ICMP_ECHO_REPLY;
    CHECK_EQ(fw_state_insert(&t, &echo, 0, 0, 0, 0, NULL), FW_OK);
    CHECK_EQ(step(answer, SEC), FW_ST_PASS);
    struct fw_packet their_echo = answer; /* B pinging A with the same id is another flow */
    their_echo.icmp_type = FW_ICMP_ECHO_REQUEST;
    CHECK(find(their_echo, SEC) == NULL);
    struct fw_packet unreach = pkt(FW_IN, FW_PROTO_ICMP, B, 0, A, 0);
    unreach.icmp_type = FW_ICMP_UNREACH;
    CHECK(find(unreach, SEC) == NULL);
    CHECK(find(echo, SEC + 30 * SEC - 1) != NULL); /* icmp: 30 s */
    CHECK(find(echo, SEC + 30 * SEC) == NULL);

    struct fw_packet gre = pkt(FW_OUT, 47, A, 0, B, 0);
    CHECK_EQ(fw_state_insert(&t, &gre, 0, 0, 0, 0, NULL), FW_OK);
    CHECK(find(gre, 60 * SEC - 1) != NULL); /* other protocols: 60 s */
    CHECK(find(gre, 60 * SEC) == NULL);
    CHECK_EQ(t.count, 0);
}

/* A full table refuses new states and keeps every live one. */
static void test_exhaustion(void)
{
    setup(4, 4);
    for (uint16_t i = 0; i < 4; i++) {
        struct fw_packet p = tcp(FW_OUT, A, (uint16_t)(1000 + i), B, 443, FW_TH_SYN);
        CHECK_EQ(fw_state_insert(&t, &p, 0, 0, 0, 0, NULL), FW_OK);
        CHECK_EQ(step(tcp(FW_IN, B, 443, A, (uint16_t)(1000 + i), FW_TH_SYN | FW_TH_ACK), 0), FW_ST_PASS);
        CHECK_EQ(step(tcp(FW_OUT, A, (uint16_t)(1000 + i), B, 443, FW_TH_ACK), 0), FW_ST_PASS);
    }
    CHECK_EQ(t.count, 4);
    struct fw_packet extra = tcp(FW_OUT, A, 2000, B, 443, FW_TH_SYN);
    CHECK_EQ(fw_state_insert(&t, &extra, SEC, 0, 0, 0, NULL), FW_E_FULL);
    CHECK_EQ(fw_state_insert(&t, &extra, 2 * SEC, 0, 0, 0, NULL), FW_E_FULL);
    CHECK_EQ(t.stats.full, 2);
    for (uint16_t i = 0; i < 4; i++) {
        struct fw_state *s = find(tcp(FW_IN, B, 443, A, (uint16_t)(1000 + i), FW_TH_ACK), 3 * SEC);
        CHECK(s != NULL);
        CHECK_EQ(s ? s->tcp : 0, FW_TCP_ESTABLISHED);
    }
    /* once one ends (RST: 10 s), its slot is reused */
    CHECK_EQ(step(tcp(FW_IN, B, 443, A, 1002, FW_TH_RST), 3 * SEC), FW_ST_PASS);
    CHECK_EQ(fw_state_insert(&t, &extra, 12 * SEC, 0, 0, 0, NULL), FW_E_FULL);
    CHECK_EQ(fw_state_insert(&t, &extra, 13 * SEC, 0, 0, 0, NULL), FW_OK);
    CHECK_EQ(t.count, 4);
    CHECK_EQ(t.stats.expired, 1);
    CHECK_EQ(t.stats.full, 3);
}

static void test_expire_sweep_and_flush(void)
{
    setup(64, 16);
    for (uint16_t i = 0; i < 10; i++) {
        struct fw_packet p = pkt(FW_OUT, FW_PROTO_UDP, A, (uint16_t)(100 + i), B, 53);
        CHECK_EQ(fw_state_insert(&t, &p, (uint64_t)i * SEC, 0, 0, 0, NULL), FW_OK);
    }
    CHECK_EQ(fw_state_expire(&t, 59 * SEC), 0);
    CHECK_EQ(fw_state_expire(&t, 60 * SEC), 1);
    CHECK_EQ(fw_state_expire(&t, 65 * SEC), 5);
    CHECK_EQ(t.count, 4);
    CHECK_EQ(t.stats.expired, 6);
    unsigned live = 0;
    for (unsigned i = 0; i < 64; i++)
        live += fw_state_is_live(&slots[i], 65 * SEC);
    CHECK_EQ(live, 4);
    fw_state_flush(&t);
    CHECK_EQ(t.count, 0);
    CHECK_EQ(t.stats.removed, 4);
    CHECK_EQ(fw_state_expire(&t, 1000 * SEC), 0);
    /* every slot is usable again */
    for (uint16_t i = 0; i < 64; i++) {
        struct fw_packet p = pkt(FW_OUT, FW_PROTO_UDP, A, (uint16_t)(100 + i), B, 53);
        CHECK_EQ(fw_state_insert(&t, &p, 0, 0, 0, 0, NULL), FW_OK);
    }
    CHECK_EQ(t.count, 64);
}

/* One bucket: every state on one chain; removal from the middle. */
static void test_collisions(void)
{
    setup(32, 1);
    struct fw_state *mid = NULL;
    for (uint16_t i = 0; i < 32; i++) {
        struct fw_packet p = pkt(FW_IN, FW_PROTO_UDP, B, (uint16_t)i, A, 53);
        struct fw_state *s;
        CHECK_EQ(fw_state_insert(&t, &p, 0, 0, 0, 0, &s), FW_OK);
        if (i == 16)
            mid = s;
    }
    fw_state_remove(&t, mid);
    fw_state_remove(&t, mid); /* already gone: nothing happens */
    CHECK_EQ(t.count, 31);
    CHECK_EQ(t.stats.removed, 1);
    for (uint16_t i = 0; i < 32; i++) {
        struct fw_packet back = pkt(FW_OUT, FW_PROTO_UDP, A, 53, B, (uint16_t)i);
        CHECK((find(back, SEC) != NULL) == (i != 16));
    }
}

static void test_src_rate(void)
{
    setup(64, 16);
    uint64_t now = 1000 * SEC;
    for (int i = 0; i < 3; i++)
        CHECK_EQ(fw_state_src_admit(&t, B, 1, 0, 3, 10, now), FW_OK);
    CHECK_EQ(fw_state_src_admit(&t, B, 1, 0, 3, 10, now), FW_E_LIMIT); /* the 4th in 10 s */
    CHECK_EQ(fw_state_src_admit(&t, A, 1, 0, 3, 10, now), FW_OK);      /* another source */
    CHECK_EQ(fw_state_src_admit(&t, B, 2, 0, 3, 10, now), FW_OK);      /* another rule */
    CHECK_EQ(fw_state_src_admit(&t, B, 1, 1, 3, 10, now), FW_OK);      /* a new rule set */
    CHECK_EQ(t.stats.src_limited, 1);
    /* the count decays linearly: half a window later, half is left (4 -> 2, +1 = 3) */
    CHECK_EQ(fw_state_src_admit(&t, B, 1, 0, 3, 10, now + 5 * SEC), FW_OK);
    CHECK_EQ(fw_state_src_admit(&t, B, 1, 0, 3, 10, now + 5 * SEC), FW_E_LIMIT);
    CHECK_EQ(fw_state_src_admit(&t, B, 1, 0, 3, 10, now + 15 * SEC), FW_OK); /* a whole window later */

    /* the source table (8 nodes) full of live sources refuses a new one */
    setup(64, 16);
    for (uint32_t i = 0; i < 8; i++)
        CHECK_EQ(fw_state_src_admit(&t, B + i, 0, 0, 5, 60, now), FW_OK);
    CHECK_EQ(fw_state_src_admit(&t, A, 0, 0, 5, 60, now), FW_E_FULL);
    CHECK_EQ(t.stats.src_full, 1);
    CHECK_EQ(fw_state_src_admit(&t, A, 0, 0, 5, 60, now + 60 * SEC), FW_OK); /* stale nodes are reused */

    struct fw_state_storage mem = { slots, 8, buckets, 16, NULL, 0, { 0, 0 }, { 3, 5 } };
    CHECK_EQ(fw_state_init(&t, &mem), FW_OK);
    CHECK_EQ(fw_state_src_admit(&t, A, 0, 0, 5, 60, now), FW_E_FULL); /* no table: refuse, never allow */
}

static void test_format(void)
{
    setup(64, 16);
    struct fw_ifaces ifs = { 2, { { "wan", 0, 0, false }, { "lan", 0, 0, false } } };
    struct fw_packet syn = fwd(FW_TH_SYN);
    syn.iface = 0;
    struct fw_state *s;
    CHECK_EQ(fw_state_insert(&t, &syn, 0, 0, 0, 0, &s), FW_OK);
    CHECK_EQ(step(rep(FW_TH_SYN | FW_TH_ACK), SEC), FW_ST_PASS);
    char buf[160];
    size_t n = fw_state_format(s, &ifs, SEC, buf, sizeof buf);
    CHECK_STR(buf, "tcp 192.168.50.10:40000 -> 93.184.216.34:443 out on wan SYN_RECV 1:60 1:60 expires 30s");
    CHECK_EQ(n, strlen(buf));
    struct fw_packet echo = pkt(FW_IN, FW_PROTO_ICMP, B, 9, A, 9);
    echo.icmp_type = FW_ICMP_ECHO_REQUEST;
    echo.iface = 5;
    CHECK_EQ(fw_state_insert(&t, &echo, 0, 0, 0, 0, &s), FW_OK);
    fw_state_format(s, &ifs, 40 * SEC, buf, sizeof buf);
    CHECK_STR(buf, "icmp 93.184.216.34 -> 192.168.50.10 id 9 in on if5 single 1:60 0:0 expires 0s");
    CHECK_STR(fw_tcp_state_name(FW_TCP_TIME_WAIT), "TIME_WAIT");
    CHECK_STR(fw_tcp_state_name(99), "?");
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_init_contract),
        UNIT_TEST(test_directions),
        UNIT_TEST(test_tcp_handshake_and_close),
        UNIT_TEST(test_tcp_timeouts),
        UNIT_TEST(test_tcp_invalid),
        UNIT_TEST(test_tcp_reset_and_reuse),
        UNIT_TEST(test_tcp_pickup),
        UNIT_TEST(test_udp_icmp_other),
        UNIT_TEST(test_exhaustion),
        UNIT_TEST(test_expire_sweep_and_flush),
        UNIT_TEST(test_collisions),
        UNIT_TEST(test_src_rate),
        UNIT_TEST(test_format),
    };
    return unit_main("fw_state", tests, (int)(sizeof tests / sizeof tests[0]));
}
