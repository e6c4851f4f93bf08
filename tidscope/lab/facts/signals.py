"""Signals and threads: who gets a signal, where it waits, what it does to
the group.

- a process-directed signal (kill) is taken by one thread that does not
  block it; while every thread blocks it, it waits in the process's
  pending set (``ShdPnd``), in no thread's own (``SigPnd``);
- a thread-directed one (tgkill) waits in that thread's ``SigPnd`` only;
- SIGSTOP stops every thread of the group, even sent to one with tgkill;
  SIGCONT resumes them all;
- a fatal signal kills the whole group, threads that block it too; sent
  to a thread that blocks it, it only waits there.

The first two happen in the lab, with raw threads (all their signals
blocked from birth) and the lab's own thread blocking the signals used;
the last two in a helper process the lab stops and kills from outside.
"""

from __future__ import annotations

import contextlib
import signal
import struct
from collections.abc import Iterator
from typing import Any

from tidscope.core import flags
from tidscope.core.clone import Children, Op, scratch
from tidscope.core.signals import sigmask
from tidscope.core.syscalls import syscall
from tidscope.lab.experiments.base import effect
from tidscope.lab.facts.base import (
    SI_USER,
    Seen,
    Unread,
    ends,
    exit_of,
    failed,
    gone,
    in_syscall,
    ours,
    pending,
    siginfo,
    states,
    tasks,
    tgkill,
    until,
    waiter,
)
from tidscope.lab.facts.holder import holding

SIGUSR1, SIGUSR2 = int(signal.SIGUSR1), int(signal.SIGUSR2)
SIGSTOP, SIGCONT = int(signal.SIGSTOP), int(signal.SIGCONT)
SIG_UNBLOCK = 1


@contextlib.contextmanager
def held_back(signos: list[int]) -> Iterator[None]:
    """``signos`` blocked in the lab's own thread for the block; after it,
    what is still pending of them is discarded (SIG_IGN discards it) before
    they are unblocked.  Where that cannot be done, they stay blocked: the
    lab ends with them."""
    old = sigmask(signal.SIG_BLOCK, signos)
    try:
        yield
    finally:
        try:
            for signo in signos:
                signal.signal(signo, signal.signal(signo, signal.SIG_IGN))
        except OSError:
            pass
        else:
            sigmask(signal.SIG_SETMASK, old)


def _waiting(me: int, w: Children) -> bool | Unread:
    """Both raw threads in rt_sigtimedwait now; one that returned at once
    (a failing rt_sigtimedwait) ends the wait with its errno."""
    for r in w.reports():
        if r.results[0] < 0:
            return failed("child rt_sigtimedwait", -r.results[0])
    return effect(
        lambda x, y: x and y, *(in_syscall(me, r.tid, "rt_sigtimedwait") for r in w.reports())
    )


# -- a process-directed signal ----------------------------------------------------------


def observe_process_directed() -> Seen:
    """Two raw threads wait for SIGUSR1 in rt_sigtimedwait (which unblocks
    it for them while they wait); every other thread blocks it.  First
    SIGUSR2, which every thread blocks, is sent to the process: it waits
    in ShdPnd.  Then SIGUSR1: one waiter takes it (the other may wake, as
    the kernel retargets the signal when the taker blocks it again, and
    find nothing: EINTR).  A waiter still waiting is let go by tgkill."""
    me = syscall("getpid")
    prog, data = waiter(SIGUSR1)
    children = Children(2, flags.THREAD, program=prog, scratch=[data, data], park=False)
    with held_back([SIGUSR1, SIGUSR2]), children as w:
        a, b = w.tids
        waiting = until("both raw threads in rt_sigtimedwait", lambda: _waiting(me, w))
        blocked = effect(lambda _: ours("kill", syscall, "kill", me, SIGUSR2), waiting)
        shared = effect(lambda _: pending(me, me, "ShdPnd", SIGUSR2), blocked)
        own = {
            t: effect(lambda _, t=t: pending(me, t, "SigPnd", SIGUSR2), blocked) for t in (me, a, b)
        }
        sent = effect(lambda _: ours("kill", syscall, "kill", me, SIGUSR1), waiting)
        taken = effect(
            lambda _: until(
                "a raw thread to take it",
                lambda: any(r.results[0] > 0 for r in w.reports()),
            ),
            sent,
        )
        for r in w.reports():  # one still waiting is let go
            if r.results[0] == 0:
                tgkill(me, r.tid, SIGUSR1)
        w.join()
        results = [(r.results[0], *siginfo(r.scratch)) for r in w.reports()]
    killed = [res for res in results if res[:2] == (SIGUSR1, SIGUSR1) and res[2:] == (SI_USER, me)]
    return Seen(
        shows={
            "taken_by_one_waiting_thread": effect(lambda _: len(killed) == 1, taken),
            "ShdPnd_while_all_block_it": shared,
        },
        contrast={
            "not_taken_by_the_other": effect(lambda _: len(killed) < 2, taken),
            "in_no_thread_SigPnd": effect(lambda *v: not any(v), *own.values()),
        },
        evidence={
            "raw_threads": [a, b],
            "rt_sigtimedwait_returns (ret, signo, si_code, si_pid)": results,
            "kill_sender": me,
            "SIGUSR2_in_ShdPnd": shared,
            "SIGUSR2_in_SigPnd_by_tid": {str(t): v for t, v in own.items()},
        },
    )


# -- a thread-directed signal --------------------------------------------------------------


def observe_thread_directed() -> Seen:
    me = syscall("getpid")
    with held_back([SIGUSR1, SIGUSR2]), Children(2, flags.THREAD) as ch:
        a, b = ch.tids
        sent = tgkill(me, a, SIGUSR1)
        mine = effect(lambda _: pending(me, a, "SigPnd", SIGUSR1), sent)
        shared = effect(lambda _: pending(me, me, "ShdPnd", SIGUSR1), sent)
        others = {
            t: effect(lambda _, t=t: pending(me, t, "SigPnd", SIGUSR1), sent) for t in (me, b)
        }
        killed = ours("kill", syscall, "kill", me, SIGUSR2)
        kill_shared = effect(lambda _: pending(me, me, "ShdPnd", SIGUSR2), killed)
        kill_own = {
            t: effect(lambda _, t=t: pending(me, t, "SigPnd", SIGUSR2), killed) for t in (me, a, b)
        }
    return Seen(
        shows={"tgkill_in_its_SigPnd": mine, "kill_in_ShdPnd": kill_shared},
        contrast={
            "tgkill_not_in_ShdPnd": effect(lambda s: not s, shared),
            "tgkill_not_in_other_SigPnd": effect(lambda *v: not any(v), *others.values()),
            "kill_in_no_SigPnd": effect(lambda *v: not any(v), *kill_own.values()),
        },
        evidence={
            "tgkill_to": a,
            "SIGUSR1_in_its_SigPnd": mine,
            "SIGUSR1_in_ShdPnd": shared,
            "SIGUSR1_in_SigPnd_of_others": {str(t): v for t, v in others.items()},
            "SIGUSR2_by_kill_in_ShdPnd": kill_shared,
            "SIGUSR2_by_kill_in_SigPnd_by_tid": {str(t): v for t, v in kill_own.items()},
        },
    )


# -- SIGSTOP ------------------------------------------------------------------------------

STOPPED = "T"


def _group_state(pid: int, tids: list[int], stopped: bool) -> Any:
    """Every task of ``tids`` stopped (or none), else False."""
    seen = states(pid, tids)
    if isinstance(seen, Unread):
        return seen
    return seen if all((s == STOPPED) == stopped for s in seen.values()) else False


def _resume(h: Any, pid: int, tids: list[int]) -> Any:
    sent = ours("pidfd_send_signal SIGCONT", h.signal, SIGCONT)
    return effect(
        lambda _: until("every thread resumed", lambda: _group_state(pid, tids, False)), sent
    )


def observe_sigstop() -> Seen:
    with holding(3) as h:
        pid = h.pid
        listed = tasks(pid)
        tids = [] if isinstance(listed, Unread) else listed
        before = effect(lambda _: _group_state(pid, tids, stopped=False), listed)
        try:
            sent = effect(
                lambda _: ours("pidfd_send_signal SIGSTOP", h.signal, SIGSTOP), before
            )  # process-directed
            by_kill = effect(
                lambda _: until("every thread stopped", lambda: _group_state(pid, tids, True)),
                sent,
            )
            report = effect(
                lambda _: until("the stop reported to us", lambda: ours("waitid", h.stop_reported)),
                by_kill,
            )
            resumed = effect(lambda _: _resume(h, pid, tids), by_kill)
            to_one = effect(lambda _: tgkill(pid, h.raw[0], SIGSTOP), resumed)  # one raw thread
            by_tgkill = effect(
                lambda _: until(
                    "every thread stopped by one", lambda: _group_state(pid, tids, True)
                ),
                to_one,
            )
            again = effect(lambda _: _resume(h, pid, tids), to_one)
        finally:
            with contextlib.suppress(OSError):  # whatever failed, it is not left stopped
                h.signal(SIGCONT)
    return Seen(
        shows={
            "all_stopped_by_kill": effect(bool, by_kill),
            "stop_reported_to_parent": effect(lambda r: r == "SIGSTOP", report),
            "all_stopped_by_tgkill_to_one": effect(bool, by_tgkill),
        },
        contrast={
            "none_stopped_before": effect(bool, before),
            "all_resumed_by_SIGCONT": effect(lambda a, b: bool(a) and bool(b), resumed, again),
        },
        evidence={
            "tasks": tids,
            "states_before": before,
            "states_after_kill_SIGSTOP": by_kill,
            "waitid_WSTOPPED": report,
            "states_after_tgkill_SIGSTOP_to": [h.raw[0], by_tgkill],
        },
    )


# -- a fatal signal -------------------------------------------------------------------------


def observe_fatal() -> Seen:
    # One raw thread unblocks SIGUSR1 (default action: terminate); the other
    # raw thread and the helper's own thread keep it blocked.
    unblock = [Op("rt_sigprocmask", (SIG_UNBLOCK, scratch(0), 0, 8))]
    mask = struct.pack("Q", 1 << (SIGUSR1 - 1))
    with holding(1, extra=1, extra_program=unblock, extra_scratch=mask, block=[SIGUSR1]) as h:
        pid = h.pid
        blocker, taker = h.raw[0], h.extra[0]
        everyone = [pid, blocker, taker]
        sent = tgkill(pid, blocker, SIGUSR1)
        waits = effect(lambda _: pending(pid, blocker, "SigPnd", SIGUSR1), sent)
        alive = effect(lambda _: h.ping(), sent)  # its own thread answers after it
        killed = tgkill(pid, taker, SIGUSR1)
        ended = effect(lambda _: ends(h.pidfd, "the process to end"), killed)
        how = effect(lambda _: exit_of(h.pidfd), ended)
        left = effect(lambda _: tasks(pid), ended)
        threads_gone = effect(
            lambda _: effect(lambda *g: all(g), *(gone(pid, t) for t in (blocker, taker))), ended
        )
    return Seen(
        shows={
            "group_killed_by_it": effect(
                lambda e, w: e is True and w == "killed by SIGUSR1", ended, how
            ),
            "every_thread_gone": effect(lambda t, g: t == [pid] and g is True, left, threads_gone),
        },
        contrast={
            "blocked_it_only_waits": effect(lambda w, a: w is True and a is True, waits, alive),
        },
        evidence={
            "tasks": everyone,
            "tgkill_SIGUSR1_to_a_blocking_thread": blocker,
            "then_pending_in_its_SigPnd": waits,
            "then_the_holder_still_answers": alive,
            "tgkill_SIGUSR1_to_the_unblocking_thread": taker,
            "then_waitid": how,
            "tasks_left": left,
        },
    )
