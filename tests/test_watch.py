"""``tidscope watch`` on the real kernel: births and exits as the
process-events connector reports them, classified from the events' own ids.

A watcher is ready once its header is out (it is printed after the
subscription); every wait is a generous timeout, never a timing assertion,
except that one of twenty raw threads that exit at once lives under 1 ms.
"""

from __future__ import annotations

import csv
import json
import re
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import pytest
from helpers import as_uid, read_rest, readline, run, tidscope, unused_uid

from benchmarks.watch import until, waiting
from tidscope.proc.root import outside_initial

SECCOMP = str(Path(__file__).with_name("seccomp.py"))
COLUMNS = ["time", "event", "kind", "tgid", "tid", "parent", "detail", "name"]
RAW_THREADS = """
import json, os, sys
from tidscope.core import clone
sys.stdin.readline()
tids = []
for _ in range({n}):
    with clone.Children(1, park=False) as kids:
        kids.join()
        tids += kids.tids
print(json.dumps({{"pid": os.getpid(), "tids": tids}}), flush=True)
sys.stdin.read()  # held until the watch is over: its leader's exit is none of the test's
"""


class Watcher:
    """A running ``tidscope watch --format csv ARGS``, subscribed."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.rows: list[dict[str, str]] = []
        self.stderr = ""

    def read_until(self, done: Callable[[list[dict[str, str]]], bool], timeout: float = 60) -> None:
        """Take the watcher's rows as they come until ``done(rows)``: the
        events a test waits for are printed (the machine may go on making
        others, so an idle watcher is no sign).  Past ``timeout`` seconds
        without a row, fail with the last rows seen."""
        assert self.proc.stdout is not None
        while not done(self.rows):
            line = readline(self.proc.stdout, timeout=timeout, proc=self.proc, seen=self.rows[-20:])
            assert line.strip(), f"the watch ended first: {self.proc.communicate(timeout=60)}"
            (cells,) = csv.reader([line])
            assert len(cells) == len(COLUMNS), line
            self.rows.append(dict(zip(COLUMNS, cells, strict=True)))

    def finish(self, signo: int | None = None) -> int:
        """Signal the watcher and collect the rest of its rows."""
        if signo is not None:
            self.proc.send_signal(signo)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        out = read_rest(self.proc.stdout, proc=self.proc)
        self.proc.wait(timeout=120)
        self.stderr = read_rest(self.proc.stderr, proc=self.proc)
        rest = ("\n" + out).split("\n\n", 1)[0]  # the rows, not the summary
        lines = [line for line in rest.splitlines() if line]
        self.rows += [dict(zip(COLUMNS, r, strict=True)) for r in csv.reader(lines)]
        return self.proc.returncode


def _exited(tids: set[str]) -> Callable[[list[dict[str, str]]], bool]:
    """Whether every one of ``tids`` has its exit row."""
    return lambda rows: tids <= {r["tid"] for r in rows if r["event"] == "exit"}


@contextmanager
def watching(*args: str) -> Iterator[Watcher]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidscope", "watch", "--format", "csv", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        header = readline(proc.stdout, proc=proc, seen="no header")
        assert header == ",".join(COLUMNS) + "\n", proc.communicate(timeout=60)
        yield Watcher(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)


def _spawn(*args: str) -> list[dict[str, Any]]:
    proc = tidscope("spawn", *args, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows: list[dict[str, Any]] = json.loads(proc.stdout)
    return rows


@contextmanager
def held_threads(n: int, *prefix: str) -> Iterator[int]:
    """``tidscope spawn -n N --hold``: N raw threads alive until the block
    ends (a SIGTERM ends the hold), so that a watch that polls sees them
    however long its scans take.  The block gets the spawner's pid."""
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-m", "tidscope", "spawn", "-n", str(n), "--hold"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        # the threads are held (and their rows printed) once it says so
        held = readline(proc.stderr, timeout=120, proc=proc, seen="spawn's holding note")
        assert held.startswith("tidscope: holding "), held
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert out.count(f"child thread, pid: {proc.pid}, tid: ") == n, out


def _counted(tgid: int, event: str, n: int) -> Callable[[list[dict[str, str]]], bool]:
    """Whether ``n`` thread rows of ``event`` in group ``tgid`` are in."""
    return lambda rows: len(_of(rows, tgid, event, "thread")) >= n


def _of(rows: list[dict[str, str]], tgid: int, event: str, kind: str) -> list[dict[str, str]]:
    return [r for r in rows if r["tgid"] == str(tgid) and r["event"] == event and r["kind"] == kind]


@pytest.mark.net_admin
def test_spawn_n_5_is_five_thread_births_and_five_exits_then_sigint() -> None:
    with watching("--duration", "600", "--summary") as w:
        spawned = _spawn("-n", "5")
        w.read_until(_exited({str(r["tid"]) for r in spawned}))
        code = w.finish(signal.SIGINT)
    assert code == 128 + signal.SIGINT, w.stderr
    parent = next(r for r in spawned if r["role"] == "parent")
    tids = {str(r["tid"]) for r in spawned if r["role"] == "child"}
    births = _of(w.rows, parent["pid"], "fork", "thread")
    exits = _of(w.rows, parent["pid"], "exit", "thread")
    assert {r["tid"] for r in births} == {r["tid"] for r in exits} == tids
    assert len(births) == len(exits) == 5
    assert all(r["detail"] == "status 0" for r in exits)
    assert w.stderr == ""


@pytest.mark.net_admin
def test_summary_counts_threads_per_group() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidscope", "watch", "--summary", "--duration", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert readline(proc.stdout, proc=proc).split() == [c.upper() for c in COLUMNS]
    spawned = _spawn("-n", "3")
    pid = str(spawned[0]["pid"])
    seen: list[list[str]] = []
    while (line := readline(proc.stdout, proc=proc, seen=seen[-20:]).split())[1:5:3] != [
        "exit",
        pid,
    ]:
        assert line, "the watch ended before the spawner's exit"
        seen.append(line)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    summary = ("\n" + out).split("\n\n", 1)[1].splitlines()  # after the rows left
    head = ["TGID", "THREADS_CREATED", "THREADS_EXITED", "SHORTEST_LIFE", "MEDIAN_LIFE", "NAME"]
    assert summary[0].split() == head
    (row,) = [line.split() for line in summary[1:] if line.split()[0] == pid]
    assert row[1:3] == ["3", "3"]
    for life in row[3:5]:  # measured: each of the 3 was seen born and ended
        assert re.fullmatch(r"[0-9.]+(ns|us|ms|s)", life), row


@pytest.mark.net_admin
def test_process_births_are_processes() -> None:
    with watching("--duration", "600", "--processes-only") as w:
        spawned = _spawn("-n", "3", "--flags", "process")
        w.read_until(_exited({str(r["tid"]) for r in spawned}))
        code = w.finish(signal.SIGINT)
    assert code == 130, w.stderr
    parent = next(r for r in spawned if r["role"] == "parent")
    kids = {str(r["tid"]) for r in spawned if r["role"] == "child"}
    births = [r for r in w.rows if r["event"] == "fork" and r["tid"] in kids]
    assert len(births) == 3
    for r in births:
        assert (r["kind"], r["tgid"], r["parent"]) == ("process", r["tid"], str(parent["pid"]))
    exits = [r for r in w.rows if r["event"] == "exit" and r["tid"] in kids]
    assert len(exits) == 3 and {r["kind"] for r in exits} == {"process"}
    assert {r["kind"] for r in w.rows} == {"process"}  # --processes-only


@pytest.mark.net_admin
def test_threads_that_live_under_a_millisecond_are_threads() -> None:
    """--pid and --count end the watch by themselves: 20 births, 20 exits."""
    n = 20
    holder = subprocess.Popen(
        [sys.executable, "-c", RAW_THREADS.format(n=n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    proc: subprocess.Popen[str] | None = None
    try:
        args = ("--pid", str(holder.pid), "--threads-only", "--count", str(2 * n))
        proc = subprocess.Popen(
            [sys.executable, "-m", "tidscope", "watch", "--format", "json", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        # subscribed once it waits in poll(2) (its JSON has no header)
        until("the watcher subscribed", lambda: waiting(proc.pid))
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()
        made = readline(holder.stdout, timeout=120, proc=holder, seen="the holder's tids")
        # the watch ends by --count while the holder lives: the connector sends
        # each CPU's events in order, not the CPUs' in one order, so a leader
        # leaving at once could be seen before its last thread's exit
        out, err = proc.communicate(timeout=120)
        holder.stdin.close()
        holder.wait(timeout=60)
    finally:
        for p in (holder, proc):
            if p is not None and p.poll() is None:
                p.kill()
                p.communicate(timeout=60)
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 2 * n
    info = json.loads(made)
    assert {e["tgid"] for e in events} == {info["pid"]}
    assert {e["kind"] for e in events} == {"thread"}
    born = {e["tid"]: e["monotonic_ns"] for e in events if e["event"] == "fork"}
    died = {e["tid"]: e["monotonic_ns"] for e in events if e["event"] == "exit"}
    assert set(born) == set(died) == set(info["tids"])
    # each exit after its birth, however short the life (a millisecond or
    # less on a quiet machine; how short is the machine's, not the test's)
    lives = sorted(died[t] - born[t] for t in born)
    assert lives[0] > 0, lives


@pytest.mark.parametrize(
    "user", [False, pytest.param(True, marks=pytest.mark.root)], ids=["root", "unprivileged"]
)
def test_refused_subscription_falls_back_to_polling_and_says_so_first(user: bool) -> None:
    """The kernel's EPERM on bind (what kernels before the unprivileged
    connector say without CAP_NET_ADMIN), provoked with seccomp: the watch
    goes on by polling /proc, and its first line says why and that it is
    lossy.  Threads held until the watch has seen them born are seen, as
    threads, by root and by a uid of its own."""
    prefix = as_uid(unused_uid()) if user else []
    cmd = [*prefix, sys.executable, SECCOMP, "--deny", "bind", "--errno", "EPERM", "--"]
    proc = subprocess.Popen(
        [*cmd, "watch", "--format", "csv", "--duration", "120", "--threads-only"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = readline(proc.stderr, proc=proc, seen="no note")
        assert readline(proc.stdout, proc=proc) == ",".join(COLUMNS) + "\n"
        w = Watcher(proc)
        with held_threads(3) as pid:
            w.read_until(_counted(pid, "fork", 3))
        w.read_until(_counted(pid, "exit", 3))  # the next scans' lines
        code = w.finish(signal.SIGINT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
    assert first.startswith("tidscope watch: note: ")
    if outside_initial() is None:
        assert "CAP_NET_ADMIN" in first, first
    else:  # not asked there: it reports to the initial namespaces only (test_pidns.py)
        assert "reports to the initial pid and user namespaces only" in first, first
    assert "lossy" in first and "polling /proc every 0.1 s" in first
    assert code == 130, w.stderr
    births = {r["tid"] for r in _of(w.rows, pid, "fork", "thread")}
    exits = _of(w.rows, pid, "exit", "thread")
    assert len(births) == 3 and {r["tid"] for r in exits} == births
    assert {r["detail"] for r in exits} == {""}  # CSV: no value is an empty field


@pytest.mark.root
def test_unprivileged() -> None:
    """Without CAP_NET_ADMIN a kernel answers in one of two ways, and the
    watch's first line says which: one that lets any user listen reports
    every event, ours included, and there is no note; one that refuses
    (EPERM: most kernels) makes the watch poll /proc, and the note on stderr
    comes before the header.  Either way the threads of a spawn are seen:
    ones that live microseconds when the connector reports them, held ones
    when it polls."""
    prefix = as_uid(unused_uid())
    cmd = [*prefix, sys.executable, "-m", "tidscope", "watch", "--format", "csv"]
    proc = subprocess.Popen(
        [*cmd, "--duration", "600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        header = readline(proc.stdout, proc=proc, seen="no header")
        assert header == ",".join(COLUMNS) + "\n", proc.communicate(timeout=60)
        w = Watcher(proc)
        if _note(proc.stderr):
            with held_threads(5) as pid:
                w.read_until(_counted(pid, "fork", 5))
        else:
            pid = _spawn("-n", "5")[0]["pid"]
        w.read_until(_counted(pid, "exit", 5))
        assert w.finish(signal.SIGINT) == 130, w.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
    births, exits = _of(w.rows, pid, "fork", "thread"), _of(w.rows, pid, "exit", "thread")
    group = "\n".join(",".join(r.values()) for r in w.rows if r["tgid"] == str(pid))  # if not
    assert len(births) == len(exits) == 5, group
    assert {r["tid"] for r in births} == {r["tid"] for r in exits}, group


def _note(stderr: IO[str]) -> str:
    """The watch's note, once its header is out (the note is printed before
    it), or "" if it printed none: stderr has not been read, so select(2)
    on the descriptor tells whether a line waits."""
    if not select.select([stderr], [], [], 0)[0]:
        return ""
    note = stderr.readline()
    assert note.startswith("tidscope watch: note: ") and "polling /proc" in note, note
    return note


RENAME_SETSID_SETUID = """
import ctypes, json, os, sys
sys.stdin.readline()
ctypes.CDLL(None).prctl(15, b"renamed-xyz", 0, 0, 0)  # PR_SET_NAME
child = os.fork()
if child == 0:
    os.setsid()
    os.setgid(65534)
    os.setuid(65534)
    os._exit(3)
os.waitpid(child, 0)
print(json.dumps({"pid": os.getpid(), "child": child}))
"""


@pytest.mark.net_admin
def test_renames_sessions_ids_and_ptrace_attaches_are_events() -> None:
    """comm, sid, gid, uid and ptrace events, each with the kernel's ids:
    a process renames itself, its child makes a session and drops to
    65534 and exits 3; a traced command is attached by its tracer."""
    with watching("--duration", "600") as w:
        proc = subprocess.Popen(
            [sys.executable, "-c", RENAME_SETSID_SETUID],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        made = json.loads(proc.communicate("go\n", timeout=120)[0])
        traced = tidscope("watch", "--format", "json", "--run", "exec sleep 0")
        assert traced.returncode == 0, traced.stderr
        sleep = json.loads(traced.stdout.splitlines()[0])["tgid"]  # sh, exec'd into sleep
        w.read_until(_exited({str(made["pid"]), str(made["child"]), str(sleep)}))
        code = w.finish(signal.SIGINT)
    assert code == 130, w.stderr
    pid, child = str(made["pid"]), str(made["child"])
    (comm,) = [r for r in w.rows if r["event"] == "comm" and r["tid"] == pid]
    assert comm["name"] == "renamed-xyz"
    mine = [(r["event"], r["detail"]) for r in w.rows if r["tid"] == child]
    assert mine[0] == ("fork", "") and mine[-1] == ("exit", "status 3")  # "": no detail
    assert ("sid", "") in mine
    assert ("gid", "gid 65534/65534") in mine and ("uid", "uid 65534/65534") in mine
    attach = [r for r in w.rows if r["event"] == "ptrace" and r["tid"] == str(sleep)]
    assert attach and attach[0]["parent"] != "0"  # the tracer: a tidscope watch


CHURN = """
import sys
from tidscope.watch.connector import Connector
for _ in range(int(sys.argv[1])):
    with Connector():
        pass
"""


@pytest.mark.net_admin
def test_other_listeners_coming_and_going_lose_nothing() -> None:
    """The kernel acknowledges every listener's subscribing and leaving to
    all listeners, numbered among the events of the CPU it ran on: 200 other
    connector sockets opened and closed while a watch runs are no lost
    events (they were 400, said as lost, before the acknowledgements were
    counted)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidscope", "watch", "--format", "json", "--summary",
         "--duration", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        until("the watcher subscribed", lambda: waiting(proc.pid))
        churn = run([sys.executable, "-c", CHURN, "200"], timeout=120)
        assert churn.returncode == 0, churn.stderr
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    (summary,) = [d for d in map(json.loads, out.splitlines()) if "summary" in d]
    assert (summary["lost"], summary["overruns"]) == (0, 0), summary
    assert "lost" not in err, err
