#!/usr/bin/env python3
"""netd tests: boots Keel with `nettest` and two NICs, netd between two
network namespaces (wan and lan).

The image's manifest has no `nettest` lines yet, so this script makes a test
image: a copy of BUILD/image/tftp whose servers.cpio is repacked with
image/manifest plus the lines below (NETD_LINES), and whose site.cpio holds
the test's own firewall configurations (FW_SETS: appliance.conf, and
appliance-2.conf, appliance-3.conf for the reload checks).  netd takes
net0's address from appliance.conf (`interface wan nic 0 address ...`) and
net1's from args, which overrides appliance.conf's line for it.

  wan namespace: QEMU, ktap0 = 10.9.0.1/24, route to 10.9.1.0/24 via netd
  lan namespace: ktap1 (moved there once QEMU holds it) = 10.9.1.1/24,
                 default route via netd (10.9.1.2); with --dhcp, dnsmasq
                 there leases 10.9.1.2 to netd's second NIC

Checks: ping netd on both NICs; ping through netd both ways (forwarding);
iperf3 and 20 MB with a sha256 through netd; the firewall (a TCP port passed
by a rule, one blocked, one `block return`ed; UDP replies passing on state
alone, unsolicited UDP blocked; a reload that keeps an established
connection and refuses new ones; a reload that does not parse and leaves the
old set in force; rule counters equal to the pings sent); a statistics
command frame; a driver crash (netd re-attaches to generation 2); a netd
crash (init restarts netd, which re-attaches to the running drivers).
The socket service (abi/keel/socket.h) through the guest's `socktest`
client: --sock-mb MB (default 20) through its TCP echo service on
10.9.0.2:7 over the tap, and --fwd-mb MB (default 50) through QEMU's port
forwarding (127.0.0.1:7007 in the wan namespace -> NIC 2 on QEMU's user
network, 10.0.2.15:7) come back intact (sha256, timed); UDP echo with sendto/recvfrom;
socktest crashed mid-transfer (a "crash" line to its control port 9):
the transfer is reset, netd closes what the dead run held on its own
(init's fault count moved; socktest's `hello-delay` keeps the restarted run
from saying SOCK_HELLO for 4 s, and netd's table shows 0 open sockets in
between), the HELLO then finds nothing to close, the table holds only the
new run's three sockets, and port 7 serves again.

Usage (root; needs iproute2, iputils-ping, iperf3, and dnsmasq-base for --dhcp):
  make image && python3 tests/qemu/test_netd.py [--nics virtio,e1000] [--dhcp] [--build build]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # tests/qemu/ -> the repository
sys.path.insert(0, str(REPO / "tests" / "qemu"))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402
from netlab import sh  # noqa: E402

NETD_LINES = """
# netd smoke test boots (`nettest`)
server netnic0 when nettest priority 15 memory 2M pci net 0 endpoint net0 share net0 256 signal netd-ev bit 0
server netnic1 when nettest priority 15 memory 2M pci net 1 endpoint net1 share net1 256 signal netd-ev bit 1
server netrng  when nettest priority 14 memory 256K pci rng 0 endpoint rng-net
server netnic2 when nettest priority 15 memory 2M pci net 2 endpoint net2 share net2 256 signal netd-ev bit 2
server netd    when nettest needs netnic0 priority 12 memory 7M args {args} connect net0 share net0 256 connect net1 share net1 256 connect net2 share net2 256 connect rng-net notify netd-ev signal netd-ev site endpoint netd share sock-socktest {sock_pages} share socktx-socktest {sock_tx_pages} signal sock-socktest
server socktest when nettest needs netd priority 11 memory 1M args hello-delay=4000 connect netd share sock-socktest {sock_pages} share socktx-socktest {sock_tx_pages} notify sock-socktest
"""
# socktest's page pools are larger than the shipped manifests' (abi/keel/socket.h
# SOCK_SHM_PAGES, SOCK_SHM_TX_PAGES): beyond 1024 pages each, so the shares are
# page-list frames (the kernel's frames that need no contiguous run; init makes
# a share that large a plain frame), mapped by netd and socktest end to end.
SOCK_POOL_TEST = 1100
SOCK_PAGES, SOCK_TX_PAGES = kq.socket_abi()["SOCK_HDR_PAGES"] + SOCK_POOL_TEST, SOCK_POOL_TEST
MAC = {"ktap0": "525400123456", "ktap1": "525400123457"}

# The firewall's rule sets (site.cpio).  Set 1 is loaded at start; "KEEL-RELOAD
# N" loads set N.  Set 2 no longer passes new connections to port 9100; set 3
# does not parse (BAD_LINE of it, at the column of "99999").
FW_COMMON = """# netd firewall test rules (tests/qemu/test_netd.py)
hostname nettest
interface wan nic 0 address 10.9.0.2/24
interface lan nic 1 address 10.9.1.2/24
interface up nic 2 address 10.0.2.15/24

pass out keep state
pass in on wan proto icmp keep state
pass in on lan proto icmp keep state
pass in on lan proto udp keep state
pass in on wan proto tcp to 10.9.1.1 port 5201 keep state
pass in on wan proto tcp to 10.9.1.1 port 9000 keep state
block return in on wan proto tcp to 10.9.1.1 port 9102
pass in on wan proto tcp to 10.9.0.2 port 7 keep state
pass in on wan proto tcp to 10.9.0.2 port 9 keep state
pass in on wan proto udp to 10.9.0.2 port 7 keep state
pass in on up proto tcp to 10.0.2.15 port 7 keep state
"""
ICMP_WAN_RULE = "pass in on wan proto icmp keep state"
PORT_RULE = "pass in on wan proto tcp to 10.9.1.1 port 9100 keep state\n"
BAD_RULE = "pass in on wan proto tcp to 10.9.1.1 port 99999 keep state\n"
ROUTE_LINE = "route 10.9.5.0/24 via 10.9.0.1\n"  # 10.9.5.1 lives on the wan host's lo
FW_SETS = {
    "appliance.conf": FW_COMMON + PORT_RULE,
    "appliance-2.conf": FW_COMMON,
    "appliance-3.conf": FW_COMMON + BAD_RULE,
    "appliance-4.conf": FW_COMMON + PORT_RULE + ROUTE_LINE,
    "appliance-5.conf": FW_COMMON + PORT_RULE + "route 10.9.5.7/24 via 10.9.0.1\n",
}
ROUTE_LINENO = FW_SETS["appliance-4.conf"].count("\n")
FWD_PORT = 7007  # QEMU's hostfwd on 127.0.0.1 of the wan namespace (QEMU runs there) to 10.0.2.15:7
BAD_LINE = FW_SETS["appliance-3.conf"].count("\n")
BAD_COL = BAD_RULE.index("99999") + 1
ICMP_WAN_LINE = FW_COMMON.splitlines().index(ICMP_WAN_RULE) + 1

# Test hosts' helpers: `tcp PORT...` echoes lines on 10.9.1.1:PORT and
# appends "accept PORT" to LOG; `udpecho PORT` echoes datagrams on 10.9.0.1;
# `udpsink PORT` appends what 10.9.1.1:PORT receives to LOG; `client` holds
# TCP connections across checks, one command a line on stdin (open NAME
# PORT TIMEOUT | echo NAME WORD | close NAME), one answer a line on stdout.
HOST_CODE = r"""
import socket, sys, threading
mode, log = sys.argv[1], sys.argv[2]
def note(text):
    with open(log, 'a') as f:
        f.write(text + '\n')
def echo_conn(c):
    with c:
        while True:
            b = c.recv(4096)
            if not b:
                return
            c.sendall(b)
def tcp(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('10.9.1.1', port)); s.listen(8)
    while True:
        c, _ = s.accept(); note(f'accept {port}')
        threading.Thread(target=echo_conn, args=(c,), daemon=True).start()
if mode == 'tcp':
    for p in sys.argv[3:]:
        threading.Thread(target=tcp, args=(int(p),), daemon=True).start()
    note('ready'); threading.Event().wait()
elif mode in ('udpecho', 'udpsink'):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('10.9.0.1' if mode == 'udpecho' else '10.9.1.1', int(sys.argv[3]))); note('ready')
    while True:
        b, a = s.recvfrom(2048)
        if mode == 'udpecho':
            s.sendto(b, a)
        else:
            note(f'got {b!r} from {a}')
elif mode == 'client':
    conns = {}
    for line in sys.stdin:
        cmd = line.split()
        try:
            if cmd[0] == 'open':
                conns[cmd[1]] = socket.create_connection(('10.9.1.1', int(cmd[2])), timeout=float(cmd[3]))
                print('ok')
            elif cmd[0] == 'echo':
                c = conns[cmd[1]]; c.settimeout(5); c.sendall(cmd[2].encode() + b'\n'); got = b''
                while not got.endswith(b'\n'):
                    b = c.recv(100)
                    if not b:
                        raise EOFError('closed')
                    got += b
                print('ok' if got.strip() == cmd[2].encode() else f'bad {got!r}')
            elif cmd[0] == 'close':
                conns.pop(cmd[1]).close(); print('ok')
        except ConnectionRefusedError:
            print('refused')
        except (socket.timeout, TimeoutError):
            print('timeout')
        except Exception as e:
            print('fail', type(e).__name__, e)
        sys.stdout.flush()
"""


def make_image(build: Path, out: Path, netd_args: str) -> None:
    # The whole manifest: this test set's names (its own netd) are scoped to
    # the set, so the appliance's lines stay (init/manifest.h).
    manifest = netlab.base_manifest() + "\n" + NETD_LINES.format(args=netd_args, sock_pages=SOCK_PAGES,
                                                                 sock_tx_pages=SOCK_TX_PAGES)
    netlab.make_image(build / "image" / "tftp", out, files=FW_SETS, site=out.parent / "site", manifest=manifest,
                      elf_dir=build / "user", replace=True)


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


def host(ns: str, mode: str, log: Path, *args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", HOST_CODE, mode, str(log), *args],
                            text=True, **kw)


def firewall_checks(rep, helpers, tmp: Path, wan: str, lan: str, text, wait_for, check, ping) -> None:
    """The firewall with real traffic; each check leaves the rule set it found
    (appliance.conf) except the reload ones, which end by loading it again."""
    tcp_log, sink_log, echo_log = tmp / "tcp.log", tmp / "udpsink.log", tmp / "udpecho.log"
    helpers.append(host(lan, "tcp", tcp_log, "9100", "9101", "9102"))
    helpers.append(host(lan, "udpsink", sink_log, "7001"))
    helpers.append(host(wan, "udpecho", echo_log, "7000"))
    client = host(wan, "client", tmp / "client.log", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    helpers.append(client)
    for f in (tcp_log, sink_log, echo_log):
        end = time.monotonic() + 5
        while time.monotonic() < end and not (f.exists() and "ready" in f.read_text()):
            time.sleep(0.1)

    def say(cmd: str) -> str:
        client.stdin.write(cmd + "\n")
        client.stdin.flush()
        return client.stdout.readline().strip()

    def accepts(port: int) -> int:
        return tcp_log.read_text().count(f"accept {port}") if tcp_log.exists() else 0

    def mark() -> int:
        return len(text())

    def since(pos: int, pattern: str, timeout: float) -> re.Match | None:
        return netlab.wait_text(text, pattern, timeout, pos)

    def reload(n: int, pattern: str) -> re.Match:
        pos = mark()
        command_frame(wan, "ktap0", f"KEEL-RELOAD {n}")
        m = since(pos, pattern, 10)
        check(m is not None, f"KEEL-RELOAD {n}: no line matching {pattern!r}")
        return m

    def tcp_passed() -> None:
        check(say("open a 9100 5") == "ok", "no connection to lan:9100 although a rule passes it")
        check(say("echo a hello") == "ok", "no echo on lan:9100")

    def tcp_blocked() -> None:
        pos = mark()
        r = say("open b 9101 2")
        check(r == "timeout", f"lan:9101 has no pass rule, yet connect said {r!r}")
        check(accepts(9101) == 0, "the lan host accepted a connection on 9101")
        check(since(pos, r"netd: fw: block in on wan tcp 10\.9\.0\.1:\d+ -> 10\.9\.1\.1:9101 .*no rule matched",
                    2) is not None, "no log line for the blocked SYN")

    def tcp_block_return() -> None:
        r = say("open c 9102 5")
        check(r == "refused", f"`block return` on 9102 should answer with a RST, connect said {r!r}")
        check(accepts(9102) == 0, "the lan host accepted a connection on 9102")

    def udp_state() -> None:
        code = ("import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(3)\n"
                "s.sendto(b'state',('10.9.0.1',7000));print(s.recvfrom(100)[0].decode())")
        p = sh("ip", "netns", "exec", lan, sys.executable, "-c", code, check=False)
        check(p.stdout.strip() == "state", f"no UDP reply through the state: {p.stdout.strip()} {p.stderr[-200:]}")

    def udp_unsolicited() -> None:
        pos = mark()
        code = ("import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                "[s.sendto(b'unsolicited',('10.9.1.1',7001)) for _ in range(3)]")
        sh("ip", "netns", "exec", wan, sys.executable, "-c", code)
        check(since(pos, r"netd: fw: block in on wan udp 10\.9\.0\.1:\d+ -> 10\.9\.1\.1:7001 ", 5) is not None,
              "no log line for the blocked datagram")
        time.sleep(0.5)
        got = sink_log.read_text().count("got") if sink_log.exists() else 0
        check(got == 0, f"the lan host received {got} unsolicited datagrams from wan")

    def reload_keeps_established() -> None:
        reload(2, r"netd: firewall: appliance-2\.conf: \d+ rules in force \(generation \d+\); [1-9]\d* states kept")
        check(say("echo a after-reload") == "ok", "the established connection to 9100 broke on the reload")
        r = say("open d 9100 2")
        check(r == "timeout", f"set 2 passes no new connection to 9100, yet connect said {r!r}")

    def reload_bad_keeps_old() -> None:
        m = reload(3, r"netd: firewall: appliance-3\.conf:(\d+):(\d+): (.*); appliance-2\.conf stays in force")
        check((int(m.group(1)), int(m.group(2))) == (BAD_LINE, BAD_COL),
              f"error at {m.group(1)}:{m.group(2)}, expected {BAD_LINE}:{BAD_COL} ({m.group(3)})")
        ping(wan, "10.9.0.2", 2)  # set 2 (not deny-all) is in force
        check(say("echo a after-bad-reload") == "ok", "the established connection broke on the failed reload")
        r = say("open e 9100 2")
        check(r == "timeout", f"set 2 should still refuse new connections to 9100, connect said {r!r}")
        reload(9, r"netd: firewall: the site archive has no usable appliance-9\.conf(.|\n)*"
                  r"netd: firewall: appliance-2\.conf stays in force")
        reload(1, r"netd: firewall: appliance\.conf: \d+ rules in force")
        check(say("open f 9100 5") == "ok", "set 1 again, yet no new connection to 9100")
        for name in ("a", "f"):
            say(f"close {name}")

    def counters() -> None:
        # A fresh set (counters zero), then exactly N echo requests to netd's wan
        # address: the keep-state rule counts them and the N replies its state passes.
        n = 5
        reload(1, r"netd: firewall: appliance\.conf: \d+ rules in force")
        ping(wan, "10.9.0.2", n)
        pos = mark()
        command_frame(wan, "ktap0", "KEEL-STATS")
        pat = rf"netd: fw: @\d+ line {ICMP_WAN_LINE} evals (\d+) pkts (\d+) bytes (\d+) states (\d+): (.*)$"
        m = since(pos, pat, 10)
        check(m is not None, "no counters for the icmp rule in the statistics")
        evals, pkts, nbytes, states = (int(m.group(i)) for i in range(1, 5))
        check((pkts, nbytes, states) == (2 * n, 2 * n * 84, 1) and evals >= 1,
              f"rule `{m.group(5)}`: evals {evals} pkts {pkts} bytes {nbytes} states {states}; "
              f"expected pkts {2 * n} bytes {2 * n * 84} states 1")
        check(since(pos, r"netd: fw: states \d+/\d+: inserted", 2) is not None, "no state table line")

    rep.run("fw.tcp_port_passed", tcp_passed)
    rep.run("fw.tcp_port_blocked", tcp_blocked)
    rep.run("fw.tcp_block_return_rst", tcp_block_return)
    rep.run("fw.udp_reply_by_state", udp_state)
    rep.run("fw.udp_unsolicited_blocked", udp_unsolicited)
    rep.run("fw.reload_keeps_established", reload_keeps_established)
    rep.run("fw.reload_parse_error_keeps_old", reload_bad_keeps_old)
    rep.run("fw.counters_equal_pings", counters)


def route_checks(rep, wan: str, lan: str, text, check) -> None:
    """Static routes: 10.9.5.0/24 lies behind the wan host (10.9.0.1), which
    netd reaches only through `route 10.9.5.0/24 via 10.9.0.1`; the lan
    host's pings to 10.9.5.1 pass while appliance-4.conf (with the route) is
    in force and fail before and after."""
    sh("ip", "-n", wan, "addr", "add", "10.9.5.1/32", "dev", "lo")

    def reach() -> bool:
        p = sh("ip", "netns", "exec", lan, "ping", "-c", "2", "-i", "0.3", "-W", "2", "10.9.5.1", check=False)
        return p.returncode == 0

    def reload(n: int, pattern: str) -> None:
        pos = len(text())
        command_frame(wan, "ktap0", f"KEEL-RELOAD {n}")
        end = time.monotonic() + 10
        while time.monotonic() < end and not re.search(pattern, text()[pos:], re.M):
            time.sleep(0.2)
        check(re.search(pattern, text()[pos:], re.M) is not None, f"KEEL-RELOAD {n}: no line matching {pattern!r}")

    def without_route() -> None:
        check(not reach(), "10.9.5.1 answered although no route leads there")

    def with_route() -> None:
        reload(4, rf"netd: route 10\.9\.5\.0/24 via 10\.9\.0\.1 \(appliance-4\.conf line {ROUTE_LINENO}\)")
        check(reach(), "10.9.5.1 did not answer through the static route")

    def bad_route_refused() -> None:
        reload(5, r"netd: firewall: appliance-5\.conf:\d+:7: expected a network address \(no bits set beyond the "
                  r"prefix\) \(got \"10\.9\.5\.7/24\"\); appliance-4\.conf stays in force")
        check(reach(), "the route went away with a refused configuration")

    def route_removed() -> None:
        reload(1, r"netd: firewall: appliance\.conf: \d+ rules in force(.|\n)*netd: routes: connected networks")
        check(not reach(), "10.9.5.1 still answers after the route was removed")

    rep.run("route.unreachable_without_route", without_route)
    rep.run("route.static_route_forwards", with_route)
    rep.run("route.bad_route_keeps_old", bad_route_refused)
    rep.run("route.removed_by_reload", route_removed)


# Malformed frames, each sent COUNT times to netd's address on both NICs;
# the firewall's drop counter of the reason named must grow by exactly that.
# Frames are built by this code in the wan/lan host (raw AF_PACKET socket).
BAD_FRAMES_CODE = r"""
import socket, struct, sys, random
dev, dst_mac, src_ip, dst_ip, count = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((dev, 0))
src_mac = bytes.fromhex(open(f'/sys/class/net/{dev}/address').read().strip().replace(':', ''))
def csum(b):
    if len(b) % 2: b += b'\0'
    t = sum(struct.unpack(f'!{len(b)//2}H', b)); t = (t >> 16) + (t & 0xffff); t += t >> 16
    return ~t & 0xffff
def ip(payload, proto=1, vihl=0x45, frag=0, tot=None, src=src_ip, bad_sum=False, hdr_extra=b''):
    h = struct.pack('!BBHHHBBH4s4s', vihl, 0, tot if tot is not None else 20 + len(hdr_extra) + len(payload), 0x1234,
                    frag, 64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst_ip)) + hdr_extra
    c = csum(h) ^ (0x5a5a if bad_sum else 0)
    return h[:10] + struct.pack('!H', c) + h[12:] + payload
def send(pkt):
    f = dst_mac + src_mac + b'\x08\x00' + pkt
    s.send(f + bytes(max(0, 60 - len(f))))
echo = b'\x08\x00\xf7\xff' + b'\0' * 4 + b'x' * 8
tcp = lambda flags, off=5: struct.pack('!HHIIBBHHH', 1234, 80, 1, 0, off << 4, flags, 512, 0, 0)
cases = {
    'truncated': ip(echo, tot=200),
    'version': ip(echo, vihl=0x65),
    'hdrlen': ip(echo, vihl=0x44),
    'checksum': ip(echo, bad_sum=True),
    'ipflags': ip(echo, frag=0x8000),
    'frag': ip(echo + b'y' * 8, frag=0x2000),
    'frag-bad': ip(echo, frag=0x6000),
    'frag-overlap': ip(b'z' * 16, proto=6, frag=0x0001),
    'l4-truncated': ip(b'\x04\xd2\x00\x50' + b'\0' * 6, proto=6),
    'tcp-hdrlen': ip(tcp(0x02, off=4), proto=6),
    'tcp-flags': ip(tcp(0x03), proto=6),
    'udp-len': ip(struct.pack('!HHHH', 1234, 7, 4, 0), proto=17),
    'src': ip(echo, src='224.0.0.5'),
}
for name, pkt in cases.items():
    for _ in range(count):
        send(pkt)
# Oversized frames (the tap's MTU was raised) and random bytes behind an IPv4
# ethertype: what happens to them is the driver's and the firewall's business,
# but netd must live on.
rnd = random.Random(1234)
for size in (1515, 1600, 4000, 9000):
    try:
        s.send(dst_mac + src_mac + b'\x08\x00' + ip(b'q' * (size - 34)))
    except OSError:
        pass
for _ in range(200):
    s.send(dst_mac + src_mac + b'\x08\x00' + bytes(rnd.randrange(256) for _ in range(rnd.randrange(46, 600))))
print(' '.join(cases))
"""
MALFORMED_NAMES = ["truncated", "version", "hdrlen", "checksum", "ipflags", "frag", "frag-bad", "frag-overlap",
                   "l4-truncated", "tcp-hdrlen", "tcp-flags", "udp-len", "src"]


def malformed_checks(rep, wan: str, lan: str, text, check, ping) -> None:
    """Truncated, bad-checksum, fragmented, overlapping-fragment, oversized and
    random frames through both NICs: dropped, counted by reason, netd lives."""
    count = 3

    def counters() -> dict[str, int]:
        # The statistics are many lines at once; a loaded host can stall the
        # serial line and the kernel then drops characters, so a line that
        # came out cut short is asked for again.
        got: dict[str, int] = {}
        for _ in range(3):
            pos = len(text())
            command_frame(wan, "ktap0", "KEEL-STATS")
            end = time.monotonic() + 10
            m = None
            while m is None and time.monotonic() < end:
                m = re.search(r"netd: fw: malformed: (.*)$", text()[pos:], re.M)
                time.sleep(0.2)
            check(m is not None, "no malformed-packet counters in the statistics")
            f = m.group(1).split()
            got = {f[i]: int(f[i + 1]) for i in range(0, len(f) - 1, 2) if f[i + 1].isdigit()}
            if all(k in got for k in MALFORMED_NAMES):
                return got
        check(False, f"the malformed-packet counters came out incomplete three times: {got}")
        return got

    def dropped_and_counted() -> None:
        before = counters()
        for ns, dev, me, peer in ((wan, "ktap0", "10.9.0.1", "10.9.0.2"), (lan, "ktap1", "10.9.1.1", "10.9.1.2")):
            sh("ip", "-n", ns, "link", "set", dev, "mtu", "9000", check=False)
            p = sh("ip", "netns", "exec", ns, sys.executable, "-c", BAD_FRAMES_CODE, dev, MAC[dev], me, peer,
                   str(count), check=False)
            check(p.returncode == 0, f"frame sender on {dev}: {p.stderr[-300:]}")
            sh("ip", "-n", ns, "link", "set", dev, "mtu", "1500", check=False)
        time.sleep(1)
        after = counters()
        wrong = [f"{k} +{after.get(k, 0) - before.get(k, 0)}" for k in MALFORMED_NAMES
                 if after.get(k, 0) - before.get(k, 0) < 2 * count]
        check(not wrong, f"counted fewer drops than sent ({2 * count} each): {', '.join(wrong)}")
        exact = [k for k in MALFORMED_NAMES if k not in ("truncated", "checksum", "version", "hdrlen")]
        over = [f"{k} +{after[k] - before[k]}" for k in exact if after[k] - before[k] != 2 * count]
        check(not over, f"drops not equal to what was sent ({2 * count} each): {', '.join(over)}")

    def still_serving() -> None:
        check(not re.search(r"server netd died", text()), "netd died on malformed input")
        ping(wan, "10.9.0.2")
        ping(lan, "10.9.1.2")
        ping(wan, "10.9.1.1")

    rep.run("malformed.dropped_and_counted_by_reason", dropped_and_counted)
    rep.run("malformed.netd_still_serving", still_serving)


BAD_CSUM_CODE = r"""
import socket, struct, sys
dev, dst_mac, src_ip, count = sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind((dev, 0))
src_mac = bytes.fromhex(open(f'/sys/class/net/{dev}/address').read().strip().replace(':', ''))
def csum(b):
    if len(b) % 2: b += b'\0'
    t = sum(struct.unpack(f'!{len(b)//2}H', b)); t = (t >> 16) + (t & 0xffff); t += t >> 16
    return ~t & 0xffff
for dst_ip, port in (('10.9.0.2', 7), ('10.9.1.1', 9000)):
    for i in range(count):
        tcp = struct.pack('!HHIIBBHHH', 40000 + i, port, 1000 + i, 0, 5 << 4, 0x02, 65535, 0, 0)
        pseudo = socket.inet_aton(src_ip) + socket.inet_aton(dst_ip) + struct.pack('!BBH', 0, 6, len(tcp))
        good = csum(pseudo + tcp)
        tcp = tcp[:16] + struct.pack('!H', good ^ 0x0100) + tcp[18:]  # one bit wrong
        h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0x4321, 0x4000, 64, 6, 0,
                        socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
        h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
        f = dst_mac + src_mac + b'\x08\x00' + h + tcp
        s.send(f + bytes(max(0, 60 - len(f))))
"""


def offload_checks(rep, nics: list[str], wan: str, text, wait_for, check) -> None:
    """The NIC protocol's offloads (issue 14): 64 KiB segments in on a
    virtio NIC, forwarded segments out whole (TSO) to a virtio NIC or cut by
    netd for an e1000, which negotiates no offloads; and a TCP segment whose
    bad checksum no device checked is dropped, for netd and for forwarding."""

    def counters(nic: str) -> dict[str, int]:
        pos = len(text())
        command_frame(wan, "ktap0", "KEEL-STATS")
        end, rx, tx = time.monotonic() + 10, [], []
        while not (rx and tx) and time.monotonic() < end:
            time.sleep(0.2)
            rx = re.findall(rf"netd: {nic}: attached gen .*? rx (\d+) \(\d+ B\) gso (\d+) .*? csumbad (\d+)",
                            text()[pos:])
            tx = re.findall(rf"netd: {nic}: tx (\d+) \(\d+ B\) tso (\d+) swseg (\d+)", text()[pos:])
        check(bool(rx and tx), f"no {nic} rx/tx counters after the statistics command")
        return {"rx": int(rx[-1][0]), "gso": int(rx[-1][1]), "csumbad": int(rx[-1][2]), "tx": int(tx[-1][0]),
                "tso": int(tx[-1][1]), "swseg": int(tx[-1][2])}

    def features() -> None:
        for i, kind in enumerate(nics):
            m = re.findall(rf"netd: net{i}: attached: .* offloads ([a-z0-9 -]+)$", text(), re.M)
            check(bool(m), f"net{i}: no attach line with offloads")
            want = "rx-csum rx-gso tx-csum tso4" if kind.startswith("virtio") else "none"
            check(m[-1].strip() == want, f"net{i} ({kind}): offloads {m[-1]!r}, expected {want!r}")

    def gso_in() -> None:
        c = counters("net0")
        check(c["gso"] > 0, f"no frame of more than one buffer came in on net0 ({c})")

    def out_to_lan() -> None:
        c = counters("net1")
        if nics[1].startswith("virtio"):
            check(c["tso"] > 0, f"no segment went out whole to the virtio NIC ({c})")
        else:
            check(c["tso"] == 0 and c["swseg"] > 0, f"the e1000 got no segments cut by netd, or TSO frames ({c})")

    def bad_checksum() -> None:
        count = 4
        before = counters("net0")
        p = sh("ip", "netns", "exec", wan, sys.executable, "-c", BAD_CSUM_CODE, "ktap0", MAC["ktap0"], "10.9.0.1",
               str(count), check=False)
        check(p.returncode == 0, f"frame sender: {p.stderr[-300:]}")
        time.sleep(1)
        after = counters("net0")
        check(after["csumbad"] - before["csumbad"] == 2 * count,
              f"bad checksums dropped: {after['csumbad'] - before['csumbad']}, sent {2 * count}")

    rep.run("offload.negotiated_per_nic", features)
    if nics[0].startswith("virtio"):
        rep.run("offload.gso_segments_in", gso_in)
    rep.run("offload.forwarded_segments_out", out_to_lan)
    rep.run("offload.bad_checksum_dropped", bad_checksum)


SOCK_ECHO_CODE = r"""
import socket, hashlib, os, sys, threading, time
n = int(sys.argv[1]); chunk = os.urandom(1 << 20)
addr = (sys.argv[2], int(sys.argv[3])) if len(sys.argv) > 3 else ('10.9.0.2', 7)
c = socket.create_connection(addr, timeout=30)
c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
hs = hashlib.sha256(); hr = hashlib.sha256(); got = 0; t0 = time.monotonic()
def send():
    left = n
    while left:
        b = chunk[:min(left, len(chunk))]; c.sendall(b); hs.update(b); left -= len(b)
    c.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send); t.start()
while True:
    b = c.recv(1 << 16)
    if not b: break
    hr.update(b); got += len(b)
t.join(); dt = time.monotonic() - t0
print(n, got, hs.hexdigest(), hr.hexdigest(), f"{dt:.2f}")
"""
SOCK_KILL_CODE = r"""
import socket, sys, time, os
c = socket.create_connection(('10.9.0.2', 7), timeout=10)
blob = os.urandom(1 << 16); got = 0
c.sendall(blob)
while got < len(blob):
    got += len(c.recv(1 << 16))
print('echoing', flush=True)
ctl = socket.create_connection(('10.9.0.2', 9), timeout=10)
c.settimeout(20)
try:
    # keep sending while asking socktest to crash: the transfer is mid-way
    ctl.sendall(b'crash\n')
    for _ in range(4000):
        c.sendall(blob[:4096])
        try:
            c.recv(1 << 16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            pass
    print('no reset')
except (ConnectionResetError, BrokenPipeError) as e:
    print('reset', type(e).__name__)
except socket.timeout:
    print('timeout')
"""
SOCK_CONNECT_CODE = r"""
import socket, hashlib, os, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('10.9.0.1', 9300)); s.listen(1); s.settimeout(10)
ctl = socket.create_connection(('10.9.0.2', 9), timeout=10); ctl.sendall(b'connect 9300\n')
c, _ = s.accept(); c.settimeout(20); d = os.urandom(1 << 20); got = hashlib.sha256(); n = 0
def send():
    c.sendall(d); c.shutdown(socket.SHUT_WR)
t = threading.Thread(target=send); t.start()
while True:
    b = c.recv(1 << 16)
    if not b: break
    got.update(b); n += len(b)
t.join(); print(len(d), n, hashlib.sha256(d).hexdigest(), got.hexdigest())
"""
# N connections from socktest at once ("many N 9400" on its control port),
# held open by the wan host; prints how many were accepted, then asks
# socktest to close them ("unmany") once the caller writes a line.
SOCK_MANY_CODE = r"""
import resource, socket, sys, time
n = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, n + 64))
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('10.9.0.1', 9400)); s.listen(n); s.settimeout(1)
ctl = socket.create_connection(('10.9.0.2', 9), timeout=10); ctl.sendall(f'many {n} 9400\n'.encode())
held = []; end = time.monotonic() + 240
while len(held) < n and time.monotonic() < end:
    try:
        held.append(s.accept()[0])
    except (socket.timeout, TimeoutError):
        pass
print(len(held), flush=True)
sys.stdin.readline()
ctl.sendall(b'unmany\n'); time.sleep(2)
for c in held:
    c.close()
print('closed', flush=True)
"""
SOCK_HOLD_CODE = r"""
import socket, hashlib, os, time
ctl = socket.create_connection(('10.9.0.2', 9), timeout=10)
c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096); c.connect(('10.9.0.2', 7))
ctl.sendall(b'hold\n'); time.sleep(0.5); c.setblocking(False)
d = os.urandom(4096); sent = 0; h = hashlib.sha256(); end = time.monotonic() + 3
while time.monotonic() < end:
    try:
        k = c.send(d); sent += k; h.update(d[:k])
    except BlockingIOError:
        time.sleep(0.05)
ctl.sendall(b'release\n'); c.setblocking(True); c.settimeout(20); c.shutdown(socket.SHUT_WR)
g = hashlib.sha256(); n = 0
while True:
    b = c.recv(65536)
    if not b: break
    g.update(b); n += len(b)
print(sent, n, h.hexdigest() == g.hexdigest())
"""
SOCK_UDP_CODE = r"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3)
ok = 0
for i in range(5):
    msg = f'udp-echo-{i}'.encode() * (i + 1)
    s.sendto(msg, ('10.9.0.2', 7))
    b, a = s.recvfrom(2048)
    ok += b == msg and a == ('10.9.0.2', 7)
print(ok)
"""


def sock_checks(rep, wan: str, text, wait_for, check, sock_mb: int, fwd_mb: int) -> None:
    """The socket service through socktest (tests/net/socktest.c)."""
    rep.run("sock.socktest_ready", lambda: check(
        wait_for(r"socktest: ready: tcp echo 7", 30) and wait_for(r"netd: sock: socktest: hello 1: closed 0", 1),
        "socktest did not start, or its SOCK_HELLO was not seen"))
    rep.run("sock.bad_calls_precise_errors", lambda: check(
        wait_for(r"socktest: errors: PASS", 1), "socktest: " + " / ".join(re.findall(r"socktest: errors: (.*)", text()))))

    def tcp_echo() -> None:
        n = sock_mb << 20
        p = sh("ip", "netns", "exec", wan, sys.executable, "-c", SOCK_ECHO_CODE, str(n), check=False)
        f = p.stdout.split()
        check(len(f) == 5, f"echo client: {p.stdout.strip()} {p.stderr[-300:]}")
        print(f"BENCH sock_tcp_echo_{sock_mb}MB seconds={f[4]} MB/s={2 * sock_mb / float(f[4]):.2f} (both ways)",
              file=sys.stderr)
        check(f[0] == f[1] and f[2] == f[3], f"sent {f[0]} bytes sha {f[2][:16]}, got {f[1]} sha {f[3][:16]}")

    def udp_echo() -> None:
        p = sh("ip", "netns", "exec", wan, sys.executable, "-c", SOCK_UDP_CODE, check=False)
        check(p.stdout.strip() == "5", f"udp echo: {p.stdout.strip()} {p.stderr[-300:]}")

    def killed_mid_transfer() -> None:
        pos = len(text())
        p = sh("ip", "netns", "exec", wan, sys.executable, "-c", SOCK_KILL_CODE, check=False)
        out = p.stdout.split("\n")
        check(out[0] == "echoing", f"no echo before the crash: {p.stdout.strip()} {p.stderr[-300:]}")
        check(p.stdout.strip().splitlines()[-1].startswith("reset"), f"the transfer was not reset: {p.stdout!r}")
        check(wait_for(r"socktest: crashing on request", 5), "socktest did not crash")
        # netd drops the dead run's sockets on its own (init's fault count,
        # socket.h), while the restarted run waits hello-delay before HELLO.
        m = netlab.wait_text(text, r"netd: sock: socktest: died \(init counts \d+ faults\): closed (\d+) socket", 30,
                             pos)
        check(m is not None, "netd did not see socktest die")
        check(int(m.group(1)) >= 5, f"netd closed {m.group(1)} sockets; the dead run held >= 5 "
              "(2 listeners, udp, the transfer, the control connection)")
        check("hello 2" not in text()[pos:m.start() + pos], "the sockets went at the HELLO, not at the death")
        dpos = len(text())
        command_frame(wan, "ktap0", "KEEL-STATS")
        m = netlab.wait_text(text, r"netd: sock: socktest: (\d+) open", 10, dpos)
        check(m is not None and m.group(1) == "0", f"socket table of the dead socktest: {m and m.group(0)}")
        check("hello 2" not in text()[dpos:dpos + m.end()], "socktest said HELLO before the table was seen")
        m = netlab.wait_text(text, r"netd: sock: socktest: hello 2: closed (\d+) socket", 30, pos)
        check(m is not None, "the restarted socktest's SOCK_HELLO was not seen")
        check(m.group(1) == "0", f"hello closed {m.group(1)} sockets; netd had closed them all at the death")
        # socktest's restart line after the crash (pos), not an earlier one
        check(netlab.wait_text(text, r"restart 1\)", 10, pos) is not None, "socktest did not come back")
        pos = len(text())
        command_frame(wan, "ktap0", "KEEL-STATS")
        m = netlab.wait_text(text, r"netd: sock: socktest: (\d+) open \(listen (\d+) tcp (\d+) udp (\d+)\)", 10, pos)
        check(m is not None, "no socket table line in the statistics")
        check(m.groups() == ("3", "2", "0", "1"), f"socket table after the restart: {m.group(0)}")
        p = sh("ip", "netns", "exec", wan, sys.executable, "-c", SOCK_ECHO_CODE, str(1 << 20), check=False)
        f = p.stdout.split()
        check(len(f) == 5 and f[0] == f[1] and f[2] == f[3], f"port 7 after the restart: {p.stdout.strip()}")

    rep.run(f"sock.tcp_echo_{sock_mb}MB_intact", tcp_echo)

    def portfwd_echo() -> None:
        n = fwd_mb << 20
        p = sh("ip", "netns", "exec", wan, sys.executable, "-c", SOCK_ECHO_CODE, str(n), "127.0.0.1", str(FWD_PORT),
               check=False)
        f = p.stdout.split()
        check(len(f) == 5, f"echo client via port forwarding: {p.stdout.strip()} {p.stderr[-300:]}")
        print(f"BENCH sock_portfwd_echo_{fwd_mb}MB seconds={f[4]} MB/s={2 * fwd_mb / float(f[4]):.2f} (both ways)",
              file=sys.stderr)
        check(f[0] == f[1] and f[2] == f[3], f"sent {f[0]} bytes sha {f[2][:16]}, got {f[1]} sha {f[3][:16]}")

    rep.run(f"sock.portfwd_tcp_echo_{fwd_mb}MB_intact", portfwd_echo)
    def tcp_connect() -> None:
        p = sh("ip", "netns", "exec", wan, sys.executable, "-c", SOCK_CONNECT_CODE, check=False)
        f = p.stdout.split()
        check(len(f) == 4 and f[0] == f[1] and f[2] == f[3], f"connect out: {p.stdout.strip()} {p.stderr[-300:]}")

    def flow_control() -> None:
        p = sh("ip", "netns", "exec", wan, sys.executable, "-c", SOCK_HOLD_CODE, check=False)
        f = p.stdout.split()
        check(len(f) == 3, f"flow control: {p.stdout.strip()} {p.stderr[-300:]}")
        sent, back = int(f[0]), int(f[1])
        # What a non-reading client lets in: its rx ring + at most TCP_WND in
        # netd (lwIP's window, from lwipopts.h) + the wan host's own small buffers.
        ring = kq.socket_abi()["SOCK_RING_BYTES"]
        m = re.search(r"#define TCP_WND\s+\((\d+) \* (\d+|TCP_MSS)\)", (REPO / "net/lwip/lwipopts.h").read_text())
        wnd = int(m.group(1)) * (1460 if m.group(2) == "TCP_MSS" else int(m.group(2)))
        limit = ring + wnd + (64 << 10)
        print(f"flow control: {sent} bytes accepted while socktest did not read (limit {limit})", file=sys.stderr)
        check(sent <= limit, f"{sent} bytes went in while the client did not read: the window did not close")
        check(back == sent and f[2] == "True", f"after release: sent {sent}, echoed {back}, sha equal {f[2]}")

    def stats_line(pat: str, what: str):
        """Asks netd for its statistics and waits for PAT among the new lines."""
        pos = len(text())
        command_frame(wan, "ktap0", "KEEL-STATS")
        end = time.monotonic() + 15
        while time.monotonic() < end:
            m = re.search(pat, text()[pos:])
            if m:
                return m
            time.sleep(0.2)
        check(False, f"no {what} in netd's statistics")

    def idle_memory_back() -> None:
        # After the echo runs every connection is closed or idle: netd holds
        # no rx page, and socktest's tx pool is whole again; the rings grew
        # beyond 4 KiB while data moved (peak pages).
        m = stats_line(r"netd: sock: socktest: (\d+) open .*rx pages (\d+) in use \(peak (\d+) of (\d+)\)",
                       "socket line")
        check(m.group(2) == "0", f"rx pages still held with nothing in flight: {m.group(0)}")
        check(int(m.group(3)) >= 8, f"the rings never grew past {m.group(3)} pages: {m.group(0)}")
        check(int(m.group(4)) == SOCK_POOL_TEST, f"netd's rx pool is not the {SOCK_POOL_TEST} pages granted: "
              f"{m.group(0)}")
        pos = len(text())
        sh("ip", "netns", "exec", wan, sys.executable, "-c",
           "import socket, time; c = socket.create_connection(('10.9.0.2', 9), timeout=10); "
           "c.sendall(b'pool\\n'); time.sleep(1)", check=False)
        end = time.monotonic() + 10
        while time.monotonic() < end and not re.search(r"socktest: pool:", text()[pos:]):
            time.sleep(0.2)
        m = re.search(r"socktest: pool: tx (\d+) pages free of (\d+)", text()[pos:])
        check(m is not None and m.group(1) == m.group(2), f"socktest's tx pool: {m and m.group(0)}")

    def many_sockets() -> None:
        n = 2000
        p = subprocess.Popen(["ip", "netns", "exec", wan, sys.executable, "-c", SOCK_MANY_CODE, str(n)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            got = p.stdout.readline().strip()
            check(got == str(n), f"the wan host accepted {got} of {n} connections from socktest: "
                  + " / ".join(re.findall(r"socktest: many: .*", text())))
            m = stats_line(r"netd: sock: socktest: (\d+) open \(listen \d+ tcp (\d+) udp \d+\); peak \d+, "
                           r"table (\d+) KiB", "socket line")
            check(int(m.group(2)) >= n, f"netd's table while {n} are open: {m.group(0)}")
            big = int(m.group(3))
            print(f"many sockets: {m.group(1)} open, netd's table {big} KiB", file=sys.stderr)
            p.stdin.write("\n")
            p.stdin.flush()
            check(p.stdout.readline().strip() == "closed", "the wan host did not finish")
            check(wait_for(rf"socktest: many: closed {n}\b", 20), "socktest did not close them all")
            time.sleep(1)
            m = stats_line(r"netd: sock: socktest: (\d+) open \(listen \d+ tcp (\d+) udp \d+\); peak (\d+), "
                           r"table (\d+) KiB", "socket line")
            check(int(m.group(3)) >= n and int(m.group(4)) < big // 8,
                  f"the table did not shrink after they closed ({big} KiB before): {m.group(0)}")
        finally:
            p.kill()
            p.wait()

    rep.run("sock.idle_ring_memory_given_back", idle_memory_back)
    rep.run("sock.many_sockets_one_client", many_sockets)
    rep.run("sock.udp_echo", udp_echo)
    rep.run("sock.flow_control_window_closes", flow_control)
    rep.run("sock.tcp_connect_out_echo", tcp_connect)
    rep.run("sock.client_killed_leaves_no_socket", killed_mid_transfer)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nics", default="virtio,virtio")
    ap.add_argument("--dhcp", action="store_true", help="netd's second NIC uses DHCP (dnsmasq in lan)")
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--fwd-mb", type=int, default=int(os.environ.get("FWD_MB", "50")),
                    help="MB through socktest's TCP echo service by QEMU's port forwarding (NIC 2)")
    ap.add_argument("--sock-mb", type=int, default=int(os.environ.get("SOCK_MB", "20")),
                    help="MB through socktest's TCP echo service")
    ap.add_argument("--only-sock", action="store_true", help="skip the forwarding and firewall checks")
    ns_args = ap.parse_args()
    net1 = "dhcp" if ns_args.dhcp else "10.9.1.2/24"
    tmp = Path(tempfile.mkdtemp(prefix="netd-smoke-"))
    img = tmp / "tftp"
    make_image(Path(ns_args.build), img, f"net1={net1},stats=60,debug=1")
    log = tmp / "serial.log"
    rep = kq.Reporter()
    check = kq.check
    lab = netlab.Lab("kn")
    helpers: list[subprocess.Popen] = []
    try:
        wan, lan = lab.netns(f"nw{lab.pid}"), lab.netns(f"nl{lab.pid}")
        lab.tap(wan, "ktap0", "10.9.0.1/24")
        lab.tap(wan, "ktap1")
        # NIC 2 is on QEMU's user network: its hostfwd (on 127.0.0.1 of the wan
        # namespace, where QEMU runs) carries the port-forwarding echo check.
        cfg = kq.Config(boot="direct", accel="auto", nic=ns_args.nics + ",virtio", args=["nettest"],
                        taps=["ktap0", "ktap1"], fwd=f"tcp:127.0.0.1:{FWD_PORT}-10.0.2.15:7",
                        netns=wan, serial=f"file:{log}", qemu_extra="-device virtio-rng-pci", image_dir=img)
        qout = open(tmp / "qemu.log", "wb")
        lab.files.append(qout)
        proc = lab.qemu(cfg, qout)
        serial = netlab.SerialLog(log, alive=lambda: proc.poll() is None)
        text = serial.text

        def wait_for(pattern: str, timeout: float) -> bool:
            return serial.wait(pattern, timeout) is not None

        def wait_after(pos: int, pattern: str, timeout: float) -> bool:
            """Whether PATTERN appears in the log beyond character POS: a line of
            an event that happened after POS was taken, never an earlier one's."""
            return serial.wait(pattern, timeout, pos) is not None

        def ping(ns: str, ip: str, n: int = 3) -> None:
            p = netlab.ns_run(ns, "ping", "-c", str(n), "-i", "0.2", "-W", "2", ip)
            check(p.returncode == 0, f"ping {ip} from {ns}: {p.stdout.strip().splitlines()[-2:]}")

        time.sleep(1.0)  # QEMU holds both taps by now; move the lan one
        lab.move("ktap1", wan, lan, "10.9.1.1/24", "10.9.1.2")
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
        rep.run("fw.loaded", lambda: check(
            wait_for(r"netd: firewall: appliance\.conf: \d+ rules in force", 5)
            and wait_for(r"netd: net0: address from appliance\.conf \(interface wan\)", 1),
            "no rule set loaded from appliance.conf, or net0 not configured from it"))
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

        sock_checks(rep, wan, text, wait_for, check, ns_args.sock_mb, ns_args.fwd_mb)
        if ns_args.only_sock:
            return rep.finish()
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
        firewall_checks(rep, helpers, tmp, wan, lan, text, wait_for, check, ping)
        route_checks(rep, wan, lan, text, check)
        malformed_checks(rep, wan, lan, text, check, ping)
        offload_checks(rep, ns_args.nics.split(","), wan, text, wait_for, check)

        def stats() -> None:
            pos = len(text())
            command_frame(wan, "ktap0", "KEEL-STATS")
            check(wait_after(pos, r"netd: net0: command frame: statistics", 10), "no statistics")
            check(wait_after(pos, r"netd: lwIP heap .* pools", 5), "no pool line")

        rep.run("netd.stats_command", stats)

        def driver_restart() -> None:
            pos = len(text())
            command_frame(lan, "ktap1", "KEEL-NICCRASH")
            check(wait_after(pos, r"netd: net1: attached: .* generation 2", 20),
                  "netd did not re-attach to generation 2")
            ping(wan, "10.9.1.1")

        rep.run("netd.driver_restart_reattached", driver_restart)

        def netd_restart() -> None:
            # Every line below must come after the crash: "restart 1" alone
            # also matches socktest's restart earlier in this boot.
            pos = len(text())
            command_frame(wan, "ktap0", "KEEL-NETDCRASH")
            check(wait_after(pos, r"server netd died", 20), "netd did not crash on the command frame")
            check(wait_after(pos, r"netd: lwIP .* restart 1", 20), "netd was not restarted")
            check(wait_after(pos, r"netd: lwIP .* restart 1(.|\n)*netd: net1: attached", 20), "netd did not re-attach")
            # The new netd configures its addresses again (DHCP included).
            check(wait_after(pos, r"netd: lwIP .* restart 1(.|\n)*netd: net1: up, address 10\.9\.1\.2 ", 60),
                  "net1 got no address again")
            time.sleep(1)
            ping(wan, "10.9.0.2")
            ping(wan, "10.9.1.1")
            # The socket client recovers on its own: the new netd tells it its
            # session is gone, socktest starts again, and port 7 echoes again.
            check(wait_after(pos, r"socktest: netd's session is gone", 20),
                  "socktest was not told that netd restarted")
            check(wait_after(pos, r"socktest: netd's session is gone(.|\n)*socktest: ready: tcp echo 7", 30),
                  "socktest did not serve again after netd's restart")
            p = sh("ip", "netns", "exec", wan, sys.executable, "-c", SOCK_ECHO_CODE, str(1 << 20), check=False)
            f = p.stdout.split()
            check(len(f) == 5 and f[0] == f[1] and f[2] == f[3], f"port 7 after netd's restart: {p.stdout.strip()}")

        rep.run("netd.netd_restart_reattached", netd_restart)
    finally:
        netlab.terminate(helpers)
        lab.close()
        print(f"serial log: {log}", file=sys.stderr)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
