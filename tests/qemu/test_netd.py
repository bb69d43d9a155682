#!/usr/bin/env python3
"""netd tests: boots Keel with `nettest` and two NICs, netd between two
network namespaces (wan and lan).

The image's manifest has no `nettest` lines yet, so this script makes a test
image: a copy of BUILD/image/tftp whose servers.cpio is repacked with
image/manifest plus the lines below (NETD_LINES).

  wan namespace: QEMU, ktap0 = 10.9.0.1/24, route to 10.9.1.0/24 via netd
  lan namespace: ktap1 (moved there once QEMU holds it) = 10.9.1.1/24,
                 default route via netd (10.9.1.2); with --dhcp, dnsmasq
                 there leases 10.9.1.2 to netd's second NIC

Checks: ping netd on both NICs; ping through netd both ways (forwarding);
iperf3 and 20 MB with a sha256 through netd; a statistics command frame; a
driver crash (netd re-attaches to generation 2); a netd crash (init restarts
netd, which re-attaches to the running drivers).

Usage (root; needs iproute2, iputils-ping, iperf3, and dnsmasq-base for --dhcp):
  make image && python3 tests/qemu/test_netd.py [--nics virtio,e1000] [--dhcp] [--build build]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # tests/qemu/ -> the repository
sys.path.insert(0, str(REPO / "tests" / "qemu"))
import keelqemu as kq  # noqa: E402

NETD_LINES = """
# netd smoke test boots (`nettest`)
server netnic0 when nettest priority 15 memory 2M pci net 0 endpoint net0 share net0 256 signal net0
server netnic1 when nettest priority 15 memory 2M pci net 1 endpoint net1 share net1 256 signal net1
server netrng  when nettest priority 14 memory 256K pci rng 0 endpoint rng-net
server netd    when nettest needs netnic0 priority 12 memory 4M args {args} connect net0 share net0 256 notify net0 connect net1 share net1 256 notify net1 connect rng-net
"""
MAC = {"ktap0": "525400123456", "ktap1": "525400123457"}


def sh(*c: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(c, check=check, capture_output=True, text=True)


def make_image(build: Path, out: Path, netd_args: str) -> None:
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(build / "image" / "tftp", out)
    manifest = out / "manifest"
    manifest.write_text((REPO / "image" / "manifest").read_text() + NETD_LINES.format(args=netd_args))
    elfs = sorted(str(p) for p in (build / "user").glob("*.elf") if p.name != "init.elf")
    subprocess.run([str(REPO / "tools" / "mkcpio.sh"), str(out / "servers.cpio"), str(manifest), *elfs], check=True)
    manifest.unlink()


def command_frame(ns: str, dev: str, word: str) -> None:
    """An ethertype 0x88b5 frame to netd's MAC on DEV carrying WORD (netd obeys with debug=1)."""
    code = f"""
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(({dev!r}, 0))
src = bytes.fromhex(open('/sys/class/net/{dev}/address').read().strip().replace(':', ''))
f = bytes.fromhex({MAC[dev]!r}) + src + b'\\x88\\xb5' + {word!r}.encode()
s.send(f + bytes(max(0, 60 - len(f))))
"""
    sh("ip", "netns", "exec", ns, sys.executable, "-c", code)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nics", default="virtio,virtio")
    ap.add_argument("--dhcp", action="store_true", help="netd's second NIC uses DHCP (dnsmasq in lan)")
    ap.add_argument("--build", default=str(REPO / "build"))
    ns_args = ap.parse_args()
    net1 = "dhcp" if ns_args.dhcp else "10.9.1.2/24"
    tmp = Path(tempfile.mkdtemp(prefix="netd-smoke-"))
    img = tmp / "tftp"
    make_image(Path(ns_args.build), img, f"net0=10.9.0.2/24,net1={net1},stats=60,debug=1")
    log = tmp / "serial.log"
    wan, lan = f"nw{os.getpid()}", f"nl{os.getpid()}"
    for n in (wan, lan):
        sh("ip", "netns", "add", n)
        sh("ip", "-n", n, "link", "set", "lo", "up")
    for t in ("ktap0", "ktap1"):
        sh("ip", "-n", wan, "tuntap", "add", "dev", t, "mode", "tap")
        sh("ip", "-n", wan, "link", "set", t, "up")
    sh("ip", "-n", wan, "addr", "add", "10.9.0.1/24", "dev", "ktap0")
    cfg = kq.Config(boot="direct", accel="auto", nic=ns_args.nics, args=["nettest"], taps=["ktap0", "ktap1"],
                    netns=wan, serial=f"file:{log}", qemu_extra="-device virtio-rng-pci", image_dir=img)
    qout = open(tmp / "qemu.log", "wb")
    proc = kq._spawn(kq.build_command(cfg).cmd, qout)
    helpers: list[subprocess.Popen] = []
    rep = kq.Reporter()

    def text() -> str:
        try:
            return kq.clean_log(log.read_text(errors="replace"))
        except OSError:
            return ""

    def wait_for(pattern: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and proc.poll() is None:
            if re.search(pattern, text(), re.M):
                return True
            time.sleep(0.2)
        return bool(re.search(pattern, text(), re.M))

    def check(cond: bool, msg: str) -> None:
        if not cond:
            raise kq.TestFailure(msg)

    def ping(ns: str, ip: str, n: int = 3) -> None:
        p = sh("ip", "netns", "exec", ns, "ping", "-c", str(n), "-i", "0.2", "-W", "2", ip, check=False)
        check(p.returncode == 0, f"ping {ip} from {ns}: {p.stdout.strip().splitlines()[-2:]}")

    try:
        time.sleep(1.0)  # QEMU holds both taps by now; move the lan one
        sh("ip", "-n", wan, "link", "set", "ktap1", "netns", lan)
        sh("ip", "-n", lan, "link", "set", "ktap1", "up")
        sh("ip", "-n", lan, "addr", "add", "10.9.1.1/24", "dev", "ktap1")
        sh("ip", "-n", lan, "route", "add", "default", "via", "10.9.1.2")
        sh("ip", "-n", wan, "route", "add", "10.9.1.0/24", "via", "10.9.0.2")
        if ns_args.dhcp:
            helpers.append(subprocess.Popen(
                ["ip", "netns", "exec", lan, "dnsmasq", "--no-daemon", "--interface=ktap1", "--bind-interfaces",
                 "--port=0", "--no-resolv", "--no-hosts", "--leasefile-ro", f"--pid-file={tmp}/dnsmasq.pid",
                 "--dhcp-range=10.9.1.100,10.9.1.150,255.255.255.0,1h", "--dhcp-host=52:54:00:12:34:57,10.9.1.2",
                 "--dhcp-option=3,10.9.1.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if not rep.run("netd.ready", lambda: check(wait_for(r"^keel: ready$", 120), "no `keel: ready`")):
            return rep.finish()
        rep.run("netd.net1_configured", lambda: check(
            wait_for(r"netd: net1: up, address 10\.9\.1\.2 ", 60), "net1 has no address"))
        rep.run("netd.ping_net0", lambda: ping(wan, "10.9.0.2"))
        rep.run("netd.ping_net1", lambda: ping(lan, "10.9.1.2"))
        rep.run("netd.forward_wan_to_lan", lambda: ping(wan, "10.9.1.1"))
        rep.run("netd.forward_lan_to_wan", lambda: ping(lan, "10.9.0.1"))

        def iperf() -> None:
            srv = subprocess.Popen(["ip", "netns", "exec", lan, "iperf3", "-s", "-1", "-B", "10.9.1.1"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            helpers.append(srv)
            time.sleep(0.5)
            p = sh("ip", "netns", "exec", wan, "iperf3", "-c", "10.9.1.1", "-t", "5", "-f", "m", check=False)
            print("\n".join(ln for ln in p.stdout.splitlines() if "sender" in ln or "receiver" in ln), file=sys.stderr)
            check(p.returncode == 0, p.stdout[-300:] + p.stderr[-300:])

        rep.run("netd.iperf3_forwarded", iperf)

        def sha() -> None:
            srv_code = ("import socket,hashlib\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                        "s.bind(('10.9.1.1',9000));s.listen(1);c,_=s.accept();h=hashlib.sha256();n=0\n"
                        "while True:\n b=c.recv(65536)\n if not b: break\n h.update(b);n+=len(b)\nprint(n,h.hexdigest())")
            cli_code = ("import socket,hashlib,os\nd=os.urandom(20<<20)\nc=socket.create_connection(('10.9.1.1',9000))\n"
                        "c.sendall(d);c.shutdown(socket.SHUT_WR);c.recv(1);print(len(d),hashlib.sha256(d).hexdigest())")
            srv = subprocess.Popen(["ip", "netns", "exec", lan, sys.executable, "-c", srv_code],
                                   stdout=subprocess.PIPE, text=True)
            helpers.append(srv)
            time.sleep(0.5)
            cli = sh("ip", "netns", "exec", wan, sys.executable, "-c", cli_code, check=False)
            got = srv.communicate(timeout=120)[0].split()
            check(got[:2] == cli.stdout.split()[:2], f"sent {cli.stdout.strip()}, received {' '.join(got)}")

        rep.run("netd.20MB_forwarded_intact", sha)

        def stats() -> None:
            command_frame(wan, "ktap0", "KEEL-STATS")
            check(wait_for(r"netd: net0: command frame: statistics", 10), "no statistics")
            check(wait_for(r"netd: lwIP heap .* pools", 5), "no pool line")

        rep.run("netd.stats_command", stats)

        def driver_restart() -> None:
            command_frame(lan, "ktap1", "KEEL-NICCRASH")
            check(wait_for(r"netd: net1: attached: .* generation 2", 20), "netd did not re-attach to generation 2")
            ping(wan, "10.9.1.1")

        rep.run("netd.driver_restart_reattached", driver_restart)

        def netd_restart() -> None:
            command_frame(wan, "ktap0", "KEEL-NETDCRASH")
            check(wait_for(r"netd: lwIP .* restart 1", 20), "netd was not restarted")
            check(wait_for(r"restart 1(.|\n)*netd: net1: attached", 20), "netd did not re-attach")
            # The new netd configures its addresses again (DHCP included).
            check(wait_for(r"restart 1(.|\n)*netd: net1: up, address 10\.9\.1\.2 ", 60), "net1 got no address again")
            time.sleep(1)
            ping(wan, "10.9.0.2")
            ping(wan, "10.9.1.1")

        rep.run("netd.netd_restart_reattached", netd_restart)
    finally:
        for h in helpers:
            if h.poll() is None:
                h.terminate()
                h.wait(timeout=5)
        kq._kill(proc)
        qout.close()
        for n in (wan, lan):
            sh("ip", "netns", "del", n, check=False)
        print(f"serial log: {log}", file=sys.stderr)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
