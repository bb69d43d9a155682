#!/usr/bin/env python3
"""Fault injection under load, MINIX 3 style (issue 16): while a forwarded TCP
stream and TLS downloads run through the appliance (tests/qemu/faultlab.py),
inject faults one after another into the e1000 and virtio-net drivers
(eth0, eth1), netd, tlsd and keyd, through faultd and the kernel's
DEBUG_CTL_INJECT (a flipped bit in a saved register, a flipped byte at the
next instruction, a wild write into the server's private memory, an
endless loop at the next instruction, which the server's cpu-limit ends, or
a thread stopped for good, which the server's stall-limit finds; the
kind, register, bit, address and value come from the kernel's choice on a
random word drawn from the printed seed).

One fault at a time: the target is drawn at random among the servers that
are up; after the injection the campaign waits HOLD seconds for the server
to die (most faults that kill do so at once; one that does not is counted
as survived: it hit dead state, or the server limps until a later fault;
a spin or a stop kills only at the server's cpu-limit or stall-limit,
seconds later, so the campaign goes on at once after those);
a death must be followed by init's restart within RESTART_WAIT seconds
(else a failed restart).  The clients run all along and each result is
set beside the deaths that happened during it:
  - a forwarded stream that only driver deaths overlapped must arrive
    byte-exact (TCP retransmits across the driver's restart);
  - a stream overlapped by a netd death may be cut: netd's restart loses
    its connection and firewall states; what happens is counted and shown
    (the firewall picks an established flow up mid-stream again when a rule
    passes its packets, so many streams survive);
  - a TLS download overlapped by a tlsd or netd death may be reset (tlsd
    exits and starts again when netd's session is gone); one overlapped
    only by keyd or driver deaths must succeed (keyd's restart is a delay);
  - no stream is ever corrupted (same byte count, other bytes);
  - after the campaign, TLS and forwarding serve again, the kernel's
    invariant checks pass, and the machine's free memory is back at its
    starting figure (servers restarted into fresh budgets).
The kernel and init must never fail (QEMU alive, no panic, init never dies).
Before the campaign, one spin fault into eth0 checks the CPU-limit path on
its own (spinning_driver_restarted), and one stop fault the stall-limit path
(stopped_driver_restarted).

Output: PASS/FAIL lines and `N passed, N failed` (make test), and with
--report the `FAULTS name=... value=...` lines (make faults).

Usage: python3 tests/qemu/test_faults.py [--faults N] [--seed S] [--report]
Needs root (ip netns, tap).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import keelqemu as kq  # noqa: E402
from faultlab import CANNOT, DIED, READY, STARTED, TARGETS, Lab, Load  # noqa: E402
from test_console import check  # noqa: E402

HOLD = 0.3           # seconds after an injection to see whether the server died
SLOW_KINDS = {"spin", "stop"}  # faults whose death comes seconds later (cpu-limit, stall-limit): no HOLD
HANG_S = 30.0        # a service that failed this long with no death is hung (see Campaign.watchdog)
RESTART_WAIT = 30.0  # seconds for init's restart after a death
DRIVERS = {"eth0", "eth1"}
PATHS = {"tls": {"eth0", "eth1", "netd", "tlsd", "keyd"}, "fwd": {"eth0", "eth1", "netd"}}
INIT_DIED = "keel: fault: task init "  # init has no fault handler: the kernel says so
SPUN = re.compile(r"keel: init: (\S+): spun for (\d+) ms without blocking")
ETH0_LIMIT_MS = 2000  # image/manifest: `server eth% ... cpu-limit 2s`
STALLED = re.compile(r"keel: init: (\S+): stalled: work waited (\d+) ms on its slot (\d+) while it was blocked")
ETH0_STALL_MS = 5000  # image/manifest: `server eth% ... stall-limit 5s`


def eth0_restarted_and_served_again(lab: Lab, after: int, t0: float, what: str) -> None:
    """Beyond character AFTER of the log (init's line about eth0): eth0
    ready again, then TLS and forwarding served again; WHAT and the time
    since T0 (the injection) are printed."""
    check(lab.wait_log(r"keel: init: server eth0 ready", 60, after) is not None,
          "eth0 not ready again after its restart")
    for _ in range(30):
        tls, fwd = lab.tls_once(), lab.fwd_once(1)[0]
        if tls == "ok" and fwd == "ok":
            print(f"faults: eth0 {what}, restarted; served again {time.monotonic() - t0:.1f} s after the injection",
                  flush=True)
            return
        time.sleep(2)
    raise kq.TestFailure(f"not served again after eth0's restart: tls {tls}, fwd {fwd}")


def spinning_driver_restarted(lab: Lab) -> None:
    """A driver made to spin (faultd's `spin`: `jmp .` written at its next
    instruction, kernel/faultinj.c) must not take the machine down: traffic
    through eth0 wakes it into the loop; the kernel demotes it below every
    server at once and stops it at its cpu-limit with FAULT_HOG; init says
    which server and why and restarts it; the console answers, and TLS and
    forwarding are served again.  On a kernel without demotion and limits
    eth0 spins at priority 15 forever: no restart, consoled and netd starve."""
    pos = len(lab.log())
    r = lab.faultd("inject eth0 1 spin")
    check(r.startswith("ok eth0 kind=spin"), f"faultd: {r!r}")
    t0 = time.monotonic()
    during = lab.tls_once(timeout=5)  # its frames wake the driver into the loop
    m = lab.wait_log(SPUN.pattern, 90, pos)
    check(m is not None, f"no `eth0: spun for N ms without blocking` in 90 s (TLS meanwhile: {during})")
    check(m.group(1) == "eth0" and int(m.group(2)) >= ETH0_LIMIT_MS, f"wrong report: {m.group(0)!r}")
    check(re.search(r"keel: fault: task eth0: spun for \d+ ms without blocking", lab.log()[pos:]) is not None,
          "the kernel did not say why it stopped eth0")
    out = lab.cmd("show version", timeout=60)
    check("Keel " in out, f"console: {out[-200:]!r}")
    eth0_restarted_and_served_again(lab, pos + m.end(), t0, f"spun {m.group(2)} ms")


def stopped_driver_restarted(lab: Lab) -> None:
    """A driver stopped for good (faultd's `stop`: its thread suspended
    out of every queue with no fault, as one a corrupted slot left blocked
    on an object nothing signals) is alive to init's fault path but serves
    nothing: its interrupts pend untaken.  init's stall-limit
    (SYS_TASK_STALL) must find it and restart it, with a line saying so,
    and TLS and forwarding are served again.  Without the stall check the
    driver stays stuck until an operator restarts it."""
    pos = len(lab.log())
    r = lab.faultd("inject eth0 1 stop")
    check(r.startswith("ok eth0 kind=stop"), f"faultd: {r!r}")
    t0 = time.monotonic()
    during = lab.tls_once(timeout=5)  # its frames raise interrupts nobody takes
    m = lab.wait_log(STALLED.pattern, 90, pos)
    check(m is not None, f"no `eth0: stalled: ...` in 90 s (TLS meanwhile: {during})")
    check(m.group(1) == "eth0" and int(m.group(2)) >= ETH0_STALL_MS, f"wrong report: {m.group(0)!r}")
    eth0_restarted_and_served_again(lab, pos + m.end(), t0, f"stopped, found stalled after {m.group(2)} ms")


class Campaign:
    def __init__(self, lab: Lab, seed: int, load: Load):
        self.lab = lab
        self.load = load
        self.survived: set[str] = set()   # hit by a fault that did not kill it, not restarted since
        self.hangs = {t: 0 for t in TARGETS}
        self.hang_events: list[str] = []
        self.hang_windows: list[tuple[str, float, float]] = []  # (service, from, to)
        self.last_ok = {"tls": time.monotonic(), "fwd": time.monotonic()}
        self.rng = random.Random(seed)
        self.injected = {t: 0 for t in TARGETS}
        self.kinds = {"reg": 0, "code": 0, "wild": 0, "spin": 0, "stop": 0}
        self.refused = 0              # faultd's `err` (the target was between lives)
        self.deaths: list[list] = []   # [server, host time its death was seen, time it was ready again or None]
        self.restarts = {t: 0 for t in TARGETS}
        self.failed_restarts = {t: 0 for t in TARGETS}
        self.settle_s = 0.0  # time spent in settle()
        self.pos = 0                  # how far the log has been read
        self.down: dict[str, float] = {}   # server -> time it was seen dead, until its restart
        self.system_failures: list[str] = []

    def scan(self) -> None:
        """Reads the log's new lines: deaths, restarts, failed starts."""
        text = self.lab.log()
        now = time.monotonic()
        events = []
        for rx, kind in ((DIED, "died"), (STARTED, "started"), (CANNOT, "cannot"), (READY, "ready")):
            for m in rx.finditer(text, self.pos):
                events.append((m.start(), kind, m.group(1)))
        for _, kind, name in sorted(events):
            if name not in self.restarts:
                continue  # consoled, uart, faultd ...: not targets (their deaths show in the log)
            if kind == "ready":
                for d in self.deaths:
                    if d[0] == name and d[2] is None:
                        d[2] = now
                continue
            if kind == "died":
                self.deaths.append([name, now, None])
                self.down[name] = now
                self.survived.discard(name)
            elif kind == "started":
                if name in self.down:
                    self.restarts[name] += 1
                    del self.down[name]
            else:
                self.failed_restarts[name] += 1
        # The last line may be half-written: rescan from its start next time.
        self.pos = text.rfind("\n") + 1 if text else 0
        if "keel: PANIC" in text and "kernel panic" not in self.system_failures:
            self.system_failures.append("kernel panic")
        for name, t in list(self.down.items()):
            if now - t > RESTART_WAIT:
                self.failed_restarts[name] += 1
                del self.down[name]
        if not self.lab.alive():
            self.system_failures.append("QEMU exited")

    def one(self) -> None:
        up = [t for t in TARGETS if t not in self.down]
        if not up:
            time.sleep(0.1)
            self.scan()
            return
        target = self.rng.choice(up)
        word = self.rng.getrandbits(64)
        r = self.lab.faultd(f"inject {target} {word:x}")
        if not r.startswith("ok "):
            self.refused += 1
            time.sleep(0.05)
            self.scan()
            return
        self.injected[target] += 1
        k = re.search(r"kind=(\w+)", r)
        if k and k.group(1) in self.kinds:
            self.kinds[k.group(1)] += 1
        end = time.monotonic() + (0 if k and k.group(1) in SLOW_KINDS else HOLD)
        while time.monotonic() < end:
            time.sleep(0.05)
            self.scan()
            if target in self.down:
                break
        if target not in self.down:
            self.survived.add(target)
        else:
            self.settle()
        self.watchdog()

    def settle(self) -> None:
        """After a death, the next fault waits until every server that died
        is ready again (tlsd follows netd), at most RESTART_WAIT: one fault's
        effect on the clients is then its own, and the clients get the
        chance to be served again between faults."""
        t0 = time.monotonic()
        asked = False
        try:
            self._settle(t0, asked)
        finally:
            self.settle_s += time.monotonic() - t0

    def _settle(self, t0: float, asked: bool) -> None:
        while time.monotonic() < t0 + RESTART_WAIT and any(d[2] is None for d in self.deaths):
            time.sleep(0.05)
            self.scan()
            if not asked and time.monotonic() > t0 + 5.0:
                # The serial line can lose a `ready` line: ask init.
                asked = True
                ready = {n for n, v in self.lab.tasks().items() if v[0] == "ready"}
                for d in self.deaths:
                    if d[2] is None and d[0] in ready:
                        d[2] = time.monotonic()

    def watchdog(self) -> None:
        """A fault that does not kill can leave a server limping: alive, but
        serving nothing (a flipped bit in a pointer it keeps using).  Keel
        has no liveness check (heartbeats, as MINIX 3's reincarnation
        server sends) yet, so the campaign plays the watchdog: when a
        service (TLS, forwarding) has had no success for HANG_S seconds
        while every server is up, the servers on its path that survived a
        fault since their last restart are restarted from the console, and
        each such restart is counted as a hang of that server."""
        now = time.monotonic()
        with self.load.lock:
            for r in self.load.results:
                if r.outcome == "ok":
                    self.last_ok[r.kind] = max(self.last_ok[r.kind], r.t1)
        for svc, path in PATHS.items():
            # A client's attempt takes a second or two, a stream cut by
            # netd's restart stalls for 15 s, and the next one is served: no
            # success for HANG_S means a server on the path is not serving.
            if now - self.last_ok[svc] < HANG_S or self.down:
                continue
            suspects = sorted(self.survived & path)
            try:  # the log so far, for a campaign that hangs before its end writes it
                kq.LOG_DIR.mkdir(parents=True, exist_ok=True)
                (kq.LOG_DIR / "faults-live.log").write_text(self.lab.log())
            except OSError:
                pass
            self.hang_windows.append((svc, self.last_ok[svc], now + 5.0))
            self.hang_events.append(f"{svc} failed {now - self.last_ok[svc]:.0f} s; restarted {suspects or 'none'}")
            for name in suspects:
                try:
                    self.lab.cmd(f"restart {name}", timeout=30)
                except kq.TestFailure:
                    pass  # the console is slow (a full serial line): init acts on it all the same
                self.hangs[name] += 1
                self.survived.discard(name)
            self.last_ok[svc] = now  # a grace period for the restarted servers
        # Let a dead target come back before the next fault (it is not
        # chosen while down; the others are), bounded by RESTART_WAIT.

    def run(self, n: int) -> None:
        while sum(self.injected.values()) < n and not self.system_failures:
            self.one()
        end = time.monotonic() + RESTART_WAIT
        while self.down and time.monotonic() < end:
            time.sleep(0.2)
            self.scan()
        self.scan()


def overlapping(deaths: list[list], t0: float, t1: float) -> set[str]:
    """The servers that were dead or not yet ready again at some time during
    [t0, t1], with a second's slack each side for the log's delay (a death
    seen up to HOLD + 1 s after a result's end may have caused it)."""
    hit = set()
    for name, a, b in deaths:
        if a - 1.0 <= t1 + HOLD and t0 <= (b if b is not None else float("inf")) + 1.0:
            hit.add(name)
    return hit


TOLERANCE = 0.05  # see main(): the share of client results two checks allow to fail
QUICK_S = 5.0  # a driver restart "completes" when the driver is ready this soon after its death


def slow_restart(deaths: list[list], t0: float, t1: float) -> bool:
    """Whether a driver death during [t0, t1] took QUICK_S or more to be ready again."""
    for name, a, b in deaths:
        if name in DRIVERS and a - 1.0 <= t1 + HOLD and t0 <= (b if b is not None else float("inf")) + 1.0:
            if b is None or b - a >= QUICK_S:
                return True
    return False


def death_causes(text: str) -> dict:
    """init's `server NAME died: WHY` lines for the targets in TEXT, by why:
    a crash (a CPU exception), a spin (cpu-limit), a stall (stall-limit),
    stuck in its start, or an exit (tlsd leaves when netd restarts)."""
    out = {"crash": 0, "spin": 0, "stall": 0, "start": 0, "exit": 0}
    for m in DIED.finditer(text):
        if m.group(1) not in TARGETS:
            continue
        why = m.group(2)
        kind = ("spin" if "cpu-limit" in why else "stall" if why.startswith("stalled")
                else "start" if "stuck in its start" in why else "exit" if why.startswith("exit") else "crash")
        out[kind] += 1
    return out


def classify(c: Campaign, load: Load) -> dict:
    s = {"fwd_total": 0, "fwd_ok": 0, "fwd_corrupt": 0, "fwd_driver_only": 0, "fwd_driver_only_ok": 0,
         "fwd_netd": 0, "fwd_netd_ok": 0, "fwd_clean": 0, "fwd_clean_ok": 0, "bytes_lost": 0,
         "bytes_lost_driver_only": 0, "fwd_failed_other": 0,
         "tls_total": 0, "tls_ok": 0, "tls_tlsd_netd": 0, "tls_tlsd_netd_ok": 0, "tls_keyd_driver": 0,
         "tls_keyd_driver_ok": 0, "tls_clean": 0, "tls_clean_ok": 0}
    bad: list[str] = []
    s["fwd_during_hang"] = s["tls_during_hang"] = s["fwd_driver_slow"] = s["fwd_driver_slow_ok"] = 0

    def count(cls: str, ok: bool) -> None:
        s[cls] += 1
        s[f"{cls}_ok"] += ok

    for r in load.results:
        hit = overlapping(c.deaths, r.t0, r.t1)
        if r.outcome != "ok" and any(svc == r.kind and a <= r.t1 and r.t0 <= b for svc, a, b in c.hang_windows):
            s[f"{r.kind}_during_hang"] += 1
            s[f"{r.kind}_total"] += 1
            continue
        if r.kind == "fwd":
            s["fwd_total"] += 1
            ok = r.outcome == "ok"
            s["fwd_ok"] += ok
            s["fwd_corrupt"] += r.outcome == "corrupt"
            lost = max(0, r.sent - r.received) if r.outcome in ("short", "stalled", "reset") else 0
            s["bytes_lost"] += lost
            if "netd" in hit:
                count("fwd_netd", ok)
            elif hit & DRIVERS and slow_restart(c.deaths, r.t0, r.t1):
                # A driver that took more than QUICK_S to serve again (it
                # limped while starting, or was hit again): TCP's back-off
                # can outlast the client's 15 s stall timeout.  Counted apart.
                count("fwd_driver_slow", ok)
                s["bytes_lost_driver_only"] += lost
            elif hit & DRIVERS:
                count("fwd_driver_only", ok)
                s["bytes_lost_driver_only"] += lost
                if not ok:
                    bad.append(f"fwd {r.outcome} sent={r.sent} received={r.received} across {sorted(hit)}")
            else:
                count("fwd_clean", ok)
                if not ok:
                    bad.append(f"fwd {r.outcome} with no driver or netd death (deaths: {sorted(hit)})")
        else:
            s["tls_total"] += 1
            ok = r.outcome == "ok"
            s["tls_ok"] += ok
            if hit & {"tlsd", "netd"}:
                count("tls_tlsd_netd", ok)
            elif hit:
                count("tls_keyd_driver", ok)
                if not ok:
                    bad.append(f"tls {r.outcome} across {sorted(hit)} (no tlsd or netd death)")
            else:
                count("tls_clean", ok)
                if not ok:
                    bad.append(f"tls {r.outcome} with no death during it")
    s["unexplained"] = bad
    return s


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-dir", default=None)
    ap.add_argument("--faults", type=int, default=200)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--report", action="store_true", help="print FAULTS name=... value=... lines")
    opts = ap.parse_args()
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(1 << 32)
    print(f"faults: seed {seed}, {opts.faults} faults into {', '.join(TARGETS)}", flush=True)
    rep = kq.Reporter()
    tmp = Path(tempfile.mkdtemp(prefix="keel-faults-"))
    image = Path(opts.image_dir or kq.DEFAULT_IMAGE_DIR)
    lab = None
    figures: dict = {}
    try:
        lab = Lab(tmp, image)
        if not rep.run("faults.boot_serves_tls_and_forwards", lab.boot):
            return rep.finish()
        rep.run("faults.spinning_driver_restarted_and_served_again", lambda: spinning_driver_restarted(lab))
        rep.run("faults.stopped_driver_found_stalled_and_restarted", lambda: stopped_driver_restarted(lab))
        time.sleep(3)
        mem0 = lab.mem()
        tasks0 = lab.tasks()
        load = Load()
        camp = Campaign(lab, seed, load)
        lab.start_load(load)
        t_start = time.monotonic()
        log0 = len(lab.log())
        camp.scan()
        camp.pos = len(lab.log())
        rep.run("faults.campaign_ran", lambda: (camp.run(opts.faults),
                                                check(sum(camp.injected.values()) >= opts.faults,
                                                      f"only {sum(camp.injected.values())} faults injected")))
        elapsed = time.monotonic() - t_start
        settle_s = camp.settle_s
        print(f"faults: campaign {elapsed:.0f} s ({settle_s:.0f} s of it waiting for restarts)", flush=True)
        Lab.stop_load(load)
        alive = lab.alive()
        kc = lab.kcheck() if alive else {"violations": -1}
        after_tls = after_fwd = "not-run"
        t_after = time.monotonic()
        if alive:
            for i in range(30):   # the last restarts settle
                after_tls, after_fwd = lab.tls_once(), lab.fwd_once(1)[0]
                if after_tls == "ok" and after_fwd == "ok":
                    break
                if i == 4:  # still failing: the watchdog's turn (a limping server)
                    camp.last_ok = {"tls": 0.0 if after_tls != "ok" else time.monotonic(),
                                    "fwd": 0.0 if after_fwd != "ok" else time.monotonic()}
                    camp.watchdog()
                time.sleep(2)
        print(f"faults: served again {time.monotonic() - t_after:.0f} s after the campaign", flush=True)
        time.sleep(3)
        mem1 = lab.mem() if alive else {"free_pages": 0, "kheap_bytes": 0}
        tasks1 = lab.tasks() if alive else {}
        # init's own counters: restarts and faults per server over the
        # campaign (the log can lose lines when the serial line stalls);
        # the watchdog's console restarts are counted apart (hangs).
        init_restarts = {t: tasks1.get(t, ("", 0, 0))[1] - tasks0.get(t, ("", 0, 0))[1] - camp.hangs[t]
                         for t in TARGETS}
        init_faults = {t: tasks1.get(t, ("", 0, 0))[2] - tasks0.get(t, ("", 0, 0))[2] for t in TARGETS}
        not_ready = sorted(t for t in TARGETS if tasks1.get(t, ("?",))[0] != "ready")
        # A fault init saw that was not followed by a restart (the serial log
        # may lose lines, so init's counters decide), or a server not ready.
        # A failed restart: init could not start the server again (`cannot
        # start`), or it is not ready at the end.  (init's fault and restart
        # counters can differ by the watchdog's console restarts: a restart
        # asked for a server that had just died, e.g. tlsd after netd, is one
        # restart for both.)
        cannot = {t: len(re.findall(rf"keel: init: cannot start {t}\b", lab.log())) for t in TARGETS}
        failed = {t: cannot[t] + (t in not_ready) for t in TARGETS}
        camp.scan()
        s = classify(camp, load)
        text = lab.log()
        init_died = INIT_DIED in text
        panics = text.count("keel: PANIC")
        sysfail = len(camp.system_failures) + (0 if alive else 1) + panics + init_died

        rep.run("faults.every_server_was_hit",
                lambda: check(all(camp.injected[t] > 0 for t in TARGETS), f"injected: {camp.injected}"))
        rep.run("faults.kernel_and_init_never_failed",
                lambda: check(sysfail == 0, f"QEMU alive {alive}, panics {panics}, init died {init_died}, "
                                            f"{camp.system_failures}"))
        rep.run("faults.kernel_invariants_hold", lambda: check(kc.get("violations") == 0, f"check: {kc}"))
        rep.run("faults.every_death_restarted",
                lambda: check(sum(failed.values()) == 0,
                              f"failed restarts {failed} (init's counters), not ready at the end {not_ready}; "
                              f"from the log: {camp.failed_restarts}"))
        rep.run("faults.some_faults_killed",
                lambda: check(sum(camp.restarts.values()) > 0, "no injected fault killed a server"))
        rep.run("faults.no_stream_corrupted", lambda: check(s["fwd_corrupt"] == 0, f"{s['fwd_corrupt']} corrupted"))
        # Two client checks have a tolerance (TOLERANCE, of the results
        # concerned; at least one): under TCG on a loaded host a rare stream
        # stalls past its 15 s timeout, or a handshake fails, across a driver
        # restart (the 1,000-fault run in README: 1 of 51 streams, 5 of 390
        # results); the figures report every one.
        rep.run("faults.streams_across_quick_driver_restarts_byte_exact_95pct",
                lambda: check(s["fwd_driver_only"] - s["fwd_driver_only_ok"] <=
                              max(1, int(TOLERANCE * s["fwd_driver_only"])),
                              f"{s['fwd_driver_only'] - s['fwd_driver_only_ok']} of {s['fwd_driver_only']} "
                              f"streams failed: {[b for b in s['unexplained'] if b.startswith('fwd')][:5]}"))
        rep.run("faults.clients_fail_only_when_their_server_died_95pct",
                lambda: check(len(s["unexplained"]) <= max(1, int(TOLERANCE * (s["fwd_total"] + s["tls_total"]))),
                              "; ".join(s["unexplained"][:6])))
        rep.run("faults.served_again_after_the_campaign",
                lambda: check(after_tls == "ok" and after_fwd == "ok", f"tls {after_tls}, fwd {after_fwd}"))
        rep.run("faults.memory_back_at_start",
                lambda: check(mem1["free_pages"] >= mem0["free_pages"],
                              f"free pages {mem0['free_pages']} at start, {mem1['free_pages']} at the end"))
        figures = {
            "seed": seed, "injected": sum(camp.injected.values()), "refused_between_lives": camp.refused,
            **{f"injected_{t}": camp.injected[t] for t in TARGETS},
            **{f"kind_{k}": v for k, v in camp.kinds.items()},
            "restarts": sum(init_restarts.values()), **{f"restarts_{t}": init_restarts[t] for t in TARGETS},
            "faults_seen_by_init": sum(init_faults.values()),
            "restarts_seen_in_log": sum(camp.restarts.values()),
            "failed_restarts": sum(failed.values()),
            "failed_restarts_seen_in_log": sum(camp.failed_restarts.values()),
            "watchdog_firings": len(camp.hang_events),
            "watchdog_restarts": sum(camp.hangs.values()),
            **{f"watchdog_restarts_{t}": camp.hangs[t] for t in TARGETS},
            **{f"deaths_{k}": v for k, v in death_causes(text[log0:]).items()},
            "system_failures": sysfail, "kernel_check_violations": kc.get("violations"),
            **{k: v for k, v in s.items() if k != "unexplained"},
            "unexplained_client_failures": len(s["unexplained"]),
            "memory_free_kib_start": mem0["free_pages"] * 4, "memory_free_kib_end": mem1["free_pages"] * 4,
            "kheap_bytes_start": mem0["kheap_bytes"], "kheap_bytes_end": mem1["kheap_bytes"],
            "campaign_seconds": int(elapsed),
        }
        for h in camp.hang_events:
            print(f"faults: hang: {h}", file=sys.stderr)
        for u in s["unexplained"][:20]:
            print(f"faults: unexplained: {u}", file=sys.stderr)
    finally:
        if lab is not None:
            lab.close("faults")
        kq.kill_all()
        shutil.rmtree(tmp, ignore_errors=True)
    if opts.report:
        for k, v in figures.items():
            print(f"FAULTS name={k} value={v}", flush=True)
    return rep.finish()


if __name__ == "__main__":
    sys.exit(main())
