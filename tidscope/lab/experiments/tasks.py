"""Experiments for the flags about the new task itself: THREAD, PARENT,
VFORK, SETTLS, the tid words and PIDFD."""

from __future__ import annotations

import errno
import struct
import time

from tidscope.core import flags
from tidscope.core.clone import Children, Op, scratch
from tidscope.core.syscalls import syscall
from tidscope.lab.experiments.base import Run, Unread, child, effect
from tidscope.lab.probes import pid, read_file, spawn_one, status, status_int

ARCH_GET_FS = 0x1003
FUTEX_WAIT = 0


def probe_thread(value: int) -> Run:
    me = pid()
    with spawn_one(value, [Op("getpid")]) as ch:
        rep = ch.report(0)
        tgid = status_int(status(rep.tid), "Tgid")
    got = child(rep, 0, "getpid")
    return Run(
        {
            "getpid": effect(lambda p: p == me, got),
            "tgid": effect(lambda t: t == me, tgid),
        },
        {"child_getpid": got, "proc_tgid": tgid, "our_pid": me},
    )


def probe_parent(value: int) -> Run:
    me, grand = pid(), syscall("getppid")
    with spawn_one(value, [Op("getppid")]) as ch:
        rep = ch.report(0)
        ppid = status_int(status(rep.tid), "PPid")
    got = child(rep, 0, "getppid")
    return Run(
        {
            "getppid": effect(lambda p: p == grand, got),
            "ppid": effect(lambda p: p == grand, ppid),
        },
        {"child_getppid": got, "proc_ppid": ppid, "our_parent": grand, "us": me},
    )


TS_EXITING = 2  # enum ts_state: the child reached SYS_exit


def probe_vfork(value: int) -> Run:
    """The child sleeps 200 ms, reads the clock, then exits: with CLONE_VFORK
    clone returns after that reading and after the child wrote its last
    progress word; without, long before."""
    prog = [
        Op("nanosleep", (scratch(0), 0)),
        Op("clock_gettime", (time.CLOCK_MONOTONIC, scratch(16))),
    ]
    with spawn_one(value, prog, scratch=struct.pack("qq", 0, 200_000_000)) as ch:
        ch.join()
        rep = ch.report(0)
    sec, nsec = struct.unpack("qq", rep.scratch[16:32])
    lag = rep.resumed_ns - (sec * 10**9 + nsec)
    slept, clock = child(rep, 0, "nanosleep"), child(rep, 1, "clock_gettime")
    return Run(
        {
            "resumed": effect(lambda *_: lag > 0, slept, clock),
            "exiting": rep.state_at_resume == TS_EXITING,
        },
        {"resumed_minus_child_clock_ns": lag, "child_state_word_at_resume": rep.state_at_resume},
    )


def probe_settls(value: int) -> Run:
    mine = bytearray(8)
    syscall("arch_prctl", ARCH_GET_FS, mine)
    with spawn_one(value, [Op("arch_prctl", (ARCH_GET_FS, scratch(0)))]) as ch:
        rep = ch.report(0)
    (fs,) = struct.unpack("Q", rep.scratch[:8])
    (ours_fs,) = struct.unpack("Q", mine)
    got = child(rep, 0, "arch_prctl")
    return Run(
        {
            "fs": effect(lambda _: fs != ours_fs, got),
            "tls": effect(lambda _: fs == rep.regs[5] != 0, got),
        },
        {"child_fs_base": hex(fs), "our_fs_base": hex(ours_fs), "tls_argument": hex(rep.regs[5])},
    )


def probe_parent_settid(value: int) -> Run:
    with spawn_one(value) as ch:
        rep = ch.report(0)
    return Run(
        {"word": rep.ptid_word == rep.tid}, {"parent_tid_word": rep.ptid_word, "tid": rep.tid}
    )


def probe_child_settid(value: int) -> Run:
    with spawn_one(value) as ch:
        rep = ch.report(0)
    return Run(
        {"word": rep.ctid_word == rep.tid}, {"child_tid_word": rep.ctid_word, "tid": rep.tid}
    )


def probe_child_cleartid(value: int) -> Run:
    """A second raw thread of ours sleeps on the child's tid word (no
    pthread, so no clone3 behind our back); the kernel's wake at the
    child's exit ends its sleep."""
    timeout = struct.pack("qq", 0, 500_000_000)
    with spawn_one(value) as ch:
        word_at = ch.report(0).regs[4]
        sleep_on_word = Op("futex", (word_at, FUTEX_WAIT, -1, scratch(0), 0, 0))
        with Children(1, flags.THREAD, program=[sleep_on_word], scratch=[timeout], park=False) as w:
            time.sleep(0.05)  # let it sleep on the word before the child exits
            ch.join()
            w.join()
            waited = child(w.report(0), 0, "futex FUTEX_WAIT (our waiter thread)")
        word = ch.report(0).ctid_word
    # Woken: the kernel's wake reached our waiter.  A timeout while the word
    # was cleared means the one wake went to another waiter (the joiner), and
    # EAGAIN that it was cleared before we slept: neither is evidence.
    woke: bool | Unread | None = effect(lambda rc: rc == 0, waited)
    code = waited.errno if isinstance(waited, Unread) else 0
    if code == errno.EAGAIN or (code == errno.ETIMEDOUT and word == 0):
        woke = None
    elif code == errno.ETIMEDOUT:
        woke = False
    return Run(
        {"cleared": word == 0, "woken": woke},
        {"child_tid_word_after_exit": word, "futex_wait": str(waited)},
    )


def _fdinfo_pid(info: bytes) -> str | None:
    lines = info.decode(errors="replace").splitlines()
    return next((ln.split()[1] for ln in lines if ln.startswith("Pid:")), None)


def probe_pidfd(value: int) -> Run:
    with spawn_one(value) as ch:
        rep = ch.report(0)
        fd = rep.pidfd
        # Without a pidfd there is no fdinfo to read: the effect is absent.
        named = effect(_fdinfo_pid, read_file(f"/proc/self/fdinfo/{fd}")) if fd >= 0 else None
    return Run(
        {"fd": fd >= 0, "fdinfo": effect(lambda p: p == str(rep.tid), named)},
        {"parent_tid_word": rep.ptid_word, "fdinfo_pid": named, "child": rep.tid},
    )
