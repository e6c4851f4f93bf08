"""A lab: a forked process in which one clone experiment runs.

Experiments change what they observe (the working directory, signal
dispositions, the hostname, mounts), so each runs in its own process, by
default in private UTS, mount and IPC namespaces (inside a new user namespace
when we are not root), and reports through a pipe, one JSON line a message.

Nothing a lab makes outlives it:
 - the lab dies with tidscope (PR_SET_PDEATHSIG, checked against a parent
   that died before it was set), and its raw process children die with the
   lab the same way (see probes.spawn_one);
 - tidscope is a child subreaper while labs run, and reaps every lab and
   every child a lab hands it, whatever happens: an exception, a crash, a
   timeout, a signal to tidscope;
 - what a lab makes in its own namespaces (a SysV semaphore, a mount, a
   directory on its own /tmp) goes with them; what it must make outside
   (a cgroup, a directory when it has no /tmp of its own) is registered
   with tidscope *before* it is made, and tidscope removes what is left
   once the lab is gone.
Every failure, in the lab or in tidscope's own steps, comes back as
``{"error": ...}`` naming the step: nothing a lab raises escapes it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import select
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from tidscope.core import reaper
from tidscope.core.clone import PR_SET_PDEATHSIG
from tidscope.core.clone_errors import limit_advice, task_limits
from tidscope.core.signals import TERMINATING, sigmask
from tidscope.core.syscalls import syscall
from tidscope.errors import describe, note

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_NOSUID, MS_NODEV = 0x2, 0x4
MNT_DETACH = 2
KILL_AFTER = 2.0  # seconds a lab has to end after SIGTERM, or a timeout


T = TypeVar("T")


class LabUnavailable(Exception):
    """The lab's namespaces could not be set up; the message names the
    step that failed and its errno."""

    def __init__(self, what: str, err: OSError) -> None:
        super().__init__(f"{what}: {describe(err, err.filename or 'syscall')}")
        self.errno = err.errno or 0


def need(step: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, whose OSError then names ``step`` (os.close, select
    and friends name none themselves)."""
    try:
        return fn(*args)
    except OSError as err:
        raise OSError(err.errno, err.strerror, step) from None


def cstr(text: str) -> bytearray:
    return bytearray(text.encode() + b"\0")


# -- what a lab registers ---------------------------------------------------------

_here = {"channel": -1}  # in a lab: its end of the report pipe
_janitors: list[int] = []  # in a lab: the pipes its janitors wait on (see guard)


def _send(message: dict[str, Any]) -> None:
    data = (json.dumps(message, default=str) + "\n").encode()
    while data:
        data = data[os.write(_here["channel"], data) :]


def register(kind: str, path: str) -> None:
    """Tell tidscope, before it exists, about a directory (``dir``) or a
    cgroup (``cgroup``) this lab is about to create outside its own
    namespaces: tidscope removes it if it is left."""
    if _here["channel"] >= 0:
        _send({"created": kind, "name": path})


JANITOR_WAIT = 10.0  # seconds a janitor retries an rmdir its cgroup's last task holds up


def guard(path: str) -> None:
    """Fork a janitor that removes the cgroup (or empty directory) ``path``
    this lab is about to make once the lab is gone, however it ends: a
    SIGKILL of tidscope kills the lab (PR_SET_PDEATHSIG) and leaves the
    janitor to remove what no one else would.  It waits on a pipe only the
    lab (and the lab's raw children, which die with it) holds, then tries
    rmdir for up to JANITOR_WAIT seconds (a reaped task leaves its cgroup
    asynchronously: EBUSY meanwhile) and exits.  It lives in a session of
    its own, ignores the signals that ask a process group to stop, and
    holds no descriptor but its pipe, so it keeps no reader of ours waiting.
    When the lab ends normally, it has removed ``path`` itself and the
    janitor exits at once."""
    r, w = need("pipe2", os.pipe2, os.O_CLOEXEC)
    pid = need("fork", os.fork)
    if pid:
        os.close(r)
        _janitors.append(w)  # open until the lab exits
        return
    try:
        os.setsid()
        for signo in TERMINATING:
            signal.signal(signo, signal.SIG_IGN)
        os.closerange(0, r)
        os.closerange(r + 1, os.sysconf("SC_OPEN_MAX"))
        while os.read(r, 1):
            pass
        deadline = time.monotonic() + JANITOR_WAIT
        while True:
            try:
                os.rmdir(path)
                break
            except OSError as err:
                if err.errno != errno.EBUSY or time.monotonic() > deadline:
                    break
            time.sleep(0.01)
    finally:
        os._exit(0)


def make_dir(prefix: str) -> str:
    """A new private directory under the temporary directory, registered."""
    # Not tempfile.gettempdir(): it probes by creating files, and its error
    # when it cannot is no one line.
    tmp = os.environ.get("TMPDIR") or "/tmp"
    path = os.path.join(tmp, f"{prefix}{secrets.token_hex(6)}")
    register("dir", path)
    need(f"mkdir {path}", os.mkdir, path, 0o700)
    return path


def remove(kind: str, path: str) -> None:
    """Remove one registered directory or cgroup if it is still there; say
    so on stderr when it cannot be removed."""
    try:
        if kind == "dir":
            with contextlib.suppress(OSError):  # a mount a child left on it
                syscall("umount2", cstr(path), MNT_DETACH)
        for _ in range(200):  # a reaped task leaves its cgroup asynchronously
            try:
                os.rmdir(path)
                return
            except OSError as err:
                if kind != "cgroup" or err.errno != errno.EBUSY:
                    raise
            time.sleep(0.01)
        os.rmdir(path)
    except FileNotFoundError:
        return
    except OSError as err:
        if _here["channel"] < 0:  # in a lab, tidscope tries again and says so
            note(
                "verify-flags",
                f"could not remove {path}, made by a lab ({describe(err, 'rmdir')}): rmdir {path}",
            )


# -- namespaces --------------------------------------------------------------------


def _write(path: str, text: str) -> None:
    def write() -> None:
        with open(path, "w") as f:
            f.write(text)

    need(f"write {path}", write)


def enter_user_namespace() -> None:
    """Become root of a new user namespace mapped to our own ids."""
    uid, gid = os.geteuid(), os.getegid()
    try:
        syscall("unshare", CLONE_NEWUSER)
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"0 {uid} 1")
        _write("/proc/self/gid_map", f"0 {gid} 1")
    except OSError as err:
        raise LabUnavailable("cannot create a user namespace", err) from None


def isolate() -> str:
    """Private UTS, mount and IPC namespaces for this lab; says how."""
    how = "as root"
    if os.geteuid() != 0:
        enter_user_namespace()
        how = "in a new user namespace"
    try:
        syscall("unshare", CLONE_NEWUTS | CLONE_NEWNS | CLONE_NEWIPC)
        syscall("mount", cstr("none"), cstr("/"), 0, MS_REC | MS_PRIVATE, 0)
    except OSError as err:
        raise LabUnavailable("cannot isolate the lab", err) from None
    # A /tmp of our own: what we make there goes with our mount namespace,
    # even if tidscope is killed before it could remove it.  Without it,
    # the directories are still registered (see make_dir).
    with contextlib.suppress(OSError):
        syscall("mount", cstr("tidscope"), cstr("/tmp"), cstr("tmpfs"), MS_NOSUID | MS_NODEV, 0)
        os.environ["TMPDIR"] = "/tmp"
    return how


# -- running a lab -----------------------------------------------------------------


def run(fn: Callable[[], Any], *, isolated: bool = True, timeout: float = 30.0) -> Any:
    """``fn()`` in a new lab process; returns its JSON value.

    A lab that cannot be set up returns ``{"unavailable": reason}``; one
    that fails, or that we could not start, watch or reap, returns
    ``{"error": reason}``.  Children the lab left us (CLONE_PARENT children
    are ours to reap) are reaped here, and what it registered is removed.
    """
    before = reaper.own_children()
    try:
        rfd, wfd = os.pipe()
    except OSError as err:
        return {"error": "cannot start the lab: " + describe(err, "pipe2")}
    try:
        return _watch(fn, isolated, timeout, before, rfd, wfd)
    finally:
        for fd in (rfd, wfd):
            with contextlib.suppress(OSError):
                os.close(fd)


def _watch(
    fn: Callable[[], Any], isolated: bool, timeout: float, before: set[int], rfd: int, wfd: int
) -> Any:
    # Terminating signals wait while we fork (Python's after-fork hooks must
    # not be interrupted in the lab) and while we reap (every lab is reaped,
    # however often tidscope is signalled); they are handled right after.
    try:
        mask = sigmask(signal.SIG_BLOCK, TERMINATING)
    except OSError as err:
        return {"error": "cannot start the lab: " + describe(err, "rt_sigprocmask")}
    try:
        parent = syscall("getpid")  # os.getpid() would hide a failure as -1
        pid = os.fork()
    except OSError as err:
        sigmask(signal.SIG_SETMASK, mask)
        if err.filename == "getpid":
            return {"error": "cannot start the lab: " + describe(err, "getpid")}
        why = describe(err, "fork")
        if err.errno == errno.EAGAIN:
            why += f": {task_limits()}: {limit_advice(spawn=False)}"
        return {"error": "cannot fork the lab: " + why}
    if pid == 0:  # the lab: never returns, whatever happens
        try:
            _here["channel"] = wfd
            os.close(rfd)
            _lab(fn, isolated, parent, mask)
        finally:
            os._exit(1)
    registered: list[tuple[str, str]] = []
    outcome: dict[str, Any] = {}
    fd: int | None = None
    try:
        need("close", os.close, wfd)  # else we would never see the pipe's end
        fd = reaper.opened(pid)  # our unreaped child: the pid is its own
        sigmask(signal.SIG_SETMASK, mask)
        outcome = _read(rfd, timeout, registered) or {
            "error": f"the lab did not answer within {timeout:g}s"
        }
    except OSError as err:
        outcome = {"error": "cannot watch the lab: " + describe(err, err.filename or "read")}
    except BaseException:
        if fd is not None:
            with contextlib.suppress(OSError):
                reaper.send(fd, signal.SIGTERM)
        raise
    finally:
        with contextlib.suppress(OSError):
            sigmask(signal.SIG_BLOCK, TERMINATING)
        if "error" in outcome and fd is not None:  # stuck, or we cannot watch it: no grace
            with contextlib.suppress(OSError):
                reaper.send(fd, signal.SIGKILL)
        reaped = _reap_lab(pid, fd, before)
        for kind, name in registered:
            remove(kind, name)
        with contextlib.suppress(OSError):
            sigmask(signal.SIG_SETMASK, mask)
    if reaped is not None and "error" not in outcome:
        return {"error": f"cannot reap the lab: {reaped}"}
    return outcome


def _reap_lab(pid: int, fd: int | None, before: set[int]) -> str | None:
    """Reap the lab ``pid`` (killed through its pidfd ``fd`` once KILL_AFTER
    passed), then the children it left us (CLONE_PARENT children, orphans),
    each killed the same way if the kernel says it is ours; why the lab
    could not be reaped, or None."""
    reaped = reaper.reap(pid, KILL_AFTER, fd)
    if fd is not None:
        os.close(fd)
    for left in reaper.own_children() - before:
        got = reaper.claim(left)
        if got is not None:
            reaper.reap(left, KILL_AFTER, got)
            os.close(got)
    return reaped


def _readable(fd: int, seconds: float) -> bool:
    """Whether ``fd`` has data or its end within ``seconds`` (poll(2): unlike
    select(2), any descriptor number, however many our caller left open)."""
    waiter = select.poll()
    waiter.register(fd, select.POLLIN)
    return bool(waiter.poll(seconds * 1000))


def _read(fd: int, timeout: float, registered: list[tuple[str, str]]) -> dict[str, Any] | None:
    """The lab's messages until it closes the pipe: registrations go to
    ``registered``, the last ``result`` is returned (None: timed out)."""
    buf = b""
    result: dict[str, Any] | None = None
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not need("poll", _readable, fd, left):
            return None
        chunk = need("read", os.read, fd, 65536)
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                return {"error": "the lab answered garbage"}
            if "created" in message:
                registered.append((message["created"], message["name"]))
            elif "result" in message:
                result = message["result"]
        if not chunk:
            return result if result is not None else {"error": "the lab died without answering"}


def _lab(fn: Callable[[], Any], isolated: bool, parent: int, mask: set[Any]) -> NoReturn:
    """The lab's side of :func:`run`: report one JSON value, then exit."""
    code = 0
    try:
        # Die with tidscope; if it died before this took effect, we were
        # reparented and no signal will come: leave now.
        syscall("prctl", PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if syscall("getppid") != parent:
            os._exit(1)
        sigmask(signal.SIG_SETMASK, mask)
        need("chdir /", os.chdir, "/")  # our caller's directory may be closed to us
        how = isolate() if isolated else "unisolated"
        value = fn()
        if isinstance(value, dict):
            value.setdefault("lab", how)
    except LabUnavailable as err:
        value = {"unavailable": str(err), "errno": err.errno}
    except OSError as err:
        value = {"error": "lab: " + describe(err, err.filename or "syscall")}
        code = 1
    except BaseException as err:  # report everything, even KeyboardInterrupt
        value = {"error": f"{type(err).__name__}: {err}", "trace": traceback.format_exc()}
        code = 1
    with contextlib.suppress(BaseException):
        _send({"result": value})
    os._exit(code)
