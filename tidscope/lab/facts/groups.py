"""A thread group's life, seen from outside: exec from a thread that is not
the leader, and a leader that exits alone.

- execve(2) in a thread that is not the leader ends every other thread of
  the group, the leader too, and the exec'ing thread takes the leader's
  TID (the pid everyone knows) and its start time; the lab sees it by the
  tids /proc lists before and after, by the start time, and by a mark
  only the exec'ing thread had (its nice value, which is per thread and
  survives exec);
- a leader that calls exit(2), not exit_group(2), exits alone: it stays a
  zombie (``Z``; procps's ps prints such a process ``<defunct>``) while
  its threads run, and the process ends, for its parent and its pidfd,
  only when its last thread does.

Both happen in a helper process (lab/facts/holder.py) the lab forked and
holds a pidfd for.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
from typing import Any

from tidscope.core.clone import Children
from tidscope.core.syscalls import syscall
from tidscope.lab.experiments.base import effect
from tidscope.lab.facts.base import (
    DEADLINE,
    Seen,
    Unread,
    ends,
    exit_of,
    failed,
    gone,
    in_syscall,
    readable,
    start_pthread,
    stat_fields,
    state,
    states,
    tasks,
    tgkill,
    until,
    waiter,
)
from tidscope.lab.facts.holder import Held, answered, holding
from tidscope.lab.helper import Channel
from tidscope.lab.probes import read_file

NICE_FIELD, START_FIELD = 19, 22  # proc(5)'s stat fields
MARKER = "tidscope-exec-from-a-thread"
# What the exec'ing thread becomes: a Python that waits for its stdin (the
# lab's pipe) to end.
EXEC_CODE = f"import os; os.read(0, 1)  # {MARKER}"
EXEC_COMM = "exe"  # what exec names a task that runs /proc/self/exe
LEADER_EXIT = 7  # the leader's exit(2) status
SIGUSR1 = int(signal.SIGUSR1)


def _field(pid: int, tid: int, number: int) -> int | Unread:
    fields = stat_fields(pid, tid)
    return fields if isinstance(fields, Unread) else int(fields[number - 3])


# -- exec from a thread that is not the leader ---------------------------------------------


def _exec_later(channel: Channel, said: dict[str, Any], raw: Children) -> None:
    """In the holder: a pthread that marks itself (its nice value, moved by
    one), says so, and execs when the lab asks; the holder's own thread
    waits meanwhile, and reports an exec that failed."""
    ready, go, back = threading.Event(), threading.Event(), threading.Event()
    report: dict[str, Any] = {}

    def execer() -> None:
        tid = threading.get_native_id()
        step = "getpriority of the exec'ing thread"
        try:
            nice = os.getpriority(os.PRIO_PROCESS, tid)
            mark = nice + 1 if nice < 19 else nice - 1  # anything but the leader's
            step = "setpriority of the exec'ing thread"
            os.setpriority(os.PRIO_PROCESS, tid, mark)
            report.update(execer=tid, mark=mark)
        except OSError as err:
            report.update(error=step, errno=err.errno)
        ready.set()
        if "error" in report or not go.wait(60):
            return
        try:
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(channel.rfd, 0)  # the exec'd program waits on the lab's pipe
            os.dup2(null, 1)
            os.dup2(null, 2)
            # By /proc/self/exe: a user who may run this interpreter may not
            # search every directory on its path (a venv made by root).
            os.execv("/proc/self/exe", [sys.executable, "-S", "-I", "-c", EXEC_CODE])
        except OSError as err:
            report.clear()
            report.update(error="execve in the exec'ing thread", errno=err.errno)
        back.set()

    start_pthread(threading.Thread(target=execer, daemon=True))
    ready.wait(60)
    channel.send(report)
    if "error" in report or channel.receive(DEADLINE) is None:
        return
    go.set()
    back.wait(60)  # only an exec that failed comes back
    channel.send(report)


def _comm(pid: int) -> str | Unread:
    data = read_file(f"/proc/{pid}/comm")
    return data if isinstance(data, Unread) else data.decode(errors="replace").strip()


def _execed(pid: int, before: str | Unread) -> bool | Unread:
    """Whether ``pid`` runs the new program: its name is the one exec
    gives it (the last part of the path it was given), which a zombie
    keeps too, should the new program die at once (a loader that cannot
    start); or its command line is the new one."""
    comm = _comm(pid)
    if isinstance(comm, Unread) or (comm == EXEC_COMM and before != EXEC_COMM):
        return True if not isinstance(comm, Unread) else comm
    data = read_file(f"/proc/{pid}/cmdline")
    return data if isinstance(data, Unread) else MARKER.encode() in data


def observe_exec() -> Seen:
    with holding(2, then=_exec_later) as h:
        pid = h.pid
        ready = h.helper.receive(DEADLINE)
        execer, mark = int(ready["execer"]), int(ready["mark"])
        before = tasks(pid)
        leader_start, leader_nice = _field(pid, pid, START_FIELD), _field(pid, pid, NICE_FIELD)
        execer_start, execer_nice = (
            _field(pid, execer, START_FIELD),
            _field(pid, execer, NICE_FIELD),
        )
        name = _comm(pid)
        h.helper.send({"exec": True})
        done = until(
            "the exec", lambda: _execed(pid, name) or _exec_failed(h) or _ended(h, pid, name)
        )
        after = effect(lambda _: tasks(pid), done)
        start = effect(lambda _: _field(pid, pid, START_FIELD), done)
        nice = effect(lambda _: _field(pid, pid, NICE_FIELD), done)
        execer_gone = effect(lambda _: gone(pid, execer), done)
    others = effect(lambda b: [t for t in b if t not in (pid, execer)], before)
    return Seen(
        shows={
            "process_keeps_its_pid": effect(lambda a: a == [pid], after),
            "it_is_the_exec_ing_thread": effect(
                lambda n, ln, en: n == en == mark != ln, nice, leader_nice, execer_nice
            ),
            "start_time_is_the_leader_s": effect(lambda s, ls: s == ls, start, leader_start),
        },
        contrast={
            "every_other_thread_gone": effect(
                lambda a, o: a == [pid] and not set(o) & set(a), after, others
            ),
            "exec_ing_tid_gone": execer_gone,
        },
        evidence={
            "tasks_before": before,
            "leader": pid,
            "exec_ing_thread": execer,
            "start_time_before (leader, exec'ing thread)": [leader_start, execer_start],
            "nice_before (leader, exec'ing thread)": [leader_nice, execer_nice],
            "tasks_after": after,
            "start_time_after": start,
            "nice_after": nice,
        },
    )


def _exec_failed(h: Any) -> bool | Unread:
    """An exec that failed, as the holder reports it (an Unread naming the
    step and its errno); the end of its pipe is no answer: an exec that
    succeeds closes it, before /proc shows the new command line."""
    channel = h.helper.channel
    if not channel.pending():
        return False
    try:
        got = channel.receive(0)
    except OSError as err:
        return failed(str(err.filename or "the holder"), err)
    if got is None:
        return False
    return failed(
        str(got.get("error", "the holder's answer")), int(got.get("errno") or errno.EPROTO)
    )


def _ended(h: Any, pid: int, before: str | Unread) -> bool | Unread:
    """A holder that ended without a sign of the exec: an Unread (False
    while it lives, or when its exec shows after all)."""
    how = exit_of(h.pidfd)
    if isinstance(how, Unread) or how is None:
        return False if how is None else how
    if _execed(pid, before) is True:
        return False
    return failed(f"the exec (the process ended before it was seen: {how})", errno.ESRCH)


# -- the leader exits alone --------------------------------------------------------------------


def _exit_leader(channel: Channel, said: dict[str, Any], raw: Children) -> None:
    """In the holder: on the lab's word, its own (leader) thread calls
    exit(2), and only it ends; until then it answers the lab's questions.
    A lab done with it before that ends the whole holder (exit_group: its
    raw threads wait for a signal that will not come, and joining them
    would wait as long)."""
    while (got := channel.receive(DEADLINE)) is not None:
        if not answered(channel, got, raw):
            syscall("exit", LEADER_EXIT)
    os._exit(0)


def _ps(pid: int) -> tuple[str, ...] | Unread | None:
    """procps's ``ps -o stat,nlwp,args -p PID`` line (None: no ps here)."""
    ps = shutil.which("ps")
    if ps is None:
        return None
    where = f"execve {ps} -o stat=,nlwp=,args= -p {pid}"
    try:
        out = subprocess.run(
            [ps, "-o", "stat=,nlwp=,args=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=False,
            env={**os.environ, "LC_ALL": "C", "COLUMNS": "200"},
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return failed(where, err if isinstance(err, OSError) else errno.ETIMEDOUT)
    lines = out.stdout.splitlines()
    if out.returncode != 0 or len(lines) != 1:
        return Unread(where, f"exit {out.returncode}: {out.stderr.strip()[:200]!r}")
    stat, nlwp, args = [*lines[0].split(None, 2), "", "", ""][:3]
    return stat, nlwp, args


def _waiting(h: Held, pid: int, tids: list[int]) -> bool | Unread:
    """Every task of ``tids`` waits in rt_sigtimedwait now; one that is
    gone already (its rt_sigtimedwait failed) ends the wait, with the
    errno the holder saw it return."""
    for tid in tids:
        if gone(pid, tid) is True:
            return h.why_ended(tid, "rt_sigtimedwait")
    return effect(lambda *w: all(w), *(in_syscall(pid, t, "rt_sigtimedwait") for t in tids))


def observe_leader_exit() -> Seen:
    # Raw threads that wait for SIGUSR1 as long as it takes: nothing but the
    # lab ends them (or SIGKILL, and the leader's death signal with the lab).
    prog, data = waiter(SIGUSR1, seconds=None)
    with holding(2, program=prog, scratch=data, park=False, then=_exit_leader) as h:
        pid, (a, b) = h.pid, h.raw
        waiting = until("the raw threads to wait", lambda: _waiting(h, pid, [a, b]))
        said = effect(lambda _: h.helper.send({"exit": True}), waiting)
        zombie = effect(
            lambda _: until(
                "the leader to exit", lambda: effect(lambda s: s == "Z", state(pid, pid))
            ),
            said,
        )
        live = effect(lambda _: states(pid, [a, b]), zombie)
        ps = effect(lambda _: _ps(pid), zombie)
        lives = effect(lambda _: _lives(h), zombie)
        first = effect(lambda _: tgkill(pid, a, SIGUSR1), zombie)
        first_gone = effect(lambda _: until("the first thread to end", lambda: gone(pid, a)), first)
        still = effect(lambda _: _lives(h), first_gone)
        last = effect(lambda _: tgkill(pid, b, SIGUSR1), still)
        ended = effect(lambda _: ends(h.pidfd, "the process to end"), last)
        how = effect(lambda _: exit_of(h.pidfd), ended)
    return Seen(
        shows={
            "leader_is_a_zombie": effect(
                lambda z, s: bool(z) and all(x != "Z" for x in s.values()), zombie, live
            ),
            "ps_shows_it_defunct": effect(
                lambda p: (
                    None if p is None else p[0].startswith("Z") and p[2].endswith("<defunct>")
                ),
                ps,
            ),
            "ends_with_its_last_thread": effect(
                lambda e, w: e is True and w is not None, ended, how
            ),
        },
        contrast={
            "lives_while_threads_do": effect(lambda a, b: a is True and b is True, lives, still),
        },
        evidence={
            "leader": pid,
            "threads": [a, b],
            "their_states_after_the_leader_exit": live,
            "ps (stat, nlwp, args)": ps,
            "leader_exit_status": LEADER_EXIT,
            "process_exit_reported_after_the_last_thread": how,
        },
    )


def _lives(h: Any) -> bool | Unread:
    """Not ended for its parent (waitid) nor for its pidfd (poll)."""
    return effect(lambda w, r: w is None and r is False, exit_of(h.pidfd), readable(h.pidfd, 0))
