/*
 * test_opsd.c - opsd's wire formats (appliance/opsd/ops_proto.c): RFC 5424
 * lines (severities, timestamps, the nil time, cut fields), SNTP requests
 * and answers (the offset of a known exchange, each refusal).
 */
#include <stdint.h>
#include <string.h>

#include "ops_proto.h"
#include "unit.h"

static void test_syslog_lines(void)
{
    char b[OPS_SYSLOG_MAX];
    ops_syslog_format(b, sizeof b, 3, 1796605323123456789ull, "edge1", "netd", "eth0: link down");
    CHECK_STR(b, "<27>1 2026-12-07T01:02:03.123456Z edge1 netd - - - eth0: link down");
    ops_syslog_format(b, sizeof b, 1, 0, "edge1", "consoled", "commit");
    CHECK_STR(b, "<30>1 - edge1 consoled - - - commit");
    ops_syslog_format(b, sizeof b, 0, 0, "", "x y", "a\tb");
    CHECK_STR(b, "<31>1 - - x_y - - - a?b");
    CHECK_EQ(ops_syslog_severity(2), 4);
    CHECK_EQ(ops_syslog_severity(9), 3);
    char small[12];
    CHECK_EQ(ops_syslog_format(small, sizeof small, 1, 0, "h", "a", "message"), 11);
    CHECK_STR(small, "<30>1 - h a");
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t ntp(uint64_t ns)
{
    return (ns / 1000000000ull + NTP_UNIX_OFFSET) << 32 | ((ns % 1000000000ull) << 32) / 1000000000ull;
}

static void test_sntp(void)
{
    uint8_t req[NTP_PACKET], ans[NTP_PACKET];
    uint64_t t1 = 5000000000ull; /* our clock: 5 s after 1970 (the time is not known) */
    ops_sntp_request(req, t1);
    CHECK_EQ(req[0], 0x23);
    uint64_t real = 1796605323000000000ull; /* the server's time when it got it */
    memset(ans, 0, sizeof ans);
    ans[0] = 0x24; /* version 4, mode 4 */
    ans[1] = 8;
    memcpy(ans + 24, req + 40, 8);           /* originate = our transmit */
    put64(ans + 32, ntp(real));              /* receive */
    put64(ans + 40, ntp(real + 1000000ull)); /* transmit, 1 ms later */
    uint64_t t4 = t1 + 21000000ull;          /* 21 ms round trip on our clock */
    int64_t off = 0;
    unsigned st = 0;
    CHECK_EQ(ops_sntp_answer(ans, sizeof ans, t1, t4, &off, &st), OPS_SNTP_OK);
    CHECK_EQ(st, 8);
    /* ((T2-T1) + (T3-T4)) / 2 = real - t1 - 10 ms */
    int64_t want = (int64_t)(real - t1) - 10000000ll;
    CHECK(off - want < 2 && want - off < 2);
    CHECK_EQ(ops_sntp_answer(ans, 47, t1, t4, &off, &st), OPS_SNTP_SHORT);
    CHECK_EQ(ops_sntp_answer(ans, sizeof ans, t1 + 1000, t4, &off, &st), OPS_SNTP_ORIGIN);
    ans[0] = 0x23;
    CHECK_EQ(ops_sntp_answer(ans, sizeof ans, t1, t4, &off, &st), OPS_SNTP_MODE);
    ans[0] = 0xe4; /* leap indicator 3: not synchronised */
    CHECK_EQ(ops_sntp_answer(ans, sizeof ans, t1, t4, &off, &st), OPS_SNTP_UNSYNC);
    ans[0] = 0x24;
    ans[1] = 0; /* kiss-o'-death */
    CHECK_EQ(ops_sntp_answer(ans, sizeof ans, t1, t4, &off, &st), OPS_SNTP_UNSYNC);
    ans[1] = 2;
    put64(ans + 40, ntp(1000000000ull)); /* 1970 */
    CHECK_EQ(ops_sntp_answer(ans, sizeof ans, t1, t4, &off, &st), OPS_SNTP_BOGUS);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_syslog_lines),
        UNIT_TEST(test_sntp),
    };
    return unit_main("opsd", tests, sizeof tests / sizeof tests[0]);
}
