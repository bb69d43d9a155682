#!/usr/bin/env python3
"""tools/tlsprof.py - tls_bulk alone, and a sampling profile of the guest
while it runs (issue 14: where does tlsd's time go under TCG?).

    python3 tools/tlsprof.py [--runs 3] [--bulk-mb 8] [--upload] [--profile] [--hz 200]

Boots the appliance as bench/tls.py does (its image, certificates, backend
and configuration), runs RUNS bulk GETs (ECDHE-ECDSA-AES128-GCM-SHA256,
TLS 1.2) and prints their MB/s (median, min, max).  With --profile, one
more bulk GET runs while a thread samples the guest through QEMU's
gdbstub (-gdb tcp:127.0.0.1:PORT): stop (0x03), read RIP ('p') and the
boot core's running thread and its task from the kernel's `cpus` ('m'),
continue ('c'), HZ times a second.  Every user program is linked at the
same address, so a RIP alone does not say which task ran: the samples are
grouped by task, and each group's user RIPs are looked up in every user
program's symbols; the program whose functions cover a group's RIPs best
names the group.  Kernel RIPs (the upper half) are looked up in the
kernel's ELF.  The profiled run's MB/s is printed too: sampling slows the
guest, so the throughput figures come from the unprofiled runs.

With --upload the direction is reversed: the backend is a TCP sink on the
host (it counts BULK_MB megabytes, then answers "OK" and closes) and the
client sends them through tlsd over TLS; the MB/s is from the client's
first byte to the sink's "OK".

Nothing here is part of `make bench`; it is a tool for looking.
"""

from __future__ import annotations

import argparse
import bisect
import collections
import importlib.util
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "qemu"))
import keelqemu as kq  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_tls", REPO / "bench" / "tls.py")
btls = importlib.util.module_from_spec(_spec)
sys.modules["bench_tls"] = btls
_spec.loader.exec_module(btls)
tcp = btls.tcp

KERNEL_HALF = 1 << 63


class Gdb:
    """The few packets of GDB's remote protocol a sampler needs."""

    def __init__(self, port: int) -> None:
        end = time.monotonic() + 30
        while True:
            try:
                self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.2)
        # one small packet at a time, each answered: no Nagle delay
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.ack = True
        # QEMU stops the guest when a debugger connects and may say so
        # unasked: drop whatever arrives before the first command.
        self.s.settimeout(0.5)
        try:
            while self.s.recv(65536):
                pass
        except OSError:
            pass
        self.s.settimeout(10)
        if self.cmd("QStartNoAckMode") == "OK":
            self.ack = False
        self.regnum = self._regnums()
        if "rip" not in self.regnum or "cr3" not in self.regnum:
            print(f"tlsprof: no rip/cr3 in the target description; QEMU's x86-64 numbers assumed", flush=True)
            self.regnum = {"rip": 16, "cr3": 32}
        self.cont()  # QEMU stopped the guest when we connected

    def _send(self, data: str) -> None:
        cs = sum(data.encode()) & 0xFF
        self.s.sendall(f"${data}#{cs:02x}".encode())

    def _packet(self) -> str:
        while True:
            i = self.buf.find(b"$")
            if i >= 0:
                j = self.buf.find(b"#", i)
                if j >= 0 and len(self.buf) >= j + 3:
                    data = self.buf[i + 1:j].decode("latin-1")
                    self.buf = self.buf[j + 3:]
                    if self.ack:
                        self.s.sendall(b"+")
                    return data
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("gdbstub closed")
            self.buf += chunk

    def cmd(self, data: str) -> str:
        self._send(data)
        return self._packet()

    def _xml(self, name: str) -> str:
        out, off = "", 0
        while True:
            r = self.cmd(f"qXfer:features:read:{name}:{off:x},4000")
            if not r or r[0] not in "lm":
                return out
            out += r[1:]
            off += len(r) - 1
            if r[0] == "l":
                return out

    def _regnums(self) -> dict[str, int]:
        """Register name -> number, from the target description (numbered in
        order of appearance unless a regnum says otherwise)."""
        nums: dict[str, int] = {}
        n = 0
        top = self._xml("target.xml")
        docs = [top] + [self._xml(h) for h in re.findall(r'href="([^"]+)"', top)]
        for d in docs:
            for m in re.finditer(r"<reg ([^>]*)>", d):
                a = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
                if "regnum" in a:
                    n = int(a["regnum"])
                nums[a["name"]] = n
                n += 1
        return nums

    def reg(self, name: str) -> int:
        r = self.cmd(f"p{self.regnum[name]:x}")
        return int.from_bytes(bytes.fromhex(r), "little")

    def mem64(self, addr: int) -> int:
        r = self.cmd(f"m{addr:x},8")
        return int.from_bytes(bytes.fromhex(r), "little") if len(r) == 16 else 0

    def stop(self) -> None:
        self.s.sendall(b"\x03")
        self._packet()  # the stop reply

    def cont(self) -> None:
        self._send("c")  # no reply until the next stop


class Symbols:
    def __init__(self, elf: Path) -> None:
        out = subprocess.run(["nm", "-n", "--defined-only", str(elf)], capture_output=True, text=True).stdout
        self.addrs: list[int] = []
        self.names: list[str] = []
        for line in out.splitlines():
            p = line.split()
            if len(p) == 3 and p[1] in "tTwW":
                self.addrs.append(int(p[0], 16))
                self.names.append(p[2])
        self.end = self._end(elf)

    @staticmethod
    def _end(elf: Path) -> int:
        out = subprocess.run(["size", "-A", str(elf)], capture_output=True, text=True).stdout
        m = re.search(r"^\.text\s+(\d+)\s+(\d+)", out, re.M)
        return int(m.group(1)) + int(m.group(2)) if m else 0

    def name(self, a: int) -> str | None:
        i = bisect.bisect_right(self.addrs, a) - 1
        if i < 0 or (self.end and a >= self.end):
            return None
        return self.names[i]


def kernel_layout(build: Path) -> tuple[int, int, int]:
    """(address of cpus[0].current, offset of struct thread's task, offset
    of struct task's name).  QEMU's gdbstub does not give CR3 here (it reads
    0), so the task is found the kernel's way: the boot core's running
    thread (struct percpu's `current`, offset 16, static-asserted in
    kernel/include/smp.h), its task, the task's name; the offsets from the
    kernel's DWARF through gdb."""
    elf = build / "kernel" / "keel.elf"
    out = subprocess.run(["nm", str(elf)], capture_output=True, text=True).stdout
    m = re.search(r"^([0-9a-f]+) [bBdD] cpus$", out, re.M)
    if not m:
        raise SystemExit(f"tlsprof: no `cpus` in {elf}")
    r = subprocess.run(["gdb", "-batch", "-ex", "print (int)&((struct thread *)0)->task", "-ex",
                        "print (int)&((struct task *)0)->name", str(elf)],
                       capture_output=True, text=True, timeout=120).stdout
    offs = [int(x) for x in re.findall(r"= (\d+)", r)]
    if len(offs) != 2:
        raise SystemExit(f"tlsprof: gdb did not give struct offsets from {elf}: {r!r}")
    return int(m.group(1), 16) + 16, offs[0], offs[1]


def sampler(g: Gdb, hz: float, stop: threading.Event, out: list, layout: tuple[int, int, int]) -> None:
    """Samples (rip, task name) of the boot core; "idle" for its idle
    thread (no task)."""
    period = 1.0 / hz
    cur, task_off, name_off = layout
    names: dict[int, str] = {}
    while not stop.is_set():
        t = time.monotonic()
        g.stop()
        rip = g.reg("rip")
        th = g.mem64(cur)
        task = g.mem64(th + task_off) if th else 0
        if task and task not in names:
            raw = bytes.fromhex(g.cmd(f"m{task + name_off:x},9") or "")
            names[task] = raw.split(b"\0")[0].decode("latin-1") or f"{task:#x}"
        out.append((rip, names[task] if task else "idle"))
        g.cont()
        time.sleep(max(0.0, period - (time.monotonic() - t)))


def keel_image(src: Path, out: Path, certs: Path, backend_port: int, build: Path) -> None:
    """bench/tls.py's image (keel_image), with the servers of BUILD/user."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(src, out)
    manifest = out / "manifest"
    manifest.write_text((REPO / "image" / "manifest").read_text().replace("key=edge1.key", "key=ec.key,key=rsa.key"))
    elfs = sorted(str(p) for p in (build / "user").glob("*.elf") if p.name != "init.elf")
    subprocess.run([str(REPO / "tools" / "mkcpio.sh"), str(out / "servers.cpio"), str(manifest), *elfs], check=True)
    manifest.unlink()
    (certs / "appliance.conf").write_text(btls.CONF.format(port=backend_port))
    subprocess.run([str(REPO / "tools" / "mksite.sh"), str(out / "site.cpio"), str(certs / "appliance.conf"),
                    str(kq.BUILD / "tools" / "conf-check")], check=True, capture_output=True)


def report(samples: list, top: int, build: Path) -> None:
    """Per task (by the name the kernel gives it), its share and its top
    functions; user RIPs looked up in the ELF of the program of that name
    (the manifest's server name is the ELF's stem), kernel RIPs in the
    kernel's."""
    kern = Symbols(build / "kernel" / "keel.elf")
    progs = {p.stem: p for p in sorted((build / "user").glob("*.elf"))}
    syms: dict[str, Symbols] = {}
    n = len(samples)
    print(f"PROFILE samples={n}")
    by_task: dict[str, list[int]] = collections.defaultdict(list)
    for rip, name in samples:
        by_task[name].append(rip)
    for name, rips in sorted(by_task.items(), key=lambda kv: -len(kv[1])):
        user = [r for r in rips if r < KERNEL_HALF]
        # a task is named by its manifest line: a server by its program, a
        # NIC driver by its interface (ethN: virtio-net in the bench's VM)
        stem = "virtio-net" if re.fullmatch(r"eth\d+", name) else name
        prog = next((p for s, p in progs.items() if s[:8] == stem[:8]), None)
        if prog and name not in syms:
            syms[name] = Symbols(prog)
        print(f"PROFILE task={name} samples={len(rips)} ({100.0 * len(rips) / n:.1f}%) user={len(user)} "
              f"kernel={len(rips) - len(user)} elf={prog.name if prog else '?'}")
        fn: collections.Counter = collections.Counter()
        for r in rips:
            if r >= KERNEL_HALF:
                fn["[k] " + (kern.name(r) or f"?{r:#x}")] += 1
            else:
                fn[(syms[name].name(r) if name in syms else None) or f"?{r:#x}"] += 1
        for f, c in fn.most_common(top):
            print(f"PROFILE   {100.0 * c / n:5.1f}% of all {100.0 * c / len(rips):5.1f}% of task  {f}")


class Sink:
    """A TCP sink on 127.0.0.1 (the guest's 10.0.2.2): each connection
    reads NBYTES, answers b"OK\\n" and closes."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(c,), daemon=True).start()

    def _one(self, c: socket.socket) -> None:
        got = 0
        with c:
            while got < self.nbytes:
                b = c.recv(1 << 16)
                if not b:
                    return
                got += len(b)
            c.sendall(b"OK\n")

    def close(self) -> None:
        self.ls.close()


def upload(port: int, nbytes: int) -> float:
    """Sends NBYTES over TLS 1.2 (bench/tls.py's ECDSA cipher) through the
    listener at 127.0.0.1:PORT to the sink; MB/s until the sink's OK."""
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(btls.CIPHER["ecdsa_p256"])
    with socket.create_connection(("127.0.0.1", port), timeout=120) as raw:
        with ctx.wrap_socket(raw) as t:
            block = bytes(range(256)) * 64  # 16 KiB: one record
            t0 = time.monotonic()
            left = nbytes
            while left:
                n = min(left, len(block))
                t.sendall(block[:n])
                left -= n
            reply = t.recv(16)
            dt = time.monotonic() - t0
    if reply != b"OK\n":
        raise SystemExit(f"tlsprof: upload: the sink answered {reply!r}")
    return nbytes / dt / 1e6


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image-dir", default=str(kq.DEFAULT_IMAGE_DIR))
    ap.add_argument("--build-dir", default=str(kq.BUILD),
                    help="where user/*.elf and kernel/keel.elf are (a saved build, to compare)")
    ap.add_argument("--accel", default="auto")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bulk-mb", type=int, default=8)
    ap.add_argument("--upload", action="store_true", help="client -> backend instead of backend -> client")
    ap.add_argument("--handshakes", choices=("full", "resume"), default="",
                    help="TLS 1.2 handshakes in sequence (bench/tls.py's, 5 s or 250) instead of bulk")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--hz", type=float, default=200)
    ap.add_argument("--top", type=int, default=25)
    ns = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="tlsprof-", dir=kq.BUILD))
    certs = work / "site"
    btls.make_certs(certs)
    backend = Sink(ns.bulk_mb * 1000 * 1000) if ns.upload else btls.Backend(work, ns.bulk_mb * 1000 * 1000)
    gport = tcp.free_port()
    g = None
    try:
        img = work / "tftp"
        keel_image(Path(ns.image_dir), img, certs, backend.port, Path(ns.build_dir))
        ports = {k: tcp.free_port() for k in btls.GUEST_PORT}
        fwd = ",".join(f"tcp:127.0.0.1:{ports[k]}-:{btls.GUEST_PORT[k]}" for k in btls.GUEST_PORT)
        cfg = kq.Config(boot="direct", accel=ns.accel, mem=256, fwd=fwd,
                        serial=f"file:{kq.LOG_DIR / 'tlsprof.log'}",
                        qemu_extra=f"-device virtio-rng-pci -gdb tcp:127.0.0.1:{gport}", image_dir=img)
        plan = kq.build_command(cfg)
        g = tcp.Guest("tlsprof", plan.cmd)
        if not (btls.keel_serving(g, 300) and (ns.upload or btls.serves_get(ports))):
            print(f"tlsprof: tlsd did not serve; log {kq.rel(g.log)}")
            return 1

        def bulk() -> float:
            if ns.handshakes:
                r = btls.client(ns.handshakes, "127.0.0.1", ports["ecdsa_p256"], btls.CIPHER["ecdsa_p256"], 5,
                                most=btls.MAX_HANDSHAKES)
                if not r.get("ok"):
                    raise SystemExit(f"tlsprof: handshakes failed: {r}")
                return float(r["per_s"])
            if ns.upload:
                return upload(ports["ecdsa_p256"], ns.bulk_mb * 1000 * 1000)
            r = btls.client("bulk", "127.0.0.1", ports["ecdsa_p256"], btls.CIPHER["ecdsa_p256"], btls.BULK)
            if not r.get("ok"):
                raise SystemExit(f"tlsprof: bulk GET failed: {r}")
            return float(r["mb_per_s"])

        got = [bulk() for _ in range(ns.runs)]
        if got:
            print(f"BULK accel={plan.accel} runs={len(got)} median_mb_s={statistics.median(got):.2f} "
                  f"min={min(got):.2f} max={max(got):.2f} all={' '.join(f'{x:.2f}' for x in got)}", flush=True)
        if ns.profile:
            layout = kernel_layout(Path(ns.build_dir))
            gdb = Gdb(gport)
            samples: list = []
            stop = threading.Event()
            t = threading.Thread(target=sampler, args=(gdb, ns.hz, stop, samples, layout), daemon=True)
            t.start()
            try:
                mb = bulk()
            finally:
                stop.set()
                t.join()
            print(f"BULK profiled_mb_s={mb:.2f} (slowed by sampling)")
            report(samples, ns.top, Path(ns.build_dir))
    finally:
        if g:
            g.close()
        backend.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
