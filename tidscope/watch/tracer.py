"""``watch --run CMD``: CMD's whole tree followed exactly with ptrace(2).

Rules this module keeps:

- CMD is traced from before its execve (see csrc/ptrace.c), and every
  task it makes is traced from birth (PTRACE_O_TRACECLONE, TRACEFORK,
  TRACEVFORK), so no birth, exec or exit in the tree is missed, however
  short the task's life.
- A new task is a thread when the call that made it asked for
  CLONE_THREAD: the flags are read from the caller's registers while it is
  stopped inside that call, so they are the ones the kernel acted on.  A
  fork or vfork call is a process.
- A new task that stops before its creator's clone event is held stopped
  until that event comes.  The event never comes when the creator is
  killed inside the call; the task is then let go, and reported with
  unknown flags and parent (its ids the kernel's own), once no task of
  ours that could have made it may still stop there: none is running or
  inside a clone-family call (/proc/TID/syscall) among the tasks of its
  thread group (a thread) or of its parent and its parent's children (a
  process: CLONE_PARENT).  A task that dies held is reported the same way.
- An exit is reported once: at the tracee's exit stop (PTRACE_EVENT_EXIT,
  with its status and its name, read while it is stopped there; a birth
  and an exec also carry the name read at their stop), or, for a task killed
  past that stop (SIGKILL), when it is reaped.  Every tracee is reaped
  (waitpid with __WALL); the ones still alive when the watch ends are
  killed first, and so is every child of ours (a CLONE_UNTRACED orphan),
  each only once the kernel says it is ours (core.reaper.claim: a pidfd
  that waitid finds our child or tracee), never by what /proc or libc says
  our pid is; tracees are also killed if tidscope dies (PTRACE_O_EXITKILL).  A task
  that vanishes while we ask about it (ESRCH) is normal: it is reported
  when it is reaped.  Every other failing call is a TidscopeError naming it;
  so is a wait4 that says ECHILD while a tracee of our own bookkeeping is
  still there (tgkill with signal 0), which is no end of CMD's tree.  The
  end path needs no /proc read: it resumes every tracee it knows of (one
  whose stop was taken but not resumed sits in it, SIGKILL or not) and
  tries a wait4 that says ECHILD again for WAIT_RETRY s.
- Each stop is handled with the terminating signals blocked, so a signal
  never leaves a stop taken from the kernel but not acted on.  A second
  terminating signal while the tree is being killed stops the reaping
  (EXITKILL ends the rest).
- Signals are passed on to the tracee unchanged, and group-stops are kept
  (PTRACE_LISTEN), so CMD behaves as it would untraced.
- ``time_ns`` is CLOCK_MONOTONIC when the tracer saw the stop, not the
  kernel's timestamp of the event (ptrace has none).

The caller must have no children of its own: every child is taken as
CMD's (the watch waits for them all, and kills them when it ends early).

This module is longer than 400 lines because the Tracer is one state
machine over ptrace stops: the rules above hold across all its methods,
and the requests it makes of one tracee are already apart (tracee.py).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import time
from collections import deque
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import NamedTuple, TypeVar

from tidscope.core import reaper
from tidscope.core.clone_errors import limit_advice, task_limits
from tidscope.core.signals import TERMINATING
from tidscope.core.syscalls import syscall
from tidscope.errors import Terminated, TidscopeError, UsageError, describe
from tidscope.proc import root as proc_root
from tidscope.watch import _ptrace, tracee
from tidscope.watch.connector import name_of
from tidscope.watch.event import Event
from tidscope.watch.tracee import EVENT_STOP

WALL = 0x40000000  # __WALL: threads and clone children too
CLONE_THREAD = 0x00010000
EVENT_FORK, EVENT_VFORK, EVENT_CLONE, EVENT_EXEC = 1, 2, 3, 4
EVENT_EXIT = 6
OPTIONS = (
    0x02  # PTRACE_O_TRACEFORK
    | 0x04  # PTRACE_O_TRACEVFORK
    | 0x08  # PTRACE_O_TRACECLONE
    | 0x10  # PTRACE_O_TRACEEXEC
    | 0x40  # PTRACE_O_TRACEEXIT
    | 0x100000  # PTRACE_O_EXITKILL
)
# The flags the kernel itself gives fork(2) and vfork(2) (kernel/fork.c).
FIXED = {"fork": int(signal.SIGCHLD), "vfork": 0x4000 | 0x100 | int(signal.SIGCHLD)}
CLONES = ("clone", "clone3")  # the calls whose flags are the caller's
GROUP_STOPS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
BATCH = 64  # stops handled between two hand-overs of events
RECHECK = 0.05  # seconds between looks at a task held at birth
WAIT_RETRY = 2.0  # seconds wait4 may say ECHILD while tracees are unreaped
T = TypeVar("T")


def command_path(argv: Sequence[str]) -> str:
    """CMD's executable, looked up in PATH as a shell would."""
    if not argv or not argv[0]:
        raise UsageError("--run needs a command: give e.g. --run 'sleep 1'")
    found = shutil.which(argv[0]) if "/" not in argv[0] else argv[0]
    if found is None or not os.access(found, os.X_OK) or os.path.isdir(found):
        raise UsageError(f"--run: {argv[0]!r} is not an executable command: check the name or PATH")
    return found


class Held(NamedTuple):
    """A task seen before the clone event that made it."""

    tgid: int | None  # from /proc when it stopped; None: not readable, or never seen stopped
    ppid: int | None
    seen: bool  # it stopped at birth (else only its death was seen)
    since: float  # time.monotonic() when it was first seen
    status: int | None = None  # its wait status once reaped; None while held stopped


class Tracer:
    """CMD started under ptrace; ``events()`` until its last task is gone.

    A context manager: on the way out every tracee left, and every child
    of ours, is killed and reaped."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self.path = command_path(self.argv)
        self.lost = self.overruns = 0  # nothing is lost: every stop waits for us
        self.pid = 0
        self.status: int | None = None  # CMD's wait status, once reaped
        self._tgid: dict[int, int] = {}  # every live tracee whose birth was reported: tid -> tgid
        self._ended: set[int] = set()  # exit reported at its exit stop
        self._left: dict[int, int | None] = {}  # leader gone, group alive: tgid -> last thread out
        self._unborn: set[int] = set()  # named by a parent's event, not stopped yet
        self._held: dict[int, Held] = {}  # seen before its parent's event
        self._out: deque[Event] = deque()
        self._current = 0  # the tracee whose stop is being handled
        self._look = False  # whether held tasks may be let go
        self._orphans = reaper.subreaper()
        # /proc of another pid namespace names other tasks: no names then
        self.foreign = proc_root.mismatch()

    def __enter__(self) -> Tracer:
        # What CMD's tree leaves orphaned comes back to us, to be reaped.
        self._orphans.__enter__()
        try:
            # (not with signals blocked: CMD would inherit the mask; a signal
            # that loses the pid here leaves CMD a child of ours, killed below)
            self.pid = self._start()
            self._tgid[self.pid] = self.pid
        except BaseException as err:
            self.__exit__(type(err), err, err.__traceback__)
            raise
        return self

    def _start(self) -> int:
        path = os.fsencode(self.path)
        try:
            return _ptrace.start(path, [os.fsencode(a) for a in self.argv], OPTIONS)
        except OSError as err:
            why = describe(err)
            if err.filename == os.fsdecode(path):
                raise TidscopeError(f"--run: cannot execute {describe(err, self.path)}") from None
            if isinstance(err.filename2, int):
                tracer = err.filename2
                name = name_of(tracer, tracer) or "?"
                raise TidscopeError(
                    f"--run: {why}: CMD was traced from its birth by"
                    f" process {tracer} ({name}), which traces what tidscope starts,"
                    " and a task has one tracer: run tidscope watch --run outside it"
                ) from None
            if err.errno == errno.EAGAIN and err.filename == "fork":
                why += f": {task_limits()}: {limit_advice(spawn=False)}"
            if err.errno == errno.EPERM and err.filename == "ptrace(PTRACE_SEIZE)":
                why += (
                    ": this machine forbids tracing (kernel.yama.ptrace_scope, or a seccomp"
                    " filter); run without --run"
                )
            raise TidscopeError(f"--run: {why}") from None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            old = tracee.mask(signal.SIG_BLOCK, {signal.SIGCHLD, *TERMINATING})
        except TidscopeError:
            if kind is None:
                raise
            old = None  # the reaping goes on unmasked: it then looks every RECHECK s
        try:
            again = self._end(failing=kind is not None)
            if kind is not None and old is not None:  # the first request to stop is reported
                while tracee.sigwait(set(TERMINATING), 0) is not None:
                    pass
        finally:
            if old is not None:
                tracee.mask(signal.SIG_SETMASK, old)
            self._orphans.__exit__(None, None, None)
        if again == signal.SIGINT:
            raise KeyboardInterrupt
        if again is not None:
            raise Terminated(again)

    def _end(self, failing: bool) -> int | None:
        """Kill what is left and reap it all, until we have no child and no
        tracee.  A terminating signal meanwhile, or a failing call, stops
        the reaping (EXITKILL ends the tracees as we leave): the signal is
        returned and the failure raised, unless ``failing`` (an error is on
        its way out already, and is the one reported)."""
        killed: set[int] = set()
        refused = 0.0  # when wait4 first said ECHILD with tracees unreaped
        try:
            self._kill_all(killed)
            while True:
                try:
                    tid, status = os.waitpid(-1, WALL | os.WNOHANG)
                except ChildProcessError as err:
                    if not self._unreaped():
                        return None
                    refused = refused or time.monotonic()
                    if time.monotonic() - refused > WAIT_RETRY:  # left to init, EXITKILL
                        raise self._wait_failed(err) from None
                    tid, status = 0, 0  # tried again: an ECHILD may pass
                except OSError as err:
                    raise tracee.call_error(err, "wait4") from None
                if tid == 0:
                    self._kill_all(killed)  # orphans that came back to us since
                    got = tracee.sigwait({signal.SIGCHLD, *TERMINATING}, RECHECK)
                    if got is not None and got != signal.SIGCHLD:
                        return None if failing else got
                    continue
                killed.discard(tid)
                if os.WIFSTOPPED(status):  # a new tracee, or an exit stop
                    tracee.kill_stopped(tid)
                    tracee.resume(_ptrace.cont, tid)
                else:
                    self._tgid.pop(tid, None)
                    self._held.pop(tid, None)
        except TidscopeError:
            if failing:  # EXITKILL ends the tracees as we leave
                return None
            raise

    def _kill_all(self, killed: set[int]) -> None:
        """SIGKILL, once each, our children and the groups of our tracees,
        each only once the kernel says it is ours (reaper.claim: our child
        or our tracee, asked through a pidfd, which is then what is
        signalled): an id we hold by mistake, or /proc's number for another
        task, is never signalled."""
        alive = (self._group(t, h) for t, h in self._held.items() if h.status is None)
        current = self._tgid.get(self._current, self._current)
        traced = {*self._tgid.values(), *alive, current} - {0}
        for pid in (traced | reaper.own_children()) - killed:
            fd = reaper.claim(pid)
            if fd is None:
                continue
            try:
                tracee.kill(fd)
            finally:
                os.close(fd)
            killed.add(pid)
        # A tracee whose stop we took and did not resume (an error came
        # mid-way) sits in it, and SIGKILL does not end an exit stop: each
        # tracee we know of is resumed.  Only our own tracee can be
        # (ESRCH for any other task, and for one not stopped).
        for tid in {*self._tgid, *self._held, self._current} - {0}:
            with contextlib.suppress(OSError):
                _ptrace.cont(tid, 0)

    def _unreaped(self) -> bool:
        """Whether a tracee we know of (our own bookkeeping, not /proc) is
        still there, by the kernel's answer to tgkill(2) with signal 0: a
        tracee's tid is its own until we reap it."""
        for tid, tgid in list(self._tgid.items()):
            try:
                syscall("tgkill", tgid, tid, 0)
            except ProcessLookupError:
                del self._tgid[tid]
            except OSError:  # there (EPERM: not signalled, yet there)
                return True
            else:
                return True
        return False

    def _wait_failed(self, err: OSError) -> TidscopeError:
        left = " ".join(str(t) for t in sorted(self._tgid))
        return TidscopeError(
            f"{describe(err, 'wait4')}, though tracee(s) {left} are not reaped:"
            " the kernel's wait failed, so CMD's tree cannot be followed to its end"
        )

    @staticmethod
    def _group(tid: int, held: Held) -> int:
        """The group leader of a held task, as far as we know it (a pidfd is
        a process's)."""
        return tid if held.tgid is None else held.tgid

    def _name(self, tid: int, tgid: int) -> str | None:
        """A tracee's name from /proc, unless /proc is another pid
        namespace's, where ``tid`` is another task (None: not shown)."""
        return None if self.foreign else name_of(tid, tgid)

    def events(self, deadline: float | None = None) -> Iterator[Event]:
        """Births, execs and exits of CMD's tree until its last task is gone
        or ``deadline`` (time.monotonic()) passes.

        SIGCHLD is blocked and waited for between stops (every ptrace stop
        and death sends the tracer one), so a deadline needs no signal
        that could strike mid-way through a stop."""
        old = tracee.mask(signal.SIG_BLOCK, {signal.SIGCHLD})
        try:
            while True:
                with tracee.blocked(TERMINATING):
                    ended = self._drain()
                while self._out:
                    yield self._out.popleft()
                if ended:
                    return
                wait = 3600.0 if deadline is None else min(deadline - time.monotonic(), 3600.0)
                if wait <= 0:
                    return
                if any(h.status is None for h in self._held.values()):
                    self._look = True
                    wait = min(wait, RECHECK)
                tracee.sigwait({signal.SIGCHLD}, wait)
        finally:
            tracee.mask(signal.SIG_SETMASK, old)

    def _drain(self) -> bool:
        """Handle up to BATCH stops and deaths; True once nothing is left."""
        for _ in range(BATCH):
            try:
                tid, status = os.waitpid(-1, WALL | os.WNOHANG)
            except ChildProcessError as err:
                if self._unreaped():  # the kernel's wait failed us: no end of CMD's tree
                    raise self._wait_failed(err) from None
                self._release(final=True)
                return True
            except OSError as err:
                raise tracee.call_error(err, "wait4") from None
            if tid == 0:
                break
            self._current = tid
            if os.WIFSTOPPED(status):
                self._stopped(tid, status)
            else:
                self._gone(tid, status)
            self._current = 0
        if self._look:
            self._look = False
            self._release()
        return False

    def _stopped(self, tid: int, status: int) -> None:
        sig, event = os.WSTOPSIG(status), status >> 16
        tgid = self._tgid.get(tid)
        if tgid is None:  # a new task stopped at birth before its parent's event
            held = self._held.get(tid)
            if held is None or held.status is not None:
                self._held[tid] = Held(*tracee.ids(tid)[:2], seen=True, since=time.monotonic())
            self._look = True
            return
        if event in (EVENT_FORK, EVENT_VFORK, EVENT_CLONE):
            if not self._birth(tid, tgid, event):
                return  # killed, and past this stop: its next stop or its death is reported
        elif event == EVENT_EXEC:
            former = tracee.ask(_ptrace.event_msg, tid)
            still = former is not None and tracee.ask(_ptrace.stop_event, tid) == EVENT_EXEC
            # a thread's exec takes the leader's tid
            by = former if still and former != tid else None
            now = time.monotonic_ns()
            self._out.append(Event("exec", now, -1, tid, tgid, by, comm=self._name(tid, tgid)))
            self._ended.discard(tid)  # a leader that had exited lives on in that thread
            self._left.pop(tgid, None)
            if by is not None:
                self._tgid.pop(by, None)
            if not still:
                return
        elif event == EVENT_EXIT:
            code = tracee.ask(_ptrace.event_msg, tid)
            if code is not None:  # else killed meanwhile: reported when reaped
                self._ended.add(tid)
                self._out.append(
                    self._exit(tid, tgid, code, self._name(tid, tgid), self._role(tid, tgid))
                )
        elif event == EVENT_STOP:
            if tid in self._unborn:  # the stop every new tracee starts with
                self._unborn.discard(tid)
            elif sig in GROUP_STOPS:  # a group-stop: stay stopped, as untraced
                tracee.listen(tid)
                return
        else:
            tracee.resume(_ptrace.cont, tid, sig)  # a signal for the tracee: deliver it
            return
        tracee.resume(_ptrace.cont, tid)

    def _birth(self, tid: int, tgid: int, event: int) -> bool:
        """Report the task that ``tid``'s clone event names; False if
        ``tid`` has left that stop (killed) since waitpid reported it: what
        was read then came from its exit stop, and is not used."""
        child = tracee.ask(_ptrace.event_msg, tid)
        site = None if child is None else tracee.ask(_ptrace.call, tid)
        if child is None or site is None or tracee.ask(_ptrace.stop_event, tid) != event:
            return False  # its child, held at birth, is let go as one whose caller died
        name, arg = site
        if not isinstance(name, str) or child in self._tgid:  # no clone call, or let go
            return True
        flags = arg if name in CLONES else FIXED[name]
        thread = bool(flags & CLONE_THREAD)
        child_tgid = tgid if thread else child
        held = self._held.pop(child, None)
        if held is not None and held.status is not None and reaper.ours(child):
            held = None  # that tid's earlier task died unclaimed; this one is new (ours)
        self._out.append(
            Event(
                "fork",
                time.monotonic_ns(),
                -1,
                child,
                child_tgid,
                parent_tid=tid,
                parent_tgid=tgid,
                thread=thread,
                flags=flags,
                call=name,
                comm=self._name(child, child_tgid),
            )
        )
        if held is not None and held.status is not None:
            self._out.append(self._exit(child, child_tgid, held.status))
            return True
        self._tgid[child] = child_tgid
        if held is None:
            self._unborn.add(child)
        else:
            tracee.resume(_ptrace.cont, child)
        return True

    def _gone(self, tid: int, status: int) -> None:
        if tid == self.pid:
            self.status = status
        self._unborn.discard(tid)
        if self._held:
            self._look = True
        held = self._held.get(tid)
        if held is not None and held.status is None:  # died held at birth
            self._held[tid] = held._replace(status=status)
            return
        tgid = self._tgid.pop(tid, None)
        if tgid is None:  # no tracee we knew: one killed before its first stop, or untraced
            self._held[tid] = Held(None, None, False, time.monotonic(), status)
            return
        if tid == tgid:  # a leader is reaped last: ids of its group still here are stale
            for stale in [t for t, g in self._tgid.items() if g == tgid]:
                del self._tgid[stale]
            if tgid in self._left:  # its exit was a leader's: the group's ends now
                self._ended.discard(tid)
                last = self._left.pop(tgid)
                self._out.append(self._exit(tid, tgid, status, None, "process", last))
                return
        if tid in self._ended:
            self._ended.discard(tid)
            return
        self._out.append(self._exit(tid, tgid, status, None, self._role(tid, tgid)))

    def _role(self, tid: int, tgid: int) -> str:
        """An exit said: a thread's; a leader's while a thread of its group
        has not reached its own exit (the group ends when the leader is
        reaped, which the kernel lets happen only once it is empty); else
        the process's."""
        if tid != tgid:
            if tgid in self._left:
                self._left[tgid] = tid
            return "thread"
        others = any(g == tgid and t != tid and t not in self._ended for t, g in self._tgid.items())
        if others:
            self._left[tgid] = None
            return "leader"
        return "process"

    def _exit(
        self,
        tid: int,
        tgid: int,
        status: int,
        comm: str | None = None,
        role: str | None = None,
        last_tid: int | None = None,
    ) -> Event:
        now = time.monotonic_ns()
        return Event(
            "exit",
            now,
            -1,
            tid,
            tgid,
            thread=tid != tgid,
            exit_code=status,
            comm=comm,
            role=role,
            last_tid=last_tid,
        )

    def _release(self, final: bool = False) -> None:
        """Let go the held tasks whose creator can no longer report them
        (``final``: every one, as no tracee is left).  A task only known to
        have died is left to its creator's event: it may have been no tracee.
        One held for less than RECHECK s is not looked at yet: its creator's
        event almost always comes first, and looking costs reads of /proc."""
        young = time.monotonic() - RECHECK
        for tid, held in list(self._held.items()):
            if not held.seen or (not final and held.since > young):
                continue
            if not final and self._may_report(tid, held):
                continue
            del self._held[tid]
            tgid = tid if held.tgid is None else held.tgid
            thread = None if held.tgid is None else tid != tgid
            parent = tgid if thread else None  # a thread is made in its own group
            now, comm = time.monotonic_ns(), self._name(tid, tgid)
            self._out.append(Event("fork", now, -1, tid, tgid, None, parent, thread, comm=comm))
            if held.status is not None:
                self._out.append(self._exit(tid, tgid, held.status))
            else:
                self._tgid[tid] = tgid
                tracee.resume(_ptrace.cont, tid)
        if final:
            self._held.clear()

    def _may_report(self, tid: int, held: Held) -> bool:
        """Whether a task of ours may still stop in the call that made ``tid``."""
        if held.tgid is not None and held.tgid != tid:
            return self._in_clone({held.tgid})  # a thread: made in its own group
        ppid = tracee.ids(tid)[1] if held.status is None else None
        ppid = held.ppid if ppid is None else ppid
        if ppid is None:
            return self._in_clone(None)
        # its parent's, or a child of its parent's (CLONE_PARENT)
        return self._in_clone({ppid}) or self._in_clone(reaper.children(ppid))

    def _in_clone(self, groups: set[int] | None) -> bool:
        """Whether a tracee of ``groups`` (None: any) may be in a clone call."""
        return any(
            tracee.in_clone(t) for t, g in self._tgid.items() if groups is None or g in groups
        )
