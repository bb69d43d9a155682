#!/usr/bin/env python3
"""make bench: Keel's figures, as BENCH lines.

Boots the image with `kbench debug-exit` (the in-guest micro-benchmarks,
bench/kbench.c) and passes its BENCH lines through, then adds what the host
measures itself: the boot time to `keel: kernel up`, `keel: init started`
and `keel: ready` (with the NIC driver) through QEMU's direct (-kernel) path
and through PXE, and the bytes a PXE server sends.
The accelerator is whatever the harness picks (KVM when Keel's user space
runs under it, else TCG); it is printed, since TCG figures are emulation
figures: compare ratios within one run, never absolute values across runs.

Then the Linux side (bench/linux.py): Keel's figures of this run are written
to build/bench/keel.json and handed to it; it boots Debian's kernel on the
same QEMU settings, prints the Linux figures and one RATIO line per pair.
bench/README.md says what each figure measures.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "qemu"))
import keelqemu as kq  # noqa: E402

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("bench_linux", HERE / "linux.py")
lx = importlib.util.module_from_spec(_spec)
sys.modules["bench_linux"] = lx
_spec.loader.exec_module(lx)

BENCH = re.compile(r"^(BENCH|INFO) .*$", re.M)
FIGURE = re.compile(r"^BENCH name=(\S+) value=(\S+) unit=(\S+)", re.M)
KEEL_JSON = kq.BUILD / "bench" / "keel.json"
# The boot whose `keel: ready` is paired with Linux's `linux: ready` (NIC
# driver attached, link up): today `nictest` (virtio-net driver + its echo
# client); the appliance's own boot (netd, tlsd) once it starts them.
READY_ARGS = ["nictest"]
MARKS = {"keel: kernel up": "kernel_up", "keel: init started": "init_started", "keel: ready": "nic_ready"}


def timed_boots(boot: str, image_dir: str, runs: int, accel_req: str, mem: int,
                nic: str) -> tuple[dict[str, list[float]], str]:
    """Boots with READY_ARGS through `boot` (direct | pxe), each serial line
    stamped as it arrives (the clock and method of the Linux side,
    bench/linux.py): QEMU start to `keel: kernel up`, to `keel: init started`
    (the first user process runs) and to `keel: ready` (every server up: the
    NIC driver has attached and seen the link)."""
    times: dict[str, list[float]] = {m: [] for m in MARKS}
    accel = "?"
    for i in range(runs):
        cfg = kq.Config(boot=boot, accel=accel_req, nic=nic, mem=mem, serial="stdio", args=READY_ARGS,
                        image_dir=image_dir)
        work = Path(tempfile.mkdtemp(prefix=f"bench-{boot}-", dir=kq.BUILD))
        try:
            tftp = kq.pxe_tftp_dir(kq.Layout.load(image_dir), READY_ARGS, work / "tftp") if boot == "pxe" else None
            plan = kq.build_command(cfg, tftp_dir=tftp)
            r = lx.timed_boot(f"bench-boot-{boot}-{i}", plan.cmd, plan.accel, MARKS,
                              timeout=180, fail_on=["keel: PANIC", "KVM internal error"])
        finally:
            shutil.rmtree(work, ignore_errors=True)
        missing = [m for m in MARKS if m not in r.marks]
        if missing:
            raise SystemExit(f"bench: the {boot} boot with `{' '.join(READY_ARGS)}` did not reach "
                             f"`{missing[0]}`; log {kq.rel(r.log_path)}")
        for m in MARKS:
            times[m].append(r.marks[m])
        accel = plan.accel
    return times, accel


START = time.monotonic()
STEPS = 7


def progress(step: int, what: str) -> None:
    """A progress line on stderr (make bench runs for many minutes): the
    step, the time since the start and what runs now."""
    print(f"PROGRESS step={step}/{STEPS} elapsed={time.monotonic() - START:.0f}s now=\"{what}\"",
          file=sys.stderr, flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=str(kq.DEFAULT_IMAGE_DIR))
    ap.add_argument("--boot-runs", type=int, default=3)
    ap.add_argument("--accel", default="auto", help="auto | kvm | tcg (Keel's side; Linux follows it)")
    ap.add_argument("--no-linux", action="store_true", help="Keel's figures only (no Linux guest, no ratios)")
    ap.add_argument("--net-runs", type=int, default=5, help="runs of each TCP and TLS figure (medians of 5: noisy)")
    ap.add_argument("--mb", type=int, default=8, help="MB into the TCP sink per run")
    ap.add_argument("--conns", type=int, default=100, help="TCP connections opened and closed per run")
    ap.add_argument("--no-net", action="store_true", help="no TCP or TLS figures")
    ap.add_argument("--tls-seconds", type=float, default=5, help="seconds of each TLS handshake run")
    ap.add_argument("--bulk-mb", type=int, default=8, help="MB of the TLS bulk GET")
    ap.add_argument("--no-min-mem", action="store_true", help="skip the smallest -m bisection (TLS)")
    ns = ap.parse_args()
    mem, nic = 256, "virtio"
    figures: dict[str, dict[str, float]] = {}
    accel_of: dict[str, str] = {}          # figure -> the accelerator it ran under
    best: dict[str, dict[str, float]] = {}  # figure -> its best run (TCP and TLS figures)
    info_lines: list[str] = []             # INFO lines with min_cycles= / min_ms=

    def bench(name: str, value, unit: str, accel: str = "") -> None:
        print(f"BENCH name={name} value={value} unit={unit}", flush=True)
        figures.setdefault(name, {})[unit] = float(value)
        if accel:
            accel_of[name] = accel

    progress(1, "kbench: Keel's micro-benchmarks (and under -icount)")
    r = kq.boot("kbench", boot="direct", image_dir=ns.image_dir, accel=ns.accel, mem=mem, nic=nic,
                args=["kbench", "debug-exit"], expect=["kbench: done"], fail_on=["keel: PANIC"],
                timeout=600, wait_exit=True, quiet=True)
    if not r.all_matched:
        print(f"bench: the in-guest benchmarks did not finish ({r.describe()}); "
              f"log {kq.rel(r.log_path)}", file=sys.stderr)
        return 1
    print(f"INFO kernel micro-benchmarks ran under accel={r.accel}"
          + (" (KVM cannot run Keel's user space on this host)" if r.accel == "tcg" else ""))
    kbench_accel = r.accel
    for m in BENCH.finditer(r.log):
        print(m.group(0))
        info_lines.append(m.group(0))
    for m in FIGURE.finditer(r.log):
        figures.setdefault(m.group(1), {})[m.group(3)] = float(m.group(2))
        accel_of[m.group(1)] = kbench_accel

    # With two vCPUs (multi-threaded TCG): the same figures, and the IPC round
    # trip with the echo task on the other core.  Printed as name_2cpu.
    r2 = kq.boot("kbench-2cpu", boot="direct", image_dir=ns.image_dir, accel=ns.accel, mem=mem, nic=nic,
                 args=["kbench", "debug-exit"], expect=["kbench: done"], fail_on=["keel: PANIC"],
                 timeout=600, wait_exit=True, quiet=True, smp=2)
    if r2.all_matched:
        for m in FIGURE.finditer(r2.log):
            if m.group(1).startswith("ipc_rtt_cross_core") or m.group(1) in ("ipc_rtt_fast", "null_syscall"):
                name = m.group(1) if m.group(1).startswith("ipc_rtt_cross_core") else m.group(1) + "_2cpu"
                bench(name, m.group(2), m.group(3), r2.accel)
    else:
        print(f"INFO name=ipc_rtt_cross_core skipped (the 2-vCPU kbench boot did not finish: {r2.describe()}; "
              f"log {kq.rel(r2.log_path)})", flush=True)

    # The same micro-benchmarks with the guest's clock counting instructions
    # (TCG's -icount shift=0: one ns of guest time per instruction), so each
    # ns figure is an instruction count that TCG's software TLB flushes on a
    # CR3 write cannot inflate.  Printed as unit=insn.
    ri = kq.boot("kbench-icount", boot="direct", image_dir=ns.image_dir, accel="tcg", mem=mem, nic=nic,
                 args=["kbench", "debug-exit"], expect=["kbench: done"], fail_on=["keel: PANIC"],
                 qemu_extra="-icount shift=0", timeout=900, wait_exit=True, quiet=True)
    if ri.all_matched:
        for m in FIGURE.finditer(ri.log):
            if m.group(3) == "ns":
                bench(m.group(1), m.group(2), "insn")
        ins = {k: v["insn"] for k, v in figures.items() if "insn" in v}
        if ins.get("null_syscall") and ins.get("ipc_rtt_fast"):
            print(f"BENCH name=ipc_rtt_fast_over_2_null_syscalls_insn "
                  f"value={ins['ipc_rtt_fast'] / (2 * ins['null_syscall']):.2f} unit=ratio", flush=True)
        print("INFO name=insn_figures clock=\"QEMU -icount shift=0 (TCG): guest ns = instructions executed\" "
              "what=\"the kbench figures above, counted in instructions\"", flush=True)
    else:
        print(f"INFO name=insn_figures skipped (the -icount kbench boot did not finish: {ri.describe()}; "
              f"log {kq.rel(ri.log_path)})", flush=True)

    progress(2, f"timed boots: {ns.boot_runs} direct and {ns.boot_runs} PXE")
    for boot in ("direct", "pxe"):
        times, accel = timed_boots(boot, ns.image_dir, ns.boot_runs, ns.accel, mem, nic)
        for mark, what in MARKS.items():
            t, name = times[mark], f"boot_{boot}_to_{what}"
            bench(name, f"{statistics.median(t) * 1000:.0f}", "ms", accel)
            info_lines.append(f"INFO name={name} min_ms={min(t) * 1000:.0f}")
            print(f"INFO name={name} runs={len(t)} min_ms={min(t) * 1000:.0f} max_ms={max(t) * 1000:.0f} "
                  f"accel={accel} clock=host_monotonic (QEMU start to the serial line `{mark}`; "
                  f"kernel args `{' '.join(READY_ARGS)}`, nic={nic})", flush=True)
    # The drivers: frames through virtio-net and e1000 (tap in a namespace).
    progress(3, "bench/nic.py: frames through virtio-net and e1000")
    subprocess.run([sys.executable, str(HERE / "nic.py"), ns.image_dir], check=False)
    if not ns.no_net:
        # netd: TCP into socktest's sink, connections/s, forwarding through 100 rules.
        net_json = kq.BUILD / "bench" / "keel-tcp.json"
        for old in (net_json, kq.BUILD / "bench" / "keel-tls.json"):
            old.unlink(missing_ok=True)   # figures of an earlier run never count
        net_json.parent.mkdir(parents=True, exist_ok=True)
        progress(4, f"bench/tcp.py: netd TCP sink, connections, forwarding ({ns.net_runs} runs each)")
        subprocess.run([sys.executable, str(HERE / "tcp.py"), "--image-dir", ns.image_dir, "--accel", ns.accel,
                        "--runs", str(ns.net_runs), "--mb", str(ns.mb), "--conns", str(ns.conns),
                        "--json", str(net_json)], check=False)
        # tlsd: handshakes, bulk, ceilings, boot to serving, smallest -m.
        progress(5, f"bench/tls.py: tlsd handshakes, bulk, memory ({ns.net_runs} runs each)")
        tls_json = kq.BUILD / "bench" / "keel-tls.json"
        subprocess.run([sys.executable, str(HERE / "tls.py"), "--image-dir", ns.image_dir, "--accel", ns.accel,
                        "--runs", str(ns.net_runs), "--seconds", str(ns.tls_seconds), "--bulk-mb", str(ns.bulk_mb),
                        "--boot-runs", str(ns.boot_runs), "--json", str(tls_json)]
                       + ([] if ns.no_min_mem else ["--min-mem"]), check=False)
        for jpath in (net_json, tls_json):
            if not jpath.exists():
                continue
            j = json.loads(jpath.read_text())
            for name, units in j["figures"].items():
                figures.setdefault(name, {}).update(units)
                accel_of[name] = j["accel"]
            for name, units in j.get("best", {}).items():
                best.setdefault(name, {}).update(units)
    progress(6, "image sizes")
    image = Path(ns.image_dir)
    lay = kq.Layout.load(image)
    mods = sum((image / m).stat().st_size for m, _ in lay.modules) + (image / "boot.ipxe").stat().st_size
    # What a BIOS PXE boot fetches (boot.ipxe names both kernels; it loads one).
    bench("pxe_bytes_sent", (image / lay.kernel).stat().st_size + mods, "bytes")
    print(f"INFO name=uefi_pxe_bytes_sent value={(image / kq.EFI_KERNEL).stat().st_size + mods} unit=bytes "
          f"what=\"keel.efi + modules + boot.ipxe: what a UEFI PXE boot fetches\"", flush=True)
    bench("kernel_bytes", (image / "keel").stat().st_size, "bytes")
    sys.stdout.flush()
    if ns.no_linux:
        return 0

    # The Linux side, with Keel's figures of this run for the RATIO lines.
    progress(7, "bench/linux.py: the Linux guest, the same figures, then the RATIO lines")
    KEEL_JSON.parent.mkdir(parents=True, exist_ok=True)
    KEEL_JSON.write_text(json.dumps({"accel": kbench_accel, "mem": mem, "nic": nic, "machine": kq.DEFAULT_MACHINE,
                                     "figures": figures, "accel_of": accel_of, "best": best,
                                     "mins": lx.mins_of("\n".join(info_lines))}, indent=1) + "\n")
    p = subprocess.run([sys.executable, str(HERE / "linux.py"), "--keel", str(KEEL_JSON),
                        "--boot-runs", str(ns.boot_runs), "--net-runs", str(ns.net_runs), "--mb", str(ns.mb),
                        "--conns", str(ns.conns), "--tls-seconds", str(ns.tls_seconds), "--bulk-mb", str(ns.bulk_mb)]
                       + (["--no-net"] if ns.no_net else []) + ([] if ns.no_min_mem else ["--min-mem"]), check=False)
    return p.returncode


if __name__ == "__main__":
    sys.exit(main())
