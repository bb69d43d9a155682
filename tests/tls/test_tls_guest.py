#!/usr/bin/env python3
"""Keel's TLS pieces in the guest: tlsselftest and keyd (with keydtest).

Builds a private copy of the boot image (the built kernel, every server
ELF, a manifest = image/manifest plus the test lines below, and a site
archive with test keys and certificates made here by openssl, removed at
the end), then boots it twice under TCG with a virtio-rng device:

  tlsselftest   mbedTLS self-tests, the entropy module, ECDSA/ECDH
  keydtest      keyd: opening keys, signatures verified, refusals, a second
                client refused by badge; full (ECDSA P-256, RSA 2048) and
                resumed handshakes through the engine with keyd signing;
                bulk data through the engine

Each guest `PASS name` / `FAIL name: why` line becomes a test here, plus
`<boot>.complete` (closing line, QEMU status 1).  TIME lines are passed
through as `# TIME ...`.

Needs `make image` (build/user/*.elf, build/image/tftp/keel) first.
Usage: python3 tests/tls/test_tls_guest.py [--image-dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "qemu"))
import keelqemu as kq  # noqa: E402

TIMEOUT = 600
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.M)
RESULT = re.compile(r"^(PASS|FAIL) (\S+)(?:: (.*))?$", re.M)
TIME = re.compile(r"^(?:tlsselftest|keydtest): TIME (.*)$", re.M)

# The test servers.  keyd must know its client's badge: unless init writes
# "client:NAME" notes (--init-client-notes), `badge=N` gives it: N =
# keydtest's manifest index + 1, filled in below.
TEST_LINES = """\
# --- tests/tls/test_tls_guest.py ---
server tlsrng      when {when} priority 15 memory 256K pci rng 0 endpoint tlsrng
server tlsselftest when tlsselftest memory 8M debug args tlsrng connect tlsrng
server keyd        when keydtest priority 12 memory 1M args client=keydtest{badge},rng=tlsrng,key=ec.key site endpoint keyd share keyd 4 signal keydtest connect tlsrng
server keydtest    when keydtest priority 14 memory 8M debug args tlsrng site connect keyd share keyd 4 notify keydtest connect tlsrng
server keydintr    program keydtest when keydtest priority 16 memory 1M args intruder connect keyd
"""


def run(*cmd: str, cwd: Path | None = None) -> None:
    subprocess.run(cmd, check=True, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def server_count(manifest: str) -> int:
    return kq.manifest_servers(manifest)


def make_image(work: Path, image_dir: Path, when: str, badge_arg: bool) -> Path:
    img = work / f"img-{when}"
    img.mkdir()
    for f in ("keel", "boot.ipxe"):
        shutil.copy(image_dir / f, img / f)
    # The whole manifest: a test boot set's names (its own keyd) are scoped to
    # the set, so the appliance's lines stay (init/manifest.h).
    base = (REPO / "image" / "manifest").read_text() + "\n"
    # keydtest's index: the base servers, then tlsrng, tlsselftest, keyd.
    badge = f",badge={server_count(base) + 3 + 1}" if badge_arg else ""
    (work / when).mkdir()
    manifest = work / when / "manifest"  # init looks for exactly this name
    manifest.write_text(base + TEST_LINES.format(when=when, badge=badge))
    elfs = sorted(str(p) for p in (REPO / "build" / "user").glob("*.elf") if p.name != "init.elf")
    run(str(REPO / "tools" / "mkcpio.sh"), str(img / "servers.cpio"), str(manifest), *elfs)
    run(str(REPO / "tools" / "mkcpio.sh"), str(img / "site.cpio"), *sorted(str(p) for p in (work / "site").iterdir()))
    return img


def make_site(work: Path) -> None:
    site = work / "site"
    site.mkdir()
    for stem, newkey, cn in (("ec", "ec -pkeyopt ec_paramgen_curve:P-256", "ec.test"),
                             ("rsa", "rsa:2048", "rsa.test"),
                             ("small", "rsa:1024", "small.test")):
        run("sh", "-c", f"openssl req -x509 -newkey {newkey} -nodes -keyout {stem}.key -out {stem}.crt "
                        f"-days 2 -subj /CN={cn} -addext subjectAltName=DNS:{cn}", cwd=site)
    (site / "small.crt").unlink()
    (site / "appliance.conf").write_text("hostname keydtest\n")


def boot_and_report(rep: kq.Reporter, name: str, img: Path, word: str) -> None:
    r = kq.boot(name, boot="direct", accel="tcg", args=[word, "debug-exit"], image_dir=img,
                qemu_extra="-device virtio-rng-pci", timeout=TIMEOUT, expect=[SUMMARY],
                fail_on=["keel: PANIC"], wait_exit=True, exit_grace=10)
    for line in TIME.findall(r.log):
        print(f"# TIME {line}")
    rep.guest_results(r.log, RESULT, lambda test: f"{name}.{test}")

    def complete():
        if "keel: PANIC" in r.log:
            raise kq.TestFailure(f"kernel panic [{r.describe()}]; log {kq.rel(r.log_path)}")
        if not SUMMARY.search(r.log):
            raise kq.TestFailure(f"no closing line [{r.describe()}]; log {kq.rel(r.log_path)}")
        if r.status != kq.STATUS_GUEST_PASS:
            raise kq.TestFailure(f"QEMU status {r.status}, expected 1 (all guest tests passed)")
        if re.search(r"keel: init: server \S+ died", r.log):
            raise kq.TestFailure("a server died during the run; log " + kq.rel(r.log_path))

    rep.run(f"{name}.complete", complete)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=str(kq.DEFAULT_IMAGE_DIR))
    ap.add_argument("--keep", action="store_true", help="keep the work directory (it holds test keys)")
    ap.add_argument("--init-client-notes", action="store_true",
                    help="init writes client:NAME notes: give keyd no badge=N")
    ns = ap.parse_args()
    rep = kq.Reporter()
    work = Path(tempfile.mkdtemp(prefix="keel-tls-guest."))
    try:
        make_site(work)
        badge_arg = not ns.init_client_notes
        img = make_image(work, Path(ns.image_dir), "tlsselftest", badge_arg)
        boot_and_report(rep, "tlsselftest", img, "tlsselftest")
        boot_and_report(rep, "keydtest", make_image(work, Path(ns.image_dir), "keydtest", badge_arg), "keydtest")
    except (subprocess.CalledProcessError, OSError) as e:
        detail = getattr(e, "stderr", b"") or b""
        rep.fail("tls_guest.setup", f"{e} {detail.decode(errors='replace')[-300:]}")
    finally:
        kq.drop_workdir(work, ns.keep)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
