#!/usr/bin/env python3
"""Boot Keel under QEMU: command-line builder, `make run` front end and test harness.

CLI (what `make run` calls)::

    python3 tests/qemu/keelqemu.py run --boot pxe --firmware bios --accel auto --nic virtio \\
        --mem 256 --serial stdio --fwd '' --qemu-extra '' -- [kernel args]

prints the QEMU command line on stderr and then execs QEMU, so the serial
console is the terminal (Ctrl-A X quits, Ctrl-A C toggles the QEMU monitor).
Other sub-commands: `cmd` (print the command line only) and `probe` (show or
refresh the cached accelerator/CPU probe).

Library (what the tests use)::

    import keelqemu
    r = keelqemu.boot("direct-boot", boot="direct", args=["debug-exit"],
                      expect=["keel: kernel up"], timeout=30)
    r.all_matched, r.status, r.timed_out, r.accel, r.log

    rep = keelqemu.Reporter()
    rep.run("name", some_function)   # prints PASS name / FAIL name: reason
    sys.exit(rep.finish())           # prints "N passed, N failed"

Facts about this machine that shaped the defaults:
  * Machine type is q35: PXE through Debian's iPXE ROMs works with both q35 and
    pc; q35 gives the kernel PCIe/ECAM like real hardware.
  * Debian's iPXE ROM cannot run under the (nested, paravirtual) KVM here: it
    dies with "KVM internal error ... emulation failure" (seen on a real-mode
    IRET right after the iPXE banner), so PXE boots always use TCG.
  * An instruction KVM cannot emulate leaves QEMU *paused* (not exited) after
    printing "KVM internal error" on stderr; the harness detects that, kills
    QEMU and retries under TCG. Seen here: software interrupts (INT3, INT n)
    fail this way even in long mode; ud2, real faults and SYSCALL work.
  * Multiboot command lines start with the image name: "tftp://10.0.2.2/keel
    args" via iPXE, "build/image/tftp/keel args" via -kernel; module command
    lines likewise start with the module's URL/path ("tftp://10.0.2.2/servers.cpio
    servers").
  * QEMU's user-net DHCP cannot hand iPXE settings to the guest, so for a PXE
    boot with kernel args the TFTP root is an overlay (symlinks to the image +
    a boot.ipxe whose ${cmdline} is replaced by the args).
  * Debian's iPXE ROM prints only to the BIOS console; `-device sga` (sgabios)
    copies that to COM1 so the iPXE banner shows up in the serial log.
  * QEMU's -kernel only takes 32-bit ELF multiboot images, and only under
    SeaBIOS: UEFI boots (firmware=uefi, OVMF from Debian's `ovmf`) go through
    PXE or through a FAT disk (boot=disk) holding keel.efi and the modules.
  * With OVMF the NIC's ROM (ipxe-qemu's efi-*.rom carries iPXE's UEFI build)
    is iPXE; nic_rom="none" leaves the NIC without it, so OVMF's own PXE
    client boots, as a real UEFI server's firmware would (DHCP then chainloads
    Debian's snponly.efi, docs/PXE.md).
  * Under KVM, SeaBIOS alone takes ~3.5 s here (every port I/O exit is
    expensive in the nested hypervisor); a direct boot under TCG is ~0.1 s.
"""

from __future__ import annotations

import argparse
import atexit
import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Pattern, Sequence, Union

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"
DEFAULT_IMAGE_DIR = BUILD / "image" / "tftp"
LOG_DIR = BUILD / "test-logs"
PROBE_CACHE = BUILD / "qemu-probe.json"
PROBE_VERSION = 2

QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
DEFAULT_MACHINE = "q35"
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]

# isa-debug-exit: QEMU exits with (value << 1) | 1.
STATUS_GUEST_PASS = 1        # kernel wrote 0x00
STATUS_GUEST_PANIC = 35      # kernel wrote 0x11
# With -no-reboot a triple fault / reset makes QEMU exit with status 0.
STATUS_RESET = 0

NIC_MODELS = {"virtio": "virtio-net-pci", "virtio-modern": "virtio-net-pci,disable-legacy=on", "e1000": "e1000",
              "e1000e": "e1000e"}
DEFAULT_MODULES = [("servers.cpio", "servers"), ("site.cpio", "site")]
OVMF_FD = Path(os.environ.get("KEEL_OVMF", "/usr/share/ovmf/OVMF.fd"))
EFI_KERNEL = "keel.efi"
KVM_ERROR_RE = re.compile(r"KVM internal error")
# The kernel's own verdict when the hypervisor runs SYSCALL without entering
# ring 0 (kernel/usercheck.c); QEMU then exits with status 37.
NO_USER_MODE_RE = re.compile(r"user space cannot run; boot with TCG")
STATUS_NO_USER_MODE = 37


def nic_mac(i: int) -> str:
    """The MAC address QEMU gives the guest's NIC number i (every boot)."""
    return f"52:54:00:12:34:{0x56 + i:02x}"


class KeelQemuError(Exception):
    """A configuration problem (missing image, unusable accelerator...)."""


def note(msg: str) -> None:
    print(f"keelqemu: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Accelerator / CPU probe (cached in build/qemu-probe.json)
# --------------------------------------------------------------------------

def _probe_bios(path: Path) -> None:
    """A 64 KiB 'BIOS' whose reset vector does `out 0xf4, 0` (exit status 1).

    Running it proves the accelerator can execute guest code, in ~50 ms,
    without SeaBIOS (which takes ~3.5 s under the nested KVM here)."""
    img = bytearray(b"\xf4" * 65536)               # hlt everywhere
    code = bytes([0xB0, 0x00,                      # mov al, 0
                  0xE6, 0xF4,                      # out 0xf4, al
                  0xF4, 0xEB, 0xFD])               # hlt; jmp $-3
    img[0xFFF0:0xFFF0 + len(code)] = code
    path.write_bytes(bytes(img))


_FEATURE_RE = re.compile(r"support requested feature: CPUID\.[^.]+\.([^ ]+) \[bit")


def _probe_run(bios: Path, accel: str, cpu: str) -> tuple[bool, str]:
    cmd = [QEMU, "-accel", accel, "-cpu", cpu, "-machine", DEFAULT_MACHINE,
           "-m", "16", "-nodefaults", "-display", "none", "-no-reboot",
           "-bios", str(bios)] + DEBUG_EXIT
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    return p.returncode == STATUS_GUEST_PASS, p.stderr + p.stdout


def _probe_cpu(bios: Path, accel: str) -> Optional[str]:
    """Best -cpu value for `accel`, or None if the accelerator does not work.

    EPYC, with the features this host/accelerator cannot provide masked off
    explicitly: QEMU drops them anyway, the mask only silences its ~30
    'host doesn't support requested feature' warnings."""
    ok, out = _probe_run(bios, accel, "EPYC")
    if ok:
        missing = _FEATURE_RE.findall(out)
        if missing:
            masked = "EPYC," + ",".join("-" + f for f in missing)
            ok2, out2 = _probe_run(bios, accel, masked)
            if ok2 and "warning" not in out2:
                return masked
        return "EPYC"
    if accel == "tcg":
        ok, _ = _probe_run(bios, accel, "qemu64")
        if ok:
            return "qemu64"
    return None


def _probe_key() -> dict:
    qemu = shutil.which(QEMU)
    if not qemu:
        raise KeelQemuError(f"{QEMU} not found (apt-get install qemu-system-x86)")
    st = os.stat(os.path.realpath(qemu))
    return {
        "version": PROBE_VERSION,
        "qemu": os.path.realpath(qemu),
        "qemu_mtime": int(st.st_mtime),
        "qemu_size": st.st_size,
        "kernel": os.uname().release,
        "kvm_dev": os.access("/dev/kvm", os.R_OK | os.W_OK),
    }


_probe_lock = threading.Lock()
_probe_memo: Optional[dict] = None


def probe(refresh: bool = False) -> dict:
    """{'kvm_cpu': str|None, 'tcg_cpu': str|None, ...}; cached in build/."""
    global _probe_memo
    with _probe_lock:
        key = _probe_key()
        if not refresh:
            if _probe_memo and all(_probe_memo.get(k) == v for k, v in key.items()):
                return _probe_memo
            try:
                cached = json.loads(PROBE_CACHE.read_text())
                if all(cached.get(k) == v for k, v in key.items()):
                    _probe_memo = cached
                    return cached
            except (OSError, ValueError):
                pass
        BUILD.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=BUILD, prefix=".qemu-probe-") as td:
            bios = Path(td) / "probe.bin"
            _probe_bios(bios)
            result = dict(key)
            result["kvm_cpu"] = _probe_cpu(bios, "kvm") if key["kvm_dev"] else None
            result["tcg_cpu"] = _probe_cpu(bios, "tcg") or "qemu64"
        tmp = PROBE_CACHE.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        os.replace(tmp, PROBE_CACHE)
        _probe_memo = result
        return result


def kvm_user_mode() -> Optional[bool]:
    """Whether Keel's user space runs under KVM here: the kernel's own boot
    probe (`probe-user`), run once on the built image and cached with the
    accelerator probe.  None when it cannot be told (no image yet)."""
    pr = probe()
    if "kvm_user_mode" in pr:
        return pr["kvm_user_mode"]
    kernel = Path(os.environ.get("KEEL_IMAGE_DIR") or DEFAULT_IMAGE_DIR) / "keel"
    if not pr.get("kvm_cpu") or not kernel.exists():
        return None
    cmd = [QEMU, "-accel", "kvm", "-cpu", pr["kvm_cpu"], "-machine", DEFAULT_MACHINE, "-m", "64",
           "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio",
           "-kernel", str(kernel), "-append", "debug-exit probe-user"] + DEBUG_EXIT
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        verdict = {STATUS_GUEST_PASS: True, STATUS_NO_USER_MODE: False}.get(p.returncode)
    except (OSError, subprocess.TimeoutExpired):
        verdict = None
    if verdict is not None:
        with _probe_lock:
            pr["kvm_user_mode"] = verdict
            tmp = PROBE_CACHE.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(pr, indent=1) + "\n")
            os.replace(tmp, PROBE_CACHE)
    return verdict


def resolve_accel(accel: str, boot: str) -> tuple[str, str, list[str]]:
    """(accel, cpu, notes) for the requested accel ('auto'|'kvm'|'tcg')."""
    accel = (accel or "auto").lower()
    if accel not in ("auto", "kvm", "tcg"):
        raise KeelQemuError(f"unknown accel {accel!r} (auto|kvm|tcg)")
    notes: list[str] = []
    pr = probe()
    if boot == "pxe" and accel != "tcg":
        notes.append("PXE boot uses TCG: Debian's iPXE ROM does not run under KVM here")
        accel = "tcg"
    if boot == "disk" and accel != "tcg":
        notes.append("UEFI boot uses TCG: OVMF and iPXE's UEFI build do not run under KVM here")
        accel = "tcg"
    if accel == "auto":
        accel = "kvm" if pr.get("kvm_cpu") else "tcg"
        if accel == "kvm" and kvm_user_mode() is False:
            notes.append("using TCG: this KVM runs SYSCALL without entering ring 0, "
                         "so Keel's user space cannot run under it (kernel/usercheck.c)")
            accel = "tcg"
    if accel == "kvm" and not pr.get("kvm_cpu"):
        raise KeelQemuError("accel=kvm requested but KVM is not usable here "
                            "(/dev/kvm missing, not accessible, or probe failed; "
                            "`keelqemu.py probe --refresh` re-checks)")
    return accel, pr["kvm_cpu"] if accel == "kvm" else pr["tcg_cpu"], notes


# --------------------------------------------------------------------------
# Image layout (parsed from boot.ipxe so direct boot mirrors PXE)
# --------------------------------------------------------------------------

_IPXE_KERNEL_CMDS = {"kernel", "chain", "chainload", "imgexec", "boot"}
_IPXE_MODULE_CMDS = {"module", "initrd", "imgfetch", "fetch"}
_IPXE_OPTS_WITH_ARG = {"-n", "--name", "-t", "--timeout"}


def _ipxe_split(line: str) -> tuple[str, Optional[str], list[str]]:
    """('kernel'|'module'|'', file, args) for one boot.ipxe line."""
    kind, f, args, _ = _ipxe_parse(line)
    return kind, f, args


def _ipxe_parse(line: str) -> tuple[str, Optional[str], list[str], list[str]]:
    """Like _ipxe_split, plus the words up to and including the file."""
    words = line.split()
    for i, w in enumerate(words):       # `cmd ... || goto failed`: the command is what precedes
        if w in ("||", "&&"):
            words = words[:i]
            break
    if not words or words[0].startswith("#"):
        return "", None, [], []
    cmd = words[0]
    kind = ("kernel" if cmd in _IPXE_KERNEL_CMDS else
            "module" if cmd in _IPXE_MODULE_CMDS else "")
    rest = words[1:]
    i = 0
    while i < len(rest) and rest[i].startswith("-"):
        i += 2 if rest[i] in _IPXE_OPTS_WITH_ARG else 1
    if not kind or i >= len(rest):
        return "", None, [], []
    return kind, rest[i], rest[i + 1:], words[:i + 2]


def _apply_args(fixed: Sequence[str], args: Sequence[str]) -> list[str]:
    """The kernel args boot.ipxe gives (`fixed`) combined with requested args:
    a ${cmdline} placeholder is replaced by them; otherwise requested args
    replace the script's (the Makefile bakes ARGS into boot.ipxe, and `make
    run` passes the same ARGS again); no requested args keeps the script's."""
    fixed = list(fixed)
    if any("${cmdline}" in w for w in fixed):
        return " ".join(fixed).replace("${cmdline}", " ".join(args)).split()
    return list(args) if args else fixed


def ipxe_script_with_args(script: str, args: Sequence[str]) -> str:
    """boot.ipxe text with every `kernel` line's args set per _apply_args (the
    script has one per platform: keel for BIOS, keel.efi for UEFI); a tail
    such as `|| goto failed` is kept."""
    out = []
    for line in script.splitlines():
        kind, _, fixed, head = _ipxe_parse(line)
        if kind == "kernel" and head and head[0] == "kernel":
            new = head + _apply_args(fixed, args)
            if new != head + fixed:
                tail = line.split()[len(head) + len(fixed):]
                line = " ".join(new + tail)
        out.append(line)
    return "\n".join(out) + ("\n" if script.endswith("\n") else "")


@dataclass
class Layout:
    image_dir: Path
    kernel: str = "keel"
    kernel_args: list[str] = field(default_factory=lambda: ["${cmdline}"])
    modules: list[tuple[str, str]] = field(default_factory=lambda: list(DEFAULT_MODULES))
    script: Optional[str] = None      # text of boot.ipxe, if present

    @classmethod
    def load(cls, image_dir: Union[str, Path]) -> "Layout":
        d = Path(image_dir)
        lay = cls(d)
        try:
            lay.script = (d / "boot.ipxe").read_text()
        except OSError:
            return lay
        kernel, mods = None, []
        for line in lay.script.splitlines():
            kind, f, a = _ipxe_split(line)
            if kind == "kernel" and kernel is None and f:
                kernel = (f, a)
            elif kind == "module" and f:
                mods.append((f, " ".join(a)))
        if kernel:
            lay.kernel, lay.kernel_args = kernel
        if mods:
            lay.modules = mods
        return lay

    def cmdline(self, args: Sequence[str]) -> str:
        """Kernel args for a direct boot, the same as PXE would pass."""
        return " ".join(_apply_args(self.kernel_args, args))

    def check(self, boot: str, firmware: str = "bios") -> None:
        kernel = EFI_KERNEL if firmware == "uefi" else self.kernel
        need = [kernel] + [m for m, _ in self.modules]
        if boot == "pxe":
            need.append("boot.ipxe")
        missing = [n for n in need if not (self.image_dir / n).is_file()]
        if missing:
            raise KeelQemuError(
                f"image incomplete in {self.image_dir}: missing {', '.join(missing)}"
                " (run make first, or pass --image-dir)")


def pxe_tftp_dir(layout: Layout, args: Sequence[str], workdir: Path) -> Path:
    """TFTP root to serve. Kernel args can only reach the guest through the
    boot script (QEMU's DHCP server cannot send iPXE settings), so with args
    we serve an overlay: symlinks to the image plus a rewritten boot.ipxe
    (only when the args differ from what boot.ipxe already says)."""
    if not args or layout.script is None:
        return layout.image_dir
    script = ipxe_script_with_args(layout.script, args)
    if script == layout.script:
        return layout.image_dir
    workdir.mkdir(parents=True, exist_ok=True)
    for entry in layout.image_dir.iterdir():
        if entry.name != "boot.ipxe":
            link = workdir / entry.name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(entry.resolve())
    (workdir / "boot.ipxe").write_text(script)
    return workdir


def uefi_disk_dir(layout: Layout, workdir: Path) -> Path:
    """A folder for QEMU's virtual FAT disk: keel.efi as the removable-media
    boot file \\EFI\\BOOT\\BOOTX64.EFI with the modules beside it (copies: the
    FAT is built from this folder when QEMU starts)."""
    boot = workdir / "EFI" / "BOOT"
    boot.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(layout.image_dir / EFI_KERNEL, boot / "BOOTX64.EFI")
    for m, _ in layout.modules:
        if (layout.image_dir / m).is_file():
            shutil.copyfile(layout.image_dir / m, boot / Path(m).name)
    return workdir


def rel(p: Union[str, Path]) -> str:
    """P relative to the working directory when it lies below it (for log lines)."""
    p = os.path.abspath(p)
    r = os.path.relpath(p)
    return p if r.startswith("..") else r


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

@dataclass
class Config:
    boot: str = "pxe"                  # pxe | direct | disk (UEFI: keel.efi on a FAT disk)
    firmware: str = "bios"             # bios (SeaBIOS) | uefi (OVMF)
    nic_rom: str = "ipxe"              # ipxe (the NIC's iPXE ROM) | none (the firmware's own PXE)
    accel: str = "auto"                # auto | kvm | tcg
    nic: str = "virtio"                # virtio | e1000 | e1000e, or "a,b"
    mem: int = 256                     # MiB
    serial: str = "stdio"              # any QEMU -serial spec
    fwd: str = ""                      # extra hostfwd rules, comma-separated
    qemu_extra: str = ""               # shlex-split, appended last
    args: list[str] = field(default_factory=list)   # kernel command line
    image_dir: Union[str, Path] = DEFAULT_IMAGE_DIR
    machine: str = DEFAULT_MACHINE
    taps: list[str] = field(default_factory=list)   # NIC i on tap taps[i] instead of user-net
    netns: str = ""                    # run QEMU inside this network namespace
    smp: int = 0                       # vCPUs; 0 = $KEEL_SMP (make's SMP=N), else 1
    iommu: bool = False                # q35 + intel-iommu (VT-d); virtio NICs with iommu_platform=on

    def normalized(self) -> "Config":
        c = Config(**self.__dict__)
        c.boot = (c.boot or "pxe").lower()
        if c.boot not in ("pxe", "direct", "disk"):
            raise KeelQemuError(f"unknown boot {c.boot!r} (pxe|direct|disk)")
        c.firmware = (c.firmware or "bios").lower()
        if c.firmware not in ("bios", "uefi"):
            raise KeelQemuError(f"unknown firmware {c.firmware!r} (bios|uefi)")
        if c.firmware == "uefi" and c.boot == "direct":
            raise KeelQemuError("QEMU's -kernel boots multiboot images under SeaBIOS only; "
                                "with firmware=uefi use boot=pxe or boot=disk")
        if c.boot == "disk" and c.firmware != "uefi":
            raise KeelQemuError("boot=disk is keel.efi on a FAT disk: it needs firmware=uefi")
        if c.boot == "disk" and c.args:
            raise KeelQemuError("boot=disk passes no kernel arguments (the firmware's default boot "
                                "entry has none); use boot=pxe for arguments")
        c.nic_rom = (c.nic_rom or "ipxe").lower()
        if c.nic_rom not in ("ipxe", "none"):
            raise KeelQemuError(f"unknown nic_rom {c.nic_rom!r} (ipxe|none)")
        if c.nic_rom == "none" and c.firmware != "uefi":
            raise KeelQemuError("nic_rom=none needs firmware=uefi (SeaBIOS has no PXE client of its own)")
        c.accel = c.accel or "auto"
        c.nic = c.nic or "virtio"
        c.mem = int(c.mem or 256)
        c.serial = c.serial or "stdio"
        c.image_dir = Path(c.image_dir or DEFAULT_IMAGE_DIR)
        c.machine = c.machine or DEFAULT_MACHINE
        c.args = list(c.args)
        c.taps = list(c.taps)
        c.smp = int(c.smp or os.environ.get("KEEL_SMP") or 1)
        if not 1 <= c.smp <= 8:
            raise KeelQemuError(f"smp {c.smp} out of range (1..8: the kernel's MAX_CPUS)")
        return c


@dataclass
class Plan:
    cmd: list[str]
    accel: str
    notes: list[str]


def build_command(cfg: Config, *, accel: Optional[str] = None,
                  tftp_dir: Optional[Path] = None, disk_dir: Optional[Path] = None) -> Plan:
    """The QEMU argv for cfg. `accel` forces kvm/tcg (skips auto-selection);
    `tftp_dir` overrides the TFTP root (see pxe_tftp_dir); `disk_dir` is the
    folder of boot=disk's FAT disk (see uefi_disk_dir)."""
    cfg = cfg.normalized()
    layout = Layout.load(cfg.image_dir)
    layout.check(cfg.boot, cfg.firmware)
    if cfg.firmware == "uefi" and not OVMF_FD.is_file():
        raise KeelQemuError(f"{OVMF_FD} not found (apt-get install ovmf)")
    if cfg.boot == "disk" and disk_dir is None:
        raise KeelQemuError("boot=disk needs the disk's folder (uefi_disk_dir)")
    accel, cpu, notes = resolve_accel(accel or cfg.accel, cfg.boot)

    # More than one vCPU under TCG: one host thread per vCPU (MTTCG), so the
    # cores really run at the same time and races can show.
    accel_arg = accel + (",thread=multi" if accel == "tcg" and cfg.smp > 1 else "")
    cmd = [QEMU, "-accel", accel_arg, "-cpu", cpu, "-machine", cfg.machine,
           "-m", str(cfg.mem), "-smp", str(cfg.smp), "-display", "none", "-nodefaults", "-no-reboot"]
    cmd += DEBUG_EXIT
    cmd += ["-serial", cfg.serial]
    if cfg.iommu:
        # The IOMMU must exist before the devices behind it are created.
        # Interrupt remapping stays off (Keel does not use it), and a virtio
        # device goes through the IOMMU only when it offers
        # VIRTIO_F_ACCESS_PLATFORM, which QEMU allows on modern-only devices.
        if cfg.machine != "q35":
            raise KeelQemuError("iommu needs machine q35 (intel-iommu is a q35 device)")
        cmd += ["-device", "intel-iommu,intremap=off"]
    if cfg.firmware == "uefi":
        cmd += ["-bios", str(OVMF_FD)]

    nics = [n.strip() for n in cfg.nic.split(",") if n.strip()]
    if not nics:
        raise KeelQemuError("nic list is empty")
    fwd = [f.strip() for f in (cfg.fwd or "").split(",") if f.strip()]
    fwd_nic = None  # the hostfwd rules go to the first NIC on user-net
    for i, n in enumerate(nics):
        model = NIC_MODELS.get(n)
        if not model:
            raise KeelQemuError(f"unknown nic {n!r} (virtio|virtio-modern|e1000|e1000e)")
        netdev = f"user,id=n{i}"
        dev = f"{model},netdev=n{i},mac={nic_mac(i)}"
        if cfg.iommu and model.startswith("virtio"):
            dev = dev.replace(",disable-legacy=on", "") + ",disable-legacy=on,iommu_platform=on"
        if i < len(cfg.taps) and cfg.taps[i]:
            # A tap in a test host's namespace: frames go to that host only.
            netdev = f"tap,id=n{i},ifname={cfg.taps[i]},script=no,downscript=no"
        else:
            if i == 0 and cfg.boot == "pxe":
                netdev += f",tftp={rel(tftp_dir or layout.image_dir)},bootfile=boot.ipxe"
            if fwd_nic is None:
                fwd_nic = i
                netdev += "".join(f",hostfwd={f}" for f in fwd)
            if i > 0:
                dev += ",romfile="      # only the first NIC offers a boot ROM
        if i == 0 and cfg.nic_rom == "none":
            dev += ",romfile="          # the firmware's own PXE client boots
        cmd += ["-netdev", netdev, "-device", dev]

    if cfg.boot == "pxe":
        # sgabios copies BIOS/iPXE text output to COM1, so the iPXE banner and
        # progress show up on the serial console (the ROM has no serial driver).
        # OVMF writes its console to COM1 itself.
        cmd += (["-device", "sga"] if cfg.firmware == "bios" else []) + ["-boot", "n"]
    elif cfg.boot == "disk":
        if "," in str(disk_dir):
            raise KeelQemuError(f"path {disk_dir} contains ',' which QEMU's -drive syntax cannot express")
        cmd += ["-drive", f"file=fat:{rel(disk_dir)},format=raw,if=none,id=esp,readonly=on",
                "-device", "virtio-blk-pci,drive=esp,bootindex=0"]
    else:
        paths = [layout.image_dir / layout.kernel] + \
                [layout.image_dir / m for m, _ in layout.modules]
        for p in paths:
            if "," in str(p) or " " in str(p):
                raise KeelQemuError(f"path {p} contains ',' or ' ' which QEMU's "
                                    "-initrd syntax cannot express")
        cmd += ["-kernel", rel(paths[0])]
        cmd += ["-initrd", ",".join(
            (rel(layout.image_dir / m) + (" " + a if a else ""))
            for m, a in layout.modules)]
        line = layout.cmdline(cfg.args)
        if line:
            cmd += ["-append", line]

    cmd += shlex.split(cfg.qemu_extra or "")
    if cfg.netns:
        cmd = ["ip", "netns", "exec", cfg.netns] + cmd
    return Plan(cmd, accel, notes)


# --------------------------------------------------------------------------
# Process bookkeeping: never leave QEMU behind
# --------------------------------------------------------------------------

_live: set = set()
_live_lock = threading.Lock()
_signals_installed = False
_shutting_down = False        # set by kill_all(): no new QEMU after that


def stop(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """End PROC, started by spawn() (a session of its own): SIGTERM to its
    process group, SIGKILL after GRACE seconds; forget it."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    with _live_lock:
        _live.discard(proc)


def kill_all() -> None:
    """Kill every QEMU we started and refuse to start more (atexit, signals)."""
    global _shutting_down
    with _live_lock:
        _shutting_down = True
        procs = list(_live)
    for p in procs:
        stop(p, grace=1.0)


atexit.register(kill_all)


def install_signal_handlers() -> None:
    """On SIGTERM/SIGHUP/SIGINT kill QEMU at once (worker threads then finish
    quickly instead of running out their timeouts), then raise SystemExit /
    KeyboardInterrupt so finally-blocks and atexit run."""
    global _signals_installed
    if _signals_installed or threading.current_thread() is not threading.main_thread():
        return
    _signals_installed = True

    def handler(signum, frame):
        kill_all()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        if signal.getsignal(s) in (signal.SIG_DFL, signal.default_int_handler, None):
            signal.signal(s, handler)


def spawn(cmd: list[str], out) -> subprocess.Popen:
    """Start CMD (QEMU) in a session of its own, output to OUT; kill_all()
    and the signal handlers end it.  Refused once kill_all() ran."""
    # setpriv --pdeathsig: if this Python process dies without cleanup
    # (SIGKILL), the kernel kills QEMU too.
    pre = []
    setpriv = shutil.which("setpriv")
    if setpriv:
        pre = [setpriv, "--pdeathsig", "KILL", "--"]
    with _live_lock:
        if _shutting_down:
            raise KeelQemuError("shutting down: not starting QEMU")
        proc = subprocess.Popen(pre + cmd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        _live.add(proc)
    return proc


# --------------------------------------------------------------------------
# Harness
# --------------------------------------------------------------------------

Expect = Union[str, Pattern[str]]

_CSI_RE = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|[@-Z\\-_])")


def clean_log(raw: str) -> str:
    """Serial text for matching: ANSI escapes removed and each line reduced to
    what a terminal would show (\r returns to column 0, \b moves left, later
    characters overwrite earlier ones). sgabios/iPXE output needs this."""
    s = _CSI_RE.sub("", raw).replace("\r\n", "\n")
    if "\r" not in s and "\b" not in s:
        return s
    lines = []
    for line in s.split("\n"):
        if "\r" in line or "\b" in line:
            buf: list[str] = []
            col = 0
            for ch in line:
                if ch == "\r":
                    col = 0
                elif ch == "\b":
                    col = max(0, col - 1)
                else:
                    if col < len(buf):
                        buf[col] = ch
                    else:
                        buf.append(ch)
                    col += 1
            line = "".join(buf)
        lines.append(line)
    return "\n".join(lines)


def _compile(e: Expect) -> Pattern[str]:
    if isinstance(e, str):
        return re.compile(re.escape(e))
    return e


def match_in_order(text: str, expect: Sequence[Expect]) -> list[bool]:
    """Each expectation is searched after the end of the previous match.
    Literal strings match anywhere within a line; regexes use re.MULTILINE
    if compiled with it (^/$ anchors)."""
    pos, res = 0, []
    for e in expect:
        m = _compile(e).search(text, pos)
        if m:
            res.append(True)
            pos = m.end()
        else:
            res.append(False)
            # keep later expectations unmatched: order matters
            pos = len(text) + 1
    return res


@dataclass
class BootResult:
    name: str
    log: str                      # cleaned serial log (what matching used)
    raw_log: str                  # serial log exactly as written by QEMU
    expect: list
    matched: list[bool]
    status: Optional[int]         # QEMU exit status, None if we killed it
    timed_out: bool
    accel: str
    cmd: list[str]
    duration: float
    log_path: Path
    qemu_output: str = ""         # QEMU's own stdout/stderr
    kvm_error: bool = False       # the final attempt hit "KVM internal error"
    retried_tcg: bool = False     # first attempt hit it under KVM; rerun on TCG
    stopped_on: Optional[str] = None   # text that matched a fail_on pattern
    notes: list[str] = field(default_factory=list)

    @property
    def all_matched(self) -> bool:
        return all(self.matched)

    def missing(self) -> list[str]:
        return [getattr(e, "pattern", e) for e, ok in zip(self.expect, self.matched) if not ok]

    def tail(self, n: int = 15) -> str:
        return "\n".join(self.log.rstrip("\n").splitlines()[-n:])

    def describe(self) -> str:
        st = "killed" if self.status is None else f"status {self.status}"
        bits = [f"{st}", f"accel={self.accel}", f"{self.duration:.1f}s"]
        if self.timed_out:
            bits.append("TIMED OUT")
        if self.kvm_error:
            bits.append("KVM internal error")
        if self.stopped_on:
            bits.append(f"stopped on {self.stopped_on!r}")
        return ", ".join(bits)


def boot(name: str, *, boot: str = "direct", accel: str = "auto",
         nic: str = "virtio", mem: int = 256, fwd: str = "",
         qemu_extra: str = "", args: Sequence[str] = (),
         image_dir: Union[str, Path, None] = None,
         timeout: float = 30.0, expect: Sequence[Expect] = (),
         fail_on: Sequence[Expect] = (), until: Sequence[Expect] = (),
         wait_exit: bool = False, exit_grace: float = 5.0,
         log_path: Union[str, Path, None] = None,
         retry_kvm_error: bool = True, quiet: bool = False,
         taps: Sequence[str] = (), netns: str = "", firmware: str = "bios",
         nic_rom: str = "ipxe", smp: int = 0) -> BootResult:
    """Boot once, serial to build/test-logs/NAME.log (or log_path).

    Stops when (a) every `expect` entry has appeared in order, or any `until`
    entry has appeared (a line after which nothing more is expected) -- unless
    `wait_exit`, then it waits up to `exit_grace` more seconds for QEMU to
    exit (to get the debug-exit status) -- or (b) a `fail_on` entry appears, (c) QEMU exits, (d) QEMU
    reports a KVM internal error, or (e) `timeout` seconds pass. QEMU's whole
    process group is then killed. A KVM internal error under KVM is retried
    once under TCG (noted on stderr and in result.notes)."""
    install_signal_handlers()
    cfg = Config(boot=boot, accel=accel, nic=nic, mem=mem, serial="null",
                 fwd=fwd, qemu_extra=qemu_extra, args=list(args),
                 image_dir=image_dir or os.environ.get("KEEL_IMAGE_DIR") or DEFAULT_IMAGE_DIR,
                 taps=list(taps), netns=netns, firmware=firmware, nic_rom=nic_rom, smp=smp)
    log_path = Path(log_path) if log_path else LOG_DIR / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)

    run = dict(timeout=timeout, expect=expect, fail_on=fail_on, until=until,
               wait_exit=wait_exit,
               exit_grace=exit_grace, log_path=log_path, quiet=quiet)
    res = _boot_once(name, cfg, None, **run)

    def retry_tcg(msg: str) -> BootResult:
        note(msg)
        again = _boot_once(name, cfg, "tcg", **run)
        again.retried_tcg = True
        again.notes = res.notes + [msg] + again.notes
        return again

    no_user = res.accel == "kvm" and (res.status == STATUS_NO_USER_MODE or NO_USER_MODE_RE.search(res.log))
    if no_user and retry_kvm_error:
        return retry_tcg(f"{name}: this KVM runs SYSCALL without entering ring 0 (the kernel's boot probe says so); "
                         f"retrying under TCG")
    if res.kvm_error and res.accel == "kvm" and retry_kvm_error:
        first = log_path.with_name(log_path.stem + ".kvm-error" + log_path.suffix)
        os.replace(log_path, first)
        qlog = log_path.with_name(log_path.stem + ".qemu" + log_path.suffix)
        if qlog.exists():
            os.replace(qlog, first.with_name(first.stem + ".qemu" + first.suffix))
        return retry_tcg(f"{name}: KVM internal error (an instruction KVM cannot emulate); "
                         f"retrying under TCG (KVM attempt's log: {rel(first)})")
    return res


def _boot_once(name, cfg, force_accel, *, timeout, expect, fail_on, until, wait_exit,
               exit_grace, log_path: Path, quiet: bool) -> BootResult:
    expect = list(expect)
    fail_pats = [_compile(f) for f in fail_on]
    until_pats = [_compile(u) for u in until]
    workdir = None
    proc = None
    qemu_out_path = log_path.with_name(log_path.stem + ".qemu" + log_path.suffix)
    try:
        ncfg = cfg.normalized()
        tftp = disk = None
        if (ncfg.boot == "pxe" and ncfg.args) or ncfg.boot == "disk":
            (BUILD / "qemu-tmp").mkdir(parents=True, exist_ok=True)
            workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=BUILD / "qemu-tmp"))
            if ncfg.boot == "disk":
                disk = uefi_disk_dir(Layout.load(ncfg.image_dir), workdir / "esp")
            else:
                tftp = pxe_tftp_dir(Layout.load(ncfg.image_dir), ncfg.args, workdir / "tftp")
        ncfg.serial = f"file:{log_path}"
        plan = build_command(ncfg, accel=force_accel, tftp_dir=tftp, disk_dir=disk)
        if not quiet:
            for n in plan.notes:
                note(f"{name}: {n}")
        if log_path.exists():
            log_path.unlink()
        t0 = time.monotonic()
        with open(qemu_out_path, "wb") as qout:
            proc = spawn(plan.cmd, qout)
            status = None
            timed_out = kvm_error = False
            stopped_on = None
            raw = ""
            matched = [False] * len(expect)
            all_since = None
            while True:
                rc = proc.poll()
                raw = _read(log_path)
                text = clean_log(raw)
                matched = match_in_order(text, expect)
                if rc is not None:
                    status = rc
                    break
                if KVM_ERROR_RE.search(_read(qemu_out_path)):
                    kvm_error = True
                    break
                hit = next((m for m in (p.search(text) for p in fail_pats) if m), None)
                if hit:
                    stopped_on = hit.group(0)
                    time.sleep(0.3)          # let the rest of a dump arrive
                    break
                if all(matched) or any(p.search(text) for p in until_pats):
                    if not wait_exit:
                        break
                    all_since = all_since or time.monotonic()
                    if time.monotonic() - all_since > exit_grace:
                        break
                if time.monotonic() - t0 > timeout:
                    timed_out = True
                    break
                time.sleep(0.05)
            stop(proc)
            duration = time.monotonic() - t0
        raw = _read(log_path)
        text = clean_log(raw)
        qemu_out = _read(qemu_out_path)
        if KVM_ERROR_RE.search(qemu_out):
            kvm_error = True
        return BootResult(name=name, log=text, raw_log=raw, expect=expect,
                          matched=match_in_order(text, expect), status=status,
                          timed_out=timed_out, accel=plan.accel, cmd=plan.cmd,
                          duration=duration, log_path=log_path,
                          qemu_output=qemu_out, kvm_error=kvm_error,
                          stopped_on=stopped_on, notes=list(plan.notes))
    finally:
        if proc is not None:
            stop(proc)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def _read(p: Path) -> str:
    try:
        return p.read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""


# --------------------------------------------------------------------------
# Test reporting
# --------------------------------------------------------------------------

def drop_workdir(path: Path, keep: bool) -> None:
    """Removes a suite's work directory PATH; with KEEP (it may hold test
    keys) leaves it and says where it is on stderr."""
    if keep:
        print(f"# work directory kept: {path}", file=sys.stderr)
    else:
        shutil.rmtree(path, ignore_errors=True)


class TestFailure(Exception):
    pass


def check(cond, reason: str) -> None:
    if not cond:
        raise TestFailure(reason)


class Reporter:
    """One `PASS name` / `FAIL name: reason` line per test on stdout,
    details on stderr, and finish() prints `N passed, N failed` last."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.names: list[str] = []    # every test reported, in order
        self._lock = threading.Lock()
        install_signal_handlers()     # from the main thread, before workers start

    def ok(self, name: str) -> None:
        with self._lock:
            self.passed += 1
            self.names.append(name)
            print(f"PASS {name}", flush=True)

    def fail(self, name: str, reason: str, detail: str = "") -> None:
        reason = " ".join(str(reason).split()) or "failed"
        with self._lock:
            self.failed += 1
            self.names.append(name)
            if detail:
                sys.stdout.flush()
                print("\n".join("  | " + l for l in detail.rstrip().splitlines()),
                      file=sys.stderr, flush=True)
            print(f"FAIL {name}: {reason}", flush=True)

    def guest_results(self, text: str, pattern: Pattern[str], name: Callable[[str], str] = lambda n: n,
                      detail: str = "") -> None:
        """The `PASS NAME` / `FAIL NAME: REASON` lines a guest's test program
        printed (PATTERN's three groups: PASS or FAIL, the name, the reason)
        reported here as tests named name(NAME); DETAIL goes with a failure."""
        for kind, test, why in pattern.findall(text):
            if kind == "PASS":
                self.ok(name(test))
            else:
                self.fail(name(test), why or "failed", detail)

    def run(self, name: str, fn: Callable[[], None]) -> bool:
        """Run fn(); TestFailure/AssertionError/other exceptions mean FAIL.
        A TestFailure may carry .detail (printed to stderr).  A test that
        took a second or more says how long on stderr: the 20-minute budget
        of `make test` is spent where these lines say."""
        t0 = time.monotonic()
        try:
            fn()
        except (TestFailure, AssertionError) as e:
            self.fail(name, str(e) or type(e).__name__, getattr(e, "detail", ""))
            return False
        except KeelQemuError as e:
            self.fail(name, str(e))
            return False
        except Exception as e:  # noqa: BLE001 - a crashing test is a failure
            self.fail(name, f"{type(e).__name__}: {e}", traceback.format_exc())
            return False
        finally:
            took = time.monotonic() - t0
            if took >= 1.0:
                print(f"  time: {name} {took:.1f} s", file=sys.stderr, flush=True)
        self.ok(name)
        return True

    def missing_expected(self, path: Optional[Path] = None) -> list[str]:
        """The patterns of the suite's list of expected tests that no
        reported test matched.  The list is tests/qemu/expected/STEM.txt
        (STEM: the running script's name), one fnmatch pattern a line, #
        comments; a line `args: PATTERN` says for which command-line
        arguments (joined by spaces, fnmatch) the list holds (default: none,
        as `make test` runs the suite).  A suite without a list, or run with
        other arguments, expects nothing."""
        if path is None:
            path = Path(__file__).resolve().parent / "expected" / (Path(sys.argv[0]).stem + ".txt")
        try:
            lines = path.read_text().splitlines()
        except OSError:
            return []
        pats = [l.split("#", 1)[0].strip() for l in lines]
        args = [p[5:].strip() for p in pats if p.startswith("args:")]
        if not fnmatch.fnmatchcase(" ".join(sys.argv[1:]), args[0] if args else ""):
            return []
        pats = [p for p in pats if p and not p.startswith("args:")]
        return [p for p in pats if not any(fnmatch.fnmatchcase(n, p) for n in self.names)]

    def finish(self) -> int:
        # A test that silently dropped out (never reported) fails the run.
        for p in self.missing_expected():
            self.fail(f"expected:{p}", "no test of this name ran (tests/qemu/expected/)")
        with self._lock:
            print(f"{self.passed} passed, {self.failed} failed", flush=True)
            return 0 if self.failed == 0 and self.passed > 0 else 1


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--boot", default="pxe", help="pxe | direct | disk (default pxe)")
    p.add_argument("--firmware", default="bios", help="bios (SeaBIOS) | uefi (OVMF) (default bios)")
    p.add_argument("--nic-rom", default="ipxe",
                   help="ipxe (the NIC's iPXE ROM) | none (UEFI: the firmware's own PXE client)")
    p.add_argument("--accel", default="auto", help="auto | kvm | tcg (default auto)")
    p.add_argument("--nic", default="virtio",
                   help="virtio | e1000 | e1000e, or two comma-separated (default virtio)")
    p.add_argument("--mem", default="256", help="guest RAM in MiB (default 256)")
    p.add_argument("--smp", default="0", help="vCPUs (default $KEEL_SMP, else 1)")
    p.add_argument("--serial", default="stdio",
                   help="QEMU -serial spec (default stdio, run as mon:stdio so "
                        "Ctrl-A X / Ctrl-A C work)")
    p.add_argument("--fwd", default="",
                   help="extra hostfwd rules, comma-separated, e.g. tcp:127.0.0.1:8443-:443")
    p.add_argument("--qemu-extra", default="", help="extra QEMU arguments (shell-split)")
    p.add_argument("--image-dir", default="",
                   help=f"TFTP/image directory (default {rel(DEFAULT_IMAGE_DIR)})")
    p.add_argument("--machine", default=DEFAULT_MACHINE, help=argparse.SUPPRESS)
    p.add_argument("--iommu", action="store_true",
                   help="add QEMU's intel-iommu (VT-d); virtio NICs get iommu_platform=on")
    p.add_argument("args", nargs="*", help="kernel command line (after --)")


def _config_from(ns) -> Config:
    serial = ns.serial or "stdio"
    if serial == "stdio":
        serial = "mon:stdio"
    return Config(boot=ns.boot, firmware=ns.firmware, nic_rom=ns.nic_rom, accel=ns.accel, nic=ns.nic,
                  mem=ns.mem or 256, smp=int(ns.smp or 0),
                  serial=serial, fwd=ns.fwd, qemu_extra=ns.qemu_extra,
                  args=ns.args, image_dir=ns.image_dir or
                  os.environ.get("KEEL_IMAGE_DIR") or DEFAULT_IMAGE_DIR,
                  machine=ns.machine, iommu=ns.iommu)


def _run_dirs(cfg: Config) -> tuple[Optional[Path], Optional[Path]]:
    """(TFTP overlay, FAT disk folder) for `run`, per process (exec'd, so it
    cannot clean up after itself); stale ones of dead processes are removed
    here."""
    ncfg = cfg.normalized()
    if not ((ncfg.boot == "pxe" and ncfg.args) or ncfg.boot == "disk"):
        return None, None
    base = BUILD / "qemu-run"
    base.mkdir(parents=True, exist_ok=True)
    for d in base.iterdir():
        if d.name.isdigit() and not os.path.exists(f"/proc/{d.name}"):
            shutil.rmtree(d, ignore_errors=True)
    layout = Layout.load(ncfg.image_dir)
    if ncfg.boot == "disk":
        return None, uefi_disk_dir(layout, base / str(os.getpid()) / "esp")
    return pxe_tftp_dir(layout, ncfg.args, base / str(os.getpid()) / "tftp"), None


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="Boot Keel under QEMU.")
    sub = ap.add_subparsers(dest="verb", required=True)
    _add_common(sub.add_parser("run", help="exec QEMU with the serial console here"))
    _add_common(sub.add_parser("cmd", help="print the QEMU command line only"))
    pp = sub.add_parser("probe", help="show the cached KVM/CPU probe")
    pp.add_argument("--refresh", action="store_true", help="probe again")
    ns = ap.parse_args(argv)

    try:
        if ns.verb == "probe":
            print(json.dumps(probe(refresh=ns.refresh), indent=1))
            return 0
        cfg = _config_from(ns)
        tftp, disk = _run_dirs(cfg)
        plan = build_command(cfg, tftp_dir=tftp, disk_dir=disk)
    except KeelQemuError as e:
        note(f"error: {e}")
        return 2
    for n in plan.notes:
        note(n)
    if ns.verb == "cmd":
        print(shlex.join(plan.cmd))
        return 0
    print(shlex.join(plan.cmd), file=sys.stderr, flush=True)
    if plan.accel == "kvm":
        note("if QEMU stops with 'KVM internal error', rerun with --accel tcg")
    try:
        os.execvp(plan.cmd[0], plan.cmd)
    except OSError as e:
        note(f"error: cannot exec {plan.cmd[0]}: {e}")
        return 127


if __name__ == "__main__":
    sys.exit(main())


def manifest_servers(text: str) -> int:
    """How many servers a manifest text lists, a line with `instances A-B`
    counting B - A + 1 (init/manifest.h): init's index of a server (its badge
    minus one) is its position in this count."""
    n = 0
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words[:1] != ["server"]:
            continue
        if "instances" in words and words.index("instances") + 1 < len(words):
            a, b = words[words.index("instances") + 1].split("-")
            n += int(b) - int(a) + 1
        else:
            n += 1
    return n


def socket_abi(repo: Optional[Path] = None) -> dict[str, int]:
    """SOCK_HDR_PAGES, SOCK_MAX, SOCK_RING_BYTES and SOCK_POOL_PAGES of abi/keel/socket.h."""
    text = ((repo or Path(__file__).resolve().parents[2]) / "abi" / "keel" / "socket.h").read_text()
    names = "SOCK_HDR_PAGES|SOCK_MAX|SOCK_RING_BYTES|SOCK_POOL_PAGES"
    return {k: int(v, 0) for k, v in re.findall(r"#define (" + names + r")\s+(\w+?)u?\b", text)}


def sock_shm_pages(repo: Optional[Path] = None) -> tuple[int, int]:
    """(SOCK_SHM_PAGES, SOCK_SHM_TX_PAGES) of abi/keel/socket.h: the pages of a
    socket client's two shared regions, which test manifests must grant
    (`share sock-C N share socktx-C M`)."""
    val = socket_abi(repo)
    return val["SOCK_HDR_PAGES"] + val["SOCK_POOL_PAGES"], val["SOCK_POOL_PAGES"]
