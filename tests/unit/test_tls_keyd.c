/*
 * test_tls_keyd.c - appliance/keyd/keyd_req.c: every check between a
 * client's request and keyd's private keys (the caller's badge, unused
 * words, slot and key ranges, busy slots, hash algorithms and lengths, key
 * names), that checks read the shared slot once and keep a copy, and
 * keyd's argument word.
 */
#include <string.h>

#include "keyd_req.h"
#include "unit.h"

static struct keyd_slot SLOTS[KEYD_SLOTS];

static void put_name(unsigned slot, const char *name)
{
    memset(SLOTS[slot].data, 0, sizeof SLOTS[slot].data);
    memcpy(SLOTS[slot].data, name, strlen(name) + 1);
}

static void test_hash_lengths(void)
{
    CHECK_EQ(keyd_hash_len(KEYD_HASH_SHA256), 32);
    CHECK_EQ(keyd_hash_len(KEYD_HASH_SHA384), 48);
    CHECK_EQ(keyd_hash_len(KEYD_HASH_SHA512), 64);
    CHECK_EQ(keyd_hash_len(0), 0);
    CHECK_EQ(keyd_hash_len(4), 0);
    CHECK_EQ(keyd_hash_len(1ull << 32 | KEYD_HASH_SHA256), 0); /* high bits are not ignored */
}

static void test_only_the_client(void)
{
    struct keyd_req_state st = { .client = 7 };
    CHECK_EQ(keyd_check_client(&st, 7), 0);
    CHECK_EQ(keyd_check_client(&st, 6), KEYD_E_CLIENT);
    CHECK_EQ(keyd_check_client(&st, 0), KEYD_E_CLIENT);
    CHECK_EQ(keyd_check_client(&st, 7 | 1ull << 32), KEYD_E_CLIENT);
    struct keyd_req_state nobody = { .client = 0 };
    CHECK_EQ(keyd_check_client(&nobody, 0), KEYD_E_CLIENT); /* unconfigured: nobody, not everybody */
    CHECK_EQ(keyd_check_client(&nobody, 1), KEYD_E_CLIENT);
}

static void test_info_takes_no_arguments(void)
{
    uint64_t zero[4] = { 0 }, one[4] = { 0, 0, 0, 1 };
    CHECK_EQ(keyd_check_info(zero), 0);
    CHECK_EQ(keyd_check_info(one), KEYD_E_ARGS);
}

static void test_name_rule(void)
{
    CHECK_EQ(keyd_check_name("edge1.key"), 0);
    CHECK_EQ(keyd_check_name("keys/api_2024-01.pem"), 0);
    CHECK_EQ(keyd_check_name("a..b.key"), 0); /* ".." inside a name is fine */
    CHECK_EQ(keyd_check_name(".hidden"), 0);
    CHECK_EQ(keyd_check_name(""), KEYD_E_NAME);
    CHECK_EQ(keyd_check_name("/etc/key"), KEYD_E_NAME);
    CHECK_EQ(keyd_check_name("../key"), KEYD_E_NAME);
    CHECK_EQ(keyd_check_name("keys/../../key"), KEYD_E_NAME);
    CHECK_EQ(keyd_check_name("keys/.."), KEYD_E_NAME);
    CHECK_EQ(keyd_check_name(".."), KEYD_E_NAME);
    CHECK_EQ(keyd_check_name("keys//a"), KEYD_E_NAME);
    CHECK_EQ(keyd_check_name("keys/"), KEYD_E_NAME);
    CHECK_EQ(keyd_check_name("a key"), KEYD_E_NAME);
    CHECK_EQ(keyd_check_name("a\nb"), KEYD_E_NAME);
    CHECK_EQ(keyd_check_name("k\xc3\xa9y"), KEYD_E_NAME);
    char longest[KEYD_NAME_MAX];
    memset(longest, 'k', sizeof longest - 1);
    longest[sizeof longest - 1] = 0;
    CHECK_EQ(keyd_check_name(longest), 0); /* 63 characters */
    char too_long[KEYD_NAME_MAX + 1];
    memset(too_long, 'k', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = 0;
    CHECK_EQ(keyd_check_name(too_long), KEYD_E_NAME);
}

static void test_open_checks(void)
{
    struct keyd_req_state st = { .client = 1, .busy = 1u << 9 };
    uint32_t slot = 99;
    char name[KEYD_NAME_MAX];
    put_name(3, "edge1.key");
    uint64_t ok[4] = { 3 };
    CHECK_EQ(keyd_check_open(&st, ok, SLOTS, &slot, name), 0);
    CHECK_EQ(slot, 3);
    CHECK_STR(name, "edge1.key");
    /* the copy is keyd's: later writes to the slot do not reach it */
    SLOTS[3].data[0] = 'X';
    CHECK_STR(name, "edge1.key");

    uint64_t far[4] = { KEYD_SLOTS };
    CHECK_EQ(keyd_check_open(&st, far, SLOTS, &slot, name), KEYD_E_SLOT);
    uint64_t huge[4] = { 1ull << 40 };
    CHECK_EQ(keyd_check_open(&st, huge, SLOTS, &slot, name), KEYD_E_SLOT);
    uint64_t extra[4] = { 3, 0, 1, 0 };
    CHECK_EQ(keyd_check_open(&st, extra, SLOTS, &slot, name), KEYD_E_ARGS);
    /* unterminated within KEYD_NAME_MAX */
    memset(SLOTS[4].data, 'a', sizeof SLOTS[4].data);
    uint64_t s4[4] = { 4 };
    slot = 99;
    CHECK_EQ(keyd_check_open(&st, s4, SLOTS, &slot, name), KEYD_E_NAME);
    CHECK_EQ(slot, 99); /* nothing filled on refusal */
    put_name(4, "../secret");
    CHECK_EQ(keyd_check_open(&st, s4, SLOTS, &slot, name), KEYD_E_NAME);
    put_name(4, "");
    CHECK_EQ(keyd_check_open(&st, s4, SLOTS, &slot, name), KEYD_E_NAME);
    put_name(9, "edge1.key");
    uint64_t s9[4] = { 9 };
    CHECK_EQ(keyd_check_open(&st, s9, SLOTS, &slot, name), KEYD_E_BUSY); /* a queued signature owns it */
}

static void test_sign_checks(void)
{
    struct keyd_req_state st = { .client = 1, .n_keys = 2, .busy = 1u << 5, .generation = 3 };
    struct keyd_job job;
    for (int i = 0; i < 64; i++)
        SLOTS[2].data[i] = (uint8_t)(0xa0 + i);
    SLOTS[2].seq = 77;
    uint64_t ok[4] = { 2, 1, KEYD_HASH_SHA384, 48 };
    memset(&job, 0, sizeof job);
    CHECK_EQ(keyd_check_sign(&st, ok, SLOTS, &job), 0);
    CHECK_EQ(job.slot, 2);
    CHECK_EQ(job.key, 1);
    CHECK_EQ(job.hash, KEYD_HASH_SHA384);
    CHECK_EQ(job.hash_len, 48);
    CHECK_EQ(job.seq, 77);
    CHECK_EQ(job.digest[0], 0xa0);
    CHECK_EQ(job.digest[47], 0xa0 + 47);
    CHECK_EQ(job.digest[48], 0); /* only the digest's length is copied */
    SLOTS[2].data[0] = 0;        /* the client changes its mind after the check: the job keeps the copy */
    CHECK_EQ(job.digest[0], 0xa0);
    CHECK(!job.pss && !job.now);
    /* the flags above the hash: RSA-PSS and "sign before replying" (TLS 1.3) */
    uint64_t flags[4] = { 2, 1, KEYD_HASH_SHA256 | KEYD_SIGN_PSS | KEYD_SIGN_NOW, 32 };
    CHECK_EQ(keyd_check_sign(&st, flags, SLOTS, &job), 0);
    CHECK(job.pss && job.now);
    CHECK_EQ(job.hash, KEYD_HASH_SHA256);
    uint64_t now_only[4] = { 2, 1, KEYD_HASH_SHA512 | KEYD_SIGN_NOW, 64 };
    CHECK_EQ(keyd_check_sign(&st, now_only, SLOTS, &job), 0);
    CHECK(!job.pss && job.now);

    struct keyd_job untouched;
    memset(&untouched, 0x5a, sizeof untouched);
    job = untouched;
    uint64_t bad_slot[4] = { KEYD_SLOTS, 1, KEYD_HASH_SHA256, 32 };
    CHECK_EQ(keyd_check_sign(&st, bad_slot, SLOTS, &job), KEYD_E_SLOT);
    CHECK(memcmp(&job, &untouched, sizeof job) == 0); /* nothing written on refusal */
    uint64_t busy[4] = { 5, 1, KEYD_HASH_SHA256, 32 };
    CHECK_EQ(keyd_check_sign(&st, busy, SLOTS, &job), KEYD_E_BUSY);
    uint64_t no_key[4] = { 2, 2, KEYD_HASH_SHA256, 32 };
    CHECK_EQ(keyd_check_sign(&st, no_key, SLOTS, &job), KEYD_E_KEY);
    /* The generation in MR1's high half (keel/keyd.h): keyd's own is taken,
     * an earlier one is refused before the id is looked at (it may name
     * another key in this keyd), and 0 checks none. */
    uint64_t current[4] = { 2, 1 | 3ull << 32, KEYD_HASH_SHA256, 32 };
    CHECK_EQ(keyd_check_sign(&st, current, SLOTS, &job), 0);
    CHECK_EQ(job.key, 1);
    job = untouched;
    uint64_t stale[4] = { 2, 1 | 2ull << 32, KEYD_HASH_SHA256, 32 };
    CHECK_EQ(keyd_check_sign(&st, stale, SLOTS, &job), KEYD_E_STALE);
    CHECK(memcmp(&job, &untouched, sizeof job) == 0);
    uint64_t stale_bad_key[4] = { 2, 7 | 1ull << 32, KEYD_HASH_SHA256, 32 };
    CHECK_EQ(keyd_check_sign(&st, stale_bad_key, SLOTS, &job), KEYD_E_STALE);
    uint64_t current_bad_key[4] = { 2, 2 | 3ull << 32, KEYD_HASH_SHA256, 32 };
    CHECK_EQ(keyd_check_sign(&st, current_bad_key, SLOTS, &job), KEYD_E_KEY);
    uint64_t key_high[4] = { 2, 1ull << 31, KEYD_HASH_SHA256, 32 };
    CHECK_EQ(keyd_check_sign(&st, key_high, SLOTS, &job), KEYD_E_KEY);
    uint64_t no_hash[4] = { 2, 1, 0, 32 };
    CHECK_EQ(keyd_check_sign(&st, no_hash, SLOTS, &job), KEYD_E_HASH);
    uint64_t md5ish[4] = { 2, 1, 9, 16 };
    CHECK_EQ(keyd_check_sign(&st, md5ish, SLOTS, &job), KEYD_E_HASH);
    uint64_t short_hash[4] = { 2, 1, KEYD_HASH_SHA256, 31 };
    CHECK_EQ(keyd_check_sign(&st, short_hash, SLOTS, &job), KEYD_E_HASH);
    uint64_t long_hash[4] = { 2, 1, KEYD_HASH_SHA256, 64 };
    CHECK_EQ(keyd_check_sign(&st, long_hash, SLOTS, &job), KEYD_E_HASH);
    uint64_t odd_flag[4] = { 2, 1, KEYD_HASH_SHA256 | (1u << 10), 32 };
    CHECK_EQ(keyd_check_sign(&st, odd_flag, SLOTS, &job), KEYD_E_ARGS);
    uint64_t flag_no_hash[4] = { 2, 1, KEYD_SIGN_PSS, 32 };
    CHECK_EQ(keyd_check_sign(&st, flag_no_hash, SLOTS, &job), KEYD_E_HASH);
    uint64_t huge_len[4] = { 2, 1, KEYD_HASH_SHA512, 1ull << 40 };
    CHECK_EQ(keyd_check_sign(&st, huge_len, SLOTS, &job), KEYD_E_HASH);
    CHECK(memcmp(&job, &untouched, sizeof job) == 0);
    struct keyd_req_state empty = { .client = 1, .n_keys = 0 };
    uint64_t first[4] = { 0, 0, KEYD_HASH_SHA256, 32 };
    CHECK_EQ(keyd_check_sign(&empty, first, SLOTS, &job), KEYD_E_KEY); /* no key loaded yet */
}

static void test_args(void)
{
    struct keyd_args a;
    size_t at = 0;
    CHECK_EQ(keyd_parse_args("", &a, &at), 0);
    CHECK_STR(a.client, "tlsd");
    CHECK_STR(a.rng, "rng");
    CHECK_EQ(a.badge, 0);
    CHECK_EQ(a.n_keys, 0);
    CHECK_EQ(keyd_parse_args("client=tlsd2,badge=12,key=edge1.key,rng=tlsrng,key=keys/api.key", &a, &at), 0);
    CHECK_STR(a.client, "tlsd2");
    CHECK_STR(a.rng, "tlsrng");
    CHECK_EQ(a.badge, 12);
    CHECK_STR(a.signal, "tlsd2"); /* the client's name unless signal= says */
    CHECK_EQ(a.threads, 1);
    CHECK_EQ(a.n_keys, 2);
    CHECK_STR(a.keys[0], "edge1.key");
    CHECK_STR(a.keys[1], "keys/api.key");
    CHECK_EQ(keyd_parse_args("signal=sock-tlsd,threads=2", &a, &at), 0);
    CHECK_STR(a.signal, "sock-tlsd");
    CHECK_EQ(a.threads, 2);
    CHECK_EQ(keyd_parse_args("threads=0", &a, &at), KEYD_E_ARGS);
    CHECK_EQ(keyd_parse_args("threads=9", &a, &at), KEYD_E_ARGS);
    CHECK_EQ(keyd_parse_args("threads=12", &a, &at), KEYD_E_ARGS);
    CHECK_EQ(keyd_parse_args("signal=", &a, &at), KEYD_E_ARGS);
    CHECK_EQ(keyd_parse_args("key=edge1.key,nonsense=1", &a, &at), KEYD_E_ARGS);
    CHECK_EQ(at, 14);
    CHECK_EQ(keyd_parse_args("badge=0", &a, &at), KEYD_E_ARGS);
    CHECK_EQ(keyd_parse_args("badge=x1", &a, &at), KEYD_E_ARGS);
    CHECK_EQ(keyd_parse_args("badge=", &a, &at), KEYD_E_ARGS);
    CHECK_EQ(keyd_parse_args("key=../x.key", &a, &at), KEYD_E_ARGS);
    CHECK_EQ(keyd_parse_args("key=", &a, &at), KEYD_E_ARGS);
    CHECK_EQ(keyd_parse_args("client=", &a, &at), KEYD_E_ARGS);
    CHECK_EQ(keyd_parse_args("rng=", &a, &at), KEYD_E_ARGS);
    CHECK_EQ(keyd_parse_args("client=a-very-long-server-name", &a, &at), KEYD_E_ARGS);
    CHECK_EQ(keyd_parse_args("key=a.key,", &a, &at), KEYD_E_ARGS);
    CHECK_EQ(keyd_parse_args(",key=a.key", &a, &at), KEYD_E_ARGS);
    char many[400] = "";
    for (int i = 0; i <= KEYD_MAX_KEYS; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%skey=k%d", i ? "," : "", i);
    CHECK_EQ(keyd_parse_args(many, &a, &at), KEYD_E_ARGS); /* one key too many */
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_hash_lengths), UNIT_TEST(test_only_the_client), UNIT_TEST(test_info_takes_no_arguments),
        UNIT_TEST(test_name_rule),    UNIT_TEST(test_open_checks),     UNIT_TEST(test_sign_checks),
        UNIT_TEST(test_args),
    };
    return unit_main("tls_keyd", tests, (int)(sizeof tests / sizeof tests[0]));
}
