#!/usr/bin/env python3
"""The shipping image as a firewall between NICs: nothing but an
appliance.conf (no test manifest lines, no test servers, no debug args).

Each NIC of the VM is a tap moved into a network namespace of its own,
where one test host lives:

  boot 1 (two NICs, no virtio-rng device):
    NIC 0  e1000                    host A 10.9.10.2  (appliance 10.9.10.1, wan)
    NIC 1  virtio-net, modern only  host B 10.9.11.2  (appliance 10.9.11.1, lan)
    appliance.conf also names `interface dmz nic 2`, which this VM lacks

  boot 2 (three NICs, with virtio-rng):
    the same two, plus
    NIC 2  virtio-net (transitional) host C 10.9.12.2 (appliance 10.9.12.1, dmz)

Rules: ICMP passes; TCP to port 5001 passes in on wan (A -> B, A -> C);
TCP to port 5002 passes in on lan (B -> A); everything else is blocked
(port 5003 is the negative check, with 5001 beside it as the positive
control).  Checks: each host pings the appliance's address on its side;
20 MiB cross intact A -> B (5001) and B -> A (5002), and A -> C in boot 2;
a TCP connection the rules do not allow never opens; the missing NIC is
one clear console line while the others work; netd keys its random
numbers from the CPU's RDSEED/RDRAND without virtio-rng and from the
entropy server with it, never the TSC; `restart eth1` at the console (NIC
1's driver) while 20 MiB flow A -> C: that stream arrives intact, and B is
reachable again afterwards.

Usage: python3 tests/qemu/test_fwd.py [--image-dir DIR] [--mb N]
Needs root (ip netns, tap).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402
from test_console import Console, check  # noqa: E402

NETS = [("wan", "10.9.10"), ("lan", "10.9.11"), ("dmz", "10.9.12")]


def conf(nics: int) -> str:
    lines = ["# test_fwd: a firewall between NICs", "hostname fw", "log info"]
    for i, (name, net) in enumerate(NETS):
        lines.append(f"interface {name} nic {i} address {net}.1/24")
    lines += [
        "pass in proto icmp",
        "pass out keep state",
        "pass in on wan proto tcp to port 5001 keep state",
        "pass in on lan proto tcp to port 5002 keep state",
    ]
    return "\n".join(lines) + "\n"


# A test host's TCP peer: `sink PORT` answers each connection with the
# sha256 of everything it received; `send HOST PORT MB SEED` sends MB MiB of
# a deterministic stream and prints "ok" when the sink's digest matches,
# "connect-failed" or "mismatch" otherwise.
HOST_CODE = r"""
import hashlib, socket, sys, threading
mode = sys.argv[1]
def stream(mb, seed):
    block = hashlib.sha256(seed.encode()).digest() * 2048   # 64 KiB
    for i in range(mb * 16):
        yield bytes([i & 0xff]) + block[1:]
if mode == "sink":
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", int(sys.argv[2]))); srv.listen(8)
    print("ready", flush=True)
    def serve(c):
        h = hashlib.sha256()
        while True:
            d = c.recv(1 << 16)
            if not d:
                break
            h.update(d)
        c.sendall(h.hexdigest().encode()); c.close()
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
else:
    host, port, mb, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    s = socket.socket(); s.settimeout(float(sys.argv[6]) if len(sys.argv) > 6 else 60)
    try:
        s.connect((host, port))
    except OSError as e:
        print("connect-failed", e, flush=True); sys.exit(1)
    h = hashlib.sha256()
    s.settimeout(300)
    for b in stream(mb, seed):
        h.update(b); s.sendall(b)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = s.recv(100)
        if not d:
            break
        got += d
    print("ok" if got.decode() == h.hexdigest() else f"mismatch {got!r}", flush=True)
"""


def sh(*c: str, check_rc: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(c), check=check_rc, capture_output=True, text=True)


class Lab:
    """QEMU in namespace `q`, NIC i's tap moved into host namespace h[i]."""

    def __init__(self, tmp: Path, tag: str, models: list[str], image: Path, rng: bool):
        pid = os.getpid()
        self.tmp = tmp
        self.q = f"kfq{tag}{pid}"
        self.hosts = [f"kf{tag}{i}{pid}" for i in range(len(models))]
        self.taps = [f"kf{tag}{i}t{pid}"[:15] for i in range(len(models))]
        self.helpers: list[subprocess.Popen] = []
        self.proc = self.qout = self.con = None
        for ns in [self.q] + self.hosts:
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for t in self.taps:
            sh("ip", "-n", self.q, "tuntap", "add", "dev", t, "mode", "tap")
        self.sock = str(tmp / f"console-{tag}.sock")
        cfg = kq.Config(boot="direct", accel="auto", nic=",".join(models), taps=self.taps, netns=self.q,
                        serial=f"unix:{self.sock},server=on,wait=on",
                        qemu_extra="-device virtio-rng-pci" if rng else "", image_dir=image)
        self.qout = open(tmp / f"qemu-{tag}.log", "wb")
        self.proc = kq._spawn(kq.build_command(cfg).cmd, self.qout)
        for _ in range(100):
            if os.path.exists(self.sock):
                break
            time.sleep(0.1)
        self.con = Console(self.sock)
        # QEMU holds the taps now: each goes to its host's namespace.
        for i, t in enumerate(self.taps):
            net = NETS[i][1]
            sh("ip", "-n", self.q, "link", "set", t, "netns", self.hosts[i])
            sh("ip", "-n", self.hosts[i], "link", "set", t, "up")
            sh("ip", "-n", self.hosts[i], "addr", "add", f"{net}.2/24", "dev", t)
            sh("ip", "-n", self.hosts[i], "route", "add", "default", "via", f"{net}.1")
        for i, h in enumerate(self.hosts):
            # Each in a session of its own: kq._kill ends its process group.
            for port in ("5001", "5002", "5003"):
                self.helpers.append(subprocess.Popen(["ip", "netns", "exec", h, sys.executable, "-c", HOST_CODE,
                                                      "sink", port], stdout=subprocess.DEVNULL,
                                                     stderr=subprocess.DEVNULL, start_new_session=True))

    def ping(self, host: int, addr: str, n: int = 2) -> bool:
        p = sh("ip", "netns", "exec", self.hosts[host], "ping", "-c", str(n), "-i", "0.3", "-W", "2", addr,
               check_rc=False)
        return p.returncode == 0

    def send(self, src: int, dst: int, port: int, mb: int, connect_timeout: float = 60) -> str:
        p = sh("ip", "netns", "exec", self.hosts[src], sys.executable, "-c", HOST_CODE, "send",
               f"{NETS[dst][1]}.2", str(port), str(mb), f"{src}-{dst}-{port}", str(connect_timeout),
               check_rc=False)
        return (p.stdout.strip() or p.stderr.strip()).splitlines()[-1] if (p.stdout or p.stderr) else ""

    def cmd(self, line: str, *expect: str, prompt: str = "fw> ") -> str:
        c = self.con
        start = c.cursor
        c.send(line.encode() + b"\r")
        for e in expect:
            check(c.read_until(e, 30), f"no {e!r} after {line!r}")
        check(c.read_until(prompt, 30), f"no prompt after {line!r}")
        return c.text_since(start)

    def log(self) -> str:
        self.con.read_until("\x00never\x00", 0.3)  # take in what arrived
        return kq.clean_log(bytes(self.con.log).decode(errors="replace"))

    def wait_log(self, text: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.log():
                return True
        return False

    def neigh(self, host: int) -> str:
        return sh("ip", "-n", self.hosts[host], "neigh", check_rc=False).stdout.strip()

    def close(self, name: str) -> None:
        if self.con is not None and self.proc is not None and self.proc.poll() is None:
            self.log()  # what arrived since the last read
        for p in self.helpers:
            kq._kill(p, grace=0.5)
        if self.proc is not None:
            kq._kill(self.proc)
        if self.qout is not None:
            self.qout.close()
        if self.con is not None:
            kq.LOG_DIR.mkdir(parents=True, exist_ok=True)
            (kq.LOG_DIR / f"fwd-{name}.log").write_bytes(bytes(self.con.log))
        for ns in [self.q] + self.hosts:
            sh("ip", "netns", "del", ns, check_rc=False)


def make_site_image(src: Path, dst: Path, text: str) -> Path:
    shutil.copytree(src, dst)
    site = dst.parent / (dst.name + "-site")
    site.mkdir()
    (site / "appliance.conf").write_text(text)
    subprocess.run([str(kq.REPO / "tools/mkcpio.sh"), str(dst / "site.cpio"), str(site / "appliance.conf")],
                   check=True)
    return dst


def servers_ready(lab: Lab) -> tuple[bool, str]:
    """init's own view (`show tasks`): no server of this boot still starting
    or waiting for a restart, netd and consoled ready."""
    t = lab.cmd("show tasks")
    rows = {w[0]: w[1] for w in (ln.split() for ln in t.splitlines()) if len(w) >= 2 and w[0] != "NAME"}
    pending = [n for n, st in rows.items() if st in ("starting", "restarting", "stopped")]
    return (not pending and rows.get("netd") == "ready" and rows.get("consoled") == "ready"), str(rows)


def boot_ready(lab: Lab, n_up: int) -> None:
    check(lab.con.read_until("fw> ", 240), "no `fw> ` prompt")
    if not lab.wait_log("keel: ready", 120):
        # Under load the serial line can stall and the kernel then drops
        # characters ("[kernel log: N characters lost ...]"): the line may
        # be among them.  init's counters say the same thing without the log.
        lost = "characters lost: the serial line was stalled" in lab.log()
        ok, rows = servers_ready(lab) if lost else (False, "")
        check(ok, "no `keel: ready`" + (f" (log lines were lost; show tasks: {rows})" if lost else ""))
    for _ in range(60):
        t = lab.cmd("show interfaces")
        if t.count(" up ") >= n_up:
            return
        time.sleep(2)
    raise kq.TestFailure(f"show interfaces never listed {n_up} interfaces up: {t!r}")


def two_nics(rep: kq.Reporter, tmp: Path, image: Path, mb: int) -> None:
    img = make_site_image(image, tmp / "img2", conf(3))   # names nic 2, which this VM lacks
    lab = Lab(tmp, "a", ["e1000", "virtio-modern"], img, rng=False)
    try:
        if not rep.run("fwd2.boot_two_interfaces_up", lambda: boot_ready(lab, 2)):
            return

        def missing_nic():
            check(lab.wait_log("interface dmz: appliance.conf puts it on nic 2, but this machine has 2 NICs", 10),
                  "no console line for the missing NIC")
            check("init: started eth0" in lab.log() and "init: started eth1" in lab.log(),
                  "a driver for NIC 0 or NIC 1 was not started")

        rep.run("fwd2.missing_nic_is_one_clear_line", missing_nic)

        def drivers_are_the_nics():
            t = lab.log()
            check("eth0: PCI" in t and "driver e1000" in t.split("eth0: PCI", 1)[1].splitlines()[0],
                  "eth0 is not the e1000")
            check("eth1: PCI" in t and "1af4:1041, driver virtio-net" in t.split("eth1: PCI", 1)[1].splitlines()[0],
                  "eth1 is not the modern virtio-net (1af4:1041)")

        rep.run("fwd2.one_driver_per_nic_mixed_models", drivers_are_the_nics)

        def rng_from_cpu():
            t = lab.log()
            check("random numbers from the CPU (RD" in t, "netd did not key from RDSEED/RDRAND without virtio-rng")
            check("keyed from the TSC" not in t and "TSC (stop-gap)" not in t, "netd used the TSC")

        rep.run("fwd2.netd_random_from_cpu_without_virtio_rng", rng_from_cpu)

        rep.run("fwd2.host_a_pings_wan_address", lambda: check(lab.ping(0, "10.9.10.1", 3), "A cannot ping 10.9.10.1"))
        rep.run("fwd2.host_b_pings_lan_address", lambda: check(lab.ping(1, "10.9.11.1", 3), "B cannot ping 10.9.11.1"))
        rep.run("fwd2.a_pings_b_through_the_appliance",
                lambda: check(lab.ping(0, "10.9.11.2", 3), "A cannot ping B through the appliance"))

        def a_to_b():
            r = lab.send(0, 1, 5001, mb)
            check(r == "ok", f"A -> B {mb} MiB on port 5001: {r}")

        rep.run("fwd2.tcp_allowed_a_to_b_intact", a_to_b)

        def b_to_a():
            r = lab.send(1, 0, 5002, mb)
            check(r == "ok", f"B -> A {mb} MiB on port 5002: {r}")

        rep.run("fwd2.tcp_allowed_b_to_a_intact", b_to_a)

        def blocked():
            # Positive control first: the path works right now.
            r = lab.send(0, 1, 5001, 1)
            check(r == "ok", f"control: A -> B 5001 failed: {r}")
            r = lab.send(0, 1, 5003, 1, connect_timeout=4)
            check(r.startswith("connect-failed"), f"A -> B 5003 (no rule) was not blocked: {r}")
            r = lab.send(1, 0, 5001, 1, connect_timeout=4)
            check(r.startswith("connect-failed"), f"B -> A 5001 (rule is `in on wan` only) was not blocked: {r}")
            r = lab.send(1, 0, 5002, 1)
            check(r == "ok", f"control: B -> A 5002 failed after the blocked tries: {r}; B's neighbours: "
                             f"{lab.neigh(1)!r}, A's: {lab.neigh(0)!r}")

        rep.run("fwd2.tcp_not_allowed_is_blocked", blocked)
    finally:
        lab.close("two-nics")


def three_nics(rep: kq.Reporter, tmp: Path, image: Path, mb: int) -> None:
    img = make_site_image(image, tmp / "img3", conf(3))
    lab = Lab(tmp, "b", ["e1000", "virtio-modern", "virtio"], img, rng=True)
    try:
        if not rep.run("fwd3.boot_three_interfaces_up", lambda: boot_ready(lab, 3)):
            return
        rep.run("fwd3.netd_random_from_entropy_server",
                lambda: check("random numbers from the entropy server" in lab.log(),
                              "netd did not key from the entropy server with virtio-rng"))
        for i, (name, net) in enumerate(NETS):
            rep.run(f"fwd3.host_pings_{name}_address",
                    lambda i=i, net=net: check(lab.ping(i, f"{net}.1", 3), f"host {i} cannot ping {net}.1"))

        def a_to_c():
            r = lab.send(0, 2, 5001, mb)
            check(r == "ok", f"A -> C {mb} MiB: {r}")

        rep.run("fwd3.tcp_allowed_a_to_c_intact", a_to_c)
        def c_to_a_blocked():
            check(lab.send(2, 0, 5002, 1, connect_timeout=4).startswith("connect-failed"),
                  "C -> A 5002 (allowed only in on lan) was not blocked")
            # Positive control: the guest still forwards what the rules allow.
            r = lab.send(0, 2, 5001, 1)
            check(r == "ok", f"control: A -> C 5001 failed after the blocked try: {r}")

        rep.run("fwd3.tcp_not_allowed_c_to_a_blocked", c_to_a_blocked)

        def restart_one_driver():
            result: dict = {}

            def stream():
                result["r"] = lab.send(0, 2, 5001, mb)

            t = threading.Thread(target=stream)
            t.start()
            time.sleep(1.0)
            mark = len(lab.log())
            lab.cmd("restart eth1")
            check(lab.wait_log("init: started eth1 (priority 15, restarted)", 30), "eth1 was not restarted")
            t.join(600)
            check(not t.is_alive(), "the A -> C stream did not finish")
            check(result.get("r") == "ok", f"A -> C during eth1's restart: {result.get('r')}")
            check("init: started eth1 (priority 15, restarted)" in lab.log()[mark:], "the restart happened earlier")
            check("init: started netd" not in lab.log()[mark:],
                  "netd restarted too")
            ok = False
            for _ in range(20):
                if lab.ping(1, "10.9.11.1", 1):
                    ok = True
                    break
                time.sleep(1)
            check(ok, "B cannot reach the appliance after eth1's restart")
            check(lab.send(0, 1, 5001, 1) == "ok", "A -> B does not forward after eth1's restart")

        rep.run("fwd3.driver_restart_leaves_other_interfaces_forwarding", restart_one_driver)
    finally:
        lab.close("three-nics")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=None)
    ap.add_argument("--mb", type=int, default=20, help="MiB per stream (default 20)")
    opts = ap.parse_args()
    rep = kq.Reporter()
    tmp = Path(tempfile.mkdtemp(prefix="keel-fwd-"))
    image = Path(opts.image_dir or kq.DEFAULT_IMAGE_DIR)
    try:
        two_nics(rep, tmp, image, opts.mb)
        three_nics(rep, tmp, image, opts.mb)
    finally:
        kq.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
