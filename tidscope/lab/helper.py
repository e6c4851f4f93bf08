"""A lab's helper: a Python process the lab forks, talks to, and ends.

The ptrace experiments need a tracer that is not the lab (a task cannot
trace itself), and the thread facts need a process whose threads the lab
stops, kills or watches exec from outside.  A :class:`Helper` is that
process:

- it runs ``body(channel)`` and exits; it dies with the lab
  (PR_SET_PDEATHSIG, checked against a lab that died before it took
  effect), and holds no descriptor of the lab's but its two pipes and
  standard streams (no reader of the lab's report waits on it);
- the lab holds a pidfd for it from the moment it is forked (our child,
  not yet reaped: its pid cannot be another's), signals it only through
  that pidfd, and reaps it when the block ends, with SIGKILL through the
  pidfd once ``grace`` seconds have passed;
- messages are JSON objects, one a line, both ways; every wait for one
  has a deadline, and a failed step is an OSError that names it.  The lab
  ends the conversation with a message saying so (END), not only by
  closing its pipe: a raw child the lab cloned meanwhile holds a copy of
  that pipe, and the helper would never see its end.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import signal
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from tidscope.core.clone import PR_SET_PDEATHSIG
from tidscope.core.syscalls import syscall
from tidscope.lab.runner import need

WALL = 0x40000000  # __WALL
GRACE = 5.0  # seconds a helper has to exit once told to
READY = 10.0  # seconds a helper has to say it is set up
END = {"end": True}  # the lab is done with the helper


class Channel:
    """One end of a helper's two pipes: JSON objects, one a line."""

    def __init__(self, rfd: int, wfd: int, peer: str) -> None:
        self.rfd, self.wfd, self.peer = rfd, wfd, peer
        self._buf = b""

    def send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[need(f"write to {self.peer}", os.write, self.wfd, data) :]

    def receive(self, timeout: float) -> dict[str, Any] | None:
        """The next message within ``timeout`` seconds; None at the end of
        the pipe or of the conversation (END); ETIMEDOUT, naming the peer,
        when none came."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            if not readable(self.rfd, deadline - time.monotonic()):
                raise OSError(
                    errno.ETIMEDOUT, os.strerror(errno.ETIMEDOUT), f"{self.peer}'s answer"
                )
            chunk = need(f"read from {self.peer}", os.read, self.rfd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        try:
            value = json.loads(line)
        except ValueError:
            raise OSError(errno.EPROTO, f"{self.peer} answered garbage", self.peer) from None
        if not isinstance(value, dict):
            raise OSError(errno.EPROTO, f"{self.peer} answered garbage", self.peer)
        return None if value == END else value

    def pending(self) -> bool:
        """Whether a message (or the end) can be read now."""
        return b"\n" in self._buf or readable(self.rfd, 0)


def readable(fd: int, seconds: float) -> bool:
    """Whether ``fd`` has data or its end within ``seconds`` (poll(2))."""
    waiter = select.poll()
    waiter.register(fd, select.POLLIN)
    return bool(need("poll", waiter.poll, max(seconds, 0) * 1000))


class Helper:
    """``body`` in a forked process (see the module's docstring)."""

    def __init__(
        self,
        name: str,
        body: Callable[[Channel], None],
        grace: float = GRACE,
        *,
        outside_pidns: bool = False,
    ) -> None:
        """``outside_pidns``: the lab unshared a PID namespace, so the
        helper is its init and getppid() says 0 (the lab is not in it)."""
        self.name = name
        self.outside_pidns = outside_pidns
        self.body = body
        self.grace = grace
        self.pid = -1
        self.pidfd = -1
        self.channel: Channel | None = None
        self.status: int | None = None  # its wait status, once reaped

    def __enter__(self) -> Helper:
        down = need("pipe2", os.pipe2, os.O_CLOEXEC)  # lab -> helper
        try:
            up = need("pipe2", os.pipe2, os.O_CLOEXEC)  # helper -> lab
        except OSError:
            for fd in down:
                os.close(fd)
            raise
        lab = syscall("getpid")
        try:
            pid = need(f"fork the {self.name}", os.fork)
        except OSError:
            for fd in (*down, *up):
                os.close(fd)
            raise
        if pid == 0:
            self._child(lab, down[0], up[1])
        os.close(down[0])
        os.close(up[1])
        self.pid = pid
        self.channel = Channel(up[0], down[1], self.name)
        try:
            self.pidfd = need(f"pidfd_open the {self.name}", os.pidfd_open, pid)
        except OSError:
            # Our child, not yet reaped: its pid is no one else's.
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            self._close_pipes()
            self._reap(self.grace)
            raise
        try:
            self.receive(READY)  # its set-up done, or the step of it that failed
        except BaseException:
            self.end()
            raise
        return self

    def _child(self, lab: int, rfd: int, wfd: int) -> None:
        """The helper's side: never returns."""
        code = 0
        try:
            syscall("prctl", PR_SET_PDEATHSIG, int(signal.SIGKILL))
            if syscall("getppid") != (0 if self.outside_pidns else lab):
                os._exit(1)
            keep = sorted({0, 1, 2, rfd, wfd})
            for low, high in zip(keep, [*keep[1:], os.sysconf("SC_OPEN_MAX")], strict=True):
                os.closerange(low + 1, high)
            channel = Channel(rfd, wfd, "the lab")
            channel.send({"ready": True})
            self.body(channel)
        except BaseException as err:  # everything is reported, nothing escapes
            code = 1
            with contextlib.suppress(BaseException):
                report: dict[str, Any] = {"error": f"{type(err).__name__}: {err}"}
                if isinstance(err, OSError):
                    report = {"error": " ".join(str(err).split())}  # no errno: its own text
                    if err.errno:
                        report = {"error": str(err.filename or "syscall"), "errno": err.errno}
                Channel(rfd, wfd, "the lab").send(report)
            # Now, while the error's frames still hold what they made: raw
            # threads that may never end (waiting for a signal from the lab)
            # are joined when their group is freed; exit_group ends them.
            os._exit(code)
        finally:
            os._exit(code)

    def send(self, message: dict[str, Any]) -> None:
        """Send ``message``; a helper that ended has its own failure told
        (the step it reported) rather than the write's EPIPE."""
        assert self.channel is not None
        try:
            self.channel.send(message)
        except OSError:
            if self.channel.pending():
                self.receive(0)  # raises the step it reported
            raise

    def receive(self, timeout: float) -> dict[str, Any]:
        """The helper's next message; an OSError naming the step when it
        reported one, ended, or said nothing in time."""
        assert self.channel is not None
        got = self.channel.receive(timeout)
        if got is None:
            raise OSError(errno.EPIPE, f"the {self.name} ended without answering", self.name)
        if "error" in got:
            where = f"the {self.name}'s {got['error']}"
            if not got.get("errno"):
                raise OSError(where)
            raise OSError(int(got["errno"]), os.strerror(int(got["errno"])), where)
        return got

    def signal(self, signo: int) -> None:
        """Send ``signo`` through our pidfd."""
        need(f"pidfd_send_signal to the {self.name}", signal.pidfd_send_signal, self.pidfd, signo)

    def exited(self, timeout: float) -> bool:
        """Whether it exited within ``timeout`` seconds (its pidfd is
        readable then); it is not reaped."""
        return readable(self.pidfd, timeout)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.end()

    def end(self) -> None:
        """Close its pipes, let it exit within ``grace`` seconds or SIGKILL
        it, and reap it; idempotent.  One that cannot be killed or reaped
        here (a failing syscall) dies with the lab, whose reaper takes it."""
        if self.pid < 0:
            return
        self._close_pipes()
        if not self._reap(self.grace):
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except OSError:
                with contextlib.suppress(OSError):  # our child, not reaped: still ours
                    os.kill(self.pid, signal.SIGKILL)
            self._reap(self.grace)
        with contextlib.suppress(OSError):
            os.close(self.pidfd)
        self.pidfd = -1
        self.pid = -1

    def _close_pipes(self) -> None:
        if self.channel is not None:
            with contextlib.suppress(OSError):  # a helper already gone cannot read it
                self.channel.send(END)
            for fd in (self.channel.rfd, self.channel.wfd):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.channel = None

    def _reap(self, seconds: float) -> bool:
        """Reap it within ``seconds``; whether it is gone (reaped, or no
        longer ours to reap)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG | WALL)
            except InterruptedError:
                continue
            except OSError:
                return True  # not ours to reap (any more)
            if done:
                self.status = status
                return True
            if time.monotonic() > deadline:
                return False
            pause = min(0.05, max(deadline - time.monotonic(), 0))
            with contextlib.suppress(OSError):
                if self.pidfd >= 0:
                    readable(self.pidfd, pause)  # readable once it exits
                else:
                    time.sleep(pause)
