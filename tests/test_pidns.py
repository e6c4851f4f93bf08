"""tidscope in a pid namespace whose /proc is another's (issue 20, part 2).

``unshare -fp`` without ``--mount-proc`` (a common mistake) leaves /proc the
parent namespace's: there ``/proc/1`` is the host's init, and a pid the
kernel gives us names another task.  Every command must notice (proc.root)
and say so: verify-flags' rows that need /proc are ``error`` naming the
mismatch (never a ``fail``, nor a ``pass`` built on another task), spawn
shows no /proc column beside its children, watch --run names no tracee from
there, share refuses, ps, tree and inspect say it in a note.  The same with
``--proc-root`` at a proc of another namespace; and with ``--mount-proc``,
nothing is said.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import pytest
from helpers import NEEDS_PROC, one_error_line, run, tidscope

pytestmark = pytest.mark.root  # unshare --pid, mounts

ME = [sys.executable, "-m", "tidscope"]
UNSHARE = ["unshare", "--fork", "--pid"]
OWN_PROC = [*UNSHARE, "--mount-proc"]
SAID = "shows another pid namespace than ours"


def _in(prefix: list[str], *args: str) -> Any:
    return tidscope(*args, prefix=prefix, timeout=180)


def test_verify_flags_rows_that_need_proc_are_errors_naming_it() -> None:
    proc = _in(UNSHARE, "verify-flags", "--format", "json")
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = {r["flag"].removeprefix("CLONE_"): r for r in json.loads(proc.stdout)}
    assert [f for f, r in rows.items() if r["verdict"] == "fail"] == [], proc.stdout
    for flag in NEEDS_PROC:
        assert rows[flag]["verdict"] == "error", rows[flag]
        assert SAID in rows[flag]["reason"] and "--mount-proc" in rows[flag]["reason"], rows[flag]
    for flag in ("VM", "FS", "FILES", "SYSVSEM", "IO", "VFORK"):  # no /proc needed
        assert rows[flag]["verdict"] == "pass", rows[flag]


def test_verify_flags_with_its_own_proc_says_nothing_of_it() -> None:
    proc = _in(OWN_PROC, "verify-flags", "NEWNS", "PARENT", "THREAD", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {r["verdict"] for r in json.loads(proc.stdout)} == {"pass"}, proc.stdout
    assert SAID not in proc.stderr


def test_spawn_claims_no_agreement_with_another_task() -> None:
    proc = _in(UNSHARE, "spawn", "-n", "1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    for row in rows:
        assert row["agrees"] is None and row["name"] is None, row
        assert row["proc_ppid"] is None and row["tgid"] is None, row
    assert SAID in one_error_line(proc)
    own = json.loads(_in(OWN_PROC, "spawn", "-n", "1", "--format", "json").stdout)
    assert [r["agrees"] for r in own] == [True, True], own


def test_watch_run_names_no_tracee_from_another_proc() -> None:
    proc = _in(UNSHARE, "watch", "--run", "sleep 0.1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(ln) for ln in proc.stdout.splitlines()]
    assert events and {e["name"] for e in events} == {None}, events
    assert SAID in one_error_line(proc)
    own = _in(OWN_PROC, "watch", "--run", "sleep 0.1", "--format", "json")
    names = {json.loads(ln)["name"] for ln in own.stdout.splitlines()}
    assert names == {"sh", "sleep"}, own.stdout
    assert own.stderr == ""


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param([*UNSHARE, *ME, "share"], id="share"),
        pytest.param([*UNSHARE, "sh", "-c", f"exec {' '.join(ME)} share --all $$"], id="share-pid"),
    ],
)
def test_share_refuses_to_compare_other_tasks(prefix: list[str]) -> None:
    proc = run(prefix, timeout=180)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout == ""
    line = one_error_line(proc)
    assert SAID in line and "kcmp" in line, line


@pytest.mark.parametrize(
    "args",
    [("ps", "-p", "1"), ("ps", "-e"), ("tree", "1"), ("inspect", "1")],
    ids=["ps-p", "ps-e", "tree", "inspect"],
)
def test_listings_say_whose_tasks_they_show(args: tuple[str, ...]) -> None:
    proc = _in(UNSHARE, *args)
    assert proc.returncode == 0, proc.stderr
    notes = [ln for ln in proc.stderr.splitlines() if SAID in ln]
    assert len(notes) == 1 and "note:" in notes[0], proc.stderr
    own = _in(OWN_PROC, *args)
    assert own.returncode == 0 and SAID not in own.stderr, own.stderr


@pytest.mark.parametrize("command", ["ps", "tree"])
def test_proc_root_at_an_ancestors_proc_is_said(command: str, tmp_path: Any) -> None:
    """In a namespace with its own /proc, --proc-root at a bind of the
    parent namespace's proc: /proc itself is ours and says nothing."""
    where = tmp_path / "outer"
    where.mkdir()
    me = " ".join(ME)
    script = (
        f"mount --bind /proc {where} && exec unshare --fork --pid --mount-proc sh -c "
        f"'{me} {command} --proc-root {where} >/dev/null; echo rc=$? >&2; "
        f"{me} {command} >/dev/null; echo rc=$? >&2'"
    )
    proc = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], timeout=180)
    lines = proc.stderr.splitlines()
    assert lines[-2:] == ["rc=0", "rc=0"], proc.stderr
    said = [ln for ln in lines if SAID in ln]
    assert len(said) == 1 and said[0].startswith(f"tidscope {command}: note: {where}"), lines


def test_proc_root_at_a_namespace_we_are_not_in_is_said(tmp_path: Any) -> None:
    where = tmp_path / "inner"
    where.mkdir()
    me = " ".join(ME)
    script = (
        f"unshare --fork --pid sh -c 'mount -t proc proc {where} && exec sleep 60' & "
        f"until [ -e {where}/1 ]; do sleep 0.01; done; "
        f"{me} ps -e --proc-root {where}; echo rc=$? >&2; "
        # the namespace's init ignores what it has no handler for, but SIGKILL
        "kill -KILL $(cat /proc/$!/task/*/children); wait"
    )
    proc = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], timeout=120)
    assert "sleep" in proc.stdout, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    said = [ln for ln in lines if SAID in ln]
    assert len(said) == 1 and "we have no pid there" in said[0], proc.stderr
    assert "rc=0" in lines, proc.stderr
    assert os.path.isdir(where)


WATCH_HERE = """
import json, os, select, subprocess, sys, time
watch = subprocess.Popen(
    [sys.executable, "-m", "tidscope", "watch", "--duration", "60", "--format", "csv"],
    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
)
out, deadline = b"", time.monotonic() + 60
def more():
    global out
    if select.select([watch.stdout], [], [], max(deadline - time.monotonic(), 0))[0]:
        out += os.read(watch.stdout.fileno(), 4096) or b"EOF"
    else:
        out += b"TIMEOUT"
while b"\\n" not in out and b"EOF" not in out and b"TIMEOUT" not in out:
    more()  # the header: the watch is watching
child = subprocess.Popen(["sleep", "0.5"])  # five polls long
child.wait()
gone = f"exit,process,{child.pid},{child.pid},".encode()
while gone not in out and b"EOF" not in out and b"TIMEOUT" not in out:
    more()
watch.terminate()
rest, err = watch.communicate(timeout=60)
print(json.dumps({"pid": child.pid, "out": (out + rest).decode(), "err": err.decode()}))
"""


def test_watch_in_a_namespace_of_its_own_reports_its_pids() -> None:
    """In a pid namespace with its own /proc, the connector (whose pids are
    the initial namespace's, and which ignores a subscription from here)
    gives way to polling, said first; the rows are this namespace's tasks."""
    proc = run([*OWN_PROC, "--kill-child", sys.executable, "-c", WATCH_HERE], timeout=180)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    first = got["err"].splitlines()[0]
    assert "reports to the initial pid and user namespaces only" in first, got["err"]
    assert "another pid namespace" in first and "polling /proc" in first, first
    mine = [r for r in got["out"].splitlines() if f",{got['pid']},{got['pid']}," in r]
    assert [r.split(",")[1] for r in mine] == ["fork", "exit"], got["out"]
    assert all(r.endswith(",sleep") for r in mine), got["out"]


OUTSIDE = "from tidscope.proc.root import outside_initial; print(outside_initial())"


@pytest.mark.parametrize(
    ("prefix", "said"),
    [
        ([], None),
        (OWN_PROC, "pid namespace"),
        (["unshare", "--user"], "user namespace"),
        (["unshare", "--user", "--map-root-user", *OWN_PROC], "user namespace and pid namespace"),
    ],
    ids=["here", "pid", "user", "both"],
)
def test_which_initial_namespaces_we_are_outside(prefix: list[str], said: str | None) -> None:
    """By our own ns links against the kernel's fixed inode numbers of the
    initial user and pid namespaces; here is the initial pair when our own
    links say so (the suite may itself run in a container)."""
    if not prefix and os.readlink("/proc/self/ns/pid") != f"pid:[{0xEFFFFFFC}]":
        said = "pid namespace"  # the suite itself runs in another pid namespace
    if not prefix and os.readlink("/proc/self/ns/user") != f"user:[{0xEFFFFFFD}]":
        said = "user namespace" + (" and pid namespace" if said else "")
    if prefix:
        can = run([*prefix, "true"], timeout=120)
        if can.returncode != 0:  # a container may forbid new namespaces
            pytest.skip(f"{' '.join(prefix)} cannot run here: {can.stderr.strip()}")
    proc = run([*prefix, sys.executable, "-c", OUTSIDE], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(said), proc.stdout
