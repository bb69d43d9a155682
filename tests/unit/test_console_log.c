/*
 * test_console_log.c - consoled's log ring (appliance/console/logring.c):
 * levels, wrap-around, cleaning of unprintable bytes, and the aligned rows
 * of `show log`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keel/log.h>

#include "conf.h"
#include "logring.h"
#include "unit.h"

static struct log_ring R;

static void test_empty(void)
{
    log_ring_init(&R, CONF_LOG_INFO);
    CHECK_EQ(log_ring_first(&R), 0);
    CHECK_EQ(log_ring_next(&R), 0);
    CHECK(log_ring_get(&R, 0) == NULL);
}

static void test_levels(void)
{
    log_ring_init(&R, CONF_LOG_INFO);
    CHECK(!log_ring_add(&R, 1, CONF_LOG_DEBUG, "consoled", "dropped"));
    CHECK(log_ring_add(&R, 2, CONF_LOG_INFO, "consoled", "kept"));
    CHECK(log_ring_add(&R, 3, CONF_LOG_ERROR, "consoled", "kept too"));
    CHECK_EQ(log_ring_next(&R), 2);
    log_ring_set_level(&R, CONF_LOG_DEBUG);
    CHECK(log_ring_add(&R, 4, CONF_LOG_DEBUG, "consoled", "now kept"));
    log_ring_set_level(&R, 99);
    CHECK(!log_ring_add(&R, 5, CONF_LOG_WARN, "consoled", "below error"));
    CHECK_STR(log_ring_get(&R, 2)->msg, "now kept");
    CHECK_EQ(log_level_parse("warn", 4), CONF_LOG_WARN);
    CHECK_EQ(log_level_parse("debug", 5), CONF_LOG_DEBUG);
    CHECK_EQ(log_level_parse("war", 3), -1);
    CHECK_EQ(log_level_parse("errors", 6), -1);
}

static void test_wrap(void)
{
    log_ring_init(&R, CONF_LOG_DEBUG);
    char m[32];
    for (unsigned i = 0; i < LOG_RING_ENTRIES + 10; i++) {
        snprintf(m, sizeof m, "entry %u", i);
        CHECK(log_ring_add(&R, i, CONF_LOG_INFO, "x", m));
    }
    CHECK_EQ(log_ring_first(&R), 10);
    CHECK_EQ(log_ring_next(&R), LOG_RING_ENTRIES + 10);
    CHECK(log_ring_get(&R, 9) == NULL);
    CHECK_STR(log_ring_get(&R, 10)->msg, "entry 10");
    CHECK_STR(log_ring_get(&R, LOG_RING_ENTRIES + 9)->msg, "entry 137");
    CHECK(log_ring_get(&R, LOG_RING_ENTRIES + 10) == NULL);
}

static void test_cleaning_and_cutting(void)
{
    log_ring_init(&R, CONF_LOG_DEBUG);
    char big[300];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(log_ring_add(&R, 0, CONF_LOG_WARN, "a-very-long-server-name", big));
    CHECK(log_ring_add(&R, 0, CONF_LOG_WARN, "s", "esc\x1b[2J\r\nbell\x07\xff"));
    const struct log_entry *e = log_ring_get(&R, 0);
    CHECK_EQ(strlen(e->msg), LOG_MSG_MAX - 1);
    CHECK_EQ(strlen(e->server), LOG_SERVER_MAX - 1);
    CHECK_STR(log_ring_get(&R, 1)->msg, "esc?[2J??bell??");
    CHECK(log_ring_add(&R, 0, CONF_LOG_INFO, NULL, NULL));
    CHECK_STR(log_ring_get(&R, 2)->msg, "");
}

static void test_rows(void)
{
    char row[LOG_LINE_MAX];
    CHECK_EQ(log_format_header(row, sizeof row), strlen(row));
    CHECK_STR(row, "        TIME  LEVEL  SERVER    MESSAGE\r\n");
    log_ring_init(&R, CONF_LOG_DEBUG);
    CHECK(log_ring_add(&R, 12345678901ull, CONF_LOG_INFO, "consoled", "login on the console"));
    CHECK(log_ring_add(&R, 5000, CONF_LOG_ERROR, "netd", "x"));
    CHECK_EQ(log_format_entry(log_ring_get(&R, 0), row, sizeof row), strlen(row));
    CHECK_STR(row, "   12.345678  info   consoled  login on the console\r\n");
    (void)log_format_entry(log_ring_get(&R, 1), row, sizeof row);
    CHECK_STR(row, "    0.000005  error  netd      x\r\n");
    /* Every column starts where the header's does. */
    char head[LOG_LINE_MAX];
    (void)log_format_header(head, sizeof head);
    CHECK_EQ(strstr(head, "MESSAGE") - head, strstr(row, "x\r") - row);
    /* A longest entry fits LOG_LINE_MAX; a small buffer cuts, NUL-terminated. */
    char big[200];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(log_ring_add(&R, ~0ull, CONF_LOG_DEBUG, "abcdefghijklmnopq", big));
    CHECK(log_format_entry(log_ring_get(&R, 2), row, sizeof row) < sizeof row);
    char small[10];
    size_t n = log_format_entry(log_ring_get(&R, 1), small, sizeof small);
    CHECK(n >= sizeof small);
    CHECK_EQ(strlen(small), sizeof small - 1);
}

/* abi/keel/log.h: the client's packing, and its levels are appliance.conf's. */
static void test_log_pack(void)
{
    uint64_t mr[4];
    CHECK_EQ(log_pack("ab", 2, mr), 2);
    CHECK_EQ(mr[0], 0x6261ull);
    CHECK_EQ(mr[1] | mr[2] | mr[3], 0);
    const char *s = "0123456789abcdefghijklmnopqrstuvwxyz";
    CHECK_EQ(log_pack(s, strlen(s), mr), LOG_MSG_BYTES);
    CHECK(memcmp(mr, s, LOG_MSG_BYTES) == 0); /* little-endian words: bytes in order */
    CHECK_EQ(LOG_ERROR, CONF_LOG_ERROR);
    CHECK_EQ(LOG_DEBUG, CONF_LOG_DEBUG);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_empty), UNIT_TEST(test_levels),   UNIT_TEST(test_wrap), UNIT_TEST(test_cleaning_and_cutting),
        UNIT_TEST(test_rows),  UNIT_TEST(test_log_pack),
    };
    return unit_main("console_log", tests, (int)(sizeof tests / sizeof tests[0]));
}
