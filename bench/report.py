#!/usr/bin/env python3
"""make bench-report: run the benchmarks and write their results into README.md.

    python3 bench/report.py [--readme README.md] [--from LOG] [-- RUN.PY ARGS...]

Runs bench/run.py (Keel's figures, then the Linux guest's and the RATIO
lines), shows its output as it comes, keeps it in build/bench/report.log, and
replaces what stands between the lines

    <!-- bench-report:start -->
    <!-- bench-report:end -->

of the README with tables made from that output: the pairs with their
ratios, then every other figure.  No figure is typed by hand: a table always
comes from one real run, named with its date, commit, QEMU, accelerator and
Linux kernel.  `--from LOG` formats the saved output of an earlier run
instead of running again (same tables, same provenance line).  If the run
fails or prints no RATIO line the README is left alone and the exit status
is 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOG = REPO / "build" / "bench" / "report.log"
CHART = REPO / "docs" / "bench-chart.svg"
START = "<!-- bench-report:start -->"
END = "<!-- bench-report:end -->"

BENCH_RE = re.compile(r"^BENCH name=(\S+) value=(\S+) unit=(\S+)$")
KV_RE = re.compile(r'(\w+)=("[^"]*"|\S+)')

# What each pair compares, in words (bench/README.md has the details).
LABELS = {
    "ipc_rtt_vs_pipe_rtt": "IPC round trip (call + reply_recv) vs pipe round trip",
    "ipc_rtt_vs_eventfd_rtt": "IPC round trip vs eventfd round trip",
    "ipc_rtt_vs_futex_rtt": "IPC round trip vs futex round trip",
    "null_syscall_vs_getppid": "null system call vs getppid()",
    "boot_direct_to_first_user_process": "direct boot: QEMU start to the first user process",
    "boot_direct_to_nic_ready": "direct boot: QEMU start to ready (NIC driver up)",
    "boot_pxe_to_nic_ready": "PXE boot: QEMU start to ready (NIC driver up)",
    "pxe_bytes_sent": "bytes a PXE server sends",
    "kernel_bytes": "kernel image bytes",
    "tcp_sink_tap": "TCP into a sink in the guest, tap (MB/s, higher is better)",
    "tcp_sink_user": "TCP into a sink in the guest, QEMU user network (MB/s, higher is better)",
    "tcp_conns_per_s_tap": "new TCP connections per second, tap (higher is better)",
    "fwd_tcp_tap": "TCP forwarded between two taps through 100 firewall rules with state "
    "(Keel: netd's firewall; Linux: nftables + conntrack) (MB/s, higher is better)",
    "tls_full_handshakes_ecdsa_p256": "TLS full handshakes/s, ECDSA P-256 (higher is better)",
    "tls_full_handshakes_rsa2048": "TLS full handshakes/s, RSA 2048 (higher is better)",
    "tls_resumed_handshakes": "TLS resumed handshakes/s (higher is better)",
    "tls13_full_handshakes_ecdsa_p256": "TLS 1.3 full handshakes/s, ECDSA P-256 (higher is better)",
    "tls13_full_handshakes_rsa2048": "TLS 1.3 full handshakes/s, RSA 2048 (PSS) (higher is better)",
    "tls13_resumed_handshakes": "TLS 1.3 resumed handshakes/s (ticket as PSK) (higher is better)",
    "tls_bulk": "TLS bulk MB/s through the terminator (higher is better)",
    "boot_direct_to_tls_serving": "direct boot: QEMU start to the TLS terminator serving",
    "boot_pxe_to_tls_serving": "PXE boot: QEMU start to the TLS terminator serving",
    "boot_uefi_pxe_to_tls_serving": "UEFI PXE boot (OVMF, iPXE, keel.efi / Linux's EFI stub): QEMU start to "
    "the TLS terminator serving",
    "tls_min_mem": "smallest -m that still serves TLS",
}
# The goals on Keel's own figures: (figure, words, limit, unit).
KEEL_GOALS = [
    ("ipc_rtt_fast_over_2_null_syscalls", "IPC round trip within 3x of two null system calls", 3, "times"),
    ("ipc_rtt_fast_over_2_null_syscalls_insn", "IPC round trip within 3x of two null system calls, in "
     "instructions (-icount)", 3, "times"),
    ("pxe_bytes_sent", "PXE payload under 2 MiB", 2 * 1024 * 1024, "bytes"),
    ("tls_min_mem_mib", "serving TLS in 32 MiB of guest memory", 32, "MiB"),
    ("tls_concurrent_held", "TLS connections held at once in a 256 MiB guest", 4000, "connections", ">="),
    ("tls_concurrent_new_client_served", "a new client served with 4,000 idle TLS connections held", 1, "", ">="),
    ("tls_concurrent_mem_per_conn", "an idle TLS connection's memory across tlsd and netd", 16384, "bytes"),
]
# Figures the issue asks for that cannot be measured yet.
NOT_YET = [
    "memory in use on Keel as pages touched: `mem_in_use_at_ready` counts pages allocated (a server's whole "
    "image, heap and stacks are charged when created, touched or not)",
    "sustained connection rates on Keel: netd's firewall state table (16384 states, 30 s TIME_WAIT) allows "
    "about 546 new connections/s, so the connection figures are burst rates (bench/README.md)",
]


def num(v: float) -> str:
    return f"{v:.0f}" if float(v).is_integer() else f"{v:g}"


def fields(line: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in KV_RE.findall(line)}


def run_bench(args: list[str]) -> tuple[int, str]:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(REPO / "bench" / "run.py"), *args]
    out: list[str] = []
    with subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True) as p:
        for line in p.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            out.append(line)
        rc = p.wait()
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"INFO name=report commit={git_describe()} date=\"{when}\"\n" + "".join(out)
    LOG.write_text(text)
    return rc, text


def git_describe() -> str:
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def qemu_version() -> str:
    try:
        first = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout
        m = re.search(r"version (\S+)", first)
        return m.group(1) if m else "?"
    except OSError:
        return "?"


def host_cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def chart_svg(ratios: list[dict[str, str]]) -> str:
    """An SVG bar chart of RATIOS: Keel / Linux per pair (medians) on a log
    scale from 1/1000 to 1000, parity (1) marked, each pair's goal marked
    where the issue sets one, bars green where the goal is met (or, without
    a goal, where Keel is ahead) and red where not."""
    lo, hi = -3.0, 3.0                           # log10 of the axis ends
    left, width, row, top = 330, 520, 22, 46
    rows = [r for r in ratios if _float(r.get("keel_over_linux")) > 0]
    height = top + row * len(rows) + 40

    def x(v: float) -> float:
        import math
        return left + (min(max(math.log10(v), lo), hi) - lo) / (hi - lo) * width

    esc = lambda t: t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 30}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<text x="10" y="18" font-size="14" font-weight="bold">Keel / Linux per pair (medians, log scale)</text>',
           f'<text x="10" y="34" fill="#555">higher-is-better pairs: right is better; the others: left is better. '
           f'| goal</text>']
    for e in range(int(lo), int(hi) + 1):
        xv = x(10.0 ** e)
        out.append(f'<line x1="{xv:.1f}" y1="{top - 6}" x2="{xv:.1f}" y2="{height - 30}" '
                   f'stroke="{"#000" if e == 0 else "#ddd"}"/>')
        out.append(f'<text x="{xv:.1f}" y="{height - 16}" text-anchor="middle">{10.0 ** e:g}</text>')
    for i, r in enumerate(rows):
        y = top + i * row
        v = _float(r["keel_over_linux"])
        higher = r.get("higher_is_better") == "yes"
        met = r.get("goal_met")
        good = met == "yes" if met else (v >= 1 if higher else v <= 1)
        x0, x1 = sorted((x(1.0), x(v)))
        out.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{esc(r["name"])}'
                   f'{" ↑" if higher else " ↓"}</text>')
        out.append(f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(x1 - x0, 1):.1f}" height="{row - 8}" '
                   f'fill="{"#3a3" if good else "#c33"}"/>')
        goal = _float(r.get("goal_min") or r.get("goal_max"))
        if goal > 0:
            gx = x(goal)
            out.append(f'<line x1="{gx:.1f}" y1="{y + 1}" x2="{gx:.1f}" y2="{y + row - 1}" stroke="#000" '
                       f'stroke-width="3"/>')
        out.append(f'<text x="{max(x1, x0) + 4:.1f}" y="{y + 14}" fill="#333">{esc(r["keel_over_linux"])}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return 0.0


def tables(text: str) -> str:
    lines = text.splitlines()
    # The run's own date and commit (the first line of report.log).
    run = next((fields(l) for l in lines if l.startswith("INFO name=report ")), {})
    when, commit = run.get("date", "at an unknown date"), run.get("commit", "unknown")
    ratios = [fields(l) for l in lines if l.startswith("RATIO ")]
    infos = [fields(l) for l in lines if l.startswith("INFO ")]
    guest = next((i for i in infos if i.get("name") == "linux_guest"), {})
    kvm = next((l for l in lines if l.startswith("INFO name=linux_kvm_attempt")), "")
    kvm = kvm.split("result=", 1)[1] if "result=" in kvm else "not tried"
    accels = sorted({r["accel"] for r in ratios if "accel" in r})
    nproc = sum(1 for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("processor"))

    out = [f"<!-- written by `make bench-report` (bench/report.py) from one run; do not edit by hand -->",
           "",
           f"Measured {when} on commit `{commit}`, QEMU {qemu_version()}, host {host_cpu()} "
           f"({nproc} CPUs). Accelerator for the pairs: **{', '.join(accels) or '?'}** "
           f"(Linux under KVM: {kvm}). Linux guest: Debian `{guest.get('package', '?').rsplit(' ', 1)[0]}`, "
           f"{guest.get('mem_mib', '?')} MiB, {guest.get('nic', '?')} NIC, one vCPU, `-cpu EPYC`, q35. "
           "Medians (min/max and run counts are in `build/bench/report.log`); TCG figures are emulation "
           "figures, so read the ratios, not the absolute values. How to read them: bench/README.md.",
           "",
           f"![Keel over Linux per pair, log scale, goals marked](docs/{CHART.name})",
           "",
           "| pair | Keel | Linux | unit | Keel / Linux (medians) | Keel / Linux (best runs) | goal |",
           "|---|---:|---:|---|---:|---:|---|"]
    for r in ratios:
        goal = ""
        if "goal_max" in r:
            goal = f"≤ {r['goal_max']}: {'met' if r.get('goal_met') == 'yes' else 'not met'}"
        elif "goal_min" in r:
            goal = f"≥ {r['goal_min']}: {'met' if r.get('goal_met') == 'yes' else 'not met'}"
        cmp = "" if r.get("comparable") != "no" else " ⚠ different accelerators"
        out.append(f"| {LABELS.get(r['name'], r['name'])}<br>`{r['keel_figure']}` / `{r['linux_figure']}`{cmp} "
                   f"| {r['keel']} | {r['linux']} | {r['unit']} | {r['keel_over_linux']} "
                   f"| {r.get('keel_over_linux_best', r.get('keel_over_linux_min', ''))} | {goal} |")

    # The goals that are not pairs.
    figs = {m.group(1): float(m.group(2)) for m in map(BENCH_RE.match, lines) if m}
    out += ["", "Goals that are Keel's alone:", ""]
    for goal in KEEL_GOALS:
        name, label, limit, unit = goal[:4]
        at_least = goal[4:] == (">=",)  # a floor (capacity); the rest are ceilings
        if name in figs:
            v = figs[name]
            met = v >= limit if at_least else v <= limit
            out.append(f"- {label}: `{name}` = {num(v)} {unit}, goal {'≥' if at_least else '≤'} {num(limit)}: "
                       f"{'met' if met else 'not met'}")
        else:
            out.append(f"- {label}: `{name}` not measured in this run")

    # Every figure, in the order printed, units of one name on one row.
    rows: list[tuple[str, list[str]]] = []
    for l in lines:
        m = BENCH_RE.match(l)
        if not m:
            continue
        name, val, unit = m.groups()
        if rows and rows[-1][0] == name:
            rows[-1][1].append(f"{val} {unit}")
        else:
            rows.append((name, [f"{val} {unit}"]))
    out += ["", "<details><summary>Every figure of the run</summary>", "",
            "| figure | value |", "|---|---|"]
    out += [f"| `{n}` | {' = '.join(v)} |" for n, v in rows]
    out += ["", "</details>", "", "Not measured yet (no figure is shown for them until they are):", ""]
    out += [f"- {t}" for t in NOT_YET]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description="Run make bench's benchmarks and write the results into README.md.")
    ap.add_argument("--readme", default=str(REPO / "README.md"))
    ap.add_argument("--from", dest="from_log", default="", help="format this saved run output instead of running")
    ap.add_argument("run_args", nargs="*", help="arguments for bench/run.py (after --)")
    ns = ap.parse_args()

    readme = Path(ns.readme)
    text0 = readme.read_text()
    if text0.count(START) != 1 or text0.count(END) != 1 or text0.index(START) > text0.index(END):
        print(f"bench-report: {readme} needs exactly one `{START}` line followed by one `{END}` line",
              file=sys.stderr)
        return 1

    if ns.from_log:
        text = Path(ns.from_log).read_text()
    else:
        rc, text = run_bench(ns.run_args)
        if rc != 0:
            print(f"bench-report: the benchmarks failed (status {rc}); {readme.name} left as it was",
                  file=sys.stderr)
            return 1
    if not any(l.startswith("RATIO ") for l in text.splitlines()):
        print(f"bench-report: the run printed no RATIO line; {readme.name} left as it was", file=sys.stderr)
        return 1

    head, rest = text0.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{tables(text)}\n{END}{tail}"
    readme.write_text(new)
    CHART.write_text(chart_svg([fields(l) for l in text.splitlines() if l.startswith("RATIO ")]))
    print(f"bench-report: results written to {readme} between the bench-report markers, chart to {CHART}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
