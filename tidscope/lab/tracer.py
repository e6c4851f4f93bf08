"""A tracer of tidscope's own for the lab: CLONE_PTRACE and CLONE_UNTRACED
act only on a task that is being traced, so the lab has one.

:func:`traced` forks a :class:`~tidscope.lab.helper.Helper` that seizes
the lab (PTRACE_SEIZE, with the options asked for: none, or following
every clone), resumes every stop of its tracees at once (a signal is
passed on as it came), and answers one question about a task: did a
clone event of the lab report it, did the tracer's own wait see it stop
as a new tracee, and is it the tracer's tracee now (its waitpid(2) says
so: ECHILD if not).  The lab leaves the block before it joins what it
cloned: the tracer then exits, which detaches every tracee.

ptrace is issued through core/syscalls' raw gateway (the watch wing has
its own tracer, which the lab may not import).  Where the kernel refuses
to let us trace (kernel.yama.ptrace_scope, a seccomp filter, a task that
already has a tracer: strace), the block raises an OSError that names
the request and what /proc says of the refusal: the experiment's row is
an ``error``, never a verdict.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import struct
from collections.abc import Iterator
from typing import Any

from tidscope.core.syscalls import syscall
from tidscope.errors import describe
from tidscope.lab.helper import WALL, Channel, Helper, readable
from tidscope.lab.probes import read_file
from tidscope.proc import files
from tidscope.proc.files import Unread, failed

PTRACE_CONT = 7
PTRACE_GETEVENTMSG = 0x4201
PTRACE_SEIZE = 0x4206
PTRACE_O_TRACEFORK, PTRACE_O_TRACEVFORK, PTRACE_O_TRACECLONE = 0x2, 0x4, 0x8
FOLLOW = PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE
EVENTS = {1: "PTRACE_EVENT_FORK", 2: "PTRACE_EVENT_VFORK", 3: "PTRACE_EVENT_CLONE"}
PTRACE_EVENT_STOP = 0x80
PR_SET_PTRACER = 0x59616D61  # Yama's: who may trace us
ANSWER = 10.0  # seconds the tracer has to answer
TICK = 0.005  # seconds between two looks at the tracees, at most


def stop_text(status: int) -> str:
    """A wait status of a tracee stop, as ptrace(2) names it."""
    if not os.WIFSTOPPED(status):
        if os.WIFEXITED(status):
            return f"exited {os.WEXITSTATUS(status)}"
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    sig, event = os.WSTOPSIG(status), status >> 16
    name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
    if event == PTRACE_EVENT_STOP:
        return f"stopped: PTRACE_EVENT_STOP ({name})"
    if event:
        return f"stopped: {EVENTS.get(event, f'event {event}')} ({name})"
    return f"stopped: {name}"


class _Tracer:
    """The tracer's side, in the helper process."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.lab = -1
        self.born: dict[int, str] = {}  # pid reported by a clone event -> the event
        self.first: dict[int, str] = {}  # new tracee -> its first stop
        self.gone: dict[int, str] = {}

    def run(self) -> None:
        order = self.channel.receive(ANSWER)
        if order is None:
            return
        self.lab = int(order["seize"])
        try:
            syscall("ptrace", PTRACE_SEIZE, self.lab, 0, int(order["options"]))
        except OSError as err:
            self.channel.send({"refused": err.errno})
            return
        self.channel.send({"seized": syscall("getpid")})
        while True:
            self.drain()
            if self.channel.pending():
                question = self.channel.receive(0)
                if question is None:  # the lab is done with us: exit, detaching all
                    return
                self.channel.send(self.answer(int(question["ask"])))
                continue
            readable(self.channel.rfd, TICK)

    def drain(self) -> None:
        """Resume every tracee that stopped, noting what each stop was."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG | WALL)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if not os.WIFSTOPPED(status):
                self.gone[pid] = stop_text(status)
                continue
            sig, event = os.WSTOPSIG(status), status >> 16
            inject = 0
            if pid != self.lab and pid not in self.first:
                self.first[pid] = stop_text(status)
            elif event in EVENTS:
                msg = bytearray(8)
                syscall("ptrace", PTRACE_GETEVENTMSG, pid, 0, msg)
                self.born[struct.unpack("Q", msg)[0]] = EVENTS[event]
            elif event == 0 and sig != signal.SIGTRAP:
                inject = sig  # a signal-delivery stop: the signal goes on
            with contextlib.suppress(ProcessLookupError):  # killed meanwhile
                syscall("ptrace", PTRACE_CONT, pid, 0, inject)

    def answer(self, pid: int) -> dict[str, Any]:
        self.drain()
        try:
            done, status = os.waitpid(pid, os.WNOHANG | WALL)
            tracee: bool | str = True
            if done:
                self.gone[pid] = stop_text(status)
        except ChildProcessError:
            tracee = False
        except OSError as err:
            tracee = describe(err, "wait4")
        return {
            "event": self.born.get(pid),
            "first_stop": self.first.get(pid),
            "tracee": tracee,
            "ended": self.gone.get(pid),
        }


def _body(channel: Channel) -> None:
    _Tracer(channel).run()


class Tracer:
    """The lab's side: the tracer's pid, and its answers."""

    def __init__(self, helper: Helper) -> None:
        self.helper = helper
        self.pid = helper.pid
        self.ptracer = ""  # what PR_SET_PTRACER said

    def ask(self, pid: int) -> dict[str, Any] | Unread:
        """What the tracer saw of ``pid`` (see the module's docstring)."""
        try:
            self.helper.send({"ask": pid})
            got = self.helper.receive(ANSWER)
        except OSError as err:
            return failed(str(err.filename or "ask the tracer"), err)
        if isinstance(got.get("tracee"), str):
            return failed(f"the tracer's {got['tracee']}", errno.EIO)
        return got


@contextlib.contextmanager
def traced(options: int) -> Iterator[Tracer]:
    """This lab traced by a helper of its own, with ``options``."""
    us = syscall("getpid")
    with Helper("tracer", _body) as helper:
        tracer = Tracer(helper)
        try:
            syscall("prctl", PR_SET_PTRACER, helper.pid)
            tracer.ptracer = "set"
        except OSError as err:  # EINVAL: no Yama here, nothing to allow
            tracer.ptracer = describe(err, "prctl PR_SET_PTRACER")
        helper.send({"seize": us, "options": options})
        got = helper.receive(ANSWER)
        if "refused" in got:
            raise _refused(us, int(got["refused"]), _tracer_of(us))
        now = _tracer_of(us)
        if now != helper.pid:
            raise OSError(
                errno.EPROTO,
                f"the tracer ({helper.pid}) seized the lab, yet /proc says its tracer is {now}",
                "ptrace PTRACE_SEIZE",
            )
        yield tracer


def _tracer_of(pid: int) -> int:
    """``pid``'s TracerPid; an OSError naming the read when it cannot be read
    (or /proc is another pid namespace's, where ``pid`` is another task)."""
    data = read_file(f"/proc/{pid}/status")
    if isinstance(data, Unread):
        raise data.error()
    for line in data.splitlines():
        if line.startswith(b"TracerPid:"):
            return int(line.split()[1])
    raise OSError(errno.ENODATA, "no TracerPid line", f"/proc/{pid}/status")


def _refused(lab: int, code: int, tracer: int) -> OSError:
    """ptrace refused: the request and errno, and what /proc says of why."""
    why = []
    if tracer:
        comm = files.contents(f"/proc/{tracer}/comm", check=False, raises=files.NOTHING)
        name = "?" if isinstance(comm, Unread) else comm.decode(errors="replace").strip()
        why.append(f"the lab is already traced by {tracer} ({name}), and a task has one tracer")
    scope = files.contents("/proc/sys/kernel/yama/ptrace_scope", check=False, raises=files.NOTHING)
    if not isinstance(scope, Unread) and scope.strip() != b"0":
        why.append(f"kernel.yama.ptrace_scope is {scope.decode(errors='replace').strip()}")
    mode = _status_line(lab, b"Seccomp:")
    if mode not in (None, b"0"):
        why.append(f"a seccomp filter is installed (Seccomp: {mode.decode()})")
    where = "ptrace PTRACE_SEIZE of the lab"
    if why:
        where += " (" + "; ".join(why) + ")"
    return OSError(code, os.strerror(code), where)


def _status_line(pid: int, key: bytes) -> bytes | None:
    data = files.contents(f"/proc/{pid}/status", check=False, raises=files.NOTHING)
    if isinstance(data, Unread):
        return None
    for line in data.splitlines():
        if line.startswith(key):
            return line[len(key) :].strip()
    return None
