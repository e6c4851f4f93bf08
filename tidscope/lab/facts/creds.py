"""Credentials are per thread: the kernel keeps a uid set for each task.

A raw setresuid(2) in one raw thread changes that thread's ``Uid:`` line
only; setuid-like calls through the C library change every thread the
library made, because it makes the call in each of them (glibc signals
each thread with SIGSETXID; a raw thread of ours is not among them).
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading

from tidscope.core import flags
from tidscope.core.clone import Children, Op
from tidscope.core.syscalls import syscall
from tidscope.lab.experiments.base import child, effect
from tidscope.lab.facts.base import (
    DEADLINE,
    Seen,
    Unobservable,
    Unread,
    failed,
    ours,
    start_pthread,
    tgkill,
)
from tidscope.lab.probes import status

CAP_SETUID = 7
TARGET = 65534  # the effective uid the threads take (nobody's): any uid but ours would do
UNCHANGED = -1  # setresuid's "leave this one"


def _uids(pid: int, tid: int) -> tuple[int, ...] | Unread:
    """A task's real, effective, saved and fs uids, from its ``Uid:`` line."""
    fields = status(pid, tid)
    if isinstance(fields, Unread):
        return fields
    try:
        return tuple(int(u) for u in fields["Uid"].split())
    except (KeyError, ValueError):
        return failed(f"Uid in /proc/{pid}/task/{tid}/status", errno.ENODATA)


def _may_setuid(pid: int) -> bool:
    fields = status(pid)
    if isinstance(fields, Unread):
        raise fields.error()
    return bool(int(fields.get("CapEff", "0"), 16) >> CAP_SETUID & 1)


def observe() -> Seen:
    me = syscall("getpid")
    uid = syscall("geteuid")
    if not _may_setuid(me):
        raise Unobservable(
            f"changing to another uid needs CAP_SETUID, which uid {uid} lacks here"
            " (a user namespace of ours maps one uid only): run as root"
        )
    changer = [Op("setresuid", (UNCHANGED, TARGET, UNCHANGED)), Op("geteuid")]
    with Children(1, flags.THREAD, program=changer) as one, Children(1, flags.THREAD) as other:
        rep = one.report(0)
        raw, bystander, leader = _uids(me, rep.tid), _uids(me, other.tids[0]), _uids(me, me)
        libc = _through_libc(me)
        bystander_after_libc = _uids(me, other.tids[0])
    said, own = child(rep, 0, "setresuid"), child(rep, 1, "geteuid")
    changed = effect(lambda _, u: u[1] == TARGET, said, raw)
    return Seen(
        shows={
            "raw_thread_Uid": changed,
            "raw_thread_geteuid": effect(lambda _, e: e == TARGET, said, own),
            "every_pthread_Uid": effect(
                lambda seen: all(u[1] == TARGET for u in seen.values()), libc
            ),
        },
        contrast={
            "other_raw_thread_Uid": effect(lambda _, u: u[1] == uid, said, bystander),
            "leader_Uid": effect(lambda _, u: u[1] == uid, said, leader),
        },
        evidence={
            "target_euid": TARGET,
            "raw_thread": rep.tid,
            "raw_thread_Uid_after_its_setresuid": raw,
            "other_raw_thread_Uid": bystander,
            "leader_Uid": leader,
            "pthreads_Uid_after_libc_setresuid": libc,
            "other_raw_thread_Uid_after_libc_setresuid (libc knows no raw thread)": (
                bystander_after_libc
            ),
        },
    )


def _meet(barrier: threading.Barrier) -> None:
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(DEADLINE)


def _through_libc(me: int) -> dict[int, tuple[int, ...]] | Unread:
    """A pthread calls os.setresuid (libc's) while another idles; every
    pthread's Uid line then, both still alive; our effective uid is set
    back the same way.  libc makes the call in each of its threads by
    signalling them with tgkill(2), and where tgkill fails it changes the
    caller's alone, silently: tgkill is tried first (signal 0), and its
    failure is an Unread naming it."""
    started, go, done, release = (
        threading.Barrier(3),
        threading.Event(),
        threading.Event(),
        threading.Event(),
    )
    real = syscall("getuid")  # what our effective uid is set back to
    proceed: list[bool] = []
    tids: list[int] = []
    said: list[Unread | None] = []

    def idle() -> None:
        tids.append(threading.get_native_id())
        _meet(started)
        release.wait(DEADLINE)

    def change() -> None:
        tids.append(threading.get_native_id())
        _meet(started)
        if go.wait(DEADLINE) and proceed:
            said.append(ours("setresuid (libc)", os.setresuid, UNCHANGED, TARGET, UNCHANGED))
        done.set()
        release.wait(DEADLINE)

    threads: list[threading.Thread] = []
    try:
        for body in (idle, change):
            threads.append(threading.Thread(target=body, daemon=True))
            start_pthread(threads[-1])
        _meet(started)
        if len(tids) < 2:
            return failed("the pthreads to start", errno.ETIMEDOUT)
        for tid in (me, *tids):
            sent = tgkill(me, tid, 0)
            if isinstance(sent, Unread):
                return failed("tgkill (libc's setresuid signals every thread with it)", sent.errno)
        proceed.append(True)
        go.set()
        if not done.wait(DEADLINE) or not said:
            return failed("setresuid (libc) in a second pthread (no answer)", errno.ETIMEDOUT)
        if isinstance(said[0], Unread):
            return said[0]
        seen: dict[int, tuple[int, ...]] = {}
        for tid in [me, *tids]:
            got = _uids(me, tid)
            if isinstance(got, Unread):
                return got
            seen[tid] = got
        return seen
    finally:
        go.set()
        release.set()
        started.abort()
        for thread in threads:
            if thread.ident is not None:  # started
                thread.join(DEADLINE)
        if said and not isinstance(said[0], Unread):
            os.setresuid(UNCHANGED, real, UNCHANGED)
