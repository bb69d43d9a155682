/* test_manifest.c - the boot manifest parser (init/manifest.c). */
#include <string.h>

#include "manifest.h"
#include "unit.h"

static struct manifest m;
static char err[160];

static int parse(const char *text) { return manifest_parse(text, strlen(text), &m, err, sizeof err); }

/* TEXT is refused with exactly the error MESSAGE.  A macro, so a failure
 * names the case's own line (and the text, in the failed check). */
#define CHECK_REFUSED(text, message)                                                                                   \
    do {                                                                                                               \
        CHECK_EQ(parse(text), -1);                                                                                     \
        CHECK_STR(err, message);                                                                                       \
    } while (0)

static void test_full_line(void)
{
    CHECK_EQ(parse("# comment\n\nserver netd priority 12 cpu 3 memory 4M endpoint netd irq msi ioport 0x60-0x64 "
                   "mmio 0xfeb00000 4\nserver tlsd when ktest memory 512K connect netd args x=1 debug # tail\n"),
             0);
    CHECK_EQ(m.n_servers, 2);
    CHECK_STR(m.servers[0].name, "netd");
    CHECK_EQ(m.servers[0].priority, 12);
    CHECK_EQ(m.servers[0].cpu, 3);
    CHECK_EQ(m.servers[0].memory, 4 << 20);
    CHECK_EQ(m.servers[0].n_grants, 4);
    CHECK_EQ(m.servers[0].grants[0].kind, GRANT_ENDPOINT);
    CHECK_STR(m.servers[0].grants[0].name, "netd");
    CHECK_EQ(m.servers[0].grants[1].kind, GRANT_IRQ);
    CHECK_EQ(m.servers[0].grants[1].a, GRANT_IRQ_MSI);
    CHECK_EQ(m.servers[0].grants[2].a, 0x60);
    CHECK_EQ(m.servers[0].grants[2].b, 0x64);
    CHECK_EQ(m.servers[0].grants[3].a, 0xfeb00000);
    CHECK_EQ(m.servers[0].grants[3].b, 4);
    CHECK_STR(m.servers[1].when, "ktest");
    CHECK_EQ(m.servers[1].memory, 512 << 10);
    CHECK_STR(m.servers[1].args, "x=1");
    CHECK_EQ(m.servers[1].grants[1].kind, GRANT_DEBUG);
    CHECK_EQ(m.servers[1].priority, 10); /* the default */
    CHECK_EQ(m.servers[1].cpu, -1);      /* init's core */
}

/* `cpu-limit`: none by default, `none`, Nms or Ns; out of range or without
 * a unit refused at the argument. */
static void test_cpu_limit(void)
{
    CHECK_EQ(parse("server a cpu-limit 2s\nserver b cpu-limit 250ms\nserver c cpu-limit none\nserver d\n"
                   "server e cpu-limit 10ms priority 3\nserver f cpu-limit 86400s\n"),
             0);
    CHECK_EQ(m.servers[0].cpu_limit_ms, 2000);
    CHECK_EQ(m.servers[1].cpu_limit_ms, 250);
    CHECK_EQ(m.servers[2].cpu_limit_ms, 0);
    CHECK_EQ(m.servers[3].cpu_limit_ms, 0); /* the default: none */
    CHECK_EQ(m.servers[4].cpu_limit_ms, 10);
    CHECK_EQ(m.servers[4].priority, 3);
    CHECK_EQ(m.servers[5].cpu_limit_ms, 86400000);
    CHECK_REFUSED("server a cpu-limit\n",
                  "manifest:1:20: expected a CPU limit (none, or e.g. 2s or 500ms) after cpu-limit");
    CHECK_REFUSED("server a cpu-limit 2\n",
                  "manifest:1:20: expected a CPU limit (none, or 10ms to 86400s: a number then ms or s)");
    CHECK_REFUSED("server a cpu-limit 9ms\n",
                  "manifest:1:20: expected a CPU limit (none, or 10ms to 86400s: a number then ms or s)");
    CHECK_REFUSED("server a cpu-limit 86401s\n",
                  "manifest:1:20: expected a CPU limit (none, or 10ms to 86400s: a number then ms or s)");
    CHECK_REFUSED("server a cpu-limit 99999999999999999999999ms\n",
                  "manifest:1:20: expected a CPU limit (none, or 10ms to 86400s: a number then ms or s)");
    CHECK_REFUSED("server a cpu-limit ms\n",
                  "manifest:1:20: expected a CPU limit (none, or 10ms to 86400s: a number then ms or s)");
    CHECK_REFUSED("server a cpu-limit 5min\n",
                  "manifest:1:20: expected a CPU limit (none, or 10ms to 86400s: a number then ms or s)");
}

/* `stall-limit`: the same form as cpu-limit, its own field, its own words
 * in the errors; both on one line. */
static void test_stall_limit(void)
{
    CHECK_EQ(parse("server a stall-limit 5s cpu-limit 2s\nserver b\nserver c stall-limit none\n"
                   "server d stall-limit 10ms\n"),
             0);
    CHECK_EQ(m.servers[0].stall_limit_ms, 5000);
    CHECK_EQ(m.servers[0].cpu_limit_ms, 2000);
    CHECK_EQ(m.servers[1].stall_limit_ms, 0); /* the default: none */
    CHECK_EQ(m.servers[2].stall_limit_ms, 0);
    CHECK_EQ(m.servers[3].stall_limit_ms, 10);
    CHECK_EQ(m.servers[3].cpu_limit_ms, 0);
    CHECK_REFUSED("server a stall-limit\n",
                  "manifest:1:22: expected a stall limit (none, or e.g. 5s or 500ms) after stall-limit");
    CHECK_REFUSED("server a stall-limit 3\n",
                  "manifest:1:22: expected a stall limit (none, or 10ms to 86400s: a number then ms or s)");
    CHECK_REFUSED("server a stall-limit 1ms\n",
                  "manifest:1:22: expected a stall limit (none, or 10ms to 86400s: a number then ms or s)");
}

/* `admin`: the right to ask init for restarts, reboot and halt. */
static void test_admin_grant(void)
{
    CHECK_EQ(parse("server netd endpoint netd\nserver consoled connect netd admin site\n"), 0);
    CHECK_EQ(m.servers[1].n_grants, 3);
    CHECK_EQ(m.servers[1].grants[1].kind, GRANT_ADMIN);
    CHECK_EQ(parse("server consoled admins\n"), -1);
}

/* One creator per endpoint in a boot set; two sets may each have one. */
static void test_endpoint_per_boot_set(void)
{
    CHECK_EQ(parse("server netd endpoint netd\nserver anetd when admintest endpoint netd\n"), 0);
    CHECK_REFUSED("server netd endpoint netd\nserver other endpoint netd\n",
                  "manifest:1:22: this endpoint name is created by more than one server");
}

/* `requires tls | nic | ops`: servers appliance.conf must ask for. */
static void test_requires(void)
{
    CHECK_EQ(parse("server eth0 requires nic pci net 0\nserver tlsd requires tls requires nic\n"
                   "server opsd requires ops\n"),
             0);
    CHECK_EQ(m.servers[0].requires, REQUIRES_NIC);
    CHECK_EQ(m.servers[1].requires, REQUIRES_TLS | REQUIRES_NIC);
    CHECK_EQ(m.servers[2].requires, REQUIRES_OPS);
    CHECK_REFUSED("server a requires\n", "manifest:1:19: expected tls, nic or ops after requires");
    CHECK_REFUSED("server a requires ssl\n", "manifest:1:19: expected tls, nic or ops after requires");
}

/* `signal NAME bit N`: a badged grant (b = 1 + N); `%` in the bit of an
 * `instances` line gives each instance its own bit. */
static void test_signal_bit(void)
{
    CHECK_EQ(parse("server eth% instances 0-2 pci net % endpoint eth% share eth% 256 signal netd-ev bit %\n"
                   "server netd notify netd-ev signal netd-ev connect eth% share eth% 256\n"),
             0);
    CHECK_EQ(m.servers[2].grants[3].kind, GRANT_SIGNAL);
    CHECK_STR(m.servers[2].grants[3].name, "netd-ev");
    CHECK_EQ(m.servers[2].grants[3].b, 3);
    CHECK_EQ(m.servers[0].grants[3].b, 1);
    CHECK_EQ(m.servers[3].grants[1].kind, GRANT_SIGNAL);
    CHECK_EQ(m.servers[3].grants[1].b, 0); /* no `bit`: unbadged; the next word is the next grant */
    CHECK_EQ(m.servers[3].grants[2].kind, GRANT_CONNECT);
    CHECK_EQ(parse("server a signal x bit 63\n"), 0);
    CHECK_EQ(m.servers[0].grants[0].b, 64);
    CHECK_REFUSED("server a signal x bit 64\n", "manifest:1:23: expected a bit number (0-63)");
    CHECK_REFUSED("server a signal x bit\n", "manifest:1:23: expected a bit number (0-63) after bit");
    CHECK_EQ(parse("server a notify x bit 3\n"), -1); /* bit is for signal only */
}

/* `instances`: one server per N with `%` replaced; `%` grants in other
 * lines expand to the instances an earlier line names. */
static void test_instances(void)
{
    CHECK_EQ(parse("server eth% instances 0-2 requires nic pci net % endpoint eth% share eth% 256 signal eth%\n"
                   "server netd needs eth% connect eth% share eth% 256 notify eth% endpoint netd\n"),
             0);
    CHECK_EQ(m.n_servers, 4);
    CHECK_STR(m.servers[0].name, "eth0");
    CHECK_STR(m.servers[2].name, "eth2");
    CHECK_EQ(m.servers[2].instance, 2);
    CHECK_EQ(m.servers[3].instance, -1);
    CHECK_EQ(m.servers[2].grants[0].kind, GRANT_PCI);
    CHECK_EQ(m.servers[2].grants[0].b, 2);
    CHECK_STR(m.servers[1].grants[1].name, "eth1");
    CHECK_EQ(m.servers[1].grants[1].per_instance, false);
    const struct server_spec *n = &m.servers[3];
    CHECK_STR(n->needs, "eth%");
    CHECK_EQ(n->n_grants, 3 * 3 + 1);
    CHECK_EQ(n->grants[0].kind, GRANT_CONNECT);
    CHECK_STR(n->grants[0].name, "eth0");
    CHECK_EQ(n->grants[0].per_instance, true);
    CHECK_STR(n->grants[2].name, "eth2");
    CHECK_EQ(n->grants[3].kind, GRANT_SHARE);
    CHECK_EQ(n->grants[3].a, 256);
    CHECK_EQ(n->grants[8].kind, GRANT_NOTIFY);
    CHECK_STR(n->grants[8].name, "eth2");
    CHECK_EQ(n->grants[9].kind, GRANT_ENDPOINT);
    CHECK_EQ(n->grants[9].per_instance, false);
    /* Two digits, and the comment keeps its `%`. */
    CHECK_EQ(parse("server n% instances 9-10 endpoint n% # 100%\n"), 0);
    CHECK_STR(m.servers[1].name, "n10");
    CHECK_STR(m.servers[1].grants[0].name, "n10");
    /* Errors. */
    CHECK_REFUSED("server eth% endpoint eth%\n",
                  "manifest:1:8: a name with `%` needs `instances FIRST-LAST` on its line");
    CHECK_REFUSED("server a instances 3-1\n",
                  "manifest:1:20: expected an instance range FIRST-LAST (0-15, FIRST <= LAST)");
    CHECK_EQ(parse("server a instances 0-16\n"), -1);
    CHECK_REFUSED("server a instances\n", "manifest:1:20: expected FIRST-LAST after instances");
    CHECK_REFUSED("server netd connect eth%\n",
                  "manifest:1:21: no earlier `instances` line of this boot set names an object that matches");
    CHECK_REFUSED("server a endpoint x%\n",
                  "manifest:1:19: an endpoint with `%` needs `instances FIRST-LAST` on its line");
    CHECK_EQ(parse("server a connect x%%\n"), -1);
    /* Another boot set's instances do not count. */
    CHECK_EQ(parse("server e% instances 0-1 when t endpoint e%\nserver n connect e%\n"), -1);
    CHECK_EQ(parse("server e% instances 0-1 when t endpoint e%\nserver n when t connect e%\n"), 0);
    CHECK_EQ(m.servers[2].n_grants, 2);
}

static void test_name_matches(void)
{
    CHECK(manifest_name_matches("eth%", "eth0"));
    CHECK(manifest_name_matches("eth%", "eth15"));
    CHECK(!manifest_name_matches("eth%", "eth16"));
    CHECK(!manifest_name_matches("eth%", "eth"));
    CHECK(!manifest_name_matches("eth%", "eth01"));
    CHECK(!manifest_name_matches("eth%", "eth0x"));
    CHECK(manifest_name_matches("a%b", "a7b"));
    CHECK(manifest_name_matches("netd", "netd"));
    CHECK(!manifest_name_matches("netd", "netd0"));
}

/* A server name is unique within its boot set only: a test set reuses the
 * appliance's names. */
static void test_names_scoped_by_set(void)
{
    CHECK_EQ(parse("server netd endpoint netd\nserver netd when nettest endpoint netd\n"), 0);
    CHECK_REFUSED("server netd\nserver netd\n",
                  "manifest:2:8: a server of this name is already listed in this boot set");
    CHECK_EQ(parse("server netd when t\nserver netd when t\n"), -1);
}

static void test_errors_name_line_and_column(void)
{
    CHECK_REFUSED("server a\nsrv b\n", "manifest:2:1: expected 'server' or 'driver'");
    CHECK_REFUSED("server a priority 20\n", "manifest:1:19: expected a priority (0-19)");
    CHECK_REFUSED("server a cpu 8\n", "manifest:1:14: expected a core (0-7)");
    CHECK_REFUSED("server a cpu\n", "manifest:1:14: expected a core (0-7) after cpu");
    CHECK_REFUSED("server a memory\n", "manifest:1:17: expected a size (e.g. 4M) after memory");
    CHECK_REFUSED("server a ioport 0x64-0x60\n",
                  "manifest:1:17: expected a port range FIRST-LAST (0-0xffff, FIRST <= LAST)");
    CHECK_REFUSED("server a mmio 0x1001 1\n", "manifest:1:15: expected a page-aligned physical address");
    CHECK_REFUSED("server a irq 24\n", "manifest:1:14: expected an IRQ line (0-23) or msi");
    CHECK_EQ(parse("server a frobnicate\n"), -1);
    CHECK_EQ(strncmp(err, "manifest:1:10: expected program, when, needs, priority", 54), 0);
    CHECK_REFUSED("server a\nserver a\n", "manifest:2:8: a server of this name is already listed in this boot set");
    CHECK_REFUSED("server a\n\nserver b connect nope\n",
                  "manifest:3:18: expected the name of an endpoint some server creates");
    CHECK_EQ(parse("server a endpoint e\nserver b endpoint e\n"), -1);
    CHECK_EQ(parse("server a;b\n"), -1);
    CHECK_EQ(parse("server a memory 99999999999M\n"), -1);
}

static void test_drivers_and_devices(void)
{
    CHECK_EQ(parse("driver 1af4:1041 virtio-net\ndriver 8086:100E e1000\n"
                   "server nic0 pci net 0 endpoint nic0 share nic0 256 signal nic0\n"
                   "server echo connect nic0 share nic0 256 notify nic0\n"),
             0);
    CHECK_EQ(m.n_drivers, 2);
    CHECK_EQ(m.drivers[0].vendor, 0x1af4);
    CHECK_EQ(m.drivers[1].device, 0x100e);
    CHECK_STR(m.drivers[1].program, "e1000");
    CHECK_EQ(m.servers[0].grants[0].kind, GRANT_PCI);
    CHECK_EQ(m.servers[0].grants[0].a, PCI_SEL_NET);
    CHECK_EQ(m.servers[0].grants[2].kind, GRANT_SHARE);
    CHECK_EQ(m.servers[0].grants[2].a, 256);
    CHECK_EQ(m.servers[1].grants[2].kind, GRANT_NOTIFY);
    CHECK_REFUSED("driver 1af4-1041 x\n", "manifest:1:8: expected a PCI vendor:device pair such as 1af4:1041");
    CHECK_EQ(parse("driver 1af4:1041 x y\n"), -1);
    CHECK_EQ(parse("server a pci blk 0 endpoint a\n"), 0);
    CHECK_EQ(m.servers[0].grants[0].a, PCI_SEL_BLK);
    CHECK_REFUSED("server a pci disk 0\n", "manifest:1:14: expected net, rng or blk");
    CHECK_REFUSED("server a share r 4\nserver b share r 8\n",
                  "manifest:1:16: this region is shared with a different page count elsewhere");
}

static void test_limits(void)
{
    char big[16384] = "";
    for (int i = 0; i < 65; i++) {
        char line[32];
        snprintf(line, sizeof line, "server s%d\n", i);
        strcat(big, line);
    }
    CHECK_EQ(parse(big), -1);
    CHECK_STR(err, "manifest:65:1: too many servers (at most 64)");
    CHECK_EQ(parse(""), 0);
    CHECK_EQ(m.n_servers, 0);
    /* Not NUL-terminated: the length bounds the parse. */
    const char text[] = "server a debugXXXX";
    CHECK_EQ(manifest_parse(text, 14, &m, err, sizeof err), 0);
    CHECK_EQ(m.servers[0].n_grants, 1);
}

/* `memory MIN-MAX`: a budget that shrinks on a small machine (init/budget.h). */
static void test_memory_range(void)
{
    CHECK_EQ(parse("server tlsd memory 4M-8M\nserver netd memory 512K\nserver x\n"), 0);
    CHECK_EQ(m.servers[0].memory_min, 4 << 20);
    CHECK_EQ(m.servers[0].memory, 8 << 20);
    CHECK_EQ(m.servers[1].memory_min, 512 << 10);
    CHECK_EQ(m.servers[1].memory, 512 << 10);
    CHECK_EQ(m.servers[2].memory, 0);
    CHECK_REFUSED("server tlsd memory 8M-4M\n", "manifest:1:23: a memory range's maximum is below its minimum");
    CHECK_REFUSED("server tlsd memory 4M-\n", "manifest:1:23: expected a size such as 8M after the range's '-'");
    CHECK_REFUSED("server tlsd memory -4M\n",
                  "manifest:1:20: expected a size such as 512K or 4M, or a range such as 4M-8M");
}

/* `with WORD`: a normal server that starts only when WORD is on the command
 * line; its names resolve in the normal set, and it cannot be a test set's. */
static void test_with(void)
{
    CHECK_EQ(parse("server netd endpoint netd\nserver faultd with faults debug connect netd\n"), 0);
    CHECK_STR(m.servers[1].with, "faults");
    CHECK_STR(m.servers[1].when, "");
    CHECK_REFUSED("server f with\n", "manifest:1:15: expected a command-line word after with");
    CHECK_REFUSED("server f when t with faults\n",
                  "manifest:1:8: a server takes `when` (a test set) or `with` (beside the appliance), not both");
}

/* The one-word options (when, with, program, needs, args): each value lands
 * in its own field; a missing or malformed one names that option's error. */
static void test_word_options(void)
{
    CHECK_EQ(parse("server n\nserver a when t program p1 needs n args k=v\nserver b with w\n"), 0);
    CHECK_STR(m.servers[1].when, "t");
    CHECK_STR(m.servers[1].program, "p1");
    CHECK_STR(m.servers[1].needs, "n");
    CHECK_STR(m.servers[1].args, "k=v");
    CHECK_STR(m.servers[2].with, "w");
    CHECK_REFUSED("server a when\n", "manifest:1:15: expected a command-line word after when");
    CHECK_REFUSED("server a program\n", "manifest:1:18: expected a program name after program");
    CHECK_REFUSED("server a needs\n", "manifest:1:16: expected a server name after needs");
    CHECK_REFUSED("server a args\n", "manifest:1:15: expected a word after args");
    CHECK_REFUSED("server a when b@d\n",
                  "manifest:1:15: expected a command-line word (letters, digits, -_.; at most 15)");
    CHECK_REFUSED("server a with b@d\n",
                  "manifest:1:15: expected a command-line word (letters, digits, -_.; at most 15)");
    CHECK_REFUSED("server a program b@d\n",
                  "manifest:1:18: expected a program name (letters, digits, -_.; at most 15)");
    CHECK_REFUSED("server a needs b%%\n", "manifest:1:16: expected a server name (letters, digits, -_.; at most 15)");
    CHECK_REFUSED("server a args "
                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
                  "manifest:1:15: expected one word of arguments (at most 127 characters)");
}

int main(void)
{
    static const struct unit_test tests[] = {
        UNIT_TEST(test_full_line),
        UNIT_TEST(test_admin_grant),
        UNIT_TEST(test_cpu_limit),
        UNIT_TEST(test_stall_limit),
        UNIT_TEST(test_requires),
        UNIT_TEST(test_endpoint_per_boot_set),
        UNIT_TEST(test_errors_name_line_and_column),
        UNIT_TEST(test_drivers_and_devices),
        UNIT_TEST(test_limits),
        UNIT_TEST(test_instances),
        UNIT_TEST(test_signal_bit),
        UNIT_TEST(test_name_matches),
        UNIT_TEST(test_names_scoped_by_set),
        UNIT_TEST(test_memory_range),
        UNIT_TEST(test_with),
        UNIT_TEST(test_word_options),
    };
    return unit_main("manifest", tests, sizeof tests / sizeof tests[0]);
}
