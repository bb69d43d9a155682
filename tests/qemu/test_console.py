#!/usr/bin/env python3
"""The serial console (drivers/uart + appliance/console/consoled.c), driven
like an operator would: QEMU's serial port is a unix socket, and this test
types commands and reads the screen.

Two boots of private images (a copy of the image with its own site.cpio,
packed by tools/mkcpio.sh):

1. appliance.conf with `console password-hash` (PBKDF2, 1000 iterations,
   made here with hashlib): the password prompt without echo, a wrong
   password answered by a 1 s wait during which typing is dropped, login;
   the prompt; `show version` and `show uptime` (unique prefixes); `show
   tasks` (the file names no NIC and has no tls block: init left the NIC
   driver, netd, keyd and tlsd out);
   one-line errors; `?` help; Tab completion; configuration mode (`set`, a
   refused `set`, a pasted `tls` block, `show | compare`, `commit`, a
   commit refused with the candidate's line number, `rollback 1`); `commit
   confirmed-seconds 2` rolled back by itself, and one confirmed by
   `commit`; `show log` (the logins and commits, aligned), `log level`,
   `show log follow` ended by a key; 10,000 random bytes leave the shell
   answering; an overlong line is refused with its limit; `exit` locks.
2. appliance.conf with an error on line 7: the boot prints
   `appliance.conf:7:...` and `show config errors` repeats it; `halt` stops
   the machine (the kernel prints `keel: halted`).

Usage: python3 tests/qemu/test_console.py [--image-dir DIR]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402

PASSWORD = "s3cret-console"


def password_hash(pw: str) -> str:
    salt = bytes(range(16))
    dk = hashlib.pbkdf2_hmac("sha256", pw.encode(), salt, 1000, 32)
    b64 = lambda b: base64.b64encode(b).decode().rstrip("=")  # noqa: E731
    return f"$pbkdf2-sha256$1000${b64(salt)}${b64(dk)}"


GOOD_CONF = f"""# test_console: a good file with a console password
hostname keel
log info
console password-hash {password_hash(PASSWORD)}
"""

BAD_CONF = """# test_console: an error on line 7
hostname keel
log info

# the next line names a NIC beyond nic 7

interface wan nic 9 dhcp
"""


class Console:
    """The serial console over QEMU's unix socket.  A thread drains the socket
    all the time: QEMU's serial port writes one byte per send, so a few hundred
    bytes nobody reads fill the socket's buffer, and the guest's UART then
    stays busy (the kernel drops its log lines rather than stall; the uart
    server waits).  read_until() waits for the text to arrive in self.log."""

    def __init__(self, sock_path: str):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(sock_path)
        self.s.settimeout(0.2)
        self.log = bytearray()
        self.cursor = 0
        self._cv = threading.Condition()
        self._eof = False
        self._stop = False
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while not self._stop:
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                d = b""
            with self._cv:
                if not d:
                    self._eof = True
                    self._cv.notify_all()
                    return
                self.log.extend(d)
                self._cv.notify_all()

    def read_until(self, pat: str, timeout: float = 15.0) -> bool:
        end = time.time() + timeout
        p = pat.encode()
        with self._cv:
            while True:
                i = self.log.find(p, self.cursor)
                if i >= 0:
                    self.cursor = i + len(p)
                    return True
                left = end - time.time()
                if self._eof or left <= 0:
                    return False
                self._cv.wait(min(left, 0.5))

    def text_since(self, start: int) -> str:
        with self._cv:
            return self.log[start:self.cursor].decode(errors="replace")

    def send(self, data: bytes) -> None:
        self.s.sendall(data)

    def close(self) -> None:
        self._stop = True
        self._reader.join(2)


class Boot(netlab.Lab):
    """One boot with its console on a unix socket (no network)."""

    def __init__(self, tmp: Path, name: str, image_dir: Path):
        super().__init__("kc")
        self.name = name
        cfg = kq.Config(boot="direct", accel="auto", image_dir=image_dir)
        self.proc, self.con = self.console_guest(cfg, tmp, name, console=Console, log=f"console-{name}")


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise kq.TestFailure(msg)


def first_boot(rep, c: Console) -> None:
    if not rep.run("console.password_prompt", lambda: check(c.read_until("Password: ", 90), "no `Password: ` prompt")):
        return

    def wrong_password():
        c.send(b"not-it\r")
        check(c.read_until("Login incorrect; wait 1 s"), "no `Login incorrect; wait 1 s`")
        t0 = time.time()
        check(b"not-it" not in c.log, "the password was echoed")
        c.send((PASSWORD + "\r").encode())  # typed during the wait: dropped
        check(c.read_until("Password: ", 10), "no second password prompt")
        waited = time.time() - t0
        check(waited >= 0.8, f"the prompt came back after {waited:.2f} s, not after the 1 s delay")
        time.sleep(0.5)
        c.read_until("zzzz-never", 0.3)
        check(b"keel> " not in c.log, "a password typed during the delay was taken")

    rep.run("console.wrong_password_delay", wrong_password)

    def login():
        c.send((PASSWORD + "\r").encode())
        check(c.read_until("keel> ", 20), "no `keel> ` prompt after the right password")
        check(PASSWORD.encode() not in c.log, "the password was echoed")

    if not rep.run("console.login", login):
        return

    def step(name: str, keys: bytes, *expect: str, prompt: str = "") -> None:
        def fn():
            c.send(keys)
            for e in expect:
                check(c.read_until(e), f"no {e!r} after {keys[:40]!r}")
            if prompt:
                check(c.read_until(prompt), f"no prompt {prompt!r}")
        rep.run(name, fn)

    step("console.config_errors_none", b"show config errors\r", "no configuration errors (appliance.conf",
         prompt="keel> ")
    step("console.show_version", b"show version\r", "Keel ", prompt="keel> ")

    def tasks_follow_config():
        start = c.cursor
        c.send(b"show tasks\r")
        check(c.read_until("keel> "), "no prompt after show tasks")
        rows = {ln.split()[0]: ln.split() for ln in c.text_since(start).splitlines() if ln.split()}
        check(rows.get("consoled", ["", ""])[1] == "ready", f"consoled is not ready: {rows}")
        for name in ("eth0", "netd", "keyd", "tlsd"):  # no interface, no tls block in this file
            check(rows.get(name, ["", ""])[1] == "absent", f"{name} is not left out: {rows}")

    rep.run("console.show_tasks_follows_config", tasks_follow_config)
    step("console.show_tls_from_config", b"show tls\r", "PORT", "tlsd does not run on this boot",
         prompt="keel> ")
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

    def confirmed_rolls_back():
        c.send(b"set hostname edge3\r")
        check(c.read_until("keel# "), "set hostname edge3")
        c.send(b"commit confirmed-seconds 2\r")
        check(c.read_until("rolls back in 2 s"), "no `rolls back in 2 s`")
        check(c.read_until("edge3# "), "no edge3# prompt")
        t0 = time.time()
        check(c.read_until("not confirmed within 2 s; rolled back", 10), "no automatic rollback")
        check(time.time() - t0 >= 1.0, "rolled back too early")
        c.send(b"\r")
        check(c.read_until("keel# "), "the prompt is not keel# after the rollback")

    rep.run("console.commit_confirmed_rolls_back", confirmed_rolls_back)

    def confirmed_confirmed():
        c.send(b"set hostname edge4\r")
        check(c.read_until("keel# "), "set hostname edge4")
        c.send(b"commit confirmed-seconds 2\r")
        check(c.read_until("edge4# "), "no edge4# prompt")
        c.send(b"commit\r")
        check(c.read_until("commit confirmed: confirmed"), "`commit` did not confirm")
        start = len(c.log)
        time.sleep(2.5)
        c.read_until("zzzz-never", 0.3)
        check(b"rolled back" not in c.log[start:], "rolled back after all")
        c.send(b"\r")
        check(c.read_until("edge4# "), "the confirmed hostname did not stay")

    rep.run("console.commit_confirmed_then_commit", confirmed_confirmed)
    step("console.exit_config", b"exit\r", "edge4> ")

    def show_log():
        start = c.cursor
        c.send(b"show log\r")
        check(c.read_until("edge4> "), "no prompt after show log")
        t = c.text_since(start)
        for want in ("        TIME  LEVEL  SERVER    MESSAGE", "info   consoled  login on the console",
                     "warn   consoled  failed login on the console (1 in a row)",
                     "info   consoled  no configuration errors (appliance.conf",
                     "warn   consoled  commit confirmed: not confirmed within 2 s, rolled back",
                     "error  consoled  commit refused"):
            check(want in t, f"show log lacks {want!r}")
        # Entries the log service could not take are counted (issue #16).
        check(re.search(r"\(\d+ entries lost: \d+ not taken while the log service was busy, \d+ to a full queue\)",
                        t) is not None, f"show log has no count of lost entries: {t[:300]!r}")

    rep.run("console.show_log", show_log)
    step("console.log_level", b"log level debug\r", "log level is now debug", prompt="edge4> ")
    step("console.log_level_refused", b"log level loud\r", "error: expected debug, info, warn or error",
         prompt="edge4> ")

    def follow():
        c.send(b"show log follow\r")
        check(c.read_until("press any key to stop"), "no follow banner")
        time.sleep(0.3)
        c.send(b"q")
        check(c.read_until("edge4> "), "a key did not end show log follow")
        c.send(b"show version\r")
        check(c.read_until("Keel "), "no answer after follow")
        check(c.read_until("edge4> "), "no prompt after follow")

    rep.run("console.show_log_follow", follow)

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

    def uart_restart():
        # The UART driver sends the kernel log (kernel/klog.c).  Restarted
        # from the console it runs on: init's lines about it reach the
        # serial line (the kernel writes them itself while no driver
        # drains), the new driver takes the log over, and the console answers.
        start = c.cursor
        c.send(b"restart uart\r")
        check(c.read_until("uart: port 0x3f8, irq bound, generation 2, sending the kernel log", 60),
              "the restarted UART driver did not take the kernel log over")
        check(c.read_until("keel: init: server uart ready", 30), "init's line after the restart is missing")
        t = c.text_since(start)
        check("keel: init: restarting uart (the operator asked)" in t, f"init's restart line is missing: {t[-600:]!r}")
        c.send(b"\x15show version\r")
        check(c.read_until("Keel ", 20), "no answer from the console after the UART driver restarted")
        check(c.read_until("edge4> "), "no prompt after the UART driver restarted")

    rep.run("console.uart_restart_keeps_log_and_console", uart_restart)
    step("console.overlong_line_refused", b"a" * 700 + b"\r", "expected a line of at most 511")
    c.send(b"\x15\r")
    step("console.exit_locks", b"exit\r", "Password: ")


def second_boot(rep, c: Console) -> None:
    def boot_errors():
        check(c.read_until("appliance.conf has errors", 90), "no `appliance.conf has errors` at boot")
        check(c.read_until("error: appliance.conf:7:"), "the boot did not name line 7")
        check(c.read_until("keel> "), "no prompt after a bad file")

    if not rep.run("console.bad_conf_line_7_at_boot", boot_errors):
        return

    def show_errors():
        c.send(b"show config errors\r")
        check(c.read_until("appliance.conf has errors"), "show config errors lacks the summary")
        check(c.read_until("error: appliance.conf:7:"), "show config errors lacks line 7")
        check(c.read_until("keel> "), "no prompt")

    rep.run("console.show_config_errors", show_errors)

    def halt():
        c.send(b"halt\r")
        check(c.read_until("halting"), "no `halting`")
        check(c.read_until("keel: halted", 60), "the kernel did not say `keel: halted`")

    rep.run("console.halt", halt)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=None)
    ns = ap.parse_args()
    rep = kq.Reporter()
    tmp = Path(tempfile.mkdtemp(prefix="keel-console-"))
    src = Path(ns.image_dir or kq.DEFAULT_IMAGE_DIR)
    good = netlab.make_image(src, tmp / "good", GOOD_CONF)
    bad = netlab.make_image(src, tmp / "bad", BAD_CONF)
    b2 = Boot(tmp, "bad", bad)  # boots meanwhile; read after the first
    try:
        with Boot(tmp, "good", good) as b1:
            first_boot(rep, b1.con)
        second_boot(rep, b2.con)
    finally:
        b2.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
