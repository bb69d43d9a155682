#!/usr/bin/env python3
"""The appliance as `make run` boots it: the normal boot (no test switches),
the example site (image/example/appliance.conf with a certificate made at
build time), QEMU's user network with 127.0.0.1:PORT forwarded to the
guest's 443, and the demo backend on the host's 127.0.0.1:8080 (the guest
reaches it as 10.0.2.2:8080).

Checks: every server reports ready; netd gets its address by DHCP; curl
fetches the backend's page through tlsd over TLS 1.2; the console prompt is
named by the configuration's hostname.

Usage: python3 tests/qemu/test_run.py [--image-dir DIR]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
import keelqemu as kq  # noqa: E402

BACKEND_PORT = 8080


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=None)
    ns = ap.parse_args()
    rep = kq.Reporter()
    port = free_port()
    backend = subprocess.Popen([sys.executable, "-m", "http.server", str(BACKEND_PORT), "--bind", "127.0.0.1",
                                "--directory", str(REPO / "image" / "example" / "www")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = kq.LOG_DIR / "run.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if log.exists():
        log.unlink()
    cfg = kq.Config(boot="direct", accel="auto", serial=f"file:{log}", fwd=f"tcp:127.0.0.1:{port}-:443",
                    qemu_extra="-device virtio-rng-pci", image_dir=ns.image_dir or kq.DEFAULT_IMAGE_DIR)
    qout = open(kq.LOG_DIR / "run.qemu.log", "wb")
    proc = kq._spawn(kq.build_command(cfg).cmd, qout)

    def text() -> str:
        try:
            return kq.clean_log(log.read_text(errors="replace"))
        except OSError:
            return ""

    def wait_for(s: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and proc.poll() is None:
            if s in text():
                return True
            time.sleep(0.2)
        return s in text()

    def check(cond: bool, msg: str) -> None:
        if not cond:
            raise kq.TestFailure(msg)

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

        def tls12():
            p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "edge1"],
                               input="", capture_output=True, text=True, timeout=30)
            check("TLSv1.2" in p.stdout, "no TLSv1.2 session: " + p.stdout[-300:])

        rep.run("run.tls12_negotiated", tls12)
        rep.run("run.console_prompt_named_by_config", lambda: check("edge1>" in text(), "no `edge1>` prompt"))
    finally:
        kq._kill(proc)
        qout.close()
        backend.terminate()
        backend.wait(timeout=5)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
