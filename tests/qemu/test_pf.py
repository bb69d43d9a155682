#!/usr/bin/env python3
"""pf's grammar at work in the shipping image: one lean boot, two NICs, a
pf-style appliance.conf (macros, a list, tables, a state option with
overload), test hosts in namespaces (test_fwd's lab, netlab.Router).

    NIC 0  e1000   host A 10.9.10.2 and 10.9.10.3  (appliance 10.9.10.1, wan)
    NIC 1  virtio  host B 10.9.11.2, sinks on 5001-5003 (appliance 10.9.11.1, lan)

Checks: the rule set loads as written (the $svc list expanded into two
rules, shown in pfctl's form); `match ... scrub (max-mss 1200)` lowers the
MSS A's SYN offers, so B sends segments of at most 1200 bytes; a table changed at the console takes effect
at once (A reaches B:5001; `table blocked add 10.9.10.2` cuts it off with
no commit; `table blocked show` lists it; `table blocked delete` lets it
through again); a source that opens connections faster than
max-src-conn-rate lands in <flood> and is blocked while another source is
still served; `modulate state` (port 5003): a stream from A to B's sink
arrives intact (the sink's digest of the bytes matches the sender's) while
each end sees the other's initial sequence number replaced (packet sockets
in both namespaces read the SYN and the SYN+ACK as sent and as received;
the keep-state connection to 5001 is the control: its numbers cross
unchanged), and `show states` marks that state, and only it, "modulate";
a pf construct Keel lacks is refused at `set` with the "unsupported"
message; a line naming an undefined macro is refused with its column.

Usage: python3 tests/qemu/test_pf.py [--image-dir DIR]
Needs root (ip netns, tap).
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

CONF = """\
# test_pf: pf's grammar
hostname fw
log info
interface wan nic 0 address 10.9.10.1/24
interface lan nic 1 address 10.9.11.1/24
lan_net = "10.9.11.0/24"
svc = "{ 5001, 5002 }"
table <blocked> persist
table <flood> persist
match in on wan proto tcp scrub (max-mss 1200)
block in quick on wan from { <blocked>, <flood> }
pass in proto icmp
pass out keep state
pass in on wan proto tcp to $lan_net port $svc keep state (max-src-conn-rate 4/60, overload <flood> flush global)
pass in on wan proto tcp to $lan_net port 5003 modulate state
"""

# Connects from SRC to B:PORT, holds the connection HOLD seconds, closes:
# "ok" or "fail".
PROBE = r"""
import socket, sys, time
s = socket.socket(); s.settimeout(float(sys.argv[3]))
s.bind((sys.argv[1], 0))
try:
    s.connect(("10.9.11.2", int(sys.argv[2]))); print("ok", flush=True)
    time.sleep(float(sys.argv[4]))
except OSError:
    print("fail")
"""


def isns(lab: netlab.Router, port: int, mb: int) -> tuple[str, list[str], list[str]]:
    """Sends MB MiB from A to B:PORT with a sniffer in each namespace:
    (the sender's verdict, A's [syn, synack], B's [syn, synack])."""
    return lab.isns(port, lambda: lab.send(0, 1, port, mb))


def probe(lab: netlab.Router, src: str, port: int = 5001, timeout: float = 3) -> bool:
    return netlab.ns_py(lab.hosts[0], PROBE, src, str(port), str(timeout), "0").stdout.strip() == "ok"


def run(rep: kq.Reporter, tmp: Path, image: Path) -> None:
    img = netlab.make_image(image, tmp / "img", CONF)
    lab = fwd.fw_lab(tmp, "p", ["e1000", "virtio"], img, rng=False)
    try:
        if not rep.run("pf.boot_two_interfaces_up", lambda: lab.boot_ready(2)):
            return
        netlab.sh("ip", "-n", lab.hosts[0], "addr", "add", "10.9.10.3/24", "dev", lab.taps[0])

        def rules_as_written():
            t = lab.cmd("show firewall", "no rule matched")
            for want in ("@1 block drop in quick on wan from <blocked> to any",
                         "[ Evaluations: ", "@0 match in on wan proto tcp all scrub (max-mss 1200)",
                         "block drop in quick on wan from <flood> to any",
                         "pass in on wan proto tcp from any to 10.9.11.0/24 port = 5001 flags S/SA keep state "
                         "(max-src-conn-rate 4/60, overload <flood> flush global)",
                         "port = 5002 flags S/SA keep state",
                         "pass in on wan proto tcp from any to 10.9.11.0/24 port = 5003 flags S/SA modulate state"):
                check(want in t, f"show firewall lacks {want!r}: {t!r}")

        rep.run("pf.ruleset_loads_lists_expanded", rules_as_written)

        def mss_clamped():
            # A's SYN offers its tap's MSS (1460); B must see at most 1200 (ss: the send MSS it uses).
            holder = subprocess.Popen(netlab.ns_cmd(lab.hosts[0], sys.executable, "-c", PROBE,
                                                    "10.9.10.2", "5002", "5", "4"), stdout=subprocess.PIPE, text=True)
            try:
                check(holder.stdout.readline().strip() == "ok", "A could not connect to B:5002")
                t = netlab.ns_run(lab.hosts[1], "ss", "-tin", "sport", "= :5002", check=True).stdout
                m = re.search(r"\bmss:(\d+)", t)
                check(m is not None and int(m.group(1)) <= 1200, f"B's side does not use an MSS <= 1200: {t!r}")
            finally:
                holder.wait(10)

        rep.run("pf.scrub_max_mss_clamps_the_syn", mss_clamped)

        def table_at_console():
            check(probe(lab, "10.9.10.2"), "control: A (10.9.10.2) cannot reach B:5001")
            lab.cmd("table blocked add 10.9.10.2", "table <blocked>: 1 address added")
            check(not probe(lab, "10.9.10.2"), "A still reaches B after `table blocked add` (no commit)")
            t = lab.cmd("table <blocked> show", "10.9.10.2/32")
            check("10.9.10.3" not in t, f"table blocked lists more than was added: {t!r}")
            lab.cmd("table blocked delete 10.9.10.2", "1 address deleted")
            check(probe(lab, "10.9.10.2"), "A cannot reach B after `table blocked delete`")
            lab.cmd("table nosuch show", "no table of that name")

        rep.run("pf.table_changed_at_console_takes_effect_at_once", table_at_console)

        def overload():
            results = [probe(lab, "10.9.10.3") for _ in range(7)]
            check(results[:4] == [True] * 4, f"the first 4 connections from 10.9.10.3 were not served: {results}")
            check(not any(results[4:]), f"10.9.10.3 went on connecting past max-src-conn-rate 4/60: {results}")
            lab.cmd("table flood show", "10.9.10.3/32")
            check(probe(lab, "10.9.10.2"), "another source (10.9.10.2) is not served while 10.9.10.3 is overloaded")
            check(not probe(lab, "10.9.10.3"), "the overloaded source is served again")

        rep.run("pf.overload_blocks_one_source_serves_another", overload)

        def refused_at_set():
            lab.cmd("configure", prompt="fw# ")
            lab.cmd("set pass in on wan route-to (lan 10.9.11.2)",
                    'unsupported: "route-to" is not supported by Keel', prompt="fw# ")
            lab.cmd("set pass in on wan proto tcp to port $nope", "expected a macro defined on an earlier line",
                    prompt="fw# ")
            t = lab.cmd("show", prompt="fw# ")
            check("route-to" not in t and "$nope" not in t, f"a refused line stayed in the candidate: {t!r}")
            lab.cmd("exit", prompt="fw> ")

        rep.run("pf.unsupported_and_undefined_refused", refused_at_set)

        def modulate_state():
            # control: keep state (5001) leaves the numbers as they were sent
            r, a, b = isns(lab, 5001, 1)
            check(r == "ok", f"control: A -> B:5001 failed: {r}")
            check(len(a) == 2 and "None" not in a and a == b, f"control: keep state changed the ISNs: A {a}, B {b}")
            r, a, b = isns(lab, 5003, 8)
            check(r == "ok", f"A -> B:5003 (modulate state), 8 MiB: {r}")
            check(len(a) == 2 and len(b) == 2 and "None" not in a + b, f"a sniffer missed the handshake: A {a}, B {b}")
            check(a[0] != b[0], f"B received A's own ISN {a[0]}: not modulated")
            check(a[1] != b[1], f"A received B's own ISN {b[1]}: not modulated")
            # show states: the modulated state (in on wan) is marked, the lan one and 5001's are not
            holder = subprocess.Popen(netlab.ns_cmd(lab.hosts[0], sys.executable, "-c", PROBE,
                                                    "10.9.10.2", "5003", "5", "4"), stdout=subprocess.PIPE, text=True)
            try:
                check(holder.stdout.readline().strip() == "ok", "A could not connect to B:5003")
                t = lab.cmd("show states", "FLAGS")
                rows = [ln for ln in t.splitlines() if ":5003" in ln and "ESTABLISHED" in ln]
                check(any(re.match(r"\s*wan\s+tcp\s.*\smodulate\s*$", ln) for ln in rows),
                      f"show states has no modulated wan row for B:5003: {t!r}")
                check(any(re.match(r"\s*lan\s+tcp\s.*\s-\s*$", ln) for ln in rows),
                      f"show states marks the lan (keep state) row of B:5003: {t!r}")
            finally:
                holder.wait(10)

        rep.run("pf.modulate_state_stream_intact_isn_replaced", modulate_state)
    finally:
        lab.close("fwd-pf")


def main() -> int:
    return netlab.suite_main("pf", lambda rep, tmp, image, opts: run(rep, tmp, image))


if __name__ == "__main__":
    sys.exit(main())
