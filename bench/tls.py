#!/usr/bin/env python3
"""make bench, the TLS figures of Keel's tlsd (issue 6) and the Keel half of
the TLS pair (issue 8); bench/linux.py uses the same pieces for stunnel4.

    python3 bench/tls.py [--image-dir build/image/tftp] [--runs 3] [--seconds 10] [--bulk-mb 8]

The boot is the appliance's normal one, as `make run` starts it (netd,
keyd, tlsd, virtio-rng, QEMU's user network with DHCP), with this script's
site archive: two listeners with the same backend,

    tls 443 { certificate ec.crt  key ec.key  backend 10.0.2.2:PORT }   ECDSA P-256
    tls 444 { certificate rsa.crt key rsa.key backend 10.0.2.2:PORT }   RSA 2048

(keyd holds both keys), free 127.0.0.1 ports forwarded to 443 and 444, and
the backend a python http.server on the host's 127.0.0.1:PORT (10.0.2.2 in
the guest) serving a BULK-MB file.  The certificates are made here by
openssl, per run.  The suite is fixed by the client: ECDHE-ECDSA- (or
ECDHE-RSA-) AES128-GCM-SHA256, TLS 1.2; the key exchange group is what
client and server agree on from the client's default list (X25519 first);
stunnel is told the same order as tlsd's (X25519, P-256).

Figures (medians of --runs runs; INFO lines: runs, min, max):
  tls_full_handshakes_ecdsa_p256, tls_full_handshakes_rsa2048   handshakes/s
  tls_resumed_handshakes        session tickets, ECDSA listener
  tls13_full_handshakes_ecdsa_p256, tls13_full_handshakes_rsa2048,
  tls13_resumed_handshakes      the same in TLS 1.3 (tickets as PSK, with
                                (EC)DHE); tlsd signs TLS 1.3 through keyd
                                synchronously (appliance/tls/tls_psa.h)
  tls_bulk                      MB/s of a GET of the bulk file through the proxy
  tls_bulk_direct_ceiling       the same GET from the backend directly, no TLS
  tls_*_host_ceiling            the generator against openssl s_server on the
                                host: what the generator can do at most
  tls_min_mem_mib               the smallest -m (MiB, 4 MiB steps) at which the
                                boot serves a GET through TLS (--min-mem)
  tls_full_handshakes_{ecdsa_p256,rsa2048}_{1,2}cpu
                                full TLS 1.2 handshakes with SCALING_CONC
                                connections at once, the guest booted with 1
                                and with 2 vCPUs (issue 18: tlsd's workers per
                                core; stunnel4's threads on Linux)
  tls_full_handshakes_*_scaling the 2-vCPU figure over the 1-vCPU one (ratio)
  tls_concurrent_held           idle TLS connections (each with its backend
                                connection) held open at once before tlsd
                                refuses a new client, in a 256 MiB guest
                                (--concurrent: opened until refused, at most
                                that many); bench/hold.py opens them
  tls_concurrent_new_client_served
                                1 when a new client got its page while
                                CONCURRENT_CHECK connections were held, else 0
  tls_concurrent_mem_per_conn   bytes per idle connection held, tlsd's heap
                                growth plus netd's PCBs and socket table
                                growth, from their statistics lines
  tls_concurrent_mem_kib        the same in all, KiB, for the connections held
                                at the check
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
import importlib.util  # noqa: E402


def _sibling(name: str, file: str):
    """bench/FILE as module NAME, loaded once (another script may have)."""
    mod = sys.modules.get(name)
    if mod is None:
        spec = importlib.util.spec_from_file_location(name, HERE / file)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return mod


tcp = _sibling("bench_tcp", "tcp.py")
hold = _sibling("bench_hold", "hold.py")

CLIENT = str(HERE / "tlsclient.py")
CONCURRENT_CHECK = 4000  # idle connections held when a new client must still be served (issue 14)
CIPHER = {"ecdsa_p256": "ECDHE-ECDSA-AES128-GCM-SHA256", "rsa2048": "ECDHE-RSA-AES128-GCM-SHA256"}
# TLS 1.3 (bench/tlsclient.py: a TLS_ name means TLS 1.3 only; the suite is the server's pick among
# OpenSSL's defaults, reported in the tls_negotiated INFO line).
CIPHER13 = "TLS_AES_128_GCM_SHA256"
GUEST_PORT = {"ecdsa_p256": 443, "rsa2048": 444}
CERT = {"ecdsa_p256": ("ec.crt", "ec.key"), "rsa2048": ("rsa.crt", "rsa.key")}
BULK = "/bulk.bin"
# Handshakes per run at most.  Why: netd's firewall keeps a state per
# connection (two per proxied one: client in, backend out) for 30 s after
# the close (TIME_WAIT), in a table of 4096 that blocks new connections when
# full (net/netd_fw.h); a run of fast resumed handshakes would fill it and
# then measure SYN retransmission.  250 per run keeps all of a boot's runs
# under the limit, so the figures are burst rates of tlsd.
MAX_HANDSHAKES = 250
# Connections at once in the 1- and 2-vCPU runs (the same for both, so the
# ratio is the cores' doing): two per vCPU of the larger guest, enough to
# keep every worker busy while the other connections wait on the network.
SCALING_CONC = 4

CONF = """# bench/tls.py: the normal boot's configuration with two listeners
hostname benchtls
interface wan nic 0 dhcp

pass out keep state
pass in on wan proto icmp keep state
pass in on wan proto tcp to port 443 keep state
pass in on wan proto tcp to port 444 keep state

tls 443 {{
    certificate ec.crt key ec.key
    backend 10.0.2.2:{port}
    max-connections 64
    idle-timeout 60s
}}

tls 444 {{
    certificate rsa.crt key rsa.key
    backend 10.0.2.2:{port}
    max-connections 64
    idle-timeout 60s
}}
"""


def make_certs(d: Path) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for kind, newkey in (("ecdsa_p256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                         ("rsa2048", ["-newkey", "rsa:2048"])):
        crt, key = CERT[kind]
        subprocess.run(["openssl", "req", "-x509", *newkey, "-nodes", "-keyout", str(d / key), "-out", str(d / crt),
                        "-days", "30", "-subj", "/CN=bench", "-addext", "subjectAltName=DNS:bench"],
                       check=True, capture_output=True)


class Backend:
    """python3 http.server on 127.0.0.1:free port, serving DIR with the bulk file."""

    def __init__(self, d: Path, bulk_bytes: int) -> None:
        self.dir = d / "www"
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / BULK.lstrip("/"), "wb") as f:
            block = bytes(range(256)) * 4096
            left = bulk_bytes
            while left:
                f.write(block[:min(left, len(block))])
                left -= min(left, len(block))
        (self.dir / "index.html").write_text("bench backend\n")
        self.bulk_bytes = bulk_bytes
        self.port = tcp.free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
                                      "--directory", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        end = time.monotonic() + 10
        while time.monotonic() < end and not client("plain", "127.0.0.1", self.port, "-", "/index.html").get("ok"):
            time.sleep(0.2)

    def close(self) -> None:
        kq.stop(self.proc)


def client(mode: str, host: str, port: int, cipher: str, arg, timeout: float = 600, most: int = 0,
           conc: int = 0) -> dict:
    cmd = ([sys.executable, CLIENT, mode, host, str(port), cipher, str(arg)]
           + ([str(most)] if most else []) + ([str(conc)] if conc else []))
    return tcp.json_result(cmd, f"tlsclient {mode}", timeout)


def measure_terminator(f, prefix: str, ports: dict[str, int], runs: int, seconds: float, what: str) -> None:
    """The four figures through one terminator; ports: kind -> 127.0.0.1 port."""
    seen: dict = {}

    def hs(kind: str, mode: str, tls13: bool = False) -> Callable[[], dict]:
        """One run of MODE handshakes to the KIND listener, TLS 1.2 (its
        CIPHER) or TLS 1.3 (CIPHER13); what was negotiated goes to seen."""
        def run() -> dict:
            r = client(mode, "127.0.0.1", ports[kind], CIPHER13 if tls13 else CIPHER[kind], seconds,
                       most=MAX_HANDSHAKES)
            if r.get("ok"):
                seen[f"{'tls13_' if tls13 else ''}{kind}_{mode}"] = f"{r.get('version')}/{r.get('cipher')}"
            return r
        return run

    for kind in ("ecdsa_p256", "rsa2048"):
        f.measure(f"{prefix}tls_full_handshakes_{kind}", "handshakes/s", "per_s", runs, hs(kind, "full"),
                  f"full handshakes in sequence for {seconds:g} s or {MAX_HANDSHAKES} handshakes, {CIPHER[kind]}; "
                  f"{what}")
    f.measure(f"{prefix}tls_resumed_handshakes", "handshakes/s", "per_s", runs, hs("ecdsa_p256", "resume"),
              f"resumed (session ticket) handshakes in sequence for {seconds:g} s or {MAX_HANDSHAKES} handshakes, "
              f"ECDSA listener; {what}")
    for kind in ("ecdsa_p256", "rsa2048"):
        f.measure(f"{prefix}tls13_full_handshakes_{kind}", "handshakes/s", "per_s", runs, hs(kind, "full", tls13=True),
                  f"full TLS 1.3 handshakes in sequence for {seconds:g} s or {MAX_HANDSHAKES} handshakes, "
                  f"{'ECDSA' if kind == 'ecdsa_p256' else 'RSA-PSS'} certificate; {what}")
    f.measure(f"{prefix}tls13_resumed_handshakes", "handshakes/s", "per_s", runs,
              hs("ecdsa_p256", "resume", tls13=True),
              f"resumed TLS 1.3 handshakes (ticket as PSK, with ECDHE) in sequence for {seconds:g} s or "
              f"{MAX_HANDSHAKES} handshakes, ECDSA listener; {what}")
    f.measure(f"{prefix}tls_bulk", "MB/s", "mb_per_s", runs,
              lambda: client("bulk", "127.0.0.1", ports["ecdsa_p256"], CIPHER["ecdsa_p256"], BULK),
              f"GET {BULK} through the terminator from the host's backend, {CIPHER['ecdsa_p256']}; {what}")
    if seen:
        print(f"INFO name={prefix}tls_negotiated " + " ".join(f"{k}={v}" for k, v in sorted(seen.items())),
              flush=True)


def measure_scaling(f, prefix: str, boot: Callable[[int], tuple], runs: int, seconds: float, what: str) -> None:
    """Full handshakes with SCALING_CONC connections at once on a guest with
    1 and with 2 vCPUs.  BOOT(n) -> (ports or None, close())."""
    for n in (1, 2):
        ports, close = boot(n)
        try:
            if ports is None:
                print(f"INFO name={prefix}tls_scaling_{n}cpu skipped: the terminator did not serve", flush=True)
                f.failed.append(f"{prefix}tls_scaling_{n}cpu")
                continue
            for kind in ("ecdsa_p256", "rsa2048"):
                f.measure(f"{prefix}tls_full_handshakes_{kind}_{n}cpu", "handshakes/s", "per_s", runs,
                          lambda kind=kind: client("fullpar", "127.0.0.1", ports[kind], CIPHER[kind], seconds,
                                                   most=MAX_HANDSHAKES, conc=SCALING_CONC),
                          f"full handshakes, {SCALING_CONC} connections at once, for {seconds:g} s or "
                          f"{MAX_HANDSHAKES} handshakes, {CIPHER[kind]}; {n} vCPU(s); {what}")
        finally:
            close()
    for kind in ("ecdsa_p256", "rsa2048"):
        one = f.figures.get(f"{prefix}tls_full_handshakes_{kind}_1cpu", {}).get("handshakes/s")
        two = f.figures.get(f"{prefix}tls_full_handshakes_{kind}_2cpu", {}).get("handshakes/s")
        if one and two:
            name = f"{prefix}tls_full_handshakes_{kind}_scaling"
            f.figures[name] = {"ratio": round(two / one, 2)}
            print(f"BENCH name={name} value={two / one:.2f} unit=ratio")
            print(f"INFO name={name} (handshakes/s on 2 vCPUs over 1 vCPU, {SCALING_CONC} connections at once; "
                  f"{what})", flush=True)


def ceilings(f, d: Path, backend: Backend, runs: int, seconds: float) -> None:
    """The backend directly (the bulk ceiling), and the generator against
    openssl s_server on the host (the generator's own limit)."""
    f.measure("tls_bulk_direct_ceiling", "MB/s", "mb_per_s", runs,
              lambda: client("plain", "127.0.0.1", backend.port, "-", BULK),
              f"GET {BULK} from the backend directly, plain HTTP (what the proxy's figure is bounded by)")
    port = tcp.free_port()
    crt, key = CERT["ecdsa_p256"]
    srv = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(d / crt),
                            "-key", str(d / key), "-quiet", "-WWW"], cwd=backend.dir,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(0.5)
        f.measure("tls_full_handshakes_host_ceiling", "handshakes/s", "per_s", runs,
                  lambda: client("full", "127.0.0.1", port, CIPHER["ecdsa_p256"], min(seconds, 3)),
                  "the generator against openssl s_server on the host, ECDSA")
        f.measure("tls_bulk_host_ceiling", "MB/s", "mb_per_s", runs,
                  lambda: client("bulk", "127.0.0.1", port, CIPHER["ecdsa_p256"], BULK),
                  "the generator against openssl s_server -WWW on the host")
    finally:
        kq.stop(srv)


# --------------------------------------------------------------------------
# Keel
# --------------------------------------------------------------------------

def keel_image(src: Path, out: Path, certs: Path, backend_port: int) -> None:
    """A copy of SRC whose keyd holds both keys and whose site archive is CONF."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(src, out)
    text = (REPO / "image" / "manifest").read_text()
    old = "key=edge1.key"
    if old not in text:
        raise SystemExit(f"bench/tls.py: image/manifest's keyd line has no `{old}` to replace")
    manifest = out / "manifest"
    manifest.write_text(text.replace(old, "key=ec.key,key=rsa.key"))
    elfs = sorted(str(p) for p in (kq.BUILD / "user").glob("*.elf") if p.name != "init.elf")
    subprocess.run([str(REPO / "tools" / "mkcpio.sh"), str(out / "servers.cpio"), str(manifest), *elfs], check=True)
    manifest.unlink()
    (certs / "appliance.conf").write_text(CONF.format(port=backend_port))
    subprocess.run([str(REPO / "tools" / "mksite.sh"), str(out / "site.cpio"), str(certs / "appliance.conf"),
                    str(kq.BUILD / "tools" / "conf-check")], check=True, capture_output=True)


def keel_boot(img: Path, name: str, mem: int, accel: str, smp: int = 0) -> tuple[tcp.Guest, dict[str, int], str]:
    ports = {k: tcp.free_port() for k in GUEST_PORT}
    fwd = ",".join(f"tcp:127.0.0.1:{ports[k]}-:{GUEST_PORT[k]}" for k in GUEST_PORT)
    cfg = kq.Config(boot="direct", accel=accel, mem=mem, fwd=fwd, serial=f"file:{kq.LOG_DIR / (name + '.log')}",
                    qemu_extra="-device virtio-rng-pci", image_dir=img, smp=smp)
    plan = kq.build_command(cfg)
    return tcp.Guest(name, plan.cmd), ports, plan.accel


def keel_serving(g: tcp.Guest, timeout: float) -> bool:
    """tlsd serving with netd's DHCP address; False at once when init could
    not start a server (a too small -m says so)."""
    m = g.wait_for(r"tlsd: serving|keel: init: cannot start \S+", timeout)
    if not m or m.group(0).startswith("keel: init: cannot start"):
        return False
    return bool(g.wait_for(r"netd: eth0: up, address 10\.0\.2\.15", 30))


def size_kib(text: str) -> int:
    n, unit = int(text[:-1]), text[-1].upper()
    return n * {"K": 1, "M": 1024, "G": 1024 * 1024}[unit]


def keel_mem_in_use(log: str) -> Optional[tuple[int, int, int]]:
    """(KiB in use, the servers' use, their budgets) at `keel: ready`, from
    init's line (SYS_MEMORY_INFO): the machine's managed memory less its
    free pages, so the kernel, init, the shared regions and what every
    server allocated of its budget (its image, stacks, heaps, page tables)."""
    m = re.search(r"keel: init: memory at ready: servers use (\d+) KiB of budgets of (\d+) KiB; the machine has "
                  r"(\d+) KiB free of (\d+) KiB", log)
    if not m:
        return None
    return int(m.group(4)) - int(m.group(3)), int(m.group(1)), int(m.group(2))


def keel_mem_committed(log: str) -> Optional[tuple[int, int, int]]:
    """(committed KiB, the kernel's share, the servers' budgets) once ready:
    what the kernel took before init (managed - handed out) plus the memory
    budget (image/manifest `memory`) of every server init started.  An upper
    bound of what is in use: a budget is a limit, not pages touched."""
    m1 = re.search(r"keel: memory: (\d+) KiB free of (\d+) KiB managed", log)
    m2 = re.search(r"keel: init started: .*?(\d+) KiB of memory to hand out", log)
    if not (m1 and m2):
        return None
    budgets = {}
    for line in (REPO / "image" / "manifest").read_text().splitlines():
        w = line.split("#", 1)[0].split()
        if w[:1] == ["server"] and "memory" in w:
            # `memory MIN-MAX`: init grants MAX, or less on a small machine
            # (then it logs what it granted, read below).
            budgets[w[1]] = size_kib(w[w.index("memory") + 1].split("-")[-1])
    for name, kib in re.findall(r"keel: init: (\S+): memory (\d+) KiB of its \d+-\d+ KiB", log):
        budgets[name] = int(kib)
    started = re.findall(r"keel: init: started (\S+) ", log)
    servers = sum(budgets.get(n, 0) for n in started)
    kernel = int(m1.group(2)) - int(m2.group(1))
    return kernel + servers, kernel, servers


def serves_get(ports: dict[str, int], tries: int = 5) -> bool:
    for _ in range(tries):
        if client("bulk", "127.0.0.1", ports["ecdsa_p256"], CIPHER["ecdsa_p256"], "/index.html", 60).get("ok"):
            return True
        time.sleep(1)
    return False


def report(f, name: str, value, unit: str, info: str) -> None:
    """Figure NAME = VALUE UNIT kept in F, and its BENCH and INFO lines."""
    f.figures[name] = {unit: value}
    print(f"BENCH name={name} value={value} unit={unit}")
    print(f"INFO name={name} {info}", flush=True)


def report_min_mem(f, name: str, mm: Optional[int], through: str, accel: str, count_failure: bool) -> None:
    """The BENCH and INFO lines of a least-memory bisection by min_mem(serves,
    4, 256) (MM, None if it found none), the figure kept in F; a failure is
    one of F's failures when COUNT_FAILURE."""
    if mm is None:
        print(f"INFO name={name} failed: no -m up to 256 MiB served TLS", flush=True)
        if count_failure:
            f.failed.append(name)
        return
    report(f, name, mm, "MiB", f"step_mib=4 (bisection: boot with -m N, then a GET through {through}; accel={accel})")


def min_mem(serves: Callable[[int], bool], lo: int, hi: int, step: int = 4) -> Optional[int]:
    """The smallest multiple of STEP in (lo, hi] at which serves() holds,
    assuming it holds from there up; None if not even at HI."""
    if not serves(hi):
        return None
    while hi - lo > step:
        mid = (lo + hi) // 2 // step * step
        if mid <= lo:
            mid = lo + step
        if serves(mid):
            hi = mid
        else:
            lo = mid
    return hi


def keel_min_mem(img: Path, accel: str) -> Optional[int]:
    def serves(mem: int) -> bool:
        g, ports, _ = keel_boot(img, f"bench-keel-tls-mem{mem}", mem, accel)
        try:
            ok = keel_serving(g, 120) and serves_get(ports)
            print(f"INFO name=tls_min_mem_probe mem_mib={mem} serves={'yes' if ok else 'no'}", flush=True)
            return ok
        finally:
            g.close()
    return min_mem(serves, 4, 256)


BOOT_PATHS = {"direct": "-kernel", "pxe": "SeaBIOS + iPXE + TFTP",
              "uefi_pxe": "OVMF + the NIC ROM's iPXE UEFI build + TFTP, keel.efi"}


def keel_boot_times(f, img: Path, runs: int, accel_req: str) -> None:
    """QEMU start to `tlsd: serving` (the proxy accepts; DHCP done), through
    the direct boot, through PXE and through UEFI PXE, serial lines stamped on arrival
    (bench/linux.py's clock)."""
    spec = importlib.util.spec_from_file_location("bench_linux", HERE / "linux.py")
    lx = sys.modules.get("bench_linux")
    if lx is None:
        lx = importlib.util.module_from_spec(spec)
        sys.modules["bench_linux"] = lx
        spec.loader.exec_module(lx)
    for how in ("direct", "pxe", "uefi_pxe"):
        name = f"boot_{how}_to_tls_serving"
        t, accel = [], "?"
        for i in range(runs):
            # uefi_pxe: OVMF and the NIC ROM's iPXE UEFI build, which loads keel.efi
            cfg = kq.Config(boot="pxe" if how == "uefi_pxe" else how, firmware="uefi" if how == "uefi_pxe" else "bios",
                            accel=accel_req, serial="stdio", qemu_extra="-device virtio-rng-pci", image_dir=img)
            plan = kq.build_command(cfg)
            accel = plan.accel
            r = lx.timed_boot(f"bench-keel-tls-boot-{how}-{i}", plan.cmd, plan.accel,
                              ["keel: ready", "tlsd: serving"], timeout=180,
                              fail_on=["keel: PANIC", "KVM internal error"])
            if "tlsd: serving" not in r.marks:
                print(f"INFO name={name} failed: log {kq.rel(r.log_path)}", flush=True)
                f.failed.append(name)
                break
            t.append(r.marks["tlsd: serving"])
        if len(t) != runs or not t:
            continue
        med = statistics.median(t) * 1000
        f.figures[name] = {"ms": round(med)}
        print(f"BENCH name={name} value={med:.0f} unit=ms")
        print(f"INFO name={name} runs={len(t)} min_ms={min(t) * 1000:.0f} max_ms={max(t) * 1000:.0f} "
              f"accel={accel} clock=host_monotonic (QEMU start to `tlsd: serving`, the normal boot: netd with "
              f"DHCP, keyd, tlsd; {BOOT_PATHS[how]})", flush=True)


def keel_concurrent(f, src: Path, work: Path, accel_req: str, most: int) -> None:
    """tls_concurrent_*: a 256 MiB guest (the normal boot, bench/hold.py's
    capacity_image: max-connections above tlsd's own limit) holds idle TLS
    connections opened from here, CONCURRENT_CHECK of them first (a new
    client must be served then, and the memory is read), then more until
    tlsd refuses or MOST are held."""
    hold.raise_nofile(4 * most + 512)
    backend = hold.HoldBackend()
    img = work / "tftp-concurrent"
    hold.capacity_image(src, img, work / "site-concurrent", backend.port, max_conns=min(65535, most + 100), stats_s=5)
    port = tcp.free_port()
    cfg = kq.Config(boot="direct", accel=accel_req, mem=256, fwd=f"tcp:127.0.0.1:{port}-:443",
                    serial=f"file:{kq.LOG_DIR / 'bench-keel-tls-concurrent.log'}",
                    qemu_extra="-device virtio-rng-pci", image_dir=img)
    plan = kq.build_command(cfg)
    g = tcp.Guest("bench-keel-tls-concurrent", plan.cmd)
    held: list = []
    try:
        def first_served() -> bool:
            for _ in range(10):
                if hold.fetch("127.0.0.1", port)[0]:
                    return True
                time.sleep(2)
            return False

        if not (g.wait_for(r"tlsd: serving", 300) and g.wait_for(r"netd: eth0: up", 60) and first_served()):
            print(f"INFO name=tls_concurrent_held skipped: tlsd did not serve; log {kq.rel(g.log)}", flush=True)
            f.failed.append("tls_concurrent_held")
            return

        def line(parse, timeout: float = 30):
            at, end = len(g.text()), time.monotonic() + timeout
            while time.monotonic() < end:
                got = parse(g.text()[at:])
                if got:
                    return got
                time.sleep(0.5)
            return None

        t0, n0 = line(hold.tlsd_memory), line(hold.netd_memory)

        def progress(n: int, refused: int, secs: float) -> None:
            print(f"# tls_concurrent: {n} held, {refused} refused, {secs:.0f} s", flush=True)

        first = min(CONCURRENT_CHECK, most)
        held, refused, info = hold.open_held("127.0.0.1", port, first, conc=32, handshake_s=120, progress=progress)
        if len(held) < first:  # a few reset on the way in (QEMU's user network under load): top up
            more, r, i = hold.open_held("127.0.0.1", port, first - len(held), conc=8, handshake_s=120)
            held += more
            refused += r
            info["seconds"] += i["seconds"]
            info["errors"].update(i["errors"])
        held_at_check = len(held)
        served, why = hold.fetch("127.0.0.1", port)
        t1 = n1 = None
        end = time.monotonic() + 60
        while time.monotonic() < end:  # every idle connection parked (after a second without traffic)
            t1 = line(hold.tlsd_memory)
            if not t1 or t1["parked"] >= len(held):
                break
        n1 = line(hold.netd_memory)
        more, refused2, info2 = hold.open_held("127.0.0.1", port, max(0, most - len(held)), conc=32,
                                               handshake_s=120, stop_after_refused=20, progress=progress)
        held += more
        total = len(held)
        report(f, "tls_concurrent_held", total, "connections",
               f"max={most} refused_at_the_end={refused2} first_phase={first} refused_in_first_phase={refused} "
               f"seconds={info['seconds'] + info2['seconds']:.0f} errors={dict(info['errors'], **info2['errors'])} "
               f"backend_held={backend.peak} accel={plan.accel} log={kq.rel(g.log)} (256 MiB guest, idle TLS "
               f"connections each with its backend connection, opened until tlsd refused)")
        report(f, "tls_concurrent_new_client_served", 1 if served else 0, "bool",
               f"held={held_at_check} detail={why[:60]!r}")
        if t0 and t1 and n0 and n1 and t1["conns"] > t0["conns"]:
            per = hold.per_conn_bytes(t0, t1, n0, n1, t1["conns"] - t0["conns"])
            report(f, "tls_concurrent_mem_per_conn", round(per["total"]), "bytes",
                   f"tlsd={per['tlsd']:.0f} netd={per['netd']:.0f} conns={t1['conns']} parked={t1['parked']} "
                   f"tlsd_heap_kib={t0['heap_kib']}->{t1['heap_kib']} tlsd_slots_kib={t1['slots_kib']} "
                   f"netd_pcbs={n0['pcbs']}->{n1['pcbs']}x{n1['pcb_bytes']} "
                   f"netd_table_kib={n0['table_kib']}->{n1['table_kib']} (tlsd's heap and netd's PCBs and socket "
                   f"table, per idle connection held)")
            report(f, "tls_concurrent_mem_kib", round(per["total"] * (t1["conns"] - t0["conns"]) / 1024), "KiB",
                   f"conns={t1['conns'] - t0['conns']} (the memory the held connections take, tlsd and netd)")
        else:
            print(f"INFO name=tls_concurrent_mem_per_conn skipped: statistics lines missing ({t0} {t1} {n0} {n1})",
                  flush=True)
    finally:
        hold.close_all(held)
        g.close()
        backend.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image-dir", default=str(kq.DEFAULT_IMAGE_DIR))
    ap.add_argument("--accel", default="auto")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10, help="seconds of each handshake run")
    ap.add_argument("--bulk-mb", type=int, default=8)
    ap.add_argument("--min-mem", action="store_true", help="also bisect the smallest -m that serves TLS")
    ap.add_argument("--boot-runs", type=int, default=3, help="boots timed to `tlsd: serving`")
    ap.add_argument("--scaling-runs", type=int, default=3,
                    help="runs of each 1- and 2-vCPU handshake figure (0: none)")
    ap.add_argument("--only-scaling", action="store_true", help="the 1- and 2-vCPU figures only")
    ap.add_argument("--concurrent", type=int, default=4200,
                    help="tls_concurrent_held: idle TLS connections to open at most (0: skip)")
    ap.add_argument("--only-concurrent", action="store_true", help="the tls_concurrent_* figures only")
    ap.add_argument("--json", default="")
    ns = ap.parse_args(argv)
    f = tcp.Figures()
    work = Path(tempfile.mkdtemp(prefix="bench-tls-", dir=kq.BUILD))
    certs = work / "site"
    make_certs(certs)
    backend = Backend(work, ns.bulk_mb * 1000 * 1000)
    accel = "?"
    try:
        img = work / "tftp"
        keel_image(Path(ns.image_dir), img, certs, backend.port)
        if ns.concurrent:
            keel_concurrent(f, Path(ns.image_dir), work, ns.accel, ns.concurrent)
        if ns.only_concurrent:
            pass
        elif ns.scaling_runs:
            got_accel: list[str] = []

            def boot(n: int) -> tuple:
                g, ports, acc = keel_boot(img, f"bench-keel-tls-{n}cpu", 256, ns.accel, smp=n)
                got_accel.append(acc)
                ok = keel_serving(g, 300) and serves_get(ports)
                if ok:
                    m = re.search(r"tlsd: serving, .*?(\d+) worker\(s\)", g.text())
                    print(f"INFO name=keel_tls_{n}cpu workers={m.group(1) if m else '?'} log={kq.rel(g.log)}",
                          flush=True)
                return (ports if ok else None), g.close
            measure_scaling(f, "", boot, ns.scaling_runs, ns.seconds, "Keel tlsd (a worker per vCPU, keyd "
                            "threads=2)")
            accel = got_accel[0] if got_accel else accel
        if not ns.only_scaling and not ns.only_concurrent:
            ceilings(f, certs, backend, ns.runs, ns.seconds)
            g, ports, accel = keel_boot(img, "bench-keel-tls", 256, ns.accel)
            try:
                if not (keel_serving(g, 180) and serves_get(ports)):
                    print(f"INFO name=keel_tls skipped: tlsd did not serve; log {kq.rel(g.log)}", flush=True)
                    f.failed.append("keel_tls")
                else:
                    print(f"INFO name=keel_tls accel={accel} log={kq.rel(g.log)}", flush=True)
                    mu = keel_mem_in_use(g.text())
                    if mu:
                        report(f, "mem_in_use_at_ready", mu[0], "KiB",
                               f"servers_used_kib={mu[1]} servers_budgets_kib={mu[2]} (the normal boot serving TLS, "
                               f"at `keel: ready`: managed memory less free pages, from init's SYS_MEMORY_INFO line)")
                    mc = keel_mem_committed(g.text())
                    if mc:
                        report(f, "mem_committed_at_ready", mc[0], "KiB",
                               f"kernel_kib={mc[1]} server_budgets_kib={mc[2]} (the normal boot serving TLS: what the "
                               f"kernel took before init, plus the manifest's memory budget of every server started; "
                               f"an upper bound of memory in use)")
                    measure_terminator(f, "", ports, ns.runs, ns.seconds, f"Keel tlsd, accel={accel}")
            finally:
                g.close()
            if ns.boot_runs:
                keel_boot_times(f, img, ns.boot_runs, ns.accel)
            if ns.min_mem:
                report_min_mem(f, "tls_min_mem_mib", keel_min_mem(img, ns.accel), "TLS", accel, count_failure=True)
    finally:
        backend.close()
        shutil.rmtree(work, ignore_errors=True)
    if ns.json:
        Path(ns.json).write_text(json.dumps({"figures": f.figures, "best": f.best, "accel": accel,
                                             "failed": f.failed}, indent=1) + "\n")
    return 1 if f.failed else 0


if __name__ == "__main__":
    sys.exit(main())
