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
- An exit is reported once: at the tracee's exit stop (PTRACE_EVENT_EXIT,
  with its status, while /proc still has its name), or, for a task killed
  past that stop (SIGKILL), when it is reaped.  Every tracee is reaped
  (waitpid with __WALL); the ones still alive when the watch ends are
  killed first (they are also killed if tidscope dies: PTRACE_O_EXITKILL).
- Signals are passed on to the tracee unchanged, and group-stops are kept
  (PTRACE_LISTEN), so CMD behaves as it would untraced.
- ``time_ns`` is CLOCK_MONOTONIC when the tracer saw the stop, not the
  kernel's timestamp of the event (ptrace has none).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from types import FrameType, TracebackType

from tidscope import _ptrace, reaper
from tidscope.errors import TidscopeError, UsageError
from tidscope.watch import Event

WALL = 0x40000000  # __WALL: threads and clone children too
CLONE_THREAD = 0x00010000
EVENT_FORK, EVENT_VFORK, EVENT_CLONE, EVENT_EXEC = 1, 2, 3, 4
EVENT_EXIT, EVENT_STOP = 6, 128
OPTIONS = (
    0x02  # PTRACE_O_TRACEFORK
    | 0x04  # PTRACE_O_TRACEVFORK
    | 0x08  # PTRACE_O_TRACECLONE
    | 0x10  # PTRACE_O_TRACEEXEC
    | 0x40  # PTRACE_O_TRACEEXIT
    | 0x100000  # PTRACE_O_EXITKILL
)
# The flags the kernel itself gives fork(2) and vfork(2) (kernel/fork.c).
FIXED = {
    getattr(_ptrace, "SYS_FORK", -1): int(signal.SIGCHLD),
    getattr(_ptrace, "SYS_VFORK", -1): 0x4000 | 0x100 | int(signal.SIGCHLD),  # VFORK | VM
}
GROUP_STOPS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
CALLS = {
    _ptrace.SYS_CLONE: "clone",
    _ptrace.SYS_CLONE3: "clone3",
    getattr(_ptrace, "SYS_FORK", -1): "fork",
    getattr(_ptrace, "SYS_VFORK", -1): "vfork",
}


def command_path(argv: Sequence[str]) -> str:
    """CMD's executable, looked up in PATH as a shell would."""
    if not argv or not argv[0]:
        raise UsageError("--run needs a command: give e.g. --run 'sleep 1'")
    found = shutil.which(argv[0]) if "/" not in argv[0] else argv[0]
    if found is None or not os.access(found, os.X_OK) or os.path.isdir(found):
        raise UsageError(f"--run: {argv[0]!r} is not an executable command: check the name or PATH")
    return found


class Tracer:
    """CMD started under ptrace; ``events()`` until its last task is gone.

    A context manager: on the way out every tracee left is killed and
    reaped."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self.path = command_path(self.argv)
        self.lost = self.overruns = 0  # nothing is lost: every stop waits for us
        self.pid = 0
        self.status: int | None = None  # CMD's wait status, once reaped
        self._tgid: dict[int, int] = {}  # every live tracee: tid -> tgid
        self._ended: set[int] = set()  # exit reported at its exit stop
        self._early: set[int] = set()  # stopped at birth before its parent's event
        self._unborn: set[int] = set()  # named by a parent's event, not stopped yet
        self._orphans = reaper.subreaper()

    def __enter__(self) -> Tracer:
        # What CMD's tree leaves orphaned comes back to us, to be reaped.
        self._orphans.__enter__()
        try:
            self.pid = self._start()
        except BaseException:
            self._orphans.__exit__(None, None, None)
            raise
        self._tgid[self.pid] = self.pid
        return self

    def _start(self) -> int:
        path = os.fsencode(self.path)
        try:
            return _ptrace.start(path, [os.fsencode(a) for a in self.argv], OPTIONS)
        except OSError as err:
            why = os.strerror(err.errno or 0)
            if err.filename == path:
                raise TidscopeError(f"--run: cannot execute {self.path}: {why}") from None
            if err.errno == errno.EPERM:
                why += (
                    ": this machine forbids tracing (kernel.yama.ptrace_scope, or a seccomp"
                    " filter); run without --run"
                )
            raise TidscopeError(f"--run: {err.filename} failed: {why}") from None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for tid in {*self._tgid, *self._early}:
            _kill(tid)
        # Every tracee left reports here: a dying one stops once more at its
        # exit stop, and one stopped at birth before its parent's clone
        # event was read was never known; each is killed and let go.
        while True:
            try:
                tid, status = os.waitpid(-1, WALL)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if os.WIFSTOPPED(status):
                _kill(tid)
                _resume(_ptrace.cont, tid)
        self._orphans.__exit__(None, None, None)

    def events(self, deadline: float | None = None) -> Iterator[Event]:
        """Births, execs and exits of CMD's tree until its last task is gone
        or ``deadline`` (time.monotonic()) passes.

        Between stops we sleep in select(2) on a pipe that SIGCHLD wakes
        (every ptrace stop and death sends the tracer one), so a deadline
        needs no signal that could strike mid-way through a stop."""
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old_handler = signal.signal(signal.SIGCHLD, _wake)
        old_fd = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        try:
            while True:
                try:
                    tid, status = os.waitpid(-1, WALL | os.WNOHANG)
                except ChildProcessError:
                    return
                if tid == 0:
                    wait = None if deadline is None else deadline - time.monotonic()
                    if wait is not None and wait <= 0:
                        return
                    select.select([wake_r], [], [], wait)
                    _drain(wake_r)
                    continue
                if os.WIFSTOPPED(status):
                    event = self._stopped(tid, status)
                else:
                    event = self._gone(tid, status)
                if event is not None:
                    yield event
        finally:
            signal.set_wakeup_fd(old_fd)
            signal.signal(signal.SIGCHLD, old_handler)
            os.close(wake_r)
            os.close(wake_w)

    def _gone(self, tid: int, status: int) -> Event | None:
        if tid == self.pid:
            self.status = status
        tgid = self._tgid.pop(tid, None)
        if tgid is None or tid in self._ended:
            self._ended.discard(tid)
            return None
        return self._exit(tid, tgid, status)

    def _exit(self, tid: int, tgid: int, status: int) -> Event:
        return Event(
            "exit", time.monotonic_ns(), -1, tid, tgid, thread=tid != tgid, exit_code=status
        )

    def _stopped(self, tid: int, status: int) -> Event | None:
        sig, event = os.WSTOPSIG(status), status >> 16
        tgid = self._tgid.get(tid)
        out: Event | None = None
        if tgid is None:  # a new task stopped at birth before its parent's event
            self._early.add(tid)
            return None
        if event in (EVENT_FORK, EVENT_VFORK, EVENT_CLONE):
            out = self._birth(tid, tgid)
        elif event == EVENT_EXEC:
            former = _ptrace.event_msg(tid)
            by = None if former == tid else former  # a thread's exec takes the leader's tid
            out = Event("exec", time.monotonic_ns(), -1, tid, tgid, parent_tid=by)
            if by is not None:
                self._tgid.pop(by, None)
        elif event == EVENT_EXIT:
            self._ended.add(tid)
            out = self._exit(tid, tgid, _ptrace.event_msg(tid))
        elif event == EVENT_STOP:
            if tid in self._unborn:  # the stop every new tracee starts with
                self._unborn.discard(tid)
            elif sig in GROUP_STOPS:  # a group-stop: stay stopped, as untraced
                _resume(_ptrace.listen, tid)
                return None
        else:
            _resume(_ptrace.cont, tid, sig)  # a signal for the tracee: deliver it
            return None
        _resume(_ptrace.cont, tid)
        return out

    def _birth(self, tid: int, tgid: int) -> Event:
        child = _ptrace.event_msg(tid)
        nr, flags = _ptrace.call(tid)
        if nr not in (_ptrace.SYS_CLONE, _ptrace.SYS_CLONE3):  # fork, vfork: no argument
            flags = FIXED.get(nr, 0)
        thread = bool(flags & CLONE_THREAD)
        self._tgid[child] = tgid if thread else child
        if child in self._early:
            self._early.discard(child)
            _resume(_ptrace.cont, child)
        else:
            self._unborn.add(child)
        return Event(
            "fork",
            time.monotonic_ns(),
            -1,
            child,
            self._tgid[child],
            parent_tid=tid,
            parent_tgid=tgid,
            thread=thread,
            flags=flags,
            call=CALLS.get(nr, str(nr)),
        )


def _resume(request: Callable[[int, int], None], tid: int, sig: int = 0) -> None:
    """Restart a tracee; one killed meanwhile (ESRCH) is reported when reaped."""
    with contextlib.suppress(ProcessLookupError):
        request(tid, sig)


def _kill(tid: int) -> None:
    """SIGKILL the group of ``tid``; one already gone is no error."""
    with contextlib.suppress(OSError):
        os.kill(tid, signal.SIGKILL)


def _wake(signo: int, frame: FrameType | None) -> None:
    """SIGCHLD's handler: its work is the byte Python writes to the wakeup fd."""


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
