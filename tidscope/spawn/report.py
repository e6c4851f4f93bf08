"""What ``tidscope spawn`` shows: each child's own view next to /proc's.

Every value here is observed: the child's getpid/gettid/getppid come from
its own syscalls, the rest from /proc/<tgid>/task/<tid>/status and from the
words the kernel wrote.  A call that failed (a seccomp filter) gives no
value: its cell is None, its error is in the row's ``errors`` (``getpid:
EPERM (...)``), and no comparison is made with it: ``agrees`` is False
only for a mismatch that was seen, True only when every comparison was
made, None otherwise.
"""

from __future__ import annotations

import functools
from typing import Any

from tidscope.core import flags
from tidscope.core.clone import ARCH, IDENTITY, Children, Op, Report, die_with_parent
from tidscope.core.syscalls import SYSCALLS, syscall
from tidscope.errors import describe
from tidscope.proc import root as proc_root
from tidscope.proc import task as proc_task

COLUMNS = ("role", "kind", "pid", "tid", "ppid", "tgid", "proc_ppid", "name", "agrees")


def program(clone_flags: int) -> tuple[Op, ...]:
    """What each child runs: IDENTITY (whose four results the rows show),
    then, for a process-like child, what makes it die with tidscope."""
    return IDENTITY + die_with_parent(clone_flags)


def _ns_ids(status: dict[str, str], key: str, fallback: str) -> list[int]:
    field = status.get(key) or status.get(fallback, "")
    return [int(x) for x in field.split()]


@functools.cache
def _our_depth() -> int | None:
    """How many PID namespaces we are in: a child's ppid is comparable with
    /proc only when it is in as many.  None if getpid(2) fails."""
    me = proc_root.kernel_pid()
    if me is None:
        return None
    return len(_ns_ids(proc_task.task_status(me, me) or {}, "NSpid", "Pid"))


@functools.cache
def proc_mismatch() -> str | None:
    """Why /proc's rows are not our tasks' (another pid namespace's proc,
    proc.root), or None: then the /proc columns are left empty."""
    return proc_root.mismatch()


def _row(
    role: str,
    kind: str,
    seen: tuple[int | None, int | None, int | None],
    tid_here: int,
    tgid_dir: int | None,
    name: str | None,
) -> dict[str, Any]:
    """A task's own (pid, tid, ppid) against its /proc status; ``name``, if
    given, is the name the task was to give itself.  An id that is None
    (its call failed) is compared with nothing; so is a task whose group
    is unknown (``tgid_dir`` None)."""
    pid, tid, ppid = seen
    row: dict[str, Any] = {"role": role, "kind": kind, "pid": pid, "tid": tid, "ppid": ppid}
    status = None
    if tgid_dir is not None and not proc_mismatch():
        status = proc_task.task_status(tgid_dir, tid_here)
    # None: gone already (e.g. a vfork child), hidden from us, or another
    # pid namespace's /proc, whose task of that number is not this one
    if status is None:
        row.update(tgid=None, proc_ppid=None, name=None, agrees=None, mismatch=[])
        return row
    nspid = _ns_ids(status, "NSpid", "Pid")
    nstgid = _ns_ids(status, "NStgid", "Tgid")
    row.update(tgid=int(status["Tgid"]), proc_ppid=int(status["PPid"]), name=status.get("Name"))
    mismatch = []
    unmade = False  # a comparison that could not be made: a failed call
    if nspid and nspid[0] != tid_here:
        mismatch.append("tid")
    elif nspid and tid is None:
        unmade = True
    elif nspid and nspid[-1] != tid:
        mismatch.append("tid")
    if nstgid and pid is None:
        unmade = True
    elif nstgid and nstgid[-1] != pid:
        mismatch.append("pid")
    depth = _our_depth()
    if ppid is None or depth is None:
        unmade = True
    elif len(nspid) == depth and row["proc_ppid"] != ppid:
        mismatch.append("ppid")
    if name is not None and row["name"] != name:
        mismatch.append("name")
    row.update(agrees=False if mismatch else None if unmade else True, mismatch=mismatch)
    return row


def _ids(calls: tuple[str, ...], results: tuple[int, ...]) -> tuple[list[int | None], list[str]]:
    """Each call's value, None where it failed (``results`` are -errno
    then), and the failures in words."""
    values: list[int | None] = []
    errors = []
    for call, rc in zip(calls, results, strict=True):
        values.append(rc if rc >= 0 else None)
        if rc < 0:
            errors.append(describe(-rc, call))
    return values, errors


def _own(call: str) -> int:
    """Our ``call`` (getpid...) from the kernel; -errno if it fails."""
    try:
        return syscall(call)
    except OSError as err:
        return -(err.errno or 0)


def parent_row() -> dict[str, Any]:
    """Our own row: our ids as the kernel gives them (libc's may lie); a
    call that fails is in the row's ``errors``, its value None."""
    calls = ("getpid", "gettid", "getppid")
    (me, tid, ppid), errors = _ids(calls, tuple(_own(c) for c in calls))
    # without our tid there is no /proc directory of ours to look in
    row = _row("parent", "thread", (me, tid, ppid), tid or 0, me if tid else None, None)
    row["errors"] = errors
    return row


def child_rows(children: Children) -> list[dict[str, Any]]:
    kind = "thread" if children.is_thread else "process"
    rows = []
    for rep in children.reports():
        (pid, tid, ppid), _ = _ids(("getpid", "gettid", "getppid"), rep.results[:3])
        named = rep.results[3]
        want = rep.scratch.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        row = _row("child", kind, (pid, tid, ppid), rep.tid, children.tgid(rep.tid), want)
        row["clone_tid"] = rep.tid
        ops = zip(children.program, rep.results, strict=True)
        row["errors"] = [describe(-rc, op.name) for op, rc in ops if rc < 0]
        if rep.stopped_at is not None:
            op, rc = children.program[rep.stopped_at], rep.results[rep.stopped_at]
            # a guard's call that failed saw nothing: its error is listed
            # above, and the child exited because it could not check
            row["errors"].append(
                f"{op.name} failed, so it could not check its parent: exited at once"
                if rc < 0
                else f"{op.name} returned {rc}, not {op.expect}: exited at once"
            )
        elif not rep.ran:
            row["errors"].append("did not run its program in time")
        row["errors"] = list(dict.fromkeys(row["errors"]))  # getppid twice: said once
        if named < 0:
            row["agrees"] = False
        rows.append(row)
    return rows


def classic_line(row: dict[str, Any]) -> str:
    """The lecture demo's line: ``child thread, pid: 12674, tid: 12675``."""
    pid, tid = ("-" if row[k] is None else row[k] for k in ("pid", "tid"))
    line = f"{row['role']} {row['kind']}, pid: {pid}, tid: {tid}"
    if row.get("errors"):
        line += " (" + "; ".join(row["errors"]) + ")"
    return line


REGISTERS = {
    # name of each clone(2) argument's register, in the order of Report.regs
    "x86_64": ("rax", "rdi", "rsi", "rdx", "r10", "r8"),
    "aarch64": ("x8", "x0", "x1", "x2", "x4", "x3"),
}


def explain(children: Children, rep: Report) -> list[str]:
    """One clone as the CPU saw it: each register and what it meant."""
    nr, value, stack, ptid, ctid, tls = rep.regs
    reg = REGISTERS[ARCH]

    def has(name: str) -> bool:
        return flags.has(value, name)

    stack_note = (
        f"stack top (the child's stack pointer); stack {rep.stack_low:#x}-{stack:#x},"
        " guard page below"
    )
    if has("PIDFD"):
        ptid_note = f"parent_tid: the kernel stored pidfd {rep.ptid_word} here (CLONE_PIDFD)"
    elif has("PARENT_SETTID"):
        ptid_note = f"parent_tid: the kernel stored tid {rep.ptid_word} here (CLONE_PARENT_SETTID)"
    else:
        ptid_note = "parent_tid: unused (no CLONE_PARENT_SETTID or CLONE_PIDFD)"
    if has("CHILD_CLEARTID") or has("CHILD_SETTID"):
        word = "our sentinel -1" if rep.ctid_word == -1 else str(rep.ctid_word)
        ctid_note = f"child_tid: holds {word} now; " + (
            "the kernel clears it and wakes its futex at exit (CLONE_CHILD_CLEARTID)"
            if has("CHILD_CLEARTID")
            else "the child's tid, stored by CLONE_CHILD_SETTID"
        )
    else:
        ctid_note = "child_tid: unused (no CLONE_CHILD_SETTID or CLONE_CHILD_CLEARTID)"
    tls_note = (
        "tls: the child's thread pointer" if has("SETTLS") else "tls: unused (no CLONE_SETTLS)"
    )
    call = next((n for n, v in SYSCALLS.items() if v == nr), str(nr))
    notes = [
        (nr, f"syscall number: {call}"),
        (value, "flags: " + flags.describe(value)),
        (stack, stack_note),
        (ptid, ptid_note),
        (ctid, ctid_note),
        (tls, tls_note),
    ]
    lines = [f"clone #{rep.index + 1}, as the CPU saw it:"]
    for name, (v, note) in zip(reg, notes, strict=True):
        shown = str(v) if name == reg[0] else f"{v:#x}"
        lines.append(f"  {name:<3} = {shown:<16} {note}")
    lines.append(f"  {reg[0]:<3} <- {rep.tid:<15} returned: the new task's tid")
    return lines
