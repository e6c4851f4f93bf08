"""procps's selections: ``-u``/``-U``, ``-g``/``-G``, ``-C``, ``--ppid``,
``-t``, ``-s``, ``-q`` and their union, against the installed ``ps``; bad
values as one line naming the fix, exit status 2."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import as_uid, one_error_line, pid_header, run, tidscope, unused_uid, wait_for
from pscompare import same, same_rows
from test_ps import _ancestor, held

from tidscope.proc import snapshot

# Names no other holder has, not even this module's in another worker or in
# a second copy of the suite: a name selection (-C) matches every task of
# that name on the machine.
TOKEN = uuid.uuid4().hex[:6]
THREAD, ODD, KID = f"t1-{TOKEN}", f"odd){TOKEN}", f"kid-{TOKEN}"


@pytest.fixture(scope="module")
def family() -> Iterator[dict[str, Any]]:
    with held([THREAD, ODD], kids=["kid) one", KID], sleep=True) as info:
        yield info


@pytest.fixture(scope="module")
def session() -> Iterator[int]:
    """A sleep leading a session of its own (its session ID is its pid)."""
    proc = subprocess.Popen(["setsid", "sleep", "300"], stdin=subprocess.DEVNULL)
    try:

        def leads() -> bool:
            task = snapshot.process(proc.pid)
            return task is not None and task.name == "sleep" and task.field(6) == b"%d" % proc.pid

        wait_for("setsid sleep leading its session", leads)
        yield proc.pid
    finally:
        proc.kill()
        proc.wait(60)


@pytest.fixture(scope="module")
def stranger() -> Iterator[dict[str, int]]:
    """A sleep run as a uid (and gid) no other task has (setpriv: the tests
    that use it are marked root)."""
    uid = unused_uid()
    proc = subprocess.Popen([*as_uid(uid), "sleep", "300"], stdin=subprocess.DEVNULL)
    try:

        def runs_as_uid() -> bool:
            task = snapshot.process(proc.pid, want={snapshot.STATUS})
            return bool(
                task and task.name == "sleep" and task.status and task.status.uids[0] == uid
            )

        wait_for(f"sleep running as uid {uid}", runs_as_uid)
        yield {"uid": uid, "pid": proc.pid}
    finally:
        proc.kill()
        proc.wait(60)


def _pids(out: str) -> set[int]:
    return {int(line.split()[0]) for line in out.splitlines()[1:]}


@pytest.mark.root
@pytest.mark.procps
def test_users_by_id_and_by_name(stranger: dict[str, int]) -> None:
    uid = str(stranger["uid"])
    for option in ("-u", "-U", "--user", "--User"):
        out = same(option, uid, "-o", "pid,euid,ruid,comm")
        assert _pids(out) == {stranger["pid"]}
    same_rows("-u", "root", "-o", "pid,user,comm")
    same_rows("-U", "0,root", "-f")
    same_rows("U", "root", "-o", "pid,user,comm")


@pytest.mark.root
@pytest.mark.procps
def test_groups_and_sessions(stranger: dict[str, int], session: int) -> None:
    gid = str(stranger["uid"])  # as_uid gives the same gid
    assert _pids(same("-G", gid, "-o", "pid,rgid,egid,comm")) == {stranger["pid"]}
    assert _pids(same("--Group", gid, "-o", "pid,comm")) == {stranger["pid"]}
    assert _pids(same("-g", gid, "-o", "pid,comm")) == set()  # a number: a session
    same_rows("-g", "root", "-o", "pid,egid,comm")  # not a number: a group
    for option in ("-g", "-s", "--sid"):
        assert _pids(same(option, str(session), "-o", "pid,sid,comm")) == {session}
    assert _pids(same("--group", gid, "-o", "pid,comm")) == {stranger["pid"]}  # groups only
    assert _pids(same("--group", str(session), "-o", "pid,comm")) == set()


@pytest.mark.procps
def test_commands_parents_and_the_union(family: dict[str, Any]) -> None:
    pid = str(family["pid"])
    kids = _pids(same("--ppid", pid, "-o", "pid,ppid,comm"))
    assert kids == {*family["kids"], family["sleep"]}
    # anyone's sleeps come and go: the stable rows, ours among them
    rows = same_rows("-C", f"{KID},sleep", "-o", "pid,comm")
    assert {(str(family["kids"][1]),), (str(family["sleep"]),)} <= rows.keys(), rows
    # a blank separates names too: "kid) one" is two, and neither is a name
    assert _pids(same("-C", f"kid) one {KID}", "-o", "pid,comm")) == {family["kids"][1]}
    same("-C", KID, "--ppid", pid, "-p", "1", "-o", "pid,ppid,comm")
    same("-C", KID, "-T", "-p", pid, "-o", "pid,tid,comm")
    same_rows("-u", "root", "-C", "sleep", "--ppid", "1", "-o", "pid,comm")


@pytest.mark.procps
def test_each_thread_is_judged_on_its_own(family: dict[str, Any]) -> None:
    """-L -C matches the thread's own name, as procps 4.0.2 does."""
    out = same("-L", "-C", ODD, "-o", "pid,lwp,comm")
    assert len(out.splitlines()) == 2 and out.splitlines()[1].endswith(f" {ODD}")
    same("-T", "-C", f"{THREAD},{ODD}", "-f")


@pytest.mark.procps
def test_a_long_name_matches_on_its_first_15_bytes() -> None:
    proc = subprocess.Popen(["sleep", "300"], executable="sleep", stdin=subprocess.DEVNULL)
    try:
        same("-C", "sleep_and_more_than_fifteen", "-o", "pid,comm")  # not 15 long: no match
    finally:
        proc.kill()
        proc.wait(60)
    kthreads = [t.name for t in snapshot.processes() if len(t.name) == 15]
    if kthreads:
        same("-C", kthreads[0] + "-and-more", "-o", "pid,comm")


@contextlib.contextmanager
def _on_a_terminal() -> Iterator[str]:
    """A sleep on a pseudo-terminal of its own; yields the terminal's name."""
    script = subprocess.Popen(
        ["script", "-qfc", "sleep 300", "/dev/null"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(500):
            for task in snapshot.processes():
                if task.name == "sleep" and task.tty_nr and _ancestor(task.ppid, script.pid):
                    yield f"pts/{os.minor(task.tty_nr)}"
                    return
            time.sleep(0.02)
        raise AssertionError("script(1) gave sleep no terminal")
    finally:
        script.kill()
        script.wait(60)


@pytest.mark.procps
def test_terminals() -> None:
    with _on_a_terminal() as tty:
        for name in (tty, f"/dev/{tty}", tty.removeprefix("pts/")):
            out = same("-t", name, "-o", "pid,tty,comm")
            assert "sleep" in out
        same("t", tty, "-o", "pid,tty,comm")
    same_rows("-t", "-", "-o", "pid,tty,comm")
    same_rows("--tty", "?", "-o", "pid,tty,comm")


@pytest.mark.procps
def test_quick_pids(family: dict[str, Any]) -> None:
    """-q reads only its pids, in the order given, twice if given twice."""
    pid = str(family["pid"])
    kid = str(family["kids"][0])
    out = same("-q", f"{kid},{pid},{kid}", "-o", "pid,comm")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [kid, pid, kid]
    same("-T", "-q", pid)
    same("-e", "-q", pid)
    same("--quick-pid", pid, "-f")
    same("-q", str(family["tids"][0]))  # a thread is no process
    same("-q", "999999999")


@pytest.mark.root
@pytest.mark.procps
def test_selections_as_an_unprivileged_user(stranger: dict[str, int]) -> None:
    uid = stranger["uid"]
    assert _pids(same("-u", str(uid), "-o", "pid,user", user=True)) == {stranger["pid"]}
    same("-u", str(uid), "-f", user=True)
    same_rows("-u", "root", "-o", "pid,user,comm", user=True)
    same("-U", str(uid), "-o", "pid,comm", user=True)
    ours = tidscope("ps", "-o", "pid,comm", "-u", str(uid), prefix=as_uid(uid))
    theirs = run(["ps", "-o", "pid,comm", "-u", str(uid)], prefix=as_uid(uid))
    assert ours.stdout.splitlines()[0] == theirs.stdout.splitlines()[0]
    assert stranger["pid"] in _pids(ours.stdout)


@pytest.mark.procps
def test_nothing_matched_prints_the_header_and_says_so() -> None:
    proc = tidscope("ps", "-C", "no-such-command-here", "-o", "pid,comm")
    assert proc.returncode == 1 and proc.stdout == pid_header() + " COMMAND\n"
    assert "no process matched the selection" in one_error_line(proc)
    theirs = run(["ps", "-C", "no-such-command-here", "-o", "pid,comm"])
    assert (theirs.returncode, theirs.stdout) == (1, proc.stdout)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["-u", "no-such-user-here"], "-u: no user is named 'no-such-user-here'"),
        (["-U", "4294967295"], "-U: user ID 4294967295 is out of range"),
        (["-u", "-1"], "-u: user ID -1 is out of range"),
        (["-u", "root,,1"], "is not a list"),
        (["-G", "no-such-group-here"], "-G: no group is named 'no-such-group-here'"),
        (["-g", "no-such-group-here"], "-g takes session IDs, or effective groups"),
        (["-t", "no-such-tty"], "-t 'no-such-tty': no such terminal in /dev"),
        (["-t", "/etc/passwd"], "/etc/passwd is not a terminal"),
        (["-s", "x"], "-s 'x' is not a list of ids"),
        (["--ppid", "0"], "--ppid '0' is not a list of ids"),
        (["-C", ""], "-C '' is not a list"),
        (["-q", "1", "-q", "2"], "-q is given more than once"),
        (["-q", "1", "-p", "2"], "cannot be combined with -p: use -p instead of -q"),
        (["-q", "1", "-u", "root"], "cannot be combined with -u"),
        (["-q", "1", "--sort=pid"], "-q lists in the order given, not with --sort"),
        (["-q", "1", "--forest"], "not with --forest"),
        (["-e", "-u", "no-such-user-here"], "no user is named"),
    ],
)
def test_bad_selections_are_one_line_and_exit_2(args: list[str], problem: str) -> None:
    theirs = run(["ps", *args])
    assert theirs.returncode != 0  # procps refuses them too
    proc = tidscope("ps", *args)
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    assert problem in one_error_line(proc)


@pytest.mark.procps
def test_bsd_selection_letters_on_a_terminal() -> None:
    """Without a and x: the caller's processes with a terminal; a: anyone's
    with a terminal; x: the caller's, with or without one."""
    with _on_a_terminal() as tty:
        for args in (["u"], ["w"], ["a"], ["au"], ["j"], ["c"]):
            # the stable rows: root's commands on other terminals (a second
            # copy of the suite's) come and go between the runs
            rows = same_rows(*args)
            assert any(f" {tty} " in line for line in rows.values()), (args, rows)
        same_rows("ux")
        same_rows("x", "-o", "pid,tty,comm")


@pytest.mark.procps
def test_signames_reaches_the_mask_columns(family: dict[str, Any]) -> None:
    """--signames (tidscope's own) names the signals a Python process
    ignores (PIPE) and catches (INT) instead of printing hex masks."""
    pid = str(family["pid"])
    hexed = same("-o", "pid,ignored,caught", "-p", pid)
    named = tidscope("ps", "--signames", "-o", "pid,ignored,caught", "-p", pid).stdout
    row = named.splitlines()[1].split()
    assert "PIPE" in row[1] and "INT" in row[2].split(","), named
    assert named.splitlines()[1] != hexed.splitlines()[1]
    bsd = tidscope("ps", "--signames", "s", "-p", pid).stdout
    assert "PIPE" in bsd.splitlines()[1]
