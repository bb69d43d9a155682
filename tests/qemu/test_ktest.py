#!/usr/bin/env python3
"""In-guest kernel tests (tests/ktest): boots Keel with `ktest debug-exit`.

init starts the `when ktest` servers: ktest, which exercises every system
call and prints `PASS name` / `FAIL name: why` per test and a closing
`N passed, N failed`, then ends the VM (QEMU status 1 when all passed);
and crashme, which faults on its first start so init must restart it.
Each guest test becomes one test here (`ktest.NAME`), plus:
  ktest.complete            the guest printed its closing line and exited
  init.restarts_faulting_server   the log shows the fault and the restart
Accelerator: KVM when it can run user space here, else TCG (the kernel's
boot probe decides; see kernel/usercheck.c).

The system-call fuzzer (tests/ktest/fuzz.c) takes its seed from the kernel
command line (fuzz-seed=N); this script picks a random one unless --seed is
given, and prints it, so any failure replays with `make ktest SEED=N`.

With --smp N (or KEEL_SMP=N, make's SMP=N) the guest has N vCPUs under
multi-threaded TCG; the tests then place their children on every core
(IPC and notification storms across cores, unmap and kill while the
victim runs on another core, the fuzzer's threads spread over the cores),
results are named ktest-Ncpu.*, and `ktest-Ncpu.all_cores_online` checks
the kernel started every core.

Usage: python3 tests/qemu/test_ktest.py [--image-dir DIR] [--accel auto|kvm|tcg] [--smp N]
           [--seed N] [--fuzz-rounds R] [--fuzz-calls C] [--fuzz-tasks T] [--fuzz-workers W]
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402

TIMEOUT = 600
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.M)
RESULT = re.compile(r"^(PASS|FAIL) (\S+)(?:: (.*))?$", re.M)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=None)
    ap.add_argument("--accel", default="auto")
    ap.add_argument("--seed", type=int, default=None,
                    help="the system-call fuzzer's first seed (default: random, printed)")
    ap.add_argument("--fuzz-rounds", type=int, default=3, help="fuzzer rounds (seeds seed, seed+1, ...)")
    ap.add_argument("--fuzz-calls", type=int, default=None, help="random calls per hostile thread")
    ap.add_argument("--fuzz-tasks", type=int, default=None, help="hostile tasks per round")
    ap.add_argument("--fuzz-workers", type=int, default=None, help="random-call threads per hostile task")
    ap.add_argument("--smp", type=int, default=0,
                    help="vCPUs (default $KEEL_SMP, else 1); with more than one, results are named ktest-Ncpu.*")
    ns = ap.parse_args()
    seed = ns.seed if ns.seed is not None else random.SystemRandom().randrange(1, 1_000_000_000)
    print(f"ktest: system-call fuzzer seed {seed} (replay: make ktest SEED={seed})", flush=True)
    fuzz = [f"fuzz-seed={seed}", f"fuzz-rounds={ns.fuzz_rounds}"]
    for key, val in (("fuzz-calls", ns.fuzz_calls), ("fuzz-tasks", ns.fuzz_tasks),
                     ("fuzz-workers", ns.fuzz_workers)):
        if val is not None:
            fuzz.append(f"{key}={val}")
    rep = kq.Reporter()
    smp = ns.smp or int(kq.os.environ.get("KEEL_SMP") or 1)
    prefix = "ktest" if smp == 1 else f"ktest-{smp}cpu"
    r = kq.boot(prefix, boot="direct", smp=smp, accel=ns.accel, args=["ktest", "debug-exit", *fuzz],
                image_dir=ns.image_dir, timeout=TIMEOUT + 150 * ns.fuzz_rounds, expect=[SUMMARY], fail_on=["keel: PANIC"],
                wait_exit=True, exit_grace=10)
    rep.guest_results(r.log, RESULT, lambda name: f"{prefix}.{name}")

    def complete():
        m = SUMMARY.search(r.log)
        if "keel: PANIC" in r.log:
            raise kq.TestFailure(f"kernel panic during ktest [{r.describe()}]; log {kq.rel(r.log_path)}")
        if not m:
            raise kq.TestFailure(f"no closing line from ktest [{r.describe()}]; log {kq.rel(r.log_path)}")
        if r.status != kq.STATUS_GUEST_PASS:
            raise kq.TestFailure(f"QEMU status {r.status}, expected 1 (all guest tests passed)")

    def restarted():
        if not re.search(r"keel: init: server crashme died: page fault .* restart 1 in \d+ ms", r.log):
            raise kq.TestFailure("no fault report for crashme in the log")
        if not re.search(r"keel: init: started crashme \(priority \d+, restarted\)", r.log):
            raise kq.TestFailure("crashme was not restarted")

    rep.run(f"{prefix}.complete", complete)
    rep.run("init.restarts_faulting_server", restarted)

    # Meltdown (kernel/cpuvuln.c): the harness's CPU model is AMD (EPYC, or
    # qemu64 whose vendor is AMD too): not affected.  The same kernel on an
    # Intel model without IA32_ARCH_CAPABILITIES.RDCL_NO must say it is.
    def meltdown_amd():
        if not re.search(r"^keel: cpu: Meltdown: not affected \(AuthenticAMD\)$", r.log, re.M):
            raise kq.TestFailure("no 'Meltdown: not affected (AuthenticAMD)' line in the ktest boot")

    def intel_boot(name: str) -> kq.BootResult:
        """The kernel up on an Intel CPU model (TCG: no IA32_ARCH_CAPABILITIES)."""
        return kq.boot(name, boot="direct", accel="tcg", args=["exit-when-up", "debug-exit"],
                       qemu_extra="-cpu qemu64,vendor=GenuineIntel", image_dir=ns.image_dir, timeout=60,
                       expect=["keel: kernel up"], fail_on=["keel: PANIC"])

    def meltdown_intel():
        ri = intel_boot("meltdown-intel")
        if not re.search(r"^keel: cpu: Meltdown: AFFECTED \(GenuineIntel, no IA32_ARCH_CAPABILITIES\): .*"
                         r"keys will not be held$", ri.log, re.M):
            raise kq.TestFailure(f"no AFFECTED line on an Intel CPU model; log {kq.rel(ri.log_path)}")
        if "keel: kernel up" not in ri.log:
            raise kq.TestFailure("the kernel did not come up on the Intel CPU model")

    def fpu_lazy_on_amd():
        if not re.search(r"^keel: cpu: FPU/SSE state switched lazily ", r.log, re.M):
            raise kq.TestFailure("no 'FPU/SSE state switched lazily' line in the ktest boot (kernel/fpu.c)")

    def fpu_eager_when_lazyfp_affected():
        ri = intel_boot("lazyfp-intel")
        if not re.search(r"^keel: cpu: FPU/SSE state switched eagerly \(LazyFP: ", ri.log, re.M):
            raise kq.TestFailure(f"no eager FPU line on a Meltdown-affected CPU model; log {kq.rel(ri.log_path)}")

    def cores_online():
        if not re.search(rf"^keel: smp: {smp} cpus online, big kernel lock$", r.log, re.M):
            raise kq.TestFailure(f"no 'keel: smp: {smp} cpus online' line; log {kq.rel(r.log_path)}")

    if smp > 1:
        rep.run(f"{prefix}.all_cores_online", cores_online)
    else:  # the CPU-model checks need one boot, not one per core count
        rep.run("cpu.meltdown_not_affected_on_amd", meltdown_amd)
        rep.run("cpu.meltdown_affected_on_intel_without_rdcl_no", meltdown_intel)
        rep.run("cpu.fpu_lazy_on_amd", fpu_lazy_on_amd)
        rep.run("cpu.fpu_eager_when_lazyfp_affected", fpu_eager_when_lazyfp_affected)
    if r.notes:
        for n in r.notes:
            print(f"note: {n}", file=sys.stderr)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
