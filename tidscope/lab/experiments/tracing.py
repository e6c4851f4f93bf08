"""Experiments for the flags that matter to a tracer, PTRACE and UNTRACED,
and for DETACHED, which Linux keeps only as a bit it checks.

PTRACE and UNTRACED act only on a traced caller: the lab is traced by a
tracer of its own (lab/tracer.py) while it clones, and the child is looked
at from /proc (its TracerPid) and from the tracer (its own waitpid(2), and
the clone events it was sent).  DETACHED is compared property by property
with and without it; its verdict is ``ignored`` only when every property
came out the same both ways.
"""

from __future__ import annotations

import errno
import signal
from typing import Any

from tidscope.core import flags
from tidscope.core.clone import Op, SpawnError
from tidscope.core.signals import sigmask, sigwait
from tidscope.errors import errno_name
from tidscope.lab.experiments.base import Run, Unread, child, effect, failed, ours
from tidscope.lab.probes import pid, read_file, spawn_one, status, status_int
from tidscope.lab.tracer import FOLLOW, traced

SIGCHLD = int(signal.SIGCHLD)


def _watched(value: int, options: int) -> tuple[Any, ...]:
    """Clone one child with ``value`` from this lab, traced with
    ``options``: (the child's getppid, its TracerPid, the tracer's answer
    about it, the tracer's pid, what PR_SET_PTRACER said)."""
    with traced(options) as tracer, spawn_one(value, [Op("getppid")]) as ch:
        rep = ch.report(0)
        tracer_pid = status_int(status(rep.tid), "TracerPid")
        answer = tracer.ask(rep.tid)
        tracer.helper.end()  # detaches the child before it is joined
    return child(rep, 0, "getppid"), tracer_pid, answer, tracer.pid, tracer.ptracer


def _get(answer: dict[str, Any] | Unread, key: str) -> Any:
    return answer if isinstance(answer, Unread) else answer.get(key)


def probe_ptrace(value: int) -> Run:
    got, tracer_pid, answer, tracer, _ = _watched(value, 0)
    return Run(
        {
            "tracerpid": effect(lambda _, t: t == tracer, got, tracer_pid),
            "tracee": effect(lambda _, a: a["tracee"] is True, got, answer),
            "stop": effect(lambda _, a: a["first_stop"] is not None, got, answer),
        },
        {
            "tracer": tracer,
            "child_TracerPid": tracer_pid,
            "tracer_waitpid_tracee": _get(answer, "tracee"),
            "tracer_first_stop": _get(answer, "first_stop"),
            "tracer_options": "none",
        },
    )


def probe_untraced(value: int) -> Run:
    got, tracer_pid, answer, tracer, _ = _watched(value, FOLLOW)
    return Run(
        {
            "tracerpid": effect(lambda _, t: t == 0, got, tracer_pid),
            "event": effect(lambda _, a: a["event"] is None, got, answer),
            "tracee": effect(lambda _, a: a["tracee"] is False, got, answer),
        },
        {
            "tracer": tracer,
            "child_TracerPid": tracer_pid,
            "clone_event": _get(answer, "event"),
            "tracer_waitpid_tracee": _get(answer, "tracee"),
            "tracer_first_stop": _get(answer, "first_stop"),
            "tracer_options": "PTRACE_O_TRACECLONE|PTRACE_O_TRACEFORK|PTRACE_O_TRACEVFORK",
        },
    )


# -- DETACHED -------------------------------------------------------------------------

EXIT_SIGNAL_FIELD = 38  # proc(5): stat's exit_signal


def _stat_field(data: bytes, number: int) -> str:
    """Field ``number`` (1-based, as proc(5) counts) of a stat line."""
    rest = data.rpartition(b")")[2].split()
    return rest[number - 3].decode()


def _signal_text(number: str) -> str:
    signo = int(number)
    return signal.Signals(signo).name if signo in signal.Signals._value2member_map_ else number


def _drain_sigchld() -> bool | Unread:
    """Take every pending SIGCHLD; whether one was pending."""
    took = False
    while True:
        got = ours("rt_sigtimedwait", sigwait, [SIGCHLD], 0)
        if isinstance(got, Unread):
            return got
        if got is None:
            return took
        took = True


def probe_detached(value: int) -> Run:
    """One child by clone(2), its properties as text; then whether clone3
    and clone(2) with CLONE_PIDFD take the flags of this run."""
    me = pid()
    old = sigmask(signal.SIG_BLOCK, [SIGCHLD])
    try:
        before = _drain_sigchld()
        with spawn_one(value, [Op("getppid")]) as ch:
            rep = ch.report(0)
            st = status(rep.tid)
            stat = read_file(f"/proc/{rep.tid}/stat")
            ch.join()
            rep = ch.report(0)
        notified = _drain_sigchld() if not isinstance(before, Unread) else before
    finally:
        sigmask(signal.SIG_SETMASK, old)
    ppid, tgid = status_int(st, "PPid"), status_int(st, "Tgid")
    properties: dict[str, str | Unread] = {
        "exit_signal": effect(lambda d: _signal_text(_stat_field(d, EXIT_SIGNAL_FIELD)), stat),
        "ppid": effect(lambda p: "lab" if p == me else str(p), ppid),
        "tgid": effect(lambda t: "own" if t == rep.tid else str(t), tgid),
        "getppid": effect(lambda p: "lab" if p == me else str(p), child(rep, 0, "getppid")),
        "sigchld": effect(lambda n: "yes" if n else "no", notified),
        "reaped": (
            str(rep.wstatus)
            if rep.reaped
            else failed("wait4 of the child (not reaped by us)", errno.ECHILD)
        ),
    }
    refusals = {
        "clone3": _refusal(value & ~0xFF, clone3=True),
        "clone_with_PIDFD": _refusal(value | flags.FLAGS["PIDFD"]),
    }
    return Run({}, {"child": rep.tid, **refusals}, properties)


def _refusal(value: int, *, clone3: bool = False) -> str:
    """What the kernel said to a clone with ``value``: accepted or the errno."""
    try:
        with spawn_one(value, clone3=clone3, exit_signal=SIGCHLD if clone3 else 0):
            pass
    except SpawnError as err:
        return errno_name(err.errno)
    return "accepted"
