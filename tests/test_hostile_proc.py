"""A /proc that is not what we expect: ``--proc-root`` at a hand-built tree.

FIFOs, devices, sockets, symlink loops and directories where files should
be; endless files; numbers the kernel never writes; parent chains 8,000
deep and parent cycles; entries named with digits that are not ASCII.
Every case: no traceback, no hang (a subprocess timeout, never a timed
assertion), the documented exit status, one line on stderr naming the
problem (and the fix), and the right output for what could be read.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import one_error_line, run, tidscope
from test_procfs import FakeProc, stat_line

from tidscope.numeric import entry_id, entry_ids, kernel_ints
from tidscope.proc import files, snapshot
from tidscope.proc import root as proc_root
from tidscope.proc import task as proc_task
from tidscope.tree import hierarchy as tree

TIMEOUT = 30  # seconds: a hang fails the test instead of stalling the suite

# stat fields after the name, counted from 0 (state), as proc(5) numbers them minus 3
PPID, TTY_NR, UTIME, STIME, NLWP, STARTTIME = 1, 4, 11, 12, 17, 19


def forged(pid: int, name: str, fields: dict[str, str]) -> bytes:
    """A stat line with some fields (by the names above, lower case) replaced."""
    line = stat_line(pid, name, 1).decode()
    head, _, tail = line.rpartition(") ")
    words = tail.rstrip("\n").split(" ")
    for key, value in fields.items():
        words[globals()[key.upper()]] = value
    return f"{head}) {' '.join(words)}\n".encode()


def ps(root: Path, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return tidscope("ps", "--proc-root", str(root), *args, timeout=TIMEOUT, **kw)  # type: ignore[arg-type]


def tree_(root: Path, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return tidscope("tree", "--proc-root", str(root), *args, timeout=TIMEOUT, **kw)  # type: ignore[arg-type]


def pids(proc: subprocess.CompletedProcess[str]) -> list[int]:
    """The PID column of a ps table (after its header)."""
    return [int(line.split()[0]) for line in proc.stdout.splitlines()[1:]]


@pytest.fixture
def shared_root() -> Iterator[Path]:
    """A place for a fake root that nobody (uid 65534) may walk into too."""
    where = Path(tempfile.mkdtemp(prefix="tidscope-proc-"))
    os.chmod(where, 0o755)
    try:
        yield where / "proc"
    finally:
        shutil.rmtree(where, ignore_errors=True)


@pytest.fixture
def fake(shared_root: Path) -> FakeProc:
    """init (1), a process with a thread (100, 101) and a sleeper (200)."""
    proc = FakeProc(shared_root)
    proc.process(1, "init", 0)
    proc.process(100, "holder", 1, {101: "worker"})
    proc.process(200, "sleeper", 1)
    (shared_root / "stat").write_text("cpu 0 0 0 0\nbtime 1700000000\n")
    return proc


def clean_run(proc: subprocess.CompletedProcess[str], code: int = 0) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr


# -- what is not a regular file -------------------------------------------------


def fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def hold_open(paths: list[Path], hold: bool) -> list[int]:
    """With ``hold``, a writer that never writes on each FIFO: a blocking
    read would then wait forever, not just see end of file.  (O_RDWR opens
    a FIFO without waiting for a reader.)"""
    return [os.open(p, os.O_RDWR | os.O_NONBLOCK) for p in paths] if hold else []


@pytest.mark.parametrize("hold", [False, True], ids=["no-writer", "silent-writer"])
@pytest.mark.parametrize(
    "where, args, expect",
    [
        ("200/stat", ("ps",), [1, 100]),
        ("101/stat", ("ps", "-T"), [1, 100, 200]),  # task/101/stat, below
        ("200/cmdline", ("ps", "-o", "pid,args"), [1, 100, 200]),
        ("200/status", ("ps", "-p", "200"), []),
        ("sys/kernel/pid_max", ("ps",), [1, 100, 200]),
        ("tty/drivers", ("ps", "-o", "pid,tty"), [1, 100, 200]),
        ("stat", ("ps", "-o", "pid,stime,start_time"), [1, 100, 200]),
        ("self/mountinfo", ("ps",), [1, 100, 200]),
    ],
)
def test_a_fifo_reads_as_unreadable_and_never_hangs(
    fake: FakeProc, where: str, args: tuple[str, ...], expect: list[int], hold: bool
) -> None:
    root = fake.root
    for path in [root / "200" / "cmdline", root / "tty" / "drivers"]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    (root / "200" / "cmdline").write_bytes(b"sleep\x00100\x00")
    pts0 = forged(200, "sleeper", {"tty_nr": str(136 << 8)})  # so tty/drivers is read
    (root / "200" / "stat").write_bytes(pts0)
    target = root / ("100/task/101/stat" if where == "101/stat" else where)
    fifo(target)
    fds = hold_open([target], hold)
    try:
        proc = tidscope(args[0], "--proc-root", str(root), *args[1:], timeout=TIMEOUT)
        if where == "self/mountinfo":  # read only for an unprivileged user
            # (root drops to nobody for it; another user is unprivileged already)
            nobody = os.geteuid() == 0
            proc2 = tidscope("ps", "--proc-root", str(root), timeout=TIMEOUT, user=nobody)
            clean_run(proc2)
    finally:
        for fd in fds:
            os.close(fd)
    code = 1 if where == "200/status" else 0  # -p 200: its status says nothing
    if where == "stat":  # no boot time, so no start date: an error, as procps's
        clean_run(proc, 1)
        assert proc.stdout == "" and f"{root}/stat: no boot time" in one_error_line(proc)
        return
    clean_run(proc, code)
    rows = proc.stdout.splitlines()
    assert sorted({int(r.split()[0]) for r in rows[1:]}) == expect
    if where == "sys/kernel/pid_max":
        assert rows[0].startswith("  PID ")  # procps's width when pid_max is unreadable
    if where == "200/cmdline":
        assert rows[-1].split() == ["200", "[sleeper]"]
    if where == "200/status":
        assert "no process 200" in one_error_line(proc)
    if where == "101/stat":
        assert "101" not in [r.split()[1] for r in rows[1:]]


@pytest.mark.parametrize("kind", ["fifo", "directory", "socket", "loop", "chardev", "dev-zero"])
def test_anything_but_a_file_is_left_out(fake: FakeProc, kind: str) -> None:
    stat = fake.root / "200" / "stat"
    stat.unlink()
    sock = None
    if kind == "fifo":
        os.mkfifo(stat)
    elif kind == "directory":
        stat.mkdir()
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(stat))
    elif kind == "loop":
        stat.symlink_to("stat")
    elif kind == "chardev":
        stat.symlink_to("/dev/null")
    else:
        stat.symlink_to("/dev/zero")
    try:
        for args in [(), ("-T",), ("-o", "pid,args,user,stime")]:
            proc = ps(fake.root, *args)
            clean_run(proc)
            assert 200 not in pids(proc) and 100 in pids(proc)
        proc = tree_(fake.root, "--format", "json")
        clean_run(proc)
        assert [c["pid"] for c in json.loads(proc.stdout)[0]["children"]] == [100]
    finally:
        if sock is not None:
            sock.close()


def test_endless_files_are_read_to_a_cap(fake: FakeProc) -> None:
    """cmdline and status pointing at /dev/zero: a MemoryError before."""
    for name in ("cmdline", "status"):
        (fake.root / "200" / name).unlink(missing_ok=True)
        (fake.root / "200" / name).symlink_to("/dev/zero")
    (fake.root / "100" / "cmdline").write_bytes(b"x" * (1 << 20) + b"\0y\0")
    proc = ps(fake.root, "-o", "pid,args", "--format", "json")
    clean_run(proc)
    rows = {r["pid"]: r["args"] for r in json.loads(proc.stdout)}
    assert rows[200] == "[sleeper]"  # a device is no command line
    assert rows[100] == "x" * files.CMDLINE_MAX  # procps's cap: 128 KiB
    proc = ps(fake.root, "-p", "200")  # -p reads status: a device is no status
    clean_run(proc, 1)
    assert "no process 200" in one_error_line(proc)


def test_reads_are_capped_on_the_kernels_own_files_too() -> None:
    data = files.read_all("/dev/zero", limit=files.CMDLINE_MAX, check=False)
    assert data == b"\0" * files.CMDLINE_MAX
    assert files.read_all("/dev/zero") is None  # checked: no regular file
    assert files.read("/dev/zero") is None
    assert files.read("/proc/self/stat") is not None


def test_only_a_proc_mount_is_trusted(tmp_path: Path) -> None:
    assert proc_root.is_proc_mount("/proc") and proc_root.is_proc_mount("/proc/")
    assert not proc_root.is_proc_mount(str(tmp_path))
    assert not proc_root.is_proc_mount("/proc/self")
    assert proc_root.mounts(b"1 2 0:1 / /a\\040b\\134c rw - proc proc rw,hidepid=2\n") == [
        ("/a b\\c", "proc", ["rw", "hidepid=2"])
    ]


# -- numbers the kernel never writes ----------------------------------------------


GARBLED = {
    "negative-tty": {"tty_nr": "-5000000000"},
    "huge-tty": {"tty_nr": "4294967296"},
    "huge-starttime": {"starttime": str(1 << 64)},
    "negative-starttime": {"starttime": "-1"},
    "negative-ppid": {"ppid": "-2"},
    "huge-ppid": {"ppid": "2147483648"},
    "underscore": {"utime": "1_0"},
    "plus": {"stime": "+5"},
    "arabic-indic": {"nlwp": "\u0663"},
    "superscript": {"starttime": "\u00b2"},
    "tab": {"ppid": "\t1"},
    "empty": {"utime": ""},
}


@pytest.mark.parametrize("fields", GARBLED.values(), ids=GARBLED.keys())
def test_a_garbled_stat_line_is_no_task(fake: FakeProc, fields: dict[str, str]) -> None:
    line = forged(200, "sleeper", fields)
    assert proc_task.parse_stat(line, 200, 200) is None
    (fake.root / "200" / "stat").write_bytes(line)
    (fake.root / "200" / "task" / "200" / "stat").write_bytes(line)
    columns = "pid,ppid,tty,time,stime,nlwp,args"
    for args in [("-o", columns), ("-T", "-o", columns), ("-o", columns, "--format", "json")]:
        proc = ps(fake.root, *args)
        clean_run(proc)
        assert "200" not in proc.stdout.split() and '"pid": 200' not in proc.stdout
    proc = tree_(fake.root)
    clean_run(proc)
    assert "sleeper" not in proc.stdout and "holder" in proc.stdout


def test_numbers_at_the_edge_of_their_types_are_shown(fake: FakeProc) -> None:
    """A negative tty_nr is a 32-bit device number (no terminal here), and a
    start a billion years after boot is still a date."""
    line = forged(200, "sleeper", {"tty_nr": "-1", "starttime": str(proc_task.START_MAX - 1)})
    task = proc_task.parse_stat(line, 200, 200)
    assert task is not None and task.tty_nr == 0xFFFFFFFF
    (fake.root / "200" / "stat").write_bytes(line)
    proc = ps(fake.root, "-o", "pid,tty,start_time", "--format", "json")
    clean_run(proc)
    (row,) = [r for r in json.loads(proc.stdout) if r["pid"] == 200]
    assert row["tty"] is None and row["start"] > 10**16
    clean_run(ps(fake.root, "-o", "pid,tty,stime,start_time"))
    (fake.root / "stat").write_text(f"btime {1 << 60}\n")  # no boot time a clock can hold
    proc = ps(fake.root, "-o", "pid,stime")  # no start date made up from it: an error
    clean_run(proc, 1)
    assert proc.stdout == "" and f"{fake.root}/stat: no boot time" in one_error_line(proc)
    clean_run(ps(fake.root, "-o", "pid,start_time", "--format", "json"), 1)
    clean_run(ps(fake.root, "-o", "pid,tty,etimes"))  # what needs no boot time still prints


def test_numbers_are_ascii_decimals() -> None:
    assert [entry_id(n) for n in ["1", "42", "2147483647"]] == [1, 42, 2147483647]
    for name in ["\u00b2", "\u0661", "007", "0", "2147483648", "self", "", "+1", " 1", "1_0"]:
        assert entry_id(name) is None, name
    assert entry_ids(["1", "2", "03"]) == [1, 2, None]
    assert entry_ids(["1", "\u00b2"]) == [1, None]
    assert kernel_ints(b"-1", b"0", b"12") == (-1, 0, 12)
    for bad in [b"+1", b"1_0", b"\t1", b"", b"1-2", b"--1", b"\xd9\xa1"]:
        assert kernel_ints(bad) is None, bad


def test_entries_named_with_other_digits_are_no_pids(fake: FakeProc) -> None:
    """``²`` is a digit to Python (``str.isdigit``): not to the kernel."""
    for name in ["\u00b2", "\u0661\u0662", "007"]:
        (fake.root / name).mkdir()
        (fake.root / name / "stat").write_bytes(stat_line(7, "impostor", 1))
    (fake.root / "100" / "task" / "\u00b3").mkdir()
    (fake.root / "100" / "task" / "\u00b3" / "stat").write_bytes(stat_line(3, "impostor", 1))
    arabic = "".join(chr(0x660 + int(d)) for d in "4194304")  # 4194304 in Arabic-Indic
    (fake.root / "sys" / "kernel" / "pid_max").write_text(arabic + "\n")
    (fake.root / "tty").mkdir()
    drivers = f"pty /dev/pts {arabic[:3]} 0-1048575 pty:slave\n"
    (fake.root / "tty" / "drivers").write_text(drivers)
    for args in [(), ("-T",), ("-o", "pid,tty,comm")]:
        proc = ps(fake.root, *args)
        clean_run(proc)
        assert "impostor" not in proc.stdout and proc.stdout.startswith("  PID ")
    assert pids(ps(fake.root)) == [1, 100, 200]
    proc = tree_(fake.root)
    clean_run(proc)
    assert "impostor" not in proc.stdout
    proc = tree_(fake.root, "-u", "\u00b2")
    clean_run(proc, 2)
    assert "no user '\u00b2'" in one_error_line(proc)
    proc = tree_(fake.root, "\u0661")
    clean_run(proc, 2)
    assert "'\u0661' is not a valid integer" in proc.stderr


# -- deep chains, cycles, nothing readable ----------------------------------------


CHAIN = 8000


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Processes 2..8001, each the child of the one before; pid 1 not visible."""
    root = tmp_path_factory.mktemp("chain")
    fake = FakeProc(root)
    for pid in range(2, CHAIN + 2):
        fake.process(pid, f"p{pid}", pid - 1)
    return root


def compact_chain(threads: bool) -> str:
    """The chain as JSON without whitespace, built without recursion."""
    thread = '"threads":[],' if threads else ""
    opens = "".join(
        f'{{"pid":{p},"ppid":{p - 1},"name":"p{p}",{thread}"children":['
        for p in range(2, CHAIN + 2)
    )
    return "[" + opens + "]}" * CHAIN + "]"


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["text", "table", "json", "csv", "dot"])
def test_an_8000_deep_chain_in_every_format(chain: Path, fmt: str) -> None:
    proc = tree_(chain, "--format", fmt, "--ascii")
    clean_run(proc)
    out = proc.stdout
    assert len(out) < CHAIN * 2000  # linear: quadratic would be hundreds of MB
    lines = out.splitlines()
    if fmt == "json":
        assert "".join(out.split()) == compact_chain(threads=True)
    elif fmt in ("table", "csv"):
        rows = [r.replace(",", " ").split() for r in lines[1:]]
        assert [int(r[0]) for r in rows] == list(range(CHAIN))  # depth
        assert [int(r[2]) for r in rows] == list(range(2, CHAIN + 2))  # pid
    elif fmt == "dot":
        edges = [ln for ln in lines if "->" in ln]
        assert edges == [f"  p{p - 1} -> p{p};" for p in range(3, CHAIN + 2)]
    else:
        depth = tree.DEPTH
        assert max(map(len, lines)) <= 4 * depth + 40
        assert lines[0] == "2 p2"
        cut = f"`-- {depth + 2} p{depth + 2} [continued below]"
        assert lines[depth] == " " * 4 * (depth - 1) + cut
        assert lines[depth + 1] == f"{depth + 2} p{depth + 2} [continued]"
        shown = [int(ln.split("-- ")[-1].split()[0]) for ln in lines if "-- " in ln]
        assert shown == list(range(3, CHAIN + 2))  # each once, in order, every one
    proc = tree_(chain, "--format", "json", "--no-threads")
    assert "".join(proc.stdout.split()) == compact_chain(threads=False)


def test_a_deep_chain_as_a_library(chain: Path) -> None:
    forest = tree.read_forest(str(chain))
    assert forest.tops == [2] and forest.cycles == []
    assert sum(1 for _ in tree.rows(forest, [2])) == CHAIN


def cycle_root(tmp_path: Path, with_init: bool) -> FakeProc:
    fake = FakeProc(tmp_path)
    if with_init:
        fake.process(1, "init", 0)
        fake.process(3, "daemon", 1)
    fake.process(5, "five", 6)
    fake.process(6, "six", 5, {60: "six-thread"})
    fake.process(7, "seven", 6)
    fake.process(8, "eight", 8)  # its own parent: a root, no cycle
    return fake


@pytest.mark.parametrize("with_init", [False, True], ids=["alone", "beside-init"])
def test_a_parent_cycle_is_drawn_from_its_lowest_pid(tmp_path: Path, with_init: bool) -> None:
    fake = cycle_root(tmp_path, with_init)
    proc = tree_(fake.root, "--ascii")
    clean_run(proc)
    note = one_error_line(proc)
    assert note == (
        "tidscope tree: note: parent cycles (each pid's parent is its child: 5 -> 6 -> 5):"
        " each is drawn from its lowest pid"
    )
    cycle = ["5 five", "`-- 6 six", "    |-- 60 {six-thread} thread of 6", "    `-- 7 seven"]
    if with_init:
        assert proc.stdout.splitlines() == ["1 init", "`-- 3 daemon", *cycle]
    else:
        assert proc.stdout.splitlines() == [*cycle, "8 eight"]
    proc = tree_(fake.root, "--format", "json")
    clean_run(proc)
    (five,) = [t for t in json.loads(proc.stdout) if t["pid"] == 5]
    assert [c["pid"] for c in five["children"]] == [6]
    assert [c["pid"] for c in five["children"][0]["children"]] == [7]
    proc = tree_(fake.root, "6", "--format", "csv")  # a tree asked for: no note
    clean_run(proc)
    assert proc.stderr == "" and [r.split(",")[2] for r in proc.stdout.splitlines()[1:]] == [
        "6",
        "6",
        "7",
    ]
    proc = ps(fake.root, "-o", "pid,ppid")
    clean_run(proc)
    assert ["5", "6"] in [r.split() for r in proc.stdout.splitlines()]


def garble_all(root: Path) -> None:
    for stat in root.glob("[0-9]*/stat"):
        stat.write_bytes(b"this is no stat line\n")
    for stat in root.glob("[0-9]*/task/*/stat"):
        stat.write_bytes(b"")


@pytest.mark.parametrize(
    "args", [("ps",), ("ps", "-T"), ("ps", "--format", "json"), ("tree",), ("tree", "-u", "0")]
)
def test_nothing_readable_says_what_and_how(fake: FakeProc, args: tuple[str, ...]) -> None:
    garble_all(fake.root)
    fifo(fake.root / "200" / "stat")
    root = fake.root
    proc = tidscope(args[0], "--proc-root", str(root), *args[1:], timeout=TIMEOUT)
    clean_run(proc, 1)
    line = one_error_line(proc)
    assert line == (
        f"tidscope {args[0]}: no task in {root} could be read (3 entries):"
        f" {root}/1/stat is not a stat line (and 1 more); {root}/200/stat is a FIFO:"
        " point --proc-root at a proc mount"
    )
    # ps prints its header alone, as procps does when nothing matched
    assert proc.stdout in ("", "[]\n") or len(proc.stdout.splitlines()) == 1


def test_nothing_readable_as_nobody(shared_root: Path) -> None:
    """Root's files of mode 0600 read as nobody; as another user, its own
    files of mode 0 (which only root may read)."""
    root = os.geteuid() == 0
    fake = FakeProc(shared_root)
    fake.process(1, "init", 0)
    fake.process(100, "holder", 1)
    for path in [shared_root, *shared_root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o600 if root else 0)
    for cmd in ("ps", "tree"):
        proc = tidscope(cmd, "--proc-root", str(shared_root), timeout=TIMEOUT, user=root)
        clean_run(proc, 1)
        line = one_error_line(proc)
        assert f"{shared_root}/1/stat cannot be read (EACCES) (and 1 more)" in line
        assert line.endswith(": point --proc-root at a proc mount")


def test_a_task_directory_that_is_not_one(fake: FakeProc) -> None:
    shutil.rmtree(fake.root / "200" / "task")
    fifo(fake.root / "200" / "task")
    (fake.root / "100" / "task").rename(fake.root / "100" / "elsewhere")
    (fake.root / "100" / "task").symlink_to("task")  # a loop
    proc = ps(fake.root, "-T")
    clean_run(proc)
    assert pids(proc) == [1]


# -- users and hidden processes ---------------------------------------------------


def pstree_roots(user: str) -> list[int]:
    """The pids ``pstree -p USER`` starts a tree at (lines starting in column 0)."""
    proc = run(["pstree", "-p", "-A", user])
    assert proc.returncode == 0, proc.stderr
    return [
        int(line.split("(", 1)[1].split(")", 1)[0])
        for line in proc.stdout.splitlines()
        if line and line[0] not in " |`"
    ]


def test_user_trees_leave_kernel_threads_out_as_pstree_does() -> None:
    proc = tidscope("tree", "-u", "root", "--format", "json", "--no-threads", timeout=TIMEOUT)
    clean_run(proc)
    ours = [t["pid"] for t in json.loads(proc.stdout)]
    assert 2 not in ours  # kthreadd
    assert ours[:1] == pstree_roots("root")[:1] == [1]
    assert not any(t["ppid"] == 2 for t in json.loads(proc.stdout))


@pytest.mark.root  # chown to another uid
def test_user_trees_on_a_fake_root(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    fake.process(1, "init", 0)
    fake.process(2, "kthreadd", 0)
    fake.process(3, "kworker", 2)
    fake.process(10, "login", 1)
    fake.process(11, "shell", 10)
    fake.process(12, "editor", 11)
    for pid in (1, 2, 3, 10, 12):
        os.chown(tmp_path / str(pid), 12345, 12345)
    proc = tree_(tmp_path, "-u", "12345", "--format", "json", "--no-threads")
    clean_run(proc)
    # 1's tree holds the others; kthreadd's is no user's; 12 is under 11 (not 12345's)
    assert [t["pid"] for t in json.loads(proc.stdout)] == [1]
    proc = tree_(tmp_path, "-u", str(os.getuid()), "--format", "json", "--no-threads")
    clean_run(proc)
    assert [t["pid"] for t in json.loads(proc.stdout)] == [11]


@pytest.mark.root  # mounts a proc with hidepid, setpriv to nobody
def test_tree_of_a_hidden_process_says_hidepid() -> None:
    where = tempfile.mkdtemp(prefix="tidscope-proc-")
    os.chmod(where, 0o755)
    me = f"setpriv --reuid=65534 --regid=65534 --clear-groups -- {sys.executable} -m tidscope"
    script = (
        f"mount -t proc -o hidepid=2 proc {where} && "
        f"{me} tree 1 --proc-root {where}; echo tree=$?; "
        f"{me} ps -p 1 --proc-root {where}; echo ps=$?"
    )
    try:
        proc = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
    finally:
        shutil.rmtree(where, ignore_errors=True)
    assert "tree=1" in proc.stdout and "ps=1" in proc.stdout, proc.stderr
    assert "Traceback" not in proc.stderr
    note = "is mounted with hidepid=invisible: only the processes you may look into are shown"
    lines = proc.stderr.splitlines()
    assert lines == [
        f"tidscope tree: note: {where} {note}",
        "tidscope tree: no process 1: see tidscope ps for the processes there are",
        f"tidscope ps: note: {where} {note}",
        lines[3],
    ]
    assert lines[3].startswith("tidscope ps: no process 1: ")


def test_the_snapshot_api_skips_what_it_cannot_use(fake: FakeProc) -> None:
    fifo(fake.root / "200" / "stat")
    root = str(fake.root)
    assert [t.tgid for t in snapshot.processes(root)] == [1, 100]
    assert [t.tid for t in snapshot.tasks(root, snapshot.EXTRAS)] == [1, 100, 101]
    assert snapshot.process(200, root) is None and snapshot.process(100, root) is not None


def test_the_kernels_files_read_alike_checked_or_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proc mount skips the checks (its files are the kernel's): the same
    tasks come out as when every file and number is checked."""

    def seen() -> list[tuple[int, int, int, str, int, int]]:
        return [(t.tgid, t.tid, t.ppid, t.name, t.tty_nr, t.nlwp) for t in snapshot.group(1)]

    assert proc_root.is_proc_mount(files.PROC)
    trusted = seen()
    monkeypatch.setitem(proc_root._PROC_MOUNTS, files.PROC, False)
    assert not proc_root.is_proc_mount(files.PROC)
    assert seen() == trusted and trusted
    line = stat_line(5, "x", 1)
    assert proc_task.parse_stat(line, 5, 5, check=False) is not None
    assert proc_task.parse_stat(forged(5, "x", {"stime": "+5"}), 5, 5, check=False) is not None


def test_tree_of_a_process_that_cannot_be_read_says_why(fake: FakeProc) -> None:
    (fake.root / "200" / "stat").write_bytes(forged(200, "sleeper", {"utime": "1_0"}))
    proc = tree_(fake.root, "200")
    clean_run(proc, 1)
    assert one_error_line(proc) == (
        f"tidscope tree: process 200 could not be read: {fake.root}/200/stat is not a stat line"
    )
    proc = tree_(fake.root, "300")
    clean_run(proc, 1)
    assert "no process 300" in one_error_line(proc)


@pytest.mark.parametrize("args", [("-p", "200"), ("-T", "-p", "200")])
def test_ps_of_a_process_that_cannot_be_read_says_why(
    fake: FakeProc, args: tuple[str, ...]
) -> None:
    stat = fake.root / "200" / "stat"
    stat.unlink()
    os.mkfifo(stat)
    proc = ps(fake.root, *args)
    clean_run(proc, 1)
    assert one_error_line(proc) == (
        f"tidscope ps: process 200 could not be read: {stat} is a FIFO:"
        " point --proc-root at a proc mount"
    )
    proc = ps(fake.root, "-p", "300")
    clean_run(proc, 1)
    assert "no process 300" in one_error_line(proc)
