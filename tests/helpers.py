"""Run tidscope and raw-clone experiments in fresh interpreters.

Anything that clones runs in a subprocess: a bug in the core then fails one
test instead of taking pytest down with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any, AnyStr, TypeVar

T = TypeVar("T")

NOBODY = ("--reuid=65534", "--regid=65534", "--clear-groups")


def run(
    args: list[str],
    *,
    user: bool = False,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    prefix: list[str] | None = None,
    errors: str = "strict",
) -> subprocess.CompletedProcess[str]:
    """``args`` run to the end, its output as text: strictly UTF-8 unless
    ``errors`` says otherwise ("surrogateescape" for what lists the whole
    machine, where another test's task may hold any bytes in its name)."""
    cmd = ["setpriv", *NOBODY, "--", *args] if user else list(args)
    cmd = [*(prefix or []), *cmd]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        errors=errors,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd="/",
        check=False,
    )


def tidscope(*args: str, user: bool = False, **kw: Any) -> subprocess.CompletedProcess[str]:
    """``python -m tidscope ARGS`` (as nobody when ``user``)."""
    return run([sys.executable, "-m", "tidscope", *args], user=user, **kw)


def python(code: str, *, user: bool = False, **kw: Any) -> Any:
    """Run ``code`` in a fresh interpreter; it prints one JSON value last."""
    proc = run([sys.executable, "-c", textwrap.dedent(code)], user=user, **kw)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def holding(
    script: str,
    *args: str,
    prefix: Sequence[str] = (),
    cwd: str | None = None,
    start_new_session: bool = False,
    timeout: float = 30,
) -> Iterator[dict[str, Any]]:
    """``script`` (dedented) run with ``args`` in a fresh interpreter (under
    the command ``prefix``) that holds tasks for the block: it prints one
    JSON object once they are in place, which the block gets, and waits
    until its stdin closes, which the end of the block does; it must then
    exit 0 within ``timeout`` seconds.  A holder that prints nothing fails
    with its stderr."""
    proc = subprocess.Popen(
        [*prefix, sys.executable, "-c", textwrap.dedent(script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        start_new_session=start_new_session,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        line = readline(proc.stdout, timeout=120, proc=proc, seen="no line: it prints one, ready")
        assert line, _waiting(proc.stderr)
        info: dict[str, Any] = json.loads(line)
        yield info
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=timeout) == 0, _waiting(proc.stderr)


def readline(
    stream: IO[AnyStr],
    *,
    timeout: float = 60,
    proc: subprocess.Popen[Any] | None = None,
    seen: object = None,
) -> AnyStr:
    """``stream.readline()`` with a deadline: past ``timeout`` seconds, or
    two seconds after ``proc`` (the writer) has exited without ending the
    line (a child of its may hold the pipe open), the test fails with what
    it had: ``seen``, given by the caller, and ``proc``'s status and the
    stderr it left (``proc`` is killed if it still runs).  Empty at the end
    of the stream, as readline."""
    # No helper thread: a thread that never signals it started (seen once,
    # under load) would hang here with no deadline.  The descriptor is made
    # non-blocking instead, and the stream's own readline returns what it
    # has, buffered or not, so its buffers stay right for later reads.
    fd = stream.fileno()
    blocking = os.get_blocking(fd)
    os.set_blocking(fd, False)
    parts: list[AnyStr] = []
    end = time.monotonic() + timeout
    try:
        waiting = select.poll()
        waiting.register(fd, select.POLLIN)
        ready, polled = True, False  # a first try: the stream may hold a line
        while True:
            if ready:
                part = stream.readline()
                if part:
                    parts.append(part)
                    if part.endswith(b"\n" if isinstance(part, bytes) else "\n"):
                        return part[:0].join(parts)
                elif polled:  # poll said readable, yet nothing came: the end
                    return part[:0].join(parts)
            now = time.monotonic()
            if now >= end:
                break
            if proc is not None and proc.poll() is not None:
                end = min(end, now + 2)
            ready = polled = bool(waiting.poll(min(50.0, (end - now) * 1000)))
    finally:
        os.set_blocking(fd, blocking)
    if parts:
        seen = (seen, "and the start of a line:", parts[0][:0].join(parts))
    detail = ""
    if proc is not None:
        status = proc.poll()
        if status is None:
            proc.kill()
            proc.wait(30)
        detail = f"; the writer {'exited ' + str(status) if status is not None else 'was killed'}"
        detail += f", its stderr: {_waiting(proc.stderr)!r}"
    raise AssertionError(f"no line within {timeout:g} s; seen so far: {seen!r}{detail}")


def read_rest(
    stream: IO[AnyStr], *, timeout: float = 120, proc: subprocess.Popen[Any] | None = None
) -> AnyStr:
    """The rest of ``stream``, to its end, through the stream itself (what
    its readline read ahead stays in it: communicate() would lose that);
    a line that does not come within ``timeout`` fails as :func:`readline`,
    with the start of what was read."""
    parts: list[AnyStr] = []
    while part := readline(stream, timeout=timeout, proc=proc, seen=parts[-20:]):
        parts.append(part)
    return part[:0].join(parts)


def _waiting(stream: IO[Any] | None) -> bytes:
    """What can be read from ``stream`` now, without waiting."""
    if stream is None:
        return b""
    fd = stream.fileno()
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return b""


def wait_for(what: str, probe: Callable[[], T], timeout: float = 60, every: float = 0.01) -> T:
    """Call ``probe`` until it returns something true, and return that; past
    ``timeout`` seconds fail, saying ``what`` was awaited and the last answer."""
    end = time.monotonic() + timeout
    while not (last := probe()):
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {timeout:g} s (last: {last!r})")
        time.sleep(every)
    return last


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The whole stderr, which must be exactly one line and no traceback."""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


# -- nothing left behind ------------------------------------------------------

TAG = "TIDSCOPE_TEST_TAG"


def tagged(tag: str) -> list[int]:
    """Processes whose environment carries ``TAG=tag``: everything a run
    given that tag started (raw process children copy our environment, and
    ``--run`` commands and labs inherit it) and that is still there."""
    needle = f"{TAG}={tag}".encode() + b"\0"
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                if needle in f.read():
                    found.append(int(name))
        except OSError:
            continue
    return found


def own_children() -> list[tuple[int, bool]]:
    """This process's children, each with whether it is a zombie."""
    kids = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children") as f:
                pids = [int(p) for p in f.read().split()]
        except OSError:
            continue
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", errors="surrogateescape") as f:
                    kids.append((pid, f.read().rpartition(")")[2].split()[0] == "Z"))
            except OSError:
                continue
    return sorted(kids)


def children_by_ppid(parent: int) -> list[int]:
    """Processes whose parent is ``parent``, from every /proc/<pid>/stat (the
    task/*/children files may miss children while others are forking)."""
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", errors="surrogateescape") as f:
                    ppid = int(f.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == parent:
                kids.append(int(name))
    return kids


# -- runs as a uid of their own, and orphans we adopt -----------------------------


def task_uids() -> dict[int, set[int]]:
    """Every process's real, effective, saved and fs uids, by pid."""
    uids: dict[int, set[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/status", errors="surrogateescape") as f:
                    line = next(ln for ln in f if ln.startswith("Uid:"))
            except (OSError, StopIteration):
                continue
            uids[int(name)] = {int(u) for u in line.split()[1:]}
    return uids


def unused_uid() -> int:
    """A uid no task on this system has as real, effective, saved or fs uid:
    limits counted per user (RLIMIT_NPROC) then count only what the test
    started.  200000 + our pid, or the next free one after it."""
    used = set().union(*task_uids().values())
    uid = 200000 + os.getpid()
    while uid in used:
        uid += 1
    return uid


def as_uid(uid: int) -> list[str]:
    """``setpriv`` to ``uid`` (and the same gid), no supplementary groups."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]


PR_SET_CHILD_SUBREAPER = 36
WALL = 0x40000000  # __WALL: raw children may exit with another signal than SIGCHLD


def set_subreaper(on: bool) -> None:
    """Orphans of our descendants become our children (pid 1 in some
    containers never reaps them, and they would stay zombies forever)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap_zombie_children(keep: set[int]) -> list[int]:
    """Reap every zombie child of ours not in ``keep``; the live ones left."""
    import contextlib

    live = []
    for pid in children_by_ppid(os.getpid()):
        if pid in keep:
            continue
        try:
            with open(f"/proc/{pid}/stat", errors="surrogateescape") as f:
                zombie = f.read().rpartition(")")[2].split()[0] == "Z"
        except OSError:
            continue
        if zombie:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG | WALL)
        else:
            live.append(pid)
    return live


@contextlib.contextmanager
def adopting() -> Iterator[set[int]]:
    """Be the child subreaper for the block (pid 1 here never reaps), so
    that what a killed tidscope leaves is ours to see and reap; yield our
    children from before."""
    before = set(children_by_ppid(os.getpid()))
    set_subreaper(True)
    try:
        yield before
    finally:
        set_subreaper(False)


def end_tagged(tag: str, before: set[int]) -> None:
    """SIGKILL every task that carries ``tag`` (ours, by the tag a test
    gave it) and reap the zombie children not in ``before``, for 10 s at
    most: what a failed test leaves is ended."""
    for pid in tagged(tag):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while reap_zombie_children(before) and time.monotonic() < deadline:
        time.sleep(0.01)


def own_cgroup() -> str | None:
    """A new, empty cgroup2 directory under ours, for one run to be moved
    into (None where none can be made): the tidscope-* cgroups a run makes
    are then under it, apart from those of any other run on this machine."""
    import uuid

    with open("/proc/self/mountinfo") as f:
        mounts = [ln.split() for ln in f]
    point = next((m[4] for m in mounts if m[m.index("-") + 1] == "cgroup2"), None)
    with open("/proc/self/cgroup") as f:
        path = next((ln.strip().partition("::")[2] for ln in f if ln.startswith("0::")), None)
    if point is None or path is None:
        return None
    where = os.path.join(point + path, f"test-{uuid.uuid4().hex[:12]}")
    try:
        os.mkdir(where)
    except OSError:
        return None
    return where


def into_cgroup(where: str | None) -> list[str]:
    """A command prefix that moves the command into ``where`` first."""
    import shlex

    if where is None:
        return []
    procs = shlex.quote(os.path.join(where, "cgroup.procs"))
    return ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh"]


def cgroups_named(root: str | None, prefix: str = "tidscope-") -> list[str]:
    """The cgroups under ``root`` whose name starts with ``prefix``."""
    if root is None:
        return []
    return sorted(
        os.path.relpath(os.path.join(d, n), root)
        for d, dirs, _ in os.walk(root)
        for n in dirs
        if n.startswith(prefix)
    )


def remove_cgroup(root: str | None) -> None:
    """rmdir ``root`` and every cgroup under it, deepest first (a reaped
    task leaves its cgroup asynchronously, so each is retried a while)."""
    if root is None:
        return
    for d, _, _ in sorted(os.walk(root), key=lambda w: -len(w[0])):
        for _ in range(200):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.01)


# -- a libc that lies, a /proc that is not ours, processes that are not ours

# The verify-flags experiments whose observations read /proc (the others
# rest on kcmp(2), their children's own syscalls and the words the kernel
# wrote): those a /proc of another pid namespace makes errors.
NEEDS_PROC = frozenset(
    {
        "SIGHAND",
        "PIDFD",
        "PARENT",
        "THREAD",
        "NEWNS",
        "NEWCGROUP",
        "NEWUTS",
        "NEWIPC",
        "NEWUSER",
        "NEWPID",
        "NEWNET",
        "NEWTIME",
        "CLEAR_SIGHAND",
        "INTO_CGROUP",
        "PTRACE",
        "UNTRACED",
        "DETACHED",
    }
)

LIAR_SOURCE = r"""
#include <stdlib.h>
#include <sys/types.h>
/* getpid, getppid and gettid as a preload library: each says LIAR_PID. */
static pid_t lie(void)
{
	const char *v = getenv("LIAR_PID");
	return v ? (pid_t)atoi(v) : 1;
}
pid_t getpid(void) { return lie(); }
pid_t getppid(void) { return lie(); }
pid_t gettid(void) { return lie(); }
"""


def liar_library(where: str) -> str:
    """A preload library (built here with gcc -shared -fPIC) whose getpid,
    getppid and gettid return the pid in ``LIAR_PID``: libc lies to every
    program started with ``LD_PRELOAD`` at it."""
    source = os.path.join(where, "liar.c")
    lib = os.path.join(where, "liar.so")
    with open(source, "w") as f:
        f.write(LIAR_SOURCE)
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o", lib, source],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return lib


DECOYS = """
import json, subprocess, sys
kids = [subprocess.Popen(["sleep", "600"]) for _ in range(int(sys.argv[1]))]
print(json.dumps({"holder": __import__("os").getpid(), "kids": [k.pid for k in kids]}), flush=True)
sys.stdin.read()
for k in kids:
    k.kill()
    k.wait()
"""


@contextlib.contextmanager
def decoys(count: int = 3) -> Iterator[dict[str, Any]]:
    """A holder process of ours with ``count`` children (``sleep``) that
    are not tidscope's: ``{"holder": pid, "kids": [pids]}``.  The holder
    reaps none of them until the block ends, so one that was killed
    meanwhile stays a zombie (:func:`killed`)."""
    with holding(DECOYS, str(count)) as info:
        yield info


def killed(pids: Sequence[int]) -> list[int]:
    """Those of ``pids`` that are dead: gone, or a zombie."""
    dead = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", errors="surrogateescape") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    dead.append(pid)
        except FileNotFoundError:
            dead.append(pid)
    return dead


# -- a cgroup whose pids controller limits a run ------------------------------------


def pids_cgroup(limit: int) -> str | None:
    """A new cgroup under ours with the pids controller and pids.max=``limit``
    (cgroup v1's pids hierarchy if one is mounted, else v2 where our
    cgroup offers pids); None where none can be made.  Remove it with
    :func:`remove_cgroup`."""
    import uuid

    with open("/proc/self/mountinfo") as f:
        mounts = [ln.split() for ln in f]
    with open("/proc/self/cgroup") as f:
        lines = [ln.strip().split(":", 2) for ln in f]
    v1 = next((m[4] for m in mounts if m[m.index("-") + 1] == "cgroup" and "pids" in m[-1]), None)
    path = next((p for _, c, p in lines if "pids" in c.split(",")), None)
    where = None
    if v1 is not None and path is not None:
        where = os.path.join(v1 + path, f"test-{uuid.uuid4().hex[:12]}")
        try:
            os.mkdir(where)
        except OSError:
            return None
    else:
        where = own_cgroup()
        if where is None:
            return None
        with open(os.path.join(where, "cgroup.controllers")) as f:
            if "pids" not in f.read().split():
                remove_cgroup(where)
                return None
    try:
        with open(os.path.join(where, "pids.max"), "w") as f:
            f.write(str(limit))
    except OSError:
        remove_cgroup(where)
        return None
    return where


def pid_header(name: str = "PID") -> str:
    """A PID-like column's header as procps right-aligns it: as wide as
    kernel.pid_max has digits (5 for 32768, 7 for 4194304)."""
    with open("/proc/sys/kernel/pid_max") as f:
        return name.rjust(len(f.read().strip()))
