"""Why a spawn failed, in one line: the errno, the rule or the limit behind it
(and why its join or its guard could not be what it should).

Every number named here is read when the error happens (rlimits, sysctls,
the cgroup's pids.max, the tasks the user runs), never assumed; one that
cannot be read (whatever the errno: this explains another failure, and must
not replace it) is shown as ``?`` or left out.
"""

from __future__ import annotations

import errno
import os
import resource
from typing import NamedTuple

from tidscope.core import flags
from tidscope.errors import describe
from tidscope.numeric import decimal
from tidscope.proc.files import NOTHING, PROC, TABLE_MAX, Unread, contents, listing, stat_of
from tidscope.proc.root import mounts


def no_parent_id(err: OSError, call: str) -> str:
    """Our ``call`` (getpid, getppid) failed: process children cannot be
    given the parent their guard checks (core.clone.die_with_parent)."""
    return (
        f"{describe(err, call)}: the children could not check that their parent"
        " lives, so nothing would end them if it died: allow the call (a seccomp"
        " filter?), or clone threads (--flags thread)"
    )


def wait_refused(code: int, unreaped: int) -> str:
    """wait4 failed (not ECHILD) at a join: the children were reaped through
    waitid, but ``unreaped`` of them, which nothing can reap now."""
    then = (
        f"{unreaped} children could not be reaped (waitid failed too), and are left to"
        " init once tidscope exits"
        if unreaped
        else "the raw children were reaped through waitid(2) instead"
    )
    return (
        f"{describe(code, 'wait4')}: {then}; allow wait4 to tidscope (a seccomp filter or"
        " an injected fault refuses it)"
    )


def explain_errno(
    err: int, value: int, spawned: int, count: int, stack_size: int, stage: str = "clone"
) -> str:
    """One line naming why clone (or a stack mapping, ``stage="stack"``)
    failed, and what to do about it with spawn's options."""
    cause, advice = explain_parts(err, value, spawned, count, stack_size, stage)
    return cause if advice is None else f"{cause}: {advice}"


def explain_parts(
    err: int, value: int, spawned: int, count: int, stack_size: int, stage: str = "clone"
) -> tuple[str, str | None]:
    """:func:`explain_errno` as (why, spawn's advice or None): a command
    without spawn's options gives advice of its own."""
    if stage == "stack":
        return (
            f"cannot map {count} stacks of {stack_size // 1024}K ({spawned} children running):"
            f" {describe(err)}, vm.max_map_count={_sysctl('vm/max_map_count')}",
            "lower -n or --stack-size",
        )
    where = f"clone({flags.describe(value)}) failed after {spawned} of {count} children"
    if err == errno.EINVAL:
        reasons = flags.einval_reasons(value)
        why = "; ".join(reasons) if reasons else "the kernel rejects this flag combination"
        return f"{where}: EINVAL: {why}", None
    if err == errno.EAGAIN:
        return f"{where}: EAGAIN: {task_limits()}", limit_advice(spawn=True)
    if err == errno.ENOMEM:
        return f"{where}: ENOMEM: the kernel is out of memory for tasks", "lower -n"
    if err == errno.EPERM:
        ns = [n for n in sorted(flags.NAMESPACES) if value & flags.FLAGS[n]]
        if ns:
            return (
                f"{where}: EPERM: CLONE_{'|CLONE_'.join(ns)} needs CAP_SYS_ADMIN",
                "run as root or add NEWUSER",
            )
        return f"{where}: EPERM: operation not permitted", None
    if err == errno.ENOSPC:
        return f"{where}: ENOSPC: too many nested namespaces (user.max_*_namespaces)", None
    return f"{where}: {describe(err)}", None


def _text(path: str) -> str | None:
    """The file ``path``, stripped, or None if it cannot be read."""
    data = contents(path, raises=NOTHING)
    return None if isinstance(data, Unread) else data.decode(errors="replace").strip()


def _sysctl(path: str) -> str:
    value = _text(f"{PROC}/sys/{path}")
    return "?" if value is None else value


def task_limits() -> str:
    """Which task limit is hit, with the numbers the kernel enforces."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NPROC)
    nproc = "unlimited" if soft == resource.RLIM_INFINITY else str(soft)
    loadavg = (_text(f"{PROC}/loadavg") or "").split()
    tasks = loadavg[3].partition("/")[2] if len(loadavg) > 3 else "?"
    limits = (
        f"RLIMIT_NPROC={nproc} for uid {os.getuid()}, kernel.threads-max="
        f"{_sysctl('kernel/threads-max')} ({tasks} tasks now), kernel.pid_max="
        f"{_sysctl('kernel/pid_max')}"
    )
    reached = pids_reached()
    if reached is not None:
        return (
            f"the pids controller's limit of cgroup {reached.path} is reached: pids.max="
            f"{reached.limit}, pids.current={reached.current} ({limits})"
        )
    pids = next((c for c in cgroup_pids() if c.limit is not None), None)
    if pids is not None:
        limits += f", cgroup {pids.path} pids.max={pids.limit}"
    if os.getuid() != 0 and soft != resource.RLIM_INFINITY:
        mine = _tasks_of(os.getuid())
        if mine >= soft:
            return (
                f"the per-user limit RLIMIT_NPROC is reached: uid {os.getuid()} runs"
                f" {mine} tasks ({limits})"
            )
    return f"a thread/process limit is reached ({limits})"


def _tasks_of(uid: int) -> int:
    """Tasks (threads included) whose real uid is ``uid``, as RLIMIT_NPROC counts."""
    count = 0
    pids = listing(PROC, where=PROC)
    if isinstance(pids, Unread):  # as os.listdir raised it
        raise pids.error()
    for pid in pids:
        if not pid.isdigit():
            continue
        st = stat_of(f"{PROC}/{pid}", raises=NOTHING)
        if isinstance(st, Unread) or st.st_uid != uid:
            continue
        tids = listing(f"{PROC}/{pid}/task", raises=NOTHING)
        if not isinstance(tids, Unread):
            count += len(tids)
    return count


def limit_advice(spawn: bool) -> str:
    """What to do about the task limit :func:`task_limits` names, for
    ``tidscope spawn`` (``spawn``: whose -n makes fewer tasks) or for a
    command that makes the tasks it needs (verify-flags)."""
    reached = pids_reached()
    if reached is not None:
        fewer = "lower -n, or " if spawn else ""
        return (
            f"{fewer}raise the cgroup's limit (echo N > {reached.path}/pids.max), or end"
            " tasks in that cgroup"
        )
    if spawn:
        return "lower -n or raise the limit"
    return "raise it with prlimit --nproc, or end other tasks"


class PidsLimit(NamedTuple):
    """The pids controller of one cgroup: its directory, and pids.max
    (None: "max", no limit) and pids.current (None: unreadable)."""

    path: str
    limit: int | None
    current: int | None

    @property
    def reached(self) -> bool:
        return self.limit is not None and self.current is not None and self.current >= self.limit


def cgroup_pids() -> list[PidsLimit]:
    """Our cgroup's pids controller and its ancestors' (each limits us),
    ours first, from the cgroup v1 ``pids`` hierarchy or else cgroup v2
    (``/proc/self/cgroup`` and ``/proc/self/mountinfo``); empty when there
    is none to read."""
    data = contents(f"{PROC}/self/cgroup", raises=NOTHING)
    info = contents(f"{PROC}/self/mountinfo", limit=TABLE_MAX, raises=NOTHING)
    if isinstance(data, Unread) or isinstance(info, Unread):
        return []
    table = mounts(info)
    found = []
    for line in data.decode(errors="replace").splitlines():
        _, _, rest = line.partition(":")
        controllers, sep, path = rest.partition(":")
        if not sep:
            continue
        if "pids" in controllers.split(","):  # v1: its hierarchy's mount
            top = next((p for p, t, o in table if t == "cgroup" and "pids" in o), None)
        elif not controllers and line.startswith("0:"):  # v2
            top = next((p for p, t, _ in table if t == "cgroup2"), None)
        else:
            continue
        if top is not None:
            found.append((top, path))
    for top, path in found:  # v1 first: then pids is not v2's
        levels = _levels(top, path)
        if levels:
            return levels
    return []


def _levels(top: str, path: str) -> list[PidsLimit]:
    """The pids files of cgroup ``path`` under mount ``top`` and of each
    ancestor that has them, innermost first."""
    out = []
    parts = [p for p in path.split("/") if p]
    while parts:
        where = os.path.join(top, *parts)
        limit = _text(f"{where}/pids.max")
        if limit is not None:
            current = _text(f"{where}/pids.current")
            out.append(
                PidsLimit(
                    where,
                    None if limit == "max" else decimal(limit),
                    None if current is None else decimal(current),
                )
            )
        parts.pop()
    return out


def pids_reached() -> PidsLimit | None:
    """The innermost cgroup of ours whose pids.max is reached, if one is."""
    return next((c for c in cgroup_pids() if c.reached), None)
