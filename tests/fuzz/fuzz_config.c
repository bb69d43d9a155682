/*
 * fuzz_config.c - libFuzzer target for appliance.conf (`make fuzz-config`).
 *
 * Every input is parsed by the one parser (firewall grammar included).
 * Beyond "no crash, no sanitizer report", it checks the properties the
 * code promises and aborts when one fails:
 *  - a failed parse leaves the empty configuration and at least one error,
 *    each "FILE:LINE:COL: expected ..." with a line inside the input;
 *  - a successful parse round-trips: write -> parse succeeds, is
 *    conf_equal, and writes the same text again;
 *  - the firewall walk of a parsed configuration never fails, hands over
 *    rules that keep the grammar's invariants (ports only with tcp/udp,
 *    prefixes in range, state only on pass rules), as many from the
 *    canonical text as from the input;
 *  - the diff of the canonical text against itself is empty, and the diff
 *    against the input never fails (except for too many lines);
 *  - set/delete with the input's first lines as statements, on the input's
 *    canonical text (or an empty candidate): a refused set leaves the text
 *    as it was, and the text always stays inside its buffer;
 *  - the password-hash parser accepts or refuses the input without harm.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "conf_pf.h"
#include "passwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct conf c, c2, empty;
static struct conf_result res;
static char out[1 << 17], again[1 << 17], diffout[1 << 18];
static struct conf_diff_work work;
static struct conf_text text_c, text_before;
static struct conf_edit_work edit;
static struct conf_pf_work pfw;

static void must(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_config: property broken: %s\n", what);
        abort();
    }
}

static int parse(const char *text, size_t len, struct conf *dst)
{
    struct conf_parser p = { 0 };
    return conf_parse(&p, text, len, dst, &res);
}

static bool port_ok(const struct conf_pf_port *p)
{
    return p->op <= CONF_PORT_OUTSIDE && (p->op < CONF_PORT_RANGE || p->lo <= p->hi);
}

static int check_rule(void *ctx, const struct conf_pf_rule *r)
{
    (*(unsigned *)ctx)++;
    must(r->action >= CONF_PF_PASS && r->action <= CONF_PF_ANTISPOOF, "an action");
    must(r->dir <= 2, "a direction");
    must(r->sport.op == CONF_PORT_ANY || r->proto == 6 || r->proto == 17, "ports only with tcp or udp");
    must(r->dport.op == CONF_PORT_ANY || r->proto == 6 || r->proto == 17, "ports only with tcp or udp");
    must(port_ok(&r->sport) && port_ok(&r->dport), "port ranges ordered");
    must(r->src.kind != CONF_PFA_NET || r->src.prefix <= (r->src.ip.af == CONF_AF_INET ? 32 : 128), "prefix");
    must(r->dst.kind != CONF_PFA_NET || r->dst.prefix <= (r->dst.ip.af == CONF_AF_INET ? 32 : 128), "prefix");
    must(r->state == CONF_PF_NO_STATE || r->action == CONF_PF_PASS, "state only on pass rules");
    must((r->tcp_set & ~r->tcp_mask) == 0, "flags X within Y");
    must(r->label[CONF_PF_LABEL_MAX - 1] == '\0', "label terminated");
    must(r->iface >= -1 && r->iface < CONF_MAX_IFACES, "an interface");
    return 0;
}

/* The number of rules a walk of C hands over; the walk must succeed. */
static unsigned walk_rules(const struct conf *cf)
{
    unsigned n = 0;
    struct conf_pf_sink sink = { &n, check_rule, NULL, NULL, NULL };
    struct conf_pf_error e;
    must(conf_pf_walk(cf, &sink, &pfw, &e) == 0, "a parsed configuration walks");
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    unsigned lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';

    int rc = parse(text, size, &c);
    if (rc != CONF_OK) {
        must(rc == CONF_E_SYNTAX, "only syntax errors");
        must(res.n_errors >= 1 && res.n_errors <= CONF_MAX_ERRORS, "errors listed");
        conf_init(&empty);
        must(conf_equal(&c, &empty), "a failed parse leaves the empty configuration");
        for (unsigned i = 0; i < res.n_errors; i++) {
            must(res.errors[i].line >= 1 && res.errors[i].line <= lines, "error line inside the input");
            must(strncmp(res.errors[i].msg, "appliance.conf:", 15) == 0, "error prefix");
            must(strstr(res.errors[i].msg, ": expected ") != NULL ||
                     strstr(res.errors[i].msg, ": unsupported: ") != NULL,
                 "error says what was expected, or what is unsupported");
            if (i)
                must(res.errors[i - 1].line <= res.errors[i].line, "errors sorted");
        }
    } else {
        size_t n = conf_write(&c, out, sizeof out);
        must(n < sizeof out, "canonical text fits");
        must(parse(out, n, &c2) == CONF_OK, "canonical text parses");
        must(conf_equal(&c, &c2), "round trip keeps the configuration");
        must(walk_rules(&c) == walk_rules(&c2), "the canonical text has the same rules");
        must(conf_write(&c2, again, sizeof again) == n && memcmp(out, again, n) == 0, "canonical text is stable");
        size_t dn = 1;
        must(conf_diff(out, n, again, n, &work, diffout, sizeof diffout, &dn) == CONF_OK && dn == 0,
             "no difference with itself");
        int d = conf_diff(text, size, out, n, &work, diffout, sizeof diffout, &dn);
        must(d == CONF_OK || d == CONF_E_TOO_BIG, "diff against the input");
    }
    /* Editing: the candidate is the canonical text (or empty), the input's
     * first lines are statements to set and delete. */
    if (rc == CONF_OK)
        conf_text_from(&text_c, &c);
    else
        text_c.len = 0, text_c.buf[0] = '\0';
    size_t pos = 0;
    for (int k = 0; k < 4 && pos < size; k++) {
        size_t end = pos;
        while (end < size && data[end] != '\n')
            end++;
        char err[CONF_MSG_MAX];
        text_before = text_c;
        int r = conf_text_set(&text_c, NULL, text + pos, end - pos, &edit, err, sizeof err);
        must(text_c.len < CONF_TEXT_MAX && text_c.buf[text_c.len] == '\0', "set keeps the text in bounds");
        if (r != CONF_OK)
            must(text_c.len == text_before.len && memcmp(text_c.buf, text_before.buf, text_c.len) == 0,
                 "a refused set changes nothing");
        r = conf_text_delete(&text_c, text + pos, end - pos, err, sizeof err);
        must(text_c.len < CONF_TEXT_MAX && text_c.buf[text_c.len] == '\0', "delete keeps the text in bounds");
        pos = end + 1;
    }
    struct passwd_hash h;
    (void)passwd_parse(text, size, &h);
    return 0;
}
