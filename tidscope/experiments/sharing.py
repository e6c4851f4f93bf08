"""Experiments for the flags that share a resource: VM, FS, FILES, SIGHAND, IO, SYSVSEM.

Each resource is compared twice: by kcmp(2) from our side, and by a change
the child makes that we can see only if the resource is shared.
"""

from __future__ import annotations

import os
import signal
import struct
import tempfile

from tidscope.clone import Op, private, scratch
from tidscope.experiments.base import Run, if_ran
from tidscope.lab import sys
from tidscope.probes import child_pid, kcmp, signal_bit, spawn_one, status

SIGUSR2 = int(signal.SIGUSR2)
IPC_CREAT, IPC_RMID, GETVAL, SETVAL, SEM_UNDO = 0o1000, 0, 12, 16, 0x1000


def probe_vm(value: int) -> Run:
    with spawn_one(value, [Op("getcwd", (private(0), 128))]) as ch:
        rep = ch.report(0)
        same = kcmp(os.getpid(), child_pid(ch, rep), "VM")
        ch.join()
        seen = ch.private().split(b"\0")[0].decode(errors="replace")
    return Run(
        {"kcmp": same, "write": if_ran(rep.results[0], seen == os.getcwd())},
        {"kcmp_vm_same": same, "private_area_after": seen, "getcwd": rep.results[0]},
    )


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def probe_files(value: int) -> Run:
    fd = os.open(os.devnull, os.O_RDONLY)
    try:
        with spawn_one(value, [Op("close", (fd,))]) as ch:
            rep = ch.report(0)
            same = kcmp(os.getpid(), child_pid(ch, rep), "FILES")
            gone = not _fd_open(fd)
    finally:
        if _fd_open(fd):
            os.close(fd)
    return Run(
        {"kcmp": same, "close": if_ran(rep.results[0], gone)},
        {"fd": fd, "child_close": rep.results[0], "closed_for_us": gone},
    )


def probe_fs(value: int) -> Run:
    here, mask = os.getcwd(), os.umask(0o022)
    target = tempfile.mkdtemp(prefix="tidscope-fs-")
    try:
        prog = [Op("chdir", (scratch(0),)), Op("umask", (0o077,))]
        with spawn_one(value, prog, scratch=target.encode() + b"\0") as ch:
            rep = ch.report(0)
            same = kcmp(os.getpid(), child_pid(ch, rep), "FS")
            moved = os.path.realpath(os.getcwd()) == os.path.realpath(target)
            now = os.umask(0o022)
    finally:
        os.chdir(here)
        os.umask(mask)
        os.rmdir(target)
    return Run(
        {"kcmp": same, "chdir": if_ran(rep.results[0], moved), "umask": now == 0o077},
        {"target": target, "our_cwd_moved": moved, "our_umask_after": oct(now)},
    )


def probe_sighand(value: int) -> Run:
    signal.signal(SIGUSR2, signal.SIG_DFL)
    ignore = struct.pack("QQQQ", 1, 0, 0, 0)  # SIG_IGN, no flags, restorer, mask
    try:
        with spawn_one(
            value, [Op("rt_sigaction", (SIGUSR2, scratch(0), 0, 8))], scratch=ignore
        ) as ch:
            rep = ch.report(0)
            same = kcmp(os.getpid(), child_pid(ch, rep), "SIGHAND")
            ignored = signal_bit(status(os.getpid()), "SigIgn", SIGUSR2)
    finally:
        signal.signal(SIGUSR2, signal.SIG_DFL)
    return Run(
        {
            "kcmp": same,
            "sigaction": if_ran(rep.results[0], bool(ignored)) if ignored is not None else None,
        },
        {"our_SigIgn_has_SIGUSR2": ignored, "child_rt_sigaction": rep.results[0]},
    )


def _ioprio(level: int) -> int:
    return 2 << 13 | level  # IOPRIO_CLASS_BE


def probe_io(value: int) -> Run:
    sys("ioprio_set", 1, 0, _ioprio(4))  # gives us an io_context to share
    with spawn_one(value, [Op("ioprio_set", (1, 0, _ioprio(7)))]) as ch:
        rep = ch.report(0)
        same = kcmp(os.getpid(), child_pid(ch, rep), "IO")
        ours = sys("ioprio_get", 1, 0)
    return Run(
        {"kcmp": same, "ioprio": if_ran(rep.results[0], ours == _ioprio(7))},
        {"kcmp_io_same": same, "child_ioprio_set": rep.results[0], "our_ioprio_after": ours},
    )


IPC_CREAT, IPC_RMID, IPC_STAT, GETVAL, SETVAL, SEM_UNDO = 0o1000, 0, 2, 12, 16, 0x1000


def probe_sysvsem(value: int) -> Run:
    sem = sys("semget", 0, 1, 0o600 | IPC_CREAT)
    try:
        down = struct.pack("Hhh", 0, -1, SEM_UNDO)
        sys("semctl", sem, 0, SETVAL, 5)
        sys("semop", sem, bytearray(down), 1)  # gives us an undo list to share
        with spawn_one(value, [Op("semop", (sem, scratch(0), 1))], scratch=down) as ch:
            rep = ch.report(0)
            same = kcmp(os.getpid(), child_pid(ch, rep), "SYSVSEM")
            ch.join()  # a private undo list is applied when the child exits
        left = sys("semctl", sem, 0, GETVAL, 0)
    finally:
        sys("semctl", sem, 0, IPC_RMID, 0)
    return Run(
        {"kcmp": same, "undo": if_ran(rep.results[0], left == 3)},
        {"semaphore_after_child_exit": left, "before_child": 4, "child_semop": rep.results[0]},
    )
