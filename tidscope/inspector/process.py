"""What ``tidscope inspect`` shows once per process, as psutil reads it.

psutil already reads these (and is a dependency): the command line, memory,
open descriptors, the leader's CPU affinity and I/O priority (both are
per thread in Linux; psutil asks for the process id, which is the
leader's), and the resource limits, which belong to the whole group.
Each comes back as an inspect :class:`~tidscope.inspector.autopsy.Field` of scope
``process``; a call psutil is refused (``AccessDenied``, with the errno of
the syscall under it) is an Unread, never a guess.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

from tidscope.inspector.fields import PROCESS, Field, unread
from tidscope.proc.files import Unread, failed

MIB = 1 << 20


class Vanished(Exception):
    """psutil found no such process: the caller says what that means."""


# What psutil reads from the leader's own files: a leader that has exited
# while other threads run (a zombie) has released its memory and files there.
OF_THE_LEADER = frozenset({"cmdline", "memory_rss", "memory_vms", "fds", "cpu_affinity", "ionice"})


def process_fields(tgid: int, zombie_leader: bool = False) -> list[Field] | None:
    """The process facts of ``tgid``; None if psutil finds it gone.  With
    ``zombie_leader``, what psutil would read from the dead leader's files
    is not read at all: it would say 0 bytes and no descriptors."""
    import psutil

    try:
        proc = psutil.Process(tgid)
    except psutil.NoSuchProcess:
        return None
    calls: list[tuple[str, str, Callable[[], Any], Callable[[Any], tuple[Any, str]]]] = [
        ("cmdline", "psutil cmdline()", proc.cmdline, _cmdline),
        ("memory_rss", "psutil memory_info().rss", lambda: proc.memory_info().rss, _bytes),
        ("memory_vms", "psutil memory_info().vms", lambda: proc.memory_info().vms, _bytes),
        ("fds", "psutil num_fds()", proc.num_fds, _count),
        # not psutil's cpu_affinity: it retries EINVAL with ever larger sets,
        # and a sched_getaffinity that always fails ends in its OverflowError
        ("cpu_affinity", "sched_getaffinity(2), the leader's", lambda: _affinity(tgid), _cpus),
        ("ionice", "psutil ionice(), the leader's", proc.ionice, _ionice),
        ("rlimits", "psutil rlimit()", lambda: _rlimits(proc), _limits),
    ]
    dead = Unread("leader", "the leader has exited (zombie): its files no longer show the process")
    try:
        with proc.oneshot():
            return [
                unread(key, PROCESS, source, dead, False)
                if zombie_leader and key in OF_THE_LEADER
                else _call(key, source, fn, shown)
                for key, source, fn, shown in calls
            ]
    except Vanished:
        return None


def _call(
    key: str, source: str, fn: Callable[[], Any], shown: Callable[[Any], tuple[Any, str]]
) -> Field:
    import psutil

    try:
        value, text = shown(fn())
    except psutil.ZombieProcess:  # the leader exited, its threads have not
        return unread(key, PROCESS, source, Unread(source, "the leader is a zombie"), False)
    except psutil.NoSuchProcess:
        raise Vanished from None
    except psutil.AccessDenied as err:
        cause = err.__cause__
        why = (
            failed(source, cause) if isinstance(cause, OSError) else Unread(source, "AccessDenied")
        )
        return unread(key, PROCESS, source, why, False)
    except OSError as err:
        return unread(key, PROCESS, source, failed(source, err), False)
    return Field(key, PROCESS, source, value, text, False)


def _cmdline(args: list[str]) -> tuple[Any, str]:
    return list(args), " ".join(args) or "(none)"


def _bytes(size: int) -> tuple[Any, str]:
    return size, f"{size / MIB:.1f} MiB"


def _count(n: int) -> tuple[Any, str]:
    return n, str(n)


def _affinity(tgid: int) -> list[int]:
    """The CPUs the leader may run on, from the kernel (an OSError names the
    call).  Python retries EINVAL with ever larger CPU sets, and gives up
    with OverflowError when the kernel refuses them all: that is EINVAL."""
    try:
        return sorted(os.sched_getaffinity(tgid))
    except OSError as err:
        raise OSError(err.errno, err.strerror, "sched_getaffinity") from None
    except OverflowError:
        raise OSError(errno.EINVAL, "refused at every CPU set size", "sched_getaffinity") from None


def _cpus(cpus: list[int]) -> tuple[Any, str]:
    """``0-3,6``: as ``Cpus_allowed_list`` writes a set."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and runs[-1][1] + 1 == cpu:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return sorted(cpus), ",".join(f"{a}-{b}" if a != b else str(a) for a, b in runs)


def _ionice(got: Any) -> tuple[Any, str]:
    name = getattr(got.ioclass, "name", str(got.ioclass))
    return {"class": name, "level": got.value}, f"{name} {got.value}"


def _rlimits(proc: Any) -> dict[str, tuple[int, int]]:
    import psutil

    names = sorted(n for n in dir(psutil) if n.startswith("RLIMIT_"))
    return {n.removeprefix("RLIMIT_"): proc.rlimit(getattr(psutil, n)) for n in names}


def _limits(limits: dict[str, tuple[int, int]]) -> tuple[Any, str]:
    """Every limit for JSON; for a table, those not unlimited both ways."""
    import psutil

    def one(v: int) -> int | str:
        return "unlimited" if v == psutil.RLIM_INFINITY else v

    value = {n: {"soft": one(s), "hard": one(h)} for n, (s, h) in limits.items()}
    finite = [
        f"{n} {one(s)}/{one(h)}"
        for n, (s, h) in limits.items()
        if not s == h == psutil.RLIM_INFINITY
    ]
    return value, ", ".join(finite) + " (others unlimited)" if finite else "all unlimited"
