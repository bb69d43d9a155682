#!/usr/bin/env python3
"""Boot tests for Keel under QEMU.

  pxe-boot         real PXE path: TCG, QEMU user-net DHCP+TFTP, Debian's iPXE ROM
  direct-boot      -kernel/-initrd (KVM when usable)
  fault-ud/gp/pf/de  `debug-exit fault=X`: panic dump names the vector, has
                   RIP=/CR2=/RSP=/backtrace, ends with `keel: halted`, QEMU 35
  fault-df         double fault is caught and dumped (not a silent triple fault)

Usage: python3 tests/qemu/test_boot.py [--image-dir DIR] [--accel auto|kvm|tcg]
                                       [--jobs N] [--only NAME[,NAME...]]
Logs: build/test-logs/NAME.log (serial) and NAME.qemu.log (QEMU's own output).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402

PXE_TIMEOUT = 90
DIRECT_TIMEOUT = 30

UP = "keel: kernel up"
IPXE_BANNER = re.compile(r"iPXE (\d[^\s]*|\(http://ipxe\.org\))")
PANIC = "keel: PANIC"
# QEMU's q35 without -device intel-iommu has no DMAR table: the kernel says
# in one line that devices are not confined (test_iommu.py boots with one).
NO_IOMMU = re.compile(r"^keel: iommu: none \(no ACPI DMAR table\): DMA isolation off, devices can reach all RAM$",
                      re.M)


def module_re(role: str) -> re.Pattern:
    """A module line for `role`, named either way the kernel may show it:
    name=servers.cpio ... cmdline="servers", or name=servers."""
    r = re.escape(role)
    return re.compile(rf'^keel: module \d+: (?=.*(name=(\S*/)?{r}(\.cpio)?(\s|$)|cmdline="{r}"))',
                      re.M)


FAULTS = {          # switch: (vector, mnemonic)
    "ud": (6, "UD"),
    "gp": (13, "GP"),
    "pf": (14, "PF"),
    "de": (0, "DE"),
    "df": (8, "DF"),
}


def failure(r: kq.BootResult, reason: str) -> kq.TestFailure:
    e = kq.TestFailure(f"{reason} [{r.describe()}; log {kq.rel(r.log_path)}]")
    detail = [f"$ {shlex.join(r.cmd)}", "--- serial log (tail) ---", r.tail(20)]
    q = r.qemu_output.strip()
    q = "\n".join(l for l in q.splitlines() if "warning:" not in l)
    if q:
        detail += ["--- qemu output (tail) ---", "\n".join(q.splitlines()[-10:])]
    e.detail = "\n".join(detail)
    return e


def require_matched(r: kq.BootResult) -> None:
    if r.stopped_on:
        raise failure(r, f"unexpected {r.stopped_on!r} in serial log")
    if not r.all_matched:
        raise failure(r, "missing (in order): " + "; ".join(map(repr, r.missing())))


def require_not_panicked(r: kq.BootResult) -> None:
    if r.status == kq.STATUS_GUEST_PANIC:
        raise failure(r, "guest panicked (QEMU status 35)")
    if r.status not in (None, kq.STATUS_GUEST_PASS):
        raise failure(r, f"QEMU exited with status {r.status}"
                         + (" (reset/triple fault)" if r.status == 0 else ""))


class Tests:
    def __init__(self, image_dir, accel):
        self.image_dir = image_dir
        self.accel = accel

    def pxe_boot(self):
        r = kq.boot("pxe-boot", boot="pxe", accel="tcg", nic="virtio",
                    image_dir=self.image_dir, timeout=PXE_TIMEOUT,
                    expect=[IPXE_BANNER, module_re("servers"), module_re("site"), UP],
                    fail_on=[PANIC], until=[UP], quiet=True)
        require_matched(r)
        require_not_panicked(r)
        sys.stderr.write(f"  pxe-boot: kernel up after {r.duration:.1f}s ({r.accel})\n")

    def direct_boot(self):
        r = kq.boot("direct-boot", boot="direct", accel=self.accel,
                    image_dir=self.image_dir, timeout=DIRECT_TIMEOUT,
                    expect=[NO_IOMMU, module_re("servers"), module_re("site"), UP],
                    fail_on=[PANIC], until=[UP])
        require_matched(r)
        require_not_panicked(r)

    def fault(self, sw: str):
        vec, mn = FAULTS[sw]
        # "keel: PANIC: exception 6 (#UD) ..." or "... (#UD invalid opcode) ..."
        panic_re = re.compile(rf"keel: PANIC: exception {vec} \(#{mn}\b[^)]*\)")
        r = kq.boot(f"fault-{sw}", boot="direct", accel=self.accel,
                    image_dir=self.image_dir, timeout=DIRECT_TIMEOUT,
                    args=["debug-exit", f"fault={sw}"],
                    expect=[UP, panic_re, "keel: halted"], wait_exit=True,
                    until=["keel: halted"],
                    # a different panic: stop now instead of at the timeout (a whole
                    # line: a line read half-written would look like a different one)
                    fail_on=[re.compile(rf"keel: PANIC: (?!exception {vec} \(#{mn}\b).*\n")])
        text = r.log
        if r.stopped_on:
            raise failure(r, f"wrong panic line: {r.stopped_on!r}, "
                             f"want 'exception {vec} (#{mn})'")
        if not r.matched[1]:
            other = re.search(r"keel: PANIC:.*", text)
            if other:
                raise failure(r, f"wrong panic line: {other.group(0)!r}, "
                                 f"want 'exception {vec} (#{mn})'")
            if r.status == kq.STATUS_RESET:
                raise failure(r, "no dump: QEMU exited 0 (silent triple fault/reset)")
        require_matched(r)
        start = panic_re.search(text).start()
        end = text.find("keel: halted", start)
        dump = text[start:end]
        missing = [k for k in ("RIP=", "CR2=", "RSP=", "backtrace:") if k not in dump]
        if missing:
            raise failure(r, "panic dump lacks " + ", ".join(missing))
        if r.status != kq.STATUS_GUEST_PANIC:
            why = {None: "QEMU did not exit (killed at timeout): debug-exit not written?",
                   kq.STATUS_RESET: "QEMU exited 0 (reset/triple fault)"}.get(
                       r.status, f"QEMU exited with status {r.status}")
            raise failure(r, f"want QEMU status 35; {why}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image-dir", default=os.environ.get("KEEL_IMAGE_DIR") or None)
    ap.add_argument("--accel", default=os.environ.get("ACCEL") or "auto",
                    help="accelerator for the direct-boot tests (PXE always uses TCG)")
    ap.add_argument("--jobs", type=int, default=2, help="QEMU instances at once")
    ap.add_argument("--only", default="", help="comma-separated test names")
    ns = ap.parse_args()

    t = Tests(ns.image_dir, ns.accel)
    tests = [("pxe-boot", t.pxe_boot), ("direct-boot", t.direct_boot)]
    tests += [(f"fault-{sw}", (lambda sw=sw: t.fault(sw))) for sw in FAULTS]
    if ns.only:
        want = set(ns.only.split(","))
        unknown = want - {n for n, _ in tests}
        if unknown:
            ap.error(f"unknown test(s): {', '.join(sorted(unknown))}")
        tests = [(n, f) for n, f in tests if n in want]

    rep = kq.Reporter()
    try:
        kq.probe()          # once, before the threads start
    except kq.KeelQemuError as e:
        for n, _ in tests:
            rep.fail(n, str(e))
        return rep.finish()
    # The PXE test (slowest, TCG) is submitted first so it overlaps the rest.
    try:
        with ThreadPoolExecutor(max_workers=max(1, ns.jobs)) as pool:
            futs = [pool.submit(rep.run, n, f) for n, f in tests]
            for f in futs:
                f.result()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
