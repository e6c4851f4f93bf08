"""``tidscope top``: interval figures against an independent truth, the
threads born, dead and reborn inside an interval, batch frames, selections
and pools.  The live view is tested in a real terminal in test_top_live.py.

The workload (tests/duty.c) is raw pthreads with known duty cycles: 100 %,
50 %, 10 % and idle.  On a busy machine a thread gets less than its duty
cycle asks for, so the truth each figure is held to is not the duty cycle:
it is what the kernel counted the thread running over the same interval,
its ``schedstat`` run time in nanoseconds (a file tidscope reads only to
tell whether a thread ran, never for its figures, which come from
``stat``'s clock ticks), read right after each of tidscope's own reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import as_uid, readline, tidscope, unused_uid, wait_for

from tidscope.top import interval
from tidscope.top.sample import Sampler
from tidscope.top.select import Selection

HERE = Path(__file__).resolve().parent
MARGIN = 3.0  # percentage points: two readings of stat's clock ticks, each cut to a tick
DUTIES = {"duty100": 100, "duty50": 50, "duty10": 10, "idle": 0}


@pytest.fixture(scope="module")
def duty(tmp_path_factory: pytest.TempPathFactory) -> str:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build tests/duty.c")
    exe = str(tmp_path_factory.mktemp("duty") / "duty")
    subprocess.run(
        [cc, "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-o", exe, str(HERE / "duty.c")],
        check=True,
        timeout=120,
    )
    return exe


class Workload:
    """A running tests/duty.c: its pid, its threads by name, and its commands."""

    def __init__(self, proc: subprocess.Popen[str], info: dict[str, Any]) -> None:
        self.proc = proc
        self.pid: int = info["pid"]
        self.tids: dict[str, int] = info["tids"]

    def ask(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer: dict[str, Any] = json.loads(
            readline(self.proc.stdout, timeout=30, proc=self.proc, seen=line)
        )
        return answer


@contextlib.contextmanager
def workload(exe: str, prefix: tuple[str, ...] = (), *args: str) -> Iterator[Workload]:
    proc = subprocess.Popen(
        [*prefix, exe, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        line = readline(proc.stdout, timeout=60, proc=proc, seen="the workload's first line")
        yield Workload(proc, json.loads(line))
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)


def run_ns(pid: int, tid: int) -> int:
    """The truth: nanoseconds the thread has run, as the scheduler counts them."""
    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
        return int(f.read().split()[0])


def truths(pid: int, tids: dict[str, int]) -> tuple[float, dict[str, int]]:
    return time.clock_gettime(time.CLOCK_BOOTTIME), {n: run_ns(pid, t) for n, t in tids.items()}


def by_tid(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {r["tid"]: r for r in rows}


Truth = tuple[float, dict[str, int]]


def interval_of(
    sampler: Sampler, delay: float, watch: tuple[int, dict[str, int]] | None = None
) -> tuple[list[dict[str, Any]], Truth | None, Truth | None]:
    """Two readings ``delay`` apart, with the truth read right after each."""
    before = sampler.read()
    began = sampler.began
    first = truths(*watch) if watch else None
    time.sleep(delay)
    after = sampler.read()
    second = truths(*watch) if watch else None
    return interval.rows(before, after, began), first, second


# -- the figures against the truth ------------------------------------------------------


def test_duty_cycles_match_the_threads_own_run_time(duty: str) -> None:
    """Each thread's %CPU over 1 s is within MARGIN points of the CPU time
    the scheduler counted it over the same second, however busy the
    machine; the duty cycles themselves are checked only to be apart."""
    with workload(duty) as w:
        watched = {n: w.tids[n] for n in DUTIES}
        sampler = Sampler(Selection(pids=frozenset({w.pid})), "/proc")
        rows, first, second = interval_of(sampler, 1.0, (w.pid, watched))
        assert first is not None and second is not None
        span = second[0] - first[0]
        got = by_tid(rows)
        seen = {}
        for name, tid in watched.items():
            truth = (second[1][name] - first[1][name]) / 1e9 / span * 100
            row = got[tid]
            seen[name] = (row["pcpu"], round(truth, 1))
            assert abs(row["pcpu"] - truth) <= MARGIN, (name, row, truth)
            assert row["pcpu"] == pytest.approx(row["usr"] + row["sys"], abs=0.15)
        assert seen["idle"][0] == 0.0, seen
        # the truth itself: a spinning thread ran, an idle one did not
        assert seen["duty100"][1] > seen["idle"][1], seen


def test_rates_of_switches_and_faults(duty: str) -> None:
    """A thread that sleeps every 10 ms blocks about 100 times a second:
    its voluntary switches are counted (status), the idle thread's are 0,
    and every figure is a number (sched is readable here as root)."""
    with workload(duty) as w:
        sampler = Sampler(Selection(pids=frozenset({w.pid})), "/proc")
        rows, _, _ = interval_of(sampler, 1.0)
        got = by_tid(rows)
        assert got[w.tids["duty50"]]["vcsw"] > 10, got[w.tids["duty50"]]
        assert got[w.tids["idle"]]["vcsw"] == 0.0
        idle = got[w.tids["idle"]]
        assert (idle["wchan"], idle["s"]) != (None, "R"), idle
        for row in got.values():
            for key in ("vcsw", "ivcsw", "minflt", "majflt"):
                assert isinstance(row[key], float), (key, row)
            if os.geteuid() == 0:
                assert isinstance(row["migr"], float), row
            assert row["cpu"] is not None and row["pol"] == "TS" and row["ni"] == 0


PIDSTAT_LINE = 10  # fields of a pidstat -t thread line: time UID TGID TID %usr %system ...


def _pidstat(out: str) -> dict[int, float]:
    """%CPU by TID from ``pidstat -t``'s first report (LC_ALL=C)."""
    found: dict[int, float] = {}
    header: list[str] | None = None
    for line in out.splitlines():
        words = line.split()
        if "TID" in words and "%CPU" in words:
            header = words
            continue
        if header is None or len(words) != len(header) or words[0] == "Average:":
            continue
        row = dict(zip(header, words, strict=True))
        if row["TID"].isdigit():
            found.setdefault(int(row["TID"]), float(row["%CPU"]))
    return found


def test_agrees_with_pidstat_over_the_same_interval(duty: str) -> None:
    """pidstat -t -p PID 1 1 and tidscope's reading, started together: both
    agree within MARGIN points, plus the time by which the two intervals
    can differ (measured: pidstat's whole run, start to exit, less its one
    second, and never more than that), which is a point or two here."""
    if shutil.which("pidstat") is None:
        pytest.skip("pidstat (the sysstat package) is not installed")
    with workload(duty) as w:
        watched = {n: w.tids[n] for n in DUTIES}
        sampler = Sampler(Selection(pids=frozenset({w.pid})), "/proc")
        start = time.monotonic()
        pidstat = subprocess.Popen(
            ["pidstat", "-t", "-p", str(w.pid), "1", "1"],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "LC_ALL": "C", "S_COLORS": "never"},
        )
        try:
            rows, _, _ = interval_of(sampler, 1.0)
            out, _ = pidstat.communicate(timeout=60)
        finally:
            if pidstat.poll() is None:
                pidstat.kill()
                pidstat.wait(30)
        slack = time.monotonic() - start - 1.0
        assert pidstat.returncode == 0, out
        theirs = _pidstat(out)
        ours = by_tid(rows)
        for name, tid in watched.items():
            assert abs(ours[tid]["pcpu"] - theirs[tid]) <= MARGIN + 100 * slack, (
                name,
                ours[tid]["pcpu"],
                theirs[tid],
                f"slack {slack:.3f} s",
                out,
            )


# -- born, dead and reborn inside an interval -------------------------------------------


def test_a_thread_born_inside_the_interval_counts_from_its_start(duty: str) -> None:
    """Its figures are over the time since it started, not the whole
    interval: a thread that spun all of its 0.5 s shows what it ran over
    those 0.5 s (its truth), not a third of it over the 1.5 s interval.
    (The workload's own duty threads are quiet: the newborn competes with
    the machine alone.)"""
    with workload(duty, (), "quiet") as w:
        sampler = Sampler(Selection(pids=frozenset({w.pid})), "/proc")
        before = sampler.read()
        began = sampler.began
        time.sleep(1.0)
        tid = w.ask("birth late")["tid"]
        time.sleep(0.5)
        after = sampler.read()
        ran = run_ns(w.pid, tid) / 1e9
        reading = next(r for r in after.values() if r.tid == tid)
        life = reading.when - reading.started
        row = by_tid(interval.rows(before, after, began))[tid]
        # the start time is cut to a clock tick: the life may be one tick long
        assert abs(row["pcpu"] - ran / life * 100) <= MARGIN + 100 * 0.01 / life, (row, ran, life)
        whole = ran / (reading.when - before[next(iter(before))].when) * 100
        assert row["pcpu"] > whole + MARGIN, (row, ran, life, whole)


def test_a_thread_that_died_inside_the_interval_is_left_out(duty: str) -> None:
    with workload(duty, (), "quiet") as w:
        tid = w.ask("birth doomed")["tid"]
        sampler = Sampler(Selection(pids=frozenset({w.pid})), "/proc")
        before = sampler.read()
        began = sampler.began
        assert any(r.tid == tid for r in before.values())
        assert w.ask("death doomed") == {"gone": tid}
        after = sampler.read()
        rows = interval.rows(before, after, began)
        assert tid not in by_tid(rows)
        assert w.tids["duty100"] in by_tid(rows)


REUSE = r"""
import json, os, sys, threading, time
sys.path[:0] = json.loads(sys.argv[1])
from tidscope.top import interval
from tidscope.top.sample import Sampler
from tidscope.top.select import Selection

def idle(stop):
    stop.wait()

def spin(stop, done, hold):
    while not stop.is_set():
        pass
    done.set()  # no longer running: its run time stands still while both are read
    hold.wait()

stop = threading.Event()
old = threading.Thread(target=idle, args=(stop,), name="reused")
old.start()
tid = old.native_id
sampler = Sampler(Selection(pids=frozenset({os.getpid()})), "/proc")
before = sampler.read()
began = sampler.began
time.sleep(0.5)
stop.set()
old.join()
time.sleep(0.1)
with open("/proc/sys/kernel/ns_last_pid", "w") as f:  # this namespace's own
    f.write(str(tid - 1))
stop, done, hold = threading.Event(), threading.Event(), threading.Event()
new = threading.Thread(target=spin, args=(stop, done, hold), name="reused")
new.start()
time.sleep(0.4)
stop.set()
done.wait()
after = sampler.read()
with open(f"/proc/self/task/{new.native_id}/schedstat") as f:
    ran = int(f.read().split()[0]) / 1e9
hold.set()
new.join()
rows = {r["tid"]: r for r in interval.rows(before, after, began)}
olds = [r.start for r in before.values() if r.tid == tid]
news = [(r.start, r.when - r.started) for r in after.values() if r.tid == tid]
span = after[next(iter(after))].when - before[next(iter(before))].when
print(json.dumps({"tid": tid, "new_tid": new.native_id, "olds": olds, "news": news,
                  "row": rows.get(tid), "span": span, "ran": ran}))
"""


@pytest.mark.root
def test_a_reused_tid_is_a_new_thread(tmp_path: Path) -> None:
    """In a PID namespace of its own (its ns_last_pid is nobody else's), a
    thread ends and the next one is given its tid: tidscope tells them
    apart by their start times, and the new one counts from its start
    (a spinning thread near 100 % of its short life, not a share of the
    interval measured against the old one's counts).  The new thread stops
    spinning before the reading and the truth (its schedstat) are taken, so
    a busy machine delaying either changes neither."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    paths = json.dumps([str(HERE.parent), *sys.path])
    proc = subprocess.run(
        ["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c", REUSE, paths],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["new_tid"] == got["tid"], got  # the kernel gave the tid again
    (old_start,) = got["olds"]
    ((new_start, life),) = got["news"]
    assert new_start != old_start, got
    row = got["row"]
    assert row is not None, got
    # counted from its start: what it ran over its own life (the truth:
    # schedstat), not over the interval, as a diff against the old thread's
    # counts would give (the start time is cut to a tick: one tick allowed)
    from_start = got["ran"] / life * 100
    assert abs(row["pcpu"] - from_start) <= MARGIN + 100 * 0.01 / life, got
    over_interval = got["ran"] / got["span"] * 100
    assert abs(row["pcpu"] - over_interval) > abs(row["pcpu"] - from_start), got


# -- batch mode -----------------------------------------------------------------------


def test_batch_table_frames(duty: str) -> None:
    with workload(duty) as w:
        proc = tidscope("top", "-b", "-n", "2", "-d", "0.3", "-p", str(w.pid))
    assert proc.returncode == 0, proc.stderr
    frames = proc.stdout.split("\n\n")
    assert len(frames) == 2, proc.stdout
    for frame in frames:
        lines = frame.strip("\n").splitlines()
        assert lines[0].startswith("tidscope top - ") and "threads 9" in lines[0], lines
        assert lines[1].split()[:4] == ["TID", "PID", "USER", "S"], lines
        assert "PCPU" in lines[1] and "WCHAN" in lines[1] and "THREADS" not in lines[1]
        assert len(lines) == 2 + 9
        pcpu = lines[1].split().index("PCPU")
        shown = [float(line.split()[pcpu]) for line in lines[2:]]
        assert shown == sorted(shown, reverse=True)  # by %CPU, largest first


def test_batch_json_is_one_object_per_interval(duty: str) -> None:
    with workload(duty) as w:
        proc = tidscope("top", "-n", "3", "-d", "0.2", "--format", "json", "-p", str(w.pid))
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(docs) == 3
    for doc in docs:
        assert set(doc) == {"time", "interval", "threads"}
        assert 0.15 < doc["interval"] < 5
        tids = {t["tid"] for t in doc["threads"]}
        assert tids == {w.pid, *w.tids.values()}
        for t in doc["threads"]:
            assert t["pid"] == w.pid and t["threads"] == 1


def test_batch_csv_is_one_row_per_thread_per_interval(duty: str) -> None:
    import csv

    with workload(duty) as w:
        proc = tidscope("top", "-n", "2", "-d", "0.2", "--format", "csv", "-p", str(w.pid))
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(proc.stdout.splitlines()))
    assert len(rows) == 2 * 9
    assert proc.stdout.count("time,interval,tid,") == 1
    assert len({r["time"] for r in rows}) == 2
    assert {r["name"] for r in rows} >= set(DUTIES)


def test_pools_fold_into_one_row(duty: str) -> None:
    with workload(duty) as w:
        proc = tidscope(
            "top", "-n", "1", "-d", "0.2", "--pools", "--format", "json", "-p", str(w.pid)
        )
    assert proc.returncode == 0, proc.stderr
    (doc,) = [json.loads(line) for line in proc.stdout.splitlines()]
    names = {t["name"]: t for t in doc["threads"]}
    assert names["worker-*"]["threads"] == 4 and names["worker-*"]["tid"] is None
    assert not any(n.startswith("worker-") and n != "worker-*" for n in names)
    # duty100, duty50 and duty10 end in numbers too: a pool of three
    assert names["duty*"]["threads"] == 3


# -- selections -----------------------------------------------------------------------


def _tids(proc: subprocess.CompletedProcess[str]) -> set[int]:
    assert proc.returncode == 0, proc.stderr
    return {t["tid"] for line in proc.stdout.splitlines() for t in json.loads(line)["threads"]}


def test_selections_add_up_as_in_ps(duty: str) -> None:
    with workload(duty) as w:
        base = ("top", "-n", "1", "-d", "0.1", "--format", "json")
        one = w.tids["duty50"]
        assert _tids(tidscope(*base, "--tid", str(one))) == {one}
        named = _tids(tidscope(*base, "-C", "duty10,idle"))
        assert {w.tids["duty10"], w.tids["idle"]} <= named
        assert w.tids["duty50"] not in named
        both = _tids(tidscope(*base, "--tid", str(one), "-C", "idle"))
        assert {one, w.tids["idle"]} <= both


@pytest.mark.root
def test_user_selection_and_an_unprivileged_reader(duty: str) -> None:
    """-u picks a user's threads; an ordinary user sees others' figures
    (stat is world-readable) and the files it may not read are blank."""
    uid = unused_uid()
    with workload(duty, prefix=tuple(as_uid(uid))) as w:
        base = ("top", "-n", "1", "-d", "0.2", "--format", "json")
        assert _tids(tidscope(*base, "-u", str(uid))) == {w.pid, *w.tids.values()}
        proc = tidscope(*base, "-p", str(w.pid), user=True)
        assert _tids(proc) == {w.pid, *w.tids.values()}
        (doc,) = [json.loads(line) for line in proc.stdout.splitlines()]
        for t in doc["threads"]:
            assert t["user"] == uid and isinstance(t["pcpu"], float)


def test_completion_offers_the_sort_keys() -> None:
    proc = tidscope(
        env={
            "_TIDSCOPE_COMPLETE": "bash_complete",
            "COMP_WORDS": "tidscope top --sort m",
            "COMP_CWORD": "3",
        }
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["plain,migr", "plain,minflt", "plain,majflt"]


def test_a_row_that_changed_in_nothing_is_the_row_the_figures_give() -> None:
    """Raw threads that do not run: their rows, handed out again from the
    last interval's (interval.rows keeps them when nothing changed), are
    what row() makes of the two readings, every figure 0.  Readings are
    taken until two intervals in a row in which none of them ran (the
    second's rows are the kept ones): a thread just made, or one on a busy
    machine, may still run for a moment."""
    from tidscope.core.clone import Children

    with Children(20) as kids:
        tids = set(kids.tids)
        sampler = Sampler(Selection(pids=frozenset({os.getpid()})), "/proc")
        state: dict[str, Any] = {"before": sampler.read(), "began": sampler.began, "still": 0}

        def two_still_intervals() -> tuple[Any, Any, list[dict[str, Any]]] | None:
            before, began = state["before"], state["began"]
            after = sampler.read()
            rows = interval.rows(before, after, began)
            moved = [
                r.tid
                for k, r in after.items()
                if r.tid in tids
                and (
                    k not in before
                    or before[k].more is not r.more
                    or before[k].numbers != r.numbers
                )
            ]
            state.update(
                before=after, began=sampler.began, still=0 if moved else state["still"] + 1
            )
            return (before, after, rows) if state["still"] >= 2 else None

        got = wait_for("two intervals in which no held thread ran", two_still_intervals, 30)
        assert got is not None
        before, after, rows = got
    by_tid = {r["tid"]: r for r in rows}
    checked = 0
    for key, new in after.items():
        if new.tid in tids:
            old = before[key]
            fresh = interval.row(new, old, new.when - old.when)
            assert by_tid[new.tid] == fresh
            assert fresh["pcpu"] == fresh["vcsw"] == fresh["minflt"] == 0.0
            assert tuple(fresh) == interval.ROW_KEYS
            checked += 1
    assert checked == len(tids) == 20
