"""A leader's exit is not the process's: ``tidscope watch`` in its three
modes (the connector, ``--poll``, ``--run``) against thread groups whose
leader leaves first, or whose non-leader thread execs, on the real kernel.

The truth each test holds the watch to is built by hand (issue 20):

- leader-leaves: the leader leaves alone (a raw SYS_exit: it stays a
  zombie), its thread goes on and then calls exit(5).  The process exits
  once, status 5, when that thread ends; the leader's exit is a leader's.
- exec-alive: a non-leader thread execs while the leader lives.  The exec
  kills the leader (a leader's exit, not the process's) and takes its tid:
  no process exit, the exec, and the thread's own tid never exits.  The new
  program's exit (status 3) is the process's one exit.
- exec-zombie: the same after the leader has left alone.

The commands step through a FIFO, one newline a step, so every step waits
for what the watch must have seen first; no outcome depends on timing.
"""

from __future__ import annotations

import csv
import errno
import os
import shlex
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import readline, wait_for

COLUMNS = ["time", "event", "kind", "tgid", "tid", "parent", "detail", "name"]
MODES = [pytest.param("connector", marks=pytest.mark.net_admin), "poll", "run"]
# argv: the file to write "pid tid" to, the FIFO of steps, the case.  The
# FIFO is fd 3, inherited by the program the thread execs.
PROGRAM = r"""
import ctypes, os, platform, sys, threading
out, fifo, case = sys.argv[1:4]
SYS_EXIT = {"x86_64": 60, "aarch64": 93}[platform.machine()]
fd = os.open(fifo, os.O_RDONLY)
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.set_inheritable(3, True)
if case == "exec-alive":  # the leader's minor faults: more than the thread will have
    touched = bytearray(64 << 20)
    touched[:: 4096] = b"x" * len(range(0, 64 << 20, 4096))
def thread():
    with open(out + ".tmp", "w") as f:
        f.write(f"{os.getpid()} {threading.get_native_id()}\n")
    os.rename(out + ".tmp", out)
    assert os.read(3, 1) == b"\n"
    if case == "leader-leaves":
        os._exit(5)
    os.execv("/bin/sh", ["sh", "-c", "read -r x <&3; exit 3"])
worker = threading.Thread(target=thread)
worker.start()
if case == "exec-alive":
    worker.join()  # until the exec kills it
else:
    ctypes.CDLL(None).syscall(SYS_EXIT, 0)  # the leader alone: a zombie from now on
"""

Row = dict[str, str]


class Watch:
    """``tidscope watch --format csv`` in one mode, its rows as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.rows: list[Row] = []

    def until(self, what: str, done: Callable[[list[Row]], bool]) -> None:
        assert self.proc.stdout is not None
        end = time.monotonic() + 60
        while not done(self.rows):
            assert time.monotonic() < end, f"{what}: not within 60 s: {self.rows[-30:]}"
            line = readline(self.proc.stdout, timeout=60, proc=self.proc, seen=(what, self.rows))
            assert line.strip(), f"{what}: the watch ended first: {self.rows}"
            (cells,) = csv.reader([line])
            self.rows.append(dict(zip(COLUMNS, cells, strict=True)))

    def of(self, pid: int) -> list[Row]:
        return [r for r in self.rows if r["tgid"] == str(pid)]


@contextmanager
def watching(mode: str, command: str | None, *args: str) -> Iterator[Watch]:
    how = {"connector": [], "poll": ["--poll", "0.02"], "run": ["--run", str(command)]}[mode]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidscope", "watch", "--format", "csv", *how, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        header = readline(proc.stdout, proc=proc, seen="no header")
        assert header == ",".join(COLUMNS) + "\n", proc.communicate(timeout=60)
        yield Watch(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


def _state(pid: int, tid: int) -> str:
    try:
        with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0].decode()
    except FileNotFoundError:
        return "gone"


class Case:
    """One run of PROGRAM, watched in ``mode``: started by the watch
    (--run) or by the test, stepped through its FIFO."""

    def __init__(self, mode: str, case: str, tmp: Path, *args: str) -> None:
        self.mode, self.case, self.args = mode, case, args
        self.out, self.fifo = tmp / "ids", tmp / "steps"
        os.mkfifo(self.fifo)
        code = shlex.quote(textwrap.dedent(PROGRAM))
        self.argv = [str(self.out), str(self.fifo), case]
        self.command = f"exec {shlex.quote(sys.executable)} -c {code} " + shlex.join(self.argv)
        self.child: subprocess.Popen[bytes] | None = None
        self.writer = -1
        self.pid = self.tid = 0

    @contextmanager
    def started(self) -> Iterator[Watch]:
        with watching(self.mode, self.command, *self.args) as w:
            if self.mode != "run":
                self.child = subprocess.Popen([sys.executable, "-c", PROGRAM, *self.argv])
            try:
                self.writer = wait_for("the program opens its FIFO", self._open)
                self.pid, self.tid = map(int, wait_for("its ids", self._ids).split())
                yield w
            finally:
                if self.writer >= 0:
                    os.close(self.writer)
                if self.child is not None:
                    if self.child.poll() is None:
                        self.child.kill()
                    self.child.wait(timeout=60)

    def _open(self) -> int:
        try:
            return os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as err:
            assert err.errno == errno.ENXIO, err  # no reader yet
            return 0

    def _ids(self) -> str:
        try:
            return self.out.read_text()
        except FileNotFoundError:
            return ""

    def step(self) -> None:
        assert os.write(self.writer, b"\n") == 1

    def ended(self, w: Watch) -> None:
        """The process's exit is printed; with --run, the watch has ended."""
        if self.child is not None:
            assert self.child.wait(timeout=60) == (5 if self.case == "leader-leaves" else 3)
        w.until("the process's exit", self._exit_of)
        if self.mode == "run":
            rest, _ = w.proc.communicate(timeout=60)
            w.rows += [dict(zip(COLUMNS, r, strict=True)) for r in csv.reader(rest.splitlines())]
            assert w.proc.returncode == (5 if self.case == "leader-leaves" else 3)

    def _exit_of(self, rows: list[Row]) -> bool:
        return any(
            r["event"] == "exit" and r["kind"] == "process" and r["tgid"] == str(self.pid)
            for r in rows
        )


def _execs(w: Watch, pid: int, tid: str) -> list[Row]:
    """The exec rows of the thread's group after its birth (or its leader's exit)."""
    rows = [r for r in w.of(pid) if r["tid"] == tid or r["event"] in ("exec", "exit")]
    born = next((i for i, r in enumerate(rows) if r["tid"] == tid or r["event"] == "exit"), 0)
    return [r for r in rows[born:] if r["event"] == "exec"]


def _exits(rows: list[Row]) -> list[tuple[str, str, str]]:
    return [(r["kind"], r["tid"], r["detail"]) for r in rows if r["event"] == "exit"]


def _status(mode: str, code: int) -> str:
    return "" if mode == "poll" else f"status {code}"  # polling reads no status


def _leader_left(case: Case, w: Watch, shown: bool) -> None:
    """Wait until the leader is a zombie, and (``shown``) its exit's row."""
    wait_for("the leader's exit", lambda: _state(case.pid, case.pid) == "Z")
    if shown:
        leader = str(case.pid)
        w.until(
            "the leader's row",
            lambda rows: any(r["event"] == "exit" and r["tid"] == leader for r in rows),
        )


@pytest.mark.parametrize("mode", MODES)
def test_a_leader_that_leaves_first_is_no_process_exit(mode: str, tmp_path: Path) -> None:
    """--processes-only: the process exits once, status 5, when its last
    thread does; never ``exit process P status 0`` at the leader's exit."""
    case = Case(mode, "leader-leaves", tmp_path, "--processes-only")
    with case.started() as w:
        _leader_left(case, w, shown=False)
        if mode != "run":  # a process born after the leader left: the watch saw that
            with subprocess.Popen(["sleep", "60"]) as marker:
                try:
                    born = str(marker.pid)
                    w.until("a later birth", lambda rows: any(r["tid"] == born for r in rows))
                finally:
                    marker.kill()
            assert _exits(w.of(case.pid)) == []  # the leader's exit is not the process's
        case.step()
        case.ended(w)
    assert _exits(w.of(case.pid)) == [("process", str(case.pid), _status(mode, 5))]


@pytest.mark.parametrize("mode", MODES)
def test_a_leader_that_leaves_first_is_a_leaders_exit(mode: str, tmp_path: Path) -> None:
    """Every event: the leader's exit (its own status, 0), the thread's exit
    (status 5), then the process's (status 5, ended by that thread)."""
    case = Case(mode, "leader-leaves", tmp_path)
    with case.started() as w:
        _leader_left(case, w, shown=True)
        case.step()
        case.ended(w)
    pid, tid = str(case.pid), str(case.tid)
    assert _exits(w.of(case.pid)) == [
        ("leader", pid, _status(mode, 0)),
        ("thread", tid, _status(mode, 5)),
        ("process", pid, _status(mode, 5)),
    ]


@pytest.mark.parametrize("case_name", ["exec-alive", "exec-zombie"])
@pytest.mark.parametrize("mode", MODES)
def test_a_threads_exec_is_no_process_exit(mode: str, case_name: str, tmp_path: Path) -> None:
    """The leader's exit is a leader's (killed by the exec, or its own), the
    exec names the thread that made it, that thread's tid never exits, and
    the process exits once: the new program's exit, status 3."""
    case = Case(mode, case_name, tmp_path)
    pid: str = ""
    with case.started() as w:
        pid, tid = str(case.pid), str(case.tid)
        w.until("the thread's birth", lambda rows: any(r["tid"] == tid for r in rows))
        if case_name == "exec-zombie":
            _leader_left(case, w, shown=True)
        case.step()
        w.until("the exec", lambda rows: any(r["name"] == "sh" for r in _execs(w, case.pid, tid)))
        case.step()
        case.ended(w)
    rows = w.of(case.pid)
    born = next(i for i, r in enumerate(rows) if r["tid"] == tid or r["event"] == "exit")
    rows = rows[born:]  # the program's own exec at its start left out
    assert _exits(rows) == [("leader", pid, _status(mode, 0)), ("process", pid, _status(mode, 3))]
    (execed,) = [r for r in rows if r["event"] == "exec"]
    exits = [r["event"] for r in rows if r["event"] in ("exit", "exec")]
    assert exits == ["exit", "exec", "exit"]
    # the connector names the thread when the leader's exit came before the exec
    by = {f"by tid {tid}", ""} if mode == "connector" else {f"by tid {tid}"}
    assert execed["detail"] in by and execed["name"] == "sh"
    assert not [r for r in w.rows if r["tid"] == tid and r["event"] == "exit"]
