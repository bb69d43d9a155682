#!/usr/bin/env python3
"""make soak: mixed load on the appliance for MINUTES (default 30), then
`SOAK name=... value=...` lines (issue 16).  The lab is the fault
campaign's (tests/qemu/faultlab.py: e1000 wan, virtio-net lan, TLS on 443
with B's backend, TCP A -> B forwarded), with no faults injected.

Load, all at once, from host A:
  - full TLS handshakes: curl fetching the 256 KiB file, one connection each;
  - resumed handshakes: `openssl s_client -reconnect` (TLS 1.2: one full
    handshake, then five resumed by session ticket), counting "Reused";
  - bulk TLS: curl fetching a 16 MiB file, sha256 checked;
  - forwarded TCP: 4 MiB streams A -> B, byte count and sha256 checked;
  - console: every 45 s a commit (a rule added), a `rollback 1` and a commit
    again (back to the first configuration), each answered `commit complete`;
  - driver restarts: every 60 s `restart eth0` or `restart eth1` in turn.
At the start (after the first minute of load, so every server has warmed
its caches and pools) and at the end (load stopped, 130 s to let idle
timeouts and lwIP's TIME_WAIT, 2 x 60 s, pass) the figures: memory in use per server
(`show memory`), the machine's free memory and the kernel heap (faultd),
TCP connections and firewall states left (`show connections`, `show
states`), restarts (`show tasks`), errors per kind of client, and the
kernel's invariant checks.

Usage: python3 tests/qemu/soak.py [--minutes N]   (root: ip netns, tap)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402
from faultlab import WAN, Lab  # noqa: E402

ADDR = re.compile(r"\d+\.\d+\.\d+\.\d+")
RULE = "pass in on lan proto icmp"


class Soak:
    def __init__(self, lab: Lab, tmp: Path):
        self.lab = lab
        self.tmp = tmp
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self.console_lock = threading.Lock()
        big = lab.blob.parent / "big"
        big.write_bytes(os.urandom(16 << 20))
        self.big_sha = hashlib.sha256(big.read_bytes()).hexdigest()

    def count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n

    def loop(self, name: str, fn, pause: float = 0.0) -> threading.Thread:
        def run():
            while not self.stop.is_set():
                try:
                    ok = fn()
                except Exception:  # noqa: BLE001 - a client's crash is one error
                    ok = False
                self.count(f"{name}_ok" if ok else f"{name}_errors")
                self.stop.wait(pause if ok else max(pause, 1.0))

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def full(self) -> bool:
        return self.lab.tls_once() == "ok"

    def resumed(self) -> bool:
        p = netlab.ns_run(self.lab.a, "openssl", "s_client", "-connect", f"{WAN}.1:443", "-tls1_2", "-reconnect",
                          timeout=120)
        reused = p.stdout.count("Reused, TLSv1.2")
        self.count("resumed_handshakes", reused)
        return reused >= 5

    def bulk(self) -> bool:
        out = self.tmp / "big-got"
        p = netlab.ns_run(self.lab.a, "curl", "-sk", "--max-time", "300", "-o", str(out), f"https://{WAN}.1/big",
                          timeout=400)
        ok = p.returncode == 0 and hashlib.sha256(out.read_bytes()).hexdigest() == self.big_sha
        if ok:
            self.count("bulk_tls_bytes", 16 << 20)
        return ok

    def fwd(self) -> bool:
        o, sent, _ = self.lab.fwd_once(4)
        if o == "ok":
            self.count("fwd_bytes", sent)
        return o == "ok"

    def console(self, line: str, expect: str = "", prompt: str = "fw# ") -> bool:
        c = self.lab.con
        start = c.cursor
        c.send(line.encode() + b"\r")
        # The console answers slowly under this load (every handshake's log
        # line shares the serial line): a commit took over 60 s once.
        end = time.monotonic() + 300
        while time.monotonic() < end:
            if c.read_until(prompt, 5) and expect in c.text_since(start):
                return True
        return False

    def commits(self) -> bool:
        with self.console_lock:
            ok = self.console("configure")
            ok = ok and self.console(f"set {RULE}")
            ok = ok and self.console("commit", "commit complete")
            ok = ok and self.console("rollback 1")
            ok = ok and self.console("commit", "commit complete")
            self.console("exit", prompt="fw> ")
        return ok

    def restarts(self) -> bool:
        n = self.counts.get("driver_restarts_ok", 0) + self.counts.get("driver_restarts_errors", 0)
        name = f"eth{n % 2}"
        mark = len(self.lab.log())
        with self.console_lock:
            try:
                self.lab.cmd(f"restart {name}")
            except kq.TestFailure:
                pass  # the console is slow under load: init's line below decides
        return self.lab.wait_log(rf"keel: init: server {name} ready", 60, mark) is not None

    def rows(self, command: str, header: str) -> int:
        """Data rows (those with an address) of a netd table on the console;
        -1 when the console did not show it whole."""
        try:
            t = self.lab.cmd_until(command, header, timeout=240)
        except kq.TestFailure:
            self.count("console_table_errors")
            return -1
        return sum(1 for ln in t[:t.find("fw> ")].splitlines() if ADDR.search(ln))

    def snapshot(self) -> dict:
        with self.console_lock:
            mem = self.lab.memory()
            conns = self.rows("show connections", "PROTO ")
            states = self.rows("show states", "PROTO ")
            tasks = self.lab.tasks()
        m = self.lab.mem()
        return {"mem": mem, "connections": conns, "states": states, "tasks": tasks, "machine": m}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=None)
    ap.add_argument("--minutes", type=float, default=30)
    opts = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="keel-soak-"))
    image = Path(opts.image_dir or kq.DEFAULT_IMAGE_DIR)
    lab = None
    lines: list[tuple[str, object]] = []
    rc = 1
    try:
        kq.install_signal_handlers()
        # Every server's log line also goes to the kernel log on the serial
        # line the console shares (lib/ulog.c, whatever `log` says), and tlsd
        # writes one per handshake: under this load the console's tables come
        # slowly (hence the long waits in faultlab.py), and the kernel drops
        # log text it cannot send ("characters lost").
        lab = Lab(tmp, image)
        lab.boot()
        soak = Soak(lab, tmp)
        threads = [soak.loop("full_handshake", soak.full), soak.loop("resumed", soak.resumed, 1.0),
                   soak.loop("bulk_tls", soak.bulk), soak.loop("fwd", soak.fwd)]
        warm = min(60.0, opts.minutes * 60 / 5)
        time.sleep(warm)
        start = soak.snapshot()
        t_end = time.monotonic() + opts.minutes * 60  # the console's tables can take minutes under load
        next_commit = time.monotonic() + 45
        next_restart = time.monotonic() + 60
        while time.monotonic() < t_end and lab.alive():
            now = time.monotonic()
            if now >= next_commit:
                soak.count("commit_rollback_ok" if soak.commits() else "commit_rollback_errors")
                next_commit = now + 45
            if now >= next_restart:
                soak.count("driver_restarts_ok" if soak.restarts() else "driver_restarts_errors")
                next_restart = now + 60
            time.sleep(1)
        soak.stop.set()
        for t in threads:
            t.join(400)
        time.sleep(130)  # lwIP keeps a closed connection in TIME_WAIT for 2 x 60 s
        end = soak.snapshot() if lab.alive() else None
        kc = lab.kcheck() if lab.alive() else {"violations": -1}
        lines.append(("minutes", opts.minutes))
        for k in sorted(soak.counts):
            lines.append((k, soak.counts[k]))
        errors = sum(v for k, v in soak.counts.items() if k.endswith("_errors"))
        lines.append(("errors", errors))
        text = lab.log()
        lines.append(("kernel_panics", text.count("keel: PANIC")))
        lines.append(("kernel_check_violations", kc.get("violations")))
        if end:
            for name in sorted(set(start["mem"]) | set(end["mem"])):
                lines.append((f"memory_kib_{name}_start", start["mem"].get(name, 0)))
                lines.append((f"memory_kib_{name}_end", end["mem"].get(name, 0)))
            lines.append(("machine_free_kib_start", start["machine"]["free_pages"] * 4))
            lines.append(("machine_free_kib_end", end["machine"]["free_pages"] * 4))
            lines.append(("kheap_bytes_start", start["machine"]["kheap_bytes"]))
            lines.append(("kheap_bytes_end", end["machine"]["kheap_bytes"]))
            lines.append(("connections_start", start["connections"]))
            lines.append(("connections_left", end["connections"]))
            lines.append(("states_start", start["states"]))
            lines.append(("states_left", end["states"]))
            deaths = {n: end["tasks"].get(n, ("", 0, 0))[2] - start["tasks"].get(n, ("", 0, 0))[2]
                      for n in end["tasks"]}
            lines.append(("server_faults", sum(v for v in deaths.values() if v > 0)))
        rc = 0 if end and errors == 0 and kc.get("violations") == 0 else 1
    finally:
        if lab is not None:
            lab.close("soak")
        kq.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    for k, v in lines:
        print(f"SOAK name={k} value={v}", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
