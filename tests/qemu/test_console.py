#!/usr/bin/env python3
"""The serial console (drivers/uart + appliance/console/consoled.c), driven
like an operator would: QEMU's serial port is a unix socket, and this test
types commands and reads the screen.

Checks: the prompt; `show version` and `show uptime` (unique prefixes);
one-line errors; `?` help; Tab completion; configuration mode (`set`, a
refused `set`, a pasted `tls` block, `show | compare`, `commit`, a commit
refused with the candidate's line number, `rollback 1`); 10,000 random bytes
leave the shell answering; an overlong line is refused with its limit.

Usage: python3 tests/qemu/test_console.py [--image-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402


class Console:
    def __init__(self, sock_path: str):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(sock_path)
        self.s.settimeout(0.2)
        self.log = bytearray()
        self.cursor = 0

    def read_until(self, pat: str, timeout: float = 15.0) -> bool:
        end = time.time() + timeout
        p = pat.encode()
        while time.time() < end:
            i = self.log.find(p, self.cursor)
            if i >= 0:
                self.cursor = i + len(p)
                return True
            try:
                d = self.s.recv(65536)
                if not d:
                    return False
                self.log.extend(d)
            except socket.timeout:
                pass
        return False

    def send(self, data: bytes) -> None:
        self.s.sendall(data)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=None)
    ns = ap.parse_args()
    rep = kq.Reporter()
    tmp = Path(tempfile.mkdtemp(prefix="keel-console-"))
    sock = str(tmp / "serial.sock")
    cfg = kq.Config(boot="direct", accel="auto", serial=f"unix:{sock},server=on,wait=on",
                    image_dir=ns.image_dir or kq.DEFAULT_IMAGE_DIR)
    plan = kq.build_command(cfg)
    qout = open(tmp / "qemu.log", "wb")
    proc = kq._spawn(plan.cmd, qout)
    con = None
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        con = Console(sock)

        def check(cond: bool, msg: str) -> None:
            if not cond:
                raise kq.TestFailure(msg)

        c = con
        if not rep.run("console.prompt", lambda: check(c.read_until("keel> ", 90), "no `keel> ` prompt")):
            return rep.finish()

        def step(name: str, keys: bytes, *expect: str, prompt: str = "") -> None:
            def fn():
                c.send(keys)
                for e in expect:
                    check(c.read_until(e), f"no {e!r} after {keys[:40]!r}")
                if prompt:
                    check(c.read_until(prompt), f"no prompt {prompt!r}")
            rep.run(name, fn)

        step("console.show_version", b"show version\r", "Keel ", prompt="keel> ")
        step("console.unique_prefix", b"sh upt\r", "up 0 days", prompt="keel> ")
        step("console.one_line_error", b"frobnicate\r", "error: expected help, show", prompt="keel> ")
        step("console.help_question_mark", b"show ?", "running-config  the configuration in force")
        step("console.tab_completion", b"\x15sh ver\t", "sh version ")
        c.send(b"\r")
        c.read_until("keel> ")
        step("console.configure", b"configure\r", "keel# ")
        step("console.compare_no_changes", b"show | compare\r", "(no changes)", prompt="keel# ")
        c.send(b"set hostname edge2\r")
        c.read_until("keel# ")
        c.send(b"interface wan nic 0 dhcp\r")
        c.read_until("keel# ")
        step("console.set_refused", b"set interface lan nic 0 dhcp\r", "error: expected a NIC no other interface uses",
             prompt="keel# ")
        c.send(b"tls 443 {\r    certificate a.crt key a.key\r    backend 10.0.2.2:8080\r}\r")
        c.read_until("keel# ")
        step("console.compare_after_edits", b"show | compare\r", "+ hostname edge2", "+     backend 10.0.2.2:8080",
             prompt="keel# ")
        step("console.commit", b"commit\r", "commit complete", "edge2# ")
        c.send(b"delete tls 443 backend\r")
        c.read_until("edge2# ")
        step("console.commit_refused_with_line", b"commit\r", "error: candidate:", "nothing was changed")
        c.send(b"rollback 1\r")
        c.read_until("load complete")
        step("console.rollback_and_commit", b"commit\r", "commit complete", "keel# ")
        step("console.exit", b"exit\r", "keel> ")

        def random_bytes():
            junk = bytes(random.Random(7).randrange(256) for _ in range(10000))
            for i in range(0, len(junk), 500):
                c.send(junk[i:i + 500])
                time.sleep(0.02)
            time.sleep(2)
            c.read_until("zzzz-never", 3)
            c.cursor = len(c.log)
            c.send(b"\x03\x15show version\r")
            check(c.read_until("Keel ", 20), "the shell stopped answering after random bytes")

        rep.run("console.survives_10000_random_bytes", random_bytes)
        step("console.overlong_line_refused", b"a" * 700 + b"\r", "expected a line of at most 511")
    finally:
        kq._kill(proc)
        qout.close()
        if con is not None:
            (kq.LOG_DIR).mkdir(parents=True, exist_ok=True)
            (kq.LOG_DIR / "console.log").write_bytes(bytes(con.log))
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
