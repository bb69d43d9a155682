#!/usr/bin/env python3
"""The host's load generators for the TCP figures of `make bench` (run by
bench/tcp.py, inside a network namespace with `ip netns exec` or against a
127.0.0.1 port QEMU forwards).  One JSON object on stdout.

    netclient.py sink HOST PORT BYTES       bytes into a sink service, timed
    netclient.py conns HOST PORT COUNT      connections opened and closed, timed
    netclient.py serve PORT                 a host-side sink + echo on 127.0.0.1
                                            (the generator's own ceiling)
    netclient.py kstats HOST PORT           socktest's kernel counters ("kstats\n" on
                                            its control port -> "kstats AS IPC\n")

The sink protocol (tests/net/socktest.c's control port, bench/linux/init.c's
port 9, and `serve` here): the client sends "sink\\n", the service answers
"sinking\\n", then every byte is dropped; at the client's FIN the service
answers "sunk N\\n" with the bytes it dropped and closes.  The figure counts
from the first byte sent to the "sunk" answer, so it is what the guest took,
not what the host's buffers took; a count that differs from BYTES fails.

`conns`: connect, FIN, wait for the server's FIN (an echo service closes
once its peer did), close.  The client closes first, so TIME_WAIT stays on
the host and the guest's table is not the limit being measured.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

CHUNK = 1 << 18


def recv_line(c: socket.socket) -> str:
    got = b""
    while not got.endswith(b"\n"):
        b = c.recv(100)
        if not b:
            break
        got += b
    return got.decode("ascii", "replace").strip()


def sink(host: str, port: int, nbytes: int) -> dict:
    c = socket.create_connection((host, port), timeout=60)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.sendall(b"sink\n")
    hello = recv_line(c)
    if hello != "sinking":
        return {"ok": False, "error": f"the service answered {hello!r} to `sink`"}
    data = bytes(range(256)) * (CHUNK // 256)
    t0 = time.monotonic()
    left = nbytes
    while left:
        k = min(left, len(data))
        c.sendall(data[:k])
        left -= k
    c.shutdown(socket.SHUT_WR)
    c.settimeout(300)
    answer = recv_line(c)
    dt = time.monotonic() - t0
    c.close()
    want = f"sunk {nbytes}"
    if answer != want:
        return {"ok": False, "error": f"the service answered {answer!r}, expected {want!r}"}
    return {"ok": True, "bytes": nbytes, "seconds": dt, "mb_per_s": nbytes / dt / 1e6}


def conns(host: str, port: int, count: int) -> dict:
    t0 = time.monotonic()
    for i in range(count):
        try:
            c = socket.create_connection((host, port), timeout=30)
            c.shutdown(socket.SHUT_WR)
            if c.recv(1) != b"":
                return {"ok": False, "error": f"connection {i}: data where a FIN was expected"}
            c.close()
        except OSError as e:
            return {"ok": False, "error": f"connection {i}: {type(e).__name__}: {e}"}
    dt = time.monotonic() - t0
    return {"ok": True, "count": count, "seconds": dt, "per_s": count / dt}


def serve(port: int) -> None:
    """A sink (the protocol above) and echo-until-FIN on one port."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)

    def one(c: socket.socket) -> None:
        with c:
            first = c.recv(5)
            if first == b"sink\n":
                c.sendall(b"sinking\n")
                n = 0
                while True:
                    b = c.recv(1 << 20)
                    if not b:
                        break
                    n += len(b)
                c.sendall(f"sunk {n}\n".encode())
                return
            while first:
                c.sendall(first)
                first = c.recv(1 << 16)
    print("ready", flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=one, args=(c,), daemon=True).start()


def kstats(host: str, port: int) -> dict:
    """The guest's address-space switches and IPC messages since boot."""
    c = socket.create_connection((host, port), timeout=30)
    c.sendall(b"kstats\n")
    words = recv_line(c).split()
    c.close()
    if len(words) != 3 or words[0] != "kstats" or not all(w.isdigit() for w in words[1:]):
        return {"ok": False, "error": f"the service answered {' '.join(words)!r} to `kstats`"}
    return {"ok": True, "as_switches": int(words[1]), "ipc": int(words[2])}


def main() -> int:
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == "serve":
        serve(int(a[1]))
        return 0
    if len(a) == 3 and a[0] == "kstats":
        try:
            r = kstats(a[1], int(a[2]))
        except OSError as e:
            r = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(r), flush=True)
        return 0 if r["ok"] else 1
    if len(a) != 4 or a[0] not in ("sink", "conns"):
        print(__doc__, file=sys.stderr)
        return 2
    fn = sink if a[0] == "sink" else conns
    try:
        r = fn(a[1], int(a[2]), int(a[3]))
    except OSError as e:
        r = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(r), flush=True)
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
