"""Finding and reaping the processes we are responsible for.

Used wherever tidscope starts processes it must not leave behind: the
verify-flags labs (and the CLONE_PARENT children they hand us) and the
command ``spawn --run`` starts.  While :func:`subreaper` is active, orphans
of our descendants become our children, so that they can be reaped too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from collections.abc import Set as AbstractSet

from tidscope.core.syscalls import syscall
from tidscope.errors import describe
from tidscope.proc.files import NOTHING, PROC, contents, listing
from tidscope.proc.unread import Unread

WALL = 0x40000000  # __WALL: wait for every kind of child
PR_SET_CHILD_SUBREAPER = 36
LIST_MAX = 1 << 20  # the most of one task's children file read


def children(pid: int | None = None) -> set[int]:
    """The children of every thread of ``pid`` (default: us, as os.getpid()
    says; a caller that has our pid from the kernel passes it), zombies
    included; what cannot be listed or read (a task that went away, a
    failing read, whatever its errno) is left out."""
    pid = os.getpid() if pid is None else pid
    found: set[int] = set()
    tids = listing(f"{PROC}/{pid}/task", raises=NOTHING)
    if isinstance(tids, Unread):
        return found
    for tid in tids:
        path = f"{PROC}/{pid}/task/{tid}/children"
        data = contents(path, limit=LIST_MAX, check=False, raises=NOTHING)
        if isinstance(data, Unread):
            continue
        with contextlib.suppress(ValueError):
            found.update(int(k) for k in data.split())
    return found


def descendants(pid: int | None = None) -> list[int]:
    """Every process below ``pid`` (default: us, as :func:`children`),
    parents before children."""
    found: list[int] = []
    seen: set[int] = set()
    todo = [os.getpid() if pid is None else pid]
    while todo:
        new = sorted(children(todo.pop(0)) - seen)
        seen.update(new)
        found += new
        todo += new
    return found


def reap(pid: int, kill_after: float) -> str | None:
    """Wait for our child ``pid``; SIGKILL it once ``kill_after`` seconds passed.

    None once it is reaped (or is not ours to reap); else why it could not
    be waited for (``wait4: EPERM``): it is killed then, and left to init.
    """
    deadline = time.monotonic() + kill_after
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG | WALL)
        except ChildProcessError:
            return None
        except OSError as err:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            return describe(err, "wait4")
        if done:
            return None
        if time.monotonic() > deadline:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            deadline = float("inf")
        with contextlib.suppress(OSError):  # a failing nanosleep only makes us spin
            time.sleep(0.005)


def end_all(
    signo: int, kill_after: float, keep: AbstractSet[int] = frozenset(), under: int | None = None
) -> None:
    """Send ``signo`` once to every descendant of ``under`` (default: us, as
    :func:`children`) but ``keep``, SIGKILL those still there after
    ``kill_after`` seconds, and reap each that is ours.

    Parents are signalled before their children, so that a shell running
    CMD dies before it could see (and report) its child dying."""
    deadline = time.monotonic() + kill_after
    signalled: set[int] = set()
    while pids := [p for p in descendants(under) if p not in keep]:
        late = time.monotonic() > deadline
        for pid in pids:
            if late or pid not in signalled:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL if late else signo)
                signalled.add(pid)
        for pid in pids:
            with contextlib.suppress(ChildProcessError):  # not (yet) ours to reap
                os.waitpid(pid, os.WNOHANG | WALL)
        time.sleep(0.005)


@contextlib.contextmanager
def subreaper() -> Iterator[None]:
    """Orphans of our descendants become our children while this lasts."""
    with contextlib.suppress(OSError):
        syscall("prctl", PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            syscall("prctl", PR_SET_CHILD_SUBREAPER, 0)
