"""``tidscope inspect`` on raw threads whose state the test set itself.

A holder process clones raw threads whose programs (raw syscalls, see
tidscope.core.clone) give each a known difference from the leader: its own
signal mask and a signal pending for it alone, its own name, its own uid
(a raw setuid: credentials are per task), no_new_privs; every raw thread
parks in a futex wait.  inspect must report exactly that, name the file each
field came from, and mark what it could not read (as an unprivileged user)
with the reason, never a value.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from helpers import as_uid, holding, one_error_line, python, readline, tidscope, unused_uid

from tidscope.core import clone
from tidscope.proc import masks, syscall_names

ARCH = clone.ARCH
FUTEX = syscall_names.number("futex", ARCH)
READ = syscall_names.number("read", ARCH)
SIG_SETMASK = 2
PR_SET_NO_NEW_PRIVS = 38

# The holder: raw thread groups from a JSON spec, then the main thread's own
# changes, then it reports and blocks in read(2) on stdin until told to go.
# An op is [name, arg...]; an arg is a number, {"scratch": offset} or
# {"result": index}.  Syscalls tidscope itself never makes (setuid,
# rt_sigprocmask, tgkill) get their numbers from tidscope.proc.syscall_names: the
# core runs any number it is given.
HOLDER = """
import contextlib, json, os, signal, sys, threading
from tidscope.core import clone
from tidscope.core.syscalls import SYSCALLS
from tidscope.proc import syscall_names
from tidscope.core.clone import Children, Op, result, scratch

spec = json.loads(sys.argv[1])
def arg(a):
    if isinstance(a, dict):
        return scratch(a["scratch"]) if "scratch" in a else result(a["result"])
    return a
def program(ops):
    for name, *_ in ops:
        if name not in SYSCALLS:
            SYSCALLS[name] = syscall_names.number(name, clone.ARCH)
    return [Op(name, tuple(arg(a) for a in args)) for name, *args in ops]
signal.pthread_sigmask(signal.SIG_BLOCK, spec.get("block", []))
pthread = None
if spec.get("pthread"):
    go = threading.Event()
    pthread = threading.Thread(target=go.wait, name="pthread")
    pthread.start()
with contextlib.ExitStack() as stack:
    groups = []
    for g in spec["groups"]:
        ops = [["prctl", 15, {"scratch": 0}], *g["ops"]]
        name = g["name"].encode().ljust(16, b"\\0")  # then what the program reads at 16
        data = [name + bytes.fromhex(g.get("data", ""))]
        groups.append(stack.enter_context(Children(1, program=program(ops), scratch=data)))
    if "setegid" in spec:
        os.setegid(spec["setegid"])
    for signo in spec.get("raise", []):
        os.kill(os.getpid(), signo)
    print(json.dumps({
        "pid": os.getpid(),
        "tids": [g.tids[0] for g in groups],
        "results": [list(g.report(0).results) for g in groups],
        "pthread": pthread.native_id if pthread else None,
    }), flush=True)
    sys.stdin.read()
    if pthread:
        go.set()
        pthread.join()
"""


def holder(
    spec: dict[str, Any], prefix: Sequence[str] = ()
) -> contextlib.AbstractContextManager[dict[str, Any]]:
    """A process holding the raw threads of ``spec`` until the block ends."""
    return holding(HOLDER, json.dumps(spec), prefix=prefix, cwd="/")


def inspect(*args: str, user: int | None = None) -> list[dict[str, Any]]:
    """``tidscope inspect ARGS --format json``: its rows (as ``user`` if given)."""
    proc = tidscope("inspect", *args, "--format", "json", prefix=as_uid(user) if user else None)
    assert proc.returncode == 0, proc.stderr
    rows: list[dict[str, Any]] = json.loads(proc.stdout)
    return rows


def fields(rows: list[dict[str, Any]], tid: int) -> dict[str, dict[str, Any]]:
    """The rows of thread ``tid``, by field (process facts have the pid as tid)."""
    return {r["field"]: r for r in rows if r["tid"] == tid}


def mask(*signals: int) -> str:
    """A kernel sigset_t (8 bytes, little-endian) as hex."""
    return sum(1 << (s - 1) for s in signals).to_bytes(8, "little").hex()


# A thread that blocks SIGUSR1 and SIGUSR2 only, then sends itself SIGUSR1
# (tgkill: pending for it alone); the main thread blocks SIGUSR2 and sends
# its process SIGUSR2 (kill: pending for the group, as no thread takes it).
MASKED = {
    "groups": [
        {
            "name": "masked",
            "data": mask(signal.SIGUSR1, signal.SIGUSR2),
            "ops": [
                ["rt_sigprocmask", SIG_SETMASK, {"scratch": 16}, 0, 8],
                ["getpid"],
                ["gettid"],
                ["tgkill", {"result": 2}, {"result": 3}, int(signal.SIGUSR1)],
            ],
        },
        {"name": "plain", "ops": []},
    ],
    "block": [int(signal.SIGUSR2)],
    "raise": [int(signal.SIGUSR2)],
}


@pytest.fixture(scope="module")
def masked() -> Iterator[dict[str, Any]]:
    with holder(MASKED) as info:
        assert info["results"][0][1:] == [0, info["pid"], info["tids"][0], 0]
        yield info


def test_a_thread_with_its_own_mask_and_name(masked: dict[str, Any]) -> None:
    tid = masked["tids"][0]
    rows = fields(inspect(str(tid)), tid)
    assert (rows["name"]["value"], rows["name"]["differs"]) == ("masked", True)
    assert rows["name"]["leader"].startswith("python")
    blocked = rows["sig_blocked"]
    assert (blocked["scope"], blocked["source"]) == ("thread", "status SigBlk")
    assert blocked["value"] == ["SIGUSR1", "SIGUSR2"]
    assert blocked["leader"] == ["SIGUSR2"] and blocked["differs"] is True
    pending = rows["sig_pending"]
    assert (pending["scope"], pending["value"], pending["leader"]) == ("thread", ["SIGUSR1"], [])
    shared = rows["shared_pending"]
    assert (shared["scope"], shared["source"]) == ("process", "status ShdPnd")
    assert shared["value"] == shared["leader"] == ["SIGUSR2"] and shared["differs"] is False
    for key in ("sig_ignored", "sig_caught"):  # the handlers all CLONE_SIGHAND tasks share
        assert rows[key]["scope"] == "process" and rows[key]["differs"] is False
    assert "SIGINT" in rows["sig_caught"]["value"]  # Python's handler
    assert "SIGPIPE" in rows["sig_ignored"]["value"]  # Python ignores it


def test_a_raw_thread_blocked_in_a_futex_wait(masked: dict[str, Any]) -> None:
    tid = masked["tids"][1]
    rows = fields(inspect(str(tid)), tid)
    call = rows["syscall"]
    assert call["value"]["nr"] == FUTEX and call["value"]["name"] == "futex"
    assert call["value"]["args"][1] & 0x7F == 0  # FUTEX_WAIT (| FUTEX_PRIVATE_FLAG)
    assert call["leader"]["name"] == "read" and call["leader"]["args"][0] == 0  # stdin
    assert call["differs"] is True
    assert rows["state"]["value"] == rows["state"]["leader"] == "S (sleeping)"
    assert rows["wchan"]["value"].startswith("futex")
    # every signal but the two that cannot be: clone ran with all blocked
    assert rows["sig_blocked"]["value"] == [
        n for n in masks.signal_names(masks.all_signals()) if n not in ("SIGKILL", "SIGSTOP")
    ]
    sp = rows["stack_pointer"]
    assert sp["source"] == "syscall sp" and sp["value"] == call["value"]["sp"]
    where = rows["stack_mapping"]["value"]
    assert where["start"] <= sp["value"] < where["end"] and where["perms"] == "rw-p"
    assert rows["stack_mapping"]["leader"]["path"] == "[stack]"
    # the raw thread never touched its stack: not one page of it is resident
    assert rows["stack_rss"]["value"] == 0 < rows["stack_rss"]["leader"]


def test_each_field_names_its_file_and_every_other_thread_is_compared(
    masked: dict[str, Any],
) -> None:
    pid = masked["pid"]
    rows = inspect(str(pid), "--all-threads")
    assert [r["tid"] for r in rows if r["field"] == "name"] == [pid, *masked["tids"]]
    for row in rows:
        assert row["source"].split()[0].rstrip(",") in (
            "stat", "status", "wchan", "syscall", "sched", "smaps", "psutil",
            "sched_getaffinity(2)",
        )  # fmt: skip
        assert (row["value"] is None) == (row["unread"] is not None), row
        if row["tid"] == pid:
            assert row.get("differs") is None  # the leader, or a process fact
    leader = fields(rows, pid)
    assert leader["nstgid"]["value"] == [pid] and leader["threads"]["value"] == 3
    assert leader["fds"]["scope"] == "process" and leader["fds"]["value"] >= 3
    assert leader["rlimits"]["value"]["NOFILE"]["soft"] > 0
    for tid in masked["tids"]:
        mine = fields(rows, tid)
        assert mine["nspid"]["value"] == [tid] and mine["nstgid"]["value"] == [pid]
        assert mine["nspid"]["differs"] is None  # ids and counters: not compared
        assert mine["policy"]["value"] == "SCHED_OTHER" and mine["policy"]["differs"] is False


@pytest.mark.root  # changes uid
def test_one_raw_setuid_changes_one_thread(masked: dict[str, Any]) -> None:
    """Credentials are per task: a raw setuid in one thread leaves the others."""
    uid = unused_uid()
    spec = {"groups": [{"name": "setuid", "ops": [["setuid", uid]]}, {"name": "plain", "ops": []}]}
    with holder(spec) as info:
        assert info["results"][0][1] == 0
        rows = inspect(str(info["pid"]), "--all-threads")
    changed, plain = (fields(rows, t) for t in info["tids"])
    assert set(changed["uid"]["value"].values()) == {uid}
    assert set(changed["uid"]["leader"].values()) == {0} and changed["uid"]["differs"] is True
    assert changed["cap_effective"]["value"] == [] and changed["cap_effective"]["differs"] is True
    assert changed["cap_effective"]["leader"]
    assert set(plain["uid"]["value"].values()) == {0} and plain["uid"]["differs"] is False
    assert changed["gid"]["differs"] is False


@pytest.mark.root  # changes gid
def test_glibc_changes_only_the_threads_it_made() -> None:
    """setegid through glibc reaches every pthread (SIGSETXID), not a raw thread."""
    gid = unused_uid()
    with holder({"groups": [{"name": "raw", "ops": []}], "pthread": True, "setegid": gid}) as info:
        rows = inspect(str(info["pid"]), "--all-threads")
    egid = {r["tid"]: r["value"]["effective"] for r in rows if r["field"] == "gid"}
    assert egid == {info["pid"]: gid, info["pthread"]: gid, info["tids"][0]: 0}


def test_the_table_marks_differences(masked: dict[str, Any]) -> None:
    tid = masked["tids"][0]
    proc = tidscope("inspect", str(tid))
    assert proc.returncode == 0, proc.stderr
    threads, facts = proc.stdout.split("\n\n")
    head, *lines = threads.splitlines()
    assert head.split() == ["TID", "FIELD", "SCOPE", "SOURCE", "DIFFERS", "VALUE", "LEADER"]
    row = next(r.split() for r in lines if r.split()[1] == "sig_blocked")
    assert row == [str(tid), "sig_blocked", "thread", "status", "SigBlk", "true", "SIGUSR1,SIGUSR2",
                   "SIGUSR2"]  # fmt: skip
    assert facts.splitlines()[0].split() == ["TID", "FIELD", "SOURCE", "VALUE"]
    bare = tidscope("inspect", str(tid), "--no-headers").stdout.split("\n\n")
    assert [len(t.splitlines()) for t in bare] == [len(lines), len(facts.splitlines()) - 1]
    csv = tidscope("inspect", str(tid), "--format", "csv").stdout.splitlines()
    assert csv[0] == "tid,field,scope,source,value,unread,leader,leader_unread,differs"


# The leader leaves by a raw SYS_exit (no exit_group): its raw threads live on,
# and the leader stays a zombie until the last of them is gone.
ZOMBIE_LEADER = """
import json, os
from tidscope.core.clone import Children
from tidscope.core.syscalls import syscall
kids = Children(2).__enter__()
print(json.dumps({"pid": os.getpid(), "tids": kids.tids}), flush=True)
syscall("exit", 0)
"""


def test_a_leader_that_exited_before_its_threads() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(ZOMBIE_LEADER)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    info = json.loads(readline(proc.stdout, proc=proc, seen="the holder's JSON line"))
    try:
        pid, tid = info["pid"], info["tids"][0]
        for _ in range(500):  # until the leader's exit is seen
            with open(f"/proc/{pid}/task/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    break
            time.sleep(0.01)
        rows = inspect(str(tid))
    finally:
        os.kill(info["pid"], signal.SIGKILL)
        proc.wait(timeout=30)
    mine, facts = fields(rows, tid), fields(rows, pid)
    assert (mine["state"]["value"], mine["state"]["leader"]) == ("S (sleeping)", "Z (zombie)")
    assert mine["syscall"]["value"]["name"] == "futex" and mine["stack_rss"]["value"] == 0
    # the dead leader's own files would say 0 bytes and no descriptors: not read
    for key in ("memory_rss", "fds", "cmdline"):
        assert facts[key]["value"] is None and "zombie" in facts[key]["unread"], key
    assert facts["rlimits"]["value"]["NOFILE"]["soft"] > 0  # the group's, still there


# -- unprivileged ----------------------------------------------------------------------


def test_unprivileged_on_its_own_process() -> None:
    """no_new_privs is per thread; a user may read all of its own threads.
    (Root drops to a uid of its own; another user is unprivileged already.)"""
    root = os.geteuid() == 0
    uid = unused_uid() if root else os.geteuid()
    spec = {"groups": [{"name": "nnp", "ops": [["prctl", PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0]]}]}
    with holder(spec, prefix=as_uid(uid) if root else ()) as info:
        assert info["results"][0][1] == 0
        tid = info["tids"][0]
        rows = fields(inspect(str(tid), user=uid if root else None), tid)
    assert (rows["no_new_privs"]["value"], rows["no_new_privs"]["leader"]) == (True, False)
    assert rows["no_new_privs"]["differs"] is True
    assert set(rows["uid"]["value"].values()) == {uid}
    assert rows["syscall"]["value"]["nr"] == FUTEX and rows["stack_rss"]["value"] == 0
    assert all(r["unread"] is None for r in rows.values()), rows


@pytest.mark.root  # setpriv to a uid of its own
def test_unprivileged_on_another_users_process(masked: dict[str, Any]) -> None:
    """What needs ptrace access is marked unread with the reason, never guessed."""
    tid = masked["tids"][1]
    rows = inspect(str(tid), user=unused_uid())
    mine = fields(rows, tid)
    facts = fields(rows, masked["pid"])
    for key in ("syscall", "wchan", "stack_pointer", "stack_mapping", "stack_rss"):
        assert mine[key]["value"] is None and mine[key]["leader"] is None, key
        assert mine[key]["differs"] is None
    assert mine["syscall"]["unread"] == "EACCES"
    assert "EACCES" in mine["wchan"]["unread"] and "ptrace" in mine["wchan"]["unread"]
    assert "syscall: EACCES" in mine["stack_pointer"]["unread"]
    assert facts["fds"]["unread"] == "EACCES" and facts["rlimits"]["unread"] == "EPERM"
    # status is anyone's to read: the masks and credentials are still there
    assert mine["sig_blocked"]["value"] and mine["uid"]["value"]["real"] == 0


# -- bad input and tasks that are not there ------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["abc"], ["0"], ["-1"], [], ["1", "2"], ["1", "--format", "yaml"], ["1", "--bogus"], ["²"]],
)
def test_bad_input_is_one_usage_line(args: list[str]) -> None:
    proc = tidscope("inspect", *args)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "tidscope inspect" in one_error_line(proc)


def test_no_such_task() -> None:
    with open("/proc/sys/kernel/pid_max") as f:
        free = int(f.read())  # ids are below pid_max
    proc = tidscope("inspect", str(free))
    assert proc.returncode == 1 and proc.stdout == ""
    assert one_error_line(proc) == (
        f"tidscope inspect: no task {free}: no process or thread has this id (see tidscope ps -AT)"
    )


# The thread asked for exits while it is read: inspect reads its stat file,
# then the thread is released and joined (really gone), then the reads go on.
VANISH = """
import json, os, sys
from tidscope.proc import taskdir
from tidscope.core.clone import Children
from tidscope.cli import main
with Children(2) as kids:
    target = kids.tids[0] if sys.argv[1] == "target" else kids.tids[1]
    read = taskdir.TaskDir.read
    def exit_first(self, name, *args):
        got = read(self, name, *args)
        if self.tid == target and name == "stat":
            kids.join()
        return got
    taskdir.TaskDir.read = exit_first
    args = [str(kids.tids[0])] + ([] if sys.argv[1] == "target" else ["--all-threads"])
    code = main(["inspect", *args, "--format", "json"])
    print(json.dumps({"code": code, "tids": kids.tids, "pid": os.getpid()}))
"""


def test_a_thread_that_exits_while_read_is_one_line() -> None:
    proc = tidscope_code(VANISH, "target")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout.splitlines()[-1])
    assert info["code"] == 1
    assert proc.stdout.count("\n") == 1  # nothing printed but the script's own line
    assert one_error_line(proc) == (
        f"tidscope inspect: thread {info['tids'][0]} exited while it was being read"
        f" (or its process {info['pid']} did): nothing to show"
    )


def test_another_thread_that_exits_is_left_out() -> None:
    proc = tidscope_code(VANISH, "other")
    info = json.loads(proc.stdout.splitlines()[-1])
    assert info["code"] == 0
    rows = json.loads(proc.stdout[: proc.stdout.rindex("\n{")])
    shown = {r["tid"] for r in rows if r["field"] == "name"}
    assert info["tids"][0] in shown and info["tids"][1] not in shown
    assert one_error_line(proc).endswith(
        f"note: left out thread(s) {info['tids'][1]}: they exited while they were being read"
    )


def tidscope_code(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        check=False,
    )


def test_syscall_names_are_this_architectures() -> None:
    """The numbers the C core uses name the same syscalls here."""
    got = python(
        """
        import json
        from tidscope.core import clone
        from tidscope.core.syscalls import SYSCALLS
        from tidscope.proc import syscall_names
        names = {n: syscall_names.name(nr, clone.ARCH) for n, nr in SYSCALLS.items()}
        print(json.dumps(names))
        """
    )
    assert got == {n: n for n in got}
    assert READ is not None and FUTEX is not None
