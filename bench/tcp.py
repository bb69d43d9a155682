#!/usr/bin/env python3
"""make bench, the TCP figures of Keel's netd (issue 5) and the Keel half of
the TCP pair (issue 8).

    python3 bench/tcp.py [--image-dir build/image/tftp] [--runs 3] [--mb 8] [--conns 100]

Two boots of a bench image (a copy of the image whose manifest gains the
`netbench` lines below and whose site archive holds this script's
appliance.conf), both with netd and tests/net/socktest.c as the service:

  tap boot    two NICs on taps in two namespaces (wan 10.9.0.1 - netd
              10.9.0.2 / 10.9.1.2 - lan 10.9.1.1), 100 firewall rules:
                tcp_sink_tap              MB/s into socktest's sink (wan host)
                tcp_conns_per_s_tap       connections opened and closed per s
                fw_forward_100rules       iperf3 wan -> lan through netd, MB/s (the Keel
                                          half of the fwd_tcp_tap pair: bench/linux.py
                                          routes the same traffic with nftables)
                fw_forward_100rules_{as_switches,ipc}_per_mib
                                          the kernel's counters over each forwarding
                                          run (socktest's "kstats"), per MiB forwarded
  user boot   one NIC on QEMU's user network (DHCP), a free 127.0.0.1 port
              forwarded to the guest's port 9:
                tcp_sink_user             MB/s into the sink through slirp

The generators are bench/netclient.py (sink, conns) and iperf3; the same
generators against a host-side service (`netclient.py serve`, the lan
namespace's iperf3 straight from wan over a veth) give the *_host_ceiling
figures, which show the generator is not the limit.  BENCH lines are
medians of --runs runs; the INFO line after each has the runs, min and max.
bench/linux.py drives the Linux guest with the same generators.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "qemu"))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402
from netlab import free_port, sh  # noqa: E402,F401 (also tcp.sh, tcp.free_port elsewhere)

CLIENT = str(HERE / "netclient.py")
SOCK_PAGES, SOCK_TX_PAGES = kq.sock_shm_pages()  # abi/keel/socket.h SOCK_SHM_PAGES, SOCK_SHM_TX_PAGES
SINK_PORT = 9     # socktest's control port; "sink" turns a connection into a sink
ECHO_PORT = 7
IPERF_PORT = 5201
NIC1 = ("server netnic1 when netbench priority 15 memory 2M pci net 1 endpoint net1 share net1 256 signal netd-ev bit 1\n")
MANIFEST = """
# make bench (bench/tcp.py): netd and socktest (`netbench`)
server netnic0 when netbench priority 15 memory 2M pci net 0 endpoint net0 share net0 256 signal netd-ev bit 0
{nic1}server netrng  when netbench priority 14 memory 256K pci rng 0 endpoint rng-net
server netd    when netbench needs netnic0 priority 12 memory 7M args stats=600 connect net0 share net0 256 {net1}connect rng-net notify netd-ev signal netd-ev site endpoint netd share sock-socktest {pages} share socktx-socktest {tx_pages} signal sock-socktest
server socktest when netbench needs netd priority 11 memory 1M connect netd share sock-socktest {pages} share socktx-socktest {tx_pages} notify sock-socktest
"""
N_RULES = 100


def rules_conf(tap: bool) -> str:
    """appliance.conf: exactly N_RULES firewall rules on the tap boot, the
    filler first (the last matching rule wins, so every rule is looked at)."""
    head = "# bench/tcp.py\nhostname netbench\n"
    if not tap:
        return head + ("interface wan nic 0 dhcp\n\npass out keep state\n"
                       f"pass in on wan proto tcp to port {SINK_PORT} keep state\n"
                       f"pass in on wan proto tcp to port {ECHO_PORT} keep state\n")
    needed = ["pass out keep state",
              "pass in on wan proto icmp keep state",
              "pass in on lan proto icmp keep state",
              f"pass in on wan proto tcp to 10.9.1.1 port {IPERF_PORT} keep state",
              f"pass in on wan proto tcp to 10.9.0.2 port {ECHO_PORT} keep state",
              f"pass in on wan proto tcp to 10.9.0.2 port {SINK_PORT} keep state"]
    filler = [f"pass in on wan proto tcp to 10.9.1.{1 + i % 3} port {20000 + i} keep state"
              for i in range(N_RULES - len(needed))]
    return (head + "interface wan nic 0 address 10.9.0.2/24\ninterface lan nic 1 address 10.9.1.2/24\n\n"
            + "\n".join(filler + needed) + "\n")


def make_image(src: Path, out: Path, tap: bool) -> None:
    """A copy of SRC with the netbench manifest lines and this appliance.conf."""
    # The whole manifest: the netbench set's names (its own netd) are scoped
    # to the set, so the appliance's lines stay (init/manifest.h).
    net1 = "connect net1 share net1 256 " if tap else ""
    manifest = netlab.base_manifest() + "\n" + MANIFEST.format(nic1=NIC1 if tap else "", net1=net1, pages=SOCK_PAGES,
                                                               tx_pages=SOCK_TX_PAGES)
    netlab.make_image(src, out, rules_conf(tap), site=out.parent / "site", manifest=manifest, replace=True)


# --------------------------------------------------------------------------
# A running guest (either OS): QEMU with its serial in a file
# --------------------------------------------------------------------------

class Guest:
    def __init__(self, name: str, cmd: list[str]) -> None:
        kq.install_signal_handlers()
        kq.LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log = kq.LOG_DIR / f"{name}.log"
        self.qlog = open(kq.LOG_DIR / f"{name}.qemu.log", "wb")
        self.log.write_text("")
        self.cmd = cmd
        self.proc = kq.spawn(cmd, self.qlog)
        self.t0 = time.monotonic()
        self.serial = netlab.SerialLog(self.log, alive=lambda: self.proc.poll() is None)
        self.text = self.serial.text

    def wait_for(self, pattern: str, timeout: float) -> Optional[re.Match]:
        return self.serial.wait(pattern, timeout)

    def close(self) -> None:
        kq.stop(self.proc)
        self.qlog.close()


class Namespaces(netlab.Lab):
    """wan (QEMU, ktap0 10.9.0.1/24) and, with lan=True, lan (ktap1
    10.9.1.1/24, moved there once QEMU holds it); names carry the pid."""

    def __init__(self, tag: str, lan: bool) -> None:
        super().__init__("b")
        self.wan = self.netns(f"bw{tag}{self.pid}")
        self.lan = self.netns(f"bl{tag}{self.pid}") if lan else ""
        self.taps = ["ktap0", "ktap1"] if lan else ["ktap0"]
        for t in self.taps:
            self.tap(self.wan, t, "10.9.0.1/24" if t == "ktap0" else None)

    def move_lan(self) -> None:
        """After QEMU opened ktap1: into lan, addressed, routes both ways via netd."""
        if not self.lan:
            return
        self.move("ktap1", self.wan, self.lan, "10.9.1.1/24", "10.9.1.2")
        sh("ip", "-n", self.wan, "route", "add", "10.9.1.0/24", "via", "10.9.0.2")


# --------------------------------------------------------------------------
# Generators
# --------------------------------------------------------------------------

def json_result(cmd: list[str], what: str, timeout: float) -> dict:
    """The JSON object on the last line a bench client (CMD) prints, or
    {"ok": False, "error": ...} naming WHAT when it prints none in TIMEOUT s."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"{what}: no answer in {timeout:.0f} s"}
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "error": f"{what}: {p.stdout[-200:]} {p.stderr[-300:]}"}


def client(ns: str, *args: str, timeout: float = 600) -> dict:
    cmd = ([*(["ip", "netns", "exec", ns] if ns else []), sys.executable, CLIENT, *args])
    return json_result(cmd, f"netclient {' '.join(args)}", timeout)


def iperf(wan: str, lan: str, dst: str, seconds: int) -> dict:
    """iperf3 from wan to an iperf3 server on DST in lan; MB/s the receiver got."""
    srv = subprocess.Popen(["ip", "netns", "exec", lan, "iperf3", "-s", "-1", "-B", dst, "-p", str(IPERF_PORT)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(0.7)
        p = subprocess.run(["ip", "netns", "exec", wan, "iperf3", "-c", dst, "-p", str(IPERF_PORT), "-t",
                            str(seconds), "-J"], capture_output=True, text=True, timeout=seconds + 120)
        try:
            j = json.loads(p.stdout)
            bps = j["end"]["sum_received"]["bits_per_second"]
            nbytes = j["end"]["sum_received"]["bytes"]
        except (ValueError, KeyError):
            return {"ok": False, "error": f"iperf3: {p.stdout[-300:]} {p.stderr[-200:]}"}
        return {"ok": True, "mb_per_s": bps / 8e6, "bytes": nbytes}
    finally:
        try:
            srv.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kq.stop(srv)


# Units where a larger figure is better (the best run is the largest).
HIGHER_IS_BETTER = {"MB/s", "conn/s", "handshakes/s"}


class Figures:
    """BENCH lines (medians) and INFO lines (runs, min, max), also kept as
    {name: {unit: value}} for the RATIO lines, with the best run of each
    figure beside (best: the largest for HIGHER_IS_BETTER units, else the
    smallest), for the RATIO lines' ratio of the best runs."""

    def __init__(self) -> None:
        self.figures: dict[str, dict[str, float]] = {}
        self.best: dict[str, dict[str, float]] = {}
        self.failed: list[str] = []
        # name -> [(address-space switches, IPC messages) per MiB] of each run (counted)
        self.per_mib: dict[str, list[tuple[float, float]]] = {}

    def measure(self, name: str, unit: str, key: str, runs: int, fn: Callable[[], dict], what: str) -> None:
        vals, errors = [], 0
        for i in range(runs):
            r = fn()
            errors += int(r.get("errors", 0))
            if not r.get("ok"):
                print(f"INFO name={name} failed on run {i + 1}: {r.get('error')}", flush=True)
                self.failed.append(name)
                return
            vals.append(r[key])
        med = statistics.median(vals)
        self.figures.setdefault(name, {})[unit] = round(med, 2)
        best = max(vals) if unit in HIGHER_IS_BETTER else min(vals)
        self.best.setdefault(name, {})[unit] = round(best, 2)
        print(f"BENCH name={name} value={med:.2f} unit={unit}")
        err = f" failed_attempts={errors}" if errors else ""
        print(f"INFO name={name} runs={runs} min={min(vals):.2f} max={max(vals):.2f}{err} ({what})", flush=True)


SINK_COST_RE = re.compile(r"socktest: sink: (\d+) bytes, kernel: (\d+) address-space switches, (\d+) IPC messages")


def sink_costs(f: Figures, name: str, g: "Guest", nbytes: int) -> None:
    """The kernel's counters over each sink run (socktest logs them at the
    sink's end), per MiB moved: what the microkernel structure costs."""
    runs = [(int(a), int(i)) for n, a, i in SINK_COST_RE.findall(g.text()) if int(n) == nbytes]
    if not runs:
        print(f"INFO name={name}_per_mib skipped: socktest logged no kernel counters", flush=True)
        return
    mib = nbytes / (1 << 20)
    for what, k in (("as_switches", 0), ("ipc", 1)):
        vals = [r[k] / mib for r in runs]
        med = statistics.median(vals)
        f.figures.setdefault(f"{name}_{what}_per_mib", {})["per_MiB"] = round(med, 1)
        print(f"BENCH name={name}_{what}_per_mib value={med:.1f} unit=per_MiB")
    print(f"INFO name={name}_per_mib runs={len(runs)} (address-space switches and IPC messages counted by the "
          f"kernel, SYS_KSTATS, over each sink run, the whole machine, divided by the MiB moved)", flush=True)


def counted(f: Figures, name: str, ns: str, host: str, fn: Callable[[], dict]) -> Callable[[], dict]:
    """FN (a run that reports the bytes it moved) wrapped so that socktest's
    kernel counters are read before and after it; per-MiB figures of the
    runs are kept and printed by counted_report."""
    runs = f.per_mib.setdefault(name, [])

    def run() -> dict:
        k0 = client(ns, "kstats", host, str(SINK_PORT))
        r = fn()
        k1 = client(ns, "kstats", host, str(SINK_PORT))
        if r.get("ok") and k0.get("ok") and k1.get("ok") and r.get("bytes"):
            mib = r["bytes"] / (1 << 20)
            runs.append(((k1["as_switches"] - k0["as_switches"]) / mib, (k1["ipc"] - k0["ipc"]) / mib))
        return r
    return run


def counted_report(f: Figures, name: str) -> None:
    runs = f.per_mib.get(name, [])
    if not runs:
        print(f"INFO name={name}_per_mib skipped: no kernel counters around the runs (socktest's kstats)",
              flush=True)
        return
    for what, k in (("as_switches", 0), ("ipc", 1)):
        med = statistics.median(r[k] for r in runs)
        f.figures.setdefault(f"{name}_{what}_per_mib", {})["per_MiB"] = round(med, 1)
        print(f"BENCH name={name}_{what}_per_mib value={med:.1f} unit=per_MiB")
    print(f"INFO name={name}_per_mib runs={len(runs)} (address-space switches and IPC messages counted by the "
          f"kernel, SYS_KSTATS read through socktest before and after each run, the whole machine, divided by "
          f"the MiB the receiver got)", flush=True)


def ceilings(f: Figures, runs: int, nbytes: int, conns: int, seconds: int) -> None:
    """The generators against host-side services: what they can do at most."""
    ns = Namespaces("c", lan=False)
    port = free_port()
    srv = subprocess.Popen(["ip", "netns", "exec", ns.wan, sys.executable, CLIENT, "serve", str(port)],
                           stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        srv.stdout.readline()
        f.measure("tcp_sink_host_ceiling", "MB/s", "mb_per_s", runs,
                  lambda: client(ns.wan, "sink", "127.0.0.1", str(port), str(nbytes)),
                  "the sink generator against a host-side sink over loopback")
        f.measure("tcp_conns_host_ceiling", "conn/s", "per_s", runs,
                  lambda: client(ns.wan, "conns", "127.0.0.1", str(port), str(conns)),
                  "the connection generator against a host-side echo over loopback")
        sh("ip", "-n", ns.wan, "addr", "add", "10.9.1.1/32", "dev", "lo")
        f.measure("fw_forward_host_ceiling", "MB/s", "mb_per_s", runs,
                  lambda: iperf(ns.wan, ns.wan, "10.9.1.1", seconds),
                  "iperf3 client and server in one namespace over loopback")
    finally:
        kq.stop(srv)
        ns.close()


def keel_tap(f: Figures, image_src: Path, work: Path, runs: int, nbytes: int, conns: int,
             seconds: int, accel: str) -> str:
    img = work / "tap" / "tftp"
    img.parent.mkdir(parents=True)
    make_image(image_src, img, tap=True)
    ns = Namespaces("k", lan=True)
    g = None
    try:
        cfg = kq.Config(boot="direct", accel=accel, nic="virtio,virtio", args=["netbench"],
                        taps=ns.taps, netns=ns.wan, serial=f"file:{kq.LOG_DIR / 'bench-keel-tcp-tap.log'}",
                        qemu_extra="-device virtio-rng-pci", image_dir=img)
        plan = kq.build_command(cfg)
        g = Guest("bench-keel-tcp-tap", plan.cmd)
        time.sleep(1.0)
        ns.move_lan()
        if not (g.wait_for(r"^keel: ready$", 180) and g.wait_for(r"socktest: ready", 60)
                and g.wait_for(r"netd: net1: up", 60)):
            print(f"INFO name=keel_tcp_tap skipped: the guest did not get ready; log {kq.rel(g.log)}", flush=True)
            f.failed.append("keel_tcp_tap")
            return plan.accel
        m = g.wait_for(r"netd: firewall: appliance\.conf: (\d+) rules in force", 5)
        print(f"INFO name=keel_tcp_tap accel={plan.accel} rules={m.group(1) if m else '?'} "
              f"log={kq.rel(g.log)}", flush=True)
        sh("ip", "netns", "exec", ns.wan, "ping", "-c", "2", "-W", "5", "10.9.1.1", check=False)
        f.measure("tcp_sink_tap", "MB/s", "mb_per_s", runs,
                  lambda: client(ns.wan, "sink", "10.9.0.2", str(SINK_PORT), str(nbytes)),
                  f"{nbytes} bytes from the wan namespace over a tap into socktest's sink; accel={plan.accel}")
        sink_costs(f, "tcp_sink_tap", g, nbytes)
        f.measure("tcp_conns_per_s_tap", "conn/s", "per_s", runs,
                  lambda: client(ns.wan, "conns", "10.9.0.2", str(ECHO_PORT), str(conns)),
                  f"{conns} connections opened and closed in sequence to socktest's echo port; accel={plan.accel}")
        f.measure("fw_forward_100rules", "MB/s", "mb_per_s", runs,
                  counted(f, "fw_forward_100rules", ns.wan, "10.9.0.2",
                          lambda: iperf(ns.wan, ns.lan, "10.9.1.1", seconds)),
                  f"iperf3 -t {seconds} wan -> lan forwarded by netd with {N_RULES} firewall rules loaded; "
                  f"accel={plan.accel}")
        counted_report(f, "fw_forward_100rules")
        return plan.accel
    finally:
        if g:
            g.close()
        ns.close()


def keel_user(f: Figures, image_src: Path, work: Path, runs: int, nbytes: int, accel: str) -> str:
    img = work / "user" / "tftp"
    img.parent.mkdir(parents=True)
    make_image(image_src, img, tap=False)
    port = free_port()
    cfg = kq.Config(boot="direct", accel=accel, nic="virtio", args=["netbench"],
                    fwd=f"tcp:127.0.0.1:{port}-:{SINK_PORT}",
                    serial=f"file:{kq.LOG_DIR / 'bench-keel-tcp-user.log'}",
                    qemu_extra="-device virtio-rng-pci", image_dir=img)
    plan = kq.build_command(cfg)
    g = Guest("bench-keel-tcp-user", plan.cmd)
    try:
        if not (g.wait_for(r"^keel: ready$", 180) and g.wait_for(r"socktest: ready", 60)
                and g.wait_for(r"netd: net0: up, address", 60)):
            print(f"INFO name=keel_tcp_user skipped: the guest did not get ready; log {kq.rel(g.log)}", flush=True)
            f.failed.append("keel_tcp_user")
            return plan.accel
        f.measure("tcp_sink_user", "MB/s", "mb_per_s", runs,
                  lambda: client("", "sink", "127.0.0.1", str(port), str(nbytes)),
                  f"{nbytes} bytes through QEMU's user network (hostfwd) into socktest's sink; accel={plan.accel}")
        sink_costs(f, "tcp_sink_user", g, nbytes)
        return plan.accel
    finally:
        g.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image-dir", default=str(kq.DEFAULT_IMAGE_DIR))
    ap.add_argument("--accel", default="auto")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mb", type=int, default=8, help="MB into the sink per run")
    ap.add_argument("--conns", type=int, default=100, help="connections per run")
    ap.add_argument("--seconds", type=int, default=5, help="iperf3 seconds per run")
    ap.add_argument("--json", default="", help="also write the figures here")
    ns = ap.parse_args(argv)
    f = Figures()
    nbytes = ns.mb * 1000 * 1000
    work = Path(tempfile.mkdtemp(prefix="bench-tcp-", dir=kq.BUILD))
    try:
        ceilings(f, ns.runs, nbytes * 4, ns.conns * 4, ns.seconds)
        a1 = keel_tap(f, Path(ns.image_dir), work, ns.runs, nbytes, ns.conns, ns.seconds, ns.accel)
        a2 = keel_user(f, Path(ns.image_dir), work, ns.runs, nbytes, ns.accel)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if ns.json:
        Path(ns.json).write_text(json.dumps({"figures": f.figures, "best": f.best,
                                             "accel": a1 if a1 == a2 else f"{a1},{a2}", "failed": f.failed},
                                            indent=1) + "\n")
    return 1 if f.failed else 0


if __name__ == "__main__":
    sys.exit(main())
