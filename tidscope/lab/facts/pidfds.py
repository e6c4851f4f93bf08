"""A pidfd names one task for good: a signal sent through it reaches what
it names, and it reports that task's exit (poll(2) finds it readable).

A process's pidfd (here: CLONE_PIDFD's) signals the process (its
``ShdPnd``) and reports its exit, which waitid(P_PIDFD) tells; a thread's
pidfd (pidfd_open with PIDFD_THREAD, Linux 6.9 and later) signals that
thread only (its ``SigPnd``) and reports when that thread has exited.  A
kernel without PIDFD_THREAD (EINVAL) cannot show the second half: those
looks are n/a, not errors.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable
from typing import Any

from tidscope.core import flags
from tidscope.core.clone import Children
from tidscope.core.syscalls import syscall
from tidscope.lab.experiments.base import effect
from tidscope.lab.facts.base import Seen, Unread, ends, exit_of, failed, ours, pending, readable
from tidscope.lab.probes import spawn_one

PIDFD_THREAD = os.O_EXCL  # include/uapi/linux/pidfd.h
SIGUSR1, SIGKILL = int(signal.SIGUSR1), int(signal.SIGKILL)
SIGCHLD = int(signal.SIGCHLD)


def _send(fd: int, signo: int, what: str) -> bool | Unread:
    return ours(
        f"pidfd_send_signal to {what}", lambda: syscall("pidfd_send_signal", fd, signo, 0, 0) == 0
    )


def observe() -> Seen:
    me = syscall("getpid")
    # A process, and its pidfd from clone itself.
    with spawn_one(SIGCHLD | flags.FLAGS["PIDFD"]) as proc:
        rep = proc.report(0)
        pfd = rep.pidfd
        sent = _send(pfd, SIGUSR1, "the process")
        queued = effect(lambda _: pending(rep.tid, rep.tid, "ShdPnd", SIGUSR1), sent)
        before = readable(pfd, 0)
        killed = effect(lambda _: _send(pfd, SIGKILL, "the process"), before)
        ended = effect(lambda _: ends(pfd, "the process to end"), killed)
        how = effect(lambda _: exit_of(pfd), ended)
    # A thread of ours, and a pidfd for it alone.
    with Children(1, flags.THREAD) as thread:
        tid = thread.tids[0]
        try:
            tfd: int | Unread | None = syscall("pidfd_open", tid, PIDFD_THREAD)
        except OSError as err:
            tfd = None if err.errno == errno.EINVAL else failed("pidfd_open PIDFD_THREAD", err)
        t_own: bool | Unread | None
        t_shared: bool | Unread | None
        t_before: bool | Unread | None
        t_after: bool | Unread | None
        ours_alive: bool | Unread | None
        try:
            if isinstance(tfd, int):
                t_sent = _send(tfd, SIGUSR1, "the thread")
                t_own = effect(lambda _: pending(me, tid, "SigPnd", SIGUSR1), t_sent)
                t_shared = effect(lambda _: pending(me, tid, "ShdPnd", SIGUSR1), t_sent)
                t_before = readable(tfd, 0)
                thread.join()
                t_after = ends(tfd, "the thread's pidfd to report its exit")
                ours_alive = exit_of_self(me)
            else:
                t_own = t_shared = t_before = t_after = ours_alive = tfd
        finally:
            if isinstance(tfd, int):
                os.close(tfd)
    return Seen(
        shows={
            "process_pidfd_signals_it": queued,
            "process_pidfd_reports_exit": effect(
                lambda e, w: e is True and w == "killed by SIGKILL", ended, how
            ),
            "thread_pidfd_signals_it": _maybe(bool, t_own),
            "thread_pidfd_reports_its_exit": _maybe(
                lambda a, o: a is True and o is True, t_after, ours_alive
            ),
        },
        contrast={
            "process_pidfd_quiet_while_it_lives": effect(lambda b: not b, before),
            "thread_pidfd_not_the_process": _maybe(lambda s: not s, t_shared),
            "thread_pidfd_quiet_while_it_lives": _maybe(lambda b: not b, t_before),
        },
        evidence={
            "process": rep.tid,
            "SIGUSR1_in_its_ShdPnd": queued,
            "pidfd_readable_before / after SIGKILL": [before, ended],
            "waitid P_PIDFD": how,
            "thread": tid,
            "PIDFD_THREAD": "unsupported (EINVAL)" if tfd is None else "supported",
            "thread SIGUSR1 in SigPnd / ShdPnd": [t_own, t_shared],
            "thread pidfd readable before / after its exit": [t_before, t_after],
        },
    )


def _maybe(test: Callable[..., bool], *values: Any) -> bool | Unread | None:
    """``test`` of the looks, n/a (None) where the kernel cannot make them."""
    return None if any(v is None for v in values) else effect(test, *values)


def exit_of_self(me: int) -> bool | Unread:
    """Whether we, the process, still live as a thread of ours ended: a
    process pidfd of ours is not readable."""
    try:
        fd = syscall("pidfd_open", me, 0)
    except OSError as err:
        return failed("pidfd_open", err)
    try:
        got = readable(fd, 0)
        return effect(lambda r: not r, got)
    finally:
        os.close(fd)
