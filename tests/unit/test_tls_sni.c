/*
 * test_tls_sni.c - appliance/tls/tls_sni.c: configured patterns, matching
 * of client names (exact, "*." wildcard, case, trailing dot, hostile
 * bytes) and the selection rule (exact beats wildcard beats defaults).
 */
#include <string.h>

#include "tls_sni.h"
#include "unit.h"

static bool m(const char *pattern, const char *name)
{
    return tls_sni_match(pattern, (const uint8_t *)name, strlen(name));
}

static void test_pattern_check(void)
{
    CHECK_EQ(tls_sni_pattern_check("api.example.com"), TLS_SNI_OK);
    CHECK_EQ(tls_sni_pattern_check("localhost"), TLS_SNI_OK);
    CHECK_EQ(tls_sni_pattern_check("*.example.com"), TLS_SNI_OK);
    CHECK_EQ(tls_sni_pattern_check("xn--bcher-kva.example"), TLS_SNI_OK);
    CHECK_EQ(tls_sni_pattern_check(""), TLS_SNI_E_EMPTY);
    CHECK_EQ(tls_sni_pattern_check(NULL), TLS_SNI_E_EMPTY);
    CHECK_EQ(tls_sni_pattern_check("a..b"), TLS_SNI_E_EMPTY);
    CHECK_EQ(tls_sni_pattern_check(".a.b"), TLS_SNI_E_EMPTY);
    CHECK_EQ(tls_sni_pattern_check("a.b."), TLS_SNI_E_EMPTY);
    CHECK_EQ(tls_sni_pattern_check("*.com"), TLS_SNI_E_TOO_WIDE);
    CHECK_EQ(tls_sni_pattern_check("*"), TLS_SNI_E_WILDCARD);
    CHECK_EQ(tls_sni_pattern_check("a.*.com"), TLS_SNI_E_WILDCARD);
    CHECK_EQ(tls_sni_pattern_check("*a.example.com"), TLS_SNI_E_WILDCARD);
    CHECK_EQ(tls_sni_pattern_check("*.*.example.com"), TLS_SNI_E_WILDCARD);
    CHECK_EQ(tls_sni_pattern_check("a b.com"), TLS_SNI_E_CHAR);
    CHECK_EQ(tls_sni_pattern_check("a_b.com"), TLS_SNI_E_CHAR);
    char label[80];
    memset(label, 'a', 64);
    strcpy(label + 64, ".com");
    CHECK_EQ(tls_sni_pattern_check(label), TLS_SNI_E_LONG);
    label[1] = '.'; /* "a." + 62 a's */
    CHECK_EQ(tls_sni_pattern_check(label), TLS_SNI_OK);
    char big[300];
    for (int i = 0; i < 299; i++)
        big[i] = (i % 2) ? '.' : 'a';
    big[299] = 0; /* 150 one-letter labels: 299 bytes */
    CHECK_EQ(tls_sni_pattern_check(big), TLS_SNI_E_LONG);
    CHECK(strlen(tls_sni_strerror(TLS_SNI_E_TOO_WIDE)) > 0);
}

static void test_exact(void)
{
    CHECK(m("api.example.com", "api.example.com"));
    CHECK(m("api.example.com", "API.Example.COM"));
    CHECK(m("api.example.com", "api.example.com.")); /* the root label */
    CHECK(!m("api.example.com", "api.example.com.."));
    CHECK(!m("api.example.com", "api.example.co"));
    CHECK(!m("api.example.com", "xapi.example.com"));
    CHECK(!m("api.example.com", "example.com"));
    CHECK(!m("api.example.com", ""));
}

static void test_wildcard(void)
{
    CHECK(m("*.example.com", "a.example.com"));
    CHECK(m("*.example.com", "WWW.EXAMPLE.COM"));
    CHECK(m("*.example.com", "x-1.example.com."));
    CHECK(!m("*.example.com", "example.com"));
    CHECK(!m("*.example.com", ".example.com"));
    CHECK(!m("*.example.com", "a.b.example.com")); /* one label only */
    CHECK(!m("*.example.com", "aexample.com"));
    CHECK(!m("*.example.com", "a.example.org"));
}

static void test_hostile_names(void)
{
    const uint8_t nul[] = { 'a', 0, '.', 'c', 'o', 'm' };
    CHECK(!tls_sni_match("a.com", nul, sizeof nul));
    const uint8_t high[] = { 'a', 0xc3, 0xa9, '.', 'c', 'o', 'm' };
    CHECK(!tls_sni_match("*.com.x", high, sizeof high));
    const uint8_t star[] = { '*', '.', 'e', 'x', '.', 'c', 'o', 'm' };
    CHECK(!tls_sni_match("*.ex.com", star, sizeof star)); /* a client's '*' is not a wildcard */
    uint8_t huge[600];
    memset(huge, 'a', sizeof huge);
    CHECK(!tls_sni_match("*.example.com", huge, sizeof huge));
    CHECK(!tls_sni_match("a.com", NULL, 0));
}

static void test_select(void)
{
    const struct tls_sni_entry e[] = {
        { "api.example.com", 1 }, { "*.example.com", 2 },   { "www.example.com", 3 },
        { "*.example.com", 4 },   { "api.example.com", 5 },
    };
    uint32_t mask = 0;
    const uint8_t *n1 = (const uint8_t *)"API.example.com";
    CHECK_EQ(tls_sni_select(e, 5, n1, strlen((const char *)n1), &mask), TLS_SNI_EXACT);
    CHECK_EQ(mask, (1u << 1) | (1u << 5)); /* both exact ones (e.g. RSA and ECDSA), not the wildcards */
    const uint8_t *n2 = (const uint8_t *)"mail.example.com";
    CHECK_EQ(tls_sni_select(e, 5, n2, strlen((const char *)n2), &mask), TLS_SNI_WILDCARD);
    CHECK_EQ(mask, (1u << 2) | (1u << 4));
    const uint8_t *n3 = (const uint8_t *)"example.org";
    CHECK_EQ(tls_sni_select(e, 5, n3, strlen((const char *)n3), &mask), TLS_SNI_NONE);
    CHECK_EQ(mask, 0);
    CHECK_EQ(tls_sni_select(e, 0, n1, strlen((const char *)n1), &mask), TLS_SNI_NONE);
    const struct tls_sni_entry bad[] = { { "api.example.com", 40 } }; /* index out of a 32-bit mask */
    CHECK_EQ(tls_sni_select(bad, 1, n1, strlen((const char *)n1), &mask), TLS_SNI_NONE);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_pattern_check), UNIT_TEST(test_exact),  UNIT_TEST(test_wildcard),
        UNIT_TEST(test_hostile_names), UNIT_TEST(test_select),
    };
    return unit_main("tls_sni", tests, (int)(sizeof tests / sizeof tests[0]));
}
