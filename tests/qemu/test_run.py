#!/usr/bin/env python3
"""The appliance as `make run` boots it: the normal boot (no test switches),
the example site (image/example/appliance.conf with a certificate made at
build time), QEMU's user network with 127.0.0.1:PORT forwarded to the
guest's 443, and the demo backend on the host's 127.0.0.1:8080 (the guest
reaches it as 10.0.2.2:8080).

Checks: every server reports ready; netd gets its address by DHCP; curl
fetches the backend's page through tlsd (and does again on a second boot
with -m 32, where init shrinks tlsd's ranged budget); openssl s_client negotiates TLS 1.3
by default and TLS 1.2 when asked; `s_client -tls1_3` and `curl --tlsv1.3`
get the page, and a TLS 1.3 session resumes ("Reused, TLSv1.3"); testssl.sh
(Debian's package) finds TLS 1.3 offered, nothing older than TLS 1.2, and no
vulnerability (its JSON findings are read: every vulnerability check must be
OK or INFO); the console prompt is named by the configuration's hostname.

testssl.sh runs with --protocols --vulnerable only (the cipher, header and
certificate checks add minutes under TCG and judge nothing the issue asks),
and --fast is not used (it skips vulnerability checks).

Usage: python3 tests/qemu/test_run.py [--image-dir DIR] [--no-testssl]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402

BACKEND_PORT = 8080


def kq_check(cond: bool, msg: str) -> None:
    if not cond:
        raise kq.TestFailure(msg)


class ApplianceBoot:
    """The shipping image booted as `make run` boots it (QEMU's user network,
    127.0.0.1:PORT forwarded to the guest's 443), its serial in a log file."""

    def __init__(self, name: str, port: int, image_dir, mem: int = 0):
        self.log = kq.LOG_DIR / f"{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.unlink(missing_ok=True)
        extra = {"mem": mem} if mem else {}
        cfg = kq.Config(boot="direct", accel="auto", serial=f"file:{self.log}", fwd=f"tcp:127.0.0.1:{port}-:443",
                        qemu_extra="-device virtio-rng-pci", image_dir=image_dir, **extra)
        self.qout = open(kq.LOG_DIR / f"{name}.qemu.log", "wb")
        self.proc = kq.spawn(kq.build_command(cfg).cmd, self.qout)
        self.serial = netlab.SerialLog(self.log, alive=lambda: self.proc.poll() is None)
        self.text = self.serial.text

    def wait_for(self, s: str, timeout: float) -> bool:
        """Whether the text S is in the log within TIMEOUT seconds."""
        return self.serial.wait(re.escape(s), timeout) is not None

    def close(self) -> None:
        kq.stop(self.proc)
        self.qout.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=None)
    ap.add_argument("--no-testssl", action="store_true", help="skip the testssl.sh run (minutes under TCG)")
    ns = ap.parse_args()
    rep = kq.Reporter()
    port = netlab.free_port()
    backend = subprocess.Popen([sys.executable, "-m", "http.server", str(BACKEND_PORT), "--bind", "127.0.0.1",
                                "--directory", str(REPO / "image" / "example" / "www")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    boot = ApplianceBoot("run", port, ns.image_dir or kq.DEFAULT_IMAGE_DIR)
    wait_for, check = boot.wait_for, kq_check

    try:
        rep.run("run.all_servers_ready", lambda: check(wait_for("keel: ready", 120), "no `keel: ready`"))
        rep.run("run.dhcp_address", lambda: check(wait_for("netd: eth0: up, address 10.0.2.15", 60),
                                                  "netd got no address from QEMU's DHCP"))
        rep.run("run.tlsd_serving", lambda: check(wait_for("tlsd: serving", 30), "tlsd is not serving"))

        def curl():
            for _ in range(10):
                p = subprocess.run(["curl", "-sk", "--max-time", "20", "-w", "%{ssl_version}|%{http_code}",
                                    f"https://127.0.0.1:{port}/"], capture_output=True, text=True)
                if p.returncode == 0 and "Hello from the demo backend" in p.stdout:
                    check(p.stdout.endswith("|200"), f"HTTP status: {p.stdout[-20:]}")
                    return
                time.sleep(2)
            raise kq.TestFailure(f"curl https://127.0.0.1:{port}/ failed: {p.returncode} {p.stderr.strip()[-200:]}")

        rep.run("run.curl_through_tls_proxy", curl)

        def s_client(*extra: str, send: str = "") -> str:
            p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "edge1", *extra],
                               input=send, capture_output=True, text=True, timeout=60)
            return p.stdout + p.stderr

        def versions():
            out = s_client()
            check("New, TLSv1.3" in out, "the default is not a TLSv1.3 session: " + out[-300:])
            out = s_client("-tls1_2")
            check("New, TLSv1.2" in out, "no TLSv1.2 session with -tls1_2: " + out[-300:])

        rep.run("run.tls13_preferred_tls12_still_served", versions)

        def tls13_page_and_resumption():
            get = "GET / HTTP/1.0\r\nHost: edge1\r\n\r\n"
            sess = kq.LOG_DIR / "run-session13.pem"
            sess.unlink(missing_ok=True)
            out = s_client("-tls1_3", "-ign_eof", "-sess_out", str(sess), send=get)
            check("New, TLSv1.3" in out and "Hello from the demo backend" in out, "s_client -tls1_3: " + out[-300:])
            out = s_client("-tls1_3", "-ign_eof", "-sess_in", str(sess), send=get)
            check("Reused, TLSv1.3" in out and "Hello from the demo backend" in out, "not resumed: " + out[-300:])
            sess.unlink(missing_ok=True)
            p = subprocess.run(["curl", "-skv", "--tlsv1.3", "--tls-max", "1.3", "--max-time", "20",
                                f"https://127.0.0.1:{port}/"], capture_output=True, text=True)
            check("Hello from the demo backend" in p.stdout and "SSL connection using TLSv1.3" in p.stderr,
                  f"curl --tlsv1.3: {p.returncode} {p.stderr.strip()[-200:]}")

        rep.run("run.tls13_page_and_resumption", tls13_page_and_resumption)

        def testssl():
            exe = shutil.which("testssl") or shutil.which("testssl.sh")
            check(exe is not None, "testssl.sh is not installed (Debian package testssl.sh; make packages)")
            out = kq.LOG_DIR / "run-testssl.json"
            out.unlink(missing_ok=True)
            t0 = time.monotonic()
            p = subprocess.run([exe, "--quiet", "--color", "0", "--warnings", "off", "--protocols", "--vulnerable",
                                "--connect-timeout", "30", "--openssl-timeout", "30", "--jsonfile", str(out),
                                f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=900)
            took = time.monotonic() - t0
            (kq.LOG_DIR / "run-testssl.txt").write_text(p.stdout + p.stderr)
            check(out.exists(), f"testssl.sh wrote no JSON (exit {p.returncode}): {p.stdout[-300:]}")
            findings = json.loads(out.read_text())
            by_id = {f.get("id", ""): f for f in findings}
            print(f"# testssl.sh --protocols --vulnerable: {took:.0f} s, {len(findings)} findings "
                  f"(build/test-logs/run-testssl.txt)")
            t13 = by_id.get("TLS1_3", {}).get("finding", "")
            check(t13.startswith("offered"), f"TLS 1.3: {t13!r}")
            check(by_id.get("TLS1_2", {}).get("finding", "").startswith("offered"), "TLS 1.2 not offered")
            for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
                check(by_id.get(old, {}).get("finding", "").startswith("not offered"),
                      f"{old}: {by_id.get(old, {}).get('finding')!r}")
            vulns = ("heartbleed", "CCS", "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego",
                     "CRIME_TLS", "BREACH", "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "LOGJAM",
                     "BEAST", "LUCKY13", "winshock", "RC4")
            seen = [v for v in vulns if v in by_id]
            check(len(seen) >= 15, f"testssl.sh ran few vulnerability checks: {seen}")
            def is_vuln(i: str) -> bool:
                return any(i == v or i.startswith((v + "_", v + "-")) for v in vulns)

            bad = [f"{f['id']}: {f.get('severity')} {f.get('finding')}" for f in findings
                   if is_vuln(f.get("id", "")) and f.get("severity") not in ("OK", "INFO")]
            check(not bad, "testssl.sh found: " + "; ".join(bad))
            # engine_problem: the host's openssl has no GOST engine (a note about the client, not the server).
            errors = [f"{f['id']}: {f.get('finding')}" for f in findings
                      if f.get("severity") in ("WARN", "FATAL") and f.get("id") != "engine_problem"]
            check(not errors, "testssl.sh could not run a check: " + "; ".join(errors))

        if not ns.no_testssl:
            rep.run("run.testssl_tls13_offered_no_vulnerability", testssl)
        rep.run("run.console_prompt_named_by_config", lambda: check("edge1>" in boot.text(), "no `edge1>` prompt"))
    finally:
        boot.close()
    try:
        small_machine(rep, ns.image_dir or kq.DEFAULT_IMAGE_DIR)
    finally:
        backend.terminate()
        backend.wait(timeout=5)
    return rep.finish()


def small_machine(rep: kq.Reporter, image_dir) -> None:
    """The same image on a 32 MiB machine: init shrinks tlsd's ranged budget
    (image/manifest: `memory 3M-48M`, init/budget.c) and says so, every server
    starts, and curl gets the backend's page through TLS."""
    port = netlab.free_port()
    boot = ApplianceBoot("run-32m", port, image_dir, mem=32)
    wait_for, text, check = boot.wait_for, boot.text, kq_check

    def serves():
        check(wait_for("keel: ready", 120), "no `keel: ready` at -m 32: " + text()[-400:])
        check("cannot start" not in text(), "a server did not start at -m 32")
        check(re.search(r"keel: init: tlsd: memory \d+ KiB of its 3072-49152 KiB", text()) is not None,
              "init did not say it shrank tlsd's budget")
        check(wait_for("tlsd: serving", 60), "tlsd is not serving at -m 32")
        for _ in range(10):
            p = subprocess.run(["curl", "-sk", "--max-time", "20", f"https://127.0.0.1:{port}/"], capture_output=True,
                               text=True)
            if p.returncode == 0 and "Hello from the demo backend" in p.stdout:
                return
            time.sleep(2)
        raise kq.TestFailure(f"curl at -m 32 failed: {p.returncode} {p.stderr.strip()[-200:]}")

    try:
        rep.run("run.tls_served_in_32_mib", serves)
    finally:
        boot.close()


if __name__ == "__main__":
    sys.exit(main())
