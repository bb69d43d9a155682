#!/usr/bin/env python3
"""The host's TLS load generator of `make bench` (run by bench/tls.py).
One JSON object on stdout.

    tlsclient.py full   HOST PORT CIPHER SECONDS [MAX] full handshakes, one after another,
                                                   for SECONDS or MAX handshakes
    tlsclient.py fullpar HOST PORT CIPHER SECONDS MAX CONC  the same on CONC connections at
                                                   once (threads; OpenSSL releases the GIL
                                                   while it computes), MAX over all of them:
                                                   the load for a terminator with several cores
    tlsclient.py resume HOST PORT CIPHER SECONDS [MAX]  resumed handshakes (the session of
                                                   one full handshake, offered again)
    tlsclient.py bulk   HOST PORT CIPHER PATH      GET PATH over TLS, the body timed
    tlsclient.py plain  HOST PORT -      PATH      the same without TLS (the ceiling)

CIPHER names the version too: an OpenSSL TLS 1.2 suite name (ECDHE-...)
means TLS 1.2 with exactly that suite; a TLS 1.3 suite name (TLS_...) means
TLS 1.3 only, with OpenSSL's default TLS 1.3 suites offered (Python's ssl
module cannot narrow those; the suite the server chose is in the result).
No certificate check (the benchmark's own self-signed certificates).
A TLS 1.3 ticket comes after the handshake, so `resume` in TLS 1.3 reads a
small page (/index.html) over its first, full handshake to receive it, and
then offers that session on every handshake.  A handshake counts once the server's Finished is checked;
`resume` fails when the server does not resume; a handshake the server
breaks off is counted (`errors`) and retried after 50 ms (the time counts),
and more of them than handshakes done (at least 10) fail the run; `bulk` when the body is not
the length the Content-Length said (a server without one, openssl s_server
-WWW, is read to its end).  Sequential: tlsd serves few
connections at once today, and one at a time is what both terminators are
compared on.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import time


def is_tls13(cipher: str) -> bool:
    return cipher.startswith("TLS_")


def context(cipher: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if is_tls13(cipher):
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    else:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(cipher)
    return ctx


def read_page(t: ssl.SSLSocket) -> None:
    """GET /index.html to its end (a TLS 1.3 client receives its ticket so)."""
    t.sendall(b"GET /index.html HTTP/1.0\r\nHost: bench\r\n\r\n")
    try:
        while t.recv(65536):
            pass
    except ssl.SSLEOFError:
        pass


def connect(ctx, host: str, port: int, session=None) -> ssl.SSLSocket:
    raw = socket.create_connection((host, port), timeout=60)
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ctx.wrap_socket(raw, server_hostname="bench", session=session)


def handshakes(host: str, port: int, cipher: str, seconds: float, resume: bool, most: int = 0) -> dict:
    ctx = context(cipher)
    session = None
    if resume:
        t = connect(ctx, host, port)
        if is_tls13(cipher):
            read_page(t)
        session = t.session
        t.close()
        if session is None:
            return {"ok": False, "error": "no session from the first handshake"}
    n, errors, first = 0, 0, None
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds and (most <= 0 or n < most):
        try:
            t = connect(ctx, host, port, session)
        except (OSError, ssl.SSLError):
            # A refusal by the server (tlsd: "no free socket" while closing
            # connections still hold its sockets) is counted, not fatal;
            # too many of them fail the figure below.
            errors += 1
            if errors > max(10, n):
                return {"ok": False, "error": f"{errors} failed handshakes, {n} done"}
            time.sleep(0.05)  # a client's retry: the time counts in the rate
            continue
        if resume and not t.session_reused:
            t.close()
            return {"ok": False, "error": f"handshake {n + 1} was not resumed"}
        if first is None:
            first = {"version": t.version(), "cipher": t.cipher()[0]}
        if resume and not is_tls13(cipher):
            session = t.session  # TLS 1.2: the ticket renewed in the handshake
        t.close()
        n += 1
    dt = time.monotonic() - t0
    return {"ok": True, "count": n, "errors": errors, "seconds": dt, "per_s": n / dt, **(first or {})}


def handshakes_parallel(host: str, port: int, cipher: str, seconds: float, most: int, conc: int) -> dict:
    """CONC threads of `full`, each with its share of MOST; the rate is the
    sum of the handshakes over the longest thread's time."""
    import threading
    res: list = [None] * conc
    share = max(1, most // conc) if most > 0 else 0

    def run(i: int) -> None:
        try:
            res[i] = handshakes(host, port, cipher, seconds, False, share)
        except (OSError, ssl.SSLError) as e:
            res[i] = {"ok": False, "error": f"{type(e).__name__}: {e}"}

    th = [threading.Thread(target=run, args=(i,)) for i in range(conc)]
    t0 = time.monotonic()
    for t in th:
        t.start()
    for t in th:
        t.join()
    dt = time.monotonic() - t0
    bad = [r for r in res if not r or not r.get("ok")]
    if bad:
        return {"ok": False, "error": f"{len(bad)} of {conc} connections failed: {bad[0]}"}
    n = sum(r["count"] for r in res)
    return {"ok": True, "count": n, "errors": sum(r["errors"] for r in res), "seconds": dt, "per_s": n / dt,
            "conc": conc, "version": res[0].get("version"), "cipher": res[0].get("cipher")}


def bulk(host: str, port: int, cipher: str, path: str) -> dict:
    if cipher == "-":
        c = socket.create_connection((host, port), timeout=60)
    else:
        c = connect(context(cipher), host, port)
    t0 = time.monotonic()
    c.sendall(f"GET {path} HTTP/1.0\r\nHost: bench\r\n\r\n".encode())
    got = b""
    while b"\r\n\r\n" not in got:
        b = c.recv(65536)
        if not b:
            return {"ok": False, "error": f"the stream ended in the headers: {got[:200]!r}"}
        got += b
    head, body = got.split(b"\r\n\r\n", 1)
    want = -1
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            want = int(line.split(b":", 1)[1])
    n = len(body)
    try:
        while True:
            b = c.recv(1 << 18)
            if not b:
                break
            n += len(b)
    except ssl.SSLEOFError:
        pass  # an end without close_notify: the length check below decides
    dt = time.monotonic() - t0
    c.close()
    status = head.split(b"\r\n")[0]
    if not status.startswith(b"HTTP/1") or b" 200 " not in status or (want >= 0 and n != want) or n == 0:
        return {"ok": False, "error": f"status {status!r}, body {n} bytes of {want}"}
    return {"ok": True, "bytes": n, "seconds": dt, "mb_per_s": n / dt / 1e6}


def main() -> int:
    a = sys.argv[1:]
    if len(a) == 7 and a[0] == "fullpar":
        try:
            r = handshakes_parallel(a[1], int(a[2]), a[3], float(a[4]), int(a[5]), int(a[6]))
        except (OSError, ssl.SSLError, ValueError) as e:
            r = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(r), flush=True)
        return 0 if r["ok"] else 1
    if len(a) not in (5, 6) or a[0] not in ("full", "resume", "bulk", "plain") or (len(a) == 6 and a[0] in ("bulk", "plain")):
        print(__doc__, file=sys.stderr)
        return 2
    mode, host, port, cipher, arg = a[0], a[1], int(a[2]), a[3], a[4]
    try:
        if mode in ("full", "resume"):
            r = handshakes(host, port, cipher, float(arg), mode == "resume", int(a[5]) if len(a) == 6 else 0)
        else:
            r = bulk(host, port, "-" if mode == "plain" else cipher, arg)
    except (OSError, ssl.SSLError) as e:
        r = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(r), flush=True)
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
