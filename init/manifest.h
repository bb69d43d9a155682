/*
 * manifest.h - the boot manifest: which servers init starts, and exactly
 * which capabilities each gets.
 *
 * One server per line; '#' starts a comment:
 *
 *   server NAME [program FILE] [when WORD | with WORD] [needs SERVER] [requires tls|nic|ops] [priority N]
 *          [memory SIZE|MIN-MAX] [cpu N] [cpu-limit none|Nms|Ns] [instances FIRST-LAST] [args WORD] GRANT...
 *
 * `memory MIN-MAX` is a budget that shrinks toward MIN on a machine too
 * small for every server's maximum (init/budget.h).
 *
 * `cpu N` (0-7) places the server's first thread on core N, or on core
 * N mod the cores online when the machine has fewer (so `cpu 1` is core 0
 * on one core); without it the server runs on core 0, init's own.  A
 * server places its further threads itself (KEEL_THREAD_CPU).
 *
 * `cpu-limit T` (10ms to 86400s, or `none`, the default) is how long each
 * thread of the server may run without blocking (in a receive, a wait or a
 * call's reply-wait) before the kernel stops it with FAULT_HOG and init
 * restarts the server as after a crash ("eth0: spun for 2000 ms without
 * blocking: restarted").  Its threads share the limit (KEEL_CPU_LIMIT_INHERIT).
 * Whatever the limit, such a thread loses priority while it runs on
 * (kernel/sched.c), so a spinning server slows no other for long; the limit
 * is what gets it restarted.  Drivers and netd, which never compute for
 * long, take a few seconds; tlsd and keyd, whose signatures take tens of ms
 * under emulation, a larger one.
 *
 * `stall-limit T` (the same range, or `none`, the default) is how long work
 * may wait for the server - a caller queued on an endpoint it receives
 * from, or notification bits (an interrupt, a peer's signal) nobody took -
 * while each of its threads is blocked in a receive or a wait (not in a
 * call: then the server called is the one to blame) or suspended: it is then stuck, blocked where it
 * should not be (a fault that did not kill can leave it so), and init
 * restarts it as after a crash ("netd: stalled: work waited 5012 ms on
 * slot 12 while it was blocked: restarted"; SYS_TASK_STALL).  A busy
 * server is never stalled (a spin is cpu-limit's), and init looks only
 * once the server said ready, once a second; before that, a server with a
 * stall-limit that is not ready 30 s after its start (START_LIMIT_NS) is
 * restarted as stuck in its start.
 *
 * Per-instance servers (one per NIC): a line with `instances FIRST-LAST`
 * stands for one line per N in FIRST..LAST (at most 0-15), with every `%`
 * in its words replaced by N:
 *
 *   server eth% instances 0-7 requires nic pci net % endpoint eth% share eth% 256 signal eth%
 *
 * is eth0 (`pci net 0`, endpoint eth0, ...) through eth7.  In any other
 * line a grant name with `%` (`connect eth%`, `share eth% 256`, `notify
 * eth%`) stands for one grant per instance whose object an earlier line of
 * the same boot set names; such a grant is per-instance: init gives it only
 * when that instance runs this boot (its device is there and appliance.conf
 * asks for it), so a server connects to exactly the NICs that exist.
 * `needs eth%` is met when any instance runs.  (Columns in errors count
 * the line as written with `%` replaced, so they can be off by one for
 * instances 10-15.)
 *
 * `requires` ties a server to the site's appliance.conf (init/init.c):
 * `requires tls`: started only when the configuration has a `tls` block;
 * `requires ops`: only when it has a `syslog`, `ntp` or `metrics` line;
 * `requires nic`: started only when an `interface ... nic N` line names
 * the NIC its `pci net N` grant selects.  When appliance.conf is absent or
 * does not parse, these servers start as if it asked for them (netd then
 * runs deny-all, and the operator can fix the configuration at run time).
 *
 * The binary is FILE.elf (default NAME.elf) in the servers archive.
 *
 * GRANTs:  debug                 may end the VM (test servers)
 *          irq LINE | irq msi    one interrupt (ISA 0-15, PCI GSI 16-23) or an MSI vector
 *          ioport FIRST-LAST     an I/O port range (opened in its TSS bitmap)
 *          mmio PHYS PAGES       device memory (never RAM)
 *          endpoint NAME         create endpoint NAME; this server receives on it
 *          connect NAME          a send capability to endpoint NAME, badged per client
 *          pci net N | pci rng N | pci blk N
 *                                the Nth network controller / virtio entropy device /
 *                                virtio block device on the PCI bus: its BARs, an
 *                                interrupt, and its description
 *          share NAME PAGES      a DMA region NAME shared by every server naming it; made
 *                                only when two or more servers that run this boot name it
 *                                (one alone has no one to share it with: it gets nothing)
 *          signal NAME           may signal notification NAME
 *          notify NAME           waits on notification NAME
 *          admin                 may call init's INIT_RESTART, INIT_REBOOT, INIT_HALT
 *                                (the console)
 *          site                  the site archive (appliance.conf and the files it
 *                                names), read-only, as the frame "site"
 *
 * A line `driver VVVV:DDDD PROGRAM` says which program drives a PCI device:
 * a server with a `pci` grant runs PROGRAM.elf for the device it got (so
 * `server nic0 pci net 0` runs virtio-net or e1000, whichever NIC 0 is); a
 * server whose `pci` device is absent is not started.
 * `when WORD` servers start only when the kernel command line has WORD
 * (ktest, kbench); then the servers without `when` do not start, so a test
 * boot replaces the appliance's normal set.  Names are scoped by boot set:
 * a server name, an endpoint's creator and `needs` are unique and resolved
 * among the servers of one set (same `when`, or none), so a test set may
 * reuse the appliance's names (its own `netd`) without the appliance's
 * lines being removed from the manifest.  `with WORD` is the other way
 * round: the server belongs to the normal set (its names resolve there) but
 * starts only when the command line has WORD, beside the appliance (the
 * fault injector of `faults` boots); it does not make the boot special.  Numbers are decimal or 0x-hex; SIZE takes
 * a K or M suffix.  The binary is NAME.elf in the servers archive.
 *
 * Pure code (host-tested by tests/unit/test_manifest.c).
 */
#ifndef KEEL_INIT_MANIFEST_H
#define KEEL_INIT_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MANIFEST_MAX_SERVERS   64
#define MANIFEST_MAX_GRANTS    48
#define MANIFEST_MAX_INSTANCES 16 /* `instances` numbers 0..15 */
#define MANIFEST_LINE_MAX      1024
#define MANIFEST_NAME_MAX      16
#define MANIFEST_ARGS_MAX      128

enum grant_kind {
    GRANT_DEBUG,
    GRANT_IRQ,
    GRANT_IOPORT,
    GRANT_MMIO,
    GRANT_ENDPOINT,
    GRANT_CONNECT,
    GRANT_PCI,    /* a: PCI_SEL_*, b: index */
    GRANT_SHARE,  /* name, a: pages */
    GRANT_SIGNAL, /* name, b: 1 + the badge's bit (`bit N`), 0 = unbadged */
    GRANT_NOTIFY, /* name */
    GRANT_SITE,   /* the site archive module, read-only */
    GRANT_ADMIN,  /* may ask init to restart servers, reboot, halt: no capability */
};

#define REQUIRES_TLS 0x1u /* a `tls` block */
#define REQUIRES_NIC 0x2u /* an interface line naming the server's `pci net N` */
#define REQUIRES_OPS 0x4u /* a syslog, ntp or metrics line */

#define PCI_SEL_NET              0
#define PCI_SEL_RNG              1
#define PCI_SEL_BLK              2
#define MANIFEST_MAX_DRIVERS     16
#define MANIFEST_MAX_SHARE_PAGES 4096

#define GRANT_IRQ_MSI 0x10000u /* KEEL_IRQ_MSI */

struct grant {
    enum grant_kind kind;
    uint64_t a, b;                /* irq: line; ioport: first, last; mmio: phys, pages */
    char name[MANIFEST_NAME_MAX]; /* endpoint and connect */
    unsigned line, col;           /* where the name was written, for errors */
    bool per_instance;            /* from a `%` name: given only when its instance runs (init) */
};

struct server_spec {
    char name[MANIFEST_NAME_MAX];
    char when[MANIFEST_NAME_MAX];    /* empty: a normal server */
    char with[MANIFEST_NAME_MAX];    /* `with WORD`: a normal server started only when WORD is on the
                                        command line (the fault injector); empty: always */
    char needs[MANIFEST_NAME_MAX];   /* not started when that server is not (e.g. its NIC is absent);
                                        with `%`: when no instance of that name runs */
    char program[MANIFEST_NAME_MAX]; /* empty: NAME */
    unsigned requires;               /* REQUIRES_*: what appliance.conf must ask for */
    uint8_t priority;
    int8_t cpu;              /* `cpu N`: 0..MANIFEST_MAX_CPU, or -1 (init's core) */
    uint32_t cpu_limit_ms;   /* `cpu-limit`: ms without blocking before FAULT_HOG; 0: none */
    uint32_t stall_limit_ms; /* `stall-limit`: ms work may wait on it while it is blocked elsewhere; 0: none */
    int8_t instance;         /* N for a line of an `instances` template, else -1 */
    uint64_t memory;         /* bytes; with a range (`memory MIN-MAX`), the maximum */
    uint64_t memory_min;     /* bytes; == memory unless a range was given; 0: no memory line (init's default) */
    char args[MANIFEST_ARGS_MAX];
    unsigned n_grants;
    struct grant grants[MANIFEST_MAX_GRANTS];
};

struct driver_entry {
    uint16_t vendor, device;
    char program[MANIFEST_NAME_MAX];
};

struct manifest {
    unsigned n_servers;
    struct server_spec servers[MANIFEST_MAX_SERVERS];
    unsigned n_drivers;
    struct driver_entry drivers[MANIFEST_MAX_DRIVERS];
};

#define MANIFEST_MAX_PRIORITY     19        /* below init's own */
#define MANIFEST_MAX_CPU          7         /* the kernel's MAX_CPUS - 1 */
#define MANIFEST_MIN_CPU_LIMIT_MS 10u       /* a slice: less would stop a server that is only preempted late */
#define MANIFEST_MAX_CPU_LIMIT_MS 86400000u /* a day (KEEL_CPU_LIMIT_MAX_MS) */

/* True when NAME is PATTERN with its `%` (if any) replaced by a decimal
 * instance number 0..MANIFEST_MAX_INSTANCES-1; without `%`, plain equality. */
bool manifest_name_matches(const char *pattern, const char *name);

/* Parses TEXT (LEN bytes, need not be NUL-terminated).  Returns 0, or -1
 * with "manifest:LINE:COLUMN: what was expected" in ERR. */
int manifest_parse(const char *text, size_t len, struct manifest *out, char *err, size_t errlen);

#endif
