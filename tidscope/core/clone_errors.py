"""Why a spawn failed, in one line: the errno, the rule or the limit behind it.

Every number named here is read when the error happens (rlimits, sysctls,
the cgroup's pids.max, the tasks the user runs), never assumed; one that
cannot be read (whatever the errno: this explains another failure, and must
not replace it) is shown as ``?`` or left out.
"""

from __future__ import annotations

import errno
import os
import resource

from tidscope.core import flags
from tidscope.errors import describe
from tidscope.proc.files import NOTHING, PROC, contents, listing, stat_of
from tidscope.proc.unread import Unread


def explain_errno(
    err: int, value: int, spawned: int, count: int, stack_size: int, stage: str = "clone"
) -> str:
    """One line naming why clone (or a stack mapping, ``stage="stack"``) failed."""
    if stage == "stack":
        return (
            f"cannot map {count} stacks of {stack_size // 1024}K ({spawned} children running):"
            f" {describe(err)}, vm.max_map_count={_sysctl('vm/max_map_count')}:"
            " lower -n or --stack-size"
        )
    where = f"clone({flags.describe(value)}) failed after {spawned} of {count} children"
    if err == errno.EINVAL:
        reasons = flags.einval_reasons(value)
        why = "; ".join(reasons) if reasons else "the kernel rejects this flag combination"
        return f"{where}: EINVAL: {why}"
    if err == errno.EAGAIN:
        return f"{where}: EAGAIN: {task_limits()}: lower -n or raise the limit"
    if err == errno.ENOMEM:
        return f"{where}: ENOMEM: the kernel is out of memory for tasks: lower -n"
    if err == errno.EPERM:
        ns = [n for n in sorted(flags.NAMESPACES) if value & flags.FLAGS[n]]
        if ns:
            return (
                f"{where}: EPERM: CLONE_{'|CLONE_'.join(ns)} needs CAP_SYS_ADMIN:"
                " run as root or add NEWUSER"
            )
        return f"{where}: EPERM: operation not permitted"
    if err == errno.ENOSPC:
        return f"{where}: ENOSPC: too many nested namespaces (user.max_*_namespaces)"
    return f"{where}: {describe(err)}"


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
    pids = _cgroup_pids()
    if pids:
        limits += f", cgroup pids.max={pids}"
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


def _cgroup_pids() -> str | None:
    cgroup = _text(f"{PROC}/self/cgroup")
    if cgroup is None:
        return None
    return _text(f"/sys/fs/cgroup{cgroup.rpartition(':')[2]}/pids.max")
