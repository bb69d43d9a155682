/* test_config.c - appliance.conf: parser errors, writer, round trip, diff
 * (appliance/config/conf.c, conf_write.c, conf_diff.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "conf_addr.h"
#include "unit.h"

static struct conf c, c2;
static struct conf_result res;
static char text[65536];
static struct conf_diff_work work;
static char out[65536];

static int parse(const char *t) { return conf_parse(NULL, t, strlen(t), &c, &res); }

/* The first error of parsing T (or "" if it parsed). */
static const char *err1(const char *t)
{
    if (parse(t) == CONF_OK)
        return "";
    return res.errors[0].msg;
}

#define HASH "$pbkdf2-sha256$1000$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

static const char *const example = "hostname edge1\n"
                                   "log info                                   # debug | info | warn | error\n"
                                   "\n"
                                   "interface wan nic 0 dhcp                   # nic N = Nth NIC found\n"
                                   "interface lan nic 1 address 192.168.50.1/24 gateway 192.168.50.254\n"
                                   "\n"
                                   "# Firewall\n"
                                   "pass out keep state\n"
                                   "pass in on wan proto tcp to port 443 keep state\n"
                                   "pass in on lan proto icmp\n"
                                   "block in quick on wan from 10.66.0.0/16\n"
                                   "\n"
                                   "tls 443 {\n"
                                   "    certificate edge1.crt key edge1.key            # the default certificate\n"
                                   "    certificate api.crt key api.key sni api.example.com\n"
                                   "    backend 10.0.2.2:8080\n"
                                   "    proxy-protocol v1                              # optional\n"
                                   "    max-connections 512\n"
                                   "    idle-timeout 60s\n"
                                   "}\n";

/* ------------------------------------------------------------- parsing -- */

/* IPv6 clauses: a static address, autoconf, both families on one line,
 * IPv6 alone; the canonical text round-trips; wrong ones are refused. */
static void test_interface_ipv6(void)
{
    CHECK_EQ(parse("interface wan nic 0 dhcp autoconf\n"
                   "interface lan nic 1 address 10.1.0.1/24 address 2001:DB8:1:0::1/64\n"
                   "interface dmz nic 2 address fd00::1/48\n"),
             CONF_OK);
    CHECK_EQ(c.n_ifaces, 3);
    CHECK_EQ(c.ifaces[0].mode, CONF_IF_DHCP);
    CHECK_EQ(c.ifaces[0].mode6, CONF_IF6_AUTOCONF);
    CHECK_EQ(c.ifaces[1].mode, CONF_IF_STATIC);
    CHECK_EQ(c.ifaces[1].mode6, CONF_IF6_STATIC);
    CHECK_EQ(c.ifaces[1].prefix6, 64);
    static const uint8_t want[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 1 };
    CHECK(memcmp(c.ifaces[1].addr6, want, 16) == 0);
    CHECK_EQ(c.ifaces[2].mode, CONF_IF_NONE);
    CHECK_EQ(c.ifaces[2].mode6, CONF_IF6_STATIC);
    CHECK_EQ(c.ifaces[2].prefix6, 48);
    static char wtext[4096];
    size_t n = conf_write(&c, wtext, sizeof wtext);
    CHECK(n < sizeof wtext);
    CHECK(strstr(wtext, "interface wan nic 0 dhcp autoconf\n") != NULL);
    CHECK(strstr(wtext, "interface lan nic 1 address 10.1.0.1/24 address 2001:db8:1::1/64\n") != NULL);
    CHECK(strstr(wtext, "interface dmz nic 2 address fd00::1/48\n") != NULL);
    static struct conf again;
    CHECK_EQ(conf_parse(NULL, wtext, n, &again, NULL), CONF_OK);
    CHECK(conf_equal(&c, &again));
    again.ifaces[1].addr6[15] = 2;
    CHECK(!conf_equal(&c, &again));
    /* IPv6 first, IPv4 after; a gateway still follows its IPv4 address. */
    CHECK_EQ(parse("interface a nic 0 autoconf address 10.0.0.1/8 gateway 10.0.0.2\n"), CONF_OK);
    CHECK(c.ifaces[0].has_gateway);
    CHECK_EQ(c.ifaces[0].mode6, CONF_IF6_AUTOCONF);
    CHECK_STR(err1("interface a nic 0 autoconf address 2001:db8::1/64\n"),
              "appliance.conf:1:28: expected one IPv6 clause (address IPV6/P or autoconf) per interface (got "
              "\"address\")");
    CHECK_STR(err1("interface a nic 0 dhcp address 10.0.0.1/8\n"),
              "appliance.conf:1:24: expected one IPv4 clause (dhcp or address A.B.C.D/P) per interface (got "
              "\"address\")");
    static const char *const bad6[] = { "2001:db8::1",       "2001:db8::1/0", "2001:db8::1/129",
                                        "2001:db8::g/64",    "2001:db8::1/x", "::/64",
                                        "::1/128",           "ff02::1/64",    "fe80::1/64",
                                        "::ffff:10.0.0.1/96" };
    for (size_t i = 0; i < sizeof bad6 / sizeof bad6[0]; i++) {
        char t[128];
        snprintf(t, sizeof t, "interface a nic 0 address %s\n", bad6[i]);
        const char *e = err1(t);
        CHECK(strncmp(e, "appliance.conf:1:27: expected a", 31) == 0);
        if (strncmp(e, "appliance.conf:1:27: expected a", 31) != 0)
            printf("  %s: %s\n", bad6[i], e);
    }
    /* An IPv6 default gateway on the static clause. */
    CHECK_EQ(parse("interface a nic 0 address 2001:db8::1/64 gateway 2001:DB8::fe dhcp\n"), CONF_OK);
    CHECK(c.ifaces[0].has_gateway6);
    CHECK_EQ(c.ifaces[0].gateway6[15], 0xfe);
    CHECK_EQ(c.ifaces[0].mode, CONF_IF_DHCP);
    conf_write(&c, out, sizeof out);
    CHECK(strstr(out, "interface a nic 0 dhcp address 2001:db8::1/64 gateway 2001:db8::fe\n") != NULL);
    CHECK_EQ(conf_parse(NULL, out, strlen(out), &c2, &res), CONF_OK);
    CHECK(conf_equal(&c, &c2));
    c2.ifaces[0].gateway6[15]++;
    CHECK(!conf_equal(&c, &c2));
    CHECK_STR(err1("interface a nic 0 address 2001:db8::1/64 gateway\n"),
              "appliance.conf:1:49: expected a gateway address IPV6 after gateway");
    CHECK_STR(err1("interface a nic 0 address 2001:db8::1/64 gateway 10.0.0.1\n"),
              "appliance.conf:1:50: expected an IPv6 gateway address (the interface's address is IPv6) (got "
              "\"10.0.0.1\")");
    CHECK_STR(err1("interface a nic 0 address 2001:db8::1/64 gateway 2001:db9::1\n"),
              "appliance.conf:1:50: expected a gateway inside the interface's prefix, other than its address (got "
              "\"2001:db9::1\")");
    CHECK_STR(err1("interface a nic 0 address 2001:db8::1/64 gateway 2001:db8::1\n"),
              "appliance.conf:1:50: expected a gateway inside the interface's prefix, other than its address (got "
              "\"2001:db8::1\")");
    CHECK_STR(err1("interface a nic 0 address 2001:db8::1/64 gateway fe80::1\n"),
              "appliance.conf:1:50: expected a unicast IPv6 gateway (not ::, ::1, IPv4-mapped, multicast or "
              "link-local fe80::/10) (got \"fe80::1\")");
    CHECK_STR(err1("interface a nic 0 address 2001:db8::1/64 gateway 2001:db8::2\n"
                   "interface b nic 1 address 2001:db9::1/64 gateway 2001:db9::2\n"),
              "appliance.conf:2:50: expected one IPv6 default gateway (line 1 has one)");
    /* One IPv4 and one IPv6 default gateway may sit on different interfaces. */
    CHECK_EQ(parse("interface a nic 0 address 10.0.0.1/24 gateway 10.0.0.2\n"
                   "interface b nic 1 address 2001:db9::1/64 gateway 2001:db9::2\n"),
             CONF_OK);
    CHECK(c.ifaces[0].has_gateway && !c.ifaces[0].has_gateway6 && c.ifaces[1].has_gateway6);
}

static void test_design_example(void)
{
    CHECK_EQ(parse(example), CONF_OK);
    CHECK_EQ(res.n_errors, 0);
    CHECK_STR(c.hostname, "edge1");
    CHECK_EQ(c.log_level, CONF_LOG_INFO);
    CHECK_EQ(c.n_ifaces, 2);
    CHECK_STR(c.ifaces[0].name, "wan");
    CHECK_EQ(c.ifaces[0].nic, 0);
    CHECK_EQ(c.ifaces[0].mode, CONF_IF_DHCP);
    CHECK_EQ(c.ifaces[0].line, 4);
    CHECK_STR(c.ifaces[1].name, "lan");
    CHECK_EQ(c.ifaces[1].mode, CONF_IF_STATIC);
    CHECK_EQ(c.ifaces[1].addr, 0xc0a83201u);
    CHECK_EQ(c.ifaces[1].prefix, 24);
    CHECK(c.ifaces[1].has_gateway);
    CHECK_EQ(c.ifaces[1].gateway, 0xc0a832feu);
    CHECK_EQ(c.n_rules, 4);
    size_t n;
    const char *r = conf_rule_text(&c, 1, &n);
    CHECK_EQ(n, strlen("pass in on wan proto tcp to port 443 keep state"));
    CHECK(memcmp(r, "pass in on wan proto tcp to port 443 keep state", n) == 0);
    CHECK_EQ(c.rules[3].line, 11);
    CHECK_EQ(c.n_tls, 1);
    CHECK_EQ(c.tls[0].port, 443);
    CHECK_EQ(c.tls[0].line, 13);
    CHECK_EQ(c.tls[0].n_certs, 2);
    CHECK_STR(c.tls[0].certs[0].cert, "edge1.crt");
    CHECK_STR(c.tls[0].certs[0].key, "edge1.key");
    CHECK_STR(c.tls[0].certs[0].sni, "");
    CHECK_STR(c.tls[0].certs[1].sni, "api.example.com");
    CHECK_EQ(c.tls[0].backend_addr, 0x0a000202u);
    CHECK_EQ(c.tls[0].backend_port, 8080);
    CHECK_EQ(c.tls[0].proxy_protocol, CONF_PROXY_V1);
    CHECK_EQ(c.tls[0].max_connections, 512);
    CHECK_EQ(c.tls[0].idle_timeout, 60);
    CHECK_EQ(c.tls[0].handshake_timeout, CONF_DEFAULT_HANDSHAKE_TIMEOUT);
    CHECK_EQ(c.tls[0].n_alpn, 0);
    CHECK_STR(c.password_hash, "");
}

static void test_defaults_and_empty(void)
{
    CHECK_EQ(parse(""), CONF_OK);
    CHECK_STR(c.hostname, CONF_DEFAULT_HOSTNAME);
    CHECK_EQ(c.log_level, CONF_LOG_INFO);
    CHECK_EQ(c.n_ifaces + c.n_rules + c.n_tls, 0);
    CHECK_EQ(parse("\n\n   \t\n# only comments\n  # indented\n"), CONF_OK);
    CHECK_EQ(conf_parse(NULL, NULL, 0, &c, NULL), CONF_OK);
    CHECK_EQ(conf_parse(NULL, NULL, 1, &c, &res), CONF_E_INVAL);
    CHECK_EQ(conf_parse(NULL, "", 0, NULL, &res), CONF_E_INVAL);
}

static void test_everything_else(void)
{
    CHECK_EQ(parse("hostname Edge-1.example.com\r\n"
                   "log debug\n"
                   "interface a_1 nic 7 address 10.0.0.5/32\n"
                   "tls 8443 {   # comment\n"
                   "\tcertificate certs/a.crt key keys/a-b_c.key\n"
                   "    certificate b.crt key b.key sni *.Example.COM\n"
                   "    backend 192.168.0.10:443\n"
                   "    proxy-protocol v2\n"
                   "    max-connections 65535\n"
                   "    idle-timeout 2h\n"
                   "    handshake-timeout 10m\n"
                   "    alpn h2 http/1.1\n"
                   "}  # done\n"
                   "console password-hash " HASH "\n"
                   "antispoof for a_1\n"
                   "block"),
             CONF_OK);
    CHECK_STR(c.hostname, "Edge-1.example.com");
    CHECK_EQ(c.log_level, CONF_LOG_DEBUG);
    CHECK_EQ(c.ifaces[0].prefix, 32);
    CHECK(!c.ifaces[0].has_gateway);
    CHECK_STR(c.tls[0].certs[0].cert, "certs/a.crt");
    CHECK_STR(c.tls[0].certs[1].sni, "*.example.com");
    CHECK_EQ(c.tls[0].proxy_protocol, CONF_PROXY_V2);
    CHECK_EQ(c.tls[0].max_connections, 65535);
    CHECK_EQ(c.tls[0].idle_timeout, 7200);
    CHECK_EQ(c.tls[0].handshake_timeout, 600);
    CHECK_EQ(c.tls[0].n_alpn, 2);
    CHECK_STR(c.tls[0].alpn[1], "http/1.1");
    CHECK_STR(c.password_hash, HASH);
    CHECK_EQ(c.n_rules, 2);
    CHECK_EQ(c.rules[1].line, 16);
    /* log levels */
    CHECK_EQ(parse("log warn\n"), CONF_OK);
    CHECK_EQ(c.log_level, CONF_LOG_WARN);
    CHECK_EQ(parse("log error\n"), CONF_OK);
    CHECK_EQ(c.log_level, CONF_LOG_ERROR);
    CHECK_STR(conf_log_level_name(9), "?");
    /* braces are words of their own */
    CHECK_EQ(parse("tls 1{\ncertificate a key b\nbackend 1.2.3.4:5}\n"), -1);
    CHECK_EQ(parse("tls 1{\ncertificate a key b\nbackend 1.2.3.4:5\n}\n"), CONF_OK);
}

static void test_rule_text_normalised(void)
{
    CHECK_EQ(parse("  pass \t in   on  wan\tproto tcp   # trailing\ninterface wan nic 0 dhcp\n"), CONF_OK);
    size_t n;
    const char *r = conf_rule_text(&c, 0, &n);
    CHECK_EQ(n, strlen("pass in on wan proto tcp"));
    CHECK(memcmp(r, "pass in on wan proto tcp", n) == 0);
}

static void test_errors_top_level(void)
{
    CHECK_STR(err1("hostname a\nfrobnicate x\n"),
              "appliance.conf:2:1: expected hostname, log, interface, route, a firewall stateme"
              "nt (pass, block, match, antispoof, table, set or NAME = VALUE), tls, console, syslog, ntp or metrics "
              "(got \"frobnicate\")");
    CHECK_STR(err1("  }\n"), "appliance.conf:1:3: expected a statement ('}' closes no tls block here)");
    CHECK_STR(err1("{\n"), "appliance.conf:1:1: expected hostname, log, interface, route, a firewall stateme"
                           "nt (pass, block, match, antispoof, table, set or NAME = VALUE), tls, console, syslog, ntp "
                           "or metrics (got \"{\")");
    CHECK_STR(err1("hostname\n"), "appliance.conf:1:9: expected a host name after hostname");
    CHECK_STR(err1("hostname a b\n"), "appliance.conf:1:12: expected the end of the line (got \"b\")");
    CHECK_STR(err1("hostname -a\n"), "appliance.conf:1:10: expected a host name (letters, digits, '-' and '.', at "
                                     "most 63 characters) (got \"-a\")");
    CHECK_STR(err1("hostname a..b\n"), "appliance.conf:1:10: expected a host name (letters, digits, '-' and '.', at "
                                       "most 63 characters) (got \"a..b\")");
    CHECK_STR(err1("hostname a-\n"), "appliance.conf:1:10: expected a host name (letters, digits, '-' and '.', at "
                                     "most 63 characters) (got \"a-\")");
    CHECK_STR(err1("hostname a_b\n"), "appliance.conf:1:10: expected a host name (letters, digits, '-' and '.', at "
                                      "most 63 characters) (got \"a_b\")");
    CHECK_STR(err1("hostname aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"),
              "appliance.conf:1:10: expected a host name (letters, digits, '-' and '.', at most 63 characters) "
              "(got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\")");
    CHECK_STR(err1("hostname a\nhostname b\n"), "appliance.conf:2:1: expected one hostname line (line 1 has one)");
    CHECK_STR(err1("log\n"), "appliance.conf:1:4: expected a log level after log: debug, info, warn or error");
    CHECK_STR(err1("log loud\n"),
              "appliance.conf:1:5: expected a log level: debug, info, warn or error (got \"loud\")");
    CHECK_STR(err1("log info\nlog warn\n"), "appliance.conf:2:1: expected one log line (line 1 has one)");
    CHECK_STR(err1("log info extra\n"), "appliance.conf:1:10: expected the end of the line (got \"extra\")");
}

static void test_errors_interface(void)
{
    CHECK_STR(err1("interface\n"), "appliance.conf:1:10: expected an interface name after interface");
    CHECK_STR(err1("interface Wan nic 0 dhcp\n"), "appliance.conf:1:11: expected an interface name ([a-z][a-z0-9_-]*, "
                                                  "at most 15 characters) (got \"Wan\")");
    CHECK_STR(err1("interface abcdefghijklmnop nic 0 dhcp\n"),
              "appliance.conf:1:11: expected an interface name ([a-z][a-z0-9_-]*, at most 15 characters) (got "
              "\"abcdefghijklmnop\")");
    CHECK_STR(err1("interface a.b nic 0 dhcp\n"), "appliance.conf:1:11: expected an interface name ([a-z][a-z0-9_-]*, "
                                                  "at most 15 characters) (got \"a.b\")");
    CHECK_STR(err1("interface a nic 0 dhcp\ninterface a nic 1 dhcp\n"),
              "appliance.conf:2:11: expected a new interface name (line 1 has this one)");
    CHECK_STR(err1("interface a\n"), "appliance.conf:1:12: expected nic N after the interface name");
    CHECK_STR(err1("interface a card 0\n"),
              "appliance.conf:1:13: expected nic N after the interface name (got \"card\")");
    CHECK_STR(err1("interface a nic\n"), "appliance.conf:1:16: expected a NIC number (0-7) after nic");
    CHECK_STR(err1("interface a nic 8 dhcp\n"),
              "appliance.conf:1:17: expected a NIC number (0-7) after nic (got \"8\")");
    CHECK_STR(err1("interface a nic -1 dhcp\n"),
              "appliance.conf:1:17: expected a NIC number (0-7) after nic (got \"-1\")");
    CHECK_STR(err1("interface a nic 0 dhcp\ninterface b nic 0 dhcp\n"),
              "appliance.conf:2:17: expected a NIC no other interface uses (line 1 has this one)");
    CHECK_STR(err1("interface a nic 0\n"),
              "appliance.conf:1:18: expected dhcp, address A.B.C.D/P, address IPV6/P or autoconf");
    CHECK_STR(err1("interface a nic 0 static\n"),
              "appliance.conf:1:19: expected dhcp, address A.B.C.D/P, address IPV6/P or autoconf (got \"static\")");
    CHECK_STR(err1("interface a nic 0 dhcp gateway 1.2.3.4\n"),
              "appliance.conf:1:24: expected dhcp, address A.B.C.D/P, address IPV6/P or autoconf (got \"gateway\")");
    CHECK_STR(err1("interface a nic 0 address\n"),
              "appliance.conf:1:26: expected an address A.B.C.D/P or IPV6/P after address");
    static const char *const bad_addrs[] = { "1.2.3.4",     "1.2.3.4/",    "1.2.3.4/0",   "1.2.3.4/33", "1.2.3/8",
                                             "1.2.3.4.5/8", "256.1.1.1/8", "01.2.3.4/8",  "1..3.4/8",   "a.b.c.d/8",
                                             "1.2.3.4/x",   "1.2.3.4/8/8", "1111.2.3.4/8" };
    for (size_t i = 0; i < sizeof bad_addrs / sizeof bad_addrs[0]; i++) {
        char t[128], want[200];
        snprintf(t, sizeof t, "interface a nic 0 address %s\n", bad_addrs[i]);
        snprintf(want, sizeof want,
                 "appliance.conf:1:27: expected an address A.B.C.D/P (prefix length 1-32) (got \"%s\")", bad_addrs[i]);
        CHECK_STR(err1(t), want);
    }
    CHECK_STR(err1("interface a nic 0 address 10.0.0.1/8 via 10.0.0.2\n"),
              "appliance.conf:1:38: expected dhcp, address A.B.C.D/P, address IPV6/P or autoconf (got \"via\")");
    CHECK_STR(err1("interface a nic 0 address 10.0.0.1/8 gateway\n"),
              "appliance.conf:1:45: expected a gateway address A.B.C.D after gateway");
    CHECK_STR(err1("interface a nic 0 address 10.0.0.1/8 gateway 10.0.0\n"),
              "appliance.conf:1:46: expected a gateway address A.B.C.D (got \"10.0.0\")");
    CHECK_STR(err1("interface a nic 0 address 10.0.0.1/8 gateway 11.0.0.1\n"),
              "appliance.conf:1:46: expected a gateway inside the interface's prefix, other than its address (got "
              "\"11.0.0.1\")");
    CHECK_STR(err1("interface a nic 0 address 10.0.0.1/8 gateway 10.0.0.1\n"),
              "appliance.conf:1:46: expected a gateway inside the interface's prefix, other than its address (got "
              "\"10.0.0.1\")");
    CHECK_STR(err1("interface a nic 0 address 10.0.0.1/8 gateway 10.0.0.2 x\n"),
              "appliance.conf:1:55: expected dhcp, address A.B.C.D/P, address IPV6/P or autoconf (got \"x\")");
    CHECK_STR(err1("interface a nic 0 address 10.0.0.1/8 gateway 10.0.0.2\n"
                   "interface b nic 1 address 10.1.0.1/16 gateway 10.1.0.2\n"),
              "appliance.conf:2:47: expected one default gateway (line 1 has one)");
    /* a failed line leaves no trace: the gateway of a refused line does not count */
    CHECK_EQ(parse("interface a nic 0 address 10.0.0.1/8 gateway 10.0.0.2 x\n"
                   "interface b nic 1 address 10.1.0.1/16 gateway 10.1.0.2\n"),
             CONF_E_SYNTAX);
    CHECK_EQ(res.n_errors, 1);
    char t[1024] = "";
    for (int i = 0; i < 9; i++)
        snprintf(t + strlen(t), sizeof t - strlen(t), "interface i%d nic %d dhcp\n", i, i % 8);
    CHECK_STR(err1(t), "appliance.conf:9:1: expected at most 8 interfaces");
    /* nine distinct names, NICs 0-7 and a ninth: the count is checked before the NIC */
    CHECK_STR(err1("interface a nic 0 dhcp\ninterface b nic 1 dhcp\ninterface c nic 2 dhcp\ninterface d nic 3 dhcp\n"
                   "interface e nic 4 dhcp\ninterface f nic 5 dhcp\ninterface g nic 6 dhcp\ninterface h nic 7 dhcp\n"
                   "interface i nic 7 dhcp\n"),
              "appliance.conf:9:1: expected at most 8 interfaces");
}

static void test_errors_rules(void)
{
    /* 257 rules */
    size_t pos = 0;
    for (int i = 0; i < 257; i++)
        pos += (size_t)snprintf(text + pos, sizeof text - pos, "pass\n");
    CHECK_STR(err1(text), "appliance.conf:257:1: expected at most 256 firewall rules");
    /* more than 16384 bytes of rule text */
    pos = 0;
    for (int i = 0; i < 45; i++) { /* 405 bytes each (a macro): the 41st does not fit */
        pos += (size_t)snprintf(text + pos, sizeof text - pos, "m = \"x");
        for (int k = 0; k < 99; k++)
            pos += (size_t)snprintf(text + pos, sizeof text - pos, " all");
        pos += (size_t)snprintf(text + pos, sizeof text - pos, "\"\n");
    }
    text[pos] = '\0';
    CHECK_STR(err1(text), "appliance.conf:41:1: expected at most 16384 bytes of firewall rules in all");
    /* every later rule is refused too */
    CHECK_EQ(res.n_errors, 5);
}

static void test_errors_tls_header(void)
{
    CHECK_STR(err1("tls\n"), "appliance.conf:1:4: expected a port (1-65535) after tls");
    CHECK_STR(err1("tls 0 {\n}\n"), "appliance.conf:1:5: expected a port (1-65535) after tls (got \"0\")");
    CHECK_STR(err1("tls 65536 {\n}\n"), "appliance.conf:1:5: expected a port (1-65535) after tls (got \"65536\")");
    CHECK_STR(err1("tls 443\n"), "appliance.conf:1:8: expected '{' after the port");
    CHECK_STR(err1("tls 443 (\n"), "appliance.conf:1:9: expected '{' after the port (got \"(\")");
    CHECK_STR(err1("tls 443 { x\n}\n"), "appliance.conf:1:11: expected the end of the line (got \"x\")");
    CHECK_STR(err1("tls 443 {\n    certificate a key b\n    backend 1.1.1.1:1\n}\n"
                   "tls 443 {\n    certificate a key b\n    backend 1.1.1.1:1\n}\n"),
              "appliance.conf:5:5: expected a port no other tls block uses (line 1 has this one)");
    /* a bad header still opens the block: its lines give no errors of their own */
    CHECK_EQ(parse("tls x {\n    certificate a key b\n    backend 1.1.1.1:1\n}\nhostname ok\n"), CONF_E_SYNTAX);
    CHECK_EQ(res.n_errors, 1);
    CHECK_EQ(c.n_tls, 0);
    /* nine blocks */
    size_t pos = 0;
    for (int i = 1; i <= 9; i++)
        pos += (size_t)snprintf(text + pos, sizeof text - pos,
                                "tls %d {\n certificate a key b\n backend 1.1.1.1:1\n}\n", i);
    CHECK_STR(err1(text), "appliance.conf:33:1: expected at most 8 tls blocks");
    CHECK_EQ(res.n_errors, 1);
    CHECK_STR(err1("tls 443 {\n    certificate a key b\n    backend 1.1.1.1:1\n"),
              "appliance.conf:1:9: expected '}' to close this tls block before the end of the file");
    CHECK_STR(err1("tls 443 {\n    certificate a key b\n    backend 1.1.1.1:1\nhostname x\n}\n"),
              "appliance.conf:4:1: expected certificate, backend, proxy-protocol, max-connections, idle-timeout, "
              "handshake-timeout, alpn, tls-versions or '}' (the tls block of line 1 is open) (got \"hostname\")");
    CHECK_STR(err1("tls 443 {\n    certificate a key b\n}\n"),
              "appliance.conf:3:1: expected a backend line in the tls block of line 1");
    CHECK_STR(err1("tls 443 {\n    certificate a key b sni a.b\n    backend 1.1.1.1:1\n}\n"),
              "appliance.conf:4:1: expected a certificate without sni (the default) in the tls block of line 1");
    CHECK_STR(err1("tls 443 {\n    certificate a key b\n    backend 1.1.1.1:1\n} x\n"),
              "appliance.conf:4:3: expected the end of the line (got \"x\")");
    CHECK_EQ(c.n_tls, 0);
}

#define BLOCK(body) "tls 443 {\n    certificate a key b\n    backend 1.1.1.1:1\n" body "}\n"

static void test_errors_tls_lines(void)
{
    const char *path_err = "expected a relative file path ([A-Za-z0-9._/-], no '..', at most 127 bytes)";
    char want[256];
    CHECK_STR(err1(BLOCK("    certificate\n")), "appliance.conf:4:16: expected a certificate file after certificate");
    static const char *const bad_paths[] = { "/etc/a", "../a",  "a/../b", "a/..", "a//b", "a/",
                                             "./a",    "a/./b", "a?b",    "a$b",  "..",   "." };
    for (size_t i = 0; i < sizeof bad_paths / sizeof bad_paths[0]; i++) {
        char t[256];
        snprintf(t, sizeof t, "tls 1 {\ncertificate %s key k\n}\n", bad_paths[i]);
        char got[64];
        size_t n = strcspn(bad_paths[i], " ");
        snprintf(got, sizeof got, "%.*s", (int)n, bad_paths[i]);
        snprintf(want, sizeof want, "appliance.conf:2:13: %s (got \"%s\")", path_err, got);
        CHECK_STR(err1(t), want);
    }
    char longpath[200];
    memset(longpath, 'a', 128);
    longpath[128] = '\0';
    snprintf(text, sizeof text, "tls 1 {\ncertificate %s key k\n}\n", longpath);
    CHECK(strncmp(err1(text), "appliance.conf:2:13: expected a relative file path", 50) == 0);
    longpath[127] = '\0';
    snprintf(text, sizeof text, "tls 1 {\ncertificate %s key k\nbackend 1.1.1.1:1\n}\n", longpath);
    CHECK_STR(err1(text), "");
    CHECK_STR(err1(BLOCK("    certificate c\n")), "appliance.conf:4:18: expected key FILE after the certificate");
    CHECK_STR(err1(BLOCK("    certificate c k\n")),
              "appliance.conf:4:19: expected key FILE after the certificate (got \"k\")");
    CHECK_STR(err1(BLOCK("    certificate c key\n")), "appliance.conf:4:22: expected a key file after key");
    snprintf(want, sizeof want, "appliance.conf:4:23: %s (got \"/k\")", path_err);
    CHECK_STR(err1(BLOCK("    certificate c key /k\n")), want);
    CHECK_STR(err1(BLOCK("    certificate c key k name x\n")),
              "appliance.conf:4:25: expected sni NAME or the end of the line (got \"name\")");
    CHECK_STR(err1(BLOCK("    certificate c key k sni\n")), "appliance.conf:4:28: expected a server name after sni");
    CHECK_STR(err1(BLOCK("    certificate c key k sni a..b\n")),
              "appliance.conf:4:29: expected a server name (a DNS name, '*.' allowed in front) (got \"a..b\")");
    CHECK_STR(err1(BLOCK("    certificate c key k sni a.*.b\n")),
              "appliance.conf:4:29: expected a server name (a DNS name, '*.' allowed in front) (got \"a.*.b\")");
    CHECK_STR(err1(BLOCK("    certificate c key k sni *.\n")),
              "appliance.conf:4:29: expected a server name (a DNS name, '*.' allowed in front) (got \"*.\")");
    CHECK_STR(err1(BLOCK("    certificate c key k sni A.b\n    certificate d key k sni a.B\n")),
              "appliance.conf:5:29: expected a server name no other certificate has (line 4 has this one)");
    CHECK_STR(err1(BLOCK("    certificate c key k\n")),
              "appliance.conf:4:24: expected sni NAME: the default certificate is on line 2");
    CHECK_STR(err1(BLOCK("    certificate c key k sni a.b x\n")),
              "appliance.conf:4:33: expected the end of the line (got \"x\")");
    CHECK_STR(err1(BLOCK("certificate c key k sni a1\ncertificate c key k sni a2\ncertificate c key k sni a3\n"
                         "certificate c key k sni a4\ncertificate c key k sni a5\ncertificate c key k sni a6\n"
                         "certificate c key k sni a7\ncertificate c key k sni a8\n")),
              "appliance.conf:11:1: expected at most 8 certificates per tls block");

    CHECK_STR(err1(BLOCK("    backend 1.1.1.1:2\n")),
              "appliance.conf:4:5: expected one backend line per tls block (line 3 has one)");
    CHECK_STR(err1("tls 1 {\n    backend\n}\n"),
              "appliance.conf:2:12: expected a backend A.B.C.D:PORT or [IPV6]:PORT after backend");
    static const char *const bad_backends[] = { "1.1.1.1",
                                                "1.1.1.1:",
                                                "1.1.1.1:0",
                                                "1.1.1.1:65536",
                                                "host:80",
                                                "1.1.1:80",
                                                ":80",
                                                "2001:db8::5:80",
                                                "[2001:db8::5]",
                                                "[2001:db8::5]:",
                                                "[2001:db8::5]80",
                                                "[2001:db8::5:80",
                                                "[10.0.0.1]:80",
                                                "[2001:db8::5]:0",
                                                "[]:80",
                                                "[2001:db8::g]:80",
                                                "[2001:db8::5]:65536" };
    for (size_t i = 0; i < sizeof bad_backends / sizeof bad_backends[0]; i++) {
        char t[128];
        snprintf(t, sizeof t, "tls 1 {\nbackend %s\n}\n", bad_backends[i]);
        snprintf(want, sizeof want,
                 "appliance.conf:2:9: expected a backend A.B.C.D:PORT or [IPV6]:PORT (port 1-65535) (got \"%s\")",
                 bad_backends[i]);
        CHECK_STR(err1(t), want);
    }
    CHECK_STR(err1("tls 1 {\nbackend 1.1.1.1:1 x\n}\n"),
              "appliance.conf:2:19: expected the end of the line (got \"x\")");
    CHECK_STR(err1("tls 1 {\nbackend [fe80::1]:80\n}\n"),
              "appliance.conf:2:9: expected a unicast IPv6 backend (not ::, ::1, IPv4-mapped, multicast or link-local "
              "fe80::/10) (got \"[fe80::1]:80\")");
    CHECK_STR(err1("tls 1 {\nbackend [::1]:80\n}\n"),
              "appliance.conf:2:9: expected a unicast IPv6 backend (not ::, ::1, IPv4-mapped, multicast or link-local "
              "fe80::/10) (got \"[::1]:80\")");
    /* An IPv6 backend: parsed, written back canonically, compared. */
    CHECK_EQ(parse("tls 1 {\ncertificate a key b\nbackend [2001:DB8:11:0::5]:8080\n}\n"), CONF_OK);
    CHECK(c.tls[0].backend_v6);
    CHECK_EQ(c.tls[0].backend_addr, 0);
    CHECK_EQ(c.tls[0].backend_port, 8080);
    CHECK_EQ(c.tls[0].backend_addr6[0], 0x20);
    CHECK_EQ(c.tls[0].backend_addr6[15], 5);
    conf_write(&c, out, sizeof out);
    CHECK(strstr(out, "    backend [2001:db8:11::5]:8080\n") != NULL);
    CHECK_EQ(conf_parse(NULL, out, strlen(out), &c2, &res), CONF_OK);
    CHECK(conf_equal(&c, &c2));
    c2.tls[0].backend_addr6[15] = 6;
    CHECK(!conf_equal(&c, &c2));

    CHECK_STR(err1(BLOCK("proxy-protocol\n")), "appliance.conf:4:15: expected v1 or v2 after proxy-protocol");
    CHECK_STR(err1(BLOCK("proxy-protocol v3\n")),
              "appliance.conf:4:16: expected v1 or v2 after proxy-protocol (got \"v3\")");
    CHECK_STR(err1(BLOCK("proxy-protocol v1\nproxy-protocol v2\n")),
              "appliance.conf:5:1: expected one proxy-protocol line per tls block (line 4 has one)");
    CHECK_STR(err1(BLOCK("proxy-protocol v1 v2\n")), "appliance.conf:4:19: expected the end of the line (got \"v2\")");

    CHECK_STR(err1(BLOCK("max-connections\n")),
              "appliance.conf:4:16: expected a number (1-65535) after max-connections");
    CHECK_STR(err1(BLOCK("max-connections 0\n")),
              "appliance.conf:4:17: expected a number (1-65535) after max-connections (got \"0\")");
    CHECK_STR(err1(BLOCK("max-connections 65536\n")),
              "appliance.conf:4:17: expected a number (1-65535) after max-connections (got \"65536\")");
    CHECK_STR(err1(BLOCK("max-connections 99999999999999999999\n")),
              "appliance.conf:4:17: expected a number (1-65535) after max-connections (got \"99999999999999999999\")");
    CHECK_STR(err1(BLOCK("max-connections 1\nmax-connections 2\n")),
              "appliance.conf:5:1: expected one max-connections line per tls block (line 4 has one)");
    CHECK_STR(err1(BLOCK("max-connections 1 2\n")), "appliance.conf:4:19: expected the end of the line (got \"2\")");

    const char *idle = "expected a duration (1s-24h; a number and s, m or h) after idle-timeout";
    const char *hs = "expected a duration (1s-10m; a number and s, m or h) after handshake-timeout";
    snprintf(want, sizeof want, "appliance.conf:4:13: %s", idle);
    CHECK_STR(err1(BLOCK("idle-timeout\n")), want);
    static const char *const bad_idle[] = { "60", "s", "0s", "25h", "86401s", "1441m", "60x", "-1s", "1.5s" };
    for (size_t i = 0; i < sizeof bad_idle / sizeof bad_idle[0]; i++) {
        char t[128];
        snprintf(t, sizeof t, BLOCK("idle-timeout %s\n"), bad_idle[i]);
        snprintf(want, sizeof want, "appliance.conf:4:14: %s (got \"%s\")", idle, bad_idle[i]);
        CHECK_STR(err1(t), want);
    }
    CHECK_STR(err1(BLOCK("idle-timeout 24h\nhandshake-timeout 1s\n")), "");
    CHECK_EQ(c.tls[0].idle_timeout, 86400);
    CHECK_EQ(c.tls[0].handshake_timeout, 1);
    snprintf(want, sizeof want, "appliance.conf:4:19: %s (got \"11m\")", hs);
    CHECK_STR(err1(BLOCK("handshake-timeout 11m\n")), want);
    snprintf(want, sizeof want, "appliance.conf:4:18: %s", hs);
    CHECK_STR(err1(BLOCK("handshake-timeout\n")), want);
    CHECK_STR(err1(BLOCK("idle-timeout 1s\nidle-timeout 2s\n")),
              "appliance.conf:5:1: expected one idle-timeout line per tls block (line 4 has one)");
    CHECK_STR(err1(BLOCK("handshake-timeout 1s\nhandshake-timeout 2s\n")),
              "appliance.conf:5:1: expected one handshake-timeout line per tls block (line 4 has one)");
    CHECK_STR(err1(BLOCK("idle-timeout 1s 2s\n")), "appliance.conf:4:17: expected the end of the line (got \"2s\")");

    CHECK_STR(err1(BLOCK("alpn\n")), "appliance.conf:4:5: expected a protocol (such as h2 or http/1.1) after alpn");
    CHECK_STR(err1(BLOCK("alpn h2 h2\n")), "appliance.conf:4:9: expected each protocol once (got \"h2\")");
    CHECK_STR(err1(BLOCK("alpn a b c d e\n")),
              "appliance.conf:4:14: expected at most 4 protocols after alpn (got \"e\")");
    CHECK_STR(err1(BLOCK("alpn h2 a:b\n")),
              "appliance.conf:4:9: expected a protocol id ([A-Za-z0-9./_-], at most 15 characters) (got \"a:b\")");
    CHECK_STR(err1(BLOCK("alpn 0123456789abcdef\n")),
              "appliance.conf:4:6: expected a protocol id ([A-Za-z0-9./_-], at most 15 characters) (got "
              "\"0123456789abcdef\")");
    CHECK_STR(err1(BLOCK("alpn h2\nalpn h2\n")),
              "appliance.conf:5:1: expected one alpn line per tls block (line 4 has one)");
    CHECK_STR(err1(BLOCK("alpn a b c d # four\n")), "");
    CHECK_EQ(c.tls[0].n_alpn, 4);

    CHECK_STR(err1(BLOCK("")), "");
    CHECK_EQ(c.tls[0].tls_versions, CONF_TLS_V12 | CONF_TLS_V13); /* the default */
    CHECK_STR(err1(BLOCK("tls-versions 1.3\n")), "");
    CHECK_EQ(c.tls[0].tls_versions, CONF_TLS_V13);
    CHECK_STR(err1(BLOCK("tls-versions 1.2\n")), "");
    CHECK_EQ(c.tls[0].tls_versions, CONF_TLS_V12);
    CHECK_STR(err1(BLOCK("tls-versions 1.2-1.3\n")), "");
    CHECK_EQ(c.tls[0].tls_versions, CONF_TLS_V12 | CONF_TLS_V13);
    static const char *const bad_versions[] = { "1.1", "1.0-1.3", "1.3-1.2", "tls1.3", "1.2,1.3" };
    for (size_t i = 0; i < sizeof bad_versions / sizeof bad_versions[0]; i++) {
        char t[128];
        snprintf(t, sizeof t, BLOCK("tls-versions %s\n"), bad_versions[i]);
        snprintf(want, sizeof want, "appliance.conf:4:14: expected 1.2-1.3, 1.3 or 1.2 after tls-versions (got \"%s\")",
                 bad_versions[i]);
        CHECK_STR(err1(t), want);
    }
    CHECK_STR(err1(BLOCK("tls-versions\n")), "appliance.conf:4:13: expected 1.2-1.3, 1.3 or 1.2 after tls-versions");
    CHECK_STR(err1(BLOCK("tls-versions 1.3\ntls-versions 1.2\n")),
              "appliance.conf:5:1: expected one tls-versions line per tls block (line 4 has one)");
    CHECK_STR(err1(BLOCK("tls-versions 1.3 1.2\n")), "appliance.conf:4:18: expected the end of the line (got \"1.2\")");

    CHECK_STR(err1(BLOCK("pass\n")),
              "appliance.conf:4:1: expected certificate, backend, proxy-protocol, max-connections, idle-timeout, "
              "handshake-timeout, alpn, tls-versions or '}' (the tls block of line 1 is open) (got \"pass\")");
}

static void test_errors_console(void)
{
    CHECK_STR(err1("console\n"), "appliance.conf:1:8: expected password-hash after console");
    CHECK_STR(err1("console password\n"),
              "appliance.conf:1:9: expected password-hash after console (got \"password\")");
    CHECK_STR(err1("console password-hash\n"),
              "appliance.conf:1:22: expected a hash made by tools/keel-passwd after password-hash");
    CHECK_STR(err1("console password-hash " HASH "\nconsole password-hash " HASH "\n"),
              "appliance.conf:2:1: expected one console password-hash line (line 1 has one)");
    CHECK_STR(err1("console password-hash " HASH " x\n"),
              "appliance.conf:1:104: expected the end of the line (got \"x\")");
    CHECK_STR(err1("console password-hash secret\n"),
              "appliance.conf:1:23: expected a hash made by tools/keel-passwd ($pbkdf2-sha256$ITERATIONS$SALT$HASH) "
              "(got \"secret\")");
    CHECK_STR(
        err1("console password-hash $pbkdf2-sha256$999$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"),
        "appliance.conf:1:23: expected an iteration count from 1000 to 10000000 in the password hash (got "
        "\"$pbkdf2-sha256$999$c2FsdHNhbHRzY...\")");
    CHECK_STR(err1("console password-hash $pbkdf2-sha256$1000$c2FsdA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"),
              "appliance.conf:1:23: expected a salt of 8 to 32 bytes in the password hash (got "
              "\"$pbkdf2-sha256$1000$c2FsdA$AAAAA...\")");
}

static void test_errors_bytes(void)
{
    char t[700];
    memset(t, 'a', sizeof t);
    memcpy(t, "hostname ", 9);
    t[513] = '\n';
    t[514] = '\0';
    CHECK_STR(err1(t), "appliance.conf:1:513: expected a line of at most 512 bytes");
    t[512] = '\n';
    t[513] = '\0';
    CHECK_STR(err1(t), "appliance.conf:1:10: expected a host name (letters, digits, '-' and '.', at most 63 "
                       "characters) (got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\")");
    CHECK_EQ(conf_parse(NULL, "log info\0\n", 10, &c, &res), CONF_E_SYNTAX);
    CHECK_STR(res.errors[0].msg, "appliance.conf:1:9: expected printable ASCII text (got byte 0x00)");
    CHECK_EQ(conf_parse(NULL, "# comment \0\n", 12, &c, &res), CONF_E_SYNTAX);
    CHECK_STR(res.errors[0].msg, "appliance.conf:1:11: expected printable ASCII text (got byte 0x00)");
    CHECK_STR(err1("log\x1b[31m info\n"), "appliance.conf:1:4: expected printable ASCII text (got byte 0x1b)");
    CHECK_STR(err1("hostname caf\xc3\xa9\n"), "appliance.conf:1:13: expected printable ASCII text (got byte 0xc3)");
    CHECK_STR(err1("log info\x7f\n"), "appliance.conf:1:9: expected printable ASCII text (got byte 0x7f)");
    CHECK_STR(err1("log info # caf\xc3\xa9 \x01\n"), ""); /* anything but NUL inside a comment */
    CHECK_STR(err1("\xff\xfe"), "appliance.conf:1:1: expected printable ASCII text (got byte 0xff)");
}

static void test_many_errors_sorted(void)
{
    static struct conf_parser p = { "site/app.conf", 3, false };
    const char *t = "log x\nhostname -\nlog y\ninterface\nbad\n";
    CHECK_EQ(conf_parse(&p, t, strlen(t), &c, &res), CONF_E_SYNTAX);
    CHECK_EQ(res.n_errors, 3);
    CHECK(res.more);
    CHECK_STR(res.errors[0].msg, "site/app.conf:1:5: expected a log level: debug, info, warn or error (got \"x\")");
    CHECK_EQ(res.errors[1].line, 2);
    CHECK_EQ(res.errors[2].line, 3);
    /* default: up to CONF_MAX_ERRORS */
    CHECK_EQ(parse(t), CONF_E_SYNTAX);
    CHECK_EQ(res.n_errors, 5);
    CHECK(!res.more);
    /* a failed parse leaves the empty configuration */
    CHECK_EQ(parse("hostname fine\ninterface a nic 0 dhcp\npass\ntls 1 {\ncertificate a key b\nbackend 1.1.1.1:1\n}\n"
                   "log bad\n"),
             CONF_E_SYNTAX);
    CHECK_STR(c.hostname, CONF_DEFAULT_HOSTNAME);
    CHECK_EQ(c.n_ifaces + c.n_rules + c.n_tls, 0);
    /* NULL result is fine */
    CHECK_EQ(conf_parse(NULL, "log x\n", 6, &c, NULL), CONF_E_SYNTAX);
}

/* Firewall statements are checked by the one grammar (conf_pf.h) after the
 * whole file, in their lines as written, their errors sorted among the others;
 * keep_on_error keeps what parsed. */
static void test_rules_checked_in_place(void)
{
    const char *t = "pass in on wan   # first\nlog nonsense\n  block bad\ninterface wan nic 0 dhcp\npass silent bad\n";
    CHECK_EQ(conf_parse(NULL, t, strlen(t), &c, &res), CONF_E_SYNTAX);
    CHECK_EQ(res.n_errors, 3);
    CHECK_STR(res.errors[0].msg,
              "appliance.conf:2:5: expected a log level: debug, info, warn or error (got \"nonsense\")");
    CHECK(strncmp(res.errors[1].msg, "appliance.conf:3:9: expected in, out, ", 38) == 0);
    CHECK(strncmp(res.errors[2].msg, "appliance.conf:5:6: expected in, out, ", 38) == 0);
    CHECK_EQ(conf_parse(NULL, "pass\n", 5, &c, &res), CONF_OK);
    /* the earliest errors are kept even when rule errors come last */
    static struct conf_parser p2 = { NULL, 2, false };
    t = "pass bad\nlog x\nlog y\nlog z\n";
    CHECK_EQ(conf_parse(&p2, t, strlen(t), &c, &res), CONF_E_SYNTAX);
    CHECK_EQ(res.n_errors, 2);
    CHECK(res.more);
    CHECK_EQ(res.errors[0].line, 1);
    CHECK_EQ(res.errors[1].line, 2);
    /* keep_on_error: the interface lines that parsed stay (netd's addresses) */
    static struct conf_parser p3 = { NULL, 0, true };
    t = "interface wan nic 0 address 10.0.0.2/24\nblock quack\n";
    CHECK_EQ(conf_parse(&p3, t, strlen(t), &c, &res), CONF_E_SYNTAX);
    CHECK_EQ(c.n_ifaces, 1);
    CHECK_EQ(c.ifaces[0].addr, 0x0a000002u);
}

/* ------------------------------------------------------- writer, round trip -- */

static void test_write_canonical(void)
{
    CHECK_EQ(parse(example), CONF_OK);
    size_t n = conf_write(&c, out, sizeof out);
    CHECK_EQ(n, strlen(out));
    CHECK_STR(out, "hostname edge1\n"
                   "log info\n"
                   "\n"
                   "interface wan nic 0 dhcp\n"
                   "interface lan nic 1 address 192.168.50.1/24 gateway 192.168.50.254\n"
                   "\n"
                   "pass out keep state\n"
                   "pass in on wan proto tcp to port 443 keep state\n"
                   "pass in on lan proto icmp\n"
                   "block in quick on wan from 10.66.0.0/16\n"
                   "\n"
                   "tls 443 {\n"
                   "    certificate edge1.crt key edge1.key\n"
                   "    certificate api.crt key api.key sni api.example.com\n"
                   "    backend 10.0.2.2:8080\n"
                   "    proxy-protocol v1\n"
                   "    max-connections 512\n"
                   "    idle-timeout 60s\n"
                   "    handshake-timeout 10s\n"
                   "}\n");
    /* snprintf's contract */
    char small[10];
    CHECK_EQ(conf_write(&c, small, sizeof small), n);
    CHECK_STR(small, "hostname ");
    CHECK_EQ(conf_write(&c, NULL, 0), n);
    conf_init(&c2);
    CHECK_EQ(conf_write(&c2, out, sizeof out), strlen("hostname keel\nlog info\n"));
    CHECK_STR(out, "hostname keel\nlog info\n");
}

static void round_trip(const char *t)
{
    CHECK_EQ(parse(t), CONF_OK);
    size_t n = conf_write(&c, out, sizeof out);
    CHECK(n < sizeof out);
    CHECK_EQ(conf_parse(NULL, out, n, &c2, &res), CONF_OK);
    CHECK(conf_equal(&c, &c2));
    static char again[65536];
    CHECK_EQ(conf_write(&c2, again, sizeof again), n);
    CHECK_STR(again, out);
}

static void test_round_trip(void)
{
    round_trip(example);
    round_trip("");
    round_trip(
        "hostname Edge-1.example.com\nlog debug\ninterface a_1 nic 7 address 10.0.0.5/32\n"
        "tls 8443 {\n certificate certs/a.crt key keys/a-b_c.key\n certificate b.crt key b.key sni *.Example.COM\n"
        " backend 192.168.0.10:443\n proxy-protocol v2\n max-connections 65535\n idle-timeout 2h\n"
        " handshake-timeout 10m\n alpn h2 http/1.1\n}\nconsole password-hash " HASH "\n"
        "antispoof for a_1\nblock\ntls 1 {\n certificate x key y\n backend 0.0.0.0:1\n}\n");
    round_trip("tls 443 {\n certificate x key y\n backend 10.0.0.1:80\n tls-versions 1.3\n}\n"
               "tls 444 {\n certificate x key y\n backend 10.0.0.1:80\n tls-versions 1.2\n}\n"
               "tls 445 {\n certificate x key y\n backend 10.0.0.1:80\n tls-versions 1.2-1.3\n}\n");
    /* equality notices each field */
    CHECK_EQ(parse(example), CONF_OK);
    c2 = c;
    CHECK(conf_equal(&c, &c2));
    c2.ifaces[1].gateway++;
    CHECK(!conf_equal(&c, &c2));
    c2 = c;
    c2.rule_text[c2.rules[2].off]++;
    CHECK(!conf_equal(&c, &c2));
    c2 = c;
    c2.tls[0].certs[1].sni[0]++;
    CHECK(!conf_equal(&c, &c2));
    c2 = c;
    c2.tls[0].idle_timeout++;
    CHECK(!conf_equal(&c, &c2));
    c2 = c;
    c2.tls[0].tls_versions = CONF_TLS_V13;
    CHECK(!conf_equal(&c, &c2));
    c2 = c;
    c2.log_level = CONF_LOG_ERROR;
    CHECK(!conf_equal(&c, &c2));
    c2 = c;
    c2.rules[0].line = 99; /* line numbers do not count */
    CHECK(conf_equal(&c, &c2));
}

/* ----------------------------------------------------------------- diff -- */

static const char *diff(const char *a, const char *b)
{
    size_t n = 0;
    if (conf_diff(a, strlen(a), b, strlen(b), &work, out, sizeof out, &n) != CONF_OK)
        return "(error)";
    if (n != strlen(out))
        return "(length)";
    return out;
}

static void test_diff(void)
{
    CHECK_STR(diff("", ""), "");
    CHECK_STR(diff("a\nb\n", "a\nb\n"), "");
    CHECK_STR(diff("a\nb\n", "a\nc\n"), "- b\n+ c\n");
    CHECK_STR(diff("", "a\n"), "+ a\n");
    CHECK_STR(diff("a\n", ""), "- a\n");
    CHECK_STR(diff("a\nb\nc\n", "a\nc\n"), "- b\n");
    CHECK_STR(diff("a\nc", "a\nb\nc"), "+ b\n"); /* a last line without newline */
    CHECK_STR(diff("x\na\nb\n", "a\nb\ny\n"), "- x\n+ y\n");
    CHECK_STR(diff("a\n", "a\n\nb\n"), "+\n+ b\n"); /* a blank line has no trailing blank */
    const char *run = "hostname a\nlog info\n\npass\n\ntls 443 {\n    backend 1.1.1.1:1\n    max-connections 5\n}\n";
    const char *cand =
        "hostname b\nlog info\n\npass\nblock\n\ntls 443 {\n    backend 1.1.1.1:1\n    max-connections 6\n}\n";
    CHECK_STR(diff(run, cand), "- hostname a\n+ hostname b\n+ block\n  tls 443 {\n-     max-connections 5\n"
                               "+     max-connections 6\n");
}

static void test_diff_context(void)
{
    const char *run = "tls 443 {\n    backend 1.1.1.1:1\n    max-connections 5\n}\n";
    const char *cand = "tls 443 {\n    backend 1.1.1.1:1\n    max-connections 6\n}\n";
    CHECK_STR(diff(run, cand), "  tls 443 {\n-     max-connections 5\n+     max-connections 6\n");
    /* a changed opening line is itself in the diff: no context line */
    CHECK_STR(diff("tls 1 {\n}\n", "tls 2 {\n}\n"), "- tls 1 {\n+ tls 2 {\n");
    /* context is shown once per block, and not after the block closed */
    CHECK_STR(diff("tls 1 {\na\nb\n}\nc\n", "tls 1 {\nA\nb\nB\n}\nC\n"), "  tls 1 {\n- a\n+ A\n+ B\n- c\n+ C\n");
    CHECK_EQ(conf_diff(NULL, 1, "", 0, &work, out, sizeof out, NULL), CONF_E_INVAL);
    CHECK_EQ(conf_diff("", 0, "", 0, NULL, out, sizeof out, NULL), CONF_E_INVAL);
    size_t pos = 0;
    for (int i = 0; i <= CONF_DIFF_MAX_LINES; i++)
        text[pos++] = '\n';
    CHECK_EQ(conf_diff(text, pos, "", 0, &work, out, sizeof out, NULL), CONF_E_TOO_BIG);
    CHECK_EQ(conf_diff(text, pos - 1, "", 0, &work, out, sizeof out, NULL), CONF_OK);
}

/* Random texts over a small alphabet of lines: the diff turns A into B
 * (replaying it gives B) and is minimal (its size is |A|+|B|-2*LCS). */
static unsigned rnd_state = 12345;
static unsigned rnd(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return (rnd_state >> 16) & 0x7fff;
}

static int lcs_len(const char *const *a, int na, const char *const *b, int nb)
{
    static int t[64][64];
    for (int i = 0; i <= na; i++)
        for (int j = 0; j <= nb; j++)
            t[i][j] = (!i || !j)                        ? 0
                      : strcmp(a[i - 1], b[j - 1]) == 0 ? t[i - 1][j - 1] + 1
                      : t[i - 1][j] > t[i][j - 1]       ? t[i - 1][j]
                                                        : t[i][j - 1];
    return t[na][nb];
}

static void test_diff_random(void)
{
    static const char *const words[] = { "a", "b", "c", "d", "tls 1 {", "}" };
    for (int iter = 0; iter < 2000; iter++) {
        const char *la[60], *lb[60];
        int na = (int)(rnd() % 60), nb = (int)(rnd() % 60);
        char ta[400] = "", tb[400] = "";
        for (int i = 0; i < na; i++) {
            la[i] = words[rnd() % (iter % 2 ? 6 : 3)];
            strcat(ta, la[i]);
            strcat(ta, "\n");
        }
        for (int i = 0; i < nb; i++) {
            lb[i] = words[rnd() % (iter % 2 ? 6 : 3)];
            strcat(tb, lb[i]);
            strcat(tb, "\n");
        }
        size_t n;
        CHECK_EQ(conf_diff(ta, strlen(ta), tb, strlen(tb), &work, out, sizeof out, &n), CONF_OK);
        int dels = 0, adds = 0;
        for (int i = 0; i < na; i++)
            dels += work.a_del[i];
        for (int j = 0; j < nb; j++)
            adds += work.b_add[j];
        int l = lcs_len(la, na, lb, nb);
        CHECK_EQ(dels, na - l);
        CHECK_EQ(adds, nb - l);
        /* replay: the kept lines of A, in order, are the kept lines of B */
        int i = 0, j = 0;
        while (i < na || j < nb) {
            if (i < na && work.a_del[i]) {
                i++;
            } else if (j < nb && work.b_add[j]) {
                j++;
            } else {
                CHECK(i < na && j < nb);
                if (i >= na || j >= nb)
                    break;
                CHECK_STR(la[i], lb[j]);
                i++;
                j++;
            }
        }
    }
}

/* ------------------------------------------------------------- editing -- */

static struct conf_text ct;
static struct conf_edit_work ew;
static char eerr[CONF_MSG_MAX];

static int set(const char *stmt) { return conf_text_set(&ct, NULL, stmt, strlen(stmt), &ew, eerr, sizeof eerr); }
static int del(const char *stmt) { return conf_text_delete(&ct, stmt, strlen(stmt), eerr, sizeof eerr); }

static void text_is(const char *want)
{
    CHECK_STR(ct.buf, want);
    CHECK_EQ(ct.len, strlen(want));
}

static void test_edit_set(void)
{
    conf_init(&c);
    conf_text_from(&ct, &c);
    text_is("hostname keel\nlog info\n");
    CHECK_EQ(set("hostname   edge2  # new name"), CONF_OK);
    CHECK_EQ(set("log debug"), CONF_OK);
    CHECK_EQ(set("pass out keep state"), CONF_OK);
    CHECK_EQ(set("interface wan nic 0 dhcp"), CONF_OK); /* goes before the rules */
    CHECK_EQ(set("interface lan nic 1 address 10.0.0.1/24"), CONF_OK);
    CHECK_EQ(set("interface wan nic 0 address 192.0.2.2/24 gateway 192.0.2.1"), CONF_OK); /* replaces */
    CHECK_EQ(set("block in quick on wan from 10.66.0.0/16"), CONF_OK);
    CHECK_EQ(set("pass   out keep state"), CONF_OK); /* the same rule: nothing */
    CHECK_EQ(set("console password-hash " HASH), CONF_OK);
    text_is("hostname edge2\nlog debug\ninterface wan nic 0 address 192.0.2.2/24 gateway 192.0.2.1\n"
            "interface lan nic 1 address 10.0.0.1/24\npass out keep state\nblock in quick on wan from 10.66.0.0/16\n"
            "console password-hash " HASH "\n");
    /* a tls block, built a line at a time; incomplete meanwhile */
    CHECK_EQ(set("tls 443 backend 10.0.2.2:8080"), CONF_OK);
    CHECK_EQ(parse(ct.buf), CONF_E_SYNTAX); /* no certificate yet: commit would refuse */
    CHECK_EQ(set("tls 443 certificate a.crt key a.key"), CONF_OK);
    CHECK_EQ(set("tls 443 certificate b.crt key b.key sni b.example.com"), CONF_OK);
    CHECK_EQ(set("tls 443 certificate c.crt key c.key"), CONF_OK);                   /* replaces the default */
    CHECK_EQ(set("tls 443 certificate d.crt key d.key sni b.example.com"), CONF_OK); /* replaces by sni */
    CHECK_EQ(set("tls 443 backend 10.0.2.3:8080"), CONF_OK);
    CHECK_EQ(set("tls 443 idle-timeout 5m"), CONF_OK);
    CHECK_EQ(set("tls 443 tls-versions 1.2"), CONF_OK);
    CHECK_EQ(set("tls 443 tls-versions 1.3"), CONF_OK); /* replaces the line */
    CHECK_EQ(parse(ct.buf), CONF_OK);
    CHECK_EQ(c.tls[0].tls_versions, CONF_TLS_V13);
    CHECK_EQ(c.tls[0].backend_addr, 0x0a000203u);
    CHECK_EQ(c.tls[0].n_certs, 2);
    CHECK_STR(c.tls[0].certs[0].cert, "c.crt");
    CHECK_STR(c.tls[0].certs[1].cert, "d.crt");
    CHECK_EQ(c.tls[0].idle_timeout, 300);
    CHECK_STR(c.hostname, "edge2");
    CHECK_EQ(c.n_ifaces, 2);
    CHECK_EQ(c.n_rules, 2);
    /* a hand-written candidate with odd spacing edits too */
    strcpy(ct.buf, "  tls 8443{\n\tbackend 1.1.1.1:1   # x\n}\n");
    ct.len = strlen(ct.buf);
    CHECK_EQ(set("tls 8443 backend 2.2.2.2:2"), CONF_OK);
    text_is("  tls 8443{\n    backend 2.2.2.2:2\n}\n");
    /* an unclosed block takes settings at the end */
    strcpy(ct.buf, "tls 1 {\ncertificate a key b");
    ct.len = strlen(ct.buf);
    CHECK_EQ(set("tls 1 backend 1.1.1.1:1"), CONF_OK);
    text_is("tls 1 {\ncertificate a key b\n    backend 1.1.1.1:1\n");
    /* into an empty text */
    ct.len = 0;
    ct.buf[0] = '\0';
    CHECK_EQ(set("tls 9 backend 1.1.1.1:1"), CONF_OK);
    text_is("tls 9 {\n    backend 1.1.1.1:1\n}\n");
}

static void test_edit_set_refused(void)
{
    conf_init(&c);
    conf_text_from(&ct, &c);
    CHECK_EQ(set("interface wan nic 0 dhcp"), CONF_OK);
    char before[256];
    strcpy(before, ct.buf);
    CHECK_EQ(set("hostname -bad"), CONF_E_SYNTAX);
    CHECK_STR(eerr, "expected a host name (letters, digits, '-' and '.', at most 63 characters) (got \"-bad\")");
    CHECK_STR(ct.buf, before); /* undone */
    CHECK_EQ(set("interface lan nic 0 dhcp"), CONF_E_SYNTAX);
    CHECK_STR(eerr, "expected a NIC no other interface uses (line 3 has this one)");
    CHECK_EQ(set("tls 443 backend nowhere"), CONF_E_SYNTAX);
    CHECK_STR(ct.buf, before); /* the block it opened is gone again */
    CHECK_EQ(set("tls 0 backend 1.1.1.1:1"), CONF_E_SYNTAX);
    CHECK_STR(eerr, "expected a port (1-65535) after tls (got \"0\")");
    CHECK_EQ(set("tls 443"), CONF_E_SYNTAX);
    CHECK_STR(eerr, "expected a setting after the port, e.g. tls 443 backend 10.0.2.2:8080");
    CHECK_EQ(set("tls 443 {"), CONF_E_SYNTAX);
    CHECK_EQ(set("frobnicate"), CONF_E_SYNTAX);
    CHECK_STR(eerr, "expected hostname, log, interface, route, a firewall stateme"
                    "nt (pass, block, match, antispoof, table, set or NAME = VALUE), tls, console, syslog, ntp or "
                    "metrics (got \"frobnicate\")");
    CHECK_EQ(set("   # only a comment"), CONF_E_SYNTAX);
    CHECK_STR(eerr, "expected a configuration statement");
    CHECK_EQ(set("log"), CONF_E_SYNTAX);
    CHECK_STR(ct.buf, before);
    /* the firewall grammar checks the edited line */
    CHECK_EQ(conf_text_set(&ct, NULL, "pass bad", 8, &ew, eerr, sizeof eerr), CONF_E_SYNTAX);
    CHECK(strncmp(eerr, "expected in, out, log", 21) == 0);
    CHECK_STR(ct.buf, before);
    /* a full candidate */
    memset(ct.buf, '#', CONF_TEXT_MAX - 10);
    ct.buf[CONF_TEXT_MAX - 10] = '\0';
    ct.len = CONF_TEXT_MAX - 10;
    CHECK_EQ(set("hostname x"), CONF_E_TOO_BIG);
    CHECK_EQ(ct.len, CONF_TEXT_MAX - 10);
    CHECK_EQ(conf_text_set(NULL, NULL, "x", 1, &ew, eerr, sizeof eerr), CONF_E_INVAL);
}

static void test_edit_delete(void)
{
    CHECK_EQ(parse(example), CONF_OK);
    conf_text_from(&ct, &c);
    CHECK_EQ(del("hostname"), CONF_OK);
    CHECK_EQ(del("interface lan"), CONF_OK);
    CHECK_EQ(del("pass  in on lan   proto icmp"), CONF_OK);
    CHECK_EQ(del("tls 443 proxy-protocol"), CONF_OK);
    CHECK_EQ(del("tls 443 certificate sni api.example.com"), CONF_OK);
    CHECK_EQ(parse(ct.buf), CONF_OK);
    CHECK_STR(c.hostname, CONF_DEFAULT_HOSTNAME);
    CHECK_EQ(c.n_ifaces, 1);
    CHECK_EQ(c.n_rules, 3);
    CHECK_EQ(c.tls[0].proxy_protocol, CONF_PROXY_NONE);
    CHECK_EQ(c.tls[0].n_certs, 1);
    CHECK_EQ(del("tls 443 certificate"), CONF_OK); /* the default one */
    CHECK_EQ(parse(ct.buf), CONF_E_SYNTAX);        /* allowed now, refused at commit */
    CHECK_EQ(del("tls 443"), CONF_OK);
    CHECK(strstr(ct.buf, "tls") == NULL && strstr(ct.buf, "backend") == NULL && strstr(ct.buf, "}") == NULL);
    CHECK_EQ(set("console password-hash " HASH), CONF_OK);
    CHECK_EQ(del("console"), CONF_OK);
    CHECK(strstr(ct.buf, "console") == NULL);
    CHECK_EQ(del("interface dmz"), CONF_E_SYNTAX);
    CHECK_STR(eerr, "expected a statement the candidate has (see show)");
    CHECK_EQ(del("pass in on nowhere"), CONF_E_SYNTAX);
    CHECK_EQ(del("tls 80"), CONF_E_SYNTAX);
    CHECK_EQ(del("tls x"), CONF_E_SYNTAX);
    CHECK_STR(eerr, "expected a port (1-65535) after tls (got \"x\")");
    CHECK_EQ(del(""), CONF_E_SYNTAX);
    CHECK_EQ(del("frob"), CONF_E_SYNTAX);
    CHECK_EQ(parse(ct.buf), CONF_OK);
    /* edits then round trip: the candidate's canonical text is stable */
    size_t n = conf_write(&c, out, sizeof out);
    CHECK_EQ(conf_parse(NULL, out, n, &c2, &res), CONF_OK);
    CHECK(conf_equal(&c, &c2));
}

/* Static routes: parsed, refused with the column of what is wrong, written
 * back canonically, and edited by `set route NET ...` / `delete route NET`. */
/* syslog, ntp, metrics (conf_ops.c): values, defaults, errors with
 * columns, the canonical form, equality, set and delete. */
static void test_ops_statements(void)
{
    CHECK_EQ(parse("hostname a\nsyslog 192.168.50.20\nntp server 10.0.0.1\nmetrics listen 0.0.0.0:9100\n"), CONF_OK);
    CHECK_EQ(c.ops.syslog_addr, 0xc0a83214u);
    CHECK_EQ(c.ops.syslog_port, 514);
    CHECK_EQ(c.ops.ntp_addr, 0x0a000001u);
    CHECK_EQ(c.ops.metrics_addr, 0);
    CHECK_EQ(c.ops.metrics_port, 9100);
    size_t n = conf_write(&c, out, sizeof out);
    CHECK_STR(out, "hostname a\nlog info\n\nsyslog 192.168.50.20\nntp server 10.0.0.1\nmetrics listen 0.0.0.0:9100\n");
    CHECK_EQ(conf_parse(NULL, out, n, &c2, &res), CONF_OK);
    CHECK(conf_equal(&c, &c2));
    CHECK_EQ(parse("syslog 10.1.1.1:5514 # a comment\n"), CONF_OK);
    CHECK_EQ(c.ops.syslog_port, 5514);
    CHECK(!conf_equal(&c, &c2));
    CHECK_STR(err1("syslog\n"), "appliance.conf:1:7: expected ADDRESS[:PORT] after syslog");
    CHECK_STR(
        err1("syslog 0.0.0.0\n"),
        "appliance.conf:1:8: expected a syslog collector A.B.C.D, A.B.C.D:PORT, IPV6 or [IPV6]:PORT (port 1-65535)");
    CHECK_STR(
        err1("syslog 1.2.3.4:0\n"),
        "appliance.conf:1:8: expected a syslog collector A.B.C.D, A.B.C.D:PORT, IPV6 or [IPV6]:PORT (port 1-65535)");
    CHECK_STR(err1("syslog 1.2.3.4 x\n"), "appliance.conf:1:16: expected the end of the line");
    CHECK_STR(err1("syslog 1.2.3.4\nsyslog 1.2.3.5\n"), "appliance.conf:2:1: expected one syslog line");
    CHECK_STR(err1("ntp 1.2.3.4\n"), "appliance.conf:1:5: expected server after ntp");
    CHECK_STR(err1("  ntp server 1.2.3\n"),
              "appliance.conf:1:14: expected an NTP server A.B.C.D or IPV6 after ntp server (no port)");
    CHECK_STR(err1("metrics listen 1.2.3.4\n"), "appliance.conf:1:16: expected ADDRESS:PORT after metrics listen");
    CHECK_STR(err1("metrics on 1.2.3.4:1\n"), "appliance.conf:1:9: expected listen after metrics");
    /* set replaces the one line, delete removes it */
    static struct conf_text t;
    static struct conf_edit_work w;
    char e[256];
    conf_text_from(&t, &c);
    CHECK_EQ(conf_text_set(&t, NULL, "syslog 10.9.9.9", 15, &w, e, sizeof e), CONF_OK);
    CHECK(strstr(t.buf, "syslog 10.9.9.9\n") != NULL);
    CHECK(strstr(t.buf, "5514") == NULL);
    CHECK_EQ(conf_text_set(&t, NULL, "ntp server 10.0.0.2", 19, &w, e, sizeof e), CONF_OK);
    CHECK_EQ(conf_text_set(&t, NULL, "ntp server 10.0.0.3", 19, &w, e, sizeof e), CONF_OK);
    CHECK(strstr(t.buf, "10.0.0.2") == NULL && strstr(t.buf, "ntp server 10.0.0.3\n") != NULL);
    CHECK_EQ(conf_text_delete(&t, "ntp", 3, e, sizeof e), CONF_OK);
    CHECK(strstr(t.buf, "ntp") == NULL);
    CHECK_EQ(conf_text_set(&t, NULL, "metrics listen 1.2.3.4", 22, &w, e, sizeof e), CONF_E_SYNTAX);
    CHECK_STR(e, "expected ADDRESS:PORT after metrics listen");
}

/* syslog and ntp on IPv6 (conf_parse_endpoint, as tls's backend): bare
 * and bracketed forms, ports, the canonical form, and every bad form
 * refused at its column. */
static void test_ops_ipv6(void)
{
    CHECK_EQ(parse("syslog [2001:DB8:0:0::0050]:5514\nntp server 2001:db8::7b\n"), CONF_OK);
    CHECK(c.ops.syslog_v6);
    CHECK_EQ(c.ops.syslog_addr, 0);
    CHECK_EQ(c.ops.syslog_addr6[0], 0x20);
    CHECK_EQ(c.ops.syslog_addr6[15], 0x50);
    CHECK_EQ(c.ops.syslog_port, 5514);
    CHECK(c.ops.ntp_v6);
    CHECK_EQ(c.ops.ntp_addr, 0);
    CHECK_EQ(c.ops.ntp_addr6[15], 0x7b);
    size_t n = conf_write(&c, out, sizeof out);
    CHECK(strstr(out, "\nsyslog [2001:db8::50]:5514\nntp server 2001:db8::7b\n") != NULL);
    CHECK_EQ(conf_parse(NULL, out, n, &c2, &res), CONF_OK);
    CHECK(conf_equal(&c, &c2));
    /* The default port: written bare; [IPV6] alone is taken too. */
    CHECK_EQ(parse("syslog [fd00::1]\nntp server [fd00::2]\n"), CONF_OK);
    CHECK(c.ops.syslog_v6 && c.ops.syslog_port == 514 && c.ops.ntp_v6);
    conf_write(&c, out, sizeof out);
    CHECK(strstr(out, "\nsyslog fd00::1\nntp server fd00::2\n") != NULL);
    CHECK_EQ(parse("syslog fd00::1\n"), CONF_OK);
    CHECK(c.ops.syslog_v6 && c.ops.syslog_port == 514);
    /* IPv4 and IPv6 settings differ; the same address in both forms does not. */
    CHECK_EQ(parse("syslog [fd00::1]:514\n"), CONF_OK);
    c2 = c;
    CHECK_EQ(parse("syslog fd00::1\n"), CONF_OK);
    CHECK(conf_equal(&c, &c2));
    CHECK_EQ(parse("syslog fd00::2\n"), CONF_OK);
    CHECK(!conf_equal(&c, &c2));
    CHECK_EQ(parse("syslog 10.0.0.1\n"), CONF_OK);
    CHECK(!c.ops.syslog_v6);
    CHECK(!conf_equal(&c, &c2));
    /* Refused, each at the column of the address. */
    CHECK_STR(err1("syslog [fd00::1\n"), "appliance.conf:1:8: expected a syslog collector A.B.C.D, A.B.C.D:PORT, "
                                         "IPV6 or [IPV6]:PORT (port 1-65535)");
    CHECK_STR(err1("syslog [fd00::1]x\n"), "appliance.conf:1:8: expected a syslog collector A.B.C.D, A.B.C.D:PORT, "
                                           "IPV6 or [IPV6]:PORT (port 1-65535)");
    CHECK_STR(err1("syslog [fd00::1]:\n"), "appliance.conf:1:8: expected a syslog collector A.B.C.D, A.B.C.D:PORT, "
                                           "IPV6 or [IPV6]:PORT (port 1-65535)");
    CHECK_STR(err1("syslog [fd00::1]:65536\n"), "appliance.conf:1:8: expected a syslog collector A.B.C.D, "
                                                "A.B.C.D:PORT, IPV6 or [IPV6]:PORT (port 1-65535)");
    CHECK_STR(err1("syslog [10.0.0.1]:514\n"), "appliance.conf:1:8: expected a syslog collector A.B.C.D, "
                                               "A.B.C.D:PORT, IPV6 or [IPV6]:PORT (port 1-65535)");
    CHECK_STR(err1("syslog fd00::1::2\n"), "appliance.conf:1:8: expected a syslog collector A.B.C.D, A.B.C.D:PORT, "
                                           "IPV6 or [IPV6]:PORT (port 1-65535)");
    CHECK_STR(err1("syslog  [fe80::1]:514\n"),
              "appliance.conf:1:9: expected a unicast IPv6 syslog collector (not ::, ::1, IPv4-mapped, multicast or "
              "link-local fe80::/10)");
    CHECK_STR(err1("syslog ::\n"), "appliance.conf:1:8: expected a unicast IPv6 syslog collector (not ::, ::1, "
                                   "IPv4-mapped, multicast or link-local fe80::/10)");
    CHECK_STR(err1("syslog ff02::1\n"), "appliance.conf:1:8: expected a unicast IPv6 syslog collector (not ::, ::1, "
                                        "IPv4-mapped, multicast or link-local fe80::/10)");
    CHECK_STR(err1("ntp server ::1\n"), "appliance.conf:1:12: expected a unicast IPv6 NTP server (not ::, ::1, "
                                        "IPv4-mapped, multicast or link-local fe80::/10)");
    CHECK_STR(err1("ntp server ::ffff:10.0.0.1\n"), "appliance.conf:1:12: expected a unicast IPv6 NTP server (not "
                                                    "::, ::1, IPv4-mapped, multicast or link-local fe80::/10)");
    CHECK_STR(err1("ntp server [2001:db8::1]:123\n"),
              "appliance.conf:1:12: expected an NTP server A.B.C.D or IPV6 after ntp server (no port)");
    CHECK_STR(err1("ntp server 10.0.0.1:123\n"),
              "appliance.conf:1:12: expected an NTP server A.B.C.D or IPV6 after ntp server (no port)");
    CHECK_STR(err1("ntp server 2001:db8::g\n"),
              "appliance.conf:1:12: expected an NTP server A.B.C.D or IPV6 after ntp server (no port)");
    CHECK_STR(err1("ntp server 2001:db8::1 x\n"), "appliance.conf:1:25: expected the end of the line");
    CHECK_STR(err1("ntp server fd00::1\nntp server 10.0.0.1\n"), "appliance.conf:2:1: expected one ntp line");
    /* The backend's forms still parse the same through the shared parser. */
    CHECK_EQ(conf_parse_endpoint("[fd00::1]:1", 11, true, &(struct conf_ip){ 0 }, &(uint16_t){ 0 }), 0);
    CHECK_EQ(conf_parse_endpoint("fd00::1", 7, true, &(struct conf_ip){ 0 }, &(uint16_t){ 0 }), 1);
    CHECK_EQ(conf_parse_endpoint("[fd00::1]", 9, true, &(struct conf_ip){ 0 }, &(uint16_t){ 0 }), 1);
    CHECK_EQ(conf_parse_endpoint("1.2.3.4", 7, true, &(struct conf_ip){ 0 }, &(uint16_t){ 0 }), 1);
    CHECK_EQ(conf_parse_endpoint("", 0, false, &(struct conf_ip){ 0 }, &(uint16_t){ 0 }), 1);
    CHECK_EQ(conf_parse_endpoint("[]:1", 4, false, &(struct conf_ip){ 0 }, &(uint16_t){ 0 }), 1);
    CHECK_EQ(conf_parse_endpoint("[", 1, false, &(struct conf_ip){ 0 }, &(uint16_t){ 0 }), 1);
    CHECK_EQ(conf_parse_endpoint("1.2.3.4:", 8, false, &(struct conf_ip){ 0 }, &(uint16_t){ 0 }), 1);
    CHECK_EQ(conf_parse_endpoint("[ff02::1]:1", 11, true, &(struct conf_ip){ 0 }, &(uint16_t){ 0 }), 2);
    /* set / delete work on the IPv6 forms too. */
    static struct conf_text t;
    static struct conf_edit_work w;
    char e[256];
    CHECK_EQ(parse("hostname a\n"), CONF_OK);
    conf_text_from(&t, &c);
    CHECK_EQ(conf_text_set(&t, NULL, "syslog [2001:db8::0:1]:601", 26, &w, e, sizeof e), CONF_OK);
    CHECK(strstr(t.buf, "syslog [2001:db8::0:1]:601\n") != NULL); /* kept as written (set edits text) */
    CHECK_EQ(conf_text_set(&t, NULL, "ntp server 2001:DB8::2", 22, &w, e, sizeof e), CONF_OK);
    CHECK(strstr(t.buf, "ntp server 2001:DB8::2\n") != NULL);
    CHECK_EQ(conf_parse(NULL, t.buf, t.len, &c2, &res), CONF_OK);
    CHECK(c2.ops.syslog_v6 && c2.ops.syslog_port == 601 && c2.ops.syslog_addr6[15] == 1 && c2.ops.ntp_v6);
    CHECK_EQ(conf_text_set(&t, NULL, "ntp server fe80::2", 18, &w, e, sizeof e), CONF_E_SYNTAX);
    CHECK_EQ(conf_text_delete(&t, "syslog", 6, e, sizeof e), CONF_OK);
    CHECK(strstr(t.buf, "syslog") == NULL);
}

static void test_routes(void)
{
    CHECK_EQ(parse("route 10.5.0.0/16 via 10.9.0.1\nroute 10.6.1.0/24 via 10.9.0.7 # lab\n"), CONF_OK);
    CHECK_EQ(c.n_routes, 2);
    CHECK_EQ(c.routes[0].net, 0x0a050000u);
    CHECK_EQ(c.routes[0].prefix, 16);
    CHECK_EQ(c.routes[0].gw, 0x0a090001u);
    CHECK_EQ(c.routes[1].line, 2);
    CHECK_STR(err1("route\n"), "appliance.conf:1:6: expected a network A.B.C.D/P or IPV6/P after route");
    CHECK_STR(err1("route 10.5.0.0 via 10.9.0.1\n"),
              "appliance.conf:1:7: expected a network A.B.C.D/P (prefix length 1-32) (got \"10.5.0.0\")");
    CHECK_STR(err1("route 10.5.0.0/16 to 10.9.0.1\n"),
              "appliance.conf:1:19: expected via GATEWAY after the network (got \"to\")");
    CHECK_STR(err1("route 10.5.0.0/16 via\n"), "appliance.conf:1:22: expected a gateway address A.B.C.D after via");
    CHECK_STR(err1("route 10.5.0.1/16 via 10.9.0.1\n"),
              "appliance.conf:1:7: expected a network address (no bits set beyond the prefix) (got \"10.5.0.1/16\")");
    CHECK_STR(err1("route 0.0.0.0/0 via 10.9.0.1\n"),
              "appliance.conf:1:7: expected a prefix length 1-32 (the default route is an interface's gateway) (got "
              "\"0.0.0.0/0\")");
    CHECK_STR(err1("route 10.5.0.0/16 via 224.0.0.1\n"),
              "appliance.conf:1:23: expected a unicast gateway address (got \"224.0.0.1\")");
    CHECK_STR(err1("route 10.5.0.0/16 via 10.9.0.1\nroute 10.5.0.0/16 via 10.9.0.2\n"),
              "appliance.conf:2:7: expected a network no other route line names (got \"10.5.0.0/16\")");
    CHECK_STR(err1("route 10.5.0.0/16 via 10.9.0.1 metric 5\n"),
              "appliance.conf:1:32: expected the end of the line (got \"metric\")");

    CHECK_EQ(parse("interface wan nic 0 address 10.9.0.2/24\npass out keep state\nroute 10.5.0.0/16   via 10.9.0.1\n"),
             CONF_OK);
    conf_write(&c, out, sizeof out);
    CHECK(strstr(out, "interface wan nic 0 address 10.9.0.2/24\nroute 10.5.0.0/16 via 10.9.0.1\n\npass out") != NULL);
    CHECK_EQ(conf_parse(NULL, out, strlen(out), &c2, &res), CONF_OK);
    CHECK(conf_equal(&c, &c2));
    c2.routes[0].gw++;
    CHECK(!conf_equal(&c, &c2));

    conf_init(&c);
    conf_text_from(&ct, &c);
    CHECK_EQ(set("pass out keep state"), CONF_OK);
    CHECK_EQ(set("route 10.5.0.0/16 via 10.9.0.1"), CONF_OK); /* goes before the rules */
    CHECK_EQ(set("route 10.5.0.0/16 via 10.9.0.3"), CONF_OK); /* replaces */
    CHECK_EQ(set("route 10.5.0.1/16 via 10.9.0.3"), CONF_E_SYNTAX);
    CHECK_STR(eerr, "expected a network address (no bits set beyond the prefix) (got \"10.5.0.1/16\")");
    text_is("hostname keel\nlog info\nroute 10.5.0.0/16 via 10.9.0.3\npass out keep state\n");
    CHECK_EQ(del("route 10.5.0.0/16"), CONF_OK);
    text_is("hostname keel\nlog info\npass out keep state\n");
}

/* Static IPv6 routes: the IPv4 rules for IPv6, refusals with their
 * columns, the two families side by side, written back, edited. */
static void test_routes6(void)
{
    char want[320];
    CHECK_EQ(parse("route 2001:db8:20::/48 via 2001:db8:1::fe\nroute 10.5.0.0/16 via 10.9.0.1\n"
                   "route 2001:DB8:20:5::/64 via 2001:db8:1::fd # longer\n"),
             CONF_OK);
    CHECK_EQ(c.n_routes, 3);
    CHECK(c.routes[0].v6 && !c.routes[1].v6 && c.routes[2].v6);
    CHECK_EQ(c.routes[0].prefix, 48);
    CHECK_EQ(c.routes[0].net6[5], 0x20);
    CHECK_EQ(c.routes[0].gw6[15], 0xfe);
    CHECK_EQ(c.routes[0].net, 0);
    CHECK_EQ(c.routes[2].line, 3);
    CHECK_STR(err1("route 2001:db8:20:: via 2001:db8:1::fe\n"),
              "appliance.conf:1:7: expected a network IPV6/P (prefix length 1-128) (got \"2001:db8:20::\")");
    CHECK_STR(err1("route 2001:db8:20::/129 via 2001:db8:1::fe\n"),
              "appliance.conf:1:7: expected a network IPV6/P (prefix length 1-128) (got \"2001:db8:20::/129\")");
    CHECK_STR(err1("route 2001:db8:2g::/48 via 2001:db8:1::fe\n"),
              "appliance.conf:1:7: expected a network IPV6/P (prefix length 1-128) (got \"2001:db8:2g::/48\")");
    CHECK_STR(err1("route ::/0 via 2001:db8:1::fe\n"),
              "appliance.conf:1:7: expected a prefix length 1-128 (the default route is an interface's gateway or a "
              "router advertisement) (got \"::/0\")");
    CHECK_STR(err1("route 2001:db8:20::1/48 via 2001:db8:1::fe\n"),
              "appliance.conf:1:7: expected a network address (no bits set beyond the prefix) (got "
              "\"2001:db8:20::1/48\")");
    CHECK_STR(err1("route 2001:db8:20:8000::/49 via 2001:db8:1::fe\n"), "");
    CHECK_STR(err1("route 2001:db8:20:4000::/49 via 2001:db8:1::fe\n"),
              "appliance.conf:1:7: expected a network address (no bits set beyond the prefix) (got "
              "\"2001:db8:20:4000::/49\")");
    CHECK_STR(err1("route fe80::/64 via 2001:db8:1::fe\n"),
              "appliance.conf:1:7: expected a unicast network (not multicast ff00::/8 or link-local fe80::/10) (got "
              "\"fe80::/64\")");
    CHECK_STR(err1("route ff00::/8 via 2001:db8:1::fe\n"),
              "appliance.conf:1:7: expected a unicast network (not multicast ff00::/8 or link-local fe80::/10) (got "
              "\"ff00::/8\")");
    CHECK_STR(err1("route 2001:db8:20::/48 to 2001:db8:1::fe\n"),
              "appliance.conf:1:24: expected via GATEWAY after the network (got \"to\")");
    CHECK_STR(err1("route 2001:db8:20::/48 via\n"), "appliance.conf:1:27: expected a gateway address IPV6 after via");
    CHECK_STR(err1("route 2001:db8:20::/48 via 10.9.0.1\n"),
              "appliance.conf:1:28: expected an IPv6 gateway address (the network is IPv6) (got \"10.9.0.1\")");
    CHECK_STR(err1("route 10.5.0.0/16 via 2001:db8:1::fe\n"),
              "appliance.conf:1:23: expected a gateway address A.B.C.D (the network is IPv4) (got \"2001:db8:1::fe\")");
    static const char *const bad_gw[] = { "fe80::1", "::", "::1", "ff02::2", "::ffff:10.0.0.1" };
    for (size_t i = 0; i < sizeof bad_gw / sizeof bad_gw[0]; i++) {
        char t[128];
        snprintf(t, sizeof t, "route 2001:db8:20::/48 via %s\n", bad_gw[i]);
        snprintf(want, sizeof want,
                 "appliance.conf:1:28: expected a unicast IPv6 gateway (not ::, ::1, IPv4-mapped, multicast or "
                 "link-local fe80::/10: a global or unique-local address of a connected network) (got \"%s\")",
                 bad_gw[i]);
        CHECK_STR(err1(t), want);
    }
    CHECK_STR(err1("route fe80::1%lan/64 via 2001:db8:1::fe\n"),
              "appliance.conf:1:7: expected a network IPV6/P (prefix length 1-128) (got \"fe80::1%lan/64\")");
    CHECK_STR(err1("route 2001:db8:20::/48 via 2001:db8:1::fe\nroute 2001:db8:20:0::/48 via 2001:db8:1::fd\n"),
              "appliance.conf:2:7: expected a network no other route line names (got \"2001:db8:20:0::/48\")");
    CHECK_STR(err1("route 2001:db8:20::/48 via 2001:db8:1::fe extra\n"),
              "appliance.conf:1:43: expected the end of the line (got \"extra\")");
    /* The same /48 twice with another prefix length is not a duplicate;
     * 32 lines of all families in all. */
    CHECK_EQ(parse("route 2001:db8:20::/48 via 2001:db8:1::fe\nroute 2001:db8:20::/47 via 2001:db8:1::fe\n"), CONF_OK);
    char many[4096];
    size_t n = 0;
    for (int i = 0; i < 33; i++)
        n += (size_t)snprintf(
            many + n, sizeof many - n,
            i % 2 ? "route 2001:db8:%x::/48 via 2001:db8:1::fe\n" : "route 10.%d.0.0/16 via 10.9.0.1\n", i);
    CHECK_STR(err1(many), "appliance.conf:33:1: expected at most 32 route lines");

    CHECK_EQ(parse("interface wan nic 0 address 2001:db8:1::2/64\nroute 2001:0db8:0020:0000::/48   via "
                   "2001:db8:1:0:0:0:0:fe\n"),
             CONF_OK);
    conf_write(&c, out, sizeof out);
    CHECK(strstr(out, "interface wan nic 0 address 2001:db8:1::2/64\nroute 2001:db8:20::/48 via 2001:db8:1::fe\n") !=
          NULL);
    CHECK_EQ(conf_parse(NULL, out, strlen(out), &c2, &res), CONF_OK);
    CHECK(conf_equal(&c, &c2));
    c2.routes[0].gw6[15]++;
    CHECK(!conf_equal(&c, &c2));

    conf_init(&c);
    conf_text_from(&ct, &c);
    CHECK_EQ(set("pass out keep state"), CONF_OK);
    CHECK_EQ(set("route 2001:db8:20::/48 via 2001:db8:1::fe"), CONF_OK);
    CHECK_EQ(set("route 2001:db8:20::/48 via 2001:db8:1::fd"), CONF_OK); /* replaces */
    CHECK_EQ(set("route 2001:db8:20::1/48 via 2001:db8:1::fd"), CONF_E_SYNTAX);
    CHECK_STR(eerr, "expected a network address (no bits set beyond the prefix) (got \"2001:db8:20::1/48\")");
    text_is("hostname keel\nlog info\nroute 2001:db8:20::/48 via 2001:db8:1::fd\npass out keep state\n");
    CHECK_EQ(set("route 2001:DB8:20:0::/48 via 2001:db8:1::fc"), CONF_OK); /* the same network, written otherwise */
    text_is("hostname keel\nlog info\nroute 2001:DB8:20:0::/48 via 2001:db8:1::fc\npass out keep state\n");
    CHECK_EQ(set("route 2001:db8:20::/47 via 2001:db8:1::fc"), CONF_OK); /* another prefix length: another route */
    CHECK_EQ(del("route 2001:db8:20::/47"), CONF_OK);
    CHECK_EQ(del("route 2001:db8:20::/48"), CONF_OK);
    text_is("hostname keel\nlog info\npass out keep state\n");
    CHECK_EQ(del("route 2001:db8:20::/48"), CONF_E_SYNTAX);
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_design_example),
        UNIT_TEST(test_interface_ipv6),
        UNIT_TEST(test_defaults_and_empty),
        UNIT_TEST(test_everything_else),
        UNIT_TEST(test_rule_text_normalised),
        UNIT_TEST(test_errors_top_level),
        UNIT_TEST(test_errors_interface),
        UNIT_TEST(test_errors_rules),
        UNIT_TEST(test_errors_tls_header),
        UNIT_TEST(test_errors_tls_lines),
        UNIT_TEST(test_errors_console),
        UNIT_TEST(test_errors_bytes),
        UNIT_TEST(test_many_errors_sorted),
        UNIT_TEST(test_rules_checked_in_place),
        UNIT_TEST(test_write_canonical),
        UNIT_TEST(test_round_trip),
        UNIT_TEST(test_diff),
        UNIT_TEST(test_diff_context),
        UNIT_TEST(test_diff_random),
        UNIT_TEST(test_edit_set),
        UNIT_TEST(test_edit_set_refused),
        UNIT_TEST(test_edit_delete),
        UNIT_TEST(test_routes),
        UNIT_TEST(test_routes6),
        UNIT_TEST(test_ops_statements),
        UNIT_TEST(test_ops_ipv6),
    };
    return unit_main("config", tests, (int)(sizeof tests / sizeof tests[0]));
}
