"""A process of raw threads the lab looks at from outside: the facts that
stop, kill or end a whole thread group need one that is not the lab.

:func:`holding` forks a :class:`~tidscope.lab.helper.Helper` that blocks
the signals asked for (their actions set back to the default), clones
raw threads (``count`` running ``program``, and ``extra`` more running
``extra_program``), reports its pid and their tids, then runs ``then``
(by default: waits until the lab is done with it, answering pings).
The lab gets a :class:`Held`: those ids and the helper's pidfd, through
which alone it is signalled.  A raw thread that ended at once (its
syscall failed) cannot tell the lab why from outside: the holder
answers ``{"results": ...}`` with what each raw thread's first op
returned (:meth:`Held.why_ended`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from tidscope.core import flags
from tidscope.core.clone import Children, Op
from tidscope.core.signals import sigmask
from tidscope.core.syscalls import syscall
from tidscope.lab.facts.base import DEADLINE, Unread, failed
from tidscope.lab.helper import Channel, Helper

Then = Callable[[Channel, dict[str, Any], Children], None]


@dataclass
class Held:
    helper: Helper
    pid: int
    raw: list[int]  # the tids of the raw threads running ``program``
    extra: list[int]  # and of those running ``extra_program``
    said: dict[str, Any] = field(default_factory=dict)  # all it reported

    @property
    def pidfd(self) -> int:
        return self.helper.pidfd

    def signal(self, signo: int) -> None:
        self.helper.signal(signo)

    def ping(self) -> bool | Unread:
        """A round trip to the holder's own thread: True once it answered,
        which it could only do while its process lived on."""
        try:
            self.helper.send({"ping": True})
            got = self.helper.receive(DEADLINE)
        except OSError as err:
            return failed(str(err.filename or "ping the holder"), err)
        return got.get("pong") is True

    def why_ended(self, tid: int, what: str) -> Unread:
        """Why raw thread ``tid``, running ``program``, ended at once: its
        first op's errno, as the holder reads it from its report (ECHILD
        when it says none, or cannot be asked)."""
        where = f"raw thread {tid}'s {what}"
        try:
            self.helper.send({"results": True})
            got = self.helper.receive(DEADLINE)
            first = int(got["results"][self.raw.index(tid)])
        except OSError as err:
            return failed(f"{where} (it ended at once; asking the holder why: {err})", err)
        except (KeyError, IndexError, TypeError, ValueError):
            return failed(f"{where} (it ended at once; the holder said {got!r})", errno.EPROTO)
        if first < 0:
            return failed(where, -first)
        return failed(f"{where} (it ended at once, returning {first})", errno.ECHILD)

    def stop_reported(self) -> str | None:
        """The signal that stopped it, as waitid(WSTOPPED) tells its parent
        without taking the report (None: none yet)."""
        got = os.waitid(os.P_PIDFD, self.pidfd, os.WSTOPPED | os.WNOHANG | os.WNOWAIT)
        return None if got is None else signal.Signals(got.si_status).name


def answered(channel: Channel, got: dict[str, Any], raw: Children) -> bool:
    """Answer ``got`` if it is a ping or asks for the raw threads' first
    results; whether it was."""
    if got.get("ping"):
        channel.send({"pong": True})
    elif got.get("results"):
        channel.send({"results": [r.results[0] if r.results else 0 for r in raw.reports()]})
    else:
        return False
    return True


def wait_until_done(channel: Channel, said: dict[str, Any], raw: Children) -> None:
    """Answer pings until the lab is done (it dies with the lab meanwhile)."""
    while True:
        with contextlib.suppress(OSError):
            got = channel.receive(3600)
            if got is None:
                return
            answered(channel, got, raw)


@contextlib.contextmanager
def holding(
    count: int,
    *,
    program: Sequence[Op] = (),
    scratch: bytes = b"",
    park: bool = True,
    extra: int = 0,
    extra_program: Sequence[Op] = (),
    extra_scratch: bytes = b"",
    block: Sequence[int] = (),
    then: Then = wait_until_done,
) -> Iterator[Held]:
    def body(channel: Channel) -> None:
        if block:
            for signo in block:
                signal.signal(signo, signal.SIG_DFL)
            sigmask(signal.SIG_BLOCK, block)
        with contextlib.ExitStack() as stack:
            raw = stack.enter_context(
                Children(count, flags.THREAD, program=program, scratch=[scratch] * count, park=park)
            )
            more = (
                stack.enter_context(
                    Children(
                        extra, flags.THREAD, program=extra_program, scratch=[extra_scratch] * extra
                    )
                )
                if extra
                else None
            )
            said = {"pid": syscall("getpid"), "raw": raw.tids, "extra": more.tids if more else []}
            try:
                channel.send(said)
                then(channel, said, raw)
            except BaseException:
                # The raw threads may wait for what the lab will now never
                # send (a signal): joining them would wait until the lab's
                # grace ran out.  Not joined, they end with the helper's
                # exit_group, right after its failure report.
                stack.pop_all()
                raise

    with Helper("holder", body) as helper:
        said = helper.receive(DEADLINE)
        if said.get("pid") != helper.pid:
            raise OSError(errno.EPROTO, f"the holder says it is {said.get('pid')}", "holder")
        yield Held(helper, helper.pid, list(said["raw"]), list(said["extra"]), said)
