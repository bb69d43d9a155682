#!/usr/bin/env python3
"""NIC driver tests with real frames (issue 4).

Each boot runs Keel with `nictest`: init gives NIC N to its driver (virtio-net
or e1000, chosen by device ID) and starts `nicecho` on the NIC protocol; a
virtio-rng device, when present, gets its driver and `rngtest`.  The test
host is a network namespace joined to the guest by one tap device per NIC
(10.9.N.1 on the host side, 10.9.N.2 in the guest); QEMU runs inside that
namespace, so no frame can leave it.  The host side is
tests/qemu/nic_client.py (raw AF_PACKET sockets).

Per NIC: ARP answered, ping answered, every frame size 60..1514 echoed
intact, a burst of 10,000 frames with every loss accounted for (host sent =
echoed + losses the tap or the guest counted), and a driver restart in the
middle of traffic with its losses accounted by phase: every echo byte-exact,
at most the window in flight lost to the crash, and every frame sent after
the restarted driver echoes (a window after the first echo after the crash)
echoed (but for drops the tap counted).  virtio-rng: two reads that
are not constant and differ; without the device, init says so.

Usage: python3 tests/qemu/test_nic.py [--nic virtio|e1000|both|all] [--image-dir DIR]
Needs root (network namespaces, tap devices).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402

CLIENT = str(HERE / "nic_client.py")
MAC = ["52:54:00:12:34:56", "52:54:00:12:34:57"]
BURST = 10000
WINDOW = 32


class Guest(netlab.Lab):
    """A Keel VM with NICs on taps in a private namespace (10.9.I.1/24 on
    tap I), its serial line in build/test-logs/NAME.log."""

    def __init__(self, name: str, nics: list[str], rng: bool, image_dir: str | None, machine: str = "",
                 iommu: bool = False):
        super().__init__("keel")
        self.name = name
        self.ns = self.netns(f"keel{self.pid}{name[:6]}")
        self.taps = [self.tap(self.ns, f"ktap{i}", f"10.9.{i}.1/24") for i in range(len(nics))]
        self.log = kq.LOG_DIR / f"{name}.log"
        cfg = kq.Config(boot="direct", accel="auto", nic=",".join(nics), args=["nictest"],
                        taps=self.taps, netns=self.ns, serial=f"file:{self.log}",
                        qemu_extra="-device virtio-rng-pci" if rng else "",
                        image_dir=image_dir or kq.DEFAULT_IMAGE_DIR, machine=machine or kq.DEFAULT_MACHINE,
                        iommu=iommu)
        plan = kq.build_command(cfg)
        self.accel = plan.accel
        for n in plan.notes:
            kq.note(f"{name}: {n}")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        if self.log.exists():
            self.log.unlink()
        qout = open(kq.LOG_DIR / f"{name}.qemu.log", "wb")
        self.files.append(qout)
        self.proc = self.qemu(plan.cmd, qout)
        self.serial = netlab.SerialLog(self.log, alive=lambda: self.proc.poll() is None)

    def text(self) -> str:
        return self.serial.text()

    def wait_for(self, pattern: str, timeout: float = 120, pos: int = 0) -> bool:
        """Whether PATTERN appears in the log beyond character POS (an event's
        line after the mark taken before it) within TIMEOUT seconds."""
        return self.serial.wait(pattern, timeout, pos) is not None

    def boot_ready(self, rep: kq.Reporter, test: str, timeout: float) -> bool:
        """Runs test TEST: `keel: ready` in the log within TIMEOUT seconds."""
        up = self.wait_for(r"^keel: ready$", timeout)
        return rep.run(test, lambda: check(up, f"no `keel: ready` [log {kq.rel(self.log)}]"))

    def client(self, *args: str, timeout: float = 300) -> dict:
        p = netlab.ns_run(self.ns, sys.executable, CLIENT, *args, timeout=timeout)
        if p.returncode != 0:
            raise kq.TestFailure(f"nic_client {' '.join(args)} failed: {p.stderr.strip()[-300:]}")
        return json.loads(p.stdout)


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise kq.TestFailure(msg)


def nic_tests(rep: kq.Reporter, g: Guest, i: int, label: str, full: bool) -> None:
    tap, mac, ip = g.taps[i], MAC[i], f"10.9.{i}.2"

    def arp():
        r = g.client("arp", tap, ip)
        check(r["mac"] == mac, f"ARP for {ip}: got {r['mac']}, expected {mac}")

    def ping():
        p = netlab.ns_run(g.ns, "ping", "-c", "3", "-W", "3", "-i", "0.2", ip)
        check(p.returncode == 0, f"ping {ip}: {p.stdout.strip().splitlines()[-2:] if p.stdout else p.stderr}")

    def sizes():
        r = g.client("sizes", tap, mac, "60", "1514" if full else "200")
        check(r["n_bad"] == 0 and r["n_lost"] == 0,
              f"{r['ok']} echoed intact; corrupted sizes {r['bad']} ({r['n_bad']}), lost {r['lost']} ({r['n_lost']})")

    def burst():
        n = BURST if full else 2000
        r = g.client("burst", tap, mac, str(n), str(WINDOW))
        gd = r["guest"]
        guest_losses = sum(gd.get(k, 0) for k in ("bad", "nobuf", "drv_rx_dropped", "drv_rx_bad", "drv_tx_dropped",
                                                  "drv_tx_bad"))
        unaccounted = r["lost"] - r["tap_drops"] - guest_losses
        print(f"  {label} burst: sent {r['sent']}, echoed {r['received']}, lost {r['lost']} "
              f"(tap {r['tap_drops']}, guest {guest_losses}), corrupt {r['corrupt']}; guest rx {gd.get('rx')}, "
              f"echoed {gd.get('echoed')}, driver irqs {gd.get('drv_irqs')}, kicks {gd.get('drv_kicks')}",
              file=sys.stderr)
        check(r["corrupt"] == 0, f"{r['corrupt']} frames came back corrupted")
        check(unaccounted <= 0, f"{unaccounted} of {r['sent']} frames lost without being counted "
                                f"(lost {r['lost']}, tap {r['tap_drops']}, guest {guest_losses})")
        check(r["received"] >= r["sent"] * 0.99, f"only {r['received']} of {r['sent']} frames echoed")

    def restart():
        pos = len(g.text())
        r = g.client("restart", tap, mac, "4000" if full else "1000", str(WINDOW))
        check(g.wait_for(r"nicecho: attached: .* generation 2", 30, pos), "the driver did not come back (generation 2)")
        print(f"  {label} restart: sent {r['sent']}, echoed {r['received']}, corrupt {r['corrupt']}; "
              f"before the crash {r['sent_before']} sent, {r['lost_before']} lost; outage {r['sent_outage']} "
              f"sent, {r['lost_outage']} lost; after the restart {r['sent_after']} sent, {r['lost_after']} lost "
              f"(tap drops {r['tap_drops']}; lost at {r['lost_after_at']} after the first echo); "
              f"guest {r['stats_after']}", file=sys.stderr)
        check(r["corrupt"] == 0, f"{r['corrupt']} frames came back corrupted")
        # At most the window in flight dies with the driver; every frame sent
        # once the restarted driver echoes (a window after the first echo
        # after the crash, nic_client.burst) comes back, byte-exact (but for
        # what the tap counted as dropped).
        check(r["lost_before"] <= WINDOW, f"{r['lost_before']} frames sent before the crash lost (window {WINDOW})")
        check(r["sent_after"] >= r["sent"] // 4,
              f"traffic did not resume after the driver restart: {r['sent_after']} of {r['sent']} frames after it")
        check(r["lost_after"] <= r["tap_drops"],
              f"{r['lost_after']} of {r['sent_after']} frames sent after the restart lost "
              f"(tap counted {r['tap_drops']} drops)")
        check(re.search(rf"keel: init: server nic{i} died", g.text()[pos:]) is not None,
              f"init did not report nic{i}'s crash")

    rep.run(f"{label}.arp_answered", arp)
    rep.run(f"{label}.ping_answered", ping)
    rep.run(f"{label}.every_frame_size_echoed_intact", sizes)
    rep.run(f"{label}.burst_losses_counted", burst)
    if full:
        rep.run(f"{label}.driver_restart_mid_traffic", restart)


def boot_and_test(rep: kq.Reporter, name: str, nics: list[str], rng: bool, image_dir, full: bool,
                  machine: str = "") -> None:
    g = Guest(name, nics, rng, image_dir, machine)
    try:
        if not g.boot_ready(rep, f"{name}.boot_ready", 180):
            return
        for i, nic in enumerate(nics):
            nic_tests(rep, g, i, f"{name}.nic{i}_{nic}", full)
        if rng:
            def rng_reads():
                check(g.wait_for(r"^rngtest: (PASS|FAIL)", 30), "rngtest said nothing")
                m = re.search(r"^rngtest: (PASS|FAIL.*)$", g.text(), re.M)
                check(m.group(1) == "PASS", m.group(1))
            rep.run(f"{name}.virtio_rng_reads_differ", rng_reads)
        else:
            rep.run(f"{name}.no_rng_device_reported", lambda: check(
                re.search(r"rng: no entropy device 0 on this machine; not started", g.text()) is not None,
                "init did not say the entropy device is missing"))
    finally:
        g.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nic", default="all", choices=["virtio", "e1000", "both", "pc", "all"])
    ap.add_argument("--image-dir", default=None)
    ns = ap.parse_args()
    rep = kq.Reporter()
    if ns.nic in ("virtio", "all"):
        boot_and_test(rep, "nic-virtio", ["virtio"], True, ns.image_dir, True)
    if ns.nic in ("e1000", "all"):
        boot_and_test(rep, "nic-e1000", ["e1000"], False, ns.image_dir, True)
    if ns.nic in ("both", "all"):
        boot_and_test(rep, "nic-both", ["virtio", "e1000"], False, ns.image_dir, False)
    if ns.nic in ("pc", "all"):
        # QEMU's default board (i440FX/PIIX): e1000 has no MSI, so this is
        # the INTx routing of that board; virtio uses MSI-X either way.
        boot_and_test(rep, "nic-pc", ["e1000", "virtio"], False, ns.image_dir, False, machine="pc")
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
