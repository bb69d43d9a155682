#!/usr/bin/env python3
"""Capacity (issue 14 item 7): tlsd holds many idle TLS connections, each
with its backend connection, gives their buffers back while they are idle,
still serves a new client, and drops a client that never finishes its
handshake after handshake-timeout, apart from idle-timeout.

The boot is the appliance's normal one, as `make run` starts it (image/
manifest: netd, keyd, tlsd, virtio-rng, QEMU's user network), in 256 MiB,
with the site archive of bench/hold.py's capacity_image: listeners 443
(`max-connections 4000`, `handshake-timeout 2m`: handshakes queue under
TCG) and 444 (`handshake-timeout 3s`), both `idle-timeout 10m`, ECDSA
P-256 (made by openssl), whose backend is hold.py's HoldBackend on the
host (it holds every connection and answers each request), and netd and
tlsd logging their statistics every 2 s.

Checks (each a PASS/FAIL line; the closing line is "N passed, N failed"):
  - HELD idle TLS connections (300 by default: more than the 124 tlsd held
    before; a quarter TLS 1.2, the rest TLS 1.3) all finish their handshake
    and stay open, with as many backend connections held;
  - tlsd parks them (its statistics line: "N idle and parked");
  - memory per idle connection, tlsd's heap growth plus netd's (PCBs in
    use x their size, and its socket table's growth), from the statistics
    lines before and after: under 16 KiB;
  - a new client is served while they are held;
  - every held connection still proxies a request (its engine unparks);
  - 20 clients that connect to 444 and send nothing take no engine memory
    (under 8 KiB each of tlsd's heap besides slots: the engine starts with
    a client's first bytes) and are dropped after 444's 3 s
    handshake-timeout, while the held idle ones stay (idle-timeout 10m).

Positive control: with tlsd's old limit (TLSD_MAX_CONNS 124), 176 of the
300 are refused and the first check fails.

Usage: python3 tests/qemu/test_capacity.py [--held N] [--image-dir DIR]
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "bench"))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402
import hold  # noqa: E402

SILENT = 20  # clients that connect to 444 and send nothing

class Boot:
    """The image booted as `make run` boots it, 127.0.0.1:PORT forwarded to 443."""

    def __init__(self, name: str, image_dir: Path, mem: int, port: int, port444: int) -> None:
        self.log = kq.LOG_DIR / f"{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.unlink(missing_ok=True)
        cfg = kq.Config(boot="direct", accel="auto", mem=mem, serial=f"file:{self.log}",
                        fwd=f"tcp:127.0.0.1:{port}-:443,tcp:127.0.0.1:{port444}-:444",
                        qemu_extra="-device virtio-rng-pci", image_dir=image_dir)
        self.qout = open(kq.LOG_DIR / f"{name}.qemu.log", "wb")
        self.proc = kq.spawn(kq.build_command(cfg).cmd, self.qout)
        self.serial = netlab.SerialLog(self.log, alive=lambda: self.proc.poll() is None)
        self.text = self.serial.text

    def wait(self, pattern: str, timeout: float):
        return self.serial.wait(pattern, timeout)

    def close(self) -> None:
        kq.stop(self.proc)
        self.qout.close()


def next_line(b: Boot, parse, after: int, timeout: float):
    """The first statistics line PARSE finds in B's log after offset AFTER."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = parse(b.text()[after:])
        if got:
            return got
        time.sleep(0.5)
    return None


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=str(kq.DEFAULT_IMAGE_DIR))
    ap.add_argument("--held", type=int, default=300, help="idle TLS connections to hold (> 124)")
    ns = ap.parse_args()
    hold.raise_nofile(4 * ns.held + 256)
    rep = kq.Reporter()
    check = kq.check
    work = Path(tempfile.mkdtemp(prefix="capacity-", dir=kq.BUILD))
    backend = hold.HoldBackend()
    port, port444 = netlab.free_port(), netlab.free_port()
    img = work / "tftp"
    hold.capacity_image(Path(ns.image_dir), img, work / "site", backend.port, max_conns=4000, stats_s=2)
    b = Boot("capacity", img, 256, port, port444)
    held: list = []
    state: dict = {}
    try:
        def serving():
            check(b.wait(r"tlsd: serving", 180) is not None, "tlsd is not serving: " + b.text()[-400:])
            check(b.wait(r"netd: eth0: up, address 10\.0\.2\.15", 60) is not None, "no DHCP address")
            ok, why = False, ""
            for _ in range(10):
                ok, why = hold.fetch("127.0.0.1", port)
                if ok:
                    break
                time.sleep(2)
            check(ok, f"the first client was not served: {why}")
            # the statistics with one connection closed and none open: the baseline
            at = len(b.text())
            state["t0"] = next_line(b, hold.tlsd_memory, at, 30)
            state["n0"] = next_line(b, hold.netd_memory, at, 30)
            check(state["t0"] is not None and state["n0"] is not None, "no statistics lines from tlsd and netd")

        rep.run("capacity.serving", serving)

        def held_all():
            nonlocal held
            t0 = time.monotonic()
            held, refused, info = hold.open_held("127.0.0.1", port, ns.held, conc=8, handshake_s=120, tls12_every=4)
            print(f"# {len(held)} held, {refused} refused in {time.monotonic() - t0:.0f} s; errors {info['errors']}; "
                  f"versions {info['versions']}; the backend holds {backend.open}", flush=True)
            check(len(held) == ns.held and refused == 0,
                  f"{len(held)} of {ns.held} connections held, {refused} refused ({info['errors']})")
            check(info["versions"].get("TLSv1.2", 0) >= ns.held // 4 - 1 and info["versions"].get("TLSv1.3", 0) > 0,
                  f"not both versions held: {info['versions']}")
            end = time.monotonic() + 60
            while backend.open < ns.held and time.monotonic() < end:
                time.sleep(0.5)
            check(backend.open >= ns.held, f"the backend holds {backend.open} connections, not {ns.held}")

        rep.run("capacity.idle_connections_held", held_all)

        def parked():
            end = time.monotonic() + 60
            last = None
            while time.monotonic() < end:
                last = next_line(b, hold.tlsd_memory, len(b.text()), 20)
                if last and last["conns"] >= ns.held and last["parked"] >= ns.held:
                    state["t1"] = last
                    state["n1"] = next_line(b, hold.netd_memory, len(b.text()), 20)
                    return
            raise kq.TestFailure(f"tlsd did not park the idle connections: {last}")

        rep.run("capacity.idle_connections_parked", parked)

        def memory():
            t0, t1, n0, n1 = state.get("t0"), state.get("t1"), state.get("n0"), state.get("n1")
            check(None not in (t0, t1, n0, n1), "statistics lines missing")
            per = hold.per_conn_bytes(t0, t1, n0, n1, t1["conns"] - t0["conns"])
            print(f"# memory per idle connection: tlsd {per['tlsd']:.0f} bytes (heap {t0['heap_kib']} -> "
                  f"{t1['heap_kib']} KiB), netd {per['netd']:.0f} bytes (PCBs {n0['pcbs']} -> {n1['pcbs']} x "
                  f"{n1['pcb_bytes']}, socket table {n0['table_kib']} -> {n1['table_kib']} KiB), total "
                  f"{per['total']:.0f} bytes", flush=True)
            check(per["total"] < 16384, f"{per['total']:.0f} bytes per idle connection (the goal: under 16 KiB)")

        rep.run("capacity.idle_memory_under_16_kib", memory)

        def new_client():
            ok, why = hold.fetch("127.0.0.1", port)
            check(ok, f"a new client was not served while {len(held)} are held: {why}")

        rep.run("capacity.new_client_served_while_held", new_client)

        def still_proxy():
            n = hold.probe(held, timeout=120)
            check(n == len(held), f"{n} of {len(held)} held connections answered a request")

        rep.run("capacity.held_connections_still_proxy", still_proxy)

        def handshake_timeout():
            before, end = None, time.monotonic() + 30
            while time.monotonic() < end:  # the held ones parked again (the probe above unparked them)
                before = next_line(b, hold.tlsd_memory, len(b.text()), 10)
                if before and before["parked"] >= before["conns"]:
                    break
            check(before is not None and before["parked"] >= before["conns"], f"held ones not parked: {before}")
            silent = [socket.create_connection(("127.0.0.1", port444), timeout=30) for _ in range(SILENT)]
            t0 = time.monotonic()
            best = None
            while time.monotonic() - t0 < 12:  # the line with the most of them in tlsd (they go after 3 s)
                got = next_line(b, hold.tlsd_memory, len(b.text()), 5)
                if got and (best is None or got["conns"] > best["conns"]):
                    best = got
                if best and best["conns"] - before["conns"] >= SILENT:
                    break  # all of them are in: no line can show more
            k = (best["conns"] - before["conns"]) if best else 0
            check(k >= 1, f"tlsd held none of the {SILENT} silent clients at a statistics line: {before} {best}")
            grew = (best["heap_kib"] - before["heap_kib"]) - (best["slots_kib"] - before["slots_kib"])
            print(f"# {k} silent clients in tlsd at once: its heap grew {grew} KiB besides slots", flush=True)
            check(grew < k * 8, f"{k} clients that sent nothing took {grew} KiB of tlsd's heap (no engine should "
                  "start before a client's first bytes)")
            for s in silent:
                try:
                    s.settimeout(max(1.0, 40 - (time.monotonic() - t0)))
                    data = s.recv(100)  # nothing sent: tlsd's handshake-timeout closes it
                except ConnectionResetError:
                    data = b""
                except socket.timeout:
                    raise kq.TestFailure("a client that sent nothing was still connected after 40 s")
                finally:
                    s.close()
                check(data == b"", f"got {data!r} from tlsd before any ClientHello")
            took = time.monotonic() - t0
            check(2 <= took <= 25, f"dropped after {took:.1f} s (handshake-timeout 3s)")
            check(b.wait(r"handshake timeout", 10) is not None, "tlsd logged no handshake timeout")
            n = hold.probe(held[:20], timeout=60)
            check(n == min(20, len(held)), f"held idle connections were dropped too: {n} of 20 answered")

        rep.run("capacity.handshake_timeout_apart_from_idle_timeout", handshake_timeout)

        def nothing_died():
            check(re.search(r"keel: init: server \S+ died|keel: PANIC", b.text()) is None,
                  "a server died: " + b.text()[-600:])

        rep.run("capacity.no_server_died", nothing_died)
    finally:
        hold.close_all(held)
        b.close()
        backend.close()
        shutil.rmtree(work, ignore_errors=True)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
