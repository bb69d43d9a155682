#!/usr/bin/env python3
"""The console's commits reach netd (abi/keel/netadm.h), checked with real
traffic: QEMU's serial is a unix socket (the console, typed at like an
operator), NIC 0 is a tap in a network namespace of this test's own, where
a test host (10.9.0.1) pings the appliance (10.9.0.2).

appliance.conf at boot passes outgoing traffic and TCP 443/8443 only, so
the host's echo requests are blocked, and has one TLS listener (443, the
example site's certificate, a backend on the test host).  Then, on the
console:

  - `show interfaces | routes | firewall` answer from netd as tables;
  - a rule committed at run time (`pass in on wan proto icmp`) lets the
    pings through; deleting it and committing blocks them again;
  - `commit confirmed 1` says it rolls back in 60 s; a second commit
    confirmed (8 s) moves the deadline, and without a confirmation the
    rollback comes by itself, back to before both: the pings are blocked
    again (netd got the old rules back);
  - a rule netd refuses (a port beyond 65535: consoled's own parser checks
    rules by their first word only) is refused with netd's line and column,
    "nothing was changed", and the running rule set keeps passing pings;
  - `show arp | states | connections` and `ping 10.9.0.1 count 2` (netd
    sends the echo requests);
  - `show tasks`; `show log` holds netd's own lines (lib/ulog.c -> consoled's
    log thread), logged while consoled was calling netd;
  - `show tls` has tlsd's counters for 443 after a curl through it; a
    pasted `tls 8443 { ... }` block committed at run time serves curl (tlsd
    prepared and committed it with netd, abi/keel/tlsd.h); a certificate
    tlsd cannot load is refused naming the file, "nothing was changed";
    deleting the block and committing stops 8443, 443 serving throughout;
  - a block committed with a key nothing named at boot (edge2.key) still
    serves, with its own certificate, after `restart keyd`;
  - a second boot with a misspelt keyword on line 7 of appliance.conf (the
    other rules would pass pings and 443): the console names line 7, netd
    has its address but runs deny-all (no ping, no 443, no rule shown);
  - `restart netd` gives the restarted netd the running configuration back
    (the committed rule still passes pings, and tlsd, which lost its
    sockets with netd, serves 443 again); `restart frobnicate` is
    refused; `reboot` resets the machine (QEMU runs with -no-reboot and
    exits).

Usage: python3 tests/qemu/test_console_net.py [--image-dir DIR]
Needs root (ip netns, tap).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402
import netlab  # noqa: E402
from test_console import check  # noqa: E402

HOST_IP = "10.9.0.1"
GUEST_IP = "10.9.0.2"
RULE = "pass in on wan proto icmp"
RULE2 = "pass in on wan proto udp to port 9"  # the discard port: a change, and nothing else

TOKEN = "keel-console-net-backend-page"
CONF = f"""# test_console_net: outgoing traffic and TLS pass at boot, nothing else
hostname keel
log info
interface wan nic 0 address {GUEST_IP}/24
pass out keep state
pass in on wan proto tcp to port 443 keep state
pass in on wan proto tcp to port 8443 keep state

tls 443 {{
    certificate edge1.crt key edge1.key
    backend {HOST_IP}:8080
}}
"""
# Line 7 is wrong (a misspelt keyword, which consoled and netd both refuse);
# the rules around it would pass pings and 443 if the file parsed.
BAD_CONF = f"""# test_console_net: a bad file
hostname keel
interface wan nic 0 address {GUEST_IP}/24
pass out keep state
pass in on wan proto icmp
pass in on wan proto tcp to port 443 keep state
passs in on wan proto tcp to port 8443 keep state
"""
# A TLS client that asks for the page, reads to the end of the connection
# and then keeps its socket open (no close_notify, no FIN) until killed.
HELD_CLIENT = """
import socket, ssl, sys, time
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30))
t.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
while True:
    try:
        if not t.recv(4096):
            break
    except (ssl.SSLError, OSError):
        break
time.sleep(120)
"""
TLS_8443 = ["tls 8443 {", "certificate edge1.crt key edge1.key", f"backend {HOST_IP}:8080", "}"]



def fw_counters(text: str, needle: str):
    """The [Evaluations, Packets, Bytes, States] of the first rule of
    `show firewall` (pfctl -sr -v form) whose line holds NEEDLE, or None."""
    lines = text.splitlines()
    for k, ln in enumerate(lines[:-1]):
        if ln.lstrip().startswith("@") and needle in ln:
            m = re.search(r"Evaluations: (\d+)\s+Packets: (\d+)\s+Bytes: (\d+)\s+States: (\d+)", lines[k + 1])
            return [int(x) for x in m.groups()] if m else None
    return None

def make_site_image(src: Path, dst: Path, conf_text: str) -> Path:
    """The image with a site archive of CONF_TEXT plus the example site's
    certificate and key (made by `make image`; keyd holds edge1.key)."""
    site = dst.parent / (dst.name + "-site")
    site.mkdir()
    # A second pair that nothing names at boot: keyd loads edge2.key only
    # when a commit names it (committed_key_survives_keyd_restart).
    netlab.self_signed(site, "edge2", "edge2.test", days=30)
    ex = kq.BUILD / "site-example"
    return netlab.make_image(src, dst, conf_text, {"edge1.crt": ex / "edge1.crt", "edge1.key": ex / "edge1.key",
                                                   "edge2.crt": None, "edge2.key": None}, site=site)


def run(rep: kq.Reporter, tmp: Path, image: Path, opts) -> None:
    img = make_site_image(image, tmp / "img", CONF)
    lab = netlab.Lab("kcn")
    try:
        ns = lab.netns(lab.name())
        tap = lab.tap(ns, lab.name("t", dev=True), f"{HOST_IP}/24")
        www = tmp / "www"
        www.mkdir()
        (www / "index.html").write_text(TOKEN + "\n")
        lab.helper(ns, sys.executable, "-m", "http.server", "8080", "--bind", HOST_IP, "--directory", str(www))
        cfg = kq.Config(boot="direct", accel="auto", taps=[tap], netns=ns, qemu_extra="-device virtio-rng-pci",
                        image_dir=img)
        proc, c = lab.console_guest(cfg, tmp, "console", log="console-net")

        def pings(n: int = 2) -> bool:
            return netlab.ping(ns, GUEST_IP, n)

        def cmd(line: str, *expect: str, prompt: str = "keel") -> str:
            start = c.cursor
            c.send(line.encode() + b"\r")
            for e in expect:
                check(c.read_until(e, 30), f"no {e!r} after {line!r}")
            check(c.read_until(prompt, 30), f"no prompt after {line!r}")
            return c.text_since(start)

        def commit_and_exit(lines: list, prompt: str = "keel# ") -> None:
            """configure, LINES (each answered by PROMPT), a commit that
            completes, exit."""
            cmd("configure", prompt="keel# ")
            for line in lines:
                cmd(line, prompt=prompt)
            cmd("commit", "commit complete", prompt="keel# ")
            cmd("exit", prompt="keel> ")

        def step(name: str, fn) -> bool:
            """rep.run, and after a failure back to operational mode with
            the running configuration as the candidate, so one failed
            commit does not fail every test after it."""
            if rep.run(name, fn):
                return True
            if c.log.rfind(b"keel# ") > c.log.rfind(b"keel> "):
                c.send(b"rollback 0\r")
                c.read_until("keel# ", 30)
                c.send(b"exit\r")
                c.read_until("keel> ", 30)
            return False

        def boot():
            check(c.read_until("keel> ", 180), "no `keel> ` prompt")
            # netd comes up after the console: wait until it answers with the address
            for _ in range(60):
                t = cmd("show interfaces", prompt="keel> ")
                if GUEST_IP in t and " up " in t:
                    return
                time.sleep(2)
            raise kq.TestFailure("show interfaces never listed the address as up")

        if not step("console_net.boot_and_show_interfaces", boot):
            return

        def blocked_at_boot():
            check(not pings(), "pings pass with only `pass out keep state`")

        step("console_net.blocked_at_boot", blocked_at_boot)

        def show_routes():
            t = cmd("show routes", "DESTINATION", prompt="keel> ")
            check("10.9.0.0/24" in t and "connected" in t, f"show routes lacks 10.9.0.0/24: {t!r}")

        step("console_net.show_routes", show_routes)

        def commit_passes():
            cmd("configure", prompt="keel# ")
            cmd(f"set {RULE}", prompt="keel# ")
            cmd("commit", "commit complete", prompt="keel# ")
            check(pings(3), "pings are still blocked after the rule was committed")

        step("console_net.committed_rule_passes_traffic", commit_passes)

        def show_firewall():
            t = cmd("show firewall", "no rule matched", prompt="keel# ")
            c = fw_counters(t, "proto icmp")
            check(c is not None, f"show firewall lacks the icmp rule in pfctl -sr -v form: {t!r}")
            check(c[1] > 0, f"the icmp rule counted no packets: {t!r}")

        step("console_net.show_firewall_counters", show_firewall)

        def clear_counters():
            cmd("exit", prompt="keel> ")
            cmd("clear counters", "counters are zero", prompt="keel> ")
            t = cmd("show firewall", "no rule matched", prompt="keel> ")
            c = fw_counters(t, "proto icmp")
            check(c is not None, f"show firewall lacks the icmp rule: {t!r}")
            check(c[:3] == [0, 0, 0], f"the icmp rule's evaluations, packets and bytes are not zero: {t!r}")
            cmd("configure", prompt="keel# ")

        step("console_net.clear_counters", clear_counters)

        def delete_blocks():
            cmd(f"delete {RULE}", prompt="keel# ")
            cmd("commit", "commit complete", prompt="keel# ")
            check(not pings(), "pings still pass after the rule was deleted and committed")

        step("console_net.deleted_rule_blocks_again", delete_blocks)

        def confirmed_rolls_back():
            cmd(f"set {RULE}", prompt="keel# ")
            # The operator's command, in minutes: netd runs the rule at once.
            cmd("commit confirmed 1", "rolls back in 60 s", prompt="keel# ")
            check(pings(2), "pings blocked under commit confirmed")
            # A second commit confirmed moves the deadline and keeps the
            # first one's way back: the rollback returns to before both.
            # It is given in seconds (the hidden `confirmed-seconds`, the
            # same code with the minutes multiplied out), so the rollback
            # comes after 8 s, not after the minute that cost make test 60 s.
            cmd(f"set {RULE2}", prompt="keel# ")
            t0 = time.monotonic()
            cmd("commit confirmed-seconds 8", "rolls back in 8 s", prompt="keel# ")
            check(pings(2), "pings blocked under the second commit confirmed")
            t = cmd("show firewall", "no rule matched", prompt="keel# ")
            check("proto udp" in t, f"netd does not run the second commit's rule: {t!r}")
            check(c.read_until("not confirmed within 8 s; rolled back", 60), "no automatic rollback")
            check(time.monotonic() - t0 >= 7, "rolled back before its 8 s were up")
            check(not pings(), "pings still pass after the rollback")
            t = cmd("show firewall", "no rule matched", prompt="keel# ")
            check("proto icmp" not in t, f"netd still runs the icmp rule after the rollback: {t!r}")
            check("proto udp" not in t, f"netd still runs the second commit's rule after the rollback: {t!r}")

        step("console_net.commit_confirmed_rolls_back_netd", confirmed_rolls_back)

        def committed_route_shown():
            cmd("set route 10.77.0.0/16 via 10.9.0.1", prompt="keel# ")
            cmd("commit", "commit complete", prompt="keel# ")
            t = cmd("show routes", "DESTINATION", prompt="keel# ")
            row = [ln for ln in t.splitlines() if "10.77.0.0/16" in ln]
            check(row and "10.9.0.1" in row[0] and "static" in row[0], f"show routes lacks the static route: {t!r}")
            cmd("delete route 10.77.0.0/16", prompt="keel# ")
            cmd("commit", "commit complete", prompt="keel# ")
            t = cmd("show routes", "DESTINATION", prompt="keel# ")
            check("10.77.0.0/16" not in t, f"the deleted route is still shown: {t!r}")

        step("console_net.committed_route_in_show_routes", committed_route_shown)

        def refused_keeps_old():
            cmd(f"set {RULE}", prompt="keel# ")
            cmd("commit", "commit complete", prompt="keel# ")
            check(pings(2), "pings blocked after committing the rule again")
            # one parser: consoled refuses the line itself, with netd's own message
            cmd("set pass in on wan proto tcp to port 99999", "expected a port number 0-65535", prompt="keel# ")
            t = cmd("show", prompt="keel# ")
            check("99999" not in t, f"the refused line stayed in the candidate: {t!r}")
            check(pings(2), "the running rules changed after a refused line")
            t = cmd("show firewall", "no rule matched", prompt="keel# ")
            check("99999" not in t and "proto icmp" in t, f"show firewall after the refusal: {t!r}")
            cmd("exit", prompt="keel> ")

        step("console_net.refused_rule_keeps_old_set", refused_keeps_old)

        def tables():
            pings(1)
            t = cmd("show arp", "ADDRESS", prompt="keel> ")
            check(HOST_IP in t, f"show arp lacks the host: {t!r}")
            t = cmd("show states", "PROTO", prompt="keel> ")
            check("PACKETS" in t, f"show states has no header: {t!r}")
            cmd("show connections", "PROTO", prompt="keel> ")

        step("console_net.show_arp_states_connections", tables)

        def console_ping():
            cmd(f"ping {HOST_IP} count 2", "2 sent, 2 received, 0% loss", prompt="keel> ")

        step("console_net.ping_from_console", console_ping)

        def show_tasks():
            t = cmd("show tasks", "NAME", prompt="keel> ")
            rows = {ln.split()[0]: ln.split() for ln in t.splitlines() if ln.split()}
            for name in ("uart", "consoled", "netd", "keyd", "tlsd"):  # appliance.conf has a tls block
                check(name in rows and rows[name][1] == "ready", f"show tasks: {name} is not ready: {t!r}")

        step("console_net.show_tasks", show_tasks)

        def show_memory():
            t = cmd("show memory", "BUDGET-KIB", "the machine has", prompt="keel> ")
            rows = {ln.split()[0]: ln.split() for ln in t.splitlines() if len(ln.split()) == 4}
            for name in ("consoled", "netd", "tlsd"):
                check(name in rows and rows[name][1].isdigit() and 0 < int(rows[name][2]) <= int(rows[name][1]),
                      f"show memory: no sane row for {name}: {t!r}")
            # netd's image holds its firewall state table: megabytes in use, not the budget's slack
            check(int(rows["netd"][2]) > 2048, f"show memory: netd uses {rows['netd'][2]} KiB?: {t!r}")

        step("console_net.show_memory", show_memory)

        def log_from_netd():
            # netd logged these while consoled was calling it (PREPARE/COMMIT):
            # the log thread answered, nothing hung.
            t = cmd("show log", "TIME", prompt="keel> ")
            rows = [ln for ln in t.splitlines() if " netd " in ln]
            check(any("rules in force" in ln for ln in rows), f"show log has no netd rows about commits: {t!r}")
            check(any("admin: consoled: configuration prepared" in ln for ln in rows),
                  f"show log lacks netd's prepare: {t!r}")
            check(not any(" netd      netd:" in ln for ln in rows), f"netd's rows repeat its name: {t!r}")

        step("console_net.show_log_has_netd", log_from_netd)

        def restart_netd():
            check(pings(2), "pings blocked before the restart")
            cmd("restart netd", "restarting", "netd runs the running configuration again", prompt="keel> ")
            t = cmd("show tasks", "NAME", prompt="keel> ")
            row = [ln.split() for ln in t.splitlines() if ln.startswith("netd ")]
            check(row and row[0][3] == "1", f"show tasks does not count netd's restart: {t!r}")
            ok = False
            for _ in range(10):  # netd attaches its NIC again
                if pings(2):
                    ok = True
                    break
                time.sleep(2)
            check(ok, "pings blocked after netd's restart: the committed rule was not given back")
            # tlsd lost its sockets with netd: it starts again and serves.
            ok = False
            for _ in range(20):
                ok = curl(443)
                if ok:
                    break
                time.sleep(2)
            check(ok, "443 does not serve after netd's restart")

        def subject(port: int) -> str:
            p = netlab.ns_run(ns, "sh", "-c",
                              f"openssl s_client -connect {GUEST_IP}:{port} </dev/null 2>/dev/null "
                              "| openssl x509 -noout -subject")
            return p.stdout

        def curl(port: int) -> bool:
            p = netlab.ns_run(ns, "curl", "-sk", "--max-time", "15", f"https://{GUEST_IP}:{port}/")
            return TOKEN in p.stdout

        def show_tls_from_tlsd():
            ok = False
            for _ in range(15):  # tlsd serves once netd is up and keyd answers
                ok = curl(443)
                if ok:
                    break
                time.sleep(2)
            check(ok, "no page through tlsd on 443")
            t = cmd("show tls", "PORT", prompt="keel> ")
            row = [ln.split() for ln in t.splitlines() if ln.split()[:2] == ["443", "serving"]]
            check(row and int(row[0][2]) >= 1 and int(row[0][5]) >= 1,
                  f"show tls lacks 443 serving with an accepted connection and a handshake: {t!r}")

        step("console_net.show_tls_from_tlsd", show_tls_from_tlsd)

        def commit_adds_listener():
            check(not curl(8443), "8443 serves before it was configured")
            cmd("configure", prompt="keel# ")
            for line in TLS_8443:
                cmd(line, prompt="keel")
            cmd("commit", "commit complete", prompt="keel# ")
            check(curl(8443), "no page through the listener committed on 8443")
            check(curl(443), "443 stopped serving when 8443 was added")
            t = cmd("show tls", "PORT", prompt="keel# ")
            check(any(ln.split()[:2] == ["8443", "serving"] for ln in t.splitlines()), f"show tls lacks 8443: {t!r}")

        step("console_net.commit_adds_tls_listener", commit_adds_listener)

        def tlsd_refusal_changes_nothing():
            cmd("set tls 8443 certificate nosuch.crt key edge1.key sni other.test", prompt="keel# ")
            t = cmd("commit", "tlsd refused the configuration", "nothing was changed", prompt="keel# ")
            check("nosuch.crt" in t, f"tlsd's refusal does not name the file: {t!r}")
            check(curl(8443), "8443 stopped serving after a refused commit")
            cmd("rollback 0", prompt="keel# ")

        step("console_net.tlsd_refusal_changes_nothing", tlsd_refusal_changes_nothing)

        def commit_removes_listener():
            cmd("delete tls 8443", prompt="keel# ")
            cmd("commit", "commit complete", prompt="keel# ")
            check(not curl(8443), "8443 still serves after its block was deleted and committed")
            check(curl(443), "443 stopped serving when 8443 was removed")
            cmd("exit", prompt="keel> ")

        step("console_net.commit_removes_tls_listener", commit_removes_listener)

        def conn_rows(port: int, state: str) -> list:
            t = cmd("show connections", "PROTO", prompt="keel> ")
            return [ln for ln in t.splitlines() if f":{port} " in ln and ln.split()[-1:] == [state]]

        def listener_readded_within_time_wait():
            """A TLS listener deleted and added again while a connection it
            served waits in TIME_WAIT on the appliance gets its port back
            (netd's listeners bind with SOF_REUSEADDR; without it the commit
            was refused with `listen: error -906`, address in use, for two
            minutes)."""
            commit_and_exit(TLS_8443, prompt="keel")
            check(curl(8443), "no page through 8443")
            # The client asks for the page, reads it and keeps its socket
            # open (it answers tlsd's close_notify with nothing): the
            # connection stays until the listener is deleted, tlsd then
            # closes it first (FIN_WAIT_2 on the appliance), and when the
            # client's process ends the appliance's side is in TIME_WAIT
            # for two minutes.  (Clients that close on close_notify close
            # first and leave no TIME_WAIT on the appliance.)
            held = lab.py(ns, HELD_CLIENT, GUEST_IP, "8443")
            try:
                for _ in range(30):
                    if conn_rows(8443, "ESTABLISHED"):
                        break
                    time.sleep(0.5)
                check(conn_rows(8443, "ESTABLISHED"), "the held client's connection to 8443 is not established")
                commit_and_exit(["delete tls 8443"])
                for _ in range(30):
                    if conn_rows(8443, "FIN_WAIT_2"):
                        break
                    time.sleep(0.5)
                check(conn_rows(8443, "FIN_WAIT_2"), "tlsd did not close the held client's connection first")
            finally:
                lab.stop(held)
            for _ in range(20):
                if conn_rows(8443, "TIME_WAIT"):
                    break
                time.sleep(0.5)
            check(conn_rows(8443, "TIME_WAIT"), "no connection to 8443 in TIME_WAIT on the appliance")
            cmd("configure", prompt="keel# ")
            for line in TLS_8443:
                cmd(line, prompt="keel")
            t = cmd("commit", "commit", prompt="keel# ")
            check("commit complete" in t, f"re-adding 8443 during TIME_WAIT was refused: {t!r}")
            cmd("exit", prompt="keel> ")
            check(curl(8443), "no page through 8443 added again")
            commit_and_exit(["delete tls 8443"])

        step("console_net.tls_listener_readded_within_time_wait", listener_readded_within_time_wait)

        def committed_key_survives_keyd_restart():
            """A key only a commit named (keyd loaded it then, after its boot
            keys) still signs after init restarts keyd: the new keyd numbers
            its keys anew, tlsd's old id is refused as stale, and tlsd opens
            its keys again by name (keyd_client.c)."""
            commit_and_exit(["tls 8443 {", "certificate edge2.crt key edge2.key", f"backend {HOST_IP}:8080", "}"],
                            prompt="keel")
            check(curl(8443), "no page through 8443 with the committed key edge2.key")
            check("edge2.test" in subject(8443), f"8443 does not serve edge2's certificate: {subject(8443)!r}")
            cmd("restart keyd", "restarting", prompt="keel> ")
            # init restarts it after its back-off: until then the row says
            # `restarting` with the old count; wait for the new keyd.
            for _ in range(20):
                t = cmd("show tasks", "NAME", prompt="keel> ")
                row = [ln.split() for ln in t.splitlines() if ln.startswith("keyd ")]
                if row and row[0][1] == "ready" and row[0][3] == "1":
                    break
                time.sleep(0.5)
            check(row and row[0][1] == "ready" and row[0][3] == "1",
                  f"show tasks does not show keyd restarted once and ready: {t!r}")
            ok = False
            for _ in range(15):
                ok = curl(8443) and curl(443)
                if ok:
                    break
                time.sleep(2)
            check(ok, "8443 (edge2.key, loaded by a commit) or 443 does not serve after keyd's restart")
            check("edge2.test" in subject(8443), "8443 serves another certificate after keyd's restart")
            commit_and_exit(["delete tls 8443"])

        step("console_net.committed_key_survives_keyd_restart", committed_key_survives_keyd_restart)

        def clear_tls_counters():
            check(curl(443), "no page through 443")
            cmd("clear counters", "tlsd's TLS counters are zero", prompt="keel> ")
            t = cmd("show tls", "PORT", prompt="keel> ")
            row = [ln.split() for ln in t.splitlines() if ln.split()[:2] == ["443", "serving"]]
            check(row and row[0][2] == "0" and row[0][5] == "0", f"443's counters after clear counters: {t!r}")

        step("console_net.clear_counters_zeroes_tls", clear_tls_counters)

        step("console_net.restart_netd_keeps_commit", restart_netd)
        step("console_net.restart_unknown_refused",
                lambda: cmd("restart frobnicate", "error: expected a server started on this boot", prompt="keel> "))

        def reboot():
            c.send(b"reboot\r")
            check(c.read_until("rebooting", 30), "no `rebooting`")
            try:
                proc.wait(timeout=120)  # QEMU runs with -no-reboot: a reset ends it
            except subprocess.TimeoutExpired:
                raise kq.TestFailure("the machine did not reset within 120 s")

        step("console_net.reboot_resets", reboot)

        def bad_file_denies_all():
            """A second boot whose appliance.conf has an error on line 7 (and
            rules that would pass pings and 443): the console names line 7,
            netd runs deny-all, and nothing from the namespace gets in."""
            nonlocal_state["img2"] = make_site_image(image, tmp / "img2",
                                                     BAD_CONF)
            cfg2 = kq.Config(boot="direct", accel="auto", taps=[tap], netns=ns, qemu_extra="-device virtio-rng-pci",
                             image_dir=nonlocal_state["img2"])
            p2, c2 = lab.console_guest(cfg2, tmp, "console2")
            try:
                check(c2.read_until("error: appliance.conf:7:", 120), "the boot did not name line 7")
                check(c2.read_until("keel> ", 60), "no prompt after a bad file")
                up = False
                for _ in range(30):
                    start = c2.cursor
                    c2.send(b"show interfaces\r")
                    check(c2.read_until("keel> ", 30), "no prompt after show interfaces")
                    if GUEST_IP in c2.text_since(start):
                        up = True
                        break
                    time.sleep(2)
                check(up, "netd never configured its address")
                netlab.sh("ip", "-n", ns, "neigh", "flush", "all", check=False)
                check(not pings(3), "pings pass although appliance.conf did not parse")
                # Positive control: the pings reached a live guest, which
                # answered ARP for them; only the deny-all firewall kept them.
                p = netlab.sh("ip", "-n", ns, "neigh", "show", GUEST_IP, check=False)
                check("lladdr" in p.stdout, f"the guest did not answer ARP (dead, not blocking?): {p.stdout!r}")
                check(not curl(443), "443 answers although appliance.conf did not parse")
                start = c2.cursor
                c2.send(b"show firewall\r")
                check(c2.read_until("keel> ", 30), "no prompt after show firewall")
                t = c2.text_since(start)
                check("proto icmp" not in t and "port 443" not in t, f"netd runs rules from the bad file: {t!r}")
            finally:
                lab.stop(p2, grace=3.0)

        nonlocal_state: dict = {}
        step("console_net.bad_file_line_7_boots_deny_all", bad_file_denies_all)
    finally:
        lab.close()


def main() -> int:
    return netlab.suite_main("console-net", run)


if __name__ == "__main__":
    sys.exit(main())
