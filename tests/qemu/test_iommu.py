#!/usr/bin/env python3
"""DMA isolation tests (issue 16 item 5): Keel under QEMU's intel-iommu.

Boot 1 (`iommu`): q35 with `-device intel-iommu`, an e1000 and a virtio-net
with iommu_platform=on, each on a tap in a private namespace, in the driver
test boot (`nictest`: init gives NIC N to its driver and starts `nicecho`).
Checks that the kernel turned DMA remapping on and init confined both
devices, that frames of every size and a burst go through both (so every
DMA the drivers make is inside their spaces), then, per NIC, in the middle
of traffic, asks the driver to point its device at an address outside its
memory (KEEL-DMASTRAY -> NIC_DMA_STRAY): the kernel must report the DMA
fault for that device and address, init must restart that driver for it
(and for nothing else: no NIC_CRASH, no CPU fault of the driver), traffic
must resume on the new generation, and the kernel and the other NIC must
carry on.

Boot 2 (`noiommu`): the same machine without the IOMMU: the kernel says so
in one line, init confines nothing, traffic works, and the same stray
request on e1000 (whose stray read reaches an address where nothing
answers) faults nothing and restarts nothing: the negative control of the
fault checks above.

Usage: python3 tests/qemu/test_iommu.py [--image-dir DIR]
Needs root (network namespaces, tap devices).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import keelqemu as kq  # noqa: E402
from test_nic import MAC, Guest, check  # noqa: E402

STRAY = 0x7ffffff000  # tests/nic/nicecho.c STRAY_ADDR
WINDOW = 32


def traffic(rep: kq.Reporter, g: Guest, i: int, label: str, n: int = 1000) -> None:
    tap, mac = g.taps[i], MAC[i]

    def sizes():
        r = g.client("sizes", tap, mac, "60", "1514")
        check(r["n_bad"] == 0 and r["n_lost"] == 0,
              f"{r['ok']} echoed intact; corrupted sizes {r['bad']} ({r['n_bad']}), lost {r['lost']} ({r['n_lost']})")

    def burst():
        r = g.client("burst", tap, mac, str(n), str(WINDOW))
        check(r["corrupt"] == 0, f"{r['corrupt']} frames came back corrupted")
        check(r["received"] >= r["sent"] * 0.99, f"only {r['received']} of {r['sent']} frames echoed")

    rep.run(f"{label}.every_frame_size_echoed_intact", sizes)
    rep.run(f"{label}.burst_echoed", burst)


def stray(g: Guest, i: int) -> dict:
    return g.client("restart", g.taps[i], MAC[i], "1000", str(WINDOW), "KEEL-DMASTRAY")


def iommu_boot(rep: kq.Reporter, image_dir) -> None:
    nics = ["e1000", "virtio"]
    g = Guest("iommu", nics, False, image_dir, iommu=True)
    try:
        if not g.boot_ready(rep, "iommu.boot_ready", 240):
            return

        def remapping_on():
            t = g.text()
            check(re.search(r"^keel: iommu: VT-d, \d+ unit\(s\), .*: DMA isolation on$", t, re.M) is not None,
                  "the kernel did not turn DMA remapping on")
            for n in range(len(nics)):
                check(re.search(rf"^keel: init: nic{n}: device [0-9a-f:.]+ confined to its driver's DMA memory",
                                t, re.M) is not None, f"init did not confine nic{n}'s device")
            check(re.search(r"^virtio: device offers VIRTIO_F_ACCESS_PLATFORM", t, re.M) is not None,
                  "virtio-net with iommu_platform=on did not offer ACCESS_PLATFORM")
        rep.run("iommu.remapping_on_and_devices_confined", remapping_on)

        for i, nic in enumerate(nics):
            traffic(rep, g, i, f"iommu.nic{i}_{nic}")

        for i, nic in enumerate(nics):
            label = f"iommu.nic{i}_{nic}"
            mark = len(g.text())

            def fault_restarts_driver(i=i, mark=mark):
                r = stray(g, i)
                check(g.wait_for(rf"^nicecho: attached: MAC {MAC[i]}, .* generation 2$", 60, mark),
                      "the driver did not come back (generation 2)")
                t = g.text()[mark:]
                m = re.search(r"^keel: iommu: DMA fault: device ([0-9a-f]{2}:[0-9a-f]{2}\.[0-7]) read "
                              rf"0x{STRAY:x} \(reason 0x[0-9a-f]+\); driver task nic{i}$", t, re.M)
                check(m is not None, f"the kernel did not report nic{i}'s device reading 0x{STRAY:x}")
                check(re.search(rf"^keel: init: nic{i}: its device {re.escape(m.group(1))} made \d+ DMA fault\(s\), "
                                rf"the last a read of 0x{STRAY:x}", t, re.M) is not None,
                      "init did not attribute the fault to the driver's device")
                check(re.search(rf"^keel: init: server nic{i} died: DMA fault", t, re.M) is not None,
                      "init did not restart the driver for its device's DMA fault")
                check(re.search(rf"^keel: init: started nic{i} \(priority \d+, restarted\)", t, re.M) is not None,
                      "init did not start the driver again")
                check(re.search(r"crashing on request|^keel: fault: task nic", t, re.M) is None,
                      "the driver itself faulted: the restart was not the DMA fault's")
                check(r["received_after_crash"] > 200,
                      f"traffic did not resume after the restart ({r['received_after_crash']} echoed after it)")
                check(g.wait_for(r"^nicecho: kernel invariant checks after the stray: 0 violation\(s\)$", 10, mark),
                      "the kernel's invariant checks (DMA spaces included) did not pass after the restart")
            rep.run(f"{label}.stray_dma_faults_and_driver_restarts", fault_restarts_driver)
            traffic(rep, g, i, f"{label}.after_restart", n=500)

        def others_unharmed():
            t = g.text()
            check(re.search(r"panic|KASSERT|assertion failed", t) is None, "the kernel complained")
            for n in range(len(nics)):
                died = re.findall(rf"^keel: init: server nic{n} died: (.*)$", t, re.M)
                check(len(died) == 1 and died[0].startswith("DMA fault"),
                      f"nic{n} died {len(died)} times: {died}")
            check(re.search(r"^keel: init: server echo\d died", t, re.M) is None, "an echo client died")
        rep.run("iommu.kernel_and_other_servers_unharmed", others_unharmed)
    finally:
        g.close()


def no_iommu_boot(rep: kq.Reporter, image_dir) -> None:
    g = Guest("noiommu", ["e1000"], False, image_dir)
    try:
        if not g.boot_ready(rep, "noiommu.boot_ready", 240):
            return

        def said_so():
            t = g.text()
            lines = re.findall(r"^keel: iommu: .*$", t, re.M)
            check(lines == ["keel: iommu: none (no ACPI DMAR table): DMA isolation off, devices can reach all RAM"],
                  f"expected one line saying there is no IOMMU, got {lines}")
            check(re.search(r"confined to its driver's DMA memory", t) is None, "init claims a device is confined")
        rep.run("noiommu.one_line_says_no_iommu", said_so)
        traffic(rep, g, 0, "noiommu.nic0_e1000")

        def stray_harmless():
            mark = len(g.text())
            r = stray(g, 0)
            check(g.wait_for(r"^nicecho: the driver survived the stray DMA \(no IOMMU\?\)$", 30, mark),
                  "nicecho did not see the driver survive")
            t = g.text()[mark:]
            check(re.search(r"DMA fault|died", t) is None, "a fault or restart without an IOMMU")
            check(r["received_after_crash"] > 200, f"traffic stopped ({r['received_after_crash']} echoed after)")
        rep.run("noiommu.stray_read_reports_nothing", stray_harmless)
    finally:
        g.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=None)
    ap.add_argument("--only", choices=["iommu", "noiommu"], default=None)
    ns = ap.parse_args()
    rep = kq.Reporter()
    if ns.only in (None, "iommu"):
        iommu_boot(rep, ns.image_dir)
    if ns.only in (None, "noiommu"):
        no_iommu_boot(rep, ns.image_dir)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
