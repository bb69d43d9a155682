#!/usr/bin/env python3
"""IPv6 dual stack on the shipping image, configured by nothing but an
appliance.conf (test_fwd's lab: each NIC's tap in a namespace of its own).

    NIC 0  virtio-net  host A (wan): 10.9.10.2, 2001:db8:10::2/64, runs radvd
                       advertising 2001:db8:10::/64; the appliance's wan has
                       `autoconf` and takes its address by SLAAC
    NIC 1  virtio-net  host B (lan): 10.9.11.2, 2001:db8:11::2/64; the
                       appliance's lan is `address 2001:db8:11::1/64`

Rules (inet6): echo requests pass in; TCP to port 6001 passes in on wan
only; TCP to port 6003 is blocked by a block rule; port 6002 passes in on
lan.  Checks: the wan address comes from radvd's prefix (and is the one
the appliance's link-local interface ID gives); A and B ping6 the
appliance; TCP A -> B on 6001 arrives intact (the pass rule) while B -> A
on 6001 is blocked (the rule is `in on wan`); 6003 is blocked both ways
(the block rule), each negative check between positive controls; tlsd's
listener on 443 serves `curl -6` on the wan's SLAAC address, proxying to
B's web server over IPv4; the console's `show interfaces|routes|arp|states`
have IPv6 rows and its `ping` reaches an IPv6 host (and not one that is
not there); `modulate state` (6011): a stream A -> B arrives intact while
each end sees the other's initial sequence number replaced (packet sockets
in both namespaces; 6001's keep state is the control), and `show states`
marks the state `modulate`.

Static IPv6 routes (issue #15): B also routes (forwarding on) to a far
host F (a namespace of its own behind a veth, 2001:db8:20::5/64), which
the appliance reaches only by `route 2001:db8:20::/48 via 2001:db8:11::2`.
Checks: A pings F through the appliance (and not once the console points
the route at a gateway nobody answers for, and again once it sets it
back: the route is what does it);
tls 8443's backend is [2001:db8:20::5]:8080 on F, and curl -6 gets its
1 MiB page intact (sha256 compared); tls 8444 sends F a PROXY v1 header,
which must read "PROXY TCP6 <A's address> <the wan address> <port> 8444",
and tls 8445 a PROXY v2 header with family AF_INET6 and both addresses;
`show routes` lists the static route and the lan's static IPv6 gateway.
radvd advertises A's prefix with router lifetime 0 (A is no default
router), so the appliance's IPv6 default route is the lan's `gateway
2001:db8:11::2`: A pings 2001:db8:30::5 (on F, behind B, named by no
route) through it, and not once the console removes the gateway.

opsd over IPv6 (issue #15, last): `syslog [2001:db8:11::2]:5514` and `ntp
server 2001:db8:11::2` name B.  Checks: a console line ("log level is now
info") reaches a UDP AF_INET6 listener in B as RFC 5424 from the lan's
2001:db8:11::1, and `show system` counts it; a tiny SNTP responder in B
(stratum 5) is asked and taken: `show system` says `time source: ntp,
server 2001:db8:11::2, stratum 5` with the host's time.

Usage: python3 tests/qemu/test_ipv6.py [--image-dir DIR]
Needs root (ip netns, tap) and radvd (Debian's package; make deps installs it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402
from test_console import check  # noqa: E402
import netlab  # noqa: E402
import test_fwd as fwd  # noqa: E402

# test_fwd's TCP peer over IPv6: the same sink and sender, AF_INET6.
HOST6_CODE = (netlab.STREAM_CODE.replace("socket.socket()", "socket.socket(socket.AF_INET6)")
              .replace('"0.0.0.0"', '"::"'))

WAN6, LAN6, FAR6 = "2001:db8:10::", "2001:db8:11::", "2001:db8:20::"
FAR_HOST = FAR6 + "5"
BEYOND6 = "2001:db8:30::"
BEYOND_HOST = BEYOND6 + "5"

CONF = """# test_ipv6: dual stack
hostname fw
log info
interface wan nic 0 address 10.9.10.1/24 autoconf
interface lan nic 1 address 10.9.11.1/24 address 2001:db8:11::1/64 gateway 2001:db8:11::2
route 2001:db8:20::/48 via 2001:db8:11::2
pass in proto icmp
pass out keep state
pass in inet6 proto icmp6 icmp6-type echoreq keep state
pass in on wan inet6 proto tcp to port 6001 keep state
pass in on lan inet6 proto tcp from 2001:db8:11::/64 to port 6002 keep state
block in quick inet6 proto tcp to port 6003
# fw6 (issue #15): block return and state limits for IPv6 (fw6_* tests below)
block return in inet6 proto { tcp udp } to port 6004
table <flood6> persist
block in quick inet6 proto tcp from <flood6> to port 6006
pass in inet6 proto tcp to port 6006 keep state (max-src-conn 2, overload <flood6> flush global)
pass in on lan inet6 proto tcp to port 6007 keep state scrub (max-mss 1200)
pass in on lan inet6 proto tcp to port 6008 keep state
pass in on wan inet6 proto tcp to port 6009 no state
table <rate6> persist
block in quick inet6 proto tcp from <rate6> to port 6010
pass in inet6 proto tcp to port 6010 keep state (max-src-conn-rate 3/60, overload <rate6> flush)
block return out on lan inet6 proto tcp to port 6009
pass in on wan inet6 proto tcp to port 6011 modulate state
pass in on wan inet6 proto tcp to port 443 keep state
pass in on wan inet6 proto tcp to port 8443 keep state
pass in on wan inet6 proto tcp to port 8444 keep state
pass in on wan inet6 proto tcp to port 8445 keep state
# opsd over IPv6 (ops6_tests): B is the syslog collector and the NTP server; `pass out keep state` lets them through
syslog [2001:db8:11::2]:5514
ntp server 2001:db8:11::2

tls 443 {
    certificate ec.crt key ec.key
    backend 10.9.11.2:8080
}

tls 8443 {
    certificate ec.crt key ec.key
    backend [2001:db8:20::5]:8080
}

tls 8444 {
    certificate ec.crt key ec.key
    backend [2001:db8:20::5]:8081
    proxy-protocol v1
}

tls 8445 {
    certificate ec.crt key ec.key
    backend [2001:db8:20::5]:8082
    proxy-protocol v2
}
"""

# F's servers (behind B, reached by the static route): a 1 MiB page on
# 8080 over IPv6, and on 8081 an HTTP answer whose body is the PROXY line
# the appliance sent first.
FAR_PAGE_MB = 1
FAR_CODE = r"""
import hashlib, http.server, socket, sys, threading
page = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(%d * 32768))
class S6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", str(len(page))); self.end_headers()
        self.wfile.write(page)
    def log_message(self, *a):
        pass
def head_len(buf, v2):
    if not v2:
        return buf.find(b"\r\n") + 2 if b"\r\n" in buf else -1
    return 16 + int.from_bytes(buf[14:16], "big") if len(buf) >= 16 else -1
def proxy_echo(port, v2):
    ls = socket.socket(socket.AF_INET6); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("%s", port)); ls.listen(8)
    while True:
        c, _ = ls.accept()
        buf = b""
        while head_len(buf, v2) < 0 or b"\r\n\r\n" not in buf[head_len(buf, v2):]:
            d = c.recv(4096)
            if not d:
                break
            buf += d
        n = max(head_len(buf, v2), 0)
        body = (buf[:n].hex().encode() if v2 else buf[:n].rstrip(b"\r\n")) + b"\n"
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %%d\r\n\r\n" %% len(body) + body)
        c.close()
threading.Thread(target=proxy_echo, args=(8081, False), daemon=True).start()
threading.Thread(target=proxy_echo, args=(8082, True), daemon=True).start()
S6(("%s", 8080), H).serve_forever()
""" % (FAR_PAGE_MB, FAR_HOST, FAR_HOST)

# B's web server (the TLS listener's backend, over IPv4): one page.
BACKEND_CODE = r"""
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"keel-ipv6-backend\n"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("10.9.11.2", 8080), H).serve_forever()
"""


def make_image(image: Path, tmp: Path) -> Path:
    """test_fwd's site image plus a certificate and key for the listener."""
    site = tmp / "img6-site"
    site.mkdir()
    netlab.self_signed(site, "ec", "ipv6.test")
    return netlab.make_image(image, tmp / "img6", CONF, {"ec.crt": None, "ec.key": None}, site=site)


class Lab6:
    """test_fwd's lab plus IPv6 addresses, radvd on A and IPv6 sinks."""

    def __init__(self, tmp: Path, image: Path):
        self.lab = fwd.fw_lab(tmp, "6", ["virtio-modern", "virtio-modern"], image, rng=False)
        lab = self.lab
        a, b = lab.hosts
        ta, tb = lab.taps

        def sysctl(ns: str, setting: str) -> None:
            netlab.ns_run(ns, "sysctl", "-qw", setting, check=True)

        sysctl(a, "net.ipv6.conf.all.forwarding=1")  # radvd wants a router
        for ns, tap, addr in ((a, ta, WAN6 + "2/64"), (b, tb, LAN6 + "2/64")):
            sysctl(ns, f"net.ipv6.conf.{tap}.accept_dad=0")
            netlab.sh("ip", "-n", ns, "addr", "add", addr, "dev", tap, "nodad")
        netlab.sh("ip", "-n", b, "-6", "route", "add", "default", "via", LAN6 + "1")
        # F behind B: a veth pair, B forwards between lan and F.
        self.far = lab.netns(lab.name("far"))
        vb, vf = lab.name("vb", dev=True), lab.name("vf", dev=True)
        lab.veth(b, vb, self.far, vf, up=False)
        sysctl(b, "net.ipv6.conf.all.forwarding=1")
        for ns, dev, addr in ((b, vb, FAR6 + "1/64"), (self.far, vf, FAR_HOST + "/64")):
            sysctl(ns, f"net.ipv6.conf.{dev}.accept_dad=0")
            netlab.sh("ip", "-n", ns, "link", "set", dev, "up")
            netlab.sh("ip", "-n", ns, "addr", "add", addr, "dev", dev, "nodad")
        netlab.sh("ip", "-n", self.far, "-6", "route", "add", "default", "via", FAR6 + "1")
        # F's second network, which no appliance route names: reached by the static gateway.
        netlab.sh("ip", "-n", self.far, "addr", "add", BEYOND_HOST + "/128", "dev", "lo")
        netlab.sh("ip", "-n", b, "-6", "route", "add", BEYOND6 + "/64", "via", FAR_HOST)
        conf = tmp / "radvd.conf"
        # AdvDefaultLifetime 0: A advertises its prefix but is no default router, so the
        # appliance's IPv6 default route is the lan's static `gateway` (B).
        conf.write_text(f"interface {ta} {{\n AdvSendAdvert on;\n MinRtrAdvInterval 3;\n MaxRtrAdvInterval 4;\n"
                        f" AdvDefaultLifetime 0;\n"
                        f" prefix {WAN6}/64 {{ AdvOnLink on; AdvAutonomous on; }};\n}};\n")
        lab.helper(a, "radvd", "-n", "-C", str(conf), "-p", str(tmp / "radvd.pid"), "-m", "stderr",
                   stderr=open(tmp / "radvd.log", "wb"))
        lab.py(b, BACKEND_CODE)
        lab.py(self.far, FAR_CODE, stderr=open(tmp / "far.log", "wb"))
        sinks(lab, ("6001", "6002", "6003", "6011"))

    def ping6(self, host: int, addr: str, n: int = 2) -> bool:
        return netlab.ping(self.lab.hosts[host], addr, n, six=True)

    def send6(self, src: int, dst_addr: str, port: int, mb: int, connect_timeout: float = 60) -> str:
        return netlab.last_line(netlab.ns_py(self.lab.hosts[src], HOST6_CODE, "send", dst_addr, str(port), str(mb),
                                             f"{src}-{port}", str(connect_timeout)))

    def appliance_iid(self) -> bytes:
        """The interface ID (modified EUI-64, RFC 4291 2.5.1) of the
        appliance's wan NIC, from the MAC QEMU gives it (keelqemu.nic_mac);
        netd's attach line, when the serial log kept it whole, must agree.
        (The log alone is not enough: under load a line can come out
        interleaved with another server's.)"""
        mac_text = kq.nic_mac(0)
        t = self.lab.log()
        if "netd: eth0: attached: MAC " in t:
            logged = t.split("netd: eth0: attached: MAC ", 1)[1].split(",", 1)[0]
            check(logged == mac_text or len(logged) != len(mac_text),
                  f"netd attached eth0 with MAC {logged}, QEMU gave it {mac_text}")
        mac = bytes.fromhex(mac_text.replace(":", ""))
        return bytes([mac[0] ^ 2]) + mac[1:3] + b"\xff\xfe" + mac[3:6]

    def close(self) -> None:
        self.lab.close("fwd-ipv6")


def sinks(lab: netlab.Router, ports: tuple[str, ...]) -> None:
    """HOST6_CODE sinks on PORTS in each host."""
    for ns in lab.hosts:
        for port in ports:
            lab.py(ns, HOST6_CODE, "sink", port)


def run(rep: kq.Reporter, tmp: Path, image: Path, mb: int) -> None:
    img = make_image(image, tmp)
    l6 = Lab6(tmp, img)
    lab = l6.lab
    state: dict = {}
    try:
        if not rep.run("ipv6.boot_two_interfaces_up", lambda: lab.boot_ready(2)):
            return

        def slaac():
            iid = l6.appliance_iid()
            ll = ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + iid)
            want = ipaddress.IPv6Address(ipaddress.IPv6Address(WAN6).packed[:8] + iid)
            state["wan6"] = str(want)
            check(l6.ping6(0, f"{ll}%{lab.taps[0]}", 3), f"no answer from the wan link-local address {ll}")
            for _ in range(30):  # RAs every 3-4 s, then one DAD probe
                if l6.ping6(0, str(want), 1):
                    return
                time.sleep(1)
            raise kq.TestFailure(f"no answer from {want} (radvd's prefix + the NIC's interface ID)")

        if not rep.run("ipv6.wan_address_by_slaac_from_radvd", slaac):
            return
        rep.run("ipv6.host_a_ping6_wan_address", lambda: check(l6.ping6(0, state["wan6"], 3), "A: no ping6"))
        rep.run("ipv6.host_b_ping6_lan_address", lambda: check(l6.ping6(1, LAN6 + "1", 3), "B: no ping6"))
        netlab.sh("ip", "-n", lab.hosts[0], "-6", "route", "add", LAN6 + "/64", "via", state["wan6"], check=False)

        def a_to_b_pass():
            r = l6.send6(0, LAN6 + "2", 6001, mb)
            check(r == "ok", f"A -> B {mb} MiB on 6001 (pass in on wan): {r}")

        rep.run("ipv6.tcp_pass_rule_a_to_b_intact", a_to_b_pass)

        def pass_rule_other_way():
            r = l6.send6(1, WAN6 + "2", 6002, 1)
            check(r == "ok", f"control: B -> A 6002 (pass in on lan) failed: {r}")
            r = l6.send6(1, WAN6 + "2", 6001, 1, connect_timeout=4)
            check(r.startswith("connect-failed"), f"B -> A 6001 (the rule is in on wan only) was not blocked: {r}")
            r = l6.send6(0, LAN6 + "2", 6001, 1)
            check(r == "ok", f"control: A -> B 6001 failed after the blocked try: {r}")

        rep.run("ipv6.tcp_pass_rule_is_one_way", pass_rule_other_way)

        def block_rule_both_ways():
            r = l6.send6(0, LAN6 + "2", 6003, 1, connect_timeout=4)
            check(r.startswith("connect-failed"), f"A -> B 6003 (block rule) was not blocked: {r}")
            r = l6.send6(1, WAN6 + "2", 6003, 1, connect_timeout=4)
            check(r.startswith("connect-failed"), f"B -> A 6003 (block rule) was not blocked: {r}")
            r = l6.send6(1, WAN6 + "2", 6002, 1)
            check(r == "ok", f"control: B -> A 6002 failed after the blocked tries: {r}")

        rep.run("ipv6.tcp_block_rule_both_ways", block_rule_both_ways)

        def tls_over_ipv6():
            url = f"https://[{state['wan6']}]:443/"
            p = None
            for _ in range(3):  # tlsd may still be loading its key
                p = netlab.ns_run(lab.hosts[0], "curl", "-6", "-sk", "--max-time", "30", url)
                if p.returncode == 0:
                    break
                time.sleep(3)
            check(p.returncode == 0 and p.stdout == "keel-ipv6-backend\n",
                  f"curl -6 {url}: rc {p.returncode}, {p.stdout!r} {p.stderr!r}")

        rep.run("ipv6.tls_served_to_curl_6", tls_over_ipv6)

        def console_show_rows():
            t = lab.cmd("show interfaces")
            check(f"{state['wan6']}/64" in t, f"show interfaces has no row for the SLAAC address: {t!r}")
            check("2001:db8:11::1/64" in t and "fe80::" in t, f"show interfaces lacks the static/link-local: {t!r}")
            t = lab.cmd("show routes")
            check("2001:db8:11::/64" in t and "2001:db8:10::/64" in t and "::/0" in t,
                  f"show routes lacks the static prefix, the RA's prefix or a default route: {t!r}")
            t = lab.cmd("show arp")
            check(WAN6 + "2" in t and LAN6 + "2" in t, f"show arp lists no IPv6 neighbours: {t!r}")
            t = lab.cmd("show states")
            check("[2001:db8:10::2]:" in t, f"show states has no IPv6 state of A's connections: {t!r}")
            # A TLS client holds its connection open: `show connections`
            # prints both IPv6 ends (it printed their first four bytes as an
            # IPv4 address before).
            held = lab.helper(lab.hosts[0], "sh", "-c",
                              f"sleep 60 | openssl s_client -quiet -connect [{state['wan6']}]:443")
            try:
                want = f"[{state['wan6']}]:443"
                for _ in range(20):
                    t = lab.cmd("show connections")
                    if want in t:
                        break
                    time.sleep(0.5)
                row = [ln for ln in t.splitlines() if want in ln]
                # ESTABLISHED, or TIME_WAIT once tlsd gave up on the idle client
                check(row and "[2001:db8:10::2]:" in row[0], f"show connections has no IPv6 row {want} from A: {t!r}")
            finally:
                lab.stop(held)

        rep.run("ipv6.console_show_ipv6_rows", console_show_rows)

        def console_ping6():
            lab.cmd(f"ping {WAN6}2 count 2", "PING 2001:db8:10::2: 2 echo requests", "2 sent, 2 received")
            t = lab.cmd(f"ping {LAN6}77 count 1", "1 sent, 0 received")  # negative control: nobody there
            check("reply 1" not in t, f"a reply from an address nobody has: {t!r}")

        rep.run("ipv6.console_ping6", console_ping6)

        def curl6(port: int) -> subprocess.CompletedProcess:
            url = f"https://[{state['wan6']}]:{port}/"
            p = None
            for _ in range(3):
                p = subprocess.run(netlab.ns_cmd(lab.hosts[0], "curl", "-6", "-sk", "--max-time", "30", url),
                                   capture_output=True)
                if p.returncode == 0:
                    break
                time.sleep(3)
            return p

        netlab.sh("ip", "-n", lab.hosts[0], "-6", "route", "add", FAR6 + "/48", "via", state["wan6"], check=False)

        def static_route_reaches_far_host():
            check(l6.ping6(0, FAR_HOST, 3), f"A cannot ping {FAR_HOST} through the appliance's static route")
            t = lab.cmd("show routes")
            check("2001:db8:20::/48" in t and "2001:db8:11::2" in t and "static" in t,
                  f"show routes has no row for the static IPv6 route: {t!r}")
            check("default (static)" in t, f"show routes has no row for the lan's static IPv6 gateway: {t!r}")
            # negative control: the route through a gateway nobody answers for (it wins over the
            # static default gateway, which is B too) loses F; set back, F answers again
            lab.cmd("configure", prompt="fw# ")
            lab.cmd("set route 2001:DB8:20:0::/48 via 2001:db8:11::77", prompt="fw# ")
            lab.cmd("commit", "commit complete", prompt="fw# ")
            try:
                t = lab.cmd("show routes", prompt="fw# ")
                check("2001:db8:11::77" in t, f"show routes does not show the route's new gateway: {t!r}")
                check(not l6.ping6(0, FAR_HOST, 2), f"A still pings {FAR_HOST} with the route's gateway absent")
            finally:
                lab.cmd("set route 2001:db8:20::/48 via 2001:db8:11::2", prompt="fw# ")
                lab.cmd("commit", "commit complete", prompt="fw# ")
                lab.cmd("exit", prompt="fw> ")
            check(l6.ping6(0, FAR_HOST, 3), f"A cannot ping {FAR_HOST} after the route was set again")

        rep.run("ipv6.static_route_reaches_far_host", static_route_reaches_far_host)

        def tls_backend_on_ipv6():
            p = curl6(8443)
            want = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(FAR_PAGE_MB * 32768))
            check(p.returncode == 0, f"curl -6 :8443 (backend [{FAR_HOST}]:8080): rc {p.returncode} {p.stderr!r}")
            check(hashlib.sha256(p.stdout).hexdigest() == hashlib.sha256(want).hexdigest(),
                  f"the backend's page came back changed: {len(p.stdout)} bytes, want {len(want)}")

        rep.run("ipv6.tls_backend_on_ipv6_through_static_route", tls_backend_on_ipv6)

        def proxy_v1_tcp6():
            p = curl6(8444)
            line = p.stdout.decode(errors="replace").strip()
            check(p.returncode == 0, f"curl -6 :8444: rc {p.returncode} {p.stderr!r}")
            f = line.split(" ")
            check(len(f) == 6 and f[:2] == ["PROXY", "TCP6"] and f[2] == WAN6 + "2" and f[3] == state["wan6"]
                  and f[4].isdigit() and f[5] == "8444", f"PROXY v1 header for an IPv6 client: {line!r}")

        rep.run("ipv6.proxy_v1_header_carries_ipv6", proxy_v1_tcp6)

        def proxy_v2_inet6():
            p = curl6(8445)
            check(p.returncode == 0, f"curl -6 :8445: rc {p.returncode} {p.stderr!r}")
            h = bytes.fromhex(p.stdout.decode(errors="replace").strip())
            sig = bytes.fromhex("0d0a0d0a000d0a515549540a")
            src, dst = ipaddress.IPv6Address(WAN6 + "2").packed, ipaddress.IPv6Address(state["wan6"]).packed
            check(len(h) == 52 and h[:12] == sig and h[12] == 0x21 and h[13] == 0x21 and h[14:16] == b"\x00\x24"
                  and h[16:32] == src and h[32:48] == dst and int.from_bytes(h[50:52], "big") == 8445,
                  f"PROXY v2 header for an IPv6 client (want PROXY, AF_INET6, 36 bytes of addresses): {h.hex()}")

        rep.run("ipv6.proxy_v2_header_carries_ipv6", proxy_v2_inet6)

        netlab.sh("ip", "-n", lab.hosts[0], "-6", "route", "add", BEYOND6 + "/64", "via", state["wan6"], check=False)

        def ping_beyond(want: bool, tries: int) -> bool:
            for _ in range(tries):
                if l6.ping6(0, BEYOND_HOST, 1) == want:
                    return True
                time.sleep(1)
            return False

        def static_gateway_without_ra_router():
            t = lab.cmd("show routes")
            check("default (static)" in t and "default (ra)" not in t,
                  f"show routes: want the lan's static IPv6 gateway and no advertised router: {t!r}")
            check(ping_beyond(True, 5), f"A cannot ping {BEYOND_HOST} (no route names it: the static gateway)")
            # negative control: the lan without its IPv6 gateway has no IPv6 default route
            lab.cmd("configure", prompt="fw# ")
            lab.cmd("set interface lan nic 1 address 10.9.11.1/24 address 2001:db8:11::1/64", prompt="fw# ")
            lab.cmd("commit", "commit complete", prompt="fw# ")
            try:
                time.sleep(3)  # the lan's static address goes through DAD again: past that, no reply means no route
                check(not l6.ping6(0, BEYOND_HOST, 3), f"A still pings {BEYOND_HOST} with the lan's IPv6 gateway deleted")
            finally:
                lab.cmd("set interface lan nic 1 address 10.9.11.1/24 address 2001:db8:11::1/64 gateway "
                        "2001:db8:11::2", prompt="fw# ")
                lab.cmd("commit", "commit complete", prompt="fw# ")
                lab.cmd("exit", prompt="fw> ")
            check(ping_beyond(True, 15), f"A cannot ping {BEYOND_HOST} after the gateway was set again")

        rep.run("ipv6.static_gateway_without_ra_router", static_gateway_without_ra_router)

        def ipv4_still_works():
            check(lab.ping(0, "10.9.10.1", 2), "A cannot ping 10.9.10.1 (IPv4 beside IPv6)")

        rep.run("ipv6.ipv4_beside_ipv6", ipv4_still_works)

        def isns6(port: int, mb_: int) -> tuple[str, list[str], list[str]]:
            return lab.isns(port, lambda: l6.send6(0, LAN6 + "2", port, mb_), v6=True)

        def modulate_state():
            r, a, b = isns6(6001, 1)
            check(r == "ok", f"control: A -> B 6001 failed: {r}")
            check(len(a) == 2 and "None" not in a and a == b, f"control: keep state changed the ISNs: A {a}, B {b}")
            r, a, b = isns6(6011, mb)
            check(r == "ok", f"A -> B {mb} MiB on 6011 (modulate state): {r}")
            check(len(a) == 2 and len(b) == 2 and "None" not in a + b, f"a sniffer missed the handshake: A {a}, B {b}")
            check(a[0] != b[0], f"B received A's own ISN {a[0]}: not modulated")
            check(a[1] != b[1], f"A received B's own ISN {b[1]}: not modulated")
            t = lab.cmd("show states")
            check(any(":6011" in ln and "modulate" in ln for ln in t.splitlines()),
                  f"show states marks no 6011 state modulate: {t!r}")

        rep.run("ipv6.tcp_modulate_state_intact_isn_replaced", modulate_state)

        fw6_tests(rep, l6)
        ops6_tests(rep, l6)
    finally:
        l6.close()


# fw6 (issue #15): a UDP client that reports what the appliance's answer made of its datagram.
UDP6_PROBE = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.settimeout(float(sys.argv[3]))
s.connect((sys.argv[1], int(sys.argv[2])))
try:
    s.send(b"probe"); s.recv(100); print("answered")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print("timeout", e)
"""

# Holds N connections to HOST:PORT open, then tries one more: prints one word per connection.
HOLD6 = r"""
import socket, sys, time
host, port, n, t = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
held, out = [], []
for i in range(n + 1):
    s = socket.socket(socket.AF_INET6); s.settimeout(t)
    try:
        s.connect((host, port)); held.append(s); out.append("ok")
    except OSError as e:
        out.append("refused" if isinstance(e, ConnectionRefusedError) else "timeout")
print(" ".join(out), flush=True)
"""


# Accepts connections and answers each with the MSS the kernel uses on it (TCP_MAXSEG: at most the peer's MSS option).
MSS6_SINK = r"""
import socket, sys
srv = socket.socket(socket.AF_INET6); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("::", int(sys.argv[1]))); srv.listen(8)
while True:
    c, _ = srv.accept()
    c.sendall(str(c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)).encode()); c.close()
"""

MSS6_CLIENT = r"""
import socket, sys
s = socket.socket(socket.AF_INET6); s.settimeout(5)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print(s.recv(20).decode())
except OSError as e:
    print("failed", e)
"""


# Sends N UDP datagrams to HOST:PORT over N * 5 ms and counts the ICMPv6 port unreachables that come back.
UNREACH6_COUNT = r"""
import socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
raw = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6); raw.settimeout(0.2)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
t0 = time.monotonic()
for i in range(n):  # paced, so that each loop iteration of netd sees a few: only the token bucket limits
    u.sendto(b"x", (host, port)); time.sleep(0.005)
sent_in = time.monotonic() - t0
got, end = 0, time.monotonic() + 2
while time.monotonic() < end:
    try:
        d = raw.recv(2000)
    except socket.timeout:
        continue
    if d[0] == 1 and d[1] == 4:
        got += 1
print(got, round(sent_in, 3))
"""


def fw6_tests(rep: kq.Reporter, l6: Lab6) -> None:
    """Block return and state limits for IPv6 (net/firewall/fw6.h).  The
    rules are the fw6 lines of CONF; the tests here use ports 6004-6010
    only (and 6001-6003 as controls), so they may run after any others."""
    lab = l6.lab
    # listeners behind the rules: a pass would connect, so a refusal is the appliance's
    sinks(lab, ("6004", "6006", "6009", "6010"))
    time.sleep(1)

    def block_return_rst():
        t0 = time.monotonic()
        r = l6.send6(0, LAN6 + "2", 6004, 1, connect_timeout=5)
        took = time.monotonic() - t0
        check("refused" in r, f"A -> B 6004 (block return): no RST, got {r!r}")
        check(took < 3, f"the refusal took {took:.1f} s")
        r = l6.send6(1, WAN6 + "2", 6004, 1, connect_timeout=5)
        check("refused" in r, f"B -> A 6004 (block return): no RST, got {r!r}")
        t0 = time.monotonic()
        r = l6.send6(0, LAN6 + "2", 6003, 1, connect_timeout=3)  # negative control: a drop rule answers nothing
        check(r.startswith("connect-failed") and "refused" not in r and time.monotonic() - t0 >= 2.5,
              f"A -> B 6003 (block drop) did not time out: {r!r}")
        r = l6.send6(0, LAN6 + "2", 6001, 1)
        check(r == "ok", f"control: A -> B 6001 failed after the refused tries: {r}")

    rep.run("ipv6.fw6_block_return_rst_refuses_at_once", block_return_rst)

    def block_return_out():
        t0 = time.monotonic()
        r = l6.send6(0, LAN6 + "2", 6009, 1, connect_timeout=5)  # passes in on wan, blocked out on lan
        check("refused" in r and time.monotonic() - t0 < 3,
              f"A -> B 6009 (block return out on lan): no RST back over wan, got {r!r}")

    rep.run("ipv6.fw6_block_return_out_answers_over_the_route", block_return_out)

    def block_return_udp():
        p = netlab.ns_py(lab.hosts[0], UDP6_PROBE, LAN6 + "2", "6004", "3")
        check(p.stdout.strip() == "refused", f"A -> B udp 6004 (block return): no port unreachable: {p.stdout!r}")
        p = netlab.ns_py(lab.hosts[0], UDP6_PROBE, LAN6 + "2", "6003", "2")
        check(p.stdout.startswith("timeout"), f"A -> B udp 6003 (no rule: dropped) was answered: {p.stdout!r}")

    rep.run("ipv6.fw6_block_return_udp_port_unreachable", block_return_udp)

    def block_return_rate_limited():
        time.sleep(1.5)  # the token bucket (50 a second, bursts of 50) refills after the tests before
        p = netlab.ns_py(lab.hosts[0], UNREACH6_COUNT, LAN6 + "2", "6004", "400")
        words = p.stdout.split()
        check(len(words) == 2, f"the counter said {p.stdout!r} {p.stderr!r}")
        got, took = int(words[0]), float(words[1])
        print(f"  {got} port unreachables for 400 datagrams sent in {took} s", flush=True)
        check(got >= 5, f"only {got} port unreachables for 400 datagrams")
        check(got <= 50 + 50 * took + 40, f"{got} answers to 400 datagrams sent in {took} s: not rate-limited")

    rep.run("ipv6.fw6_block_return_rate_limited", block_return_rate_limited)

    def max_src_conn_overload():
        p = netlab.ns_py(lab.hosts[1], HOLD6, WAN6 + "2", "6006", "2", "3")
        check(p.stdout.split() == ["ok", "ok", "timeout"],
              f"B -> A 6006 with max-src-conn 2: want two connections and the third refused, got {p.stdout!r}")
        r = l6.send6(1, WAN6 + "2", 6006, 1, connect_timeout=3)  # B is in <flood6> now
        check(r.startswith("connect-failed"), f"B -> A 6006 after the overload was not blocked: {r!r}")
        t = lab.cmd("show states")
        left = [ln for ln in t.splitlines() if f"[{LAN6}2]:" in ln and f"[{WAN6}2]:6006 " in ln]
        check(not left, f"B's states to A:6006 were not flushed (flush global): {left!r}")
        r = l6.send6(0, LAN6 + "2", 6006, 1)  # another source is still served
        check(r == "ok", f"A -> B 6006 (another source) failed: {r!r}")
        r = l6.send6(1, WAN6 + "2", 6002, 1)  # and B's other connections are not touched
        check(r == "ok", f"control: B -> A 6002 failed: {r!r}")

    rep.run("ipv6.fw6_max_src_conn_overload_other_source_served", max_src_conn_overload)

    def max_src_conn_rate_overload():
        p = netlab.ns_py(lab.hosts[1], HOLD6, WAN6 + "2", "6010", "3", "3")
        check(p.stdout.split() == ["ok", "ok", "ok", "timeout"],
              f"B -> A 6010 with max-src-conn-rate 3/60: want three connections and the fourth refused, got "
              f"{p.stdout!r}")
        r = l6.send6(1, WAN6 + "2", 6010, 1, connect_timeout=3)  # B is in <rate6> now
        check(r.startswith("connect-failed"), f"B -> A 6010 after the overload was not blocked: {r!r}")
        r = l6.send6(0, LAN6 + "2", 6010, 1)  # another source is still served
        check(r == "ok", f"A -> B 6010 (another source) failed: {r!r}")

    rep.run("ipv6.fw6_max_src_conn_rate_overload_other_source_served", max_src_conn_rate_overload)

    def scrub_max_mss():
        for port in ("6007", "6008"):
            lab.py(lab.hosts[0], MSS6_SINK, port)
        time.sleep(1)
        got = {}
        for port in ("6007", "6008"):
            p = netlab.ns_py(lab.hosts[1], MSS6_CLIENT, WAN6 + "2", port)
            got[port] = p.stdout.strip()
        check(got["6008"].isdigit() and int(got["6008"]) > 1200,
              f"control: B -> A 6008 (no scrub) should see B's own MSS (1440 less options): {got}")
        check(got["6007"].isdigit() and int(got["6007"]) <= 1200,
              f"B -> A 6007 (scrub (max-mss 1200)): A's side of the connection uses MSS {got['6007']}")

    rep.run("ipv6.fw6_scrub_max_mss_clamps_syn", scrub_max_mss)


# ops6_tests: B's syslog collector (UDP, AF_INET6, port 5514): prints each
# datagram's source and text, one per line, until WANT is seen or SECS pass.
SYSLOG6_SINK = r"""
import socket, sys, time
want, secs = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 5514)); s.settimeout(0.5)
print("ready", flush=True)
end = time.time() + secs
while time.time() < end:
    try:
        d, a = s.recvfrom(2048)
    except socket.timeout:
        continue
    t = d.decode(errors="replace").replace("\n", " ")
    print(a[0], t, flush=True)
    if want in t:
        break
print("end", flush=True)
"""

# B's SNTP server (RFC 4330, UDP 123 over IPv6): answers every request with
# the host's time at stratum 5, echoing the request's transmit time, for
# SECS seconds; prints each request's source.
SNTP6_SERVER = r"""
import socket, struct, sys, time
secs = float(sys.argv[1])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 123)); s.settimeout(0.5)
def ts(t):
    return struct.pack("!II", int(t) + 2208988800, int((t % 1) * 2**32))
print("ready", flush=True)
end = time.time() + secs
while time.time() < end:
    try:
        d, a = s.recvfrom(512)
    except socket.timeout:
        continue
    if len(d) < 48 or d[0] & 7 != 3:
        continue
    rx = time.time()
    s.sendto(bytes([0x24, 5, 6, 0xec]) + bytes(8) + b"TEST" + ts(rx) + d[40:48] + ts(rx) + ts(time.time()), a)
    print("request", a[0], flush=True)
"""


def ops6_tests(rep: kq.Reporter, l6: Lab6) -> None:
    """opsd over IPv6 (#15): CONF's `syslog [2001:db8:11::2]:5514` and `ntp
    server 2001:db8:11::2` name B on the lan; opsd's dual-stack UDP socket
    (SOCK_UDP_BIND6) sends its syslog lines and SNTP requests there over
    IPv6 and takes the answer."""
    lab = l6.lab

    def syslog_over_ipv6():
        sink = lab.py(lab.hosts[1], SYSLOG6_SINK, "log level is now info", "40", stdout=subprocess.PIPE, text=True)
        check(sink.stdout.readline().strip() == "ready", "B's syslog collector did not start")
        lab.cmd("log level warn")
        lab.cmd("log level info")
        got = [ln.rstrip("\n") for ln in sink.stdout]
        sink.wait(5)
        hits = [ln for ln in got if "log level is now info" in ln]
        check(hits, f"B's collector got no 'log level is now info' over IPv6; it got {got[-5:]!r}")
        src, text = hits[-1].split(" ", 1)
        check(src == LAN6 + "1", f"the syslog line came from {src}, not the lan address {LAN6}1")
        f = text.split(" ", 6)
        check(f[0].startswith("<30>1") and f[2] == "fw" and f[3] == "consoled",
              f"not an RFC 5424 line from fw's consoled at daemon.info: {text!r}")
        out = lab.cmd("show system")
        check(re.search(r"syslog: \[2001:db8:11::2\]:5514, [1-9]\d* lines sent", out) is not None,
              f"show system does not count the lines sent to the IPv6 collector: {out!r}")

    rep.run("ipv6.syslog_over_ipv6_to_udp6_collector", syslog_over_ipv6)

    def ntp_over_ipv6():
        srv = lab.py(lab.hosts[1], SNTP6_SERVER, "60", stdout=subprocess.PIPE, text=True)
        check(srv.stdout.readline().strip() == "ready", "B's SNTP server did not start")
        end = time.time() + 40  # opsd asks every 2 s until its first answer
        out = ""
        while time.time() < end:
            out = lab.cmd("show system")
            if "time source: ntp" in out:
                break
            time.sleep(2)
        check(f"time source: ntp, server {LAN6}2, stratum 5" in out,
              f"opsd took no NTP answer from [{LAN6}2] (stratum 5): {out!r}")
        m = re.search(r"time: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", out)
        check(m is not None, f"no time in show system: {out!r}")
        t = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
        skew = abs((t - dt.datetime.now(dt.timezone.utc)).total_seconds())
        check(skew < 120, f"the appliance's time {m.group(1)} is {skew:.0f} s from the host's")
        srv.terminate()
        seen = srv.communicate(timeout=5)[0].split()
        check(f"{LAN6}1" in seen, f"B's SNTP server saw no request from {LAN6}1: {seen[-6:]!r}")

    rep.run("ipv6.ntp_over_ipv6_from_sntp_server", ntp_over_ipv6)


def main() -> int:
    def precheck() -> str | None:
        return None if shutil.which("radvd") else "radvd is not installed (make deps installs Debian's radvd)"

    return netlab.suite_main("ipv6", lambda rep, tmp, image, opts: run(rep, tmp, image, opts.mb),
                             mb=(8, "MiB of the allowed stream (default 8)"), precheck=precheck)


if __name__ == "__main__":
    sys.exit(main())
