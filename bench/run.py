#!/usr/bin/env python3
"""make bench: Keel's figures, as BENCH lines.

Boots the image with `kbench debug-exit` (the in-guest micro-benchmarks,
bench/kbench.c) and passes its BENCH lines through, then adds what the host
measures itself: the boot time to `keel: kernel up` through QEMU's direct
(-kernel) path and through PXE, and the bytes a PXE server sends.
The accelerator is whatever the harness picks (KVM when Keel's user space
runs under it, else TCG); it is printed, since TCG figures are emulation
figures: compare ratios within one run, never absolute values across runs.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "qemu"))
import keelqemu as kq  # noqa: E402

BENCH = re.compile(r"^(BENCH|INFO) .*$", re.M)
UP = re.compile(r"^keel: kernel up$", re.M)


def boot_seconds(boot: str, image_dir: str, runs: int) -> tuple[float, float, float, str]:
    times, accel = [], "?"
    for i in range(runs):
        r = kq.boot(f"bench-boot-{boot}-{i}", boot=boot, image_dir=image_dir, accel="auto",
                    args=[], expect=[UP], timeout=120, quiet=True)
        if not r.all_matched:
            raise SystemExit(f"bench: {boot} boot did not reach `keel: kernel up` ({r.describe()})")
        times.append(r.duration)
        accel = r.accel
    return statistics.median(times), min(times), max(times), accel


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=str(kq.DEFAULT_IMAGE_DIR))
    ap.add_argument("--boot-runs", type=int, default=3)
    ns = ap.parse_args()

    r = kq.boot("kbench", boot="direct", image_dir=ns.image_dir, accel="auto",
                args=["kbench", "debug-exit"], expect=["kbench: done"], fail_on=["keel: PANIC"],
                timeout=600, wait_exit=True, quiet=True)
    if not r.all_matched:
        print(f"bench: the in-guest benchmarks did not finish ({r.describe()}); "
              f"log {kq._rel(r.log_path)}", file=sys.stderr)
        return 1
    print(f"INFO kernel micro-benchmarks ran under accel={r.accel}"
          + (" (KVM cannot run Keel's user space on this host)" if r.accel == "tcg" else ""))
    for m in BENCH.finditer(r.log):
        print(m.group(0))

    for boot in ("direct", "pxe"):
        med, lo, hi, accel = boot_seconds(boot, ns.image_dir, ns.boot_runs)
        print(f"BENCH name=boot_{boot}_to_kernel_up value={med * 1000:.0f} unit=ms")
        print(f"INFO name=boot_{boot}_to_kernel_up runs={ns.boot_runs} min_ms={lo * 1000:.0f} "
              f"max_ms={hi * 1000:.0f} accel={accel} clock=host_monotonic (QEMU start to the line)")
    # The drivers: frames through virtio-net and e1000 (tap in a namespace).
    import subprocess
    subprocess.run([sys.executable, str(Path(__file__).resolve().parent / "nic.py"), ns.image_dir], check=False)
    image = Path(ns.image_dir)
    sent = sum(p.stat().st_size for p in image.iterdir() if p.is_file())
    print(f"BENCH name=pxe_bytes_sent value={sent} unit=bytes")
    print(f"BENCH name=kernel_bytes value={(image / 'keel').stat().st_size} unit=bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
