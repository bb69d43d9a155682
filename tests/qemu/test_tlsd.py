#!/usr/bin/env python3
"""tlsd tests: boots Keel with netd, keyd, tlsd and a virtio-rng server
(manifest lines below, `when tlstest`) between two network namespaces, as
tests/qemu/test_netd.py does; only the wan one carries traffic.

The site archive holds certificates and keys made here by openssl (never
committed; removed at the end): ec (ECDSA P-256, tlsd.test, every
listener's default), a (RSA 2048, sni a.test) and b (ECDSA, sni *.b.test),
and CONF below: listeners 443 (max-connections 3), 8443 (a backend that
refuses; ALPN h2 http/1.1), 8444 (PROXY v1), 9443 (three certificates; a
180 s handshake and idle timeouts, as 100 handshakes queue under TCG (on
an oversubscribed host, and on 2 vCPUs slower than on 1) while the first
ones wait idle for the last),
9444 (a backend that resets or stalls; an 8 s handshake timeout, long
enough for a handshake on 2 slow vCPUs, and a 3 s idle timeout), 9445 (PROXY v2), 7000 (the commit test's trigger).  Python backends in the wan namespace on
10.9.0.1 (8080: http.server, a POST answered with its body's sha256).
tlsd also serves `endpoint tlsd`, read by the guest's tlsstat
(tests/tls/tlsstat.c).

Checks, from the wan namespace (each a PASS/FAIL line; the closing line
is "N passed, N failed"):
  - curl fetches the backend's page; s_client -tls1_2 shows TLSv1.2 and
    ECDHE; s_client -tls1_3 and curl --tlsv1.3 get the page over TLS 1.3;
  - TLS 1.3: resumption by ticket as PSK ("Reused, TLSv1.3"), SNI with the
    RSA (PSS) and ECDSA certificates; a listener with `tls-versions 1.3`
    (9445) refuses a TLS 1.2 client and one with `tls-versions 1.2` (8444)
    a TLS 1.3 client, each logged, each serving its own version;
  - key isolation in both versions: while full handshakes run, the VM is
    stopped until tlsd's address space is current and every user page of
    it is read through QEMU's monitor: neither key's secret numbers are
    there; the same scan finds the EC key in keyd's;
  - 100 concurrent TLS clients, all connected and past the handshake at
    once, each fetch 64 KiB intact (sha256);
  - resumption by session ticket (s_client -sess_out / -sess_in: Reused);
  - SNI: a.test (RSA), x.b.test (wildcard), an unknown name and no SNI
    (the default); ALPN as configured;
  - while a 20 MB download reads slowly (backpressure), each bad input
    ends its own connection with its logged reason: garbage, TLS 1.1, no
    common suite, a stalled handshake, a truncated and an oversized
    record, a backend that refuses, resets or stalls; then the download
    finishes at full speed, sha256 intact;
  - 4 MB each way intact; max-connections; PROXY v1 (and close_notify)
    and v2 headers as the backend sees them;
  - the statistics line, and the same numbers read over IPC by tlsstat,
    whose bad calls get their precise errors (the config labels refuse a
    caller without a tlsadm region);
  - the console's two-phase commit, by tlsadm (tests/tls/tlsadm.c): bad
    configurations refused with line and column, tlsd unchanged; after the
    commit the new port serves, removed ports refuse (a connection open on
    one is closed), a changed block has its new settings, and a download on
    an unchanged listener finishes intact;
  - no server died; without any entropy source tlsd refuses to serve.

Usage (root; needs iproute2, curl, openssl):
  make image && python3 tests/qemu/test_tlsd.py [--build build]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "qemu"))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402

SOCK_PAGES, SOCK_TX_PAGES = kq.sock_shm_pages()  # abi/keel/socket.h SOCK_SHM_PAGES, SOCK_SHM_TX_PAGES
ADM_PAGES = int(re.search(r"#define TLSADM_SHM_PAGES (\d+)", (REPO / "abi" / "keel" / "tlsd.h").read_text())[1])
TLSD_LINES = """
# tlsd test boots (`tlstest`), tests/qemu/test_tlsd.py
server tlsnic0 when tlstest priority 15 memory 2M pci net 0 endpoint net0 share net0 256 signal netd-ev bit 0
server tlsnic1 when tlstest priority 15 memory 2M pci net 1 endpoint net1 share net1 256 signal netd-ev bit 1
server tlsrng  when tlstest priority 14 memory 256K pci rng 0 endpoint rng-tls
server netd    when tlstest needs tlsnic0 priority 12 memory 7M args net1=10.9.1.2/24,stats=600,debug=1 connect net0 share net0 256 connect net1 share net1 256 connect rng-tls notify netd-ev signal netd-ev site endpoint netd share sock-tlsd {pages} share socktx-tlsd {tx_pages} signal sock-tlsd
server keyd    when tlstest priority 12 memory 1M args client=tlsd,signal=sock-tlsd,threads=2,rng=rng-tls,key=ec.key,key=a.key,key=b.key site endpoint keyd share keyd 4 signal sock-tlsd connect rng-tls
server tlsd    when tlstest needs netd priority 11 memory 8M args rng=rng-tls,stats=3 site connect netd share sock-tlsd {pages} share socktx-tlsd {tx_pages} notify sock-tlsd signal sock-tlsd connect keyd share keyd 4 connect rng-tls endpoint tlsd share tlsadm-tlsadm {adm_pages}
server tlsstat when tlstest needs tlsd priority 9 memory 256K connect tlsd
server tlsadm  when tlstest needs tlsd priority 9 memory 256K site connect tlsd share tlsadm-tlsadm {adm_pages}
"""

CONF = """# tests/qemu/test_tlsd.py
hostname tlstest
interface wan nic 0 address 10.9.0.2/24
interface lan nic 1 address 10.9.1.2/24

pass out keep state
pass in on wan proto icmp keep state
pass in on wan proto tcp to 10.9.0.2 port 443 keep state
pass in on wan proto tcp to 10.9.0.2 port 8443 keep state
pass in on wan proto tcp to 10.9.0.2 port 8444 keep state
pass in on wan proto tcp to 10.9.0.2 port 9443 keep state
pass in on wan proto tcp to 10.9.0.2 port 9444 keep state
pass in on wan proto tcp to 10.9.0.2 port 9445 keep state
pass in on wan proto tcp to 10.9.0.2 port 7000 keep state
pass in on wan proto tcp to 10.9.0.2 port 6443 keep state

tls 443 {
    certificate ec.crt key ec.key
    backend 10.9.0.1:8080
    max-connections 3
    idle-timeout 30s
}

tls 8443 {
    certificate ec.crt key ec.key
    backend 10.9.0.1:8081
    alpn h2 http/1.1
}

tls 8444 {
    certificate ec.crt key ec.key
    backend 10.9.0.1:8082
    proxy-protocol v1
    tls-versions 1.2
}

tls 9443 {
    certificate ec.crt key ec.key
    certificate a.crt key a.key sni a.test
    certificate b.crt key b.key sni *.b.test
    backend 10.9.0.1:8080
    handshake-timeout 180s
    idle-timeout 180s
}

tls 9444 {
    certificate ec.crt key ec.key
    backend 10.9.0.1:8083
    handshake-timeout 8s
    idle-timeout 3s
}

tls 9445 {
    certificate ec.crt key ec.key
    backend 10.9.0.1:8084
    proxy-protocol v2
    tls-versions 1.3
}

tls 7000 {
    certificate ec.crt key ec.key
    backend 10.9.0.1:8080
}
"""

# At boot only (appended to CONF): a listener whose certificate file is not a
# certificate stops with a message naming the file; the others serve.
BROKEN_LISTENER = """
tls 9446 {
    certificate broken.crt key ec.key
    backend 10.9.0.1:8080
}
"""

# The configuration tlsadm (tests/tls/tlsadm.c) commits at run time: 8443
# and 7000 removed, 9445 changed (PROXY v1 to the 8082 backend), 6443 new;
# 443, 8444, 9443 and 9444 unchanged (their blocks move up: lines differ).
CONF_NEW = (CONF.replace("""tls 8443 {
    certificate ec.crt key ec.key
    backend 10.9.0.1:8081
    alpn h2 http/1.1
}

""", "").replace("""tls 7000 {
    certificate ec.crt key ec.key
    backend 10.9.0.1:8080
}
""", "").replace("""    backend 10.9.0.1:8084
    proxy-protocol v2""", """    backend 10.9.0.1:8082
    proxy-protocol v1""") + """
tls 6443 {
    certificate ec.crt key ec.key
    backend 10.9.0.1:8080
}
""")
CONF_NEW_LISTENERS = "443* 8444* 9443* 9444* 9445* 6443*"

# Configurations tlsadm must see refused, each at its line (and column).
CFG_HEAD = "# refused by tlsd\nhostname tlstest\ninterface wan nic 0 address 10.9.0.2/24\n\n"
CFG_BAD = {
    "cfg-syntax.conf": CFG_HEAD + "tls 6443 {\n    certificate ec.crt key ec.key\n    backend nowhere\n}\n",
    "cfg-nocert.conf": CFG_HEAD + "\ntls 6443 {\n    certificate ec.crt key ec.key\n    backend 10.9.0.1:8080\n"
                                  "    certificate missing.crt key ec.key sni m.test\n}\n",
    "cfg-newkey.conf": CFG_HEAD + "\ntls 6443 {\n    certificate ec.crt key ec.key\n    backend 10.9.0.1:8080\n"
                                  "    certificate ec.crt key nosuch.key sni c.test\n}\n",
}

TOKEN = "keel-tlsd-backend-page-4711"
BIG_MB = 4

# The backend: http.server serving a directory, and answering a POST with
# the sha256 of its body (so an upload through tlsd can be checked).
BACKEND_CODE = r"""
import hashlib, http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=sys.argv[1], **kw)
    def do_POST(self):
        n = int(self.headers['Content-Length']); h = hashlib.sha256()
        while n:
            b = self.rfile.read(min(n, 65536)); h.update(b); n -= len(b)
        body = h.hexdigest().encode()
        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 256  # 100 clients connect at once
S(('10.9.0.1', 8080), H).serve_forever()
"""

# The PROXY backend on 10.9.0.1:8082: reads one line, answers "got LINE",
# then closes its side (tlsd must then send close_notify).
PROXY_BACKEND_CODE = r"""
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('10.9.0.1', 8082)); s.listen(4)
while True:
    c, _ = s.accept(); got = b''
    while b'\r\n' not in got:
        b = c.recv(200)
        if not b:
            break
        got += b
    c.sendall(b'got ' + got); c.close()
"""

# The PROXY v2 backend on 10.9.0.1:8084: reads the 28-byte header, answers
# "got HEX", then closes.
PROXY2_BACKEND_CODE = r"""
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('10.9.0.1', 8084)); s.listen(4)
while True:
    c, _ = s.accept(); got = b''
    while len(got) < 28:
        b = c.recv(28 - len(got))
        if not b:
            break
        got += b
    c.sendall(b'got ' + got.hex().encode()); c.close()
"""

# A TLS client of port PORT: prints what came back and how the stream ended
# (suppress_ragged_eofs=False: an end without close_notify raises).
TLS_CLIENT_CODE = r"""
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
raw = socket.create_connection(('10.9.0.2', int(sys.argv[1])), timeout=15)
got = b''
try:
    t = ctx.wrap_socket(raw, server_hostname='x', suppress_ragged_eofs=False)
    print(t.version(), flush=True)
    if len(sys.argv) > 2:
        t.sendall(sys.argv[2].encode() + b'\n')
    while True:
        b = t.recv(1000)
        if not b:
            print('close_notify'); break
        got += b
except ssl.SSLEOFError:
    print('eof without close_notify')
except (ConnectionResetError, ssl.SSLError, OSError) as e:
    print('error', type(e).__name__)
print(repr(got))
"""

# A TLS client of 9443 that GETs /big.bin through memory BIOs, so it sees
# the raw records: prints the body's sha256, then the largest application
# data record's length and how many records there were.
RECORDS_CODE = r"""
import hashlib, socket, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
raw = socket.create_connection(('10.9.0.2', 9443), timeout=60)
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
t = ctx.wrap_bio(inc, out, server_hostname='tlsd.test')
buf, sizes = b'', []
def pump():
    global buf
    d = raw.recv(65536)
    if not d:
        inc.write_eof(); return False
    buf += d
    while len(buf) >= 5 and len(buf) >= 5 + int.from_bytes(buf[3:5], 'big'):
        n = int.from_bytes(buf[3:5], 'big')
        if buf[0] == 23:
            sizes.append(n)
        inc.write(buf[:5 + n]); buf = buf[5 + n:]
    return True
def flush():
    d = out.read()
    if d:
        raw.sendall(d)
while True:
    try:
        t.do_handshake(); flush(); break
    except ssl.SSLWantReadError:
        flush(); pump()
t.write(b'GET /big.bin HTTP/1.0\r\nHost: x\r\n\r\n'); flush()
got = b''
while True:
    try:
        d = t.read(65536)
        if not d:
            break
        got += d
    except ssl.SSLWantReadError:
        if not pump():
            break
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
        break
body = got.split(b'\r\n\r\n', 1)[-1]
print(hashlib.sha256(body).hexdigest(), max(sizes or [0]), len(sizes))
"""

# Three idle connections fill max-connections 3: the fourth is accepted and
# closed at once.
MAXCONN_CODE = r"""
import socket, time
idle = [socket.create_connection(('10.9.0.2', 443), timeout=10) for _ in range(3)]
time.sleep(1)
x = socket.create_connection(('10.9.0.2', 443), timeout=10)
try:
    print('closed' if x.recv(100) == b'' else 'open')
except ConnectionResetError:
    print('closed')
except socket.timeout:
    print('timeout')
for s in idle:
    s.close()
"""

# The backend of 9444 on 10.9.0.1:8083: a request line "reset" is answered
# with a TCP reset, "stall" is never answered (the socket stays open).
BAD_BACKEND_CODE = r"""
import socket, struct, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('10.9.0.1', 8083)); s.listen(16); held = []
def one(c):
    got = b''
    while b'\n' not in got:
        b = c.recv(100)
        if not b:
            return
        got += b
    if got.startswith(b'reset'):
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); c.close()
    else:
        held.append(c)
while True:
    c, _ = s.accept(); threading.Thread(target=one, args=(c,), daemon=True).start()
"""

# N TLS clients of 9443 at once: all connect and finish the handshake, wait
# for each other (so N connections are open together), then each fetches
# /mid.bin; prints how many got it intact, then the failures.
CONCURRENT_CODE = r"""
import hashlib, socket, ssl, sys, threading, time
n, want = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
bar = threading.Barrier(n, timeout=240); ok = []; errs = []
def one(i):
    try:
        raw = socket.create_connection(('10.9.0.2', 9443), timeout=240)
        t = ctx.wrap_socket(raw, server_hostname='tlsd.test')
        bar.wait()
        t.sendall(b'GET /mid.bin HTTP/1.0\r\nHost: x\r\n\r\n'); got = b''
        while True:
            b = t.recv(65536)
            if not b:
                break
            got += b
        body = got.split(b'\r\n\r\n', 1)[1]
        (ok if hashlib.sha256(body).hexdigest() == want else errs).append(i)
    except Exception as e:
        errs.append(f'{i}: {type(e).__name__} {e}')
        bar.abort()
t0 = time.monotonic()
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(len(ok), f'{time.monotonic() - t0:.1f}')
for e in errs[:5]:
    print(e)
"""

# A 20 MB download through 9443 that reads slowly (a small receive buffer:
# tlsd and netd must hold back, not buffer) until the file FLAG exists,
# then at full speed; prints "started", then the byte count and sha256.
TRANSFER_CODE = r"""
import hashlib, os, socket, ssl, sys, time
flag = sys.argv[1]
port = int(sys.argv[2]) if len(sys.argv) > 2 else 9443
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
raw = socket.socket(); raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 17); raw.settimeout(60)
raw.connect(('10.9.0.2', port))
t = ctx.wrap_socket(raw, server_hostname='tlsd.test')
t.sendall(b'GET /big20.bin HTTP/1.0\r\nHost: x\r\n\r\n'); got = b''
while b'\r\n\r\n' not in got:
    got += t.recv(65536)
body = got.split(b'\r\n\r\n', 1)[1]; h = hashlib.sha256(body); n = len(body)
print('started', flush=True)
while True:
    slow = not os.path.exists(flag)
    if slow:
        time.sleep(0.5)
    b = t.recv(32768 if slow else 1 << 16)
    if not b:
        break
    h.update(b); n += len(b)
print(n, h.hexdigest(), flush=True)
"""

# Raw bytes to PORT: sends argv[2] (hex), optionally half-closes
# (argv[3] == 'shut'), then prints how the connection ended and after how long.
RAW_CODE = r"""
import socket, sys, time
port, data, how = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3]
c = socket.create_connection(('10.9.0.2', port), timeout=60); c.sendall(data); t0 = time.monotonic()
if how == 'shut':
    c.shutdown(socket.SHUT_WR)
got = b''
try:
    while True:
        b = c.recv(4096)
        if not b:
            break
        got += b
    print('closed', len(got), f'{time.monotonic() - t0:.1f}')
except ConnectionResetError:
    print('reset', len(got), f'{time.monotonic() - t0:.1f}')
except socket.timeout:
    print('timeout')
"""

# A TLS client of port 7000 that stays idle after the handshake: prints
# "open", then how its connection ended (tlsd closes it when a commit
# removes the port).
HOLD_CODE = r"""
import socket, ssl
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(socket.create_connection(('10.9.0.2', 7000), timeout=60), server_hostname='x')
print('open', flush=True)
try:
    print('closed' if t.recv(100) == b'' else 'data', flush=True)
except socket.timeout:
    print('timeout', flush=True)
except (ConnectionResetError, ssl.SSLError, OSError) as e:
    print('reset', type(e).__name__, flush=True)
"""

# An idle client and a garbage client: prints what happened.
GARBAGE_CODE = r"""
import socket, sys, time
idle = socket.create_connection(('10.9.0.2', 443), timeout=10)
g = socket.create_connection(('10.9.0.2', 443), timeout=20)
g.sendall(b'GET / HTTP/1.0\r\nHost: x\r\n\r\n' + bytes(range(256)))
got = b''
try:
    while True:
        b = g.recv(4096)
        if not b:
            break
        got += b
    print('closed', len(got))
except ConnectionResetError:
    print('closed reset')
except socket.timeout:
    print('timeout')
sys.stdout.flush()
time.sleep(3)  # the idle connection stays open while curl runs
idle.close()
"""


sh = functools.partial(netlab.sh, timeout=60)  # every command here is short


def base_manifest() -> str:
    """image/manifest's `driver` lines only: the servers of other test boots
    and the appliance's own (whose names this test reuses) are left out."""
    keep = []
    for line in (REPO / "image" / "manifest").read_text().splitlines():
        w = line.split("#", 1)[0].split()
        if w[:1] == ["server"]:
            continue
        keep.append(line)
    return "\n".join(keep) + "\n"


class Monitor:
    """QEMU's human monitor over its unix socket: one command at a time, the
    answer is what comes before the next "(qemu) " prompt."""

    def __init__(self, path: Path) -> None:
        import socket
        end = time.monotonic() + 30
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(str(path))
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.2)
        self.s.settimeout(60)
        self._read()

    def _read(self) -> str:
        buf = b""
        while not buf.endswith(b"(qemu) "):
            b = self.s.recv(65536)
            if not b:
                raise kq.TestFailure("the QEMU monitor closed")
            buf += b
        return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", buf.decode(errors="replace"))

    def cmd(self, c: str) -> str:
        self.s.sendall(c.encode() + b"\n")
        return self._read()


def key_secrets(key: Path) -> dict:
    """The secret numbers of a PEM key (openssl's text dump): an EC key's
    scalar, an RSA key's primes; each as big-endian bytes and reversed (a
    little-endian bignum, as mbedTLS keeps its limbs)."""
    out = subprocess.run(["openssl", "pkey", "-in", str(key), "-noout", "-text"], capture_output=True, text=True,
                         check=True).stdout
    found = {}
    for field in ("priv", "prime1", "prime2"):
        m = re.search(rf"^{field}:\s*\n((?:\s+[0-9a-f:]+\n)+)", out, re.M)
        if m:
            b = bytes.fromhex(re.sub(r"[\s:]", "", m.group(1))).lstrip(b"\0")
            found[f"{key.name}:{field}"] = b
            found[f"{key.name}:{field}:le"] = b[::-1]
    return found


def make_image(build: Path, tmp: Path) -> Path:
    site = tmp / "site"
    site.mkdir()
    netlab.self_signed(site, "ec", "tlsd.test", san="DNS:tlsd.test")
    netlab.self_signed(site, "a", "a.test", key="rsa:2048", san="DNS:a.test")
    netlab.self_signed(site, "b", "x.b.test", san="DNS:*.b.test")
    files: dict = {f: None for f in ("ec.key", "ec.crt", "a.key", "a.crt", "b.key", "b.crt")}
    # broken.crt: not a certificate; the listener naming it must stop alone
    files["broken.crt"] = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
    files["cfg-new.conf"] = CONF_NEW
    files.update(CFG_BAD)
    manifest = base_manifest() + TLSD_LINES.format(pages=SOCK_PAGES, tx_pages=SOCK_TX_PAGES, adm_pages=ADM_PAGES)
    return netlab.make_image(build / "image" / "tftp", tmp / "tftp", CONF + BROKEN_LISTENER, files, site=site,
                             manifest=manifest, elf_dir=build / "user")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--keep", action="store_true", help="keep the work directory (it holds a test key)")
    ns_args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tlsd-test-"))
    img = make_image(Path(ns_args.build), tmp)
    www = tmp / "www"
    www.mkdir()
    (www / "index.html").write_text(f"<html><body>{TOKEN}</body></html>\n")
    big = os.urandom(BIG_MB << 20)
    (www / "big.bin").write_bytes(big)
    (tmp / "up.bin").write_bytes(big[::-1])
    big_sha, up_sha = hashlib.sha256(big).hexdigest(), hashlib.sha256(big[::-1]).hexdigest()
    mid = os.urandom(64 << 10)
    (www / "mid.bin").write_bytes(mid)
    big20 = os.urandom(20 << 20)
    (www / "big20.bin").write_bytes(big20)
    mid_sha, big20_sha = hashlib.sha256(mid).hexdigest(), hashlib.sha256(big20).hexdigest()
    flag = tmp / "transfer-go"
    log = tmp / "serial.log"
    lab = netlab.Lab("kt")
    wan, lan = lab.netns(f"tw{lab.pid}"), lab.netns(f"tl{lab.pid}")
    lab.tap(wan, "ktap0", "10.9.0.1/24")
    lab.tap(wan, "ktap1")
    mon = tmp / "monitor.sock"  # QEMU's human monitor: the key-isolation scan reads guest memory through it
    cfg = kq.Config(boot="direct", accel="auto", nic="virtio,virtio", args=["tlstest"], taps=["ktap0", "ktap1"],
                    netns=wan, serial=f"file:{log}", image_dir=img,
                    qemu_extra=f"-device virtio-rng-pci -monitor unix:{mon},server=on,wait=off")
    qout = open(tmp / "qemu.log", "wb")
    lab.files.append(qout)
    cur = {"proc": lab.qemu(cfg, qout), "log": log, "qout": qout}
    helpers: list[subprocess.Popen] = []
    rep = kq.Reporter()
    serial = netlab.SerialLog(log, alive=lambda: cur["proc"].poll() is None)
    text = serial.text

    def wait_for(pattern: str, timeout: float) -> bool:
        return serial.wait(pattern, timeout) is not None

    def wait_after(pos: int, pattern: str, timeout: float) -> bool:
        """Whether PATTERN appears in the log beyond character POS (within TIMEOUT s)."""
        return serial.wait(pattern, timeout, pos) is not None

    def s_client_out(port: int, *extra: str, send: str = "") -> str:
        p = subprocess.run(["ip", "netns", "exec", wan, "openssl", "s_client", "-connect", f"10.9.0.2:{port}", *extra],
                           input=send, capture_output=True, text=True, timeout=60)
        return p.stdout + p.stderr

    def check(cond: bool, msg: str) -> None:
        if not cond:
            raise kq.TestFailure(msg)

    def curl() -> str:
        p = sh("ip", "netns", "exec", wan, "curl", "-sk", "--max-time", "20", "https://10.9.0.2/", check=False,
               timeout=30)
        check(TOKEN in p.stdout, f"curl: status {p.returncode}, got {p.stdout[-200:]!r} {p.stderr[-200:]!r}")
        return p.stdout

    try:
        helpers.append(subprocess.Popen(["ip", "netns", "exec", wan, sys.executable, "-c", BACKEND_CODE, str(www)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        def serving() -> None:
            check(wait_for(r"tlsd: serving", 60), "tlsd did not start serving; log " + str(log))
            check(wait_for(r"tlsd: 443: listening", 5), "no listener on 443")
            p = sh("ip", "netns", "exec", wan, "ping", "-c", "1", "-W", "5", "10.9.0.2", check=False, timeout=30)
            check(p.returncode == 0, f"net0 (10.9.0.2) does not answer ping: {p.stdout[-200:]!r}")

        rep.run("tlsd.starts", serving)

        def curl_page() -> None:
            time.sleep(1)
            curl()

        rep.run("tlsd.curl_fetches_backend_page", curl_page)

        def s_client() -> None:
            p = subprocess.run(["ip", "netns", "exec", wan, "openssl", "s_client", "-connect", "10.9.0.2:443",
                                "-servername", "x", "-tls1_2"], input="", capture_output=True, text=True, timeout=30)
            out = p.stdout + p.stderr
            check(re.search(r"Protocol\s*:\s*TLSv1\.2|New, TLSv1\.2", out) is not None,
                  f"no TLSv1.2 in s_client's output: {out[-400:]!r}")
            check(re.search(r"Cipher\s*(is|:)\s*ECDHE-", out) is not None, f"no ECDHE suite: {out[-400:]!r}")

        rep.run("tlsd.s_client_tls12", s_client)

        def broken_certificate() -> None:
            check(wait_for(r"tlsd: 9446: listener stopped: certificate broken\.crt: \S", 5),
                  "no message naming broken.crt for listener 9446")
            p = sh("ip", "netns", "exec", wan, "curl", "-sk", "--max-time", "5", "https://10.9.0.2:9446/",
                   check=False, timeout=15)
            check(TOKEN not in p.stdout, "the listener with a broken certificate served a page")
            curl()  # 443 serves all the same

        rep.run("tlsd.broken_certificate_stops_that_listener_only", broken_certificate)

        def concurrent() -> None:
            p = sh("ip", "netns", "exec", wan, sys.executable, "-c", CONCURRENT_CODE, "100", mid_sha, check=False,
                   timeout=400)
            lines = p.stdout.splitlines()
            check(bool(lines) and lines[0].split()[0] == "100",
                  f"100 concurrent clients: {p.stdout[-600:]!r} {p.stderr[-300:]!r}")
            print(f"# 100 concurrent TLS clients (handshake, all open at once, 64 KiB each): {lines[0].split()[1]} s")
            pat = r"tlsd: memory: heap (\d+) KiB used of (\d+) KiB \(peak (\d+) KiB\); connections \d+ \(peak (\d+) of"
            end = time.monotonic() + 15
            m = None
            while time.monotonic() < end:
                ms = re.findall(pat, text())
                m = ms[-1] if ms else None
                if m and int(m[3]) >= 100:
                    break
                time.sleep(0.5)
            check(m is not None and int(m[3]) >= 100, f"tlsd's peak connections: {m}")
            print(f"# tlsd heap peak with {m[3]} connections open: {m[2]} KiB of {m[1]} KiB "
                  f"({int(m[2]) / int(m[3]):.1f} KiB per connection, certificates and tickets included)")

        rep.run("tlsd.100_concurrent_clients_intact", concurrent)

        def resumption() -> None:
            sess = tmp / "session.pem"
            out = s_client_out(9443, "-servername", "tlsd.test", "-tls1_2", "-sess_out", str(sess))
            check(sess.exists() and "New, TLSv1.2" in out, f"first handshake: {out[-300:]!r}")
            out = s_client_out(9443, "-servername", "tlsd.test", "-tls1_2", "-sess_in", str(sess))
            check("Reused, TLSv1.2" in out, f"not resumed: {out[-400:]!r}")

        rep.run("tlsd.session_ticket_resumption", resumption)

        if int(cfg.smp or os.environ.get("KEEL_SMP") or 1) >= 2:
            # #18: a worker per core.  Each worker logs its own counters;
            # after the 100 concurrent clients every worker has served some.
            def both_workers() -> None:
                end = time.monotonic() + 15
                got: dict = {}
                while time.monotonic() < end:
                    got = {int(k): int(n) for k, n in
                           re.findall(r"tlsd: worker (\d+) \(core \d+\): connections (\d+),", text())}
                    if len(got) >= 2 and all(n > 0 for n in got.values()):
                        break
                    time.sleep(0.5)
                check(re.search(r"tlsd: serving, .* (\d+) worker\(s\) on (\d+) core", text()) is not None
                      and len(got) >= 2, f"tlsd's workers: {got} (want one per vCPU)")
                check(all(n > 0 for n in got.values()), f"connections per worker: {got}")
                print(f"# connections per worker: {got}")

            rep.run("tlsd.connections_served_by_every_worker", both_workers)

            # Tickets: one key per listener for all workers, so a ticket
            # issued on one worker resumes on another (new connections are
            # spread over the workers in turn while they are idle).
            def tickets_across_workers() -> None:
                pat = r"tlsd: 9443: client 10\.9\.0\.1:\d+: handshake ok \(([^)]*)\), worker (\d+),"
                for ver in ("-tls1_2", "-tls1_3"):
                    sess = tmp / f"session-x{ver}.pem"
                    pos = len(text())
                    out = s_client_out(9443, "-servername", "tlsd.test", ver, "-ign_eof", "-sess_out", str(sess),
                                       send="GET / HTTP/1.0\r\n\r\n")
                    check(sess.exists() and "New, TLSv1." in out, f"{ver} first handshake: {out[-300:]!r}")
                    for _ in range(4):
                        out = s_client_out(9443, "-servername", "tlsd.test", ver, "-ign_eof", "-sess_in", str(sess),
                                           send="GET / HTTP/1.0\r\n\r\n")
                        check("Reused, TLSv1." in out, f"{ver}: not resumed: {out[-400:]!r}")
                    time.sleep(1)
                    hs = re.findall(pat, text()[pos:])
                    issued = [int(w) for how, w in hs if ", resumed" not in how]
                    resumed = [int(w) for how, w in hs if ", resumed" in how]
                    check(len(issued) >= 1 and len(resumed) >= 4, f"{ver}: handshakes seen {hs}")
                    check(bool(issued) and any(w != issued[0] for w in resumed),
                          f"{ver}: ticket from worker {issued[:1]} never resumed on another: {resumed}")
                    print(f"# {ver}: ticket issued on worker {issued[:1]}, resumed on workers {resumed}")

            rep.run("tlsd.tickets_resume_across_workers", tickets_across_workers)

        def sni() -> None:
            for extra, cn, kind in ((["-servername", "a.test"], "a.test", "ECDHE-RSA-"),
                                    (["-servername", "x.b.test"], "x.b.test", "ECDHE-ECDSA-"),
                                    (["-servername", "nobody.test"], "tlsd.test", "ECDHE-ECDSA-"),
                                    (["-noservername"], "tlsd.test", "ECDHE-ECDSA-")):
                out = s_client_out(9443, "-tls1_2", *extra)
                m = re.search(r"subject=.*?CN\s*=\s*([A-Za-z0-9.*-]+)", out)
                check(m is not None and m.group(1) == cn, f"{extra}: certificate {m and m.group(1)}, want {cn}")
                check(re.search(r"Cipher is " + kind, out) is not None, f"{extra}: suite not {kind}: {out[-300:]!r}")

        rep.run("tlsd.sni_two_names_and_default", sni)

        def alpn() -> None:
            for offer, want in (("foo,http/1.1", "http/1.1"), ("http/1.1,h2", "h2")):
                out = s_client_out(8443, "-alpn", offer)
                check(f"ALPN protocol: {want}" in out, f"offered {offer}: {out[-300:]!r}")

        rep.run("tlsd.alpn_configured", alpn)

        # TLS 1.3 (listeners allow 1.2 and 1.3 unless tls-versions says
        # otherwise: 8444 is 1.2 only, 9445 1.3 only).
        get = "GET / HTTP/1.0\r\n\r\n"

        def s_client13() -> None:
            out = s_client_out(443, "-servername", "x", "-tls1_3", "-ign_eof", send=get)
            check("New, TLSv1.3" in out, f"no TLSv1.3 in s_client's output: {out[-400:]!r}")
            check(re.search(r"Cipher is TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)", out)
                  is not None, f"no TLS 1.3 suite: {out[-400:]!r}")
            check(TOKEN in out, f"no page through TLS 1.3: {out[-400:]!r}")

        rep.run("tlsd.s_client_tls13_gets_page", s_client13)

        def curl13() -> None:
            p = sh("ip", "netns", "exec", wan, "curl", "-skv", "--tlsv1.3", "--tls-max", "1.3", "--max-time", "20",
                   "https://10.9.0.2/", check=False, timeout=30)
            check(TOKEN in p.stdout, f"curl --tlsv1.3: status {p.returncode}, {p.stderr[-300:]!r}")
            check(re.search(r"SSL connection using TLSv1\.3", p.stderr) is not None, f"curl: {p.stderr[-300:]!r}")

        rep.run("tlsd.curl_tls13_fetches_page", curl13)

        def resumption13() -> None:
            """The ticket arrives after the handshake: s_client reads on (a request, -ign_eof) to get it."""
            sess = tmp / "session13.pem"
            out = s_client_out(9443, "-servername", "tlsd.test", "-tls1_3", "-ign_eof", "-sess_out", str(sess),
                               send=get)
            check(sess.exists() and "New, TLSv1.3" in out and TOKEN in out, f"first handshake: {out[-300:]!r}")
            out = s_client_out(9443, "-servername", "tlsd.test", "-tls1_3", "-ign_eof", "-sess_in", str(sess),
                               send=get)
            check("Reused, TLSv1.3" in out, f"not resumed: {out[-400:]!r}")
            check(TOKEN in out, f"no page in the resumed session: {out[-300:]!r}")

        rep.run("tlsd.tls13_resumption_by_ticket", resumption13)

        def sni13() -> None:
            for extra, cn in ((["-servername", "a.test"], "a.test"), (["-servername", "x.b.test"], "x.b.test"),
                              (["-noservername"], "tlsd.test")):
                out = s_client_out(9443, "-tls1_3", *extra)
                m = re.search(r"subject=.*?CN\s*=\s*([A-Za-z0-9.*-]+)", out)
                check("New, TLSv1.3" in out, f"{extra}: {out[-300:]!r}")
                check(m is not None and m.group(1) == cn, f"{extra}: certificate {m and m.group(1)}, want {cn}")

        rep.run("tlsd.tls13_sni_rsa_pss_and_ecdsa", sni13)

        def version_refused(port: int, offered: str, allowed: str) -> None:
            pos = len(text())
            out = s_client_out(port, f"-tls{offered.replace('.', '_')}")
            check(f"New, TLSv{offered}" not in out, f"{port} accepted TLS {offered}: {out[-300:]!r}")
            check(wait_after(pos, rf"tlsd: {port}: client 10\.9\.0\.1:\d+: handshake failed: no common version "
                                  rf"\(.*listener: TLS {re.escape(allowed)}\)", 10),
                  f"{port}: no 'no common version' line naming TLS {allowed}")
            out = s_client_out(port, f"-tls{allowed.replace('.', '_')}")
            check(f"New, TLSv{allowed}" in out, f"{port} refused TLS {allowed} too: {out[-300:]!r}")

        rep.run("tlsd.tls_versions_1.3_refuses_tls12", lambda: version_refused(9445, "1.2", "1.3"))
        rep.run("tlsd.tls_versions_1.2_refuses_tls13", lambda: version_refused(8444, "1.3", "1.2"))

        # Key isolation: the private keys' secret numbers must be nowhere in
        # tlsd's address space after TLS 1.2 and TLS 1.3 handshakes signed
        # with them (keyd signs: asynchronously in 1.2, through the PSA
        # secure element in 1.3), and must be in keyd's (which shows the
        # scan would see them).  The scan stops the VM at random moments
        # until the current address space is the one named (its srvinfo
        # page at 0x300000 carries the server's name), then reads every
        # user page through the monitor (info mem, memsave) and searches it.
        secrets = {**key_secrets(tmp / "site" / "ec.key"), **key_secrets(tmp / "site" / "a.key")}
        monitor: dict = {}

        def scan(name: str, tries: int = 400) -> dict:
            if "m" not in monitor:
                monitor["m"] = Monitor(mon)
            m = monitor["m"]
            probe = tmp / "probe.bin"
            import random
            for _ in range(tries):
                m.cmd("stop")
                try:
                    probe.unlink(missing_ok=True)
                    m.cmd(f"memsave 0x300000 24 \"{probe}\"")
                    if not probe.exists() or probe.read_bytes()[8:9 + len(name)] != name.encode() + b"\0":
                        continue
                    seen: dict = {}
                    total = 0
                    for a, b, flags in re.findall(r"^([0-9a-f]+)-([0-9a-f]+) [0-9a-f]+ (\S+)", m.cmd("info mem"),
                                                  re.M):
                        if not flags.startswith("u"):
                            continue
                        start, size = int(a, 16), int(b, 16) - int(a, 16)
                        dump = tmp / "dump.bin"
                        dump.unlink(missing_ok=True)
                        m.cmd(f"memsave {start:#x} {size} \"{dump}\"")
                        data = dump.read_bytes() if dump.exists() else b""
                        total += len(data)
                        for label, secret in secrets.items():
                            if secret in data:
                                seen[label] = seen.get(label, 0) + 1
                        dump.unlink(missing_ok=True)
                    check(total > 0, f"{name}: no user memory read")
                    return {"found": seen, "bytes": total}
                finally:
                    m.cmd("cont")
                    time.sleep(random.uniform(0.005, 0.06))
            raise kq.TestFailure(f"never caught {name} running in {tries} tries")

        def handshake_load(version: str) -> subprocess.Popen:
            """Full handshakes on 9443 with the RSA (a.test) and the ECDSA (default) key, in a loop."""
            loop = (f"while :; do for n in a.test tlsd.test; do openssl s_client -connect 10.9.0.2:9443 "
                    f"-servername $n -tls{version} </dev/null >/dev/null 2>&1; done; done")
            p = subprocess.Popen(["ip", "netns", "exec", wan, "sh", "-c", loop], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
            helpers.append(p)
            return p

        def stop_load(p: subprocess.Popen) -> None:
            try:
                os.killpg(p.pid, 15)  # the loop's own process group (start_new_session)
            except ProcessLookupError:
                pass
            p.wait(timeout=10)

        def isolation(version: str) -> None:
            p = handshake_load(version)
            try:
                time.sleep(2)
                r = scan("tlsd")
                print(f"# key isolation, TLS {version.replace('_', '.')}: tlsd's address space, {r['bytes'] >> 10} KiB read: "
                      f"{r['found'] or 'no secret'}")
                check(not r["found"], f"tlsd's memory holds key material: {r['found']}")
                if version == "1_3":
                    k = scan("keyd")
                    print(f"# key isolation: keyd's address space, {k['bytes'] >> 10} KiB read: {k['found']}")
                    check("ec.key:priv" in k["found"] or "ec.key:priv:le" in k["found"],
                          f"the scan does not find the EC key in keyd either: {k['found']}")
            finally:
                stop_load(p)

        rep.run("tlsd.keyd_isolation_tls12", lambda: isolation("1_2"))
        rep.run("tlsd.keyd_isolation_tls13", lambda: isolation("1_3"))

        # Every bad input below runs while a 20 MB download is under way
        # (reading slowly until the flag file exists); it must finish intact.
        xfer: dict = {}

        def transfer_start() -> None:
            pr = subprocess.Popen(["ip", "netns", "exec", wan, sys.executable, "-c", TRANSFER_CODE, str(flag)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            helpers.append(pr)
            xfer["p"] = pr
            first = pr.stdout.readline().strip()
            check(first == "started", f"the 20 MB download did not start: {first!r}")

        rep.run("tlsd.transfer_20MB_started", transfer_start)

        def during(name: str, fn) -> None:
            def wrapped() -> None:
                check(xfer.get("p") is not None and xfer["p"].poll() is None, "no 20 MB transfer under way")
                fn()
            rep.run(name, wrapped)

        def garbage() -> None:
            pos = len(text())
            g = subprocess.Popen(["ip", "netns", "exec", wan, sys.executable, "-c", GARBAGE_CODE],
                                 stdout=subprocess.PIPE, text=True)
            first = g.stdout.readline().strip()
            check(first.startswith("closed"), f"garbage connection not closed by tlsd: {first!r}")
            check(wait_after(pos, r"tlsd: 443: client 10\.9\.0\.1:\d+: handshake failed: not TLS", 10),
                  "tlsd did not log the garbage as 'not TLS'")
            curl()  # still serving, with the idle connection open
            g.wait(timeout=20)

        during("tlsd.garbage_refused_others_served", garbage)

        def refused_hello(name: str, extra: list, reason: str) -> None:
            def run() -> None:
                pos = len(text())
                out = s_client_out(443, *extra)
                check(re.search(r"Cipher is ECDHE", out) is None, f"{name}: a handshake completed: {out[-300:]!r}")
                check(wait_after(pos, r"tlsd: 443: client 10\.9\.0\.1:\d+: handshake failed: " + reason, 10),
                      f"{name}: tlsd did not log '{reason}'")
            during(f"tlsd.{name}_refused", run)

        refused_hello("tls11", ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"], "no common version")
        refused_hello("no_common_suite", ["-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0"],
                      "no cipher suite in common")

        def raw_case(name: str, port: int, data: str, how: str, pattern: str) -> None:
            def run() -> None:
                pos = len(text())
                p = sh("ip", "netns", "exec", wan, sys.executable, "-c", RAW_CODE, str(port), data, how,
                       check=False, timeout=90)
                check(p.stdout.startswith(("closed", "reset")), f"{name}: connection not ended: {p.stdout!r}")
                check(wait_after(pos, pattern, 10), f"{name}: no log line /{pattern}/")
            during(f"tlsd.{name}", run)

        hello_start = "16030100c8010000c40303" + "00" * 20
        raw_case("stalled_handshake_cut_by_timeout", 9444, hello_start, "hold",
                 r"tlsd: 9444: client 10\.9\.0\.1:\d+: handshake timeout")
        def silent_client_dropped() -> None:
            # #14: a client that connects and sends nothing at all is
            # dropped once 9444's handshake-timeout (8 s) has passed, not
            # at its idle-timeout (3 s), counted as a handshake timeout,
            # while another client is served meanwhile.
            pos = len(text())
            q = subprocess.Popen(["ip", "netns", "exec", wan, sys.executable, "-c", RAW_CODE, "9444", "", "hold"],
                                 stdout=subprocess.PIPE, text=True)
            time.sleep(0.5)
            curl()  # served while the silent one waits
            out = (q.communicate(timeout=60)[0] or "").split()
            check(len(out) == 3 and out[0] in ("closed", "reset") and out[1] == "0",
                  f"silent client: {out!r} (want closed or reset, 0 bytes)")
            check(len(out) == 3 and 7.5 <= float(out[2]) <= 20, f"silent client dropped after {out[-1:]} s, want ~8 s "
                  f"(9444's handshake-timeout; its idle-timeout is 3 s)")
            check(wait_after(pos, r"tlsd: 9444: client 10\.9\.0\.1:\d+: handshake timeout", 10),
                  "no 'handshake timeout' line for the silent client")
            check(re.search(r"tlsd: 9444: client 10\.9\.0\.1:\d+: idle timeout", text()[pos:]) is None,
                  "the silent client was counted as idle, not as a handshake timeout")

        during("tlsd.silent_client_cut_by_handshake_timeout", silent_client_dropped)
        raw_case("truncated_record_refused", 443, "1603010200010001fc0303" + "00" * 90, "shut",
                 r"tlsd: 443: client 10\.9\.0\.1:\d+: handshake failed: peer closed during the handshake")
        raw_case("oversized_record_refused", 443, "1603014801010047fd0303" + "00" * 200, "hold",
                 r"tlsd: 443: client 10\.9\.0\.1:\d+: handshake failed: bad record")

        def backend_refused() -> None:
            pos = len(text())
            p = sh("ip", "netns", "exec", wan, sys.executable, "-c", TLS_CLIENT_CODE, "8443", check=False, timeout=30)
            out = p.stdout.splitlines()
            check(len(out) >= 2 and out[0] == "TLSv1.3" and out[-1] == "b''", f"client: {p.stdout!r}")
            check(wait_after(pos, r"tlsd: 8443: client 10\.9\.0\.1:\d+: backend refused or unreachable", 5),
                  "no 'backend refused' line")
            curl()  # 443 still serves

        during("tlsd.backend_refused_logged", backend_refused)
        helpers.append(subprocess.Popen(["ip", "netns", "exec", wan, sys.executable, "-c", BAD_BACKEND_CODE],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        def bad_backend(line: str, pattern: str):
            def run() -> None:
                pos = len(text())
                p = sh("ip", "netns", "exec", wan, sys.executable, "-c", TLS_CLIENT_CODE, "9444", line,
                       check=False, timeout=60)
                out = p.stdout.splitlines()
                check(len(out) >= 2 and out[0] == "TLSv1.3" and out[-1] == "b''" and "timeout" not in p.stdout,
                      f"client: {p.stdout!r}")
                check(wait_after(pos, pattern, 10), f"no log line /{pattern}/")
            return run

        time.sleep(0.5)
        during("tlsd.backend_reset_ends_that_connection",
               bad_backend("reset", r"tlsd: 9444: client 10\.9\.0\.1:\d+: backend reset"))
        during("tlsd.backend_stall_cut_by_idle_timeout",
               bad_backend("stall", r"tlsd: 9444: client 10\.9\.0\.1:\d+: idle timeout"))

        def transfer_done() -> None:
            p = xfer.get("p")
            check(p is not None and p.poll() is None, "the 20 MB transfer ended before the bad inputs were through")
            t0 = time.monotonic()
            flag.write_text("go")
            out, err = p.communicate(timeout=240)
            f = out.split()
            check(len(f) == 2 and f[0] == str(20 << 20) and f[1] == big20_sha,
                  f"20 MB transfer: {out.strip()[-200:]!r} {err[-300:]!r}")
            print(f"# the rest of the 20 MB download at full speed: {time.monotonic() - t0:.1f} s")

        rep.run("tlsd.transfer_20MB_intact_after_bad_inputs", transfer_done)

        def stats() -> None:
            pat = (r"tlsd: stats 443: accepted (\d+) current \d+ refused (\d+) handshakes ok (\d+) failed \d+ "
                   r"\(([^)]*)\) resumed \d+ bytes client->backend (\d+) backend->client (\d+)")

            def good(m) -> bool:
                return (int(m[0]) >= 8 and int(m[1]) >= 1 and int(m[2]) >= 6 and "not TLS" in m[3]
                        and int(m[4]) >= BIG_MB << 20 and int(m[5]) >= BIG_MB << 20)
            end = time.monotonic() + 10
            m = None
            while time.monotonic() < end:
                ms = re.findall(pat, text())
                m = ms[-1] if ms else None
                if m and good(m):
                    break
                time.sleep(0.5)
            check(m is not None, "no statistics line")
            check(good(m), f"statistics: {m}")
            print(f"# {re.findall(r'tlsd: stats 443: .*', text())[-1]}")

        def bulk() -> None:
            t0 = time.monotonic()
            p = subprocess.run(["ip", "netns", "exec", wan, "curl", "-sk", "--max-time", "60",
                                "https://10.9.0.2/big.bin"], capture_output=True, timeout=90)
            dt = time.monotonic() - t0
            got = hashlib.sha256(p.stdout).hexdigest()
            check(got == big_sha, f"download: status {p.returncode}, {len(p.stdout)} bytes, sha256 differs")
            print(f"# download {BIG_MB} MB through tlsd: {dt:.2f} s, {BIG_MB / dt:.1f} MB/s")
            t0 = time.monotonic()
            p = sh("ip", "netns", "exec", wan, "curl", "-sk", "--max-time", "60", "--data-binary",
                   f"@{tmp / 'up.bin'}", "-H", "Content-Type: application/octet-stream", "https://10.9.0.2/up",
                   check=False, timeout=90)
            dt = time.monotonic() - t0
            check(p.stdout.strip() == up_sha, f"upload: status {p.returncode}, backend saw {p.stdout[:80]!r}")
            print(f"# upload {BIG_MB} MB through tlsd: {dt:.2f} s, {BIG_MB / dt:.1f} MB/s")

        rep.run("tlsd.bulk_both_ways_intact", bulk)

        def aes_gcm_suites() -> None:
            # #14: AES-GCM is ours (appliance/tls/tls_gcm.c): every AES-GCM
            # suite of both versions, both directions, byte-exact.
            suites = [("tls12", ["--tlsv1.2", "--tls-max", "1.2", "--ciphers", c]) for c in
                      ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384")]
            suites += [("tls13", ["--tlsv1.3", "--tls13-ciphers", c]) for c in
                       ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384")]
            for ver, opts in suites:
                name = opts[-1]
                p = subprocess.run(["ip", "netns", "exec", wan, "curl", "-sk", "--max-time", "60", "-o",
                                    str(tmp / "gcm.bin"), *opts,
                                    "https://10.9.0.2/big.bin"], capture_output=True, timeout=90)
                got = hashlib.sha256((tmp / "gcm.bin").read_bytes()).hexdigest() if (tmp / "gcm.bin").exists() else ""
                check(p.returncode == 0 and got == big_sha, f"{ver} {name} download: status {p.returncode}, "
                      f"sha256 {'differs' if got else 'none'}, {p.stderr[-200:]!r}")
                q = sh("ip", "netns", "exec", wan, "curl", "-sk", "--max-time", "60", *opts, "--data-binary",
                       f"@{tmp / 'up.bin'}", "-H", "Content-Type: application/octet-stream", "https://10.9.0.2/up",
                       check=False, timeout=90)
                check(q.stdout.strip() == up_sha, f"{ver} {name} upload: status {q.returncode}, "
                      f"backend saw {q.stdout[:80]!r}")
                (tmp / "gcm.bin").unlink(missing_ok=True)

        rep.run("tlsd.aes_gcm_suites_byte_exact", aes_gcm_suites)

        def whole_records() -> None:
            # #14: tlsd's pending buffer holds a whole record's payload (16
            # KiB), so a download goes out in records as large as what one
            # fill of it finds in the backend's rx ring: 16 KiB once netd's
            # rings are that large, one ring (SOCK_RING_BYTES) until then.
            ring = int(re.search(r"#define SOCK_RING_BYTES\s+(\d+)u?", (REPO / "abi" / "keel" / "socket.h")
                                 .read_text())[1])
            want = min(16384, ring)
            p = sh("ip", "netns", "exec", wan, sys.executable, "-c", RECORDS_CODE, check=False, timeout=120)
            out = p.stdout.split()
            check(len(out) == 3 and out[0] == big_sha, f"download through memory BIOs: {p.stdout[-200:]!r} "
                  f"{p.stderr[-300:]!r}")
            check(len(out) == 3 and int(out[1]) >= want, f"largest record {out[1:2]} bytes, want >= {want} "
                  f"(min(16 KiB, netd's ring of {ring}))")
            print(f"# {BIG_MB} MB in {out[2:3]} records, the largest {out[1:2]} bytes")

        rep.run("tlsd.download_in_records_of_a_whole_fill", whole_records)

        def max_connections() -> None:
            pos = len(text())
            p = sh("ip", "netns", "exec", wan, sys.executable, "-c", MAXCONN_CODE, check=False, timeout=30)
            check(p.stdout.strip() == "closed", f"fourth connection: {p.stdout.strip()!r} {p.stderr[-200:]!r}")
            check(wait_after(pos, r"tlsd: 443: client 10\.9\.0\.1:\d+ refused: max-connections reached", 5),
                  "no 'max-connections reached' line")
            time.sleep(1)
            curl()

        rep.run("tlsd.max_connections", max_connections)

        def proxy_v1() -> None:
            helpers.append(subprocess.Popen(["ip", "netns", "exec", wan, sys.executable, "-c", PROXY_BACKEND_CODE],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(0.5)
            p = sh("ip", "netns", "exec", wan, sys.executable, "-c", TLS_CLIENT_CODE, "8444", check=False, timeout=30)
            out = p.stdout.splitlines()
            check(len(out) == 3, f"client: {p.stdout!r} {p.stderr[-300:]!r}")
            check(out[0] == "TLSv1.2", f"version {out[0]!r}")
            check(re.fullmatch(r"b'got PROXY TCP4 10\.9\.0\.1 10\.9\.0\.2 \d+ 8444\\r\\n'", out[2]) is not None,
                  f"backend saw {out[2]}")
            check(out[1] == "close_notify", f"stream end: {out[1]!r} (backend closed: tlsd must send close_notify)")

        rep.run("tlsd.proxy_v1_and_close_notify", proxy_v1)

        def proxy_v2() -> None:
            helpers.append(subprocess.Popen(["ip", "netns", "exec", wan, sys.executable, "-c", PROXY2_BACKEND_CODE],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(0.5)
            p = sh("ip", "netns", "exec", wan, sys.executable, "-c", TLS_CLIENT_CODE, "9445", check=False, timeout=30)
            out = p.stdout.splitlines()
            check(len(out) == 3 and out[0] == "TLSv1.3", f"client: {p.stdout!r} {p.stderr[-300:]!r}")
            # signature, v2 PROXY, TCP4, 12 bytes, 10.9.0.1 -> 10.9.0.2, client port -> 9445 (0x24e5)
            check(re.fullmatch(r"b'got 0d0a0d0a000d0a515549540a2111000c0a0900010a090002[0-9a-f]{4}24e5'", out[2])
                  is not None, f"backend saw {out[2]}")

        rep.run("tlsd.proxy_v2_header", proxy_v2)

        rep.run("tlsd.statistics", stats)

        def stats_ipc() -> None:
            """tlsstat reads abi/keel/tlsd.h's calls: the same numbers as tlsd's own line, once quiet."""
            check(wait_for(r"tlsstat: errors: PASS", 5),
                  "tlsstat: " + " / ".join(re.findall(r"tlsstat: errors: (.*)", text())))
            pd = (r"tlsd: stats 443: accepted (\d+) current \d+ refused (\d+) handshakes ok (\d+) failed (\d+) "
                  r"\([^)]*\) resumed (\d+) bytes client->backend (\d+) backend->client (\d+)")
            ps = (r"tlsstat: 443: accepted (\d+) current \d+ refused (\d+) backend-failures \d+ handshakes-ok (\d+) "
                  r"resumed (\d+) failed (\d+) truncated \d+ bytes-c2b (\d+) bytes-b2c (\d+) .*fail:(.*)")
            end = time.monotonic() + 20
            d = st = None
            while time.monotonic() < end:
                ds, ss = re.findall(pd, text()), re.findall(ps, text())
                d, st = (ds[-1] if ds else None), (ss[-1] if ss else None)
                if d and st and (d[0], d[1], d[2], d[3], d[4], d[5], d[6]) == (st[0], st[1], st[2], st[4], st[3],
                                                                                st[5], st[6]):
                    break
                time.sleep(1)
            check(d is not None and st is not None, "no tlsd or tlsstat line for 443")
            check((d[0], d[1], d[2], d[3], d[4], d[5], d[6]) == (st[0], st[1], st[2], st[4], st[3], st[5], st[6]),
                  f"tlsd says {d}, tlsstat read {st}")
            for r in ("not-tls", "version", "no-suite", "eof", "bad-record"):
                check(f" {r} " in st[7] + " ", f"no '{r}' failures in tlsstat's reasons: {st[7]!r}")
            m = re.findall(r"tlsstat: 9443: .* handshakes-ok (\d+) resumed (\d+) .* sni-named (\d+) ", text())
            check(bool(m) and int(m[-1][0]) >= 100 and int(m[-1][1]) >= 1 and int(m[-1][2]) >= 2,
                  f"tlsstat 9443: {m[-1] if m else None}")
            v = re.findall(r"tlsstat: 9443: by version: tls13-ok (\d+) tls13-resumed (\d+) tls12-ok (\d+) "
                           r"tls12-resumed (\d+)", text())
            check(bool(v) and all(int(x) >= 1 for x in v[-1]),
                  f"tlsstat 9443 by version (1.3 ok, resumed, 1.2 ok, resumed): {v[-1] if v else None}")
            print(f"# {re.findall(r'tlsstat: 443: .*', text())[-1]}")

        rep.run("tlsd.statistics_over_ipc", stats_ipc)

        def no_deaths() -> None:
            check(re.search(r"keel: init: server \S+ died|keel: PANIC", text()) is None, "a server died")

        rep.run("tlsd.no_server_died", no_deaths)

        def nothing_held() -> None:
            """Every connection gone and the heap back where it started (certificates, tickets), but for what
            tlsd keeps on purpose: its connection slots (made in chunks as first needed, said in the line) and
            the PSA key store's slices (grown with the keys once open at once: 128 KiB at most here)."""
            pat = (r"tlsd: memory: heap (\d+) KiB used of \d+ KiB \(peak \d+ KiB\); connections (\d+) .*?"
                   r"(\d+) slots \((\d+) KiB, kept\)")
            first = re.findall(pat, text())
            check(bool(first), "no memory line")
            end = time.monotonic() + 30
            last = first[-1]
            while time.monotonic() < end and last[1] != "0":
                time.sleep(1)
                last = re.findall(pat, text())[-1]
            check(last[1] == "0", f"tlsd still holds {last[1]} connections")
            kept = int(last[3]) - int(first[0][3]) + 128
            check(int(last[0]) <= int(first[0][0]) + 64 + kept,
                  f"heap {first[0][0]} KiB at start, {last[0]} KiB at the end ({kept} KiB of slots and key store kept)")

        rep.run("tlsd.nothing_held_at_the_end", nothing_held)

        # The console's two-phase commit, by tlsadm (tests/tls/tlsadm.c):
        # it starts when port 7000 accepts a connection, while a download
        # runs on 9443 (unchanged by the new configuration).
        cfg: dict = {}

        def config_commit() -> None:
            check(wait_for(r"tlsadm: waiting for a connection on port 7000", 5), "tlsadm is not waiting")
            check(wait_for(r"tlsd: admin: client tlsadm", 1), "tlsd has no admin client tlsadm")
            flag2 = tmp / "transfer2-go"
            pr = subprocess.Popen(["ip", "netns", "exec", wan, sys.executable, "-c", TRANSFER_CODE, str(flag2), "9443"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            helpers.append(pr)
            cfg["p"], cfg["flag"] = pr, flag2
            first = pr.stdout.readline().strip()
            check(first == "started", f"the download on 9443 did not start: {first!r}")
            pos = len(text())
            # the trigger: a connection to 7000 that stays open through the commit
            hold = subprocess.Popen(["ip", "netns", "exec", wan, sys.executable, "-c", HOLD_CODE],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            helpers.append(hold)
            cfg["hold"] = hold
            first = hold.stdout.readline().strip()
            check(first == "open", f"the connection to 7000 did not open: {first!r}")
            check(wait_after(pos, r"tlsadm: committed", 120), "tlsadm did not finish: " +
                  " | ".join(re.findall(r"tlsadm: .*", text()[pos:])))
            lines = re.findall(r"tlsadm: .*", text()[pos:])
            for ln in lines:
                if ": PASS" in ln or ": FAIL" in ln or "tlsd said" in ln or "commit:" in ln:
                    print(f"# {ln}")
            fails = [ln for ln in lines if ": FAIL" in ln]
            check(not fails, " | ".join(fails))
            m = re.search(r"tlsadm: (\d+) passed, (\d+) failed", text()[pos:])
            check(m is not None and m[2] == "0" and int(m[1]) >= 9, f"tlsadm: {m and m[0]}")
            m = re.search(r"tlsadm: listeners: (.*)", text()[pos:])
            check(m is not None and m[1].strip() == CONF_NEW_LISTENERS,
                  f"listeners after the commit: {m and m[1]!r}, want {CONF_NEW_LISTENERS!r}")
            check(re.search(r"tlsd: admin tlsadm: configuration refused: appliance\.conf:9:\d+: tls 6443: key nosuch\.key",
                            text()[pos:]) is not None, "tlsd did not log the refused key with its line")

        rep.run("tlsd.config_commit_by_admin_client", config_commit)

        def new_port_serves() -> None:
            p = sh("ip", "netns", "exec", wan, "curl", "-sk", "--max-time", "20", "https://10.9.0.2:6443/",
                   check=False, timeout=30)
            check(TOKEN in p.stdout, f"curl 6443: status {p.returncode}, {p.stdout[-200:]!r} {p.stderr[-200:]!r}")

        rep.run("tlsd.committed_new_port_serves", new_port_serves)

        def removed_ports_refuse() -> None:
            for port in (8443, 7000):
                p = sh("ip", "netns", "exec", wan, "curl", "-sk", "--max-time", "10", f"https://10.9.0.2:{port}/",
                       check=False, timeout=20)
                check(p.returncode == 7, f"curl {port}: status {p.returncode} (want 7, connection refused): "
                                         f"{p.stderr[-200:]!r}")
            check(re.search(r"tlsd: 8443: stopped \(not in the committed configuration\)", text()) is not None,
                  "no 'stopped' line for 8443")
            check(re.search(r"tlsd: 7000: stopped \(not in the committed configuration\), 1 connection\(s\) closed",
                            text()) is not None, "no 'stopped, 1 connection(s) closed' line for 7000")
            out, _ = cfg["hold"].communicate(timeout=30)
            check(out.strip() in ("closed", "reset ConnectionResetError", "reset SSLEOFError")
                  or out.startswith("reset"), f"the connection open on 7000 across the commit: {out.strip()!r}")

        rep.run("tlsd.committed_removed_ports_refuse", removed_ports_refuse)

        def changed_block_new_settings() -> None:
            p = sh("ip", "netns", "exec", wan, sys.executable, "-c", TLS_CLIENT_CODE, "9445", check=False, timeout=30)
            out = p.stdout.splitlines()
            check(len(out) == 3 and out[0] == "TLSv1.3", f"client: {p.stdout!r} {p.stderr[-300:]!r}")
            check(re.fullmatch(r"b'got PROXY TCP4 10\.9\.0\.1 10\.9\.0\.2 \d+ 9445\\r\\n'", out[2]) is not None,
                  f"9445 after the commit (PROXY v1 now): backend saw {out[2]}")

        rep.run("tlsd.committed_changed_block_new_settings", changed_block_new_settings)

        def download_through_commit() -> None:
            p = cfg.get("p")
            check(p is not None and p.poll() is None, "the download on 9443 ended during the commit")
            cfg["flag"].write_text("go")
            out, err = p.communicate(timeout=240)
            f = out.split()
            check(len(f) == 2 and f[0] == str(20 << 20) and f[1] == big20_sha,
                  f"20 MB download across the commit: {out.strip()[-200:]!r} {err[-300:]!r}")
            curl()  # 443, unchanged, still serves

        rep.run("tlsd.download_on_unchanged_listener_survives_commit", download_through_commit)

        def netd_restart() -> None:
            """netd crashes (a test command frame); init restarts it, the new netd
            tells tlsd its session is gone, tlsd starts again and serves."""
            pos = len(text())
            code = ("import socket\ns = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('ktap0', 0))\n"
                    "src = bytes.fromhex(open('/sys/class/net/ktap0/address').read().strip().replace(':', ''))\n"
                    "f = bytes.fromhex('525400123456') + src + b'\\x88\\xb5' + b'KEEL-NETDCRASH'\n"
                    "s.send(f + bytes(60 - len(f)))\n")
            sh("ip", "netns", "exec", wan, sys.executable, "-c", code)
            check(wait_after(pos, r"server netd died", 15), "netd did not crash on the command frame")
            check(wait_after(pos, r"tlsd: netd's session is gone", 20), "tlsd was not told that netd restarted")
            check(wait_after(pos, r"tlsd: 443: listening(.|\n)*tlsd: serving", 60),
                  "tlsd did not serve again: " + "|".join(ln for ln in text()[pos:].splitlines()
                                                            if not ln.startswith(("tlsstat", "tlsd: stats")))[-3000:])
            time.sleep(1)
            curl()

        rep.run("tlsd.serves_again_after_netd_restart", netd_restart)

        def no_entropy() -> None:
            """Again without virtio-rng and with RDRAND/RDSEED masked in CPUID."""
            lab.stop(cur["proc"], grace=3.0)
            cur["qout"].close()
            cur["log"] = serial.path = tmp / "serial-noent.log"
            cfg2 = kq.Config(boot="direct", accel="auto", nic="virtio,virtio", args=["tlstest"],
                             taps=["ktap0", "ktap1"], netns=wan, serial=f"file:{cur['log']}", image_dir=img)
            cmd = kq.build_command(cfg2).cmd
            i = cmd.index("-cpu")
            cmd[i + 1] = re.sub(r",-(rdrand|rdseed)", "", cmd[i + 1]) + ",-rdrand,-rdseed"
            cur["qout"] = open(tmp / "qemu-noent.log", "wb")
            lab.files.append(cur["qout"])
            cur["proc"] = lab.qemu(cmd, cur["qout"])
            check(wait_for(r"tlsd: no entropy source .*refusing to serve", 60),
                  "tlsd did not refuse for want of entropy; log " + str(cur["log"]))
            time.sleep(1)
            p = sh("ip", "netns", "exec", wan, "curl", "-sk", "--max-time", "5", "https://10.9.0.2/", check=False,
                   timeout=15)
            check(TOKEN not in p.stdout, "served a page without entropy")
            check(not re.search(r"tlsd: serving", text()), "tlsd says it is serving")
            # Parked, not stuck: it answers every call on its endpoint at once
            # with TLSD_E_IDLE (tlsstat calls every 2 s), so no caller waits on
            # it and init's stall-limit finds no work left waiting.
            check(wait_for(r"tlsstat: TLSD_LISTENERS: error -806", 20),
                  "the idle tlsd did not answer tlsstat's call with TLSD_E_IDLE (-806)")
            check(not re.search(r"tlsd: stalled", text()), "init found the idle tlsd stalled")
            # Positive control in the same boot: the guest is up and netd answers.
            p = sh("ip", "netns", "exec", wan, "ping", "-c", "2", "-W", "5", "10.9.0.2", check=False, timeout=30)
            check(p.returncode == 0, f"netd does not answer ping in the boot without entropy: {p.stdout[-200:]!r}")

        rep.run("tlsd.no_entropy_refuses", no_entropy)
    finally:
        netlab.terminate(helpers)
        lab.close()
        for lf in (log, tmp / "serial-noent.log"):
            try:
                lines = kq.clean_log(lf.read_text(errors="replace")).splitlines()
            except OSError:
                continue
            print(f"# {lf.name}:", file=sys.stderr)
            for line in lines:
                if re.match(r"(tlsd|keyd): ", line):
                    print(f"#   {line}", file=sys.stderr)
        # The serial logs outlive the work directory, where every suite keeps
        # its own (build/test-logs/), so that a failure in CI can be read.
        for lf in tmp.glob("serial*.log"):
            try:
                kq.LOG_DIR.mkdir(parents=True, exist_ok=True)
                shutil.copy(lf, kq.LOG_DIR / f"tlsd-{lf.name}")
            except OSError:
                pass
        kq.drop_workdir(tmp, ns_args.keep)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
