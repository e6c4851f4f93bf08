"""tidscope share against ground truth: raw children cloned with known flags.

A holder process clones raw children with one flag set each (and a thread
that unshares its fs), prints their ids and keeps them until its stdin
closes; ``tidscope share`` must recover exactly the flags each was created
with, of those it can observe.  Everything that clones runs in a subprocess.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers import as_uid, holding, one_error_line, python, readline, run, tidscope, unused_uid

from tidscope.core import flags

SECCOMP = str(Path(__file__).with_name("seccomp.py"))
# What share can see: the six kcmp resources, the namespaces, CLONE_THREAD
# (a place in a thread group) and CLONE_VFORK (a parent blocked in it).
OBSERVABLE = {"VM", "FS", "FILES", "SIGHAND", "IO", "SYSVSEM", "THREAD", "VFORK"}
OBSERVABLE |= {"NEWCGROUP", "NEWIPC", "NEWNS", "NEWNET", "NEWPID", "NEWTIME", "NEWUSER", "NEWUTS"}

# label -> (flag set, what the child does first)
CASES: dict[str, tuple[str, str]] = {
    "fork": ("0", ""),
    "vm": ("VM", ""),
    "files": ("FILES", ""),
    "fs": ("FS", ""),
    "sighand-vm": ("SIGHAND,VM", ""),
    "io": ("IO", ""),
    "sysvsem": ("SYSVSEM", ""),
    "vm-files-fs": ("VM,FILES,FS", ""),
    "thread": ("thread", ""),
    "thread-unshares-fs": ("thread", "unshare FS"),
    "thread-unshares-files": ("thread", "unshare FILES"),
    "newuts": ("NEWUTS", ""),
    "newipc": ("NEWIPC", ""),
    "newns": ("NEWNS", ""),
    "newnet": ("NEWNET", ""),
    "newpid": ("NEWPID", ""),
    "newcgroup": ("NEWCGROUP", ""),
    "newuser": ("NEWUSER", ""),
    "newtime": ("NEWTIME", "clone3"),
    "newuts-files": ("NEWUTS,FILES", ""),
}
# Cloning into a new namespace needs CAP_SYS_ADMIN (a new user namespace
# alone does not): as another user the ground truth holds the other cases.
PRIVILEGED = {
    "newuts",
    "newipc",
    "newns",
    "newnet",
    "newpid",
    "newcgroup",
    "newtime",
    "newuts-files",
}

HOLDER = r"""
import json, sys
from contextlib import ExitStack
from tidscope.core import flags
from tidscope.core.clone import Op
from tidscope.lab import experiments  # before probes, which it imports
from tidscope.core.syscalls import syscall as raw
from tidscope.lab.probes import spawn_one

# An I/O context with a priority: a child without CLONE_IO then gets one of
# its own (copy_io), so that IO is observable either way.
if sys.argv[2] == "ioprio":
    raw("ioprio_set", 1, 0, 2 << 13 | 4)
held = {}
with ExitStack() as stack:
    for label, (spec, first) in json.loads(sys.argv[1]).items():
        clone3 = first == "clone3"
        value = flags.FLAGS["NEWTIME"] if clone3 else flags.parse(spec) if spec != "0" else 0
        program = []
        if first.startswith("unshare "):
            program = [Op("unshare", (flags.FLAGS[first.split()[1]],), expect=0)]
        ch = stack.enter_context(spawn_one(value, program, clone3=clone3))
        rep = ch.report(0)
        assert rep.ran, (label, rep)
        held[label] = rep.tid
    print(json.dumps({"pid": raw("getpid"), "tids": held}), flush=True)
    sys.stdin.read()
"""


def cloning(
    cases: dict[str, tuple[str, str]], ioprio: bool = True, prefix: Sequence[str] = ()
) -> contextlib.AbstractContextManager[dict[str, Any]]:
    """The holder above with the children of ``cases``, until the block ends."""
    return holding(HOLDER, json.dumps(cases), "ioprio" if ioprio else "-", prefix=prefix)


def share_json(*args: str, **kw: Any) -> dict[str, Any]:
    proc = tidscope("share", "--format", "json", *args, **kw)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def by_tid(doc: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {row["tid"]: row for row in doc["tasks"]}


def expected(spec: str, first: str) -> set[str]:
    """The flags a child was cloned with that share can observe."""
    if first == "clone3":
        return {spec}
    value = flags.parse(spec) if spec != "0" else 0
    names = {n.removeprefix("CLONE_") for n in flags.names(value)} & OBSERVABLE
    if first.startswith("unshare "):
        names.discard(first.split()[1])
    return names


@pytest.fixture(scope="module")
def ground_truth() -> Iterator[tuple[dict[str, Any], dict[int, dict[str, Any]]]]:
    root = os.geteuid() == 0
    with cloning({k: v for k, v in CASES.items() if root or k not in PRIVILEGED}) as info:
        doc = share_json(str(info["pid"]), *(str(t) for t in info["tids"].values()))
        yield info, by_tid(doc)


@pytest.mark.parametrize(
    "label", [pytest.param(k, marks=pytest.mark.root) if k in PRIVILEGED else k for k in CASES]
)
def test_share_recovers_the_flags_each_child_was_cloned_with(
    label: str, ground_truth: tuple[dict[str, Any], dict[int, dict[str, Any]]]
) -> None:
    info, rows = ground_truth
    spec, first = CASES[label]
    row = rows[info["tids"][label]]
    assert set(row["inferred"]) == expected(spec, first), row["evidence"]
    assert row["not_comparable"] is None
    assert row["compared_with"] != "nothing"


def test_the_groups_say_who_shares_with_whom(
    ground_truth: tuple[dict[str, Any], dict[int, dict[str, Any]]],
) -> None:
    info, rows = ground_truth
    holder, tids = info["pid"], info["tids"]
    me = rows[holder]
    for label, tid in tids.items():
        row = rows[tid]
        cloned = expected(*CASES[label])
        for resource in ("VM", "FILES", "FS", "SIGHAND", "IO", "SYSVSEM"):
            same = row[resource.lower()] == me[resource.lower()]
            assert same == (resource in cloned), (label, resource, row)
    # the thread that unshared its fs is alone in its FS group, and it splits
    # the holder's thread group: a group shown without --all
    alone = rows[tids["thread-unshares-fs"]]["fs"]
    assert [r for r in rows.values() if r["fs"] == alone] == [rows[tids["thread-unshares-fs"]]]


def test_the_table_shows_the_split_and_the_crossing_groups() -> None:
    with cloning({k: CASES[k] for k in ("vm", "thread", "thread-unshares-fs")}) as held:
        ids = [str(held["pid"]), *(str(t) for t in held["tids"].values())]
        proc = tidscope("share", *ids)
        doc = share_json(*ids)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["RESOURCE", "GROUP", "TASKS", "PROCESSES", "WHY", "MEMBERS"]
    groups = {(g["resource"], g["why"]) for g in doc["groups"]}
    pid = held["pid"]
    assert ("VM", "across 2 processes") in groups
    assert any(r == "FS" and why == f"splits {pid}" for r, why in groups)
    # the inferred flags, after the task table (whose rows of pids of fewer
    # digits than the column also start with blanks: pids wrap on a machine)
    inferred = lines[next(i for i, ln in enumerate(lines) if ln.startswith("inferred:")) :]
    vm_child = held["tids"]["vm"]
    line = next(ln for ln in inferred if ln.startswith(f"  {vm_child} "))
    assert "CLONE_VM" in line and "a vfork child or CLONE_VM process" in line
    unshared = held["tids"]["thread-unshares-fs"]
    line = next(ln for ln in inferred if ln.startswith(f"  {unshared} "))
    assert "CLONE_FS was unshared (or never shared)" in line


def test_no_object_on_either_side_is_cannot_tell_not_shared() -> None:
    """Without an I/O context in the holder, a fork child and the holder are
    both in group 0 for IO (kcmp calls NULL equal to NULL): no CLONE_IO is
    inferred, and no IO group is shown as shared."""
    with cloning({"fork": ("0", ""), "sysvsem": ("SYSVSEM", "")}, ioprio=False) as info:
        doc = share_json(str(info["pid"]), str(info["tids"]["fork"]))
    rows = by_tid(doc)
    child = rows[info["tids"]["fork"]]
    assert child["io"] == 0 and rows[info["pid"]]["io"] == 0
    assert "IO" not in child["inferred"]
    assert any(e.startswith("IO: I/O context: neither it nor") for e in child["evidence"])
    assert not [g for g in doc["groups"] if g["resource"] == "IO"]
    # a CLONE_SYSVSEM clone gave the holder an undo list: the fork child has none
    assert child["sysvsem"] == 0 and rows[info["pid"]]["sysvsem"] != 0
    assert any(e.startswith("SYSVSEM: it has no") for e in child["evidence"])


VFORK_HOLDER = r"""
import sys
from tidscope.core import flags
from tidscope.core.clone import Op, scratch
from tidscope.lab import experiments  # before probes, which it imports
from tidscope.core.syscalls import syscall as raw
from tidscope.lab.probes import spawn_one

print(raw("getpid"), flush=True)
# the child waits on the pipe while we wait in clone(CLONE_VFORK) for it
with spawn_one(flags.bits("VM", "VFORK"), [Op("read", (int(sys.argv[1]), scratch(0), 1))]):
    pass
"""


def test_a_vfork_child_is_named_as_such() -> None:
    r, w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(VFORK_HOLDER), str(r)],
        stdout=subprocess.PIPE,
        text=True,
        pass_fds=(r,),
    )
    os.close(r)
    try:
        assert proc.stdout is not None
        pid = int(readline(proc.stdout, proc=proc, seen="the holder's pid"))
        child = _child_of(pid)
        row = by_tid(share_json(str(child)))[child]
    finally:
        os.write(w, b"x")
        os.close(w)
        assert proc.wait(timeout=30) == 0
    assert set(row["inferred"]) == {"VM", "VFORK"}, row["evidence"]
    assert row["summary"].startswith("a vfork child")
    assert any("is blocked in clone(0x4100)" in e for e in row["evidence"]), row["evidence"]


def _child_of(pid: int) -> int:
    """The child ``pid`` has cloned, once the clone is under way."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
        if kids:
            return int(kids[0])
        time.sleep(0.01)
    raise AssertionError(f"{pid} cloned no child")


# -- without privilege ---------------------------------------------------------------


@pytest.mark.root  # a uid of its own
def test_others_tasks_are_not_comparable_with_the_reason() -> None:
    """As a uid of its own: its own tasks are compared, root's are listed as
    not comparable, with the rule and what /proc shows."""
    uid = unused_uid()
    cases = {"vm": ("VM", ""), "thread": ("thread", ""), "fork": ("0", "")}
    with cloning(cases, prefix=as_uid(uid)) as info:
        share = [sys.executable, "-m", "tidscope", "share", "--format", "json"]
        proc = run(share, prefix=as_uid(uid))
        assert proc.returncode == 0, proc.stderr
        rows = by_tid(json.loads(proc.stdout))
        owners = {tid: _owner(tid) for tid in rows}
    mine = {tid for tid, owner in owners.items() if owner == uid}
    assert {info["pid"], *info["tids"].values()} <= mine
    for tid, row in rows.items():
        if owners[tid] == uid:
            assert row["not_comparable"] is None, row
            assert row["vm"] is not None
        elif owners[tid] == 0:
            assert row["vm"] is None and row["files"] is None, row
            why = row["not_comparable"]
            assert why.startswith("kcmp: EPERM: no PTRACE_MODE_READ_REALCREDS access"), why
            assert f"our real uid {uid}" in why and "we lack CAP_SYS_PTRACE" in why
            assert row["inferred"] == [] and row["summary"].startswith("not comparable")
    for label, (spec, first) in cases.items():
        row = rows[info["tids"][label]]
        assert set(row["inferred"]) == expected(spec, first), row["evidence"]


def _owner(tid: int) -> int | None:
    try:
        return os.stat(f"/proc/{tid}").st_uid
    except FileNotFoundError:
        return None


# -- races -----------------------------------------------------------------------------

RACE = r"""
import json, os
from tidscope.core.syscalls import by_number
from tidscope.share import groups as share
from tidscope.core.clone import Children

me = os.getpid()
with Children(4, names=["stay"] * 4) as stay, Children(8, names=["go"] * 8) as go:
    gone = set(go.tids)
    calls = 0

    def syscall(nr, *args):
        # the threads of `go` exit during the second resource's sort
        global calls
        calls += 1
        if calls == AT:
            go.join()
            while any(os.path.exists(f"/proc/self/task/{t}") for t in gone):
                pass  # CLONE_CHILD_CLEARTID wakes us before the kernel releases them
        return by_number(nr, *args)

    tasks = share.groups_of([me])
    AT = len(tasks) + 2 + len(tasks) + 3
    again = lambda: share.groups_of([me])
    seen = share.observe(tasks, syscall=syscall, rewalk=again)
    rows = [t.tid for t in seen.tasks]
    print(json.dumps({
        "gone_left": sorted(gone & set(rows)), "stay": stay.tids, "rows": rows,
        "sorts": seen.sorts, "gone": seen.gone, "me": me,
        "groups": {r: {str(t): g for t, g in seen.groups[r].items()} for r in seen.groups},
    }))
"""


def test_tasks_exiting_during_a_sort_are_dropped_and_the_sort_redone() -> None:
    """Eight threads exit after the first sort, while the second is running:
    kcmp answers ESRCH for them, the sort is redone without them, and the
    threads that stayed are still grouped with their process."""
    out = python(RACE)
    assert out["gone_left"] == []
    assert out["gone"] == 8
    assert out["sorts"]["VM"] == 1 and out["sorts"]["FILES"] >= 2
    for resource in ("VM", "FILES", "FS", "SIGHAND", "SYSVSEM"):
        groups = out["groups"][resource]
        assert {groups[str(t)] for t in [out["me"], *out["stay"]]} == {groups[str(out["me"])]}


CHURN = r"""
import os, select, sys
from tidscope.core.clone import Children
print(os.getpid(), flush=True)
with Children(6, names=["steady"] * 6):
    while not select.select([sys.stdin], [], [], 0)[0]:
        with Children(24, names=["churn"] * 24):
            pass
"""


@pytest.mark.floods_connector  # threads made and joined as fast as they come
def test_share_under_thread_churn_stays_consistent() -> None:
    """A process makes and joins threads as fast as it can while share
    compares it: each run exits 0, every thread it shows is grouped with its
    leader for what threads share, and the steady threads are always there."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHURN)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        pid = int(readline(proc.stdout, proc=proc, seen="the holder's pid"))
        for _ in range(5):
            doc = share_json(str(pid))
            rows = [r for r in doc["tasks"] if r["pid"] == pid]
            leader = next(r for r in rows if r["tid"] == pid)
            names = [r["name"] for r in rows]
            assert names.count("steady") == 6
            for row in rows:
                # a thread seen while it exits has released its mm, files, fs
                # and undo list (group 0), each resource at its own moment
                for key in ("vm", "files", "fs", "sysvsem"):
                    assert row[key] in (leader[key], 0), (row, leader)
                assert row["sighand"] == leader["sighand"], (row, leader)
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0


# -- a kernel without kcmp, and bad input ---------------------------------------------------


def test_a_kernel_without_kcmp_is_one_line() -> None:
    proc = run([sys.executable, SECCOMP, "--deny", "kcmp", "--errno", "ENOSYS", "--", "share"])
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert line.startswith("tidscope share: this kernel has no kcmp(2) (ENOSYS"), line
    assert proc.stdout == ""


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["abc"], "'abc' is not a valid integer"),
        (["0"], "0 is not in the range 1<=x<=2147483647"),
        (["--", "-5"], "-5 is not in the range"),
        (["99999999999999999999"], "is not in the range"),
        (["1x"], "'1x' is not a valid integer"),
        (["\u0661"], "is not a valid integer"),
        (["--format", "xml"], "'xml' is not one of"),
        (["--explain", "--format", "csv"], "--explain lists kcmp calls"),
        (["--bogus"], "no such option"),
    ],
)
def test_bad_input_is_a_usage_error(args: list[str], problem: str) -> None:
    proc = tidscope("share", *args)
    assert proc.returncode == 2, proc.stderr
    line = one_error_line(proc)
    assert line.startswith("tidscope share: ") and problem in line, line
    assert proc.stdout == ""


def test_a_pid_that_is_no_task_is_a_runtime_error() -> None:
    proc = tidscope("share", "1", "999999999")
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert line == (
        "tidscope share: no task 999999999: no process or thread has this id (see tidscope ps -AT)"
    )
    assert proc.stdout == ""


# -- output ----------------------------------------------------------------------------------


def test_csv_has_one_typed_row_per_task_and_explain_lists_every_call() -> None:
    with cloning({"vm": ("VM", ""), "thread": ("thread", "")}) as info:
        ids = [str(info["pid"]), str(info["tids"]["vm"])]
        csv = tidscope("share", "--format", "csv", *ids)
        explained = tidscope("share", "--explain", *ids)
        doc = share_json("--explain", *ids)
    assert csv.returncode == 0 and explained.returncode == 0, csv.stderr + explained.stderr
    head, *lines = csv.stdout.splitlines()
    assert head.startswith("tid,pid,ppid,name,vm,files,fs,sighand,io,sysvsem,")
    assert head.endswith("_ns,inferred,summary,usual,not_comparable")
    assert len(lines) == len(doc["tasks"])
    # each run its own count (each sorts with a zombie of its own, whose
    # place in kcmp's order changes the calls a sort makes)
    assert sum(doc["kcmp_calls"].values()) == len(doc["calls"])
    lines = explained.stdout.splitlines()
    calls = [ln for ln in lines if ln.startswith("kcmp(")]
    (summary,) = [ln for ln in lines if ln.startswith("kcmp calls: ")]
    counted = summary.removeprefix("kcmp calls: ").split(";")[0]  # "; sorted again..."
    counts = [int(part.split()[1]) for part in counted.split(", ")]
    assert sum(counts) == len(calls)
    assert any(ln.endswith(" = 0 (same)") for ln in calls)
    assert all(isinstance(r["vm"], int) for r in doc["tasks"])
    vm = by_tid(doc)[info["tids"]["vm"]]["vm"]
    assert vm == by_tid(doc)[info["pid"]]["vm"]


# -- vfork children and zombie leaders (issue 20) ------------------------------------

# A CLONE_VM|SIGCHLD child A, made before (by the main thread, or by another
# thread of ours), then a vfork child B (clone, or clone3 as glibc's
# posix_spawn makes it) that waits on the pipe while the parent waits for it.
VFORK_AFTER = r"""
import json, signal, sys, threading
from tidscope.core import flags
from tidscope.core.clone import Op, scratch
from tidscope.lab import experiments  # before probes, which it imports
from tidscope.core.syscalls import syscall as raw
from tidscope.lab.probes import spawn_one

fd, sibling, call = int(sys.argv[1]), sys.argv[2], sys.argv[3]
made = {}
ready, finish = threading.Event(), threading.Event()
def make_sibling():
    made["a"] = spawn_one(flags.bits("VM"), exit_signal=signal.SIGCHLD).__enter__()
    ready.set()
    if sibling == "thread":  # alive: its children stay its own (and live: PDEATHSIG)
        finish.wait()
if sibling == "thread":
    worker = threading.Thread(target=make_sibling)
    worker.start()
    ready.wait()
elif sibling == "leader":
    make_sibling()
a = made["a"].report(0).tid if made else 0
print(json.dumps({"pid": raw("getpid"), "a": a}), flush=True)
with spawn_one(
    flags.bits("VM", "VFORK"), [Op("read", (fd, scratch(0), 1))], clone3=call == "clone3"
):
    pass
finish.set()
if sibling == "thread":
    worker.join()
if made:
    made["a"].__exit__(None, None, None)
"""


@contextlib.contextmanager
def vfork_after(sibling: str, call: str) -> Iterator[tuple[int, int, int]]:
    """(the parent, its CLONE_VM child A or 0, the vfork child B) while B holds."""
    r, w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(VFORK_AFTER), str(r), sibling, call],
        stdout=subprocess.PIPE,
        text=True,
        pass_fds=(r,),
    )
    os.close(r)
    try:
        assert proc.stdout is not None
        info = json.loads(readline(proc.stdout, proc=proc, seen="the holder's JSON line"))
        pid, a = info["pid"], info["a"]
        b = _new_child_of(pid, {a})
        yield pid, a, b
    finally:
        os.write(w, b"x")
        os.close(w)
        assert proc.wait(timeout=30) == 0


def _new_child_of(pid: int, known: set[int]) -> int:
    """The child of ``pid`` not in ``known``, once its clone is under way."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kids: set[int] = set()
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids |= {int(k) for k in f.read().split()}
        new = kids - known
        if new:
            (child,) = new
            return child
        time.sleep(0.01)
    raise AssertionError(f"{pid} cloned no child")


def _vfork_finding(row: dict[str, Any]) -> str:
    (found,) = [e for e in row["evidence"] if e.startswith("VFORK: ")]
    return str(found)


def test_a_clone_vm_sibling_of_a_vfork_child_is_not_called_one() -> None:
    """A (CLONE_VM|SIGCHLD) and B (vfork) are both children of the thread
    blocked in vfork and share its memory: which one the call made, /proc
    does not say: both are candidates, neither is called a vfork child (A
    once was, from its parent's blocked call alone)."""
    with vfork_after("leader", "clone") as (pid, a, b):
        rows = by_tid(share_json(str(a), str(b)))
    for child in (a, b):
        assert rows[child]["ppid"] == pid and "VM" in rows[child]["inferred"]
        assert "VFORK" not in rows[child]["inferred"], rows[child]["evidence"]
        assert rows[child]["summary"].startswith("a vfork child or CLONE_VM process")
        finding = _vfork_finding(rows[child])
        assert "is blocked in clone(0x4100)" in finding and "/proc does not say" in finding
        assert f"{a}, {b}" in finding or f"{b}, {a}" in finding


def test_a_vfork_child_is_told_from_a_sibling_made_by_another_thread() -> None:
    """A made by another thread of the parent is no child of the blocked
    thread: not a vfork child; B, that thread's one child sharing its
    memory, is."""
    with vfork_after("thread", "clone") as (_pid, a, b):
        rows = by_tid(share_json(str(a), str(b)))
    assert "VFORK" not in rows[a]["inferred"] and "VM" in rows[a]["inferred"]
    assert "it is not its child" in _vfork_finding(rows[a])
    assert set(rows[b]["inferred"]) == {"VM", "VFORK"}, rows[b]["evidence"]
    assert rows[b]["summary"].startswith("a vfork child")


def test_a_clone3_vfork_child_is_named_from_the_parents_struct() -> None:
    """clone3(CLONE_VM|CLONE_VFORK), posix_spawn's path: the flags are read
    from the parent's struct clone_args (once: "no thread blocked")."""
    with vfork_after("none", "clone3") as (_pid, _a, b):
        row = by_tid(share_json(str(b)))[b]
        denied = run(
            [
                sys.executable,
                SECCOMP,
                "--deny",
                "process_vm_readv",
                "--errno",
                "EPERM",
                "--",
                "share",
                "--format",
                "json",
                str(b),
            ]
        )
    assert set(row["inferred"]) == {"VM", "VFORK"}, row["evidence"]
    assert "clone3 with flags 0x4100" in _vfork_finding(row)
    # the parent's memory not readable: which evidence is missing, and no verdict
    assert denied.returncode == 0, denied.stderr
    refused = by_tid(json.loads(denied.stdout))[b]
    assert "VFORK" not in refused["inferred"]
    finding = _vfork_finding(refused)
    assert "struct clone_args could not be read: process_vm_readv: EPERM" in finding, finding
    assert refused["summary"].startswith("a vfork child or CLONE_VM process")


ZOMBIE_LEADER = r"""
import ctypes, os, platform, sys, threading
SYS_EXIT = {"x86_64": 60, "aarch64": 93}[platform.machine()]
def hold():
    print(threading.get_native_id(), flush=True)
    sys.stdin.read()
    os._exit(0)
threading.Thread(target=hold).start()
ctypes.CDLL(None).syscall(SYS_EXIT, 0)  # the leader alone: a zombie from now on
"""


def test_a_zombie_leader_is_a_member_of_its_group() -> None:
    """The leader has exited alone, its thread lives on: both are rows, the
    leader a zombie that holds nothing (once: dropped as "exited while
    observed"), the thread one whose group has no other live task (once: "a
    thread alone")."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(ZOMBIE_LEADER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        thread = int(readline(proc.stdout, proc=proc, seen="the holder's thread id"))
        pid = proc.pid
        deadline = time.monotonic() + 10
        while _state(pid) != "Z":
            assert time.monotonic() < deadline, _state(pid)
            time.sleep(0.01)
        done = tidscope("share", "--format", "json", str(pid))
        table = tidscope("share", str(pid))
    finally:
        proc.communicate("", timeout=30)
    assert done.returncode == 0 and table.returncode == 0, done.stderr + table.stderr
    doc = json.loads(done.stdout)
    assert doc["exited_while_observed"] == 0 and "exited while" not in table.stderr
    rows = by_tid(doc)
    assert {pid, thread} <= set(rows)
    leader, live = rows[pid], rows[thread]
    assert leader["pid"] == live["pid"] == pid
    assert leader["vm"] == 0 and leader["files"] == 0  # no object: group NONE
    assert leader["summary"].startswith(f"the leader of thread group {pid}, exited (a zombie)")
    assert "zombie" in leader["namespaces_unreadable"]
    assert live["inferred"] == ["THREAD"] and live["summary"] != "a thread alone"
    assert f"whose other tasks have exited ({pid}" in live["summary"]


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rpartition(b")")[2].split()[0].decode()
