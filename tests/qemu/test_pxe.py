#!/usr/bin/env python3
"""PXE-booting the appliance the way a site does: a real dnsmasq (DHCP + TFTP)
in a network namespace, on the tap the guest's NIC is on (no QEMU user
network), serving build/image/pxe/ with image/dnsmasq-pxe.conf (the file
docs/PXE.md shows), only the interface and folder changed.

The namespace is also the site's network: the guest's appliance.conf (a site
archive made here) takes its address by DHCP from the same dnsmasq and proxies
TLS to a backend in the namespace; curl from the namespace fetches the page
through the guest.  Ways:

  bios_tftp   SeaBIOS + the NIC's iPXE ROM; boot.ipxe, keel, modules by TFTP
  bios_http   the same, boot.ipxe and everything after it by HTTP
  uefi_tftp   OVMF's own PXE client (no NIC ROM), as on a real UEFI server:
              dnsmasq hands it Debian's snponly.efi, which asks again as iPXE
              and gets boot.ipxe (the user-class test: no chainload loop);
              keel.efi and the modules by TFTP
  uefi_http   OVMF + the NIC's iPXE ROM (iPXE's UEFI build), the script,
              keel.efi and the modules from an HTTP server in the namespace

and three that must fail clearly: a BIOS PXE boot whose servers.cpio is
missing on the server (iPXE's line, then boot.ipxe's `Keel: boot failed`),
keel.efi started from a FAT disk with servers.cpio missing beside it (the
stub's line, then init's), and a BIOS PXE boot served a wrong servers.cpio
(init's line).  None may hang silently or reset the machine.  A last check
makes sure docs/PXE.md shows the dnsmasq configuration these boots use, and
uefi_ktest runs the kernel's in-guest tests with the kernel entered through
keel.efi (QEMU's user network).

Usage: python3 tests/qemu/test_pxe.py [--only NAME[,NAME]]
"""

from __future__ import annotations

import argparse
import functools
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402

PXE_DIR = kq.BUILD / "image" / "pxe"
DNSMASQ_CONF = REPO / "image" / "dnsmasq-pxe.conf"
SERVER, PREFIX, SERVER6 = "192.168.50.1", 24, "fd50::1/64"   # docs/PXE.md's example network
BACKEND_PORT = 8080
ADDRESS_RE = re.compile(r"netd: eth0: up, address (192\.168\.50\.\d+)")
PAGE = "Hello from the demo backend"

SITE_CONF = f"""# test_pxe.py: the guest on the namespace's network, TLS to its backend
hostname pxe1
interface wan nic 0 dhcp
pass out keep state
pass in on wan proto icmp keep state
pass in on wan proto tcp to port 443 keep state
tls 443 {{
    certificate edge1.crt key edge1.key
    backend {SERVER}:{BACKEND_PORT}
}}
"""


sh = functools.partial(netlab.sh, timeout=60)  # every command here is short


class Net(netlab.Lab):
    """The namespace, its tap, the backend and (per way) dnsmasq and an HTTP
    server.  Every process is ours and is ended by netlab.Lab."""

    def __init__(self, tmp: Path) -> None:
        super().__init__("kpxe")
        self.ns = self.netns(f"kpxe{self.pid}")
        self.tmp = tmp
        netlab.Lab.tap(self, self.ns, "ptap0", f"{SERVER}/{PREFIX}")
        self.tap = "ptap0"
        sh("ip", "-n", self.ns, "addr", "add", SERVER6, "dev", self.tap, "nodad")
        www = REPO / "image" / "example" / "www"
        self.backend = self.spawn("backend", [sys.executable, "-m", "http.server", str(BACKEND_PORT), "--bind",
                                              SERVER, "--directory", str(www)])

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        out = open(self.tmp / f"{name}.log", "ab")
        self.files.append(out)
        return self.helper(self.ns, *argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def dnsmasq(self, root: Path, http: bool) -> tuple[subprocess.Popen, Path]:
        """dnsmasq with the documented configuration; with `http` the iPXE
        line names the script's HTTP URL, as docs/PXE.md's HTTP boot says."""
        text = DNSMASQ_CONF.read_text()
        text = re.sub(r"(?m)^interface=.*$", f"interface={self.tap}", text)
        text = re.sub(r"(?m)^tftp-root=.*$", f"tftp-root={root}", text)
        text = text.replace("constructor:eth1", f"constructor:{self.tap}")
        if http:
            text, n = re.subn(r"(?m)^dhcp-boot=tag:ipxe,boot\.ipxe$", f"dhcp-boot=tag:ipxe,http://{SERVER}/boot.ipxe",
                              text)
            kq.check(n == 1, "image/dnsmasq-pxe.conf has no `dhcp-boot=tag:ipxe,boot.ipxe` line to point at HTTP")
        conf = self.tmp / "dnsmasq.conf"
        conf.write_text(text)
        log = self.tmp / "dnsmasq.log"
        log.write_text("")
        p = self.spawn("dnsmasq-out", ["dnsmasq", "--no-daemon", f"--conf-file={conf}", "--log-dhcp", "--user=root",
                                   f"--dhcp-leasefile={self.tmp / 'leases'}", f"--pid-file={self.tmp / 'dnsmasq.pid'}",
                                   f"--log-facility={log}"])
        return p, log



def make_root(tmp: Path, name: str, site: Path) -> Path:
    """A copy of build/image/pxe with this test's site archive."""
    root = tmp / name
    shutil.copytree(PXE_DIR, root)
    shutil.copyfile(site, root / "site.cpio")
    return root


def make_site(tmp: Path) -> Path:
    d = tmp / "site"
    d.mkdir()
    for f in ("edge1.crt", "edge1.key"):
        shutil.copyfile(kq.BUILD / "site-example" / f, d / f)
    (d / "appliance.conf").write_text(SITE_CONF)
    out = tmp / "site.cpio"
    sh(str(REPO / "tools" / "mksite.sh"), str(out), str(d / "appliance.conf"), str(kq.BUILD / "tools" / "conf-check"))
    return out


def serve_tls(net: Net, console: str) -> str:
    """The guest's DHCP address, after curl fetched the backend's page
    through its TLS proxy from the namespace."""
    m = ADDRESS_RE.search(console)
    kq.check(m, "netd got no address on 192.168.50.0/24 from dnsmasq")
    addr = m.group(1)
    p = None
    for _ in range(10):
        p = netlab.ns_run(net.ns, "curl", "-sk", "--max-time", "15", f"https://{addr}/", timeout=30)
        if p.returncode == 0 and PAGE in p.stdout:
            return addr
        time.sleep(1)
    raise kq.TestFailure(f"curl https://{addr}/ from the namespace: {p.returncode} {p.stderr.strip()[-200:]}")


class Guest:
    """QEMU PXE-booting on the namespace's tap, left running (kq.boot would
    stop it once the lines appear, before curl could reach it)."""

    def __init__(self, net: Net, name: str, firmware: str, nic_rom: str, root: Path) -> None:
        self.log = kq.LOG_DIR / f"pxe-{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        if self.log.exists():
            self.log.unlink()
        cfg = kq.Config(boot="pxe", firmware=firmware, nic_rom=nic_rom, taps=[net.tap], netns=net.ns,
                        serial=f"file:{self.log}", qemu_extra="-device virtio-rng-pci", image_dir=root)
        self.net = net
        self.qout = open(kq.LOG_DIR / f"pxe-{name}.qemu.log", "wb")
        self.t0 = time.monotonic()
        self.proc = net.qemu(cfg, self.qout)
        self.text = netlab.SerialLog(self.log).text

    def wait(self, expect: list, timeout: float, fail_on: list) -> None:
        """Every `expect` entry in order within `timeout` s, or TestFailure
        with the console's tail; a `fail_on` line or QEMU's exit ends early."""
        end = time.monotonic() + timeout
        while True:
            text = self.text()
            matched = kq.match_in_order(text, expect)
            bad = next((m for m in (re.search(f, text) for f in fail_on) if m), None)
            why = ("" if all(matched) else f"QEMU exited ({self.proc.returncode})" if self.proc.poll() is not None
                   else f"stopped on {bad.group(0)!r}" if bad else "timed out" if time.monotonic() > end else None)
            if why == "":
                return
            if why:
                missing = [getattr(e, "pattern", e) for e, ok in zip(expect, matched) if not ok]
                err = kq.TestFailure(f"{why} after {time.monotonic() - self.t0:.1f}s; missing: {'; '.join(missing)}")
                err.detail = "\n".join(text.rstrip().splitlines()[-25:])
                raise err
            time.sleep(0.2)

    def close(self) -> None:
        self.net.stop(self.proc, grace=3.0)
        self.qout.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="comma-separated case names")
    ns = ap.parse_args()
    only = set(filter(None, ns.only.split(",")))
    rep = kq.Reporter()
    for f in ("keel", "keel.efi", "servers.cpio", "boot.ipxe", "undionly.kpxe", "snponly.efi", "ipxe.efi"):
        if not (PXE_DIR / f).is_file():
            rep.fail("pxe.tree", f"{PXE_DIR / f} missing (run make image)")
            return rep.finish()
    def docs_config() -> None:
        """docs/PXE.md shows the configuration these boots run with."""
        doc = (REPO / "docs" / "PXE.md").read_text()
        kq.check(DNSMASQ_CONF.read_text().strip() in doc, "docs/PXE.md does not show image/dnsmasq-pxe.conf as it is")

    if not only or "docs_config" in only:
        rep.run("pxe.docs_config", docs_config)
    (kq.BUILD / "qemu-tmp").mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="pxe-", dir=kq.BUILD / "qemu-tmp"))
    net = None
    try:
        net = Net(tmp)
        site = make_site(tmp)

        def way(name: str, firmware: str, nic_rom: str, http: bool, timeout: float, extra: list, after=None):
            def run() -> None:
                root = make_root(tmp, name, site)
                dns, dlog = net.dnsmasq(root, http)
                web = net.spawn(f"http-{name}", [sys.executable, "-m", "http.server", "80", "--bind", SERVER,
                                                  "--directory", str(root)]) if http else None
                guest = Guest(net, name, firmware, nic_rom, root)
                try:
                    guest.wait(extra + ["keel: kernel up", "keel: ready"], timeout,
                               [r"keel: panic", r"Keel: boot failed"])
                    guest.wait([ADDRESS_RE], 60, [r"keel: panic"])
                    boot_s = time.monotonic() - guest.t0
                    serve_tls(net, guest.text())
                    print(f"  {name}: ready with an address after {boot_s:.1f}s, TLS served after "
                          f"{time.monotonic() - guest.t0:.1f}s", file=sys.stderr, flush=True)
                    if after:
                        after(guest.text(), dlog.read_text(errors="replace"),
                              (tmp / f"http-{name}.log").read_text(errors="replace") if http else "")
                finally:
                    guest.close()
                    net.stop(dns)
                    if web:
                        net.stop(web)
            if not only or name in only:
                rep.run(f"pxe.{name}", run)

        def tftp_only(r, dlog, _):
            kq.check(re.search(r"dnsmasq-tftp.*sent .*/keel ", dlog + " "), "dnsmasq's log shows no TFTP of keel")

        def chainloaded_once(console, dlog, _):
            # The firmware got snponly.efi; iPXE, asking again, got the script
            # (had it got snponly.efi again, it would load itself forever).
            offers = re.findall(r"tags: ([^\n]*)\n(?:.*\n)*?.*bootfile-name  (\S+)", dlog)
            kq.check(("snponly.efi" in [f for _, f in offers]), f"dnsmasq never offered snponly.efi: {offers}")
            for tags, f in offers:
                kq.check(("ipxe" in tags.split(", ")) == (f == "boot.ipxe"), f"offered {f} to a client tagged {tags}")
            kq.check("Filename: snponly.efi" not in console, "iPXE was offered snponly.efi (a chainload loop)")
            sent = re.findall(r"dnsmasq-tftp.*sent \S+/(\S+) to", dlog)
            kq.check("keel.efi" in sent and "servers.cpio" in sent, f"TFTP sent {sent}")

        def over_http(r, dlog, hlog):
            got = re.findall(r'"GET /(\S+) HTTP', hlog)
            for f in ("boot.ipxe", "keel.efi", "servers.cpio", "site.cpio"):
                kq.check(f in got, f"{f} was not fetched over HTTP (GETs: {got})")
            kq.check(not re.search(r"dnsmasq-tftp.*sent", dlog), "something came over TFTP")

        def http_bios(r, dlog, hlog):
            got = re.findall(r'"GET /(\S+) HTTP', hlog)
            kq.check(all(f in got for f in ("boot.ipxe", "keel", "servers.cpio", "site.cpio")), f"GETs: {got}")

        way("bios_tftp", "bios", "ipxe", False, 90, ["Keel: loading kernel and modules (pcbios)"], tftp_only)
        way("bios_http", "bios", "ipxe", True, 90, ["Keel: loading kernel and modules (pcbios)"], http_bios)
        way("uefi_tftp", "uefi", "none", False, 180,
            ["NBP filename is snponly.efi", "Keel: loading kernel and modules (efi)", "keel: efi: module site.cpio",
             "keel: entered from keel.efi"], chainloaded_once)
        way("uefi_http", "uefi", "ipxe", True, 180,
            ["Keel: loading kernel and modules (efi)", "keel: efi: module servers.cpio", "keel: entered from keel.efi"],
            over_http)

        def missing_module() -> None:
            img = tmp / "missing"
            img.mkdir()
            for f in ("keel.efi", "site.cpio"):
                shutil.copyfile(PXE_DIR / f, img / f)
            # the disk's folder gets what this script names: keel.efi and site.cpio only
            (img / "boot.ipxe").write_text("#!ipxe\nkernel keel.efi\nmodule site.cpio site\nboot\n")
            r = kq.boot("pxe-uefi-missing-module", boot="disk", firmware="uefi", image_dir=img, timeout=120,
                        expect=[re.compile(r"keel: efi: module servers\.cpio beside BOOTX64\.EFI: not found "
                                           r"\(EFI_NOT_FOUND\); booting without it"),
                                "keel: efi: module site.cpio", "keel: kernel up",
                                "keel: init: no boot module named 'servers'; nothing to start"],
                        fail_on=[r"keel: panic"])
            kq.check(r.all_matched, f"{r.describe()}; missing: {'; '.join(map(str, r.missing()))}")
            kq.check(r.status is None, f"QEMU ended (status {r.status}): the machine reset or stopped")

        def wrong_module() -> None:
            root = make_root(tmp, "wrong", site)
            shutil.copyfile(site, root / "servers.cpio")   # the site archive served as the servers archive
            dns, _ = net.dnsmasq(root, False)
            try:
                r = kq.boot("pxe-bios-wrong-module", boot="pxe", firmware="bios", taps=[net.tap], netns=net.ns,
                            image_dir=root, timeout=90,
                            expect=["keel: kernel up", re.compile(r"keel: init: servers archive: manifest: .+")],
                            fail_on=[r"keel: panic"])
            finally:
                net.stop(dns)
            kq.check(r.all_matched, f"{r.describe()}; missing: {'; '.join(map(str, r.missing()))}")
            kq.check(r.status is None, f"QEMU ended (status {r.status}): the machine reset or stopped")

        def bios_missing_module() -> None:
            root = make_root(tmp, "bios-missing", site)
            (root / "servers.cpio").unlink()
            dns, _ = net.dnsmasq(root, False)
            try:
                # image_dir only satisfies the harness's check: dnsmasq serves `root`
                r = kq.boot("pxe-bios-missing-module", boot="pxe", firmware="bios", taps=[net.tap], netns=net.ns,
                            image_dir=PXE_DIR, timeout=90,
                            expect=["servers.cpio...", re.compile(r"Keel: boot failed: .+")])
            finally:
                net.stop(dns)
            kq.check(r.all_matched, f"{r.describe()}; missing: {'; '.join(map(str, r.missing()))}")
            kq.check("keel: Keel" not in r.log, "the kernel started without its servers archive")

        def uefi_ktest() -> None:
            """The kernel's in-guest tests, the kernel entered through keel.efi
            (QEMU's user network: this is about the entry, not the network)."""
            r = kq.boot("pxe-uefi-ktest", boot="pxe", firmware="uefi", args=["ktest", "debug-exit"], timeout=240,
                        expect=["keel: entered from keel.efi", re.compile(r"(\d+) passed, (\d+) failed")],
                        fail_on=[r"keel: panic"], wait_exit=True)
            kq.check(r.all_matched, f"{r.describe()}; missing: {'; '.join(map(str, r.missing()))}")
            m = re.search(r"(\d+) passed, (\d+) failed", r.log)
            kq.check(int(m.group(1)) > 0 and m.group(2) == "0", f"ktest: {m.group(0)}")
            kq.check(r.status == kq.STATUS_GUEST_PASS, f"QEMU status {r.status}, not the kernel's pass exit")

        if not only or "uefi_ktest" in only:
            rep.run("pxe.uefi_ktest", uefi_ktest)
        if not only or "bios_missing_module" in only:
            rep.run("pxe.bios_missing_module", bios_missing_module)
        if not only or "uefi_missing_module" in only:
            rep.run("pxe.uefi_missing_module", missing_module)
        if not only or "bios_wrong_module" in only:
            rep.run("pxe.bios_wrong_module", wrong_module)
    finally:
        if net:
            net.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
