"""A lab: a forked process in which one clone experiment runs.

Experiments change what they observe (the working directory, signal
dispositions, the hostname, mounts), so each runs in its own process, by
default in private UTS, mount and IPC namespaces (inside a new user namespace
when we are not root), and reports one JSON value through a pipe.  Whatever
happens - an exception, a crash, a timeout, a signal to tidscope - the lab
and every child it made are reaped: tidscope is a child subreaper while labs
run, and raw process children of a lab die with it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import select
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any, NoReturn

from tidscope import _rawclone, reaper
from tidscope.clone import SYSCALLS
from tidscope.signals import TERMINATING

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
MS_REC = 0x4000
MS_PRIVATE = 0x40000


class LabUnavailable(Exception):
    """The lab's namespaces could not be set up; ``errno`` says why."""

    def __init__(self, what: str, err: int) -> None:
        super().__init__(f"{what}: {errno.errorcode.get(err, err)} ({os.strerror(err)})")
        self.errno = err


def sys(name: str, *args: int | bytearray) -> int:
    """A raw syscall in this process (OSError on failure)."""
    return _rawclone.syscall(SYSCALLS[name], *args)


def cstr(text: str) -> bytearray:
    return bytearray(text.encode() + b"\0")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def enter_user_namespace() -> None:
    """Become root of a new user namespace mapped to our own ids."""
    uid, gid = os.geteuid(), os.getegid()
    try:
        sys("unshare", CLONE_NEWUSER)
    except OSError as err:
        raise LabUnavailable("cannot create a user namespace", err.errno or 0) from None
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"0 {uid} 1")
    _write("/proc/self/gid_map", f"0 {gid} 1")


def isolate() -> str:
    """Private UTS, mount and IPC namespaces for this lab; says how."""
    how = "as root"
    if os.geteuid() != 0:
        enter_user_namespace()
        how = "in a new user namespace"
    try:
        sys("unshare", CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWIPC)
        sys("mount", cstr("none"), cstr("/"), 0, MS_REC | MS_PRIVATE, 0)
    except OSError as err:
        raise LabUnavailable("cannot isolate the lab", err.errno or 0) from None
    return how


def run(fn: Callable[[], Any], *, isolated: bool = True, timeout: float = 30.0) -> Any:
    """``fn()`` in a new lab process; returns its JSON value.

    A lab that cannot be set up returns ``{"unavailable": reason}``; one
    that fails returns ``{"error": reason}``.  Children the lab left us
    (CLONE_PARENT children are ours to reap) are reaped here.
    """
    before = reaper.children()
    rfd, wfd = os.pipe()
    # Terminating signals wait while we fork (Python's after-fork hooks must
    # not be interrupted in the lab) and while we reap (every lab is reaped,
    # however often tidscope is signalled); they are handled right after.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, TERMINATING)
    pid = os.fork()
    if pid == 0:  # the lab
        os.close(rfd)
        _lab(fn, isolated, wfd, mask)
    os.close(wfd)
    data: bytes | None = b""
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        data = _read_all(rfd, timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, TERMINATING)
        os.close(rfd)
        reaper.reap(pid, 2.0)
        for left in reaper.children() - before:  # CLONE_PARENT children, orphans
            reaper.reap(left, 2.0)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    if data is None:
        return {"error": f"the lab did not answer within {timeout:g}s"}
    try:
        value = json.loads(data) if data else {"error": "the lab died without answering"}
    except ValueError:
        value = {"error": "the lab answered garbage"}
    return value


def _lab(
    fn: Callable[[], Any], isolated: bool, wfd: int, mask: set[int | signal.Signals]
) -> NoReturn:
    """The lab's side of :func:`run`: report one JSON value, then exit."""
    code = 0
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        how = isolate() if isolated else "unisolated"
        value = fn()
        if isinstance(value, dict):
            value.setdefault("lab", how)
    except LabUnavailable as err:
        value = {"unavailable": str(err), "errno": err.errno}
    except BaseException as err:  # report everything, even KeyboardInterrupt
        value = {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()}
        code = 1
    with contextlib.suppress(BaseException):
        os.write(wfd, json.dumps(value).encode())
    os._exit(code)


def _read_all(fd: int, timeout: float) -> bytes | None:
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
