"""The C reader (tidscope.proc._procread) against the Python one it stands in for.

snapshot.py walks a proc mount with the C reader and anything else with
files.read/parse_stat; both must give the same tasks.  Crafted lines go
through read_stats from a directory of our own, so every form a line can
take is held to parse_stat's answer; the real /proc is compared on held
raw threads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tidscope.core.clone import Children
from tidscope.proc import _procread, snapshot
from tidscope.proc.task import Task, parse_stat

SLOTS = [s for s in Task.__slots__ if s not in ("fields", "extra")]
KERNEL = b"1 (%s) S 0 1 1 34816 1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 99 10 20 30 40\n"

LINES = [
    KERNEL % b"plain",
    KERNEL % b"a) b (c",
    KERNEL % b"w) 9 9 9 9 9",
    KERNEL % b"\xff\xfe bad utf-8",
    KERNEL % "naïve 名前".encode(),
    KERNEL % b"",
    (KERNEL % b"no newline").rstrip(b"\n"),
    b"1 (x) S 0 1 1 -1 1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 99\n",  # negative tty, ends at 22
    b"1 (x) S 0 1 1 0 1 0 1 2 3 4 18446744073709551615 6 7 8 20 0 1 0 99\n",  # u64 utime
    b"1 (x) S 0 1 1 0 1 0 1 2 3 4 9223372036854775807 9223372036854775807 7 8 20 0 1 0 99\n",
    b"1 (x) S 0 1 1 0 1 0 1 2 3 4 99999999999999999999999 6 7 8 20 0 1 0 99\n",
    b"1 (x) S +0 1 1 0 1 0 1 2 3 4 5 6 7 8 20 0 1 0 99\n",  # int() takes "+0"
    b"1 (x) SS 0 1 1 0 1 0 1 2 3 4 5 6 7 8 20 0 1 0 99\n",  # a state of two letters
    b"1 (x) S 0 1 1 0 1 0 1 2 3 4 5 6 7 8 20 0 1 0\n",  # one field short
    b"1 (x) S 0 1 1 0 1 0 1 2 3 4 5 6 7 8 20 0 1 0 9x\n",
    b"1 (x) S 0  1 1 0 1 0 1 2 3 4 5 6 7 8 20 0 1 0 99\n",  # two blanks
    b"1 (x)\n",
    b"1 (x",
    b"",
    b"no parenthesis at all",
    b"1 (x) \n",
    b"1 (x) S",
]


def same(a: Task | None, b: Task | None) -> bool:
    if a is None or b is None:
        return a is b
    return all(getattr(a, s) == getattr(b, s) for s in SLOTS)


def kernel_stat(data: bytes, tid: int, tgid: int) -> Task | None:
    return parse_stat(data, tid, tgid, False)


def read(fd: int, ids: list[int], tgid: int = 0, uid: bool = False) -> list[Task]:
    return _procread.read_stats(fd, ids, tgid, uid, Task, kernel_stat)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    yield tmp_path, fd
    os.close(fd)


def write(where: Path, data: bytes) -> None:
    where.mkdir(parents=True, exist_ok=True)
    (where / "stat").write_bytes(data)


@pytest.mark.parametrize("line", LINES)
def test_every_line_parses_as_parse_stat_parses_it(tree: tuple[Path, int], line: bytes) -> None:
    root, fd = tree
    write(root / "7", line)
    expected = parse_stat(line, 7, 7, False)
    got = read(fd, [7])
    assert len(got) == (expected is not None)
    assert same(got[0] if got else None, expected)


@pytest.mark.root  # chown to 599 uids
def test_many_lines_in_order_on_both_threads(tree: tuple[Path, int]) -> None:
    """Enough ids for the helper thread; missing ones are left out, the
    rest keep their order, each with its own uid."""
    root, fd = tree
    ids = list(range(1, 600))
    for i in ids:
        if i % 7:
            write(root / str(i), LINES[i % len(LINES)])
            os.chown(root / str(i), i, 0)
    got = read(fd, ids, uid=True)
    want = []
    for i in ids:
        if i % 7:
            task = parse_stat(LINES[i % len(LINES)], i, i, False)
            if task is not None:
                task.uid = i
                want.append(task)
    assert len(got) == len(want)
    assert all(same(a, b) for a, b in zip(got, want, strict=True))


def test_a_groups_leader_reads_its_process_stat(tree: tuple[Path, int]) -> None:
    root, _ = tree
    write(root / "100", KERNEL % b"process")
    write(root / "100" / "task" / "101", KERNEL % b"thread")
    write(root / "100" / "task" / "100", KERNEL % b"leader's own")
    task_fd = os.open(root / "100" / "task", os.O_RDONLY | os.O_DIRECTORY)
    try:
        got = read(task_fd, [100, 101], tgid=100)
    finally:
        os.close(task_fd)
    assert [(t.tid, t.tgid, t.name) for t in got] == [(100, 100, "process"), (101, 100, "thread")]


def test_ids_out_of_range_and_too_many_are_errors(tree: tuple[Path, int]) -> None:
    _, fd = tree
    for ids in ([0], [-1], [1 << 31]):
        with pytest.raises(ValueError, match="out of range"):
            read(fd, ids)
    with pytest.raises(ValueError, match="at most"):
        read(fd, [1] * (_procread.MAX_IDS + 1))
    with pytest.raises(TypeError):
        read(fd, ["1"])  # type: ignore[list-item]


def test_a_raising_constructor_is_raised(tree: tuple[Path, int]) -> None:
    root, fd = tree
    write(root / "1", KERNEL % b"x")

    def broken(*args: object) -> Task:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError, match="no"):
        _procread.read_stats(fd, [1], 0, False, broken, kernel_stat)


def test_running_out_of_descriptors_is_raised_not_skipped() -> None:
    """EMFILE is ours, not the task's: an OSError, as files.read raises it."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
            import errno, os, resource
            from tidscope.proc import _procread
            from tidscope.proc import files, task
            fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
            ids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
            # the listing's own descriptor is the highest, and closed after it
            highest = max(int(f) for f in os.listdir("/proc/self/fd"))
            resource.setrlimit(resource.RLIMIT_NOFILE, (highest, highest))
            try:
                _procread.read_stats(fd, ids[:100], 0, False, task.Task, None)
            except OSError as err:
                print(errno.errorcode[err.errno])
            """
            ),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.stdout.strip() == "EMFILE", out.stderr


def test_the_real_proc_gives_the_tasks_the_python_walk_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Held raw threads, idle: the C and the Python walk agree on each of
    them, and on which tasks of this process exist.  Not on NLWP, the count
    of this process's threads: the test runs inside pytest's worker, whose
    own threads (a helper reading another test's child) may come and go
    between the two reads."""
    names = [f"held{i}" for i in range(150)] + ["a) b (c"]
    with Children(len(names), names=names) as held:
        pid = os.getpid()
        want = frozenset({snapshot.UID, snapshot.STATUS, snapshot.CMDLINE})
        fast = {t.tid: t for t in snapshot.group(pid, want=want)}
        monkeypatch.setattr(snapshot, "_procread", None)
        slow = {t.tid: t for t in snapshot.group(pid, want=want)}
        assert fast.keys() == slow.keys()
        assert set(held.tids) <= fast.keys()
        for tid in held.tids:
            a, b = fast[tid], slow[tid]
            same = [s for s in SLOTS if s not in ("status", "rest", "nlwp")]
            assert [getattr(a, s) for s in same] == [getattr(b, s) for s in same]
            assert a.status is not None and b.status is not None
            assert a.status.uids == b.status.uids
        procs = {t.tid for t in snapshot.processes()}
        monkeypatch.setattr(snapshot, "_procread", _procread)
        assert pid in procs and pid in {t.tid for t in snapshot.processes()}


def test_ps_uses_the_c_reader_and_prints_what_the_python_walk_prints() -> None:
    """A ``ps -T -p`` of held threads is the same either way (the Python
    walk forced by pointing --proc-root at a bind mount's path, which is
    still the kernel's proc, and so reads through C too: compare instead
    with the reader switched off in process)."""
    code = textwrap.dedent(
        """
        import io, os, sys
        from tidscope.ps import layout
        from tidscope.ps import run as query
        from tidscope.ps.columns import parse_format
        from tidscope.ps.context import Context
        from tidscope.proc import snapshot
        from tidscope.core.clone import Children
        names = ["x%d" % i for i in range(100)]
        with Children(len(names), names=names):
            q = query.Query(True, (os.getpid(),))
            cols = parse_format(["pid,spid,tname,time,ucmd"], 5)
            want = frozenset().union(*(c.needs for c in cols))
            out = []
            for reader in (snapshot._procread, None):
                snapshot._procread = reader
                buf = io.StringIO()
                tasks = query.tasks(q, want)
                layout.write_table(tasks, cols, Context(), buf, True, layout.OUTBUF_SIZE)
                out.append(buf.getvalue())
        print(out[0] == out[1], out[0].count("\\n"))
        """
    )
    got = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    same_text, lines = got.stdout.split()
    assert same_text == "True" and int(lines) >= 101


def test_only_a_proc_mount_is_read_by_c(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The kernel's /proc goes through C; a root that is not a proc mount
    (a copy, a hostile tree) through procfs's checked reads."""
    calls: list[object] = []

    def record(*args: object) -> list[list[Task]]:
        calls.append(args)
        return []

    monkeypatch.setattr(_procread, "Walk", record)
    list(snapshot.group(os.getpid()))
    assert len(calls) == 1
    write(tmp_path / "5", KERNEL % b"fake")
    write(tmp_path / "5" / "task" / "5", KERNEL % b"fake")
    assert [t.name for t in snapshot.processes(str(tmp_path))] == ["fake"]
    assert [t.name for t in snapshot.group(5, str(tmp_path))] == ["fake"]
    assert len(calls) == 1


def test_our_own_process_is_read_without_the_helper_thread() -> None:
    """The helper thread would be one more task of ours: our own row must
    show the one thread a single-threaded reader sees, in either walk."""
    code = textwrap.dedent(
        """
        import os
        from tidscope.proc import _procread
        from tidscope.proc import files, task
        from tidscope.proc import snapshot
        fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
        ids = [1] * 200 + [os.getpid()] + [1] * 200  # enough for the helper
        got = _procread.read_stats(fd, ids, 0, False, task.Task, None)
        mine = [t.nlwp for t in got if t.tid == os.getpid()]
        group = [t.nlwp for t in snapshot.group(os.getpid())]
        print(mine, group)
        """
    )
    got = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert got.stdout.split() == ["[1]", "[1]"]


def test_without_a_helper_thread_this_thread_reads_all() -> None:
    """clone denied (no helper thread can start): the same rows."""
    code = textwrap.dedent(
        """
        import os, subprocess, sys
        from tidscope.core.clone import Children
        names = ["n%d" % i for i in range(700)]  # three batches: the helper reads two
        with Children(len(names), names=names):
            cmd = ["ps", "-T", "-p", str(os.getpid()), "-o", "tid,comm,nlwp"]
            plain = subprocess.run([sys.executable, "-m", "tidscope", *cmd],
                                   capture_output=True, text=True, timeout=120)
            denied = subprocess.run(
                [sys.executable, "tests/seccomp.py", "--deny", "clone,clone3", "--", *cmd],
                capture_output=True, text=True, timeout=120)
        print(plain.returncode, denied.returncode, plain.stdout == denied.stdout,
              plain.stdout.count("\\n"), repr(denied.stderr))
        """
    )
    root = Path(__file__).resolve().parent.parent
    got = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        timeout=120,
    )
    assert got.stdout.split() == ["0", "0", "True", "702", "''"]


def walk(fd: int, ids: list[int], tgid: int = 0, **kw: Any) -> list[Any]:
    return [
        x for batch in _procread.Walk(fd, ids, tgid, False, Task, kernel_stat, **kw) for x in batch
    ]


def test_a_walk_gives_what_read_stats_gives_batch_after_batch(tree: tuple[Path, int]) -> None:
    """Many batches (the helper thread reads all but the first), tasks
    missing here and there, whole files beside stat, in order."""
    root, fd = tree
    ids = list(range(1, 3 * _procread.BATCH + 7))
    for i in ids:
        if i % 5:
            write(root / str(i), LINES[i % len(LINES)])
            if i % 3:
                (root / str(i) / "status").write_bytes(b"Name:\tx\nTgid:\t%d\n" % i * 50)
    got = walk(fd, ids, files=("status", "wchan"), caps=(100, 10))
    want = []
    for i in ids:
        task = parse_stat(LINES[i % len(LINES)], i, i, False) if i % 5 else None
        if task is not None:
            status = (b"Name:\tx\nTgid:\t%d\n" % i * 50)[:100] if i % 3 else None
            want.append((task, (status, None)))
    assert len(got) == len(want)
    for (task, raw), (expected, expected_raw) in zip(got, want, strict=True):
        assert same(task, expected) and raw == expected_raw
    assert all(same(a, b) for a, b in zip(walk(fd, ids), [t for t, _ in want], strict=True))


def test_a_walk_of_nothing_gives_nothing(tree: tuple[Path, int]) -> None:
    _, fd = tree
    assert walk(fd, []) == []
    assert walk(fd, [1, 2, 3]) == []


def threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_a_walk_abandoned_or_failing_leaves_no_helper_thread(tree: tuple[Path, int]) -> None:
    root, fd = tree
    ids = list(range(1, 4 * _procread.BATCH))
    for i in ids:
        write(root / str(i), KERNEL % b"x")
    before = threads()
    it = _procread.Walk(fd, ids, 0, False, Task, kernel_stat)
    assert len(next(it)) == _procread.BATCH  # the helper now reads the second batch
    del it
    assert threads() == before

    calls = []

    def broken(*args: object) -> Task:
        calls.append(args)
        if len(calls) > _procread.BATCH + 3:
            raise RuntimeError("no")
        return Task(*args)  # type: ignore[arg-type]

    with pytest.raises(RuntimeError, match="no"):
        for _ in _procread.Walk(fd, ids, 0, False, broken, kernel_stat):
            pass
    assert threads() == before


def test_our_own_process_in_a_later_batch_is_read_without_the_helper() -> None:
    """Our own entry in a batch the helper reads is left for this thread,
    read once the helper is gone: one thread, in stat and in status."""
    code = textwrap.dedent(
        """
        import os
        from tidscope.proc import _procread
        from tidscope.proc import files, task
        from tidscope.proc import snapshot
        fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
        ids = [1] * (3 * _procread.BATCH) + [os.getpid()] + [1] * 300
        got = [x for batch in _procread.Walk(fd, ids, 0, False, task.Task,
                                             task.parse_stat, ("status",), (65536,))
               for x in batch]
        mine = [(t.nlwp, raw[0].split(b"Threads:")[1].split()[0].decode())
                for t, raw in got if t.tid == os.getpid()]
        print(mine, len(got))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.split(maxsplit=2)[:2] == ["[(1,", "'1')]"], out.stdout


def test_files_longer_than_one_read_are_read_whole() -> None:
    """Processes with 100 KB command lines, several to a batch: each
    read after the first 4 KB lands in room made for it (it once landed
    past the end of the batch's buffer, and glibc aborted)."""
    code = textwrap.dedent(
        """
        import subprocess, sys
        from tidscope.proc import snapshot
        arg = "x" * 100_000
        kids = [subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()",
                                  arg, str(i)], stdin=subprocess.PIPE) for i in range(4)]
        try:  # each has exec'd python by the time Popen returns
            got = {t.tid: t.cmdline for t in snapshot.processes(want={snapshot.CMDLINE})}
            print(all(got[k.pid][3:] == (arg, str(i)) for i, k in enumerate(kids)))
        finally:
            for k in kids:
                k.stdin.close()
                k.wait()
        """
    )
    got = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert (got.returncode, got.stdout.strip()) == (0, "True"), got.stderr[-2000:]


@pytest.mark.slow
def test_our_own_entry_right_after_the_helper_shows_one_thread() -> None:
    """pthread_join returns when the helper clears its tid, before the
    kernel takes it out of our thread count: our own entry, read right
    after the join (a batch with nothing else to read), must still show
    one thread, every time (it showed two about once in 400 walks)."""
    code = textwrap.dedent(
        """
        import collections, os
        from tidscope.proc import _procread
        from tidscope.proc import task as proc_task
        fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
        ids = [(1 << 31) - 1] * _procread.BATCH + [os.getpid()]  # no such task, then us
        seen = collections.Counter()
        for _ in range(4000):
            for batch in _procread.Walk(fd, ids, 0, False, proc_task.Task, proc_task.parse_stat,
                                        ("status",), (65536,)):
                for found, (status,) in batch:
                    seen[found.nlwp, int(status.split(b"Threads:")[1].split()[0])] += 1
        print(dict(seen))
        """
    )
    got = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert got.stdout.strip() == "{(1, 1): 4000}"


def test_a_forked_child_goes_on_with_the_walk_or_drops_it(tree: tuple[Path, int]) -> None:
    """fork() while the helper reads the next batch: the child has no
    helper, so it reads that batch again itself and gives every task
    (it once lost those the parent's helper had claimed); a child that
    drops the walk exits at once (there is no helper to join)."""
    root, fd = tree
    ids = list(range(1, 6 * _procread.BATCH))
    for i in ids:
        write(root / str(i), KERNEL % b"x")
    lost = []
    for drop in [False] * 40 + [True] * 10:
        it = _procread.Walk(fd, ids, 0, False, Task, kernel_stat)
        first = len(next(it))  # the helper now reads the second batch
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            n = 0 if drop else first + sum(len(batch) for batch in it)
            del it
            os._exit(0 if drop or n == len(ids) else 1)
        _, status = os.waitpid(pid, 0)
        lost.append(os.waitstatus_to_exitcode(status))
        assert sum(len(batch) for batch in it) + first == len(ids)
    assert lost == [0] * 50


def test_a_walk_is_stepped_by_one_caller_at_a_time(tree: tuple[Path, int]) -> None:
    """next() from inside the walk's own next() (here from the object
    maker; another Python thread alike) is refused, as a generator's is:
    it would swap the batches under the one being made."""
    root, fd = tree
    ids = list(range(1, 3 * _procread.BATCH))
    for i in ids:
        write(root / str(i), KERNEL % b"x")
    refused: list[str] = []

    def make(*args: Any) -> Task:
        try:
            next(it)
        except ValueError as err:
            refused.append(str(err))
        return Task(*args)

    it = _procread.Walk(fd, ids, 0, False, make, kernel_stat)
    assert sum(len(batch) for batch in it) == len(ids)
    assert refused == ["Walk already executing"] * len(ids)


def test_a_walk_ended_by_an_exception_is_gone_before_its_directory_closes() -> None:
    """An exception thrown into the walk (a signal's, or the consumer's
    throw()) while the helper reads the next batch: the helper reads
    through the directory's descriptor, so the Walk is dropped (its helper
    joined) before the descriptor closes, not kept alive by the traceback."""
    code = textwrap.dedent(
        """
        import gc, subprocess, sys
        from tidscope.proc import _procread
        from tidscope.proc import snapshot
        hold = "import sys; from tidscope.core.clone import Children\\n"
        hold += "with Children(%d): print(flush=True); sys.stdin.read()" % (3 * _procread.BATCH)
        holder = subprocess.Popen([sys.executable, "-c", hold], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE)
        holder.stdout.readline()
        for walk in (snapshot.group(holder.pid), snapshot.processes()):
            next(walk)  # the helper reads the next batch of a group of ours
            try:
                walk.throw(RuntimeError("stop"))
            except RuntimeError as err:
                alive = sum(type(o) is _procread.Walk for o in gc.get_objects())
                print(alive, err.__traceback__ is not None)
        holder.stdin.close()
        holder.wait(60)
        """
    )
    got = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert got.stdout.split() == ["0", "True", "0", "True"], got.stdout


# -- top's numbers form (threads.Group.numbers): the C reader against threads.numbers

FULL = b"1 (%s) S 0 1 1 34816 1 4194560 10 2 12 4 14 15 7 8 20 %s 1 0 22 10 20 %s" + b" 1" * 13
FULL += b" 0 17 39 40 41 0 0 0 0 0 0 0 0 0 0 0\n"
NUMBER_LINES = [
    FULL % (b"plain", b"0", b"18446744073709551615"),  # rsslim: RLIM_INFINITY
    FULL % (b"a) b (c", b"-20", b"20"),
    FULL % (b"\xff bad utf-8", b"19", b"1"),
    FULL.replace(b" 41 0 0 0 0 0 0 0 0 0 0 0\n", b"\n") % (b"no policy", b"0", b"1"),
    FULL.replace(b" 41 0 0 0 0 0 0 0 0 0 0 0\n", b" 41") % (b"ends at 41", b"0", b"1"),
    FULL.replace(b" 10 2 12 ", b" 9223372036854775808 2 12 ") % (b"u64 minflt", b"0", b"1"),
    FULL.replace(b" 20 0 1 0 22 ", b" 20 0 1  0 22 ") % (b"two blanks", b"0", b"1"),
    FULL.replace(b" 39 40 41", b" -39 40 41") % (b"negative cpu", b"0", b"1"),
    KERNEL % b"short line",
    b"1 (x) SS 0",
    b"no task",
]
SCHEDSTATS = [
    b"123456789 456 7\n",
    b"123456789 456 7",
    b"1 2\n",
    b"1 2 3 4\n",
    b"-1 2 3\n",
    b"1  2 3\n",
    b"1 2 3\n\n",
    b"x y z\n",
    b"",
    None,
]


@pytest.mark.parametrize("line", NUMBER_LINES)
@pytest.mark.parametrize("sched", SCHEDSTATS)
def test_the_numbers_form_reads_as_threads_numbers(
    tree: tuple[Path, int], line: bytes, sched: bytes | None
) -> None:
    """Every line and schedstat, in the kernel's form or not, gives the
    tuple threads.numbers gives (the C reader hands it what it does not
    parse itself), with the same places as threads.NUMBERS."""
    from tidscope.proc import threads

    root, fd = tree
    write(root / "7", line)
    if sched is not None:
        (root / "7" / "schedstat").write_bytes(sched)
    expected = threads.numbers(line, 7, 7, None, sched)
    got = [
        n
        for batch in _procread.Walk(
            fd, [7], 0, False, None, threads.numbers, ("schedstat",), (256,), numbers=True
        )
        for n in batch
    ]
    assert got == ([expected] if expected is not None else [])
    if expected is not None:
        assert len(expected) == len(threads.NUMBERS)
        assert all(type(a) is type(b) for a, b in zip(got[0], expected, strict=True))


def test_the_numbers_form_reads_schedstat_or_nothing(tree: tuple[Path, int]) -> None:
    from tidscope.proc import threads

    _, fd = tree
    for files in (("status",), ("schedstat", "status")):
        with pytest.raises(ValueError, match="schedstat or no file"):
            _procread.Walk(fd, [1], 0, False, None, threads.numbers, files, (1,) * len(files),
                           numbers=True)  # fmt: skip


def test_the_numbers_of_real_threads_as_the_python_reader_reads_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Held raw threads read by the C reader and by the Python loop give
    the same tuples, with their owner when asked.  They do not run, so
    their figures stand still; a thread just made (or on a busy machine)
    may still run for a moment: the four readings are taken again until
    the two without the owner agree, with a deadline."""
    from helpers import wait_for

    from tidscope.proc import threads

    def four(tids: list[int]) -> list[list[Any]]:
        readings = []
        for reader in (_procread, None):
            monkeypatch.setattr(threads, "_procread", reader)
            with threads.Group(os.getpid(), "/proc") as group:
                group.check = reader is None  # the Python loop, checking each file
                for want_uid in (False, True):
                    got = {n[0]: n for _, batch in group.numbers(None, want_uid) for n in batch}
                    readings.append([got[tid] for tid in tids])
        return readings

    with Children(300) as kids:
        tids = list(kids.tids)

        def agreed() -> list[list[Any]] | None:
            r = four(tids)
            return r if r[0] == r[2] and r[1] == r[3] else None

        readings = wait_for("the same numbers from both readers", agreed, timeout=30)
        assert readings is not None
    assert [n[:12] + n[13:] for n in readings[1]] == [n[:12] + n[13:] for n in readings[3]]
    assert {n[12] for n in readings[1]} == {n[12] for n in readings[3]} == {os.geteuid()}
    assert {n[12] for n in readings[0]} == {n[12] for n in readings[2]} == {None}
    assert all(n[13] is not None for n in readings[0])


def numbers_walk(fd: int, ids: list[int], tgid: int) -> Any:
    from tidscope.proc import threads

    return _procread.Walk(
        fd, ids, tgid, False, None, threads.numbers, ("schedstat",), (256,),
        leader_own=True, numbers=True,
    )  # fmt: skip


def test_the_numbers_form_of_another_group_gives_each_thread_once(tree: tuple[Path, int]) -> None:
    """Another group's threads in the numbers form are read by this thread
    and the helper, chunk by chunk, in no set order: every thread there is
    comes once, those missing are left out."""
    root, fd = tree
    ids = list(range(1, 6 * _procread.BATCH + 7))
    for i in ids:
        if i % 11:
            write(root / str(i), FULL % (b"t%d" % i, b"0", b"1"))
            (root / str(i) / "schedstat").write_bytes(b"%d 0 %d\n" % (i, i))
    got = [n for batch in numbers_walk(fd, ids, 1) for n in batch]
    assert sorted(n[0] for n in got) == [i for i in ids if i % 11]
    assert all((n[13], n[14]) == (n[0], n[0]) for n in got)


def test_a_forked_child_reads_again_what_the_helper_of_a_split_walk_claimed(
    tree: tuple[Path, int],
) -> None:
    """fork() while the helper of a split walk reads: the child has no
    helper, so it reads that helper's chunks again itself and gives every
    thread, once; the parent gives them all too."""
    root, fd = tree
    ids = list(range(1, 12 * _procread.BATCH))
    for i in ids:
        write(root / str(i), FULL % (b"t%d" % i, b"0", b"1"))
    lost = []
    for _ in range(20):
        it = numbers_walk(fd, ids, 1)
        first = [n[0] for n in next(it)]  # the helper reads meanwhile
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            rest = [n[0] for batch in it for n in batch]
            del it
            os._exit(0 if sorted(first + rest) == ids else 1)
        _, status = os.waitpid(pid, 0)
        lost.append(os.waitstatus_to_exitcode(status))
        assert sorted(first + [n[0] for batch in it for n in batch]) == ids
    assert lost == [0] * 20
