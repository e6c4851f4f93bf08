"""Typed face of the raw-clone core (``tidscope.core._rawclone``).

A :class:`Children` is a context manager around one ``Group``: entering it
clones the children, leaving it - on every path, exceptions and
KeyboardInterrupt included - releases them, joins threads through
CLONE_CHILD_CLEARTID and reaps processes with wait4(__WALL).  A child runs a
short list of raw syscalls (:class:`Op`) and records each return value; the
child's code is in C and touches no libc, no Python and no TLS.
"""

from __future__ import annotations

import errno
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from tidscope.core import _rawclone, flags
from tidscope.core.clone_errors import explain_parts, no_parent_id, wait_refused
from tidscope.core.signals import TERMINATING, blocked
from tidscope.core.syscalls import SYSCALLS, syscall
from tidscope.errors import EXIT_USAGE, TidscopeError, UsageError
from tidscope.numeric import decimal
from tidscope.proc.root import kernel_pid

PAGE_SIZE: int = _rawclone.PAGE_SIZE
MIN_STACK: int = -(-_rawclone.MIN_STACK // PAGE_SIZE) * PAGE_SIZE
MAX_STACK = 1 << 30
DEFAULT_STACK = 64 * 1024
MAX_CHILDREN = 1 << 20
SCRATCH_SIZE: int = _rawclone.SCRATCH_SIZE
ARCH: str = _rawclone.ARCH

RAN_TIMEOUT = 10.0  # seconds a child may take to run its program
PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
TASK_COMM_LEN = 16


@dataclass(frozen=True)
class Ref:
    """An argument the child computes: an address in one of its areas, or
    the return value of an earlier op of its program."""

    kind: int  # enum ts_arg_kind in csrc/rawclone.h
    value: int


def scratch(offset: int = 0) -> Ref:
    """The address ``offset`` bytes into the child's own scratch buffer."""
    return Ref(1, offset)


def private(offset: int = 0) -> Ref:
    """``offset`` bytes into the group's private area: with CLONE_VM the
    parent's own memory, otherwise the child's copy of it."""
    return Ref(2, offset)


def result(index: int) -> Ref:
    """What op ``index`` of the same program returned."""
    return Ref(3, index)


def stack(offset: int = 0) -> Ref:
    """``offset`` bytes from the lowest usable byte of the child's stack
    (its guard page is at ``-PAGE_SIZE``)."""
    return Ref(4, offset)


KIND_BITS = 3  # TS_KIND_BITS in csrc/rawclone.h


@dataclass(frozen=True)
class Op:
    """One raw syscall of a child's program.

    With ``expect``, a guard: the child exits at once (no parking, its
    state word set to TS_EXITING and its futex woken as on the normal exit
    path) unless this op returned exactly ``expect``."""

    name: str
    args: tuple[int | Ref, ...] = ()
    expect: int | None = None

    def encode(self) -> tuple[int, tuple[int, ...], int, int, bool]:
        """(nr, args, kinds, expect, guarded) as the core takes them."""
        kinds = 0
        for j, a in enumerate(self.args):
            if isinstance(a, Ref):
                kinds |= a.kind << (KIND_BITS * j)
        values = tuple(a.value if isinstance(a, Ref) else a for a in self.args)
        guarded = self.expect is not None
        return SYSCALLS[self.name], values, kinds, self.expect or 0, guarded


# What `tidscope spawn` children do: report what the kernel tells them, then
# take the name held at the start of their scratch buffer.
IDENTITY = (
    Op("getpid"),
    Op("gettid"),
    Op("getppid"),
    Op("prctl", (PR_SET_NAME, scratch(0))),
)


def die_with_parent(clone_flags: int) -> tuple[Op, ...]:
    """Ops that make a process-like child die with its parent, even one
    killed by SIGKILL: PR_SET_PDEATHSIG, then a guard that its parent is
    still the one expected (had it died before the prctl, the child would
    never be signalled: it exits at once instead).  Threads die with us
    anyway: nothing to add.

    The death signal fires when the parent *thread* exits: clone from a
    thread that lives as long as the children (the main thread).  With
    CLONE_PARENT the parent is our parent.  In a new PID namespace
    getppid(2) returns 0 whoever the parent is: the guard then checks
    nothing, and a parent that died before the prctl goes unnoticed.  A
    getppid that fails in the child is no answer: the guard stops the child
    then too (it could not check), and spawn's row says the call failed,
    never that the parent changed.  A parent whose own getpid fails cannot
    give the guard its value: an error naming the call."""
    if flags.has(clone_flags, "THREAD"):
        return ()
    if flags.has(clone_flags, "NEWPID"):
        parent = 0
    else:
        call = "getppid" if flags.has(clone_flags, "PARENT") else "getpid"
        try:
            parent = syscall(call)  # the kernel's answers: libc's may lie (a preload)
        except OSError as err:
            raise TidscopeError(no_parent_id(err, call)) from None
    return (
        Op("prctl", (PR_SET_PDEATHSIG, int(signal.SIGKILL))),
        Op("getppid", expect=parent),
    )


@dataclass(frozen=True)
class Report:
    """One child: what clone returned to us, and what the child recorded."""

    index: int
    tid: int  # clone's return value, in our PID namespace
    results: tuple[int, ...]  # each op's return value, -errno on failure (0: not run)
    ran: bool  # the child ran its whole program
    stopped_at: int | None  # the guarded op that returned something else, if one did
    ptid_word: int
    ctid_word: int
    regs: tuple[int, int, int, int, int, int]  # nr, flags, stack, ptid, ctid, tls
    stack_low: int
    scratch: bytes
    wstatus: int
    reaped: bool  # wait4 reaped it (a CLONE_PARENT child is not ours to reap)
    pidfd: int  # the pidfd clone gave us (closed once joined), or -1
    resumed_ns: int  # CLOCK_MONOTONIC when clone returned to the parent
    state_at_resume: int  # the child's progress word then (2: it had reached SYS_exit)

    @property
    def guard_failed(self) -> bool:
        """A guard stopped the program: the child exited without parking."""
        return self.stopped_at is not None


class SpawnError(TidscopeError):
    """clone(2) or a stack mapping failed; ``errno`` says why.  The message
    ends with spawn's advice (its -n); ``cause`` is the message before it,
    for a command with advice of its own (verify-flags)."""

    def __init__(self, cause: str, advice: str | None, err: int, spawned: int) -> None:
        super().__init__(cause if advice is None else f"{cause}: {advice}")
        self.cause = cause
        self.errno = err
        self.spawned = spawned
        if err == errno.EINVAL:  # the kernel refused the flag set we were given
            self.exit_code = EXIT_USAGE


def parse_size(text: str) -> int:
    """``65536``, ``64K``, ``1M``... rounded up to whole pages and bounded."""
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    number = decimal(t[:-1] if scale > 1 else t)
    if number is None:
        raise UsageError(f"stack size {text!r} is not a size: use bytes or K/M suffixes, e.g. 64K")
    size = -(-number * scale // PAGE_SIZE) * PAGE_SIZE
    if size < MIN_STACK:
        raise UsageError(
            f"stack size {text!r} is too small: the minimum is {MIN_STACK // 1024}K "
            "(a guard page, a page of stack and the child's report slot)"
        )
    if size > MAX_STACK:
        raise UsageError(f"stack size {text!r} is too large: the maximum is {MAX_STACK >> 20}M")
    return size


def comm_name(name: str) -> bytes:
    """NUL-terminated and cut to what the kernel keeps (15 bytes)."""
    raw = name.encode("utf-8", "surrogateescape")[: TASK_COMM_LEN - 1]
    return raw + b"\0"


class Children:
    """``count`` raw children cloned with ``clone_flags``, each running ``program``."""

    def __init__(
        self,
        count: int,
        clone_flags: int = flags.THREAD,
        *,
        program: Sequence[Op] = IDENTITY,
        scratch: Sequence[bytes] | None = None,
        names: Sequence[str] | None = None,
        stack_size: int = DEFAULT_STACK,
        park: bool = True,
        growsdown: bool = False,
        clone3: bool = False,
        exit_signal: int = 0,
        cgroup_fd: int = -1,
        private_init: bytes = b"",
        foreign_parent: bool = False,
        set_tid: Sequence[int] = (),
    ) -> None:
        """``clone3`` issues clone3(2): ``clone_flags`` are then its 64-bit
        flags (no exit signal in them) and ``exit_signal`` is separate;
        ``foreign_parent`` allows CLONE_PARENT, whose children the caller's
        own parent has to reap; ``set_tid`` (clone3 only) is the tid asked
        for in each pid namespace, the innermost first."""
        check_flags(clone_flags, clone3=clone3, foreign_parent=foreign_parent)
        if not 1 <= count <= MAX_CHILDREN:
            raise UsageError(f"child count {count} is out of range: use 1 to {MAX_CHILDREN}")
        if scratch is None:
            scratch = [comm_name(n) for n in (names or [f"tidscope-{i + 1}" for i in range(count)])]
        self.flags = clone_flags
        self.count = count
        self.program = tuple(program)
        self.stack_size = stack_size
        self.park = park and not flags.has(clone_flags, "VFORK")
        self.ended_stopped: list[tuple[int, int, int]] = []  # (index, tid, stop signal)
        self.wait_failed: str | None = None  # why wait4 failed at the join, and what then
        try:
            self._group = _rawclone.Group(
                clone_flags,
                count,
                stack_size,
                [op.encode() for op in self.program],
                list(scratch),
                park=park,
                growsdown=growsdown,
                clone3=clone3,
                exit_signal=exit_signal,
                cgroup_fd=cgroup_fd,
                private=private_init,
                set_tid=list(set_tid),
            )
        except OSError as err:
            code = err.errno or 0
            why = explain_parts(code, clone_flags, 0, count, stack_size, stage="stack")
            raise SpawnError(*why, code, 0) from None

    # -- lifetime ---------------------------------------------------------
    def __enter__(self) -> Children:
        """Clone the children.  The terminating signals wait meanwhile: one
        that comes is acted on once every child is made, or, when cloning
        failed (a task limit), once every child made is joined; its handler
        runs as they are unblocked, where the children are closed too.
        Without that, a Ctrl-C in the failure path left children unjoined,
        and their exit signal killed us once it was no longer absorbed."""
        try:
            with blocked(TERMINATING):
                self._spawn()
        except BaseException:
            self.close()  # idempotent: joins what is left, whatever came
            raise
        return self

    def _spawn(self) -> None:
        try:
            self._group.spawn()
            # Parked children are waited for until they report, so that what
            # they report can be read at once; the others report by exiting.
            if self.park:
                self._group.wait_ran(RAN_TIMEOUT)
        except OSError as err:
            spawned, stage = self._group.spawned, self._group.failed_in or "clone"
            code = err.errno or 0
            # explained before the children are joined: a limit they reach
            # (a cgroup's pids.current) is read while it is reached
            try:
                why = explain_parts(code, self.flags, spawned, self.count, self.stack_size, stage)
            finally:
                self.close()
            raise SpawnError(*why, code, spawned) from None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        if exc is None and self.wait_failed is not None:
            raise TidscopeError(self.wait_failed)

    def release(self) -> None:
        """Let the parked children exit (they are not waited for)."""
        self._group.release()

    def join(self) -> None:
        """Release and wait for every child; stacks stay readable."""
        self._group.join()

    def close(self) -> None:
        """Join, then unmap every stack; idempotent.  What the join found is
        kept: :attr:`ended_stopped`, :attr:`wait_failed`."""
        if not self._group.closed:
            try:
                self._group.join()
            finally:
                self._join_found()
        self._group.close()

    def _join_found(self) -> None:
        """The children a join found stopped and ended with SIGKILL (a stopped
        child never exits: its join would wait for good), and a wait4 that
        failed (they were reaped through waitid then, if it could)."""
        joined = [self._group.child(i) for i in range(self.spawned)]
        for i, c in enumerate(joined):
            if c["ended_stopped"]:
                self.ended_stopped.append((i, c["tid"], c["ended_stopped"]))
        refused = [c for c in joined if c["wait_errno"]]
        if refused:
            unreaped = sum(bool(c["waitid_errno"]) for c in refused)
            self.wait_failed = wait_refused(refused[0]["wait_errno"], unreaped)

    # -- what happened ------------------------------------------------------
    @property
    def is_thread(self) -> bool:
        return flags.has(self.flags, "THREAD")

    @property
    def spawned(self) -> int:
        return int(self._group.spawned)

    @property
    def tids(self) -> list[int]:
        return [self.report(i).tid for i in range(self.spawned)]

    def tgid(self, tid: int) -> int | None:
        """A child's thread group, in our namespace (None: a thread's, when getpid(2) fails)."""
        return kernel_pid() if self.is_thread else tid

    def report(self, i: int) -> Report:
        c = self._group.child(i)
        stopped = c["stopped_at"] - 1 if c["stopped_at"] else None
        return Report(
            index=i,
            tid=c["tid"],
            results=tuple(c["results"]),
            ran=c["state"] >= 1 and stopped is None,
            stopped_at=stopped,
            ptid_word=c["ptid"],
            ctid_word=c["ctid"],
            regs=c["regs"],
            stack_low=c["stack_low"],
            scratch=c["scratch"],
            wstatus=c["wstatus"],
            reaped=bool(c["reaped"]),
            pidfd=c["pidfd"],
            resumed_ns=c["resumed_ns"],
            state_at_resume=c["state_at_resume"],
        )

    def private(self) -> bytes:
        """The group's private area as this process sees it (children write
        into it only if they share our memory)."""
        return self._group.private()

    def reports(self) -> list[Report]:
        return [self.report(i) for i in range(self.spawned)]


def check_flags(value: int, *, clone3: bool = False, foreign_parent: bool = False) -> None:
    """Refuse what the core cannot clean up after or clone(2) cannot pass."""
    if flags.has(value, "PARENT") and not flags.has(value, "THREAD") and not foreign_parent:
        raise UsageError(
            "CLONE_PARENT without CLONE_THREAD makes the child our parent's child, which"
            " tidscope could not reap: add THREAD or drop PARENT"
        )
    if clone3:
        return
    only3 = [n for n in ("CLEAR_SIGHAND", "INTO_CGROUP") if flags.has(value, n)]
    if only3:
        raise UsageError(
            f"CLONE_{only3[0]} exists only for clone3(2) and tidscope spawn issues clone(2):"
            " drop it (verify-flags tests it through clone3)"
        )
    if value >> 32:
        raise UsageError(f"flag bits {hex(value >> 32 << 32)} do not fit clone(2)'s 32-bit flags")
