#!/usr/bin/env python3
"""The saved configuration (appliance/console/store.c, consoled_store.c,
drivers/virtio/blk.c): commits on a virtio-blk disk survive reboots, and a
damaged disk leaves the previous configuration running.

Four boots of one private image (its own site.cpio) with one disk image, a
fresh sparse file, as an operator would run them:

1. The site file becomes generation 1; four commits (hostnames s1-s4, the
   third adds a firewall rule for port 2222) are generations 2-5;
   `show configuration source` names the newest; `reboot` (QEMU runs with
   -no-reboot, so the reset ends it).
2. The same disk: the prompt is s4's, the source line says generation 5,
   netd is given the saved rules (`show firewall` lists port 2222);
   `rollback 3` loads s1, whose commit is generation 6.
3. One byte of generation 6's record (header or text, chosen at random)
   flipped in the image: the boot says the newest record is damaged and
   generation 5 (s4) runs.
4. The image truncated at a random byte inside generation 5's record: the
   boot says so and generation 4 (s3) runs, with its rule.

Usage: python3 tests/qemu/test_store.py [--image-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import struct
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402
from test_console import Console as ConsoleBase  # noqa: E402

SECTOR = 512
SLOT_SECTORS = 1 + 65536 // SECTOR  # appliance/console/store.h: CST_SLOT_SECTORS
SITE_CONF = """# test_store: the site file
hostname s0
log info
interface wan nic 0 address 10.0.2.15/24
pass in on wan proto icmp keep state
"""


class Console(ConsoleBase):
    def read_until(self, pat: str, timeout: float = 20.0) -> bool:
        return super().read_until(pat, timeout)

    def cmd(self, line: str, prompt: str, timeout: float = 30.0) -> str:
        self.read_until("\x00never", 0.3)  # output already on its way (a redrawn prompt) is not the answer
        self.cursor = len(self.log)
        start = self.cursor
        self.s.sendall(line.encode() + b"\r")
        check(self.read_until(line + "\r\n", timeout), f"{line!r} was not echoed")
        check(self.read_until(prompt, timeout), f"no prompt {prompt!r} after {line!r}")
        return self.text_since(start)


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise kq.TestFailure(msg)


class Boot(netlab.Lab):
    """One boot with a virtio-blk disk and its console on a unix socket."""

    def __init__(self, tmp: Path, name: str, image_dir: Path, disk: Path):
        super().__init__("ks")
        self.name = name
        extra = f"-drive file={disk},format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0"
        cfg = kq.Config(boot="direct", accel="auto", image_dir=image_dir, qemu_extra=extra)
        self.proc, self.con = self.console_guest(cfg, tmp, name, console=Console, log=f"store-{name}")


def record_extent(disk: Path, gen: int) -> tuple[int, int]:
    """Byte offset and length (header + text) of generation GEN's record."""
    off = (gen % 64) * SLOT_SECTORS * SECTOR
    with open(disk, "rb") as f:
        f.seek(off)
        hdr = f.read(SECTOR)
    check(hdr[:8] == b"KEELCONF", f"slot of generation {gen} holds no record")
    check(struct.unpack_from("<Q", hdr, 16)[0] == gen, f"slot holds another generation")
    text_len = struct.unpack_from("<I", hdr, 40)[0]
    return off, SECTOR + text_len


def first_boot(rep, c: Console) -> bool:
    def fresh_disk():
        check(c.read_until("saved configuration: generation 1 (site archive", 120),
              "the site file did not become generation 1")
        check(c.read_until("s0> ", 30), "no s0> prompt")
    if not rep.run("store.site_file_is_generation_1", fresh_disk):
        return False

    def commits():
        c.cmd("configure", "s0# ")
        for i in range(1, 5):
            c.cmd(f"set hostname s{i}", "# ")
            if i == 3:
                c.cmd("pass in on wan proto tcp to port 2222 keep state", "# ")
            out = c.cmd("commit", f"s{i}# ")
            check("commit complete" in out and "not saved" not in out, f"commit {i}: {out!r}")
        c.cmd("exit", "s4> ")
        out = c.cmd("show configuration source", "s4> ")
        check("saved configuration: generation 5 (commit" in out, f"show configuration source: {out!r}")
        check("5 saved configurations" in out, f"no count of 5 records: {out!r}")
    if not rep.run("store.four_commits_saved", commits):
        return False

    def reboot():
        c.s.sendall(b"reboot\r")
        check(c.read_until("rebooting", 30), "no `rebooting`")
    return rep.run("store.reboot", reboot)


def second_boot(rep, c: Console) -> bool:
    def survives():
        check(c.read_until("saved configuration: generation 5 (commit", 120), "generation 5 is not what runs")
        check(c.read_until("s4> ", 30), "no s4> prompt after the reboot")
        check(c.read_until("netd runs the running configuration again", 60), "netd was not given the saved rules")
        out = c.cmd("show firewall", "s4> ")
        check("2222" in out, f"netd does not run the saved rule for port 2222: {out!r}")
    if not rep.run("store.commit_survives_reboot", survives):
        return False

    def rollback3():
        c.cmd("configure", "s4# ")
        out = c.cmd("rollback 3", "s4# ")
        check("load complete" in out, f"rollback 3: {out!r}")
        out = c.cmd("show | compare", "s4# ")
        check("+ hostname s1" in out and "- hostname s4" in out, f"rollback 3 did not load s1: {out!r}")
        out = c.cmd("commit", "s1# ")
        check("commit complete" in out, f"commit of rollback 3: {out!r}")
        out = c.cmd("show configuration source", "s1# ")
        check("generation 6" in out, f"the rollback's commit is not generation 6: {out!r}")
    return rep.run("store.rollback_3_after_reboot", rollback3)


def damaged_boot(rep, c: Console, gen_runs: int, host: str, rule: bool, name: str) -> None:
    def fn():
        check(c.read_until(f"the newest record (slot {gen_runs + 1}, generation {gen_runs + 1}) is damaged", 120),
              "no console line about the damaged record")
        check(c.read_until(f"saved configuration: generation {gen_runs} (", 30),
              f"generation {gen_runs} does not run")
        check(c.read_until(f"{host}> ", 30), f"no {host}> prompt")
        if rule:
            check(c.read_until("netd runs the running configuration again", 60), "netd was not given the rules")
            out = c.cmd("show firewall", f"{host}> ")
            check("2222" in out, f"generation {gen_runs}'s rule is not in force: {out!r}")
    rep.run(name, fn)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=None)
    ns = ap.parse_args()
    rep = kq.Reporter()
    rnd = random.Random()
    seed = rnd.randrange(1 << 30)
    rnd.seed(seed)
    print(f"test_store: random seed {seed}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="keel-store-"))
    try:
        src = Path(ns.image_dir or kq.DEFAULT_IMAGE_DIR)
        img = netlab.make_image(src, tmp / "img", SITE_CONF, site=tmp / "conf")
        disk = tmp / "disk.img"
        with open(disk, "wb") as f:
            f.truncate(8 << 20)

        with Boot(tmp, "1", img, disk) as b:
            ok = first_boot(rep, b.con)
            if ok:
                b.proc.wait(timeout=120)  # -no-reboot: the reset ends QEMU
        if not ok:
            return rep.finish()

        with Boot(tmp, "2", img, disk) as b:
            ok = second_boot(rep, b.con)
        if not ok:
            return rep.finish()

        off, n = record_extent(disk, 6)
        at = off + rnd.randrange(n)
        with open(disk, "r+b") as f:
            f.seek(at)
            byte = f.read(1)[0]
            f.seek(at)
            f.write(bytes([byte ^ (1 << rnd.randrange(8))]))
        print(f"test_store: flipped a bit of byte {at - off} of generation 6's {n}", flush=True)
        with Boot(tmp, "3", img, disk) as b:
            damaged_boot(rep, b.con, 5, "s4", True, "store.corrupt_byte_previous_runs")

        off, n = record_extent(disk, 5)
        cut = off + 1 + rnd.randrange(n - 1)
        os.truncate(disk, cut)
        print(f"test_store: truncated the image at byte {cut - off} of generation 5's {n}", flush=True)
        with Boot(tmp, "4", img, disk) as b:
            damaged_boot(rep, b.con, 4, "s3", True, "store.truncated_previous_runs")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
