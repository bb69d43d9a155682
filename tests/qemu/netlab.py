"""netlab: the network lab the QEMU suites share.

What a suite that puts Keel on a network needs, in one place:

  * ``sh`` / ``ns_cmd`` / ``ns_run`` / ``ns_py``: run a command (in a
    namespace), output captured as text.
  * ``Lab``: network namespaces, taps, veths and bridges named with this
    process's PID (two runs of a suite never collide), the helper processes
    and QEMUs started in them, and a teardown (``close``, or leaving the
    ``with`` block) that ends those processes by their own process group and
    deletes those namespaces, which deletes every device in them.  A Lab
    installs keelqemu's signal handlers: SIGTERM/SIGHUP/SIGINT kill QEMU and
    raise SystemExit/KeyboardInterrupt, so the teardown runs; an atexit hook
    runs it for a Lab nobody closed.  Nothing the Lab did not start or create
    is ever touched.
  * ``SerialLog``: a serial log written to a file by QEMU; ``mark()`` takes
    the present end, ``wait(pattern, timeout, since=mark)`` waits for a line
    that appears after it (an event's line, never an earlier event's).
  * ``make_image``: a copy of a built image with a site archive of a given
    appliance.conf (plus other site files) and, if given, a servers archive
    of a given manifest; ``self_signed`` makes a key and certificate for it.
  * ``Lab.console_guest``: QEMU with its console on a unix socket, the
    console's log saved to build/test-logs/ at teardown.
  * ``Router``: Keel between test hosts (NIC i's tap in host namespace i),
    with the console, ``boot_ready``, stream sinks and senders
    (``STREAM_CODE``), and ISN sniffing (``SYN_SNIFFER``).
  * Small pieces: ``wait_path``, ``ping``, ``last_line``, ``wait_text``,
    ``free_port``, ``terminate``, and ``suite_main`` for a suite's main().

Teardown order: helpers, then QEMUs (each by its process group, SIGTERM then
SIGKILL), then namespaces in reverse order of creation.  A tap moved into a
namespace is deleted with that namespace.
"""

from __future__ import annotations

import argparse
import atexit
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence, Union

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402

REPO = kq.REPO
MKCPIO = str(REPO / "tools" / "mkcpio.sh")


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------

def sh(*c: str, check: bool = True, timeout: Optional[float] = None, **kw) -> subprocess.CompletedProcess:
    """Runs C, output captured as text; CalledProcessError when CHECK and it fails."""
    return subprocess.run(list(c), check=check, capture_output=True, text=True, timeout=timeout, **kw)


def ns_cmd(ns: str, *c: str) -> list[str]:
    """The argument vector that runs C in namespace NS."""
    return ["ip", "netns", "exec", ns, *c]


def ns_run(ns: str, *c: str, check: bool = False, timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    """Runs C in namespace NS (see sh); by default a failure is the caller's to judge."""
    return sh(*ns_cmd(ns, *c), check=check, timeout=timeout)


def ns_py(ns: str, code: str, *args: str, check: bool = False,
          timeout: Optional[float] = None) -> subprocess.CompletedProcess:
    """Runs the Python program CODE with ARGS in namespace NS."""
    return ns_run(ns, sys.executable, "-c", code, *args, check=check, timeout=timeout)


def ping(ns: str, addr: str, n: int = 2, interval: str = "0.3", six: bool = False) -> bool:
    """Whether N pings from NS to ADDR were answered."""
    return ns_run(ns, "ping", *(["-6"] if six else []), "-c", str(n), "-i", interval, "-W", "2",
                  addr).returncode == 0


def last_line(p: subprocess.CompletedProcess) -> str:
    """The last line a helper printed (stdout, else stderr), "" for none."""
    out = p.stdout.strip() or p.stderr.strip()
    return out.splitlines()[-1] if out else ""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for QEMU's hostfwd)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def terminate(procs: Sequence[subprocess.Popen]) -> None:
    """Ends processes started without a session of their own (SIGTERM to the
    process itself, then up to 5 s for it to exit)."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait(timeout=5)


def wait_path(*paths: Union[str, Path], tries: int = 100, step: float = 0.1) -> bool:
    """Waits until every one of PATHS exists (QEMU's sockets); whether they do."""
    for _ in range(tries):
        if all(os.path.exists(p) for p in paths):
            return True
        time.sleep(step)
    return all(os.path.exists(p) for p in paths)


# --------------------------------------------------------------------------
# The lab
# --------------------------------------------------------------------------

_open_labs: list["Lab"] = []


def _close_open_labs() -> None:
    for lab in list(_open_labs):
        lab.close()


atexit.register(_close_open_labs)


class Lab:
    """Namespaces, devices and processes of one test; see the module comment.

    Names: ``name(part)`` is TAG + PART + this process's PID, cut to 15
    characters for a device (IFNAMSIZ - 1)."""

    def __init__(self, tag: str):
        kq.install_signal_handlers()
        self.tag = tag
        self.pid = os.getpid()
        self.namespaces: list[str] = []
        self.helpers: list[subprocess.Popen] = []
        self.qemus: list[subprocess.Popen] = []
        self.files: list = []                   # closed by close()
        self.logs: list[tuple[object, str]] = []  # (console, NAME): saved as build/test-logs/NAME.log
        self.closed = False
        _open_labs.append(self)

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def name(self, part: str = "", dev: bool = False) -> str:
        n = f"{self.tag}{part}{self.pid}"
        return n[:15] if dev else n

    # ------------------------------------------------------------ devices --
    def netns(self, name: str) -> str:
        """Creates namespace NAME (lo up), deleted by close(); returns NAME."""
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def tap(self, ns: str, dev: str, addr: Optional[str] = None, up: bool = True) -> str:
        """Creates tap DEV in NS, up when UP, with ADDR (CIDR) when given."""
        sh("ip", "-n", ns, "tuntap", "add", "dev", dev, "mode", "tap")
        if up:
            sh("ip", "-n", ns, "link", "set", dev, "up")
        if addr:
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
        return dev

    def move(self, dev: str, src: str, dst: str, addr: Optional[str] = None, via: Optional[str] = None) -> None:
        """Moves DEV (a tap QEMU holds by now) from SRC to DST, up, with ADDR
        and a default route via VIA when given."""
        sh("ip", "-n", src, "link", "set", dev, "netns", dst)
        sh("ip", "-n", dst, "link", "set", dev, "up")
        if addr:
            sh("ip", "-n", dst, "addr", "add", addr, "dev", dev)
        if via:
            sh("ip", "-n", dst, "route", "add", "default", "via", via)

    def veth(self, ns_a: str, dev_a: str, ns_b: str, dev_b: str, addr_a: Optional[str] = None,
             addr_b: Optional[str] = None, up: bool = True) -> None:
        """A veth pair DEV_A (in NS_A) -- DEV_B (in NS_B), up when UP, addressed when given."""
        sh("ip", "-n", ns_a, "link", "add", dev_a, "type", "veth", "peer", "name", dev_b, "netns", ns_b)
        for ns, dev, addr in ((ns_a, dev_a, addr_a), (ns_b, dev_b, addr_b)):
            if up:
                sh("ip", "-n", ns, "link", "set", dev, "up")
            if addr:
                sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)

    def bridge(self, ns: str, dev: str, ports: Sequence[str] = (), addr: Optional[str] = None) -> str:
        """A bridge DEV in NS over PORTS (devices in NS), up, with ADDR when given."""
        sh("ip", "-n", ns, "link", "add", dev, "type", "bridge")
        for p in ports:
            sh("ip", "-n", ns, "link", "set", p, "master", dev)
        sh("ip", "-n", ns, "link", "set", dev, "up")
        if addr:
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
        return dev

    # ---------------------------------------------------------- processes --
    def helper(self, ns: str, *c: str, **kw) -> subprocess.Popen:
        """Starts C in NS in a session of its own (output discarded unless
        KW says otherwise); close() ends it."""
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(ns_cmd(ns, *c), start_new_session=True, **kw)
        self.helpers.append(p)
        return p

    def py(self, ns: str, code: str, *args: str, **kw) -> subprocess.Popen:
        """A helper running the Python program CODE with ARGS in NS."""
        return self.helper(ns, sys.executable, "-c", code, *args, **kw)

    def qemu(self, cfg: Union[kq.Config, list[str]], out) -> subprocess.Popen:
        """Starts QEMU for CFG (or the command line CFG) through keelqemu,
        output to OUT; close() ends it."""
        cmd = cfg if isinstance(cfg, list) else kq.build_command(cfg).cmd
        p = kq.spawn(cmd, out)
        self.qemus.append(p)
        return p

    def console_guest(self, cfg: kq.Config, tmp: Path, name: str, console: Optional[type] = None,
                      log: Optional[str] = None, wait_for: Sequence[str] = ()):
        """Starts QEMU for CFG with its serial line on the unix socket
        TMP/NAME.sock (the guest waits until it is connected), QEMU's own
        output in TMP/qemu-NAME.log, and connects CONSOLE (a class, default
        test_console.Console) to it once the socket and WAIT_FOR exist.
        close() saves the console's log as build/test-logs/LOG.log when LOG
        is given.  Returns (QEMU's process, the console)."""
        if console is None:
            from test_console import Console as console
        sock = str(tmp / f"{name}.sock")
        cfg.serial = f"unix:{sock},server=on,wait=on"
        out = open(tmp / f"qemu-{name}.log", "wb")
        self.files.append(out)
        p = self.qemu(cfg, out)
        wait_path(sock, *wait_for, tries=200)
        con = console(sock)
        if log:
            self.logs.append((con, log))
        return p, con

    @staticmethod
    def stop(p: subprocess.Popen, grace: float = 0.5) -> None:
        """Ends P, a helper or QEMU of this lab (its process group)."""
        kq.stop(p, grace=grace)

    def close(self) -> None:
        """Ends the helpers, then the QEMUs, then deletes the namespaces."""
        if self.closed:
            return
        self.closed = True
        for p in self.helpers:
            kq.stop(p, grace=0.5)
        for p in self.qemus:
            kq.stop(p)
        for f in self.files:
            f.close()
        for con, name in self.logs:
            kq.LOG_DIR.mkdir(parents=True, exist_ok=True)
            (kq.LOG_DIR / f"{name}.log").write_bytes(bytes(con.log))
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "del", ns, check=False)
        if self in _open_labs:
            _open_labs.remove(self)


# --------------------------------------------------------------------------
# Keel as a router between test hosts
# --------------------------------------------------------------------------

ROUTER_NETS = ["10.9.10", "10.9.11", "10.9.12"]   # NIC i's /24: appliance .1, host .2

# A test host's TCP peer: `sink PORT` answers each connection with the
# sha256 of everything it received; `send HOST PORT MB SEED [CONNECT_TIMEOUT]`
# sends MB MiB of a deterministic stream and prints "ok" when the sink's
# digest matches, "connect-failed ..." or "mismatch ..." otherwise.
STREAM_CODE = r"""
import hashlib, socket, sys, threading
mode = sys.argv[1]
def stream(mb, seed):
    block = hashlib.sha256(seed.encode()).digest() * 2048   # 64 KiB
    for i in range(mb * 16):
        yield bytes([i & 0xff]) + block[1:]
if mode == "sink":
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", int(sys.argv[2]))); srv.listen(8)
    print("ready", flush=True)
    def serve(c):
        h = hashlib.sha256()
        while True:
            d = c.recv(1 << 16)
            if not d:
                break
            h.update(d)
        c.sendall(h.hexdigest().encode()); c.close()
    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
else:
    host, port, mb, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    s = socket.socket(); s.settimeout(float(sys.argv[6]) if len(sys.argv) > 6 else 60)
    try:
        s.connect((host, port))
    except OSError as e:
        print("connect-failed", e, flush=True); sys.exit(1)
    h = hashlib.sha256()
    s.settimeout(300)
    for b in stream(mb, seed):
        h.update(b); s.sendall(b)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = s.recv(100)
        if not d:
            break
        got += d
    print("ok" if got.decode() == h.hexdigest() else f"mismatch {got!r}", flush=True)
"""


class Router(Lab):
    """Keel between test hosts.  QEMU runs in namespace ``q`` and opens one
    tap per NIC there; once it holds them, NIC i's tap moves to host
    namespace ``hosts[i]``, up, with address NETS[i].2/24 and a default
    route via NETS[i].1 (the appliance).  The serial console is a unix
    socket (``con``, a test_console.Console, connected before the guest
    runs).  Names: TAG + "q" | i | i"t" + PID.

    QEMU_EXTRA, ARGS, MEM go to QEMU; WAIT_FOR lists more sockets QEMU
    creates (the console's is waited for always)."""

    def __init__(self, tmp: Path, tag: str, models: Sequence[str], image: Path, *,
                 nets: Sequence[str] = ROUTER_NETS, rng: bool = True, mem: int = 256, args: Sequence[str] = (),
                 qemu_extra: str = "", wait_for: Sequence[str] = ()):
        super().__init__(tag)
        self.tmp = tmp
        self.nets = list(nets)
        self.con = None
        self.q = self.netns(self.name("q"))
        self.hosts = [self.netns(self.name(str(i))) for i in range(len(models))]
        self.taps = [self.tap(self.q, self.name(f"{i}t", dev=True), up=False) for i in range(len(models))]
        extra = " ".join(x for x in ("-device virtio-rng-pci" if rng else "", qemu_extra) if x)
        cfg = kq.Config(boot="direct", accel="auto", nic=",".join(models), taps=self.taps, netns=self.q, mem=mem,
                        qemu_extra=extra, image_dir=image, args=list(args))
        self.proc, self.con = self.console_guest(cfg, tmp, f"console-{tag}", wait_for=wait_for)
        # QEMU holds the taps now: each goes to its host's namespace.
        for i, t in enumerate(self.taps):
            self.move(t, self.q, self.hosts[i], f"{self.nets[i]}.2/24", f"{self.nets[i]}.1")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def sinks(self, ports: Sequence[str] = ("5001", "5002", "5003")) -> None:
        """STREAM_CODE sinks on PORTS in every host."""
        for h in self.hosts:
            for port in ports:
                self.py(h, STREAM_CODE, "sink", port)

    def ping(self, host: int, addr: str, n: int = 2) -> bool:
        return ping(self.hosts[host], addr, n)

    def send(self, src: int, dst: int, port: int, mb: int, connect_timeout: float = 60) -> str:
        """MB MiB from host SRC to host DST's sink on PORT: the sender's verdict."""
        return last_line(ns_py(self.hosts[src], STREAM_CODE, "send", f"{self.nets[dst]}.2", str(port), str(mb),
                               f"{src}-{dst}-{port}", str(connect_timeout), timeout=None))

    def isns(self, port: int, send: Callable[[], str], v6: bool = False) -> tuple[str, list[str], list[str]]:
        """SEND() (a stream from host A to host B's PORT) with a SYN_SNIFFER on
        each of the two hosts' taps: (SEND's verdict, A's [syn, synack], B's
        [syn, synack]), each a sequence number or "None"."""
        sn = [self.py(self.hosts[i], SYN_SNIFFER, self.taps[i], str(port), "20", *(["6"] if v6 else []),
                      stdout=subprocess.PIPE, text=True) for i in (0, 1)]
        for p in sn:
            kq.check(p.stdout.readline().strip() == "ready", "a sniffer did not start")
        r = send()
        seen = [p.stdout.readline().split() for p in sn]
        for p in sn:
            p.wait(25)
        return r, seen[0], seen[1]

    def neigh(self, host: int) -> str:
        return sh("ip", "-n", self.hosts[host], "neigh", check=False).stdout.strip()

    # ------------------------------------------------------------ console --
    def cmd(self, line: str, *expect: str, prompt: str = "fw> ") -> str:
        """Sends LINE; waits for each of EXPECT, then PROMPT; the text since LINE."""
        c = self.con
        start = c.cursor
        c.send(line.encode() + b"\r")
        for e in expect:
            kq.check(c.read_until(e, 30), f"no {e!r} after {line!r}")
        kq.check(c.read_until(prompt, 30), f"no prompt after {line!r}")
        return c.text_since(start)

    def log(self) -> str:
        """The whole console log so far (what arrived is taken in first)."""
        self.con.read_until("\x00never\x00", 0.05)
        return kq.clean_log(bytes(self.con.log).decode(errors="replace"))

    def mark(self) -> int:
        return len(self.log())

    def wait_log(self, pattern: str, timeout: float, since: int = 0) -> Optional[re.Match]:
        """The first match of the regular expression PATTERN in the console
        log beyond character SINCE, within TIMEOUT seconds; None if none."""
        return wait_text(self.log, pattern, timeout, since)

    def servers_ready(self) -> tuple[bool, str]:
        """init's own view (`show tasks`): no server of this boot still starting
        or waiting for a restart, netd and consoled ready."""
        t = self.cmd("show tasks")
        rows = {w[0]: w[1] for w in (ln.split() for ln in t.splitlines()) if len(w) >= 2 and w[0] != "NAME"}
        pending = [n for n, st in rows.items() if st in ("starting", "restarting", "stopped")]
        return (not pending and rows.get("netd") == "ready" and rows.get("consoled") == "ready"), str(rows)

    def boot_ready(self, n_up: int) -> None:
        """The `fw> ` prompt, `keel: ready`, and N_UP interfaces up."""
        kq.check(self.con.read_until("fw> ", 240), "no `fw> ` prompt")
        if not self.wait_log("keel: ready", 120):
            # Under load the serial line can stall and the kernel then drops
            # characters ("[kernel log: N characters lost ...]"): the line may
            # be among them.  init's counters say the same thing without the log.
            lost = "characters lost: the serial line was stalled" in self.log()
            ok, rows = self.servers_ready() if lost else (False, "")
            kq.check(ok, "no `keel: ready`" + (f" (log lines were lost; show tasks: {rows})" if lost else ""))
        for _ in range(60):
            t = self.cmd("show interfaces")
            if t.count(" up ") >= n_up:
                return
            time.sleep(2)
        raise kq.TestFailure(f"show interfaces never listed {n_up} interfaces up: {t!r}")

    def close(self, name: Optional[str] = None) -> None:
        """Lab.close, and the console log saved as build/test-logs/NAME.log."""
        if self.closed:
            return
        if self.con is not None and self.alive():
            self.log()  # what arrived since the last read
        if self.con is not None and name:
            self.logs.append((self.con, name))
        super().close()


# --------------------------------------------------------------------------
# Serial log in a file
# --------------------------------------------------------------------------

class SerialLog:
    """QEMU's serial output in file PATH (serial=file:PATH).  ALIVE, when
    given, says whether the writer still runs: waits end early when not."""

    def __init__(self, path: Union[str, Path], alive: Optional[Callable[[], bool]] = None):
        self.path = Path(path)
        self.alive = alive

    def text(self) -> str:
        try:
            return kq.clean_log(self.path.read_text(errors="replace"))
        except OSError:
            return ""

    def mark(self) -> int:
        """The present end: pass it to wait() to see only later lines."""
        return len(self.text())

    def search(self, pattern: str, since: int = 0) -> Optional[re.Match]:
        return re.search(pattern, self.text()[since:], re.M)

    def wait(self, pattern: str, timeout: float, since: int = 0) -> Optional[re.Match]:
        """The first match of PATTERN (a regular expression, ^ and $ per line)
        beyond character SINCE, waiting up to TIMEOUT seconds; None if none."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and (self.alive is None or self.alive()):
            m = self.search(pattern, since)
            if m:
                return m
            time.sleep(0.2)
        return self.search(pattern, since)


def wait_text(text: Callable[[], str], pattern: str, timeout: float, since: int = 0,
              step: float = 0.05) -> Optional[re.Match]:
    """SerialLog.wait for any source of text (a console's log): the first
    match of PATTERN (^ and $ per line) in TEXT()[SINCE:] within TIMEOUT
    seconds, its positions relative to SINCE; None if none."""
    end = time.monotonic() + timeout
    rx = re.compile(pattern, re.M)
    while time.monotonic() < end:
        m = rx.search(text()[since:])
        if m:
            return m
        time.sleep(step)
    return rx.search(text()[since:])


# --------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------

def base_manifest() -> str:
    """The appliance's manifest (image/manifest): a test's boot set is added
    to the whole of it (its names are scoped to the set, init/manifest.h)."""
    return (REPO / "image" / "manifest").read_text()


def self_signed(site: Path, stem: str, cn: str, key: str = "ec", san: Optional[str] = None,
                days: int = 2) -> None:
    """STEM.key and STEM.crt in SITE: a self-signed certificate for CN with a
    new KEY ("ec": P-256, or e.g. "rsa:2048"); SAN an -addext subjectAltName."""
    newkey = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key == "ec" else [key]
    extra = ["-addext", f"subjectAltName={san}"] if san else []
    sh("openssl", "req", "-x509", "-newkey", *newkey, "-nodes", "-keyout", str(site / f"{stem}.key"),
       "-out", str(site / f"{stem}.crt"), "-days", str(days), "-subj", f"/CN={cn}", *extra)


SiteFile = Union[str, bytes, Path, None]


def make_image(src: Path, dst: Path, conf: Optional[str] = None, files: Mapping[str, SiteFile] = {},
               *, site: Optional[Path] = None, manifest: Optional[str] = None,
               elf_dir: Optional[Path] = None, replace: bool = False) -> Path:
    """A copy of the image SRC at DST whose site.cpio holds appliance.conf =
    CONF (when given) and then FILES in their order: name -> text, bytes, a
    Path to copy, or None for a file already in the site directory.  The site
    directory is SITE (default DST's sibling "DST-site").  With MANIFEST the
    servers archive is rebuilt of that manifest and ELF_DIR's servers (default
    build/user; init is in the kernel's module).  REPLACE: remove an old DST.
    Returns DST."""
    if replace:
        shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    if manifest is not None:
        mf = dst / "manifest"
        mf.write_text(manifest)
        elfs = sorted(str(p) for p in (elf_dir or kq.BUILD / "user").glob("*.elf") if p.name != "init.elf")
        sh(MKCPIO, str(dst / "servers.cpio"), str(mf), *elfs, timeout=None)
        mf.unlink()
    site = site or dst.parent / (dst.name + "-site")
    site.mkdir(parents=True, exist_ok=True)
    names = []
    entries = ([("appliance.conf", conf)] if conf is not None else []) + list(files.items())
    for name, body in entries:
        if isinstance(body, Path):
            shutil.copy(body, site / name)
        elif isinstance(body, bytes):
            (site / name).write_bytes(body)
        elif isinstance(body, str):
            (site / name).write_text(body)
        names.append(str(site / name))
    sh(MKCPIO, str(dst / "site.cpio"), *names, timeout=None)
    return dst


# --------------------------------------------------------------------------
# A suite's main()
# --------------------------------------------------------------------------

def suite_main(stem: str, body: Callable[[kq.Reporter, Path, Path, argparse.Namespace], None],
               mb: Optional[tuple[int, str]] = None,
               precheck: Optional[Callable[[], Optional[str]]] = None) -> int:
    """main() of a suite with --image-dir (and --mb when MB = (default,
    help)): BODY(rep, tmp, image, opts) in a fresh temporary directory, then
    every QEMU killed and the directory removed.  PRECHECK returns why the
    suite cannot run, or None.  Returns the exit status (rep.finish())."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=None)
    if mb is not None:
        ap.add_argument("--mb", type=int, default=mb[0], help=mb[1])
    opts = ap.parse_args()
    why = precheck() if precheck else None
    if why:
        print(f"test_{stem}: {why}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    kq.install_signal_handlers()
    rep = kq.Reporter()
    tmp = Path(tempfile.mkdtemp(prefix=f"keel-{stem}-"))
    image = Path(opts.image_dir or kq.DEFAULT_IMAGE_DIR)
    try:
        body(rep, tmp, image, opts)
    finally:
        kq.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return rep.finish()


# --------------------------------------------------------------------------
# Shared host programs
# --------------------------------------------------------------------------

# A sniffer of TCP SYNs on a device: `DEV FAMILY(4|6) PORT SECONDS` prints
# "syn SRCPORT SEQ" for each SYN (or SYN-ACK) to or from PORT seen within
# SECONDS, then "done".
# Reads the first SYN to PORT and the first SYN+ACK from PORT on interface
# IFACE (both directions: ETH_P_ALL) for up to SECS seconds, IPv4 or, with a
# fourth argument "6", IPv6 with TCP right after the fixed header; prints
# "ready", then their sequence numbers ("None" for one not seen).
# Arguments: IFACE PORT SECS [6].
SYN_SNIFFER = r"""
import socket, struct, sys, time
ifc, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
v6 = len(sys.argv) > 4 and sys.argv[4] == "6"
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((ifc, 0)); s.settimeout(0.3)
print("ready", flush=True)
syn = synack = None
end = time.time() + secs
while time.time() < end and (syn is None or synack is None):
    try:
        f = s.recv(65535)
    except socket.timeout:
        continue
    if v6:
        if len(f) < 74 or f[12:14] != b"\x86\xdd" or f[20] != 6:
            continue
        th = f[54:]
    else:
        if len(f) < 54 or f[12:14] != b"\x08\x00" or f[23] != 6:
            continue
        th = f[14 + (f[14] & 15) * 4:]
    sp, dp, seq = struct.unpack("!HHI", th[:8])
    if th[13] & 0x12 == 0x02 and dp == port and syn is None:
        syn = seq
    if th[13] & 0x12 == 0x12 and sp == port and synack is None:
        synack = seq
print(syn, synack, flush=True)
"""
