#!/usr/bin/env python3
"""The lab of the fault-injection campaign and the soak (tests/qemu/test_faults.py,
tests/qemu/soak.py): the shipping appliance as a firewall and TLS proxy
between two test hosts, booted with the kernel word `faults`, which adds
faultd (tests/faults/faultd.c) beside the normal servers; the host drives
faultd on the VM's second serial port (COM2, a unix socket here).

  NIC 0  e1000       wan  appliance 10.9.10.1   host A 10.9.10.2 (clients)
  NIC 1  virtio-net  lan  appliance 10.9.11.1   host B 10.9.11.2 (servers)

appliance.conf forwards TCP A -> B port 5001 (keep state) and serves TLS on
10.9.10.1:443 (certificate and key made here by openssl, never committed)
with B's http backend on 10.9.11.2:8080 behind it, so every client byte
crosses both drivers and netd, and TLS also tlsd and keyd.

Load (threads in this process, each step one client process in host A's
namespace, each result timed so that it can be set beside the faults):
  - fwd:  a stream of MB MiB A -> B:5001; B's sink answers the byte count
          and sha256 of what it received; results ok, short (bytes lost),
          corrupt (same count, other bytes), stalled, connect-failed;
  - tls:  curl fetches a 256 KiB file over TLS from A; ok when its sha256 is
          the file's, else the curl error.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402
from test_console import Console, check  # noqa: E402

WAN, LAN = "10.9.10", "10.9.11"
TARGETS = ["eth0", "eth1", "netd", "tlsd", "keyd"]  # eth0 = e1000, eth1 = virtio-net
PROMPT = "fw> "

CONF = f"""# the fault-injection lab (tests/qemu/faultlab.py)
hostname fw
log LEVEL
interface wan nic 0 address {WAN}.1/24
interface lan nic 1 address {LAN}.1/24
pass in proto icmp
pass out keep state
pass in on wan proto tcp to port 5001 keep state
pass in on wan proto tcp to port 443 keep state
tls 443 {{
    certificate edge1.crt key edge1.key
    backend {LAN}.2:8080
    max-connections 64
    idle-timeout 30s
}}
"""

# Host B's sink: answers each connection with "COUNT SHA256" of what it got.
# Host A's sender: streams MB MiB and prints one result word (see above).
HOST_CODE = r"""
import hashlib, socket, sys, threading
mode = sys.argv[1]
if mode == "sink":
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", int(sys.argv[2]))); srv.listen(16)
    def serve(c):
        h = hashlib.sha256(); n = 0
        c.settimeout(120)
        try:
            while True:
                d = c.recv(1 << 16)
                if not d:
                    break
                h.update(d); n += len(d)
            c.sendall(f"{n} {h.hexdigest()}".encode())
        except OSError:
            pass
        c.close()
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
else:
    host, port, mb, seed, stall = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6])
    block = hashlib.sha256(seed.encode()).digest() * 2048   # 64 KiB
    s = socket.socket(); s.settimeout(stall)
    try:
        s.connect((host, port))
    except OSError as e:
        print("connect-failed 0 0", flush=True); sys.exit(0)
    h = hashlib.sha256(); sent = 0
    try:
        for i in range(mb * 16):
            b = bytes([i & 0xff]) + block[1:]
            s.sendall(b); h.update(b); sent += len(b)
        s.shutdown(socket.SHUT_WR)
        got = b""
        while True:
            d = s.recv(200)
            if not d:
                break
            got += d
    except socket.timeout:
        print(f"stalled {sent} 0", flush=True); sys.exit(0)
    except OSError:
        print(f"reset {sent} 0", flush=True); sys.exit(0)
    parts = got.decode(errors="replace").split()
    if len(parts) != 2:
        print(f"reset {sent} 0", flush=True); sys.exit(0)
    n = int(parts[0])
    if n == sent and parts[1] == h.hexdigest():
        print(f"ok {sent} {n}", flush=True)
    elif n == sent:
        print(f"corrupt {sent} {n}", flush=True)
    else:
        print(f"short {sent} {n}", flush=True)
"""

DIED = re.compile(r"keel: init: server (\S+) died: ([^\n]*?) at rip")
STARTED = re.compile(r"keel: init: started (\S+) \(priority \d+(, restarted)?\)")
CANNOT = re.compile(r"keel: init: cannot start (\S+)")
READY = re.compile(r"keel: init: server (\S+) ready")


@dataclass
class Result:
    kind: str      # fwd | tls
    t0: float
    t1: float
    outcome: str   # ok, short, corrupt, stalled, reset, connect-failed, curl-N, digest
    sent: int = 0
    received: int = 0


@dataclass
class Load:
    """Client loops in host A; results appended under the lock."""
    results: list[Result] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def add(self, r: Result) -> None:
        with self.lock:
            self.results.append(r)


class Lab(netlab.Router):
    """The fault lab: netlab.Router with host A on the e1000 (wan) and host B
    on the virtio-net (lan), B serving a stream sink on 5001 and a 256 KiB
    blob over HTTP on 8080 (the TLS listener's backend), faultd's serial
    line on COM2 (self.fi)."""

    def __init__(self, tmp: Path, image: Path, mem: int = 256, log_level: str = "info"):
        self.log_level = log_level
        self.blob = tmp / "www" / "blob"
        self.blob.parent.mkdir(parents=True)
        self.blob.write_bytes(os.urandom(256 << 10))
        self.blob_sha = hashlib.sha256(self.blob.read_bytes()).hexdigest()
        img = self._image(tmp, image)
        fisock = str(tmp / "faultd.sock")
        extra = (f"-chardev socket,id=fi,path={fisock},server=on,wait=off "
                 f"-device isa-serial,chardev=fi,iobase=0x2f8,irq=3")
        self.fi = None
        super().__init__(tmp, "ki", ["e1000", "virtio"], img, nets=[WAN, LAN], mem=mem, args=["faults"],
                         qemu_extra=extra, wait_for=[fisock])
        self.a, self.b = self.hosts
        self.fi = Console(fisock)
        self.py(self.b, HOST_CODE, "sink", "5001")
        self.helper(self.b, sys.executable, "-m", "http.server", "8080", "--bind", f"{LAN}.2", "--directory",
                    str(self.blob.parent))

    def _image(self, tmp: Path, image: Path) -> Path:
        site = tmp / "site"
        site.mkdir()
        netlab.self_signed(site, "edge1", "fw")
        return netlab.make_image(image, tmp / "img", CONF.replace("log LEVEL", f"log {self.log_level}"),
                                 {"edge1.crt": None, "edge1.key": None}, site=site)

    # ------------------------------------------------------------ console --
    def cmd(self, line: str, timeout: float = 120) -> str:
        c = self.con
        start = c.cursor
        c.send(line.encode() + b"\r")
        check(c.read_until(PROMPT, timeout), f"no prompt after {line!r}")
        return c.text_since(start)

    def cmd_until(self, line: str, must: str, timeout: float = 60) -> str:
        """Sends LINE; returns the console's text from there to the first prompt
        after MUST (log lines redraw the prompt, so the first prompt may be early)."""
        c = self.con
        start = c.cursor
        c.send(line.encode() + b"\r")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            c.read_until(PROMPT, 1.0)
            t = c.text_since(start)
            i = t.find(must)
            if i >= 0 and PROMPT in t[i:]:
                return t[i:]
        raise kq.TestFailure(f"no {must!r} and prompt after {line!r}")

    def table(self, command: str, header: str) -> dict:
        """A console table (`show tasks`, `show memory`) as name -> its other columns."""
        t = self.cmd_until(command, header + " ", timeout=240)
        t = t[:t.find(PROMPT)]
        rows, seen = {}, False
        for ln in t.splitlines():
            w = ln.split()
            if w and w[0] == header:
                seen = True
                continue
            if seen and len(w) >= 2 and not ln.startswith(PROMPT):
                rows[w[0]] = w[1:]
        check(seen, f"{command}: no table: {t[-300:]!r}")
        return rows

    def tasks(self) -> dict:
        """name -> (state, restarts, faults) from init's counters (`show tasks`)."""
        return {n: (w[0], int(w[2]), int(w[3])) for n, w in self.table("show tasks", "NAME").items()
                if len(w) >= 4 and w[2].isdigit() and w[3].isdigit()}

    def memory(self) -> dict:
        """name -> KiB of its budget in use (`show memory`)."""
        return {n: int(w[1]) for n, w in self.table("show memory", "NAME").items()
                if len(w) >= 2 and w[1].isdigit() and not n.isdigit()}

    def faultd(self, line: str, timeout: float = 20) -> str:
        """One command to faultd; its one-line answer."""
        f = self.fi
        f.read_until("\x00never\x00", 0.01)
        f.cursor = len(f.log)
        f.send(line.encode() + b"\n")
        check(f.read_until("\n", timeout), f"faultd did not answer {line!r}")
        return bytes(f.log[f.cursor - 200 if f.cursor > 200 else 0:f.cursor]).decode(errors="replace") \
            .splitlines()[-1].strip()

    def mem(self) -> dict:
        r = self.faultd("mem")
        check(r.startswith("mem "), f"faultd mem: {r!r}")
        return {k: int(v) for k, v in (w.split("=") for w in r.split()[1:])}

    def kcheck(self) -> dict:
        r = self.faultd("check")
        check(r.startswith("check "), f"faultd check: {r!r}")
        return {k: int(v) for k, v in (w.split("=") for w in r.split()[1:])}

    def boot(self) -> None:
        check(self.con.read_until(PROMPT, 300), "no console prompt")
        check(self.wait_log("keel: ready", 180) is not None, "no `keel: ready`")
        check(self.fi.read_until("faultd ready", 30) or self.faultd("ping") == "pong", "faultd does not answer")
        for _ in range(60):
            if self.tls_once() == "ok" and self.fwd_once(1)[0] == "ok":
                return
            time.sleep(2)
        raise kq.TestFailure("TLS or forwarding never worked after boot")

    # -------------------------------------------------------------- clients --
    def fwd_once(self, mb: int, stall: float = 15) -> tuple[str, int, int]:
        p = netlab.ns_py(self.a, HOST_CODE, "send", f"{LAN}.2", "5001", str(mb), f"s{time.monotonic_ns()}", str(stall),
                         timeout=stall * 4 + 60)
        w = (p.stdout.strip().splitlines() or ["error 0 0"])[-1].split()
        return w[0], int(w[1]), int(w[2])

    def tls_once(self, timeout: float = 20) -> str:
        out = self.tmp / f"got-{threading.get_ident()}"
        p = netlab.ns_run(self.a, "curl", "-sk", "--max-time", str(int(timeout)), "-o", str(out),
                          f"https://{WAN}.1/blob", timeout=timeout + 30)
        if p.returncode != 0:
            return f"curl-{p.returncode}"
        ok = out.exists() and hashlib.sha256(out.read_bytes()).hexdigest() == self.blob_sha
        return "ok" if ok else "digest"

    def start_load(self, load: Load, fwd_mb: int = 2) -> None:
        def fwd():
            while not load.stop.is_set():
                t0 = time.monotonic()
                o, s, r = self.fwd_once(fwd_mb)
                load.add(Result("fwd", t0, time.monotonic(), o, s, r))
                if o != "ok":
                    time.sleep(0.5)

        def tls():
            while not load.stop.is_set():
                t0 = time.monotonic()
                o = self.tls_once()
                load.add(Result("tls", t0, time.monotonic(), o))
                if o != "ok":
                    time.sleep(0.5)

        for fn in (fwd, tls):
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            load.threads.append(t)

    @staticmethod
    def stop_load(load: Load) -> None:
        load.stop.set()
        for t in load.threads:
            t.join(300)
