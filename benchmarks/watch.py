"""``tidscope watch`` under load: can it keep up with 20,000 thread births a
second (issue 13) without losing events?

The load is the raw-clone core: a generator process creates and joins raw
threads (``Children(k, program=(), park=False)``, batches every 5 ms) at a
paced rate, or as fast as it can (rate 0), and reports what it made and the
rate it achieved.  Each thread is one fork and one exit event.

Each run starts a watcher (its output to a file on /dev/shm, read after the
run, so that no reader of ours competes for the two cores), waits until it is
subscribed, lets the generator go, and then waits until the watcher has
drained its socket (the socket's Rmem in /proc/net/netlink is 0 and the
watcher sleeps in poll(2)).  Measured, never assumed:

- births and exits of the generator's threads in the output, against the
  number it made;
- lost events as the watcher reports them (its note on stderr), next to the
  kernel's own count of messages it dropped for that socket (Drops in
  /proc/net/netlink);
- the watcher's CPU time per event it printed, from its subscription to
  the end of the drain (/proc/PID/schedstat: start-up and exit excluded);
- the lag: how long after the generator's last thread the watcher was done.

A rate is kept up with when nothing was lost, every event was seen and the
lag is under LAG_LIMIT: a watcher that only buffers (the socket holds ~160,000
messages) would lose events on a longer run, and shows here as lag.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from benchmarks.timing import Row, row, tidscope_cmd

TARGET_RATE = 20000  # issue 13: thread births a second
LAG_LIMIT = 0.25  # seconds after the load stops in which the watcher must be done
RATES = (10000, 20000, 25000, 30000, 40000, 0)  # births/s, for the highest kept up; 0: unpaced
TIMEOUT = 120.0  # generous: for start-up and for draining

GENERATOR = r"""
import json, os, sys, time
from tidscope.core.clone import Children
rate, seconds = float(sys.argv[1]), float(sys.argv[2])
TICK, BATCH = 0.005, 200
print("ready", os.getpid(), flush=True)
sys.stdin.readline()
made = 0
cpu0 = os.times()
start = time.monotonic()
while True:
    now = time.monotonic() - start
    if now >= seconds:
        break
    k = min(int(rate * now) - made, BATCH) if rate else BATCH
    if k <= 0:
        time.sleep(TICK / 2)
        continue
    with Children(k, program=(), park=False) as kids:
        kids.join()
    made += k
end = time.monotonic()
cpu = os.times()
print(json.dumps({"pid": os.getpid(), "made": made, "seconds": end - start,
                  "cpu": cpu.user + cpu.system - cpu0.user - cpu0.system,
                  "end": end}), flush=True)
"""

# poll, ppoll, select, pselect6: what the watcher waits in when idle
SELECT = {"x86_64": ("7", "271", "23", "270"), "aarch64": ("73", "72")}
LOST = re.compile(r"(\d+) events were lost \((\d+) receive buffer overruns\)")


@dataclass
class Run:
    """One watcher against one load."""

    mode: str  # "json": --format json --pid GEN --threads-only; "table": whole machine
    rate: int  # asked for; 0: unpaced
    made: int  # threads the generator made
    achieved: float  # births a second
    gen_cpu: float  # generator's CPU seconds (its threads' included)
    births: int  # the generator's thread births in the output
    exits: int
    printed: int  # event lines in the output
    lost: int  # as the watcher reports it
    overruns: int
    dropped: int  # the kernel's Drops for the watcher's socket
    cpu: float  # the watcher's CPU seconds while subscribed
    lag: float  # seconds from the load's end to the watcher done

    @property
    def seen_all(self) -> bool:
        return self.births == self.exits == self.made

    @property
    def kept_up(self) -> bool:
        return self.seen_all and self.lost == self.dropped == 0 and self.lag < LAG_LIMIT

    def us_per_event(self) -> float:
        return self.cpu / max(1, self.printed) * 1e6


def generator(rate: int, seconds: float) -> subprocess.Popen[str]:
    """The load generator, started and waiting for a line on its stdin."""
    return subprocess.Popen(
        [sys.executable, "-c", GENERATOR, str(rate), str(seconds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def socket_inode(pid: int) -> int | None:
    """The inode of the watcher's netlink connector socket, once it has one."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    except OSError:
        return None
    for inode, (proto, _, _) in netlink().items():
        if inode in inodes and proto == 11:  # NETLINK_CONNECTOR
            return inode
    return None


def netlink() -> dict[int, tuple[int, int, int]]:
    """Every netlink socket by inode: (protocol, Rmem, Drops)."""
    out = {}
    with open("/proc/net/netlink") as f:
        head = f.readline().split()
        eth, rmem, drops, inode = (head.index(c) for c in ("Eth", "Rmem", "Drops", "Inode"))
        for line in f:
            cells = line.split()
            out[int(cells[inode])] = (int(cells[eth]), int(cells[rmem]), int(cells[drops]))
    return out


def waiting(pid: int) -> bool:
    """The process sleeps in poll(2) or select(2) (what the watcher does when idle)."""
    try:
        with open(f"/proc/{pid}/syscall") as f:
            return f.read().split()[0] in SELECT[platform.machine()]
    except (OSError, IndexError):
        return False


def until(what: str, check: Any, timeout: float = TIMEOUT) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise RuntimeError(f"benchmarks: watch: {what} within {timeout:g} s")
        time.sleep(0.005)


def on_cpu(pid: int) -> float | None:
    """Seconds the (one-threaded) process has run, None without schedstat."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def drained(pid: int, inode: int) -> bool:
    """Nothing queued on the socket and the watcher back in poll(2), twice."""
    for _ in range(2):
        if netlink().get(inode, (0, 1, 0))[1] != 0 or not waiting(pid):
            return False
        time.sleep(0.002)
    return True


def run(cmd: list[str], mode: str, rate: int, seconds: float, work: str) -> Run:
    """One watcher (``mode``) against one generator at ``rate``."""
    gen = generator(rate, seconds)
    assert gen.stdin is not None and gen.stdout is not None
    watcher: subprocess.Popen[bytes] | None = None
    try:
        ready = gen.stdout.readline().split()
        if ready[:1] != ["ready"]:
            raise RuntimeError("benchmarks: watch: the load generator did not start")
        pid = int(ready[1])
        if mode == "json":
            args = ["--format", "json", "--pid", str(pid), "--threads-only"]
        else:
            args = ["--format", "table"]
        out_path, err_path = os.path.join(work, "out"), os.path.join(work, "err")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            watcher = subprocess.Popen([*cmd, "watch", *args], stdout=out, stderr=err)
        inode: int | None = None

        def subscribed() -> bool:
            nonlocal inode
            assert watcher is not None
            if watcher.poll() is not None:
                raise RuntimeError(f"benchmarks: watch: the watcher exited: {_text(err_path)}")
            inode = inode or socket_inode(watcher.pid)
            return inode is not None and waiting(watcher.pid)

        until("the watcher subscribed", subscribed)
        assert inode is not None
        cpu0 = on_cpu(watcher.pid)
        gen.stdin.write("go\n")
        gen.stdin.flush()
        made = json.loads(gen.stdout.readline())
        until("the watcher drained its socket", lambda: drained(watcher.pid, inode))
        lag = time.monotonic() - made["end"]
        cpu1 = on_cpu(watcher.pid)
        dropped = netlink()[inode][2]
        watcher.send_signal(signal.SIGINT)
        _, status, usage = os.wait4(watcher.pid, 0)
        watcher.returncode = os.waitstatus_to_exitcode(status)
        whole = usage.ru_utime + usage.ru_stime  # start-up included
        cpu = whole if cpu0 is None or cpu1 is None else cpu1 - cpu0
        births, exits, printed = _count(out_path, mode, pid)
        lost = LOST.search(_text(err_path))
        return Run(
            mode,
            rate,
            made["made"],
            made["made"] / made["seconds"],
            made["cpu"],
            births,
            exits,
            printed,
            int(lost[1]) if lost else 0,
            int(lost[2]) if lost else 0,
            dropped,
            cpu,
            lag,
        )
    finally:
        for p in (gen, watcher):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(TIMEOUT)


def _text(path: str) -> str:
    with open(path, errors="replace") as f:
        return f.read().strip()


def _count(path: str, mode: str, pid: int) -> tuple[int, int, int]:
    """The generator's thread births and exits in the output, and all lines."""
    births = exits = printed = 0
    tgid = str(pid)
    with open(path) as f:
        for line in f:
            key: tuple[str, ...]
            if mode == "json":
                e = json.loads(line)
                key = (e["event"], e["kind"], str(e["tgid"]))
            else:
                key = tuple(line.split()[1:4])
            printed += 1
            if key == ("fork", "thread", tgid):
                births += 1
            elif key == ("exit", "thread", tgid):
                exits += 1
    return births, exits, printed - (mode == "table")  # the table's header


def ladder(
    cmd: list[str], mode: str, rates: tuple[int, ...], seconds: float, work: str
) -> list[Run]:
    """A run at each paced rate, ascending, up to the first one not kept up
    with at or above TARGET_RATE; then, if 0 is among ``rates``, one
    unpaced (its losses, if any, shown as the watcher reports them)."""
    runs = []
    for rate in sorted(r for r in rates if r):
        runs.append(run(cmd, mode, rate, seconds, work))
        if not runs[-1].kept_up and rate >= TARGET_RATE:
            break
    if 0 in rates:
        runs.append(run(cmd, mode, 0, seconds, work))
    return runs


def alone(seconds: float) -> dict[str, Any]:
    """The generator unpaced with no watcher of ours: what the load can be."""
    gen = generator(0, seconds)
    out, _ = gen.communicate("go\n", timeout=TIMEOUT + seconds)
    made: dict[str, Any] = json.loads(out.splitlines()[-1])
    return made


def bench_watch(seconds: float, rates: tuple[int, ...] = RATES) -> list[Row]:
    """Rows for the runner: each mode at TARGET_RATE, and the highest rate
    each kept up with."""

    cmd = tidscope_cmd()
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None  # memory: the output costs no disk
    work = tempfile.mkdtemp(prefix="tidscope-bench-", dir=shm)
    made = alone(seconds)
    rate = made["made"] / made["seconds"]
    rows = [
        row(
            f"load generator alone (raw clone, unpaced) for {seconds:g} s",
            f"{rate:.0f} births/s, {made['cpu']:.2f} s CPU",
            "(no watcher of ours)",
            rate / TARGET_RATE,
            "(reference)",
            None,
        )
    ]
    try:
        for mode, what in (
            ("json", "watch --format json --pid GEN --threads-only"),
            ("table", "watch (table, whole machine)"),
        ):
            runs = ladder(cmd, mode, rates, seconds, work)
            for r in runs:
                rows.append(_run_row(r, what, seconds))
            if len(rates) == 1:
                continue  # --quick: no ladder to sum up
            kept = [r.achieved for r in runs if r.kept_up]
            best = max(kept, default=0.0)
            rows.append(
                row(
                    f"{what}: highest rate kept up with ({seconds:g} s runs)",
                    f"{best:.0f} births/s",
                    "rates tried: " + ", ".join(_rate(r) for r in runs),
                    best / TARGET_RATE,
                    f">= {TARGET_RATE} births/s",
                    best >= TARGET_RATE * 0.99,
                )
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _rate(r: Run) -> str:
    asked = "unpaced" if r.rate == 0 else str(r.rate)
    return f"{asked}: {r.achieved:.0f} {'ok' if r.kept_up else 'not kept up'}"


def _run_row(r: Run, what: str, seconds: float) -> Row:
    asked = "unpaced" if r.rate == 0 else f"{r.rate}/s"
    target = r.rate == TARGET_RATE
    result: Row = row(
        f"{what}, load {asked} for {seconds:g} s",
        f"seen {r.births}+{r.exits} of {r.made}+{r.made}, lost {r.lost} (kernel drops"
        f" {r.dropped}), {r.us_per_event():.1f} us CPU/event, lag {r.lag:.3f} s",
        f"generator: {r.achieved:.0f} births/s, {r.gen_cpu:.2f} s CPU",
        (r.births + r.exits) / max(1, 2 * r.made),
        f"all seen, 0 lost, lag < {LAG_LIMIT:g} s" if target else "(reference)",
        r.kept_up if target else None,
    )
    return result
