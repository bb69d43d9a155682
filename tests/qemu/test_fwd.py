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

import re
import sys
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402
from test_console import check  # noqa: E402

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


def fw_lab(tmp: Path, tag: str, models: list[str], image: Path, rng: bool) -> netlab.Router:
    """test_fwd's lab: Keel between host A, B (and C), each with the stream
    sinks on ports 5001-5003; test_nat, test_pf and test_ipv6 use it too."""
    r = netlab.Router(tmp, "kf" + tag, models, image, rng=rng)
    r.sinks()
    return r


def two_nics(rep: kq.Reporter, tmp: Path, image: Path, mb: int) -> None:
    img = netlab.make_image(image, tmp / "img2", conf(3))   # names nic 2, which this VM lacks
    lab = fw_lab(tmp, "a", ["e1000", "virtio-modern"], img, rng=False)
    try:
        if not rep.run("fwd2.boot_two_interfaces_up", lambda: lab.boot_ready(2)):
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
        lab.close("fwd-two-nics")


def three_nics(rep: kq.Reporter, tmp: Path, image: Path, mb: int) -> None:
    img = netlab.make_image(image, tmp / "img3", conf(3))
    lab = fw_lab(tmp, "b", ["e1000", "virtio-modern", "virtio"], img, rng=True)
    try:
        if not rep.run("fwd3.boot_three_interfaces_up", lambda: lab.boot_ready(3)):
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
            check(lab.wait_log(re.escape("init: started eth1 (priority 15, restarted)"), 30), "eth1 was not restarted")
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
        lab.close("fwd-three-nics")


def main() -> int:
    def body(rep: kq.Reporter, tmp: Path, image: Path, opts) -> None:
        two_nics(rep, tmp, image, opts.mb)
        three_nics(rep, tmp, image, opts.mb)

    return netlab.suite_main("fwd", body, mb=(20, "MiB per stream (default 20)"))


if __name__ == "__main__":
    sys.exit(main())
