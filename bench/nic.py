#!/usr/bin/env python3
"""NIC driver benchmarks (make bench): frames per second and MB/s through
each driver and the nicecho client, for 64- and 1514-byte frames, and how
many IPC calls (NIC_KICK) and notifications (driver interrupts) each frame
cost.  The host side sends over a tap in a private namespace with a window
of frames in flight; a figure counts frames that came back (a round trip
through driver RX, nicecho, driver TX).  Printed as BENCH lines.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "qemu"))
import keelqemu as kq  # noqa: E402
import test_nic  # noqa: E402

COUNT = 20000
WINDOW = 64


def main() -> int:
    image_dir = sys.argv[1] if len(sys.argv) > 1 else None
    for nic in ("virtio", "e1000"):
        g = test_nic.Guest(f"bench-{nic}", [nic], False, image_dir)
        try:
            if not g.wait_for(r"^keel: ready$", 180):
                print(f"INFO name=nic_{nic} skipped: the guest did not get ready", flush=True)
                continue
            for size in (64, 1514):
                r = g.client("flood", g.taps[0], test_nic.MAC[0], str(COUNT), str(size), str(WINDOW))
                secs = max(r["seconds"], 1e-6)
                fps = r["received"] / secs
                gd = r["guest"]
                frames = max(gd.get("rx", 0), 1)
                per_frame = (gd.get("drv_kicks", 0) + gd.get("drv_irqs", 0)) / frames
                print(f"BENCH name=nic_{nic}_echo_{size}B_fps value={fps:.0f} unit=frames/s")
                print(f"BENCH name=nic_{nic}_echo_{size}B_mbps value={fps * size * 2 / 1e6:.2f} unit=MB/s")
                print(f"BENCH name=nic_{nic}_{size}B_ipc_and_notifications_per_frame value={per_frame:.3f} "
                      f"unit=calls+irqs/frame")
                print(f"INFO name=nic_{nic}_echo_{size}B sent={r['sent']} echoed={r['received']} "
                      f"seconds={secs:.2f} kicks={gd.get('drv_kicks')} irqs={gd.get('drv_irqs')} "
                      f"window={WINDOW} accel={g.accel}", flush=True)
        finally:
            g.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
