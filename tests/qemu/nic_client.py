#!/usr/bin/env python3
"""Test host side of the NIC tests: raw Ethernet frames on a tap device.

Runs inside the test host's network namespace (`ip netns exec NS ...`), so
every frame goes only to the guest behind the tap.  Each operation prints
one JSON object on stdout.

  arp IFACE IP                      ARP who-has IP -> {"mac": ...}
  sizes IFACE MAC FIRST LAST        one test frame of every size, echoed intact?
  burst IFACE MAC COUNT WINDOW      COUNT frames, at most WINDOW unanswered
  stats IFACE MAC                   the guest's counters (KEEL-STATS)
  restart IFACE MAC COUNT WINDOW [WORD]  traffic; KEEL-CRASH (or WORD, e.g. KEEL-DMASTRAY)
                                    half way; traffic must resume
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
import time

ETH_TEST = 0x88B5
ETH_ARP = 0x0806


def mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def mac_str(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def open_sock(iface: str, proto: int) -> tuple[socket.socket, bytes]:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(proto))
    s.bind((iface, proto))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    return s, s.getsockname()[4]


def recv_until(s: socket.socket, deadline: float):
    """Yields frames until the deadline."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        r, _, _ = select.select([s], [], [], left)
        if r:
            yield s.recv(65536)


def op_arp(iface: str, ip: str) -> dict:
    s, me = open_sock(iface, ETH_ARP)
    my_ip = socket.inet_aton(host_ip(iface))
    target = socket.inet_aton(ip)
    req = b"\xff" * 6 + me + struct.pack("!H", ETH_ARP) + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + me + my_ip \
        + b"\0" * 6 + target
    req += b"\0" * (60 - len(req))
    for _ in range(3):
        s.send(req)
        for f in recv_until(s, time.monotonic() + 2):
            if len(f) >= 42 and f[20:22] == b"\x00\x02" and f[28:32] == target:
                return {"mac": mac_str(f[22:28])}
    return {"mac": None}


def host_ip(iface: str) -> str:
    import fcntl
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", iface.encode()[:15]))  # SIOCGIFADDR
    return socket.inet_ntoa(r[20:24])


def test_frame(dst: bytes, me: bytes, seq: int, size: int) -> bytes:
    head = dst + me + struct.pack("!H", ETH_TEST) + struct.pack("!I", seq)
    body = bytes(((seq * 7 + i) & 0xFF) for i in range(size - len(head)))
    return head + body


def op_sizes(iface: str, mac: str, first: int, last: int) -> dict:
    s, me = open_sock(iface, ETH_TEST)
    dst = mac_bytes(mac)
    bad, lost = [], []
    for size in range(first, last + 1):
        f = test_frame(dst, me, size, size)
        ok = False
        for _attempt in range(3):
            s.send(f)
            for r in recv_until(s, time.monotonic() + 1.0):
                if len(r) >= 18 and r[14:18] == f[14:18]:
                    if r[:6] == me and r[6:12] == dst and r[12:] == f[12:] and len(r) == len(f):
                        ok = True
                    else:
                        bad.append(size)
                    break
            if ok or size in bad:
                break
        if not ok and size not in bad:
            lost.append(size)
    return {"ok": last - first + 1 - len(bad) - len(lost), "bad": bad[:20], "lost": lost[:20],
            "n_bad": len(bad), "n_lost": len(lost)}


def stats(s: socket.socket, me: bytes, dst: bytes) -> dict:
    req = dst + me + struct.pack("!H", ETH_TEST) + b"KEEL-STATS"
    req += b"\0" * (60 - len(req))
    for _ in range(5):
        s.send(req)
        for r in recv_until(s, time.monotonic() + 1.0):
            if r[14:24] == b"KEEL-STATS":
                text = r[25:].split(b"\0")[0].decode(errors="replace")
                return {k: int(v) for k, v in (w.split("=") for w in text.split() if "=" in w)}
    return {}


def tap_drops(iface: str) -> int:
    total = 0
    for name in ("tx_dropped", "rx_dropped"):
        try:
            with open(f"/sys/class/net/{iface}/statistics/{name}") as fh:
                total += int(fh.read())
        except OSError:
            pass
    return total


def burst(s, me, dst, count, window, seq0=0, crash_at=None, timeout=60.0, crash_word=b"KEEL-CRASH"):
    sent = received = corrupt = 0
    outstanding: dict[int, bytes] = {}
    received_after_crash = 0
    crashed = False
    got: set[int] = set()             # seqs echoed intact or not
    crash_seq = recovery_seq = None   # first seq sent after the crash frame; next seq when the first echo came back
    deadline = time.monotonic() + timeout
    last_progress = time.monotonic()
    seq = seq0
    while (sent < count or outstanding) and time.monotonic() < deadline:
        while sent < count and len(outstanding) < window:
            if crash_at is not None and not crashed and sent == crash_at:
                crash = dst + me + struct.pack("!H", ETH_TEST) + crash_word
                s.send(crash + b"\0" * (60 - len(crash)))
                crashed = True
                crash_seq = seq
            size = 60 + (seq * 37) % (1514 - 60)
            f = test_frame(dst, me, seq, size)
            s.send(f)
            outstanding[seq] = f
            seq += 1
            sent += 1
        r, _, _ = select.select([s], [], [], 0.2)
        if r:
            while True:
                try:
                    f = s.recv(65536, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                if len(f) < 18 or f[14:24] == b"KEEL-STATS":
                    continue
                (rseq,) = struct.unpack("!I", f[14:18])
                orig = outstanding.pop(rseq, None)
                if orig is None:
                    continue
                if f[12:] != orig[12:]:
                    corrupt += 1
                received += 1
                got.add(rseq)
                if crashed:
                    received_after_crash += 1
                    if recovery_seq is None and rseq >= crash_seq:
                        recovery_seq = seq
                last_progress = time.monotonic()
        elif time.monotonic() - last_progress > 3.0:
            # Nothing came back for 3 s: what is outstanding is lost (e.g. in
            # the driver that was restarted); stop waiting for it.
            outstanding.clear()
            last_progress = time.monotonic()
    res = {"sent": sent, "received": received, "corrupt": corrupt, "lost": sent - received,
           "received_after_crash": received_after_crash}
    if crash_at is not None:
        # Loss accounting around a driver restart, by phase (seqs):
        #   before   [seq0, crash_seq)          sent to the running driver
        #   outage   [crash_seq, recovery_seq + window)  sent until the first echo
        #            after the crash, and one window more: that echo may still
        #            be the dying driver's (frames queued before it faulted)
        #   after    [recovery_seq + window, seq)  sent to the restarted driver
        end = seq
        cs = crash_seq if crash_seq is not None else end
        rs = min(recovery_seq + window, end) if recovery_seq is not None else end
        for name, lo, hi in (("before", seq0, cs), ("outage", cs, rs), ("after", rs, end)):
            res[f"sent_{name}"] = hi - lo
            res[f"lost_{name}"] = sum(1 for q in range(lo, hi) if q not in got)
        res["lost_after_at"] = [q - rs for q in range(rs, end) if q not in got][:8]  # from the first echo
    return res


def op_burst(iface: str, mac: str, count: int, window: int) -> dict:
    s, me = open_sock(iface, ETH_TEST)
    dst = mac_bytes(mac)
    before, drops0 = stats(s, me, dst), tap_drops(iface)
    res = burst(s, me, dst, count, window)
    time.sleep(0.5)
    after, drops1 = stats(s, me, dst), tap_drops(iface)
    res["tap_drops"] = drops1 - drops0
    res["guest"] = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return res


def op_flood(iface: str, mac: str, count: int, size: int, window: int) -> dict:
    """Throughput of the echo path: COUNT frames of SIZE bytes, WINDOW in flight."""
    s, me = open_sock(iface, ETH_TEST)
    dst = mac_bytes(mac)
    before = stats(s, me, dst)
    frame = bytearray(test_frame(dst, me, 0, size))
    outstanding = sent = received = 0
    t0 = time.monotonic()
    last = t0
    while (sent < count or outstanding) and time.monotonic() - last < 3.0:
        while sent < count and outstanding < window:
            struct.pack_into("!I", frame, 14, sent)
            s.send(frame)
            sent += 1
            outstanding += 1
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            continue
        while True:
            try:
                f = s.recv(65536, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            if len(f) == size and f[14:24] != b"KEEL-STATS":
                received += 1
                outstanding -= 1
                last = time.monotonic()
    elapsed = last - t0
    after = stats(s, me, dst)
    guest = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    return {"sent": sent, "received": received, "seconds": elapsed, "guest": guest}


def op_restart(iface: str, mac: str, count: int, window: int, word: str = "KEEL-CRASH") -> dict:
    s, me = open_sock(iface, ETH_TEST)
    dst = mac_bytes(mac)
    drops0 = tap_drops(iface)
    res = burst(s, me, dst, count, window, seq0=1_000_000, crash_at=count // 2, timeout=120.0,
                crash_word=word.encode())
    res["tap_drops"] = tap_drops(iface) - drops0
    res["stats_after"] = stats(s, me, dst)
    return res


def main() -> int:
    op, iface, *rest = sys.argv[1:]
    if op == "arp":
        out = op_arp(iface, rest[0])
    elif op == "sizes":
        out = op_sizes(iface, rest[0], int(rest[1]), int(rest[2]))
    elif op == "burst":
        out = op_burst(iface, rest[0], int(rest[1]), int(rest[2]))
    elif op == "stats":
        s, me = open_sock(iface, ETH_TEST)
        out = stats(s, me, mac_bytes(rest[0]))
    elif op == "flood":
        out = op_flood(iface, rest[0], int(rest[1]), int(rest[2]), int(rest[3]))
    elif op == "restart":
        out = op_restart(iface, rest[0], int(rest[1]), int(rest[2]), *rest[3:4])
    else:
        print(f"unknown op {op}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
