"""``tidscope ps`` against procps ``ps``, row for row, on held raw threads."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import holding, one_error_line, pid_header, python, run, tidscope, wait_for

from tidscope.proc import snapshot
from tidscope.ps import columns
from tidscope.ps import layout as pslist

NAMES = ["a) b (c", "w) 9 9 9 9 9", "sp ace", "x"]

HOLDER = """
import contextlib, json, os, subprocess, sys
from tidscope.core import flags
from tidscope.core.clone import Children
names, kids, sleep = json.loads(sys.argv[1])
with contextlib.ExitStack() as stack:
    threads = stack.enter_context(Children(len(names), names=names)) if names else None
    procs = stack.enter_context(Children(len(kids), flags.PROCESS, names=kids)) if kids else None
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # the pipes are ours
    sleeper = subprocess.Popen(["sleep", "300"], **quiet) if sleep else None
    print(json.dumps({
        "pid": os.getpid(),
        "tids": threads.tids if threads else [],
        "kids": procs.tids if procs else [],
        "sleep": sleeper.pid if sleeper else None,
    }), flush=True)
    sys.stdin.read()
    if sleeper:
        sleeper.kill()
        sleeper.wait(60)
"""


def held(
    names: list[str] = NAMES, kids: list[str] | None = None, sleep: bool = False
) -> contextlib.AbstractContextManager[dict[str, Any]]:
    """A process holding raw threads (and raw child processes) until the block ends."""
    return holding(HOLDER, json.dumps([names, kids or [], sleep]))


def both(*args: str, user: bool = False) -> tuple[subprocess.CompletedProcess[str], ...]:
    """``tidscope ps ARGS`` and procps ``ps ARGS``, same environment."""
    return tidscope("ps", *args, user=user), run(["ps", *args], user=user)


def same(*args: str, user: bool = False) -> str:
    ours, theirs = both(*args, user=user)
    assert ours.stdout == theirs.stdout, f"\n{ours.stdout}---\n{theirs.stdout}{ours.stderr}"
    assert ours.returncode == theirs.returncode
    return ours.stdout


@pytest.fixture(scope="module")
def holder() -> Iterator[dict[str, Any]]:
    with held() as info:
        yield info


@pytest.mark.procps
def test_T_and_L_match_procps_for_held_threads(holder: dict[str, Any]) -> None:
    pid = str(holder["pid"])
    out = same("-T", "-p", pid)
    rows = [line.split(None, 4) for line in out.splitlines()[1:]]
    assert [int(r[1]) for r in rows] == [holder["pid"], *holder["tids"]]
    assert [r[4] for r in rows[1:]] == NAMES and {r[0] for r in rows} == {pid}
    same("-L", "-p", pid)
    same("-p", pid)


@pytest.mark.procps
def test_AT_rows_of_held_threads_match_procps(holder: dict[str, Any]) -> None:
    ours, theirs = both("-AT")
    assert ours.returncode == theirs.returncode == 0

    def mine(out: str) -> list[str]:
        head, *rows = out.splitlines()
        return [head] + [r for r in rows if r.split()[0] == str(holder["pid"])]

    assert mine(ours.stdout) == mine(theirs.stdout)
    assert len(mine(ours.stdout)) == 2 + len(NAMES)


LONG = "pid,tid,tgid,spid,lwp,ppid,nlwp,comm,ucmd,s,state,tty,tname,time,uid,user,cmd,args"


@pytest.mark.procps
def test_every_column_matches_procps(holder: dict[str, Any]) -> None:
    same("-T", "-o", LONG, "-p", str(holder["pid"]))
    same("-o", LONG, "-p", f"1,{holder['pid']}")
    same("-o", "pid,comm,nlwp,thcount,euid,euser,uname,command,ucomm,tt,cputime,times", "-p", "1")
    same("-o", "pid,stime,start_time,comm", "-p", f"1,2,{holder['pid']}")


@pytest.mark.procps
def test_kernel_threads_and_zombies_match_procps() -> None:
    kthreads = [t.tid for t in snapshot.processes() if t.ppid == 2][:3]
    same("-o", "pid,ppid,nlwp,comm,cmd,args,tty,user", "-p", ",".join(map(str, [2, *kthreads])))
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:

        def zombie() -> bool:
            task = snapshot.process(pid)
            return task is not None and task.state == "Z"

        wait_for(f"our forked child {pid} a zombie", zombie)
        out = same("-o", "pid,s,comm,cmd,args", "-p", str(pid))
        assert "<defunct>" in out
        same("-T", "-p", str(pid))
    finally:
        os.waitpid(pid, 0)


@pytest.mark.procps
def test_terminals_are_named_as_procps_names_them() -> None:
    script = subprocess.Popen(
        ["script", "-qfc", "sleep 60", "/dev/null"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:

        def sleeping_on_a_tty() -> list[Any]:
            kids = [t for t in snapshot.processes() if t.name == "sleep" and t.tty_nr]
            sleeper = [t for t in kids if snapshot.process(t.ppid) is not None]
            return [t for t in sleeper if _ancestor(t.ppid, script.pid)]

        found = wait_for("script(1) giving sleep a terminal", sleeping_on_a_tty)
        out = same("-o", "pid,tty,tname,tt,comm", "-p", str(found[0].tid))
        assert re.search(r"pts/\d+", out)
        same("-p", str(found[0].tid))
    finally:
        script.kill()
        script.wait(60)


def _ancestor(pid: int, ancestor: int) -> bool:
    for _ in range(10):
        if pid == ancestor:
            return True
        task = snapshot.process(pid)
        if task is None:
            return False
        pid = task.ppid
    return False


@pytest.mark.root  # unshare --pid --mount-proc
@pytest.mark.procps
def test_another_pid_namespace_as_procps_sees_it() -> None:
    args = "-o pid,ppid,nlwp,comm,args -p 1,$S"
    cmd = f"sleep 30 & S=$!; {sys.executable} -m tidscope ps {args}; ps {args}; kill $S"
    proc = run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", cmd])
    lines = proc.stdout.splitlines()
    assert len(lines) == 6 and lines[:3] == lines[3:], proc.stdout + proc.stderr
    assert lines[1].split()[:3] == ["1", "0", "1"] and lines[2].split()[:2] == ["2", "1"]


@pytest.mark.procps
def test_layout_when_cells_overflow() -> None:
    long_comms = [t.tid for t in snapshot.processes() if t.ppid == 2 and len(t.name) > 15]
    pids = ",".join(map(str, [1, *long_comms[:3]]))
    same("-o", "comm,pid,tty,user", "-p", pids)  # comm cut to 15 in the middle
    same("-o", "user:3,pid,comm:4,s", "-p", pids)  # widths: USER gets a +
    same("-o", "pid:3,comm=NAME:4,nlwp", "-p", "1")
    same("-o", "pid=X,comm", "-p", "1")
    same("-o", "pid,comm=", "-p", "1")
    same("-o", "pid=,comm=", "-p", "1")
    same("-o", "pid", "-o", "comm", "-p", "1")
    same("-o", "pid comm,", "-p", "1")
    same("-o", "comm:200,pid", "-p", pids)  # procps pads at most 144 spaces at once
    same("-o", "pid:80,comm:80,tty", "-p", pids)


@pytest.mark.procps
@pytest.mark.parametrize("size", ["rows 20 cols 50", "rows 0 cols 50"])
def test_a_terminal_cuts_the_last_column_as_procps_does(size: str) -> None:
    args = "-o pid,user,args -p 1,2"
    cmd = f"stty {size}; ps {args}; {sys.executable} -m tidscope ps {args}"
    proc = run(["script", "-qc", cmd, "/dev/null"], env={"COLUMNS": ""})
    lines = proc.stdout.splitlines()
    assert len(lines) == 6 and lines[:3] == lines[3:], proc.stdout
    assert len(lines[1].rstrip("\r")) == (50 if "rows 20" in size else 80)


def test_pid_width_is_the_digits_of_pid_max() -> None:
    with open("/proc/sys/kernel/pid_max") as f:
        width = len(f.read().strip())
    (col,) = columns.parse_format(["pid"], width)
    assert col.width == max(width, 3)
    assert pslist.Layout(columns.parse_format(["pid,tid"], 7)).header() == "    PID     TID"


@pytest.mark.procps
def test_no_such_pid_prints_the_header_and_fails_like_procps() -> None:
    assert same("-p", "999999999") == pid_header() + " TTY          TIME CMD\n"
    assert same("-p", "999999999", "--no-headers") == ""
    with held(["t1"]) as info:
        same("-p", str(info["tids"][0]))  # a thread id is no process id
        same("-T", "-p", str(info["tids"][0]))


def test_tid_selects_tasks() -> None:
    with held(["t1", "t2"]) as info:
        tid = info["tids"][1]
        proc = tidscope("ps", "--tid", str(tid))
        assert proc.returncode == 0, proc.stderr
        head, row = proc.stdout.splitlines()
        assert head.split() == ["PID", "SPID", "TTY", "TIME", "CMD"]
        assert row.split() == [str(info["pid"]), str(tid), "?", "00:00:00", "t2"]
        both_ = tidscope("ps", "-L", "--tid", f"{tid},{info['pid']}", "-p", str(info["pid"]))
        assert len(both_.stdout.splitlines()) == 4  # each task once
    assert tidscope("ps", "--tid", str(tid)).returncode == 1


def test_bad_input_is_one_line_and_exit_2() -> None:
    proc = tidscope("ps", "-o", "pid,bogus")
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert "'bogus'" in line and "pid" in line and "nlwp" in line
    for args in (["-p", "abc"], ["--tid", "1x"], ["-T", "-L"], ["-o", ",pid"], ["-o", "pid:0"]):
        proc = tidscope("ps", *args)
        assert proc.returncode == 2, args
        one_error_line(proc)
    proc = tidscope("ps", "--proc-root", "/nonexistent")
    assert proc.returncode == 1 and "--proc-root" in one_error_line(proc)


KEYS: dict[str, type | tuple[type, ...]] = {
    "pid": int,
    "tid": int,
    "ppid": int,
    "nlwp": int,
    "comm": str,
    "state": str,
    "tty": (str, type(None)),
    "time": float,
    "uid": int,
    "user": str,
    "args": str,
}


def _user_name(uid: int) -> str:
    """The name ps shows for ``uid`` (its number when it has none)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def test_json_has_the_documented_shape(holder: dict[str, Any]) -> None:
    proc = tidscope("ps", "-T", "-p", str(holder["pid"]), "--format", "json", "-o", ",".join(KEYS))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert isinstance(rows, list) and len(rows) == 1 + len(NAMES)
    for row in rows:
        assert list(row) == list(KEYS)
        for key, kind in KEYS.items():
            assert isinstance(row[key], kind), (key, row[key])
        assert row["pid"] == holder["pid"] and row["uid"] == os.geteuid()
        assert row["user"] == _user_name(os.geteuid())
    assert [r["comm"] for r in rows[1:]] == NAMES
    assert [r["tid"] for r in rows] == [holder["pid"], *holder["tids"]]
    default = json.loads(tidscope("ps", "--format", "json", "-p", "1").stdout)
    assert list(default[0]) == ["pid", "tty", "time", "comm"] and default[0]["tty"] is None
    threads = json.loads(tidscope("ps", "-T", "--format", "json", "-p", "1").stdout)
    assert list(threads[0]) == ["pid", "tid", "tty", "time", "comm"]


def test_csv(holder: dict[str, Any]) -> None:
    proc = tidscope("ps", "-T", "-p", str(holder["pid"]), "--format", "csv", "-o", "pid,tid,comm")
    head, *rows = proc.stdout.splitlines()
    assert head == "pid,tid,comm" and len(rows) == 1 + len(NAMES)
    assert rows[1] == f"{holder['pid']},{holder['tids'][0]},a) b (c"
    bare = tidscope("ps", "-p", "1", "--format", "csv", "--no-headers").stdout
    assert bare.startswith("1,,")


@pytest.mark.procps
def test_unprivileged_reads_what_it_may(holder: dict[str, Any]) -> None:
    user = os.geteuid() == 0  # root drops to nobody; others are unprivileged already
    proc = tidscope("ps", "-AT", "-o", "pid,tid,user,comm,args", user=user)
    assert proc.returncode == 0, proc.stderr
    pids = {line.split()[0] for line in proc.stdout.splitlines()[1:]}
    assert {"1", str(holder["pid"])} <= pids
    same("-T", "-o", "pid,tid,user,comm,args,tty,time", "-p", f"1,{holder['pid']}", user=user)


SHOWN = {"1": "noaccess", "2": "invisible"}  # how mountinfo names them


@pytest.mark.root  # mounts a proc with hidepid, setpriv to nobody
@pytest.mark.parametrize("hidepid", ["1", "2"])
def test_hidepid_shows_only_our_own(hidepid: str) -> None:
    where = tempfile.mkdtemp(prefix="tidscope-proc-")
    os.chmod(where, 0o755)
    nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups --"
    me = f"{nobody} {sys.executable} -m tidscope"
    script = (
        f"mount -t proc -o hidepid={hidepid} proc {where} && "
        f"{me} ps -AT -o pid,tid,user,comm --proc-root {where} && "
        f"{me} tree --format json --proc-root {where}"
    )
    try:
        # a pid namespace of its own: the proc mounted shows only the tasks
        # of this test (another copy of the suite runs commands as nobody too)
        unshare = ["unshare", "--mount", "--propagation", "private", "--pid", "--fork"]
        proc = run([*unshare, "sh", "-c", script])
    finally:
        shutil.rmtree(where, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    notes = proc.stderr.splitlines()
    assert notes == [
        f"tidscope {cmd}: note: {where} is mounted with hidepid={SHOWN[hidepid]}: only the "
        "processes you may look into are shown"
        for cmd in ("ps", "tree")
    ]
    table, trees = proc.stdout.split("\n[", 1)
    users = {line.split()[2] for line in table.splitlines()[1:]}
    assert users == {"nobody"}
    assert all(r["name"] == "python" for r in json.loads("[" + trees))


def test_the_ps_path_imports_neither_psutil_nor_tabulate() -> None:
    loaded = python(
        """
        import json, sys
        from tidscope.cli import main
        assert main(["ps", "-p", "1", "-o", "pid,user,tty,args"]) == 0
        print(json.dumps(sorted(m for m in ("psutil", "tabulate", "tidscope.core.clone")
                                if m in sys.modules)))
        """
    )
    assert loaded == []
