#!/usr/bin/env python3
"""netd's administration protocol (abi/keel/netadm.h) under hostile calls:
boots Keel with `admintest`, where init starts NIC 0's driver, a netd
(`anetd`) that shares region admin-nat with the test program
`nat` (tests/console/netadmtest.c), and the same program again as
`intruder`, which may call netd but has no admin region.

netadmtest prints `PASS name` / `FAIL name: why` per check: lengths beyond
the region, unknown tables, bad ping arguments, a short message, an unknown
label, a rule netd refuses (line 2, column 34, the message in the region,
nothing left to commit), 4 KiB of random bytes as a configuration, prepare
then abort, prepare then commit (twice), and `show firewall` listing the
committed rule.  intruder checks that every call is NETADM_E_NOT_ADMIN.
Each guest check becomes one test here, plus:
  netadm.complete            both programs printed their closing line
  netadm.netd_survived       netd never faulted

Usage: python3 tests/qemu/test_netadm.py [--image-dir DIR] [--accel auto|kvm|tcg]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402

TIMEOUT = 300
CLOSING = re.compile(r"^(netadm|netadm-intruder): (\d+) passed, (\d+) failed$", re.M)
RESULT = re.compile(r"^(PASS|FAIL) (netadm(?:-intruder)?\.\S+?)(?:: (.*))?$", re.M)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=None)
    ap.add_argument("--accel", default="auto")
    ns = ap.parse_args()
    rep = kq.Reporter()
    r = kq.boot("netadm", boot="direct", accel=ns.accel, args=["admintest"], image_dir=ns.image_dir,
                timeout=TIMEOUT, expect=[CLOSING, CLOSING],  # the two closing lines, in either order
                fail_on=["keel: PANIC"])
    rep.guest_results(r.log, RESULT)

    def complete():
        found = {m.group(1) for m in CLOSING.finditer(r.log)}
        if found != {"netadm", "netadm-intruder"}:
            raise kq.TestFailure(f"closing lines from {sorted(found)} only [{r.describe()}]; log {kq.rel(r.log_path)}")

    def survived():
        if re.search(r"keel: init: server anetd died", r.log):
            raise kq.TestFailure(f"netd faulted; log {kq.rel(r.log_path)}")
        if "keel: init: started anetd" not in r.log:
            raise kq.TestFailure("netd was never started")

    rep.run("netadm.complete", complete)
    rep.run("netadm.netd_survived", survived)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
