#!/usr/bin/env python3
"""tlsd tests: boots Keel with netd, keyd, tlsd and a virtio-rng server
(manifest lines below, `when tlstest`) between two network namespaces, as
tests/qemu/test_netd.py does; only the wan one carries traffic.

The site archive holds an ECDSA P-256 certificate and key made here by
openssl (never committed; removed at the end) and an appliance.conf with
`interface wan nic 0 address 10.9.0.2/24`, firewall rules passing tcp 443
in on wan and connections out, and
`tls 443 { certificate ec.crt key ec.key backend 10.9.0.1:8080 }`.
A python3 http.server in the wan namespace on 10.9.0.1:8080 is the backend.

Checks, from the wan namespace:
  - `curl -sk https://10.9.0.2/` returns the backend's page;
  - `openssl s_client -connect 10.9.0.2:443 -servername x` shows TLSv1.2;
  - garbage instead of a ClientHello is refused (the connection ends) and
    logged ("not TLS") while an idle connection is open, and another
    request afterwards still works;
  - the statistics line counts the handshakes and the failure.

Usage (root; needs iproute2, curl, openssl):
  make image && python3 tests/qemu/test_tlsd.py [--build build]
"""

from __future__ import annotations

import argparse
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

SOCK_PAGES = 515  # abi/keel/socket.h SOCK_SHM_PAGES
TLSD_LINES = """
# tlsd test boots (`tlstest`), tests/qemu/test_tlsd.py
server tlsnic0 when tlstest priority 15 memory 2M pci net 0 endpoint net0 share net0 256 signal net0
server tlsnic1 when tlstest priority 15 memory 2M pci net 1 endpoint net1 share net1 256 signal net1
server tlsrng  when tlstest priority 14 memory 256K pci rng 0 endpoint rng-tls
server netd    when tlstest needs tlsnic0 priority 12 memory 4M args net1=10.9.1.2/24,stats=600 connect net0 share net0 256 notify net0 connect net1 share net1 256 notify net1 connect rng-tls site endpoint netd share sock-tlsd {pages} signal sock-tlsd
server keyd    when tlstest priority 10 memory 1M args client=tlsd,rng=rng-tls,key=ec.key site endpoint keyd share keyd 4 signal tlsd connect rng-tls
server tlsd    when tlstest needs netd priority 11 memory 12M args rng=rng-tls,stats=3 site connect netd share sock-tlsd {pages} notify sock-tlsd signal sock-tlsd connect keyd share keyd 4 notify tlsd connect rng-tls
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

tls 443 {
    certificate ec.crt key ec.key
    backend 10.9.0.1:8080
    max-connections 3
    idle-timeout 30s
}

tls 8443 {
    certificate ec.crt key ec.key
    backend 10.9.0.1:8081
}

tls 8444 {
    certificate ec.crt key ec.key
    backend 10.9.0.1:8082
    proxy-protocol v1
}
"""

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
http.server.ThreadingHTTPServer(('10.9.0.1', 8080), H).serve_forever()
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

# A TLS client of port PORT: prints what came back and how the stream ended
# (suppress_ragged_eofs=False: an end without close_notify raises).
TLS_CLIENT_CODE = r"""
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
raw = socket.create_connection(('10.9.0.2', int(sys.argv[1])), timeout=15)
got = b''
try:
    t = ctx.wrap_socket(raw, server_hostname='x', suppress_ragged_eofs=False)
    print(t.version())
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


def sh(*c: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(c, check=check, capture_output=True, text=True, timeout=timeout)


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


def make_image(build: Path, tmp: Path) -> Path:
    out = tmp / "tftp"
    shutil.copytree(build / "image" / "tftp", out)
    manifest = out / "manifest"
    manifest.write_text(base_manifest() + TLSD_LINES.format(pages=SOCK_PAGES))
    elfs = sorted(str(p) for p in (build / "user").glob("*.elf") if p.name != "init.elf")
    subprocess.run([str(REPO / "tools" / "mkcpio.sh"), str(out / "servers.cpio"), str(manifest), *elfs], check=True)
    manifest.unlink()
    site = tmp / "site"
    site.mkdir()
    sh("sh", "-c", "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key "
                   "-out ec.crt -days 2 -subj /CN=tlsd.test -addext subjectAltName=DNS:tlsd.test 2>/dev/null")
    for f in ("ec.key", "ec.crt"):
        shutil.move(f, site / f)
    (site / "appliance.conf").write_text(CONF)
    subprocess.run([str(REPO / "tools" / "mkcpio.sh"), str(out / "site.cpio"),
                    *(str(site / n) for n in ("appliance.conf", "ec.crt", "ec.key"))], check=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--keep", action="store_true", help="keep the work directory (it holds a test key)")
    ns_args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tlsd-test-"))
    cwd = os.getcwd()
    os.chdir(tmp)
    try:
        img = make_image(Path(ns_args.build), tmp)
    finally:
        os.chdir(cwd)
    www = tmp / "www"
    www.mkdir()
    (www / "index.html").write_text(f"<html><body>{TOKEN}</body></html>\n")
    big = os.urandom(BIG_MB << 20)
    (www / "big.bin").write_bytes(big)
    (tmp / "up.bin").write_bytes(big[::-1])
    big_sha, up_sha = hashlib.sha256(big).hexdigest(), hashlib.sha256(big[::-1]).hexdigest()
    log = tmp / "serial.log"
    wan, lan = f"tw{os.getpid()}", f"tl{os.getpid()}"
    for n in (wan, lan):
        sh("ip", "netns", "add", n)
        sh("ip", "-n", n, "link", "set", "lo", "up")
    for t in ("ktap0", "ktap1"):
        sh("ip", "-n", wan, "tuntap", "add", "dev", t, "mode", "tap")
        sh("ip", "-n", wan, "link", "set", t, "up")
    sh("ip", "-n", wan, "addr", "add", "10.9.0.1/24", "dev", "ktap0")
    cfg = kq.Config(boot="direct", accel="auto", nic="virtio,virtio", args=["tlstest"], taps=["ktap0", "ktap1"],
                    netns=wan, serial=f"file:{log}", qemu_extra="-device virtio-rng-pci", image_dir=img)
    qout = open(tmp / "qemu.log", "wb")
    cur = {"proc": kq._spawn(kq.build_command(cfg).cmd, qout), "log": log, "qout": qout}
    helpers: list[subprocess.Popen] = []
    rep = kq.Reporter()

    def text() -> str:
        try:
            return kq.clean_log(cur["log"].read_text(errors="replace"))
        except OSError:
            return ""

    def wait_for(pattern: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and cur["proc"].poll() is None:
            if re.search(pattern, text(), re.M):
                return True
            time.sleep(0.2)
        return bool(re.search(pattern, text(), re.M))

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
            check(wait_for(r"netd: net0: up", 30) or True, "net0 not up")

        rep.run("tlsd.starts", serving)

        def curl_page() -> None:
            time.sleep(1)
            curl()

        rep.run("tlsd.curl_fetches_backend_page", curl_page)

        def s_client() -> None:
            p = subprocess.run(["ip", "netns", "exec", wan, "openssl", "s_client", "-connect", "10.9.0.2:443",
                                "-servername", "x"], input="", capture_output=True, text=True, timeout=30)
            out = p.stdout + p.stderr
            check(re.search(r"Protocol\s*:\s*TLSv1\.2|New, TLSv1\.2", out) is not None,
                  f"no TLSv1.2 in s_client's output: {out[-400:]!r}")
            check(re.search(r"Cipher\s*(is|:)\s*ECDHE-", out) is not None, f"no ECDHE suite: {out[-400:]!r}")

        rep.run("tlsd.s_client_tls12", s_client)

        def garbage() -> None:
            g = subprocess.Popen(["ip", "netns", "exec", wan, sys.executable, "-c", GARBAGE_CODE],
                                 stdout=subprocess.PIPE, text=True)
            first = g.stdout.readline().strip()
            check(first.startswith("closed"), f"garbage connection not closed by tlsd: {first!r}")
            check(wait_for(r"tlsd: 443: client 10\.9\.0\.1:\d+: handshake failed: not TLS", 10),
                  "tlsd did not log the garbage as 'not TLS'")
            curl()  # still serving, with the idle connection open
            g.wait(timeout=20)

        rep.run("tlsd.garbage_refused_others_served", garbage)

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

        def max_connections() -> None:
            p = sh("ip", "netns", "exec", wan, sys.executable, "-c", MAXCONN_CODE, check=False, timeout=30)
            check(p.stdout.strip() == "closed", f"fourth connection: {p.stdout.strip()!r} {p.stderr[-200:]!r}")
            check(wait_for(r"tlsd: 443: client 10\.9\.0\.1:\d+ refused: max-connections reached", 5),
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

        def backend_refused() -> None:
            p = sh("ip", "netns", "exec", wan, sys.executable, "-c", TLS_CLIENT_CODE, "8443", check=False, timeout=30)
            out = p.stdout.splitlines()
            check(len(out) >= 2 and out[0] == "TLSv1.2" and out[-1] == "b''", f"client: {p.stdout!r}")
            check(wait_for(r"tlsd: 8443: client 10\.9\.0\.1:\d+: backend refused or unreachable", 5),
                  "no 'backend refused' line")
            curl()  # 443 still serves

        rep.run("tlsd.backend_refused_logged", backend_refused)
        rep.run("tlsd.statistics", stats)

        def no_deaths() -> None:
            check(re.search(r"keel: init: server \S+ died|keel: PANIC", text()) is None, "a server died")

        rep.run("tlsd.no_server_died", no_deaths)

        def no_entropy() -> None:
            """Again without virtio-rng and with RDRAND/RDSEED masked in CPUID."""
            kq._kill(cur["proc"])
            cur["qout"].close()
            cur["log"] = tmp / "serial-noent.log"
            cfg2 = kq.Config(boot="direct", accel="auto", nic="virtio,virtio", args=["tlstest"],
                             taps=["ktap0", "ktap1"], netns=wan, serial=f"file:{cur['log']}", image_dir=img)
            cmd = kq.build_command(cfg2).cmd
            i = cmd.index("-cpu")
            cmd[i + 1] = re.sub(r",-(rdrand|rdseed)", "", cmd[i + 1]) + ",-rdrand,-rdseed"
            cur["qout"] = open(tmp / "qemu-noent.log", "wb")
            cur["proc"] = kq._spawn(cmd, cur["qout"])
            check(wait_for(r"tlsd: no entropy source .*refusing to serve", 60),
                  "tlsd did not refuse for want of entropy; log " + str(cur["log"]))
            time.sleep(1)
            p = sh("ip", "netns", "exec", wan, "curl", "-sk", "--max-time", "5", "https://10.9.0.2/", check=False,
                   timeout=15)
            check(TOKEN not in p.stdout, "served a page without entropy")
            check(not re.search(r"tlsd: serving", text()), "tlsd says it is serving")

        rep.run("tlsd.no_entropy_refuses", no_entropy)
    finally:
        for h in helpers:
            if h.poll() is None:
                h.terminate()
                h.wait(timeout=5)
        kq._kill(cur["proc"])
        cur["qout"].close()
        for n in (wan, lan):
            sh("ip", "netns", "del", n, check=False)
        for lf in (log, tmp / "serial-noent.log"):
            try:
                lines = kq.clean_log(lf.read_text(errors="replace")).splitlines()
            except OSError:
                continue
            print(f"# {lf.name}:", file=sys.stderr)
            for line in lines:
                if re.match(r"(tlsd|keyd): ", line):
                    print(f"#   {line}", file=sys.stderr)
        if ns_args.keep:
            print(f"# work directory kept: {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
