/* test_config_passwd.c - the console password hash (appliance/config/passwd.c):
 * SHA-256, HMAC-SHA256 and PBKDF2-HMAC-SHA256 against published vectors
 * (FIPS 180-4 examples, RFC 4231, RFC 7914 section 11) and vectors computed
 * with Python's hashlib; the text form; and agreement with tools/keel-passwd
 * both ways. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "passwd.h"
#include "unit.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static const char *sha_hex(const void *d, size_t n)
{
    static char s[65];
    uint8_t h[32];
    sha256(d, n, h);
    hex(h, 32, s);
    return s;
}

static void test_sha256(void)
{
    CHECK_STR(sha_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_STR(sha_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK_STR(sha_hex(two, strlen(two)), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* a million 'a', fed in uneven pieces */
    static char a[1000000];
    memset(a, 'a', sizeof a);
    struct sha256_ctx c;
    sha256_init(&c);
    for (size_t off = 0, step = 1; off < sizeof a; off += step, step = step * 7 % 1000 + 1)
        sha256_update(&c, a + off, off + step > sizeof a ? sizeof a - off : step);
    uint8_t h[32];
    char s[65];
    sha256_final(&c, h);
    hex(h, 32, s);
    CHECK_STR(s, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* lengths around the padding boundaries (hashlib) */
    static const struct {
        size_t n;
        const char *h;
    } pad[] = {
        { 55, "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59" },
        { 56, "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562" },
        { 63, "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488" },
        { 64, "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108" },
        { 65, "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781" },
        { 119, "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6" },
        { 120, "f52b23db1fbb6ded89ef42a23ce0c8922c45f25c50b568a93bf1c075420bbb7c" },
    };
    uint8_t seq[128];
    for (int i = 0; i < 128; i++)
        seq[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof pad / sizeof pad[0]; i++)
        CHECK_STR(sha_hex(seq, pad[i].n), pad[i].h);
}

static const char *hmac_hex(const void *k, size_t kn, const char *m)
{
    static char s[65];
    uint8_t h[32];
    hmac_sha256(k, kn, m, strlen(m), h);
    hex(h, 32, s);
    return s;
}

static void test_hmac(void)
{
    uint8_t k[131];
    memset(k, 0x0b, 20);
    CHECK_STR(hmac_hex(k, 20, "Hi There"), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK_STR(hmac_hex("Jefe", 4, "what do ya want for nothing?"),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(k, 0xaa, sizeof k);
    CHECK_STR(hmac_hex(k, 131, "Test Using Larger Than Block-Size Key - Hash Key First"),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    CHECK_STR(hmac_hex(k, 64, "exactly one block"), "5b87dae58ee4b7b43b98ee08d3d044b8762c3ea166aff96a2b2298de9f34a8ea");
}

static void test_pbkdf2(void)
{
    static const struct {
        const char *pw;
        size_t pwlen;
        const char *salt;
        size_t saltlen;
        uint32_t iter;
        size_t dklen;
        const char *dk;
    } v[] = {
        { "password", 8, "salt", 4, 1, 32, "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b" },
        { "password", 8, "salt", 4, 2, 32, "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43" },
        { "password", 8, "salt", 4, 4096, 32, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a" },
        { "passwordPASSWORDpassword", 24, "saltSALTsaltSALTsaltSALTsaltSALTsalt", 36, 4096, 40,
          "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1c635518c7dac47e9" },
        { "pass\0word", 9, "sa\0lt", 5, 4096, 16, "89b69d0516f829893c696226650a8687" },
        /* RFC 7914 section 11 */
        { "passwd", 6, "salt", 4, 1, 64,
          "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e3"
          "0bd509112041d3a19783" },
        { "Password", 8, "NaCl", 4, 80000, 64,
          "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1"
          "d078478f62b397f33c8d" },
        { "", 0, "salt", 4, 1000, 32, "94fb56af3ea22e5d3ed1b054085b136ca301b75d8b406c802c489479f27387c6" },
        { "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk", 100,
          "ssssssss", 8, 1000, 33, "e84ad055cdb043d8e90d089a86d413616f501f3196ecad492c750ff6556669dfb3" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t dk[64];
        char s[129];
        pbkdf2_hmac_sha256(v[i].pw, v[i].pwlen, v[i].salt, v[i].saltlen, v[i].iter, dk, v[i].dklen);
        hex(dk, v[i].dklen, s);
        CHECK_STR(s, v[i].dk);
    }
}

static void test_base64(void)
{
    char out[64];
    uint8_t back[64];
    CHECK_EQ(passwd_b64_encode((const uint8_t *)"", 0, out, sizeof out), 0);
    CHECK_STR(out, "");
    CHECK_EQ(passwd_b64_encode((const uint8_t *)"f", 1, out, sizeof out), 2);
    CHECK_STR(out, "Zg");
    CHECK_EQ(passwd_b64_encode((const uint8_t *)"fo", 2, out, sizeof out), 3);
    CHECK_STR(out, "Zm8");
    CHECK_EQ(passwd_b64_encode((const uint8_t *)"foobar", 6, out, sizeof out), 8);
    CHECK_STR(out, "Zm9vYmFy");
    CHECK_EQ(passwd_b64_encode((const uint8_t *)"\xfb\xff", 2, out, sizeof out), 3);
    CHECK_STR(out, "+/8");
    CHECK_EQ(passwd_b64_encode((const uint8_t *)"foobar", 6, out, 8), PASSWD_E_SPACE);
    CHECK_EQ(passwd_b64_decode("Zm9vYmFy", 8, back, sizeof back), 6);
    CHECK(memcmp(back, "foobar", 6) == 0);
    CHECK_EQ(passwd_b64_decode("Zm8", 3, back, sizeof back), 2);
    CHECK_EQ(passwd_b64_decode("Zm9", 3, back, sizeof back), PASSWD_E_FORMAT);  /* non-zero unused bits */
    CHECK_EQ(passwd_b64_decode("Zm8=", 4, back, sizeof back), PASSWD_E_FORMAT); /* no padding */
    CHECK_EQ(passwd_b64_decode("Z", 1, back, sizeof back), PASSWD_E_FORMAT);
    CHECK_EQ(passwd_b64_decode("Zm-8", 4, back, sizeof back), PASSWD_E_FORMAT);
    CHECK_EQ(passwd_b64_decode("Zm9vYmFy", 8, back, 5), PASSWD_E_SPACE);
    for (int n = 0; n < 40; n++) { /* round trip every length */
        uint8_t in[40];
        for (int i = 0; i < n; i++)
            in[i] = (uint8_t)(i * 37 + n);
        int k = passwd_b64_encode(in, (size_t)n, out, sizeof out);
        CHECK(k >= 0);
        CHECK_EQ(passwd_b64_decode(out, (size_t)k, back, sizeof back), n);
        CHECK(memcmp(in, back, (size_t)n) == 0);
    }
}

/* tools/keel-passwd --stdin -i 1000 --salt-hex 00112233445566778899aabbccddeeff, password "secret" */
#define TOOL_HASH "$pbkdf2-sha256$1000$ABEiM0RVZneImaq7zN3u/w$WINyd1+zi1cRtvNrRl4pPce3k+AIVQ7ooQuyao5/hbg"
static const uint8_t tool_salt[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                       0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

static void test_text_form(void)
{
    char h[PASSWD_TEXT_MAX];
    int n = passwd_make("secret", 6, tool_salt, sizeof tool_salt, 1000, h, sizeof h);
    CHECK_EQ(n, (int)strlen(TOOL_HASH));
    CHECK_STR(h, TOOL_HASH);
    CHECK_EQ(passwd_verify(h, strlen(h), "secret", 6), 1);
    CHECK_EQ(passwd_verify(h, strlen(h), "secreT", 6), 0);
    CHECK_EQ(passwd_verify(h, strlen(h), "secret", 5), 0);
    CHECK_EQ(passwd_verify(h, strlen(h), "", 0), 0);
    struct passwd_hash ph;
    CHECK_EQ(passwd_parse(h, strlen(h), &ph), PASSWD_OK);
    CHECK_EQ(ph.iterations, 1000);
    CHECK_EQ(ph.salt_len, 16);
    CHECK(memcmp(ph.salt, tool_salt, 16) == 0);
    /* the longest form fits PASSWD_TEXT_MAX */
    uint8_t salt32[32] = { 0 };
    CHECK(passwd_make("x", 1, salt32, 32, 1000, h, sizeof h) > 0);
    char longest[] = "$pbkdf2-sha256$10000000$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$"
                     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    CHECK(strlen(longest) < PASSWD_TEXT_MAX);
    CHECK_EQ(passwd_parse(longest, strlen(longest), &ph), PASSWD_OK);
    /* errors */
    CHECK_EQ(passwd_make("x", 1, tool_salt, 16, 999, h, sizeof h), PASSWD_E_ITER);
    CHECK_EQ(passwd_make("x", 1, tool_salt, 16, PASSWD_ITER_MAX + 1, h, sizeof h), PASSWD_E_ITER);
    CHECK_EQ(passwd_make("x", 1, tool_salt, 7, 1000, h, sizeof h), PASSWD_E_SALT);
    CHECK_EQ(passwd_make("x", 1, salt32, 33, 1000, h, sizeof h), PASSWD_E_SALT);
    CHECK_EQ(passwd_make("x", 1, tool_salt, 16, 1000, h, 20), PASSWD_E_SPACE);
    CHECK_EQ(passwd_make(NULL, 1, tool_salt, 16, 1000, h, sizeof h), PASSWD_E_INVAL);
    static const struct {
        const char *s;
        int err;
    } bad[] = {
        { "", PASSWD_E_FORMAT },
        { "$pbkdf2-sha1$1000$ABEiM0RVZneImaq7zN3u/w$WINyd1+zi1cRtvNrRl4pPce3k+AIVQ7ooQuyao5/hbg", PASSWD_E_FORMAT },
        { "$pbkdf2-sha256$$ABEiM0RVZneImaq7zN3u/w$WINyd1+zi1cRtvNrRl4pPce3k+AIVQ7ooQuyao5/hbg", PASSWD_E_FORMAT },
        { "$pbkdf2-sha256$01000$ABEiM0RVZneImaq7zN3u/w$WINyd1+zi1cRtvNrRl4pPce3k+AIVQ7ooQuyao5/hbg", PASSWD_E_FORMAT },
        { "$pbkdf2-sha256$1000x$ABEiM0RVZneImaq7zN3u/w$WINyd1+zi1cRtvNrRl4pPce3k+AIVQ7ooQuyao5/hbg", PASSWD_E_FORMAT },
        { "$pbkdf2-sha256$999$ABEiM0RVZneImaq7zN3u/w$WINyd1+zi1cRtvNrRl4pPce3k+AIVQ7ooQuyao5/hbg", PASSWD_E_ITER },
        { "$pbkdf2-sha256$10000001$ABEiM0RVZneImaq7zN3u/w$WINyd1+zi1cRtvNrRl4pPce3k+AIVQ7ooQuyao5/hbg", PASSWD_E_ITER },
        { "$pbkdf2-sha256$1000000000$ABEiM0RVZneImaq7zN3u/w$WINyd1+zi1cRtvNrRl4pPce3k+AIVQ7ooQuyao5/hbg",
          PASSWD_E_FORMAT },
        { "$pbkdf2-sha256$1000$ABEiM0RVZg$WINyd1+zi1cRtvNrRl4pPce3k+AIVQ7ooQuyao5/hbg", PASSWD_E_SALT },
        { "$pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$WINyd1+zi1cRtvNrRl4pPce3k+"
          "AIVQ7ooQuyao5/hbg",
          PASSWD_E_SALT },
        { "$pbkdf2-sha256$1000$ABEiM0RVZneImaq7zN3u/w=$WINyd1+zi1cRtvNrRl4pPce3k+AIVQ7ooQuyao5/hbg", PASSWD_E_FORMAT },
        { "$pbkdf2-sha256$1000$ABEiM0RVZneImaq7zN3u/w$WINyd1+zi1cRtvNrRl4pPce3k+AIVQ7ooQuyao5/hb", PASSWD_E_FORMAT },
        { "$pbkdf2-sha256$1000$ABEiM0RVZneImaq7zN3u/w$WINyd1+zi1cRtvNrRl4pPce3k+AIVQ7ooQuyao5/hbgAA", PASSWD_E_FORMAT },
        { "$pbkdf2-sha256$1000$ABEiM0RVZneImaq7zN3u/w$WINyd1+zi1cRtvNrRl4pPce3k+AIVQ7ooQuyao5/hbg$", PASSWD_E_FORMAT },
        { "$pbkdf2-sha256$1000$ABEiM0RVZneImaq7zN3u/w", PASSWD_E_FORMAT },
        { "$pbkdf2-sha256$1000", PASSWD_E_FORMAT },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(passwd_parse(bad[i].s, strlen(bad[i].s), &ph), bad[i].err);
        CHECK_EQ(passwd_verify(bad[i].s, strlen(bad[i].s), "secret", 6), bad[i].err);
    }
    CHECK_EQ(passwd_parse(NULL, 0, &ph), PASSWD_E_INVAL);
    CHECK(strncmp(passwd_strerror(PASSWD_E_FORMAT), "expected ", 9) == 0);
    CHECK(strncmp(passwd_strerror(PASSWD_E_ITER), "expected ", 9) == 0);
    CHECK(strncmp(passwd_strerror(PASSWD_E_SALT), "expected ", 9) == 0);
}

/* Runs CMD with INPUT on its standard input; its first output line in OUT. */
static int run(const char *cmd, const char *input, char *out, size_t cap)
{
    char full[1024];
    snprintf(full, sizeof full, "printf '%%s' '%s' | %s", input, cmd);
    FILE *f = popen(full, "r");
    if (!f)
        return -1;
    out[0] = '\0';
    if (!fgets(out, (int)cap, f))
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    return pclose(f);
}

static void test_tool_agrees(void)
{
    char line[256];
    /* same salt, same hash */
    CHECK_EQ(run("python3 tools/keel-passwd --stdin -i 1000 --salt-hex 00112233445566778899aabbccddeeff", "secret",
                 line, sizeof line),
             0);
    CHECK_STR(line, TOOL_HASH);
    /* a random salt and the default count: ours verifies the tool's */
    CHECK_EQ(run("python3 tools/keel-passwd --stdin", "correct horse", line, sizeof line), 0);
    CHECK(strncmp(line, "$pbkdf2-sha256$100000$", 22) == 0);
    CHECK_EQ(passwd_verify(line, strlen(line), "correct horse", 13), 1);
    CHECK_EQ(passwd_verify(line, strlen(line), "correct horsE", 13), 0);
    /* and the tool verifies ours */
    uint8_t salt[12] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0xfe, 0xff };
    char h[PASSWD_TEXT_MAX], cmd[512];
    CHECK(passwd_make("p4ss w0rd", 9, salt, sizeof salt, 2000, h, sizeof h) > 0);
    snprintf(cmd, sizeof cmd, "python3 tools/keel-passwd --stdin --verify '%s'", h);
    CHECK_EQ(run(cmd, "p4ss w0rd", line, sizeof line), 0);
    CHECK(run(cmd, "p4ss w0rD", line, sizeof line) != 0);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_sha256), UNIT_TEST(test_hmac),      UNIT_TEST(test_pbkdf2),
        UNIT_TEST(test_base64), UNIT_TEST(test_text_form), UNIT_TEST(test_tool_agrees),
    };
    return unit_main("config_passwd", tests, (int)(sizeof tests / sizeof tests[0]));
}
