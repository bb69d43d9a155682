/*
 * fuzz_fw_rules.c - libFuzzer target for the firewall rule parser
 * (net/firewall/fw_rules.c).
 *
 * The input is a configuration text.  Besides "no crash, no sanitizer
 * report", it checks what the parser promises: a parsed rule keeps the
 * struct invariants and prints as text that parses back to the same rule;
 * an error message is terminated, fits its buffer and names the file, the
 * line and the column; a failed parse marks the set invalid, so
 * fw_ruleset_replace refuses it.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Inet/firewall -Ilib/include \
 *         tests/fuzz/fuzz_fw_rules.c net/firewall/fw_rules.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fw_rules.h"

#define REQUIRE(cond)                                                                                                  \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            abort();                                                                                                   \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct fw_ifaces ifs = { 3, { { "wan", 0, 0, false }, { "lan", 0, 0, false }, { "dmz", 0, 0, false } } };

static bool same_rule(const struct fw_rule *a, const struct fw_rule *b)
{
    return a->action == b->action && a->dir == b->dir && a->proto == b->proto && a->flags == b->flags &&
           a->iface == b->iface && a->tcp_mask == b->tcp_mask && a->tcp_set == b->tcp_set &&
           a->src.addr == b->src.addr && a->src.mask == b->src.mask && a->src.neg == b->src.neg &&
           a->dst.addr == b->dst.addr && a->dst.mask == b->dst.mask && a->dst.neg == b->dst.neg &&
           a->sport.op == b->sport.op && a->sport.lo == b->sport.lo && a->sport.hi == b->sport.hi &&
           a->dport.op == b->dport.op && a->dport.lo == b->dport.lo && a->dport.hi == b->dport.hi &&
           a->rate_conns == b->rate_conns && a->rate_secs == b->rate_secs;
}

static bool is_prefix_mask(uint32_t m) { return (m & (~m >> 1)) == 0 && (m == 0 || (m & 0x80000000u)); }

static void check_rule(const struct fw_rule *r)
{
    REQUIRE(r->action == FW_PASS || r->action == FW_BLOCK);
    REQUIRE(r->dir >= FW_IN && r->dir <= FW_BOTH);
    REQUIRE(r->iface >= -1 && r->iface < (int)ifs.count);
    REQUIRE((r->src.addr & ~r->src.mask) == 0 && is_prefix_mask(r->src.mask));
    REQUIRE((r->dst.addr & ~r->dst.mask) == 0 && is_prefix_mask(r->dst.mask));
    REQUIRE((r->tcp_set & ~r->tcp_mask) == 0);
    if (r->sport.op != FW_PORT_ANY || r->dport.op != FW_PORT_ANY)
        REQUIRE(r->proto == FW_PROTO_TCP || r->proto == FW_PROTO_UDP);
    REQUIRE(r->sport.op < FW_PORT_RANGE || r->sport.lo <= r->sport.hi);
    REQUIRE(r->dport.op < FW_PORT_RANGE || r->dport.lo <= r->dport.hi);
    REQUIRE(!r->rate_conns || (r->flags & FW_RF_KEEP_STATE));
    REQUIRE(!(r->flags & FW_RF_KEEP_STATE) || r->action == FW_PASS);

    /* print, parse again, compare */
    static struct fw_ruleset again;
    char text[512], err[160];
    size_t n = fw_rule_format(r, &ifs, text, sizeof text);
    REQUIRE(n < sizeof text && strlen(text) == n);
    struct fw_parser p = { &ifs, NULL, err, sizeof err, 0, 0 };
    fw_ruleset_init(&again);
    REQUIRE(fw_parse_rule(&p, &again, text, n, 1) == FW_OK);
    REQUIRE(again.count == 1 && same_rule(r, &again.rules[0]));
}

static void check_error(const struct fw_parser *p, size_t errlen, const char *text, size_t size)
{
    size_t n = strnlen(p->err, errlen);
    REQUIRE(n < errlen);
    unsigned lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += text[i] == '\n';
    REQUIRE(p->err_line >= 1 && p->err_line <= lines);
    REQUIRE(p->err_col >= 1);
    if (errlen > 40)
        REQUIRE(strncmp(p->err, "appliance.conf:", n < 15 ? n : 15) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fw_ruleset sets[2];
    struct fw_ruleset *active = &sets[0], *cand = &sets[1];
    const char *text = (const char *)data;
    char err[256];
    size_t errlen = size ? 1 + data[0] % sizeof err : sizeof err; /* small buffers too */
    struct fw_parser p = { &ifs, NULL, err, errlen, 0, 0 };

    fw_ruleset_init(active);
    int rc = fw_parse_ruleset(&p, cand, text, size);
    REQUIRE(rc == FW_OK || rc == FW_E_SYNTAX || rc == FW_E_FULL);
    REQUIRE(cand->count <= FW_MAX_RULES);
    if (rc == FW_OK) {
        REQUIRE(cand->valid);
        for (unsigned i = 0; i < cand->count; i++)
            check_rule(&cand->rules[i]);
        REQUIRE(fw_ruleset_replace(&active, &cand) == FW_OK);
        REQUIRE(active->generation == 1);
    } else {
        REQUIRE(!cand->valid);
        check_error(&p, errlen, text, size);
        REQUIRE(fw_ruleset_replace(&active, &cand) == FW_E_NOT_VALID);
        REQUIRE(active == &sets[0]);
    }

    /* the whole input as one line, as a config parser would pass it */
    fw_ruleset_init(cand);
    p.errlen = sizeof err;
    rc = fw_parse_rule(&p, cand, text, size, 1);
    REQUIRE(rc == FW_OK || rc == FW_E_SYNTAX);
    if (rc == FW_OK && cand->count)
        check_rule(&cand->rules[0]);
    (void)fw_is_rule_line(text, size);
    return 0;
}
