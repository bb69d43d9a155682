#!/usr/bin/env python3
"""IPC protocol fuzzers (issue #16 item 3): a hostile client of every server
protocol beside an honest client that must keep being served.

Boots Keel with the boot sets `ipcfuzz` and `ipcfuzzk` (this script's own
manifest lines, FUZZ_LINES, appended to image/manifest in a copy of the
image, as test_netd.py does).  Every fuzz program (tests/ipcfuzz/ipcfuzz.c)
gets exactly the grants a real client of its protocol gets:

  protocol  server       hostile client (grants of)        honest client
  sock      netd         a socket client (tlsd's)          UDP bind + close
  nic       a NIC driver the driver's client (netd's)      NIC_INFO
  netadm    netd         an admin client (consoled's)      show interfaces
  tlsadm    tlsd         an admin client (consoled's)      TLSD_LISTENERS
  keyd      keyd         keyd's signing client (tlsd's)    the admin: ADM_ABORT
  log       consoled     a log writer (every server's)     LOG_WRITE
  init      init         any server (INIT_*; no `admin`)   INIT_TASK_INFO

(keyd serves one signing client, so its hostile client runs against a keyd
of its own, set `ipcfuzzk`, in a second boot; set `ipcfuzz`'s keyd serves tlsd.)  The NICs are
taps in a network namespace of this test's own, so whatever the hostile
clients make the guest send (random frames, connects, pings) goes nowhere
else.

Tests (per protocol P): ipcfuzz.P.setup, .calls_answered, .unknown_refused, .honest_served,
.honest_correct (printed by the guest), plus
  W.complete          every hostile client printed its closing line
  W.servers_survived  no server died (init's "server X died"), no panic, and
                      each server the boot is for became ready
(W: ipcfuzz or ipcfuzzk; each name ends in @SEED.)
A server that crashes or hangs fails these; the seed on every line replays it.

Usage (root: ip netns, tap):
  python3 tests/qemu/test_ipcfuzz.py [--seeds 1,2] [--batches 8] [--calls 200]
  make ipcfuzz SEED=12345 FUZZ_BATCHES=100      (a longer run, any seed)
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "qemu"))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402

PROTOS = ("sock", "nic", "netadm", "tlsadm", "keyd", "log", "init")
# The two boots of one seed: (kernel command line word, its protocols, the
# servers that must come up).  keyd's names (endpoint keyd, region keyd) are
# fixed, so its own keyd cannot share a boot with tlsd's.
BOOTS = (("ipcfuzz", ("sock", "nic", "netadm", "tlsadm", "log", "init"),
          ("netd", "tlsd", "keyd", "consoled", "fznic0", "fznic1")),
         ("ipcfuzzk", ("keyd",), ("fzkeyd",)))
SOCK_PAGES, SOCK_TX_PAGES = kq.sock_shm_pages()

# {h}: the hostile clients' common args (seed, batches, calls).
FUZZ_LINES = """
# IPC protocol fuzzers (tests/qemu/test_ipcfuzz.py): the servers, each with
# its real grants, and per protocol a hostile and an honest client, at a
# priority below every server's (they yield while they wait for each other).
server fznic0   when ipcfuzz priority 15 memory 2M pci net 0 endpoint fznic0 share fznic0 256 signal fznic0
server fznic1   when ipcfuzz priority 15 memory 2M pci net 1 endpoint fznic1 share fznic1 256 signal netd-ev bit 1
server rng      when ipcfuzz priority 14 memory 256K pci rng 0 endpoint rng0
server uart     when ipcfuzz priority 14 memory 64K irq 4 ioport 0x3f8-0x3ff endpoint console signal console
server consoled when ipcfuzz needs uart priority 6 memory 1280K connect console notify console signal console site endpoint log
server netd     when ipcfuzz needs fznic1 priority 12 memory 7M site connect fznic1 share fznic1 256 notify netd-ev signal netd-ev connect rng0 endpoint netd share sock-tlsd {sp} share socktx-tlsd {stp} signal sock-tlsd share sock-fzsock {sp} share socktx-fzsock {stp} signal sock-fzsock share sock-fzsockok {sp} share socktx-fzsockok {stp} signal sock-fzsockok share admin-fzadm 33 share admin-fzadmok 33
server keyd     when ipcfuzz needs netd priority 10 memory 1M args client=tlsd,signal=sock-tlsd,rng=rng0,key=edge1.key site endpoint keyd share keyd 4 signal sock-tlsd connect rng0
server tlsd     when ipcfuzz needs netd priority 11 memory 8M args rng=rng0 site connect netd share sock-tlsd {sp} share socktx-tlsd {stp} notify sock-tlsd signal sock-tlsd connect keyd share keyd 4 connect rng0 endpoint tlsd share tlsadm-fztls 17 share tlsadm-fztlsok 17
server fzsock   program ipcfuzz when ipcfuzz needs netd priority 4 memory 256K args proto=sock,role=hostile,ep=netd,{h} connect netd share sock-fzsock {sp} share socktx-fzsock {stp} notify sock-fzsock share fzp-sock 1
server fzsockok program ipcfuzz when ipcfuzz needs netd priority 4 memory 256K args proto=sock,role=honest,ep=netd connect netd share sock-fzsockok {sp} share socktx-fzsockok {stp} notify sock-fzsockok share fzp-sock 1
server fznicf   program ipcfuzz when ipcfuzz needs fznic0 priority 4 memory 256K args proto=nic,role=hostile,ep=fznic0,{h} connect fznic0 share fznic0 256 notify fznic0 share fzp-nic 1
server fznicok  program ipcfuzz when ipcfuzz needs fznic0 priority 4 memory 256K args proto=nic,role=honest,ep=fznic0 connect fznic0 share fzp-nic 1
server fzadm    program ipcfuzz when ipcfuzz needs netd priority 4 memory 256K args proto=netadm,role=hostile,ep=netd,{h} connect netd share admin-fzadm 33 share fzp-netadm 1
server fzadmok  program ipcfuzz when ipcfuzz needs netd priority 4 memory 256K args proto=netadm,role=honest,ep=netd connect netd share admin-fzadmok 33 share fzp-netadm 1
server fztls    program ipcfuzz when ipcfuzz needs tlsd priority 4 memory 256K args proto=tlsadm,role=hostile,ep=tlsd,{h} connect tlsd share tlsadm-fztls 17 share fzp-tlsadm 1
server fztlsok  program ipcfuzz when ipcfuzz needs tlsd priority 4 memory 256K args proto=tlsadm,role=honest,ep=tlsd connect tlsd share tlsadm-fztlsok 17 share fzp-tlsadm 1
server fzlog    program ipcfuzz when ipcfuzz needs consoled priority 4 memory 256K args proto=log,role=hostile,ep=log,{h} connect log share fzp-log 1
server fzlogok  program ipcfuzz when ipcfuzz needs consoled priority 4 memory 256K args proto=log,role=honest,ep=log connect log share fzp-log 1
server fzinit   program ipcfuzz when ipcfuzz priority 4 memory 256K args proto=init,role=hostile,{h} share fzp-init 1
server fzinitok program ipcfuzz when ipcfuzz priority 4 memory 256K args proto=init,role=honest share fzp-init 1
# keyd's one signing client is the hostile one here: a keyd of its own.
server fzkeyd   program keyd when ipcfuzzk priority 10 memory 1M args client=fzkey,key=edge1.key site endpoint keyd share keyd 4 signal fzkey share keyadm-fzkeyok 1
server fzkey    program ipcfuzz when ipcfuzzk needs fzkeyd priority 4 memory 256K args proto=keyd,role=hostile,ep=keyd,{h} connect keyd share keyd 4 notify fzkey share fzp-keyd 1
server fzkeyok  program ipcfuzz when ipcfuzzk needs fzkeyd priority 4 memory 256K args proto=keyd,role=honest,ep=keyd connect keyd share keyadm-fzkeyok 1 share fzp-keyd 1
"""

CONF = """# tests/qemu/test_ipcfuzz.py
hostname fuzzbox
interface wan nic 0 address 10.77.0.2/24
pass out keep state
pass in on wan proto icmp
tls 443 {
    certificate edge1.crt key edge1.key
    backend 10.77.0.1:8080
}
"""

# consoled's prompt ("fuzzbox> ") may start a guest line on the serial port.
CLOSING = re.compile(r"^(?:\S+> )?ipcfuzz-(\w+): (\d+) passed, (\d+) failed\s*$", re.M)
RESULT = re.compile(r"^(?:\S+> )?(PASS|FAIL) (ipcfuzz\.\w+\.\w+)(?:: (.*))?$", re.M)
DIED = re.compile(r"keel: init: server (\S+) died: .*$", re.M)


def make_image(build: Path, out: Path, hostile_args: str) -> None:
    site = out.parent / "site"
    site.mkdir()
    netlab.self_signed(site, "edge1", "fuzzbox.test")
    netlab.make_image(build / "image" / "tftp", out, CONF, {"edge1.crt": None, "edge1.key": None}, site=site,
                      manifest=netlab.base_manifest() + FUZZ_LINES.format(h=hostile_args, sp=SOCK_PAGES,
                                                                          stp=SOCK_TX_PAGES),
                      elf_dir=build / "user")


def run_boot(rep: kq.Reporter, build: Path, word: str, protos, servers, seed: int, batches: int, calls: int,
             timeout: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="keel-ipcfuzz-"))
    lab = netlab.Lab("kfz")
    try:
        ns = lab.netns(lab.name())
        taps = [lab.tap(ns, lab.name("a", dev=True)), lab.tap(ns, lab.name("b", dev=True), "10.77.0.1/24")]
        make_image(build, tmp / "img", f"seed={seed},batches={batches},calls={calls}")
        print(f"{word}: seed {seed}, {batches} batches of {calls} calls per protocol ({', '.join(protos)})",
              flush=True)
        r = kq.boot(f"{word}-{seed}", boot="direct", args=[word], image_dir=tmp / "img",
                    timeout=timeout, expect=[CLOSING] * len(protos), fail_on=["keel: PANIC"],
                    nic="virtio,virtio", taps=taps, netns=ns, qemu_extra="-device virtio-rng-pci")
    finally:
        lab.close()
        shutil.rmtree(tmp, ignore_errors=True)

    rep.guest_results(r.log, RESULT, lambda name: f"{name}@{seed}", f"log {kq.rel(r.log_path)}")

    def complete():
        found = {m.group(1) for m in CLOSING.finditer(r.log)}
        missing = sorted(set(protos) - found)
        if missing:
            raise kq.TestFailure(f"no closing line from {missing} [{r.describe()}]; log {kq.rel(r.log_path)}")

    def survived():
        died = [m.group(0) for m in DIED.finditer(r.log)]
        if died or "keel: PANIC" in r.log:
            raise kq.TestFailure(f"{died[:3] or 'kernel panic'} (seed {seed}); log {kq.rel(r.log_path)}")
        for s in servers:
            if f"keel: init: server {s} ready" not in r.log:
                raise kq.TestFailure(f"{s} never became ready; log {kq.rel(r.log_path)}")

    rep.run(f"{word}.complete@{seed}", complete)
    rep.run(f"{word}.servers_survived@{seed}", survived)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--seeds", default="1,2", help="comma-separated seeds, one boot each")
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--calls", type=int, default=400)
    ap.add_argument("--timeout", type=float, default=0, help="seconds per boot (default: from the run's size)")
    ns = ap.parse_args()
    kq.install_signal_handlers()
    rep = kq.Reporter()
    for s in ns.seeds.split(","):
        seed = int(s)
        timeout = ns.timeout or 240 + ns.batches * ns.calls * 0.15
        for word, protos, servers in BOOTS:
            run_boot(rep, Path(ns.build), word, protos, servers, seed, ns.batches, ns.calls, timeout)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
