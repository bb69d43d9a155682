"""Idle TLS connections held open against a TLS terminator, for the capacity
figures of bench/tls.py (`tls_concurrent_held`) and the capacity test
(tests/qemu/test_capacity.py); issue 14 item 7.

HoldBackend  a backend on the host's 127.0.0.1 that accepts any number of
             connections and holds them (one thread, selectors), answering
             each request (bytes up to a blank line) with a short HTTP reply
             on the same connection;
open_held    opens N TLS connections (Python's ssl, non-blocking handshakes,
             CONC at once, one process) and keeps the ones that finish their
             handshake; stops early once the terminator refuses new clients;
probe        sends a request on every held connection and counts the replies
             (a held connection still proxies, its engine unparked);
fetch        one new client's GET, blocking, with a timeout;
capacity_image
             a copy of the built image for these runs: one listener on 443
             whose backend is a HoldBackend, statistics every few seconds;
tlsd_memory, netd_memory
             the last statistics lines of tlsd and netd in a serial log.

Raise the open-files limit first (raise_nofile): each held connection is a
socket here, one in the backend, and two in QEMU's user network.
"""

from __future__ import annotations

import errno
import re
import resource
import selectors
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Optional

REPO = Path(__file__).resolve().parents[1]

REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nheld\n"


def raise_nofile(want: int) -> int:
    """The soft open-files limit raised toward WANT (at most the hard one);
    inherited by the processes started after (QEMU).  Returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = min(max(soft, want), hard) if hard != resource.RLIM_INFINITY else max(soft, want)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new


class HoldBackend:
    """Accepts and holds connections on 127.0.0.1:port; answers each request."""

    def __init__(self) -> None:
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4096)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.accepted = 0
        self.open = 0
        self.peak = 0
        self._stop = False
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.lsock, selectors.EVENT_READ, None)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        bufs: dict[socket.socket, bytes] = {}
        while not self._stop:
            for key, _ in self._sel.select(0.2):
                if key.data is None:
                    while True:
                        try:
                            c, _ = self.lsock.accept()
                        except (BlockingIOError, InterruptedError):
                            break
                        except OSError:
                            break
                        c.setblocking(False)
                        self._sel.register(c, selectors.EVENT_READ, "c")
                        bufs[c] = b""
                        self.accepted += 1
                        self.open += 1
                        self.peak = max(self.peak, self.open)
                    continue
                c = key.fileobj
                try:
                    data = c.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self._sel.unregister(c)
                    bufs.pop(c, None)
                    c.close()
                    self.open -= 1
                    continue
                b = bufs[c] + data
                while b"\r\n\r\n" in b:
                    _, b = b.split(b"\r\n\r\n", 1)
                    try:
                        c.sendall(REPLY)  # small: fits the socket buffer
                    except OSError:
                        pass
                bufs[c] = b

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=5)
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()


class Held:
    """One client connection: its socket (TLS once connected), since when."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.tls: Optional[ssl.SSLSocket] = None
        self.tls12 = False
        self.started = time.monotonic()


def client_context(tls12: bool = False) -> ssl.SSLContext:
    """No certificate check (the test's own); TLS 1.2 only when TLS12, else
    what both offer (TLS 1.3)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def open_held(host: str, port: int, n: int, conc: int = 32, handshake_s: float = 60, stop_after_refused: int = 20,
              progress=None, tls12_every: int = 0) -> tuple[list[ssl.SSLSocket], int, dict]:
    """Opens up to N TLS connections to HOST:PORT, CONC at once, and keeps
    those that finish their handshake (every TLS12_EVERY-th in TLS 1.2, if
    not 0).  A connection closed or reset before its handshake ends counts
    as refused; after STOP_AFTER_REFUSED refusals in a row no new ones
    start.  Returns (held, refused, info): held sockets are blocking again;
    info has the seconds taken, the errors and the versions negotiated."""
    ctxs = (client_context(), client_context(tls12=True))
    versions: dict[str, int] = {}
    sel = selectors.DefaultSelector()
    held: list[ssl.SSLSocket] = []
    pending: set[Held] = set()
    refused = 0
    in_a_row = 0
    started = 0
    errors: dict[str, int] = {}
    t0 = time.monotonic()
    last_report = t0

    def start_one() -> None:
        nonlocal started
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex((host, port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            raise OSError(err, "connect")
        h = Held(s)
        h.tls12 = bool(tls12_every) and started % tls12_every == 0
        pending.add(h)
        sel.register(s, selectors.EVENT_WRITE, h)
        started += 1

    def finish(h: Held, ok: bool, why: str = "") -> None:
        nonlocal refused, in_a_row
        obj = h.tls if h.tls is not None else h.sock
        sel.unregister(obj)
        pending.discard(h)
        if ok:
            obj.setblocking(True)
            held.append(obj)
            v = obj.version() or "?"
            versions[v] = versions.get(v, 0) + 1
            in_a_row = 0
        else:
            errors[why] = errors.get(why, 0) + 1
            refused += 1
            in_a_row += 1
            obj.close()

    while True:
        while len(pending) < conc and started < n and in_a_row < stop_after_refused:
            start_one()
        if not pending:
            break
        now = time.monotonic()
        for h in [h for h in pending if now - h.started > handshake_s]:
            finish(h, False, "handshake took too long")
        for key, _ in sel.select(0.5):
            h = key.data
            if h not in pending:
                continue
            if h.tls is None:  # the TCP connect finished (or failed)
                err = h.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    finish(h, False, errno.errorcode.get(err, str(err)))
                    continue
                sel.unregister(h.sock)
                h.tls = ctxs[h.tls12].wrap_socket(h.sock, do_handshake_on_connect=False)
                sel.register(h.tls, selectors.EVENT_WRITE, h)
            try:
                h.tls.do_handshake()
            except ssl.SSLWantReadError:
                sel.modify(h.tls, selectors.EVENT_READ, h)
                continue
            except ssl.SSLWantWriteError:
                sel.modify(h.tls, selectors.EVENT_WRITE, h)
                continue
            except (ssl.SSLError, OSError) as e:
                finish(h, False, type(e).__name__)
                continue
            finish(h, True)
        if progress and time.monotonic() - last_report > 10:
            last_report = time.monotonic()
            progress(len(held), refused, time.monotonic() - t0)
    sel.close()
    return held, refused, {"seconds": time.monotonic() - t0, "errors": errors, "versions": versions}


def probe(conns: list[ssl.SSLSocket], timeout: float = 120) -> int:
    """Sends a request on every connection in CONNS and counts those whose
    reply arrives within TIMEOUT s (one at a time would take minutes under
    TCG: all are sent first, then the replies read as they come)."""
    sel = selectors.DefaultSelector()
    got: dict[int, bytes] = {}
    for c in conns:
        try:
            c.setblocking(True)
            c.sendall(b"GET / HTTP/1.1\r\nHost: held\r\n\r\n")
            c.setblocking(False)
            sel.register(c, selectors.EVENT_READ, c)
            got[c.fileno()] = b""
        except OSError:
            pass
    ok = 0
    end = time.monotonic() + timeout
    while sel.get_map() and time.monotonic() < end:
        for key, _ in sel.select(0.5):
            c = key.data
            try:
                while True:
                    d = c.recv(4096)
                    if not d:
                        sel.unregister(c)
                        break
                    got[c.fileno()] += d
                    if got[c.fileno()].endswith(b"held\n"):
                        ok += 1
                        sel.unregister(c)
                        break
            except (ssl.SSLWantReadError, BlockingIOError):
                continue
            except (ssl.SSLError, OSError):
                sel.unregister(c)
    for c in conns:
        try:
            c.setblocking(True)
        except OSError:
            pass
    sel.close()
    return ok


def fetch(host: str, port: int, timeout: float = 60) -> tuple[bool, str]:
    """A new client's GET: (whether the backend's reply came, what went wrong)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            with client_context().wrap_socket(s) as t:
                t.sendall(b"GET / HTTP/1.1\r\nHost: new\r\n\r\n")
                data = b""
                while not data.endswith(b"held\n"):
                    d = t.recv(4096)
                    if not d:
                        break
                    data += d
                return data.endswith(b"held\n"), data[:80].decode(errors="replace")
    except (OSError, ssl.SSLError) as e:
        return False, f"{type(e).__name__}: {e}"


def close_all(conns: list[ssl.SSLSocket]) -> None:
    for c in conns:
        try:
            c.close()
        except OSError:
            pass


TLSD_MEM = re.compile(r"tlsd: memory: heap (\d+) KiB used of \d+ KiB \(peak \d+ KiB\); connections (\d+) "
                      r"\(peak \d+ of \d+\), (\d+) idle and parked, (\d+) slots \((\d+) KiB")
NETD_MEM = re.compile(r"netd: memory: TCP PCBs (\d+) in use of (\d+) \((\d+) bytes each\), (\d+) KiB mapped")
NETD_SOCK = re.compile(r"netd: sock: tlsd: (\d+) open .*?table (\d+) KiB")


def tlsd_memory(text: str) -> Optional[dict]:
    """tlsd's last memory line: heap KiB used, connections, parked, slots."""
    ms = list(TLSD_MEM.finditer(text))
    if not ms:
        return None
    m = ms[-1]
    return {"heap_kib": int(m[1]), "conns": int(m[2]), "parked": int(m[3]), "slots": int(m[4]),
            "slots_kib": int(m[5]), "at": m.end()}


def netd_memory(text: str) -> Optional[dict]:
    """netd's last memory and tlsd-socket lines: PCBs in use and their size,
    tlsd's open sockets and its socket table KiB."""
    ms, ss = list(NETD_MEM.finditer(text)), list(NETD_SOCK.finditer(text))
    if not ms or not ss:
        return None
    m, s = ms[-1], ss[-1]
    return {"pcbs": int(m[1]), "pcb_pool": int(m[2]), "pcb_bytes": int(m[3]), "pcb_mapped_kib": int(m[4]),
            "socks": int(s[1]), "table_kib": int(s[2])}


def per_conn_bytes(before_t: dict, after_t: dict, before_n: dict, after_n: dict, conns: int) -> dict:
    """Bytes per held connection, from the lines before and after they were
    opened: tlsd's heap growth; netd's PCBs (in use x their size) and
    socket table growth (the rings are pool pages, none held while idle)."""
    tlsd = (after_t["heap_kib"] - before_t["heap_kib"]) * 1024 / conns
    netd = ((after_n["pcbs"] - before_n["pcbs"]) * after_n["pcb_bytes"]
            + (after_n["table_kib"] - before_n["table_kib"]) * 1024) / conns
    return {"tlsd": tlsd, "netd": netd, "total": tlsd + netd}


CAPACITY_CONF = """# bench/hold.py: capacity runs (test_capacity.py, bench/tls.py)
hostname capacity
interface wan nic 0 dhcp

pass out keep state
pass in on wan proto icmp keep state
pass in on wan proto tcp to port 443 keep state
pass in on wan proto tcp to port 444 keep state

# The connections held: handshakes queue behind each other under TCG, so
# the handshake timeout is long here.
tls 443 {{
    certificate ec.crt key ec.key
    backend 10.0.2.2:{port}
    max-connections {max_conns}
    handshake-timeout 2m
    idle-timeout 10m
}}

# A short handshake timeout, apart from the idle one.
tls 444 {{
    certificate ec.crt key ec.key
    backend 10.0.2.2:{port}
    handshake-timeout 3s
    idle-timeout 10m
}}
"""


def capacity_image(src: Path, out: Path, site: Path, backend_port: int, max_conns: int, stats_s: int = 2) -> None:
    """A copy of the image in SRC (the normal boot, image/manifest) whose
    keyd holds ec.key (made here by openssl), whose netd and tlsd log their
    statistics every STATS_S seconds, and whose site archive is
    CAPACITY_CONF: 443 (the connections held, handshake-timeout 2m) and
    444 (handshake-timeout 3s) proxied to the host's 127.0.0.1:BACKEND_PORT
    (the guest's 10.0.2.2 on QEMU's user network)."""
    import keelqemu as kq  # tests/qemu, on the caller's path

    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(src, out)
    site.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(site / "ec.key"), "-out", str(site / "ec.crt"), "-days", "30", "-subj",
                    "/CN=capacity"], check=True, capture_output=True)
    lines = []
    for line in (REPO / "image" / "manifest").read_text().splitlines():
        w = line.split()
        if w[:2] == ["server", "keyd"]:
            line = line.replace("key=edge1.key", "key=ec.key")
        elif w[:2] == ["server", "tlsd"]:
            line = re.sub(r"stats=\d+", f"stats={stats_s}", line)
        elif w[:2] == ["server", "netd"] and " args " not in line:
            line = re.sub(r"(memory \S+)", rf"\1 args stats={stats_s}", line, count=1)
        lines.append(line)
    manifest = out / "manifest"
    manifest.write_text("\n".join(lines) + "\n")
    elfs = sorted(str(p) for p in (kq.BUILD / "user").glob("*.elf") if p.name != "init.elf")
    subprocess.run([str(REPO / "tools" / "mkcpio.sh"), str(out / "servers.cpio"), str(manifest), *elfs], check=True)
    manifest.unlink()
    (site / "appliance.conf").write_text(CAPACITY_CONF.format(port=backend_port, max_conns=max_conns))
    subprocess.run([str(REPO / "tools" / "mksite.sh"), str(out / "site.cpio"), str(site / "appliance.conf"),
                    str(kq.BUILD / "tools" / "conf-check")], check=True, capture_output=True)
