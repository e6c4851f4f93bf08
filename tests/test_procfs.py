"""The /proc snapshot engine: parsing, walking, races, permissions."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import readline

from tidscope.core.clone import Children
from tidscope.errors import TidscopeError
from tidscope.proc import files, snapshot
from tidscope.proc import root as proc_root
from tidscope.proc import task as proc_task
from tidscope.proc.task import Task

TRICKY = ["a) b (c", "w) 9 9 9 9 9", "x", "sp ace", "((", ")"]


def stat_line(tid: int, name: str, ppid: int = 1, state: str = "S", ticks: int = 0) -> bytes:
    """A ``stat`` line as the kernel writes it (52 fields)."""
    tail = [state, ppid, tid, tid, 0, -1, 4194560, 0, 0, 0, 0, ticks, 0, 0, 0, 20, 0, 1, 0, 100]
    tail += [0] * (52 - 2 - len(tail))
    return f"{tid} ({name}) {' '.join(map(str, tail))}\n".encode()


class FakeProc:
    """A hand-built procfs tree, leaders created before their threads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "self").mkdir(parents=True)  # non-numeric entries are ignored
        (root / "sys" / "kernel").mkdir(parents=True)
        (root / "sys" / "kernel" / "pid_max").write_text("4194304\n")

    def process(
        self, pid: int, name: str, ppid: int, threads: dict[int, str] | None = None
    ) -> None:
        base = self.root / str(pid)
        (base / "task").mkdir(parents=True)
        (base / "stat").write_bytes(stat_line(pid, name, ppid))
        (base / "status").write_text(f"Name:\t{name}\nUmask:\t0022\nState:\tS\nTgid:\t{pid}\n")
        for tid, tname in {pid: name, **(threads or {})}.items():
            (base / "task" / str(tid)).mkdir()
            (base / "task" / str(tid) / "stat").write_bytes(stat_line(tid, tname, ppid))


@pytest.mark.parametrize("name", TRICKY)
def test_stat_is_cut_at_the_last_paren(name: str) -> None:
    task = proc_task.parse_stat(stat_line(42, name, ppid=7, state="R", ticks=250), 42, 41)
    assert task is not None
    assert (task.tid, task.tgid, task.name, task.state, task.ppid) == (42, 41, name, "R", 7)
    assert (task.tty_nr, task.cpu_ticks, task.nlwp, task.start_ticks) == (0, 250, 1, 100)


@pytest.mark.parametrize("data", [b"", b"1 (x", b"1 x) S", b"1 (x) S 1 2 3"])
def test_a_torn_stat_is_no_task(data: bytes) -> None:
    assert proc_task.parse_stat(data, 1, 1) is None


def test_held_threads_are_seen_with_their_names_under_our_tgid() -> None:
    me = os.getpid()
    with Children(len(TRICKY), names=TRICKY) as ch:
        group = {t.tid: t for t in snapshot.group(me)}
        everywhere = {t.tid: t for t in snapshot.tasks() if t.tgid == me}
        for tid, name in zip(ch.tids, TRICKY, strict=True):
            assert group[tid].name == everywhere[tid].name == name
            assert group[tid].tgid == me and group[tid].ppid == os.getppid()
        assert next(iter(group)) == me  # the leader comes first
        assert group[me].nlwp == len(group)


def test_extras_only_when_asked() -> None:
    me = os.getpid()
    bare = snapshot.process(me)
    assert bare is not None and (bare.uid, bare.status, bare.cmdline) == (None, None, None)
    full = snapshot.process(me, want=snapshot.EXTRAS)
    assert full is not None and full.status is not None
    assert full.uid == os.geteuid()
    assert full.status.tgid == me and full.status.nspid[-1] == me
    assert full.status.uids[1] == os.geteuid() and full.status.tracer_pid == 0
    with open("/proc/self/cmdline", "rb") as f:
        assert full.cmdline == proc_task.parse_cmdline(f.read())


def test_default_columns_need_stat_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    paths: list[str] = []

    def spy(real: Any) -> Any:
        def read(path: str, dir_fd: int | None = None, *rest: Any) -> bytes | None:
            paths.append(path)
            return real(path, dir_fd, *rest)  # type: ignore[no-any-return]

        return read

    monkeypatch.setattr("tidscope.proc.snapshot.read", spy(files.read))
    monkeypatch.setattr("tidscope.proc.snapshot.read_all", spy(files.read_all))
    # the C reader reads stat files alone, by construction: nothing else is read
    assert list(snapshot.tasks()) and list(snapshot.processes())
    assert paths == []
    monkeypatch.setattr("tidscope.proc.snapshot._procread", None)  # the Python walk
    assert list(snapshot.tasks()) and list(snapshot.processes())
    assert paths and all(p.endswith("/stat") for p in paths)


@pytest.fixture
def victim() -> Iterator[tuple[int, list[int]]]:
    """Our pid and three held thread ids."""
    with Children(3, names=["v1", "v2", "v3"]) as ch:
        yield os.getpid(), ch.tids


@pytest.mark.parametrize("error", [FileNotFoundError, ProcessLookupError, PermissionError])
def test_a_task_that_vanishes_or_hides_is_skipped(
    victim: tuple[int, list[int]], error: type[OSError], monkeypatch: pytest.MonkeyPatch
) -> None:
    me, tids = victim
    gone = str(tids[1])
    real_open, real_read = os.open, os.read
    doomed: set[int] = set()

    def fake_open(path: str, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        fd = real_open(path, flags, mode, dir_fd=dir_fd)
        if path.startswith(f"{gone}/"):
            doomed.add(fd)  # opened fine, dies before the read (ESRCH, ...)
        return fd

    def fake_read(fd: int, n: int) -> bytes:
        if fd in doomed:
            doomed.discard(fd)  # the number is free for the next open
            raise error
        return real_read(fd, n)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(os, "read", fake_read)
    monkeypatch.setattr(snapshot, "_procread", None)  # the mock reaches the Python walk only
    seen = [t.tid for t in snapshot.group(me)]
    assert int(gone) not in seen and {tids[0], tids[2]} <= set(seen)
    assert [t.tid for t in snapshot.selected([me], want=snapshot.EXTRAS)] == seen


def test_an_unreadable_process_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def fake_open(path: str, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if path in ("/proc/1/stat", "/proc/1/task"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", fake_open)
    monkeypatch.setattr(snapshot, "_procread", None)  # the mock reaches the Python walk only
    assert 1 not in {t.tgid for t in snapshot.processes()}
    assert 1 not in {t.tgid for t in snapshot.tasks()}
    assert os.getpid() in {t.tgid for t in snapshot.tasks()}


def test_the_c_reader_leaves_out_tasks_gone_since_the_listing() -> None:
    """Really gone, not mocked: threads listed, then joined, then read."""
    from tidscope.proc import _procread

    me = os.getpid()
    with Children(3, names=["g1", "g2", "g3"]) as ch:
        tids = ch.tids
    fd = os.open(f"/proc/{me}/task", os.O_RDONLY | os.O_DIRECTORY)
    try:
        got = _procread.read_stats(fd, [me, *tids], me, True, proc_task.Task, proc_task.parse_stat)
    finally:
        os.close(fd)
    assert [t.tid for t in got] == [me]


def test_a_thread_id_names_no_process() -> None:
    me = os.getpid()
    with Children(1, names=["worker"]) as ch:
        tid = ch.tids[0]
        assert proc_task.tgid_of(tid) == me and proc_task.tgid_of(me) == me
        assert snapshot.process(tid) is None
        assert list(snapshot.group(tid)) == []  # /proc/<tid>/task lists our group
        (task,) = snapshot.selected(tids=[tid])
        assert (task.tid, task.tgid, task.name) == (tid, me, "worker")


def test_kernel_threads_and_zombies() -> None:
    kthreadd = snapshot.process(2, want={snapshot.CMDLINE})
    assert kthreadd is not None and kthreadd.ppid == 0 and kthreadd.cmdline == ()
    assert any(t.ppid == 2 for t in snapshot.processes())
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        for _ in range(200):
            zombie = snapshot.process(pid, want={snapshot.CMDLINE})
            if zombie is not None and zombie.state == "Z":
                break
            time.sleep(0.01)
        assert zombie is not None and zombie.state == "Z" and zombie.cmdline == ()
    finally:
        os.waitpid(pid, 0)


def test_fake_root(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    fake.process(1, "init", 0)
    fake.process(100, "a) b (c", 1, {101: "w) 9 9 9 9 9"})
    (tmp_path / "200" / "task" / "201").mkdir(parents=True)  # a reused pid: not a leader
    root = str(tmp_path)
    assert [(t.tid, t.name) for t in snapshot.processes(root)] == [
        (1, "init"),
        (100, "a) b (c"),
    ]
    assert [(t.tgid, t.tid, t.name) for t in snapshot.tasks(root)] == [
        (1, 1, "init"),
        (100, 100, "a) b (c"),
        (100, 101, "w) 9 9 9 9 9"),
    ]
    assert proc_root.pid_width(root) == 7 and proc_task.tgid_of(100, root) == 100


def test_a_missing_root_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TidscopeError) as err:
        list(snapshot.tasks(str(tmp_path / "nowhere")))
    assert "--proc-root" in str(err.value)


def test_system_facts() -> None:
    with open("/proc/sys/kernel/pid_max") as f:
        assert proc_root.pid_width() == len(f.read().strip())
    assert proc_root.clock_ticks() == os.sysconf("SC_CLK_TCK")
    boot = proc_root.boot_time()
    assert boot is not None and 0 < boot <= time.time()
    status = proc_task.task_status(os.getpid(), os.getpid())
    assert status is not None and status["Tgid"] == str(os.getpid())
    assert proc_task.task_status(os.getpid(), 1) is None


CHURN = """
import os, select, sys
from tidscope.core import flags
from tidscope.core.clone import Children
name = f"ch{os.getpid():07d}"
print("ready", flush=True)
while not select.select([sys.stdin], [], [], 0)[0]:  # until our stdin closes
    with Children(16, names=[name] * 16):
        pass
    with Children(2, flags.PROCESS, names=["cp"] * 2):
        pass
"""


def _consistent(task: Task) -> bool:
    """Churned threads carry their group in their name, all names 9 bytes
    long.  /proc reads comm without a lock, so a thread read while it names
    itself may show the new name cut short (seen in CI: 'ch2479' for a
    thread renaming itself 'ch24792' over 'python'): such a torn name has
    fewer than 9 bytes and vouches for nothing, a whole one must match."""
    if task.name.startswith("ch") and task.name[2:].isdigit() and len(task.name) == 9:
        return task.tgid == int(task.name[2:])
    if task.name == "cp":
        return task.tid == task.tgid
    return True


@pytest.mark.slow
@pytest.mark.floods_connector  # two churners make threads and processes as fast as they can
def test_churn_never_raises_nor_misplaces_a_thread() -> None:
    """1,000 snapshots while two churners make and join threads and
    processes as fast as they can: no exception, every row consistent; every
    50th snapshot also reads status and cmdline, processes and the tree."""
    from tidscope.tree import hierarchy as tree

    churners = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(CHURN)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for proc in churners:
            assert (
                proc.stdout is not None
                and readline(proc.stdout, proc=proc, seen="the churner's ready line") == "ready\n"
            )
        seen = 0
        for snap in range(1000):
            full = snap % 50 == 0
            for task in snapshot.tasks(want=snapshot.EXTRAS if full else snapshot.NOTHING):
                assert _consistent(task), task
                seen += task.name.startswith("ch")
            if full:
                assert all(_consistent(t) for t in snapshot.processes())
                forest = tree.read_forest()
                assert all(
                    tid != proc.pid and not name.startswith("cp")
                    for proc in forest.procs.values()
                    for tid, name in proc.threads
                )
        assert seen > 0  # the walks overlapped the churn
    finally:
        for proc in churners:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in churners:
            assert proc.wait(timeout=30) == 0
