#!/usr/bin/env python3
"""NAT and port forwarding in the shipping image: one lean boot with two
NICs and nothing but an appliance.conf, test hosts in namespaces
(test_fwd's lab, netlab.Router), and a router beyond the WAN:

    NIC 0  e1000   host A 10.9.10.2: the WAN ("internet") host, no route to
                   the LAN; also a router to host C (10.9.20.2) beyond it
    NIC 1  virtio  host B 10.9.11.2 (the LAN server) and 10.9.11.3 (a LAN
                   client) in one namespace; default route via the appliance

Rules: `match out on wan from $lan_net nat-to (wan)`; `pass in on wan
proto tcp to (wan) port 80 rdr-to 10.9.11.2 port 8080`, the same in on lan
for reflection with `match out on lan ... nat-to (lan)` (pf's documented
way, docs/CONFIG.md); everything else in on wan is blocked.

Checks: B pings A (echo ids translated; A has no route back to the LAN, so
only NAT brings the reply), while A cannot reach B directly even with a
route (negative, beside it the positive control); A sees the appliance's
WAN address as the source; `show states` shows the translation in pfctl's
form; 1,000 UDP flows from B get 1,000 distinct source ports, each reply
back; 20 MiB of TCP from B arrive byte-exact at A; a UDP probe to C with
TTL 2 expires at A, whose time-exceeded reaches B's socket with the quoted
header translated back (Linux matches it to the socket by that header),
beside a probe with the full TTL that reaches C; A reaches B's server
through rdr-to on the WAN address (port 81 stays closed); B's second
address reaches the same forwarded port through the WAN address and the
server sees the appliance's LAN address (reflection); `show nat` counts;
the metrics page has keel_nat_states_total and keel_nat_ports_in_use.

Usage: python3 tests/qemu/test_nat.py [--image-dir DIR] [--mb N]
Needs root (ip netns, tap, veth).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402
import test_fwd as fwd  # noqa: E402
from test_console import check  # noqa: E402

WAN_ME, LAN_ME = "10.9.10.1", "10.9.11.1"
HOST_A, HOST_B, CLIENT_B, HOST_C = "10.9.10.2", "10.9.11.2", "10.9.11.3", "10.9.20.2"

CONF = """\
# test_nat: NAT and port forwarding
hostname fw
log info
interface wan nic 0 address 10.9.10.1/24 gateway 10.9.10.2
interface lan nic 1 address 10.9.11.1/24
lan_net = "10.9.11.0/24"
server = "10.9.11.2"
match out on wan from $lan_net nat-to (wan)
block in on wan
pass out
pass in on lan
pass in on wan proto tcp to (wan) port 80 rdr-to $server port 8080
pass in on lan proto tcp from $lan_net to (wan) port 80 rdr-to $server port 8080
match out on lan proto tcp from $lan_net to $server port 8080 nat-to (lan)
metrics listen 10.9.11.1:9100
"""

# Servers on the test hosts: `udp PORT` / `tcp PORT` answer each datagram
# or connection with the peer's "ADDR:PORT" as they see it.
WHOAMI = r"""
import socket, sys
kind, port = sys.argv[1], int(sys.argv[2])
if kind == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    print("ready", flush=True)
    while True:
        d, a = s.recvfrom(2048)
        s.sendto(f"{a[0]}:{a[1]}".encode(), a)
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", port)); srv.listen(64)
print("ready", flush=True)
while True:
    c, a = srv.accept()
    try:
        c.sendall(f"{a[0]}:{a[1]}".encode())
    except OSError:
        pass
    c.close()
"""

# Clients, run in a host's namespace:
#   tcp SRC DST PORT TIMEOUT      the server's answer, or "fail ..."
#   udp DST PORT                  one datagram's answer, or "fail"
#   flows DST PORT N              N sockets, one datagram each (resent until
#                                 answered): "answers A distinct D sources S"
#   ttl DST PORT TTL              one probe with that TTL: "icmp TYPE CODE
#                                 from OFFENDER" from the socket's error
#                                 queue, "answer ..." or "none"
CLIENT = r"""
import select, socket, struct, sys, time
mode = sys.argv[1]
if mode == "tcp":
    src, dst, port, to = sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    s = socket.socket(); s.settimeout(to)
    if src != "-":
        s.bind((src, 0))
    try:
        s.connect((dst, port)); got = b""
        while True:
            d = s.recv(100)
            if not d:
                break
            got += d
        print(got.decode() or "fail empty")
    except OSError as e:
        print("fail", e)
elif mode == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
    for _ in range(3):
        s.sendto(b"hi", (sys.argv[2], int(sys.argv[3])))
        try:
            print(s.recv(100).decode()); break
        except OSError:
            pass
    else:
        print("fail")
elif mode == "flows":
    dst, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setblocking(False)
        s.bind(("0.0.0.0", 20000 + i)); socks.append(s)
    poller = select.poll()
    byfd = {}
    for i, s in enumerate(socks):
        poller.register(s.fileno(), select.POLLIN)
        byfd[s.fileno()] = i
    answers = {}
    end = time.monotonic() + 120
    while len(answers) < n and time.monotonic() < end:
        for i, s in enumerate(socks):
            if i not in answers:
                try:
                    s.sendto(b"x", (dst, port))
                except OSError:
                    pass
                if i % 50 == 49:
                    time.sleep(0.02)   # a burst the appliance's pbuf pool takes
        until = time.monotonic() + 3
        while time.monotonic() < until and len(answers) < n:
            for fd, _ in poller.poll(500):
                i = byfd[fd]
                try:
                    answers[i] = socks[i].recv(100).decode()
                    poller.unregister(fd)
                except OSError:
                    pass
    ports = {a.split(":")[1] for a in answers.values()}
    srcs = sorted({a.split(":")[0] for a in answers.values()})
    print(f"answers {len(answers)} distinct {len(ports)} sources {','.join(srcs) or '-'}")
else:
    dst, port, ttl = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    IP_RECVERR, MSG_ERRQUEUE = 11, 0x2000
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_IP, socket.IP_TTL, ttl)
    s.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
    s.bind(("0.0.0.0", 33000))
    out = "none"
    for _ in range(3):
        s.sendto(b"probe", (dst, port))
        end = time.monotonic() + 2
        while time.monotonic() < end and out == "none":
            try:
                data, anc, _, _ = s.recvmsg(100, 512, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
                for level, kind, d in anc:
                    if level == socket.SOL_IP and kind == IP_RECVERR:
                        errno_, origin, typ, code, _, info, _ = struct.unpack("=IBBBBII", d[:16])
                        who = socket.inet_ntoa(d[20:24]) if len(d) >= 24 else "?"
                        out = f"icmp {typ} {code} from {who} origin {origin}"
            except BlockingIOError:
                pass
            try:
                out = "answer " + s.recv(100, socket.MSG_DONTWAIT).decode()
            except OSError:
                pass
            time.sleep(0.05)
        if out != "none":
            break
    print(out)
"""


def client(ns: str, *args: str, timeout: float = 300) -> str:
    """CLIENT with ARGS in NS: the last line it printed."""
    return netlab.last_line(netlab.ns_py(ns, CLIENT, *args, timeout=timeout))


def serve(lab: netlab.Router, ns: str, kind: str, port: int) -> None:
    """A WHOAMI server in NS, ended by lab.close() with the lab's helpers."""
    p = lab.py(ns, WHOAMI, kind, str(port), stdout=subprocess.PIPE, text=True)
    check(p.stdout.readline().strip() == "ready", f"the {kind} server on port {port} in {ns} did not start")


def beyond(lab: netlab.Router) -> str:
    """Host C in a namespace of its own behind host A (a veth pair): A
    routes between the appliance's WAN and C, as a router beyond the WAN.
    Returns C's namespace (the lab deletes it)."""
    c = lab.netns(lab.name("c"))
    lab.veth(lab.hosts[0], lab.name("ca", dev=True), c, lab.name("cc", dev=True), "10.9.20.1/24", f"{HOST_C}/24")
    netlab.sh("ip", "-n", c, "route", "add", "default", "via", "10.9.20.1")
    netlab.ns_run(lab.hosts[0], "sysctl", "-qw", "net.ipv4.ip_forward=1", check=True)
    return c


def run(rep: kq.Reporter, tmp: Path, image: Path, mb: int) -> None:
    img = netlab.make_image(image, tmp / "img", CONF)
    lab = fwd.fw_lab(tmp, "n", ["e1000", "virtio"], img, rng=False)
    a, b = lab.hosts
    try:
        if not rep.run("nat.boot_two_interfaces_up", lambda: lab.boot_ready(2)):
            return
        # A is an internet host: no route to the LAN (replies reach B only
        # through the translation), and a router to C.
        netlab.sh("ip", "-n", a, "route", "del", "default")
        netlab.sh("ip", "-n", b, "addr", "add", f"{CLIENT_B}/24", "dev", lab.taps[1])
        c = beyond(lab)
        serve(lab, a, "tcp", 7001)
        serve(lab, a, "udp", 7000)
        serve(lab, c, "udp", 7000)
        serve(lab, b, "tcp", 8080)

        def ping_through_nat():
            check(lab.ping(1, HOST_A, 3), "B cannot ping A through the translation")
            netlab.sh("ip", "-n", a, "route", "add", "10.9.11.0/24", "via", WAN_ME)
            try:
                r = client(a, "tcp", "-", HOST_B, "8080", "4")
                check(r.startswith("fail"), f"A reached B's private address directly: {r}")
            finally:
                netlab.sh("ip", "-n", a, "route", "del", "10.9.11.0/24", "via", WAN_ME)
            check(lab.ping(1, HOST_A, 2), "control: B cannot ping A after A's direct try")

        rep.run("nat.lan_pings_wan_host_wan_cannot_reach_lan", ping_through_nat)

        def wan_sees_appliance():
            r = client(b, "tcp", HOST_B, HOST_A, "7001", "10")
            m = re.fullmatch(r"(\d+\.\d+\.\d+\.\d+):(\d+)", r)
            check(m is not None, f"B -> A:7001: {r}")
            check(m.group(1) == WAN_ME, f"A saw {m.group(1)}, not the appliance's WAN address {WAN_ME}")
            check(50001 <= int(m.group(2)) <= 65535, f"the source port {m.group(2)} is not from nat-to's pool")

        rep.run("nat.wan_host_sees_the_appliance_address", wan_sees_appliance)

        def states_show_translation():
            code = (f"import socket, time\ns = socket.socket()\ns.bind(('{HOST_B}', 45123))\n"
                    f"s.connect(('{HOST_A}', 5001))\nprint('up', flush=True)\ntime.sleep(8)\n")
            holder = lab.py(b, code, stdout=subprocess.PIPE, text=True)
            check(holder.stdout.readline().strip() == "up", "B could not connect to A:5001")
            t = lab.cmd("show states", "CONNECTION")
            pat = rf"wan\s+tcp\s+{re.escape(HOST_B)}:45123 \({re.escape(WAN_ME)}:(\d+)\) -> {re.escape(HOST_A)}:5001"
            check(re.search(pat, t) is not None, f"show states has no translated row for B:45123: {t!r}")
            check(re.search(rf"lan\s+tcp\s+{re.escape(HOST_A)}:5001 <- {re.escape(HOST_B)}:45123", t) is not None,
                  f"show states has no untranslated lan row for B:45123: {t!r}")

        rep.run("nat.show_states_shows_both_sides", states_show_translation)

        def udp_flows():
            r = client(b, "flows", HOST_A, "7000", "1000")
            m = re.fullmatch(r"answers (\d+) distinct (\d+) sources (\S+)", r)
            check(m is not None, f"flows: {r}")
            check(m.group(3) == WAN_ME, f"A saw sources {m.group(3)}, not only {WAN_ME}")
            check(int(m.group(1)) == 1000, f"only {m.group(1)} of 1000 flows were answered")
            check(int(m.group(2)) == 1000, f"1000 flows got {m.group(2)} distinct ports")

        rep.run("nat.udp_1000_flows_get_1000_ports", udp_flows)

        def tcp_bulk():
            r = lab.send(1, 0, 5001, mb)
            check(r == "ok", f"B -> A {mb} MiB through the translation: {r}")

        rep.run(f"nat.tcp_{mb}mb_intact_through_snat", tcp_bulk)

        def ttl_expired():
            r = client(b, "udp", HOST_C, "7000")
            check(r.startswith(WAN_ME + ":"), f"control: a full-TTL datagram to C: {r} (C should see {WAN_ME})")
            r = client(b, "ttl", HOST_C, "7000", "2")
            check(r.startswith("icmp 11 0 from " + HOST_A),
                  f"no time-exceeded from A on B's socket (quote not translated back?): {r}")

        rep.run("nat.ttl_expired_reaches_lan_host_translated_back", ttl_expired)

        def rdr():
            r = client(a, "tcp", "-", WAN_ME, "80", "10")
            check(r.startswith(HOST_A + ":"), f"A -> {WAN_ME}:80 (rdr-to B:8080): {r}")
            r = client(a, "tcp", "-", WAN_ME, "81", "4")
            check(r.startswith("fail"), f"A -> {WAN_ME}:81 (no rule) was not blocked: {r}")
            r = client(a, "tcp", "-", WAN_ME, "80", "10")
            check(r.startswith(HOST_A + ":"), f"control: A -> {WAN_ME}:80 after the blocked try: {r}")

        rep.run("nat.rdr_wan_host_reaches_lan_server", rdr)

        def reflection():
            r = client(b, "tcp", CLIENT_B, WAN_ME, "80", "10")
            check(r.startswith(LAN_ME + ":"),
                  f"{CLIENT_B} -> {WAN_ME}:80: {r} (the server should see the appliance's LAN address)")
            r = client(b, "tcp", CLIENT_B, WAN_ME, "81", "4")
            check(r.startswith("fail"), f"{CLIENT_B} -> {WAN_ME}:81 (not forwarded) answered: {r}")

        rep.run("nat.reflection_lan_host_through_wan_address", reflection)

        def show_nat():
            t = lab.cmd("show nat", "nat-to ports in use", "ICMP errors")
            check(re.search(r"match out on wan from 10\.9\.11\.0/24 to any nat-to \(wan\)", t) is not None,
                  f"show nat lacks the nat-to rule: {t!r}")
            check("rdr-to 10.9.11.2 port 8080" in t, f"show nat lacks the rdr-to rule: {t!r}")
            m = re.search(r"\ball\s+-\s+(\d+)\s+(\d+)\s+nat-to ports in use (\d+)", t)
            check(m is not None and int(m.group(1)) >= 1000, f"show nat counts too few translations: {t!r}")
            m = re.search(r"ICMP errors (\d+)", t)
            check(m is not None and int(m.group(1)) >= 1, f"show nat counted no ICMP error: {t!r}")

        rep.run("nat.show_nat_counts", show_nat)

        def metrics():
            p = netlab.ns_run(b, "curl", "-s", "--max-time", "20", f"http://{LAN_ME}:9100/metrics")
            check(p.returncode == 0, f"curl of the metrics page failed ({p.returncode}): {p.stderr.strip()}")
            got = {m.group(1): int(m.group(2))
                   for m in re.finditer(r"^(keel_nat_[a-z_]+(?:\{[^}]*\})?) (\d+)$", p.stdout, re.M)}
            check(got.get("keel_nat_states_total", 0) >= 1000, f"keel_nat_states_total: {got}")
            check("keel_nat_ports_in_use" in got and "keel_nat_states" in got, f"keel_nat_* gauges missing: {got}")
            check(got.get('keel_nat_refused_total{reason="pool-exhausted"}', -1) == 0, f"pool exhausted? {got}")
            check("# TYPE keel_nat_ports_in_use gauge" in p.stdout, "keel_nat_ports_in_use is not a gauge")

        rep.run("nat.metrics_page_has_nat_ports", metrics)
    finally:
        lab.close("fwd-nat")


def main() -> int:
    return netlab.suite_main("nat", lambda rep, tmp, image, opts: run(rep, tmp, image, opts.mb),
                             mb=(20, "MiB of the TCP stream (default 20)"))


if __name__ == "__main__":
    sys.exit(main())
