#!/usr/bin/env python3
"""Running it like a production box (appliance/opsd/): the clock from the
RTC, then from Debian's chrony over SNTP; every log line to Debian's rsyslog
as RFC 5424; the metrics page checked by Debian's promtool and scraped by
Debian's prometheus, its counters equal to the traffic sent.

One boot.  NIC 0 is a tap in a network namespace of this test's own where
a test host (192.168.77.1) runs chronyd (`local stratum 8`, -x: it never
touches the host's clock), rsyslogd (imudp on 5514, a file of its own) and
prometheus (listening on the namespace's loopback only).  QEMU's RTC
starts at 2001-01-01, so the time the appliance shows after NTP can only
have come from chrony.

Checks:
- consoled reads the RTC at boot (2001, in `show log`), then `show system` says `time source:
  ntp` with the host's time (within 2 minutes) and chrony's stratum;
- rsyslog receives consoled's lines: an error (a refused commit) with
  severity 3, a warning (`log level warn`) with 4, an info line with 6,
  each with a timestamp within 2 minutes of the host's clock and the
  appliance's hostname and server name; and netd's line about a blocked
  connection (below) with 6;
- `curl /metrics` passes `promtool check metrics`; 7 pings move the ICMP
  rule's keel_firewall_rule_packets_total by exactly 7 and the interface's
  received packets by at least 7; a second address of the test host that
  the firewall does not allow cannot reach the page;
- prometheus scrapes the appliance (up == 1) and reads the same counter;
- a new certificate and key (in the site archive, not named at boot)
  committed at the console serve the next `curl` (keyd loads the key in
  the commit's prepare phase); a commit naming a missing key is refused by
  keyd and changes nothing;
- an interface address changed by `commit` answers ping at once, and the
  old one no longer does (no reboot, no restart).

Needs root (ip netns, tap).  Usage: python3 tests/qemu/test_ops.py [--image-dir DIR]
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402
from test_console import Console as ConsoleBase  # noqa: E402

HOST_IP, GUEST_IP, OTHER_IP = "192.168.77.1", "192.168.77.2", "192.168.77.3"
ICMP_LINE = 7
CONF = f"""# test_ops
hostname opsbox
log info
interface wan nic 0 address {GUEST_IP}/24

pass out keep state
pass in on wan proto icmp
pass in on wan proto tcp from {HOST_IP} to port 9100 keep state
pass in on wan proto tcp to port 443 keep state

syslog {HOST_IP}:5514
ntp server {HOST_IP}
metrics listen {GUEST_IP}:9100

tls 443 {{
    certificate first.crt key first.key
    backend {HOST_IP}:8080
}}
"""
assert CONF.splitlines()[ICMP_LINE - 1].startswith("pass in on wan proto icmp")


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise kq.TestFailure(msg)


class Console(ConsoleBase):
    def read_until(self, pat: str, timeout: float = 20.0) -> bool:
        return super().read_until(pat, timeout)

    def cmd(self, line: str, prompt: str = "opsbox", timeout: float = 30.0) -> str:
        self.read_until("\x00never", 0.2)
        self.cursor = len(self.log)
        start = self.cursor
        self.s.sendall(line.encode() + b"\r")
        check(self.read_until(line + "\r\n", timeout), f"{line!r} was not echoed")
        check(self.read_until(prompt, timeout), f"no prompt after {line!r}")
        return self.log[start:self.cursor].decode(errors="replace")


def parse_metrics(text: str) -> dict[str, float]:
    out = {}
    for ln in text.splitlines():
        if ln and not ln.startswith("#"):
            name, _, value = ln.rpartition(" ")
            out[name] = float(value)
    return out


def run(rep: kq.Reporter, tmp: Path, image: Path, opts) -> None:
    site = tmp / "conf"
    site.mkdir()
    # Two certificates and keys; only the first is named at boot (the
    # second is what a commit brings in).
    for name in ("first", "second"):
        netlab.self_signed(site, name, f"{name}.test")
    img = netlab.make_image(image, tmp / "img", CONF,
                            {f: None for f in ("first.crt", "first.key", "second.crt", "second.key")}, site=site)
    lab = netlab.Lab("kops")
    try:
        ns = lab.netns(lab.name())
        tap = lab.tap(ns, lab.name("t", dev=True), f"{HOST_IP}/24")
        netlab.sh("ip", "-n", ns, "addr", "add", f"{OTHER_IP}/24", "dev", tap)

        def sh_ns(*c: str) -> subprocess.CompletedProcess:
            return netlab.ns_run(ns, *c, timeout=60)

        # The peers: chrony, rsyslog, prometheus, each in the namespace.
        (tmp / "chrony.conf").write_text(
            f"local stratum 8\nallow 192.168.77.0/24\nbindaddress {HOST_IP}\ncmdport 0\n"
            f"driftfile {tmp}/chrony.drift\npidfile {tmp}/chronyd.pid\n")
        lab.helper(ns, "chronyd", "-d", "-x", "-u", "root", "-f", str(tmp / "chrony.conf"),
                   stdout=open(tmp / "chronyd.log", "wb"), stderr=subprocess.STDOUT)
        syslog_out = tmp / "syslog.out"
        (tmp / "rsyslog.conf").write_text(
            f'global(workDirectory="{tmp}")\n'
            'module(load="imudp")\n'
            f'input(type="imudp" port="5514" address="{HOST_IP}")\n'
            'template(name="keel" type="string" string="%syslogseverity% %syslogfacility-text% '
            '%timereported:::date-rfc3339% %hostname% %app-name% %msg%\\n")\n'
            f'*.* action(type="omfile" file="{syslog_out}" template="keel")\n')
        lab.helper(ns, "rsyslogd", "-n", "-f", str(tmp / "rsyslog.conf"), "-i", str(tmp / "rsyslogd.pid"),
                   stdout=open(tmp / "rsyslogd.log", "wb"), stderr=subprocess.STDOUT)
        (tmp / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n  - job_name: keel\n    static_configs:\n      - targets: ['{GUEST_IP}:9100']\n")
        www = tmp / "www"
        www.mkdir()
        (www / "index.html").write_text("keel-ops-backend\n")
        lab.helper(ns, sys.executable, "-m", "http.server", "8080", "--bind", HOST_IP, "--directory", str(www))
        lab.helper(ns, "prometheus", f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'prom'}",
                   "--web.listen-address=127.0.0.1:19090", stdout=open(tmp / "prometheus.log", "wb"),
                   stderr=subprocess.STDOUT)

        cfg = kq.Config(boot="direct", accel="auto", taps=[tap], netns=ns,
                        qemu_extra="-device virtio-rng-pci -rtc base=2001-01-01T00:00:00", image_dir=img)
        _, c = lab.console_guest(cfg, tmp, "console", console=Console, log="ops")

        def boot():
            check(c.read_until("opsbox> ", 180), "no opsbox> prompt")
            out = c.cmd("show log", "opsbox> ")
            check("consoled  clock from the real-time clock: 2001-01-01" in out,
                  f"consoled did not read the RTC (2001-01-01): {out[-600:]!r}")
        if not rep.run("ops.rtc_read_at_boot", boot):
            return

        def ntp():
            end = time.time() + 90
            out = ""
            while time.time() < end:
                out = c.cmd("show system", "opsbox> ")
                if "time source: ntp" in out:
                    break
                time.sleep(2)
            check(f"time source: ntp, server {HOST_IP}, stratum 8" in out, f"no NTP time from chrony: {out!r}")
            m = re.search(r"time: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", out)
            check(m is not None, f"no time in show system: {out!r}")
            t = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)
            skew = abs((t - dt.datetime.now(dt.timezone.utc)).total_seconds())
            check(skew < 120, f"the appliance's time {m.group(1)} is {skew:.0f} s from the host's")
        rep.run("ops.ntp_time_from_chrony", ntp)

        def syslog():
            c.cmd("log level warn", "opsbox> ")
            c.cmd("log level info", "opsbox> ")
            c.cmd("configure", "opsbox# ")
            c.cmd("set tls 8443 backend 192.168.77.1:80", "opsbox# ")
            out = c.cmd("commit", "opsbox# ")
            check("nothing was changed" in out, f"the incomplete candidate was committed: {out!r}")
            c.cmd("rollback 0", "opsbox# ")
            c.cmd("exit", "opsbox> ")
            want = {3: "commit refused", 4: "log level is now warn", 6: "log level is now info"}
            end = time.time() + 30
            lines: list[str] = []
            while time.time() < end:
                lines = syslog_out.read_text(errors="replace").splitlines() if syslog_out.exists() else []
                if all(any(ln.startswith(f"{sev} daemon ") and w in ln for ln in lines) for sev, w in want.items()):
                    break
                time.sleep(1)
            now = dt.datetime.now(dt.timezone.utc)
            for sev, w in want.items():
                hits = [ln for ln in lines if w in ln]
                check(hits, f"rsyslog got no line with {w!r}; it has {len(lines)} lines: {lines[-5:]!r}")
                f = hits[-1].split(" ", 5)
                check(f[0] == str(sev), f"{w!r} came with severity {f[0]}, not {sev}: {hits[-1]!r}")
                check(f[3] == "opsbox" and f[4] == "consoled", f"host or app name wrong: {hits[-1]!r}")
                t = dt.datetime.fromisoformat(f[2].replace("Z", "+00:00"))
                skew = abs((t - now).total_seconds())
                check(skew < 120, f"timestamp {f[2]} is {skew:.0f} s from the host's clock: {hits[-1]!r}")
            out = c.cmd("show system", "opsbox> ")
            check(re.search(r"syslog: 192\.168\.77\.1:5514, [1-9]\d* lines sent", out) is not None,
                  f"show system does not count the lines sent: {out!r}")
        rep.run("ops.syslog_to_rsyslog", syslog)

        def page(src: str = HOST_IP) -> str:
            p = sh_ns("curl", "-s", "--max-time", "10", "--interface", src,
                   f"http://{GUEST_IP}:9100/metrics")
            check(p.returncode == 0, f"curl from {src} failed ({p.returncode}): {p.stderr.strip()}")
            return p.stdout

        state: dict = {}

        def metrics():
            text = page()
            (tmp / "metrics.txt").write_text(text)
            kq.LOG_DIR.mkdir(parents=True, exist_ok=True)
            (kq.LOG_DIR / "ops-metrics.txt").write_text(text)
            p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            check(p.returncode == 0, f"promtool check metrics: {p.stdout}{p.stderr}")
            before = parse_metrics(text)
            rule = f'keel_firewall_rule_packets_total{{line="{ICMP_LINE}"}}'
            rx = 'keel_interface_rx_packets_total{interface="wan"}'
            check(rule in before and rx in before, f"the page lacks {rule} or {rx}")
            for name in ('keel_server_up{server="netd"}', 'keel_server_memory_budget_bytes{server="opsd"}',
                         'keel_firewall_states_limit', 'keel_syslog_lines_sent_total',
                         'keel_firewall_dropped_total{reason="default"}', 'keel_clock_source{source="ntp"}',
                         'keel_kernel_ipc_messages_total', 'keel_kernel_address_space_switches_total',
                         'keel_kernel_notifications_total', 'keel_log_entries_lost_total'):
                check(name in before, f"the page lacks {name}")
            p = sh_ns("ping", "-c", "7", "-i", "0.2", "-W", "2", GUEST_IP)
            check(" 7 received" in p.stdout, f"pings lost: {p.stdout}")
            after = parse_metrics(page())
            # The rule keeps state (pf's default) and, as pf does, counts every
            # packet of its states: 7 echo requests and 7 replies.
            check(after[rule] - before[rule] == 14,
                  f"the ICMP rule counted {after[rule] - before[rule]:.0f} packets for 7 pings (7 each way expected)")
            check(after[rx] - before[rx] >= 7, f"wan received {after[rx] - before[rx]:.0f} packets for 7 pings")
            state["rule"] = after[rule]
        rep.run("ops.metrics_promtool_and_counters", metrics)

        def firewall_decides():
            p = sh_ns("curl", "-s", "--max-time", "4", "--interface", OTHER_IP,
                   f"http://{GUEST_IP}:9100/metrics")
            check(p.returncode != 0, "a source the rules do not allow reached the metrics page")
            # netd logs the blocked SYN: its line reaches rsyslog as info (6)
            end = time.time() + 20
            hit = []
            while time.time() < end and not hit:
                text = syslog_out.read_text(errors="replace") if syslog_out.exists() else ""
                hit = [ln for ln in text.splitlines() if f" opsbox netd fw: block in on wan tcp {OTHER_IP}" in ln]
                time.sleep(1)
            check(hit and hit[0].startswith("6 daemon "), f"netd's line about the blocked scrape: {hit[:1]!r}")
        rep.run("ops.metrics_only_where_the_firewall_allows", firewall_decides)

        def prometheus():
            def q(expr: str):
                p = sh_ns("curl", "-s", "--max-time", "5",
                       "http://127.0.0.1:19090/api/v1/query?query=" + urllib.parse.quote(expr))
                try:
                    r = json.loads(p.stdout)["data"]["result"]
                    return float(r[0]["value"][1]) if r else None
                except (ValueError, KeyError, IndexError):
                    return None
            end = time.time() + 60
            up = val = None
            while time.time() < end:
                up = q('up{job="keel"}')
                val = q(f'keel_firewall_rule_packets_total{{line="{ICMP_LINE}"}}')
                if up == 1 and val is not None and val >= state.get("rule", 0):
                    break
                time.sleep(1)
            check(up == 1, f"prometheus does not scrape the appliance (up = {up})")
            check(val == state.get("rule"), f"prometheus read {val} for the ICMP rule, the page said {state.get('rule')}")
        rep.run("ops.prometheus_scrapes", prometheus)

        def tls_subject() -> str:
            p = sh_ns("curl", "-skv", "--max-time", "20", f"https://{GUEST_IP}/")
            check("keel-ops-backend" in p.stdout, f"curl through tlsd failed ({p.returncode}): {p.stderr[-400:]}")
            m = re.search(r"subject: (.*)", p.stderr)
            return m.group(1).strip() if m else ""

        def new_key_by_commit():
            end = time.time() + 60
            subj = ""
            while time.time() < end and "first.test" not in subj:
                try:
                    subj = tls_subject()
                except kq.TestFailure:
                    time.sleep(2)
            check("CN=first.test" in subj, f"tlsd does not serve the boot certificate: {subj!r}")
            c.cmd("configure", "opsbox# ")
            c.cmd("set tls 443 certificate second.crt key second.key", "opsbox# ")
            out = c.cmd("commit", "opsbox# ")
            check("commit complete" in out, f"the commit of a new certificate and key: {out!r}")
            c.cmd("exit", "opsbox> ")
            subj = tls_subject()
            check("CN=second.test" in subj, f"the next curl did not get the new certificate: {subj!r}")
            c.cmd("configure", "opsbox# ")
            c.cmd("set tls 443 certificate second.crt key nosuch.key", "opsbox# ")
            out = c.cmd("commit", "opsbox# ")
            check("keyd refused the configuration: key nosuch.key" in out and "nothing was changed" in out,
                  f"a missing key was not refused by keyd: {out!r}")
            c.cmd("rollback 0", "opsbox# ")
            c.cmd("exit", "opsbox> ")
            subj = tls_subject()
            check("CN=second.test" in subj, f"a refused commit changed the certificate: {subj!r}")
        rep.run("ops.new_certificate_and_key_by_commit", new_key_by_commit)

        def address_by_commit():
            new = "192.168.77.9"
            c.cmd("configure", "opsbox# ")
            c.cmd(f"set interface wan nic 0 address {new}/24", "opsbox# ")
            out = c.cmd("commit", "opsbox# ")
            check("commit complete" in out, f"the address commit: {out!r}")
            c.cmd("exit", "opsbox> ")
            p = sh_ns("ping", "-c", "3", "-i", "0.3", "-W", "2", new)
            check(" 3 received" in p.stdout, f"the new address {new} does not answer: {p.stdout}")
            p = sh_ns("ping", "-c", "2", "-i", "0.3", "-W", "1", GUEST_IP)
            check(" 0 received" in p.stdout, f"the old address {GUEST_IP} still answers: {p.stdout}")
            out = c.cmd("show interfaces", "opsbox> ")
            check(f"{new}/24" in out, f"show interfaces lacks {new}/24: {out!r}")
        rep.run("ops.address_changed_by_commit", address_by_commit)
    finally:
        lab.close()
        for f in ("chronyd.log", "rsyslogd.log", "syslog.out", "prometheus.log"):
            if (tmp / f).exists():
                kq.LOG_DIR.mkdir(parents=True, exist_ok=True)
                shutil.copy(tmp / f, kq.LOG_DIR / f"ops-{f}")


def main() -> int:
    return netlab.suite_main("ops", run)


if __name__ == "__main__":
    sys.exit(main())
