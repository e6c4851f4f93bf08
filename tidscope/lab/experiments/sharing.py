"""Experiments for the flags that share a resource: VM, FS, FILES, SIGHAND, IO, SYSVSEM.

Each resource is compared twice: by kcmp(2) from our side, and by a change
the child makes that we can see only if the resource is shared.
"""

from __future__ import annotations

import errno
import os
import signal
import struct

from tidscope.core.clone import Op, private, scratch
from tidscope.core.syscalls import syscall
from tidscope.lab.experiments.base import Run, Unread, child, effect, failed, ours
from tidscope.lab.probes import child_pid, kcmp, pid, signal_bit, spawn_one, status
from tidscope.lab.runner import need

SIGUSR2 = int(signal.SIGUSR2)


def probe_vm(value: int) -> Run:
    here = ours("getcwd", os.getcwd)
    with spawn_one(value, [Op("getcwd", (private(0), 128))]) as ch:
        rep = ch.report(0)
        same = kcmp(pid(), child_pid(ch, rep), "VM")
        ch.join()
        seen = ch.private().split(b"\0")[0].decode(errors="replace")
    got = child(rep, 0, "getcwd")
    return Run(
        {"kcmp": same, "write": effect(lambda _, cwd: seen == cwd, got, here)},
        {"kcmp_vm_same": same, "private_area_after": seen, "getcwd": got},
    )


def _fd_open(fd: int) -> bool | Unread:
    """Is ``fd`` open in our table (EBADF: no)?"""
    try:
        os.fstat(fd)
    except OSError as err:
        return False if err.errno == errno.EBADF else failed("fstat", err)
    return True


def probe_files(value: int) -> Run:
    fd = need("open /dev/null", os.open, os.devnull, os.O_RDONLY)
    try:
        with spawn_one(value, [Op("close", (fd,))]) as ch:
            rep = ch.report(0)
            same = kcmp(pid(), child_pid(ch, rep), "FILES")
            still = _fd_open(fd)
    finally:
        try:
            os.close(fd)
        except OSError as err:
            if err.errno != errno.EBADF:  # closed for us by a child sharing the table
                raise
    got = child(rep, 0, "close")
    return Run(
        {"kcmp": same, "close": effect(lambda _, open_: not open_, got, still)},
        {"fd": fd, "child_close": got, "still_open_for_us": still},
    )


FS_TARGET = "/proc"  # a directory that is surely there and is not the lab's "/"


def probe_fs(value: int) -> Run:
    # umask by the raw syscall: glibc's wrapper cannot report a failure.
    here, mask = need("getcwd", os.getcwd), syscall("umask", 0o022)
    try:
        prog = [Op("chdir", (scratch(0),)), Op("umask", (0o077,))]
        with spawn_one(value, prog, scratch=FS_TARGET.encode() + b"\0") as ch:
            rep = ch.report(0)
            same = kcmp(pid(), child_pid(ch, rep), "FS")
            cwd = ours("getcwd", os.getcwd)
            now = ours("umask", syscall, "umask", 0o022)
    finally:
        need("chdir", os.chdir, here)
        syscall("umask", mask)
    moved = effect(lambda _, c: c == FS_TARGET, child(rep, 0, "chdir"), cwd)
    return Run(
        {
            "kcmp": same,
            "chdir": moved,
            "umask": effect(lambda _, m: m == 0o077, child(rep, 1, "umask"), now),
        },
        {"target": FS_TARGET, "our_cwd_after": cwd, "our_umask_after": now},
    )


def probe_sighand(value: int) -> Run:
    need("rt_sigaction", signal.signal, SIGUSR2, signal.SIG_DFL)
    ignore = struct.pack("QQQQ", 1, 0, 0, 0)  # SIG_IGN, no flags, restorer, mask
    try:
        with spawn_one(
            value, [Op("rt_sigaction", (SIGUSR2, scratch(0), 0, 8))], scratch=ignore
        ) as ch:
            rep = ch.report(0)
            same = kcmp(pid(), child_pid(ch, rep), "SIGHAND")
            ignored = signal_bit(status(pid()), "SigIgn", SIGUSR2)
    finally:
        need("rt_sigaction", signal.signal, SIGUSR2, signal.SIG_DFL)
    got = child(rep, 0, "rt_sigaction")
    return Run(
        {"kcmp": same, "sigaction": effect(lambda _, ign: ign, got, ignored)},
        {"our_SigIgn_has_SIGUSR2": ignored, "child_rt_sigaction": got},
    )


def _ioprio(level: int) -> int:
    return 2 << 13 | level  # IOPRIO_CLASS_BE


def probe_io(value: int) -> Run:
    syscall("ioprio_set", 1, 0, _ioprio(4))  # gives us an io_context to share
    with spawn_one(value, [Op("ioprio_set", (1, 0, _ioprio(7)))]) as ch:
        rep = ch.report(0)
        same = kcmp(pid(), child_pid(ch, rep), "IO")
        prio = ours("ioprio_get", syscall, "ioprio_get", 1, 0)
    got = child(rep, 0, "ioprio_set")
    return Run(
        {"kcmp": same, "ioprio": effect(lambda _, p: p == _ioprio(7), got, prio)},
        {"kcmp_io_same": same, "child_ioprio_set": got, "our_ioprio_after": prio},
    )


IPC_PRIVATE, IPC_CREAT, IPC_RMID, GETVAL, SETVAL, SEM_UNDO = 0, 0o1000, 0, 12, 16, 0x1000


def probe_sysvsem(value: int) -> Run:
    """In a lab with its own IPC namespace: the semaphore goes with it."""
    sem = syscall("semget", IPC_PRIVATE, 1, 0o600 | IPC_CREAT)
    try:
        down = struct.pack("Hhh", 0, -1, SEM_UNDO)
        syscall("semctl", sem, 0, SETVAL, 5)
        syscall("semop", sem, bytearray(down), 1)  # gives us an undo list to share
        with spawn_one(value, [Op("semop", (sem, scratch(0), 1))], scratch=down) as ch:
            rep = ch.report(0)
            same = kcmp(pid(), child_pid(ch, rep), "SYSVSEM")
            ch.join()  # a private undo list is applied when the child exits
        left = ours("semctl GETVAL", syscall, "semctl", sem, 0, GETVAL, 0)
    finally:
        syscall("semctl", sem, 0, IPC_RMID, 0)
    got = child(rep, 0, "semop")
    return Run(
        {"kcmp": same, "undo": effect(lambda _, n: n == 3, got, left)},
        {"semaphore_after_child_exit": left, "before_child": 4, "child_semop": got},
    )
