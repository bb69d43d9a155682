#!/usr/bin/env python3
"""make bench, the Linux side: Debian's kernel on the same QEMU as Keel.

    python3 bench/linux.py [--keel build/bench/keel.json] [--boot-runs 3]

Builds the guest (bench/linux/fetch-kernel.sh: Debian's linux-image package,
unpacked into build/linux/; bench/linux/mkinitramfs.sh: our static /init,
bench/linux/init.c, and the NIC's modules), boots it with Keel's QEMU settings
(the same -machine, -cpu, -m, NIC model, one vCPU, accelerator), and prints

    BENCH name=linux_... value=... unit=...     the Linux figures
    INFO  ...                                    runs, min/max, clock, accelerator
    RATIO name=... keel=... linux=... unit=... keel_over_linux=...

one RATIO line per pair, when Keel's figures of the same `make bench` run are
given (--keel: the JSON file bench/run.py writes before it calls this script).

The accelerator: a pair is only meaningful when both sides ran under the
same one.  KVM is tried for Linux on every run (the host may change); on this
host Debian's kernel does not boot under the paravirtual KVM, and Keel's user
space cannot run under it either, so both sides run under TCG and every line
says so.  TCG figures are emulation figures: read the ratios, not the
absolute values, and compare them only within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "qemu"))
import keelqemu as kq  # noqa: E402
import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_tcp", HERE / "tcp.py")
tcp = importlib.util.module_from_spec(_spec)
sys.modules["bench_tcp"] = tcp
_spec.loader.exec_module(tcp)

LINUX_DIR = kq.BUILD / "linux"
KERNEL = LINUX_DIR / "kernel" / "vmlinuz"
PACKAGE = LINUX_DIR / "kernel" / "package"
NIC_MODULES = {"virtio": ["virtio_pci", "virtio_net"], "e1000": ["e1000"], "e1000e": ["e1000e"]}
# `quiet`: Debian's default kernel command line (what a deployed VM boots
# with); panic=-1: a panic ends QEMU (-no-reboot) instead of hanging.
APPEND = "console=ttyS0 quiet panic=-1"
INIT_UP = "linux: init up"
READY = "linux: ready"
DONE = "linux: done"
LINE = re.compile(r"^(BENCH|INFO) .*$")
BENCH_RE = re.compile(r"^BENCH name=(\S+) value=(\S+) unit=(\S+)")
# The fastest run of a figure, from its INFO line (min_cycles=, min_ms=).
MIN_RE = re.compile(r"^INFO name=(\S+) .*?\bmin_(cycles|ms)=(\d+)", re.M)


# --------------------------------------------------------------------------
# Timed boots: serial on QEMU's stdout, each line stamped as it arrives
# --------------------------------------------------------------------------

@dataclass
class TimedBoot:
    lines: list[tuple[float, str]]          # (seconds since QEMU started, line)
    marks: dict[str, float]                 # marker -> seconds to its first line
    status: Optional[int]                   # QEMU's exit status; None if killed
    timed_out: bool
    kvm_error: bool
    accel: str
    cmd: list[str]
    log_path: Path
    duration: float = 0.0
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(l for _, l in self.lines)

    def last_line(self) -> str:
        for _, l in reversed(self.lines):
            if l.strip() and not l.startswith("qemu-system"):
                return l.strip()
        return ""


def timed_boot(name: str, cmd: list[str], accel: str, markers: Sequence[str], *,
               stop_after: Sequence[str] = (), timeout: float = 120.0,
               fail_on: Sequence[str] = ("Kernel panic", "KVM internal error")) -> TimedBoot:
    """Run QEMU (whose -serial must be `stdio`) and stamp every line of its
    output with the time since the process was started.  Stops when QEMU
    exits, when every marker and any of `stop_after` (if given) have been
    seen, on a `fail_on` text, or after `timeout` seconds.  The log goes to
    build/test-logs/NAME.log as `+SECONDS line`."""
    kq.install_signal_handlers()
    kq.LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = kq.LOG_DIR / f"{name}.log"
    lines: list[tuple[float, str]] = []
    marks: dict[str, float] = {}
    lock = threading.Lock()
    t0 = time.monotonic()
    proc = kq.spawn(cmd, subprocess.PIPE)

    def reader() -> None:
        for raw in iter(proc.stdout.readline, b""):
            t = time.monotonic() - t0
            line = kq.clean_log(raw.decode("utf-8", "replace")).rstrip("\r\n")
            with lock:
                lines.append((t, line))
                for m in markers:
                    if m not in marks and m in line:
                        marks[m] = t
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    timed_out = kvm_error = False
    status = None
    try:
        while True:
            rc = proc.poll()
            with lock:
                text = "\n".join(l for _, l in lines)
                seen = all(m in marks for m in markers)
            if rc is not None:
                th.join(timeout=5)
                status = rc
                break
            if kq.KVM_ERROR_RE.search(text):
                kvm_error = True
                break
            if any(f in text for f in fail_on):
                time.sleep(0.3)              # the rest of the message
                break
            if seen and (not stop_after or any(s in text for s in stop_after)):
                break
            if time.monotonic() - t0 > timeout:
                timed_out = True
                break
            time.sleep(0.005)
    finally:
        kq.stop(proc)
        th.join(timeout=5)
    duration = time.monotonic() - t0
    with lock:
        out = list(lines)
    log_path.write_text("".join(f"+{t:8.3f} {l}\n" for t, l in out))
    return TimedBoot(out, dict(marks), status, timed_out,
                     kvm_error or bool(kq.KVM_ERROR_RE.search("\n".join(l for _, l in out))),
                     accel, cmd, log_path, duration)


# --------------------------------------------------------------------------
# The guest
# --------------------------------------------------------------------------

def build_guest(nic: str) -> tuple[Path, str]:
    """(initramfs path, 'PACKAGE VERSION SHA256') - fetched/built if needed."""
    subprocess.run([str(HERE / "linux" / "fetch-kernel.sh")], check=True)
    initrd = LINUX_DIR / f"initramfs-{nic}.cpio.gz"
    subprocess.run([str(HERE / "linux" / "mkinitramfs.sh"), str(initrd)] + NIC_MODULES[nic], check=True)
    return initrd, PACKAGE.read_text().strip()


def pxe_root(initrd: Path, mode: str, append: str = "", efi: bool = False) -> Path:
    """A TFTP root for QEMU's user network: the kernel, the initramfs and a
    boot.ipxe that loads them (Debian's iPXE ROM, as for Keel's PXE boot).
    With `efi`, iPXE's UEFI build starts the kernel's EFI stub, which reads
    the initramfs named by `initrd=` from the file system iPXE gives it (as
    keel.efi reads its modules)."""
    root = LINUX_DIR / f"tftp-{initrd.name.split('.')[0]}-{mode}{'-efi' if efi else ''}"
    root.mkdir(parents=True, exist_ok=True)
    for name, target in (("vmlinuz", KERNEL), ("initramfs.gz", initrd)):
        link = root / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target.resolve())
    stub = "initrd=initramfs.gz " if efi else ""
    (root / "boot.ipxe").write_text(f"#!ipxe\nkernel vmlinuz {stub}{APPEND} keelbench={mode}"
                                    f"{' ' + append if append else ''}\n"
                                    f"initrd initramfs.gz\nboot\n")
    return root


def qemu_command(accel: str, cpu: str, *, machine: str, mem: int, nic: str, initrd: Path,
                 mode: str, boot: str = "direct", netdev: str = "user,id=n0", append: str = "",
                 serial: str = "stdio", firmware: str = "bios", netdev1: str = "", smp: int = 1) -> list[str]:
    """Keel's QEMU settings (tests/qemu/keelqemu.py build_command) with
    Debian's kernel and our initramfs instead of Keel's image: the same
    -machine, -cpu, -m, one vCPU (QEMU's default), the same NIC model on
    user networking with the same MAC, isa-debug-exit; `pxe` boots through
    SeaBIOS and Debian's iPXE ROM from QEMU's TFTP server, as Keel's does."""
    if boot == "pxe":
        root = pxe_root(initrd, mode, append, efi=firmware == "uefi")
        netdev += f",tftp={kq.rel(root)},bootfile=boot.ipxe"
    accel_arg = accel + (",thread=multi" if accel == "tcg" and smp > 1 else "")  # as keelqemu.py does
    cmd = [kq.QEMU, "-accel", accel_arg, "-cpu", cpu, "-machine", machine, "-m", str(mem),
           "-smp", str(smp), "-display", "none", "-nodefaults", "-no-reboot", *kq.DEBUG_EXIT,
           "-serial", serial,
           "-netdev", netdev, "-device", f"{kq.NIC_MODELS[nic]},netdev=n0,mac=52:54:00:12:34:56"]
    if netdev1:  # a second NIC of the same model (eth1): the forwarding pair
        cmd += ["-netdev", netdev1, "-device", f"{kq.NIC_MODELS[nic]},netdev=n1,mac=52:54:00:12:34:57"]
    if boot == "pxe" and firmware == "uefi":
        return cmd + ["-bios", str(kq.OVMF_FD), "-boot", "n"]    # OVMF's console is COM1 already
    if boot == "pxe":
        return cmd + ["-device", "sga", "-boot", "n"]
    return cmd + ["-kernel", kq.rel(KERNEL), "-initrd", kq.rel(initrd),
                  "-append", f"{APPEND} keelbench={mode}{' ' + append if append else ''}"]


SERVING = "linux: serving"


def linux_tcp(f, accel: str, cpu: str, *, machine: str, mem: int, nic: str, initrd: Path,
              runs: int, nbytes: int, conns: int) -> None:
    """The Linux halves of the TCP pairs (bench/tcp.py has Keel's): the
    guest with `keelbench=serve` (bench/linux/init.c: echo on 7, the sink on
    9), the same generators, through a tap in a namespace and through QEMU's
    user network with a free 127.0.0.1 port forwarded to 9."""
    ns = tcp.Namespaces("x", lan=False)
    g = None
    try:
        cmd = ["ip", "netns", "exec", ns.wan] + qemu_command(
            accel, cpu, machine=machine, mem=mem, nic=nic, initrd=initrd, mode="serve",
            netdev="tap,id=n0,ifname=ktap0,script=no,downscript=no", append="keelip=10.9.0.2/24",
            serial=f"file:{kq.LOG_DIR / 'bench-linux-tcp-tap.log'}")
        g = tcp.Guest("bench-linux-tcp-tap", cmd)
        if not g.wait_for(SERVING, 180):
            print(f"INFO name=linux_tcp_tap skipped: no `{SERVING}`; log {kq.rel(g.log)}", flush=True)
            f.failed.append("linux_tcp_tap")
        else:
            f.measure("linux_tcp_sink_tap", "MB/s", "mb_per_s", runs,
                      lambda: tcp.client(ns.wan, "sink", "10.9.0.2", "9", str(nbytes)),
                      f"{nbytes} bytes from a namespace over a tap into init's sink; accel={accel}")
            f.measure("linux_tcp_conns_per_s_tap", "conn/s", "per_s", runs,
                      lambda: tcp.client(ns.wan, "conns", "10.9.0.2", "7", str(conns)),
                      f"{conns} connections opened and closed in sequence to init's echo port; accel={accel}")
    finally:
        if g:
            g.close()
        ns.close()
    port = tcp.free_port()
    cmd = qemu_command(accel, cpu, machine=machine, mem=mem, nic=nic, initrd=initrd, mode="serve",
                       netdev=f"user,id=n0,hostfwd=tcp:127.0.0.1:{port}-:9",
                       append="keelip=10.0.2.15/24 keelgw=10.0.2.2",
                       serial=f"file:{kq.LOG_DIR / 'bench-linux-tcp-user.log'}")
    g = tcp.Guest("bench-linux-tcp-user", cmd)
    try:
        if not g.wait_for(SERVING, 180):
            print(f"INFO name=linux_tcp_user skipped: no `{SERVING}`; log {kq.rel(g.log)}", flush=True)
            f.failed.append("linux_tcp_user")
            return
        f.measure("linux_tcp_sink_user", "MB/s", "mb_per_s", runs,
                  lambda: tcp.client("", "sink", "127.0.0.1", str(port), str(nbytes)),
                  f"{nbytes} bytes through QEMU's user network (hostfwd) into init's sink; accel={accel}")
    finally:
        g.close()


FORWARDING = "linux: forwarding"
NFT_CONF = "etc/nft-bench.conf"
NFT_MODULES = ["crc32c_generic", "nf_tables", "nft_ct", "nf_conntrack"]


def nft_ruleset() -> str:
    """The Linux twin of bench/tcp.py's rules_conf(tap=True): tcp.N_RULES
    rules in the forward chain, connection tracking as pf's `keep state`
    (the state rule first: an established flow's packets never walk the
    rest, as a Keel state never does), then the filler, then the rules the
    traffic needs; anything else is dropped (the policy, as Keel's
    default block)."""
    needed = ["ct state established,related accept",
              'iifname "eth1" ct state new accept',                       # pass out keep state
              "ip protocol icmp accept",
              f'iifname "eth0" ip daddr 10.9.1.1 tcp dport {tcp.IPERF_PORT} ct state new accept']
    filler = [f'iifname "eth0" ip daddr 10.9.1.{1 + i % 3} tcp dport {20000 + i} ct state new accept'
              for i in range(tcp.N_RULES - len(needed))]
    rules = [needed[0]] + filler + needed[1:]
    assert len(rules) == tcp.N_RULES
    body = "\n".join(f"\t\t{r}" for r in rules)
    return ("# bench/linux.py: the forwarding pair's ruleset (nftables, connection tracking)\n"
            "flush ruleset\n"
            "table inet bench {\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n"
            f"{body}\n\t}}\n}}\n")


def binary_tree(binary: Path, root: Path) -> list[str]:
    """BINARY and every shared library ldd resolves for it (and the loader),
    copied under ROOT at their own paths; returns the host packages they
    came from ("PACKAGE VERSION")."""
    files = [binary]
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    if "not found" in out:
        raise SystemExit(f"linux.py: {binary} needs libraries this machine lacks:\n{out}")
    for line in out.splitlines():
        w = line.split()
        path = w[2] if len(w) >= 3 and w[1] == "=>" else w[0] if w and w[0].startswith("/") else ""
        if path.startswith("/"):
            files.append(Path(path))
    pkgs = set()
    for f in files:
        dst = root / str(f).lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f.resolve(), dst)
        q = subprocess.run(["dpkg", "-S", str(f)], capture_output=True, text=True)
        if q.returncode != 0 and not str(f).startswith("/usr"):
            q = subprocess.run(["dpkg", "-S", "/usr" + str(f)], capture_output=True, text=True)
        if q.returncode == 0:
            pkgs.add(q.stdout.split(":")[0])
    return sorted(subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Version}", p], capture_output=True,
                                 text=True).stdout for p in pkgs)


def fwd_initramfs(nic: str, root: Path) -> tuple[Path, list[str]]:
    """The guest's initramfs plus the host's nft (Debian's nftables, in the
    Makefile's PACKAGES) with its libraries, the ruleset, and the netfilter
    modules (bench/linux/fetch-kernel.sh keeps them)."""
    nft = Path("/usr/sbin/nft")
    if not nft.exists():
        raise SystemExit("linux.py: /usr/sbin/nft not found (Debian's nftables: make packages)")
    pkgs = binary_tree(nft, root)
    (root / NFT_CONF).parent.mkdir(parents=True, exist_ok=True)
    (root / NFT_CONF).write_text(nft_ruleset())
    initrd = LINUX_DIR / f"initramfs-{nic}-fwd.cpio.gz"
    env = dict(os.environ, INITRAMFS_EXTRA=str(root))
    subprocess.run([str(HERE / "linux" / "mkinitramfs.sh"), str(initrd)] + NIC_MODULES[nic] + NFT_MODULES,
                   check=True, env=env)
    return initrd, pkgs


def linux_fwd(f, accel: str, cpu: str, *, machine: str, mem: int, nic: str, runs: int, seconds: int) -> None:
    """The Linux half of the forwarding pair (fwd_tcp_tap; Keel's is
    bench/tcp.py's fw_forward_100rules): the guest with two NICs on taps,
    wan 10.9.0.1 - eth0 10.9.0.2 / eth1 10.9.1.2 - lan 10.9.1.1, routing
    with IPv4 forwarding and nftables (tcp.N_RULES rules, conntrack), and
    the same iperf3 run from the wan namespace to the lan one."""
    work = Path(tempfile.mkdtemp(prefix="bench-linux-fwd-", dir=kq.BUILD))
    ns = tcp.Namespaces("f", lan=True)
    g = None
    try:
        initrd, pkgs = fwd_initramfs(nic, work / "root")
        print(f"INFO name=linux_fwd nft=\"{', '.join(p for p in pkgs if p.startswith(('nftables', 'libnftables')))}\" "
              f"rules={tcp.N_RULES} initramfs_bytes={initrd.stat().st_size}", flush=True)
        tap = "tap,id=n{i},ifname=ktap{i},script=no,downscript=no"
        cmd = ["ip", "netns", "exec", ns.wan] + qemu_command(
            accel, cpu, machine=machine, mem=mem, nic=nic, initrd=initrd, mode="forward",
            netdev=tap.format(i=0), netdev1=tap.format(i=1), append="keelip=10.9.0.2/24 keelip1=10.9.1.2/24",
            serial=f"file:{kq.LOG_DIR / 'bench-linux-fwd-tap.log'}")
        g = tcp.Guest("bench-linux-fwd-tap", cmd)
        time.sleep(1.0)
        ns.move_lan()
        if not g.wait_for(FORWARDING, 180):
            print(f"INFO name=linux_fwd_tcp_tap skipped: no `{FORWARDING}`; log {kq.rel(g.log)}", flush=True)
            f.failed.append("linux_fwd_tcp_tap")
            return
        tcp.sh("ip", "netns", "exec", ns.wan, "ping", "-c", "2", "-W", "5", "10.9.1.1", check=False)
        # The rules are in force: a port no rule passes gets no answer at all
        # (dropped), where an open forward path would bring the lan host's RST.
        probe = tcp.sh("ip", "netns", "exec", ns.wan, sys.executable, "-c",
                       "import socket,sys\ntry: socket.create_connection(('10.9.1.1', 22), timeout=3)\n"
                       "except socket.timeout: sys.exit(0)\nexcept OSError: sys.exit(1)\nsys.exit(1)", check=False)
        print(f"INFO name=linux_fwd_rules_enforced value={'yes' if probe.returncode == 0 else 'no'} "
              f"(a SYN to lan port 22, which no rule passes, is dropped)", flush=True)
        if probe.returncode != 0:
            f.failed.append("linux_fwd_rules_enforced")
        f.measure("linux_fwd_tcp_tap", "MB/s", "mb_per_s", runs,
                  lambda: tcp.iperf(ns.wan, ns.lan, "10.9.1.1", seconds),
                  f"iperf3 -t {seconds} wan -> lan forwarded by Linux with {tcp.N_RULES} nftables rules and "
                  f"conntrack; accel={accel}")
    finally:
        if g:
            g.close()
        ns.close()
        shutil.rmtree(work, ignore_errors=True)


TLS_LISTENING = "linux: tls listening"
STUNNEL_CONF = """; bench/linux.py: stunnel4 as the Linux guest's TLS terminator, set up as
; tlsd is in bench/tls.py: the same certificates, suites, versions and backend
foreground = yes
syslog = no
debug = 3
pid =
"""
STUNNEL_SECTION = """
[{name}]
accept = {accept}
connect = 10.0.2.2:{{port}}
cert = /etc/stunnel/{stem}.crt
key = /etc/stunnel/{stem}.key
sslVersionMin = TLSv1.2
sslVersionMax = TLSv1.3
ciphers = {ciphers}
ciphersuites = TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384
curves = X25519:P-256
"""
STUNNEL_CONF += (STUNNEL_SECTION.format(name="ecdsa", accept=443, stem="ec", ciphers="ECDHE-ECDSA-AES128-GCM-SHA256")
                 + STUNNEL_SECTION.format(name="rsa", accept=444, stem="rsa", ciphers="ECDHE-RSA-AES128-GCM-SHA256"))


def tls_initramfs(nic: str, etc_tree: Path, certs: Path, backend_port: int) -> Path:
    """The guest's initramfs plus stunnel4 (bench/linux/fetch-stunnel.sh),
    /etc/stunnel.conf and the run's certificates."""
    subprocess.run([str(HERE / "linux" / "fetch-stunnel.sh")], check=True)
    (etc_tree / "etc" / "stunnel").mkdir(parents=True, exist_ok=True)
    (etc_tree / "etc" / "stunnel.conf").write_text(STUNNEL_CONF.format(port=backend_port))
    for name in ("ec.crt", "ec.key", "rsa.crt", "rsa.key"):
        (etc_tree / "etc" / "stunnel" / name).write_bytes((certs / name).read_bytes())
    initrd = LINUX_DIR / f"initramfs-{nic}-tls.cpio.gz"
    env = dict(os.environ, INITRAMFS_EXTRA=f"{LINUX_DIR / 'stunnel' / 'root'}:{etc_tree}")
    subprocess.run([str(HERE / "linux" / "mkinitramfs.sh"), str(initrd)] + NIC_MODULES[nic], check=True, env=env)
    return initrd


LINUX_BOOT_PATHS = {"direct": "-kernel/-initrd", "pxe": "SeaBIOS + iPXE + TFTP",
                    "uefi_pxe": "OVMF + the NIC ROM's iPXE UEFI build + TFTP, the kernel's EFI stub"}


def linux_tls(f, accel: str, cpu: str, *, machine: str, mem: int, nic: str, runs: int, seconds: float,
              bulk_mb: int, boot_runs: int, find_min_mem: bool, scaling_runs: int = 0,
              only_scaling: bool = False) -> None:
    """The Linux halves of the TLS pairs: stunnel4 in the guest on QEMU's user
    network, the same generators, certificates and backend as bench/tls.py."""
    import importlib.util as iu
    spec = iu.spec_from_file_location("bench_tls", HERE / "tls.py")
    tls = iu.module_from_spec(spec)
    sys.modules["bench_tls"] = tls
    spec.loader.exec_module(tls)
    work = Path(tempfile.mkdtemp(prefix="bench-linux-tls-", dir=kq.BUILD))
    certs = work / "certs"
    tls.make_certs(certs)
    backend = tls.Backend(work, bulk_mb * 1000 * 1000)
    append = "keelip=10.0.2.15/24 keelgw=10.0.2.2"
    try:
        initrd = tls_initramfs(nic, work / "etc", certs, backend.port)
        pkgs = " ".join((LINUX_DIR / "stunnel" / "packages").read_text().split("\n")[:2])
        print(f"INFO name=linux_tls terminator=\"{pkgs}\" initramfs_bytes={initrd.stat().st_size}", flush=True)

        def boot(name: str, m: int, serial: str = "", smp: int = 1) -> tuple[list[str], dict[str, int]]:
            ports = {k: tcp.free_port() for k in tls.GUEST_PORT}
            fwd = "".join(f",hostfwd=tcp:127.0.0.1:{ports[k]}-:{tls.GUEST_PORT[k]}" for k in tls.GUEST_PORT)
            cmd = qemu_command(accel, cpu, machine=machine, mem=m, nic=nic, initrd=initrd, mode="serve",
                               netdev="user,id=n0" + fwd, append=append,
                               serial=serial or f"file:{kq.LOG_DIR / (name + '.log')}", smp=smp)
            return cmd, ports

        if scaling_runs:
            # Issue 18: the same guest on 1 and 2 vCPUs.  stunnel4 serves each
            # connection on a thread of its own, so with SCALING_CONC
            # connections at once it has as many workers as vCPUs busy.
            def sboot(n: int) -> tuple:
                cmd, ports = boot(f"bench-linux-tls-{n}cpu", mem, smp=n)
                g = tcp.Guest(f"bench-linux-tls-{n}cpu", cmd)
                ok = bool(g.wait_for(TLS_LISTENING, 240)) and tls.serves_get(ports)
                return (ports if ok else None), g.close
            tls.measure_scaling(f, "linux_", sboot, scaling_runs, seconds,
                                f"stunnel4 (a thread per connection) in the Linux guest, accel={accel}")
            if only_scaling:
                return

        cmd, ports = boot("bench-linux-tls", mem)
        g = tcp.Guest("bench-linux-tls", cmd)
        try:
            if not (g.wait_for(TLS_LISTENING, 180) and tls.serves_get(ports)):
                print(f"INFO name=linux_tls skipped: stunnel did not serve; log {kq.rel(g.log)}", flush=True)
                f.failed.append("linux_tls")
                return
            tls.measure_terminator(f, "linux_", ports, runs, seconds, f"stunnel4 in the Linux guest, accel={accel}")
        finally:
            g.close()

        # Boot to the terminator listening, direct and PXE (as Keel's in bench/tls.py;
        # PXE under TCG always, as for the other PXE boots).
        for how in ("direct", "pxe", "uefi_pxe"):
            b_accel = "tcg" if how != "direct" else accel
            b_cpu = kq.probe()["tcg_cpu"] if b_accel == "tcg" else cpu
            name = f"linux_boot_{how}_to_tls_listening"
            t = []
            for i in range(boot_runs):
                cmd = qemu_command(b_accel, b_cpu, machine=machine, mem=mem, nic=nic, initrd=initrd, mode="serve",
                                   boot="direct" if how == "direct" else "pxe", append=append,
                                   firmware="uefi" if how == "uefi_pxe" else "bios")
                b = timed_boot(f"bench-linux-tls-boot-{how}-{i}", cmd, b_accel, [READY, TLS_LISTENING], timeout=300)
                if TLS_LISTENING not in b.marks:
                    print(f"INFO name={name} failed: log {kq.rel(b.log_path)}", flush=True)
                    break
                t.append(b.marks[TLS_LISTENING])
            if len(t) == boot_runs and t:
                med = statistics.median(t) * 1000
                f.figures[name] = {"ms": round(med)}
                print(f"BENCH name={name} value={med:.0f} unit=ms")
                print(f"INFO name={name} runs={len(t)} min_ms={min(t) * 1000:.0f} max_ms={max(t) * 1000:.0f} "
                      f"accel={b_accel} clock=host_monotonic (QEMU start to `{TLS_LISTENING}`: stunnel4 accepts "
                      f"on 443; static address, no DHCP; "
                      f"{LINUX_BOOT_PATHS[how]})", flush=True)

        if find_min_mem:
            def serves(m: int) -> bool:
                cmd, ports = boot(f"bench-linux-tls-mem{m}", m)
                g = tcp.Guest(f"bench-linux-tls-mem{m}", cmd)
                try:
                    ok = bool(g.wait_for(TLS_LISTENING, 180)) and tls.serves_get(ports)
                    print(f"INFO name=linux_tls_min_mem_probe mem_mib={m} serves={'yes' if ok else 'no'}",
                          flush=True)
                    return ok
                finally:
                    g.close()
            tls.report_min_mem(f, "linux_tls_min_mem_mib", tls.min_mem(serves, 4, 256), "stunnel4", accel,
                               count_failure=False)
    finally:
        backend.close()
        shutil.rmtree(work, ignore_errors=True)


def fmt_ratio(keel: float, linux: float) -> str:
    if linux == 0:
        return "inf"
    r = keel / linux
    return f"{r:.3f}" if r < 10 else f"{r:.1f}"


def fmt_num(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:g}"


def mins_of(text: str) -> dict[str, dict[str, float]]:
    """{figure: {unit: fastest run}} from INFO lines."""
    out: dict[str, dict[str, float]] = {}
    for m in MIN_RE.finditer(text):
        out.setdefault(m.group(1), {})[m.group(2)] = float(m.group(3))
    return out


# The pairs: (ratio name, Keel figure, Linux figure, unit, the goal
# for keel_over_linux if it sets one).
PAIRS = [
    ("ipc_rtt_vs_pipe_rtt", "ipc_rtt_fast", "linux_pipe_rtt", "cycles", 0.1),
    ("ipc_rtt_vs_eventfd_rtt", "ipc_rtt_fast", "linux_eventfd_rtt", "cycles", None),
    ("ipc_rtt_vs_futex_rtt", "ipc_rtt_fast", "linux_futex_rtt", "cycles", None),
    ("null_syscall_vs_getppid", "null_syscall", "linux_getppid", "cycles", None),
    # Instruction counts (both sides under TCG's -icount shift=0): what the
    # software TLB of the emulator cannot distort.
    ("ipc_rtt_fast_insn", "ipc_rtt_fast", "linux_pipe_rtt", "insn", 0.1),
    ("ipc_rtt_slow_insn", "ipc_rtt_slow", "linux_pipe_rtt", "insn", None),
    ("ipc_rtt_same_task_insn", "ipc_rtt_same_task", "linux_pipe_rtt", "insn", None),
    ("ipc_rtt_fast_vs_eventfd_rtt_insn", "ipc_rtt_fast", "linux_eventfd_rtt", "insn", None),
    ("ipc_rtt_fast_vs_futex_rtt_insn", "ipc_rtt_fast", "linux_futex_rtt", "insn", None),
    ("null_syscall_vs_getppid_insn", "null_syscall", "linux_getppid", "insn", None),
    ("notify_wakeup_vs_eventfd_rtt_insn", "notify_wakeup", "linux_eventfd_rtt", "insn", None),
    ("boot_direct_to_first_user_process", "boot_direct_to_init_started", "linux_boot_direct_to_init_up",
     "ms", None),
    ("boot_direct_to_nic_ready", "boot_direct_to_nic_ready", "linux_boot_direct_to_ready", "ms", 0.1),
    ("boot_pxe_to_nic_ready", "boot_pxe_to_nic_ready", "linux_boot_pxe_to_ready", "ms", 0.1),
    ("pxe_bytes_sent", "pxe_bytes_sent", "linux_pxe_bytes_sent", "bytes", None),
    ("kernel_bytes", "kernel_bytes", "linux_kernel_bytes", "bytes", None),
    ("tcp_sink_tap", "tcp_sink_tap", "linux_tcp_sink_tap", "MB/s", None),
    ("tcp_sink_user", "tcp_sink_user", "linux_tcp_sink_user", "MB/s", None),
    ("tcp_conns_per_s_tap", "tcp_conns_per_s_tap", "linux_tcp_conns_per_s_tap", "conn/s", None),
    ("fwd_tcp_tap", "fw_forward_100rules", "linux_fwd_tcp_tap", "MB/s", 0.5),
    ("tls_full_handshakes_ecdsa_p256", "tls_full_handshakes_ecdsa_p256", "linux_tls_full_handshakes_ecdsa_p256",
     "handshakes/s", 1.0),
    ("tls_full_handshakes_rsa2048", "tls_full_handshakes_rsa2048", "linux_tls_full_handshakes_rsa2048",
     "handshakes/s", 1.0),
    ("tls_resumed_handshakes", "tls_resumed_handshakes", "linux_tls_resumed_handshakes", "handshakes/s", 1.0),
    # Issue 18: both guests on 2 vCPUs, several connections at once.
    ("tls_full_handshakes_ecdsa_p256_2cpu", "tls_full_handshakes_ecdsa_p256_2cpu",
     "linux_tls_full_handshakes_ecdsa_p256_2cpu", "handshakes/s", 1.0),
    ("tls_full_handshakes_rsa2048_2cpu", "tls_full_handshakes_rsa2048_2cpu",
     "linux_tls_full_handshakes_rsa2048_2cpu", "handshakes/s", 1.0),
    ("tls13_full_handshakes_ecdsa_p256", "tls13_full_handshakes_ecdsa_p256",
     "linux_tls13_full_handshakes_ecdsa_p256", "handshakes/s", None),
    ("tls13_full_handshakes_rsa2048", "tls13_full_handshakes_rsa2048", "linux_tls13_full_handshakes_rsa2048",
     "handshakes/s", None),
    ("tls13_resumed_handshakes", "tls13_resumed_handshakes", "linux_tls13_resumed_handshakes", "handshakes/s",
     None),
    ("tls_bulk", "tls_bulk", "linux_tls_bulk", "MB/s", 1.0),
    ("boot_direct_to_tls_serving", "boot_direct_to_tls_serving", "linux_boot_direct_to_tls_listening", "ms", 0.1),
    ("boot_pxe_to_tls_serving", "boot_pxe_to_tls_serving", "linux_boot_pxe_to_tls_listening", "ms", 0.1),
    ("boot_uefi_pxe_to_tls_serving", "boot_uefi_pxe_to_tls_serving", "linux_boot_uefi_pxe_to_tls_listening", "ms",
     None),
    ("tls_min_mem", "tls_min_mem_mib", "linux_tls_min_mem_mib", "MiB", None),
    ("mem_in_use_at_ready", "mem_in_use_at_ready", "linux_mem_in_use_at_ready", "KiB", None),
]
# Units where more is better (the ratio's goal is a minimum, `goal_min`).
HIGHER_IS_BETTER = tcp.HIGHER_IS_BETTER


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keel", default="", help="Keel's figures of this run (JSON written by bench/run.py)")
    ap.add_argument("--nic", default="", help="NIC model (default: Keel's, else virtio)")
    ap.add_argument("--mem", type=int, default=0, help="guest MiB (default: Keel's, else 256)")
    ap.add_argument("--boot-runs", type=int, default=3, help="boots timed (the benchmark boot is one)")
    ap.add_argument("--kvm-timeout", type=float, default=30.0,
                    help="seconds the KVM attempt may take to reach `linux: ready`")
    ap.add_argument("--no-kvm", action="store_true", help="do not try KVM")
    ap.add_argument("--net-runs", type=int, default=3, help="runs of each TCP/TLS figure")
    ap.add_argument("--mb", type=int, default=8, help="MB into the sink per TCP run")
    ap.add_argument("--conns", type=int, default=100, help="connections per TCP run")
    ap.add_argument("--no-net", action="store_true", help="no TCP or TLS figures")
    ap.add_argument("--fwd-seconds", type=int, default=5,
                    help="iperf3 seconds per forwarding run (bench/tcp.py's --seconds, whose default it is)")
    ap.add_argument("--tls-seconds", type=float, default=5, help="seconds of each handshake run")
    ap.add_argument("--bulk-mb", type=int, default=8, help="MB of the TLS bulk GET")
    ap.add_argument("--min-mem", action="store_true", help="bisect the smallest -m that serves TLS")
    ap.add_argument("--tls-scaling-runs", type=int, default=3,
                    help="runs of each 1- and 2-vCPU TLS handshake figure (0: none)")
    ap.add_argument("--only-tls-scaling", action="store_true",
                    help="the 1- and 2-vCPU TLS handshake figures (and their RATIO lines) only")
    ap.add_argument("--json", default=str(kq.BUILD / "bench" / "linux.json"), help="where to write the figures")
    ns = ap.parse_args(argv)

    keel: dict = {}
    if ns.keel:
        keel = json.loads(Path(ns.keel).read_text())
    nic = ns.nic or keel.get("nic", "virtio")
    mem = ns.mem or int(keel.get("mem", 256))
    machine = keel.get("machine", kq.DEFAULT_MACHINE)
    if nic not in NIC_MODULES:
        print(f"linux: unknown NIC model {nic!r}", file=sys.stderr)
        return 2

    initrd, package = build_guest(nic)
    print(f"INFO name=linux_guest package=\"{package}\" kernel={kq.rel(KERNEL)} initramfs={kq.rel(initrd)} "
          f"append=\"{APPEND}\" machine={machine} mem_mib={mem} nic={nic} smp=1", flush=True)

    # ---- accelerator: try KVM, fall back to TCG --------------------------------
    pr = kq.probe()
    keel_accel = keel.get("accel", "")
    kvm_ok = False
    if ns.no_kvm:
        print("INFO name=linux_kvm_attempt result=skipped (--no-kvm)", flush=True)
    elif not pr.get("kvm_cpu"):
        print("INFO name=linux_kvm_attempt result=unavailable (no usable /dev/kvm)", flush=True)
    else:
        cmd = qemu_command("kvm", pr["kvm_cpu"], machine=machine, mem=mem, nic=nic, initrd=initrd, mode="boot")
        r = timed_boot("linux-kvm-attempt", cmd, "kvm", [INIT_UP, READY], timeout=ns.kvm_timeout)
        kvm_ok = READY in r.marks
        if kvm_ok:
            print(f"INFO name=linux_kvm_attempt result=ok init_up_ms={r.marks[INIT_UP] * 1000:.0f} "
                  f"ready_ms={r.marks[READY] * 1000:.0f}", flush=True)
        else:
            why = ("KVM internal error" if r.kvm_error else
                   f"no `{READY}` within {ns.kvm_timeout:.0f} s" if r.timed_out else
                   f"QEMU exited with status {r.status}")
            last = f"last console line: \"{r.last_line()[:100]}\"" if r.last_line() else "no console output"
            print(f"INFO name=linux_kvm_attempt result=failed ({why}; {last}; log {kq.rel(r.log_path)})",
                  flush=True)
    if keel_accel:
        accel = keel_accel if (keel_accel == "tcg" or kvm_ok) else "tcg"
    else:
        accel = "kvm" if kvm_ok else "tcg"
    why = ("Keel's figures ran under TCG" if keel_accel == "tcg" else
           "KVM not tried" if ns.no_kvm else
           "Debian's kernel does not boot under this host's KVM" if not kvm_ok else "KVM works for both")
    both = " for both sides of every pair" if keel_accel == accel else ""
    print(f"INFO name=linux_accel accel={accel}{both} ({why}"
          + ("; TCG figures are emulation figures: read the ratios, within one run" if accel == "tcg" else "")
          + ")", flush=True)
    cpu = pr["kvm_cpu"] if accel == "kvm" else pr["tcg_cpu"]

    def pairs_and_json() -> int:
        # ---- the pairs ----------------------------------------------------------------
        kf, kmin, kbest = keel.get("figures", {}), keel.get("mins", {}), keel.get("best", {})
        lmin = mins_of("\n".join(info_lines))
        mixed: list[str] = []
        for rname, kname, lname, unit, goal in PAIRS:
            kv = kf.get(kname, {}).get(unit)
            lv = figures.get(lname, {}).get(unit)
            if kv is None or lv is None:
                if keel:
                    print(f"INFO name={rname} skipped (keel {kname}: {kv}, linux {lname}: {lv})")
                continue
            extra = ""
            unit_min = {"cycles": "cycles", "ms": "ms"}.get(unit)
            kmn, lmn = kmin.get(kname, {}).get(unit_min), lmin.get(lname, {}).get(unit_min)
            if kmn is not None and lmn:
                extra += f" keel_over_linux_min={fmt_ratio(kmn, lmn)}"
            kb, lb = kbest.get(kname, {}).get(unit), best.get(lname, {}).get(unit)
            if kb is not None and lb:
                extra += f" keel_over_linux_best={fmt_ratio(kb, lb)}"
            if unit in HIGHER_IS_BETTER:
                extra += " higher_is_better=yes"
                if goal is not None:
                    extra += f" goal_min={goal:g} goal_met={'yes' if kv / lv >= goal else 'no'}"
            elif goal is not None:
                extra += f" goal_max={goal:g} goal_met={'yes' if kv / lv <= goal else 'no'}"
            if unit != "bytes":
                ka = keel.get("accel_of", {}).get(kname, keel_accel)
                la = "tcg" if "_pxe_" in lname else accel
                if unit == "insn":
                    ka = la = "tcg-icount"   # both sides ran under -icount shift=0
                if ka == la:
                    extra = f" accel={la}" + extra
                else:
                    extra = f" accel=keel:{ka},linux:{la} comparable=no" + extra
                    mixed.append(rname)
            print(f"RATIO name={rname} keel={fmt_num(kv)} linux={fmt_num(lv)} unit={unit} keel_over_linux={fmt_ratio(kv, lv)} "
                  f"keel_figure={kname} linux_figure={lname}{extra}", flush=True)
        if mixed:
            print(f"INFO {', '.join(mixed)}: Keel and Linux ran under different accelerators, so these ratios "
                  f"compare different machines; rerun with `bench/run.py --accel tcg`", flush=True)

        out = Path(ns.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"accel": accel, "kvm_ok": kvm_ok, "package": package, "nic": nic, "mem": mem,
                                   "figures": figures, "best": best, "mins": lmin}, indent=1) + "\n")
        return 0

    # ---- the benchmark boot (also the first timed boot) ------------------------
    figures: dict[str, dict[str, float]] = {}
    best: dict[str, dict[str, float]] = {}  # the best run of each figure measured over several runs
    if ns.only_tls_scaling:
        nf = tcp.Figures()
        linux_tls(nf, accel, cpu, machine=machine, mem=mem, nic=nic, runs=ns.net_runs, seconds=ns.tls_seconds,
                  bulk_mb=ns.bulk_mb, boot_runs=0, find_min_mem=False, scaling_runs=ns.tls_scaling_runs or 1,
                  only_scaling=True)
        figures.update(nf.figures)
        best.update(nf.best)
        info_lines: list[str] = []
        return pairs_and_json()
    info_lines: list[str] = []
    cmd = qemu_command(accel, cpu, machine=machine, mem=mem, nic=nic, initrd=initrd, mode="full")
    r = timed_boot("linux-bench", cmd, accel, [INIT_UP, READY, DONE], timeout=600)
    if DONE not in r.marks:
        print(f"linux: the benchmark boot did not finish (status {r.status}, timed out {r.timed_out}); "
              f"last line \"{r.last_line()}\"; log {kq.rel(r.log_path)}", file=sys.stderr)
        return 1
    for _, line in r.lines:
        if LINE.match(line):
            print(line, flush=True)
            info_lines.append(line)
        m = BENCH_RE.match(line)
        if m:
            figures.setdefault(m.group(1), {})[m.group(3)] = float(m.group(2))
    times = {"direct": ([r.marks[INIT_UP]], [r.marks[READY]]), "pxe": ([], [])}

    # ---- the same micro-benchmarks counted in instructions (-icount shift=0) --
    cmd = qemu_command("tcg", pr["tcg_cpu"], machine=machine, mem=mem, nic=nic, initrd=initrd, mode="full")
    ri = timed_boot("linux-bench-icount", cmd + ["-icount", "shift=0"], "tcg", [INIT_UP, READY, DONE], timeout=900)
    if DONE in ri.marks:
        for _, line in ri.lines:
            m = BENCH_RE.match(line)
            if m and m.group(3) == "ns":
                figures.setdefault(m.group(1), {})["insn"] = float(m.group(2))
                print(f"BENCH name={m.group(1)} value={m.group(2)} unit=insn", flush=True)
        print("INFO name=linux_insn_figures clock=\"QEMU -icount shift=0 (TCG): guest ns = instructions executed\"",
              flush=True)
    else:
        print(f"INFO name=linux_insn_figures skipped (the -icount boot did not finish; log {kq.rel(ri.log_path)})",
              flush=True)

    # ---- boot time: more boots that stop at ready --------------------------------
    # PXE always under TCG: Debian's iPXE ROM does not run under this KVM
    # (tests/qemu/keelqemu.py), and Keel's PXE figures are TCG figures too.
    for boot in ("direct", "pxe"):
        b_accel = "tcg" if boot == "pxe" else accel
        b_cpu = pr["tcg_cpu"] if b_accel == "tcg" else cpu
        up_times, ready_times = times[boot]
        while len(ready_times) < ns.boot_runs:
            i = len(ready_times)
            cmd = qemu_command(b_accel, b_cpu, machine=machine, mem=mem, nic=nic, initrd=initrd,
                               mode="boot", boot=boot)
            b = timed_boot(f"linux-boot-{boot}-{i}", cmd, b_accel, [INIT_UP, READY], timeout=300)
            if READY not in b.marks:
                print(f"linux: {boot} boot {i} did not reach `{READY}`; log {kq.rel(b.log_path)}",
                      file=sys.stderr)
                return 1
            up_times.append(b.marks[INIT_UP])
            ready_times.append(b.marks[READY])
        for name, t, what in ((f"linux_boot_{boot}_to_init_up", up_times, INIT_UP),
                              (f"linux_boot_{boot}_to_ready", ready_times, READY)):
            med = statistics.median(t) * 1000
            figures[name] = {"ms": round(med)}
            print(f"BENCH name={name} value={med:.0f} unit=ms")
            info_lines.append(f"INFO name={name} min_ms={min(t) * 1000:.0f}")
            print(f"INFO name={name} runs={len(t)} min_ms={min(t) * 1000:.0f} max_ms={max(t) * 1000:.0f} "
                  f"accel={b_accel} clock=host_monotonic (QEMU start to the serial line `{what}`, "
                  f"{'-kernel/-initrd direct boot' if boot == 'direct' else 'SeaBIOS + iPXE + TFTP'})",
                  flush=True)

    # ---- size --------------------------------------------------------------------
    script = (pxe_root(initrd, "boot") / "boot.ipxe").stat().st_size
    kbytes, ibytes = KERNEL.stat().st_size, initrd.stat().st_size
    for name, v in (("linux_kernel_bytes", kbytes), ("linux_initramfs_bytes", ibytes),
                    ("linux_pxe_bytes_sent", kbytes + ibytes + script)):
        figures[name] = {"bytes": v}
        print(f"BENCH name={name} value={v} unit=bytes")
    print("INFO name=linux_pxe_bytes_sent what=\"vmlinuz + initramfs + boot.ipxe: what the PXE server sends\"",
          flush=True)

    # ---- TCP ---------------------------------------------------------------------
    if not ns.no_net:
        nf = tcp.Figures()
        linux_tcp(nf, accel, cpu, machine=machine, mem=mem, nic=nic, initrd=initrd, runs=ns.net_runs,
                  nbytes=ns.mb * 1000 * 1000, conns=ns.conns)
        linux_fwd(nf, accel, cpu, machine=machine, mem=mem, nic=nic, runs=ns.net_runs, seconds=ns.fwd_seconds)
        linux_tls(nf, accel, cpu, machine=machine, mem=mem, nic=nic, runs=ns.net_runs, seconds=ns.tls_seconds,
                  bulk_mb=ns.bulk_mb, boot_runs=ns.boot_runs, find_min_mem=ns.min_mem,
                  scaling_runs=ns.tls_scaling_runs)
        figures.update(nf.figures)
        best.update(nf.best)

    return pairs_and_json()


if __name__ == "__main__":
    sys.exit(main())
