"""Experiments for the clone3-only flags CLEAR_SIGHAND and INTO_CGROUP."""

from __future__ import annotations

import os
import signal
import struct
import time

from tidscope import flags
from tidscope.clone import Op, scratch
from tidscope.experiments.base import Run, Unobservable, if_ran, negate
from tidscope.probes import child_pid, signal_bit, spawn_one, status

SIGCHLD = int(signal.SIGCHLD)
SIGUSR2 = int(signal.SIGUSR2)


def probe_clear_sighand(value: int) -> Run:
    signal.signal(SIGUSR2, lambda signo, frame: None)
    try:
        prog = [Op("rt_sigaction", (SIGUSR2, 0, scratch(0), 8))]
        with spawn_one(value, prog, clone3=True, exit_signal=SIGCHLD) as ch:
            rep = ch.report(0)
            caught = signal_bit(status(child_pid(ch, rep)), "SigCgt", SIGUSR2)
    finally:
        signal.signal(SIGUSR2, signal.SIG_DFL)
    (handler,) = struct.unpack("Q", rep.scratch[:8])
    return Run(
        {"sigcgt": negate(caught), "sigaction": if_ran(rep.results[0], handler == 0)},
        {"child_SigCgt_has_SIGUSR2": caught, "child_handler": hex(handler)},
    )


def _cgroup2() -> tuple[str, str]:
    """(cgroup2 mount point, our path in it)."""
    with open("/proc/self/mountinfo") as f:
        mounts = [ln.split() for ln in f]
    point = next((m[4] for m in mounts if m[m.index("-") + 1] == "cgroup2"), None)
    if point is None:
        raise Unobservable("no cgroup2 hierarchy is mounted")
    with open("/proc/self/cgroup") as f:
        path = next(ln.strip().partition("::")[2] for ln in f if ln.startswith("0::"))
    return point, path


def probe_into_cgroup(value: int) -> Run:
    point, path = _cgroup2()
    leaf = f"{path.rstrip('/')}/tidscope-{os.getpid()}"
    try:
        os.mkdir(point + leaf)
    except OSError as err:
        raise Unobservable(f"cannot create cgroup {leaf}: {os.strerror(err.errno or 0)}") from None
    fd = os.open(point + leaf, os.O_RDONLY | os.O_DIRECTORY)
    try:
        into = flags.has(value, "INTO_CGROUP")
        with spawn_one(value, clone3=True, exit_signal=SIGCHLD, cgroup_fd=fd if into else -1) as ch:
            rep = ch.report(0)
            with open(f"/proc/{rep.tid}/cgroup") as f:
                where = next(ln.strip().partition("::")[2] for ln in f if ln.startswith("0::"))
            with open(f"{point}{leaf}/cgroup.procs") as f:
                listed = str(rep.tid) in f.read().split()
    finally:
        os.close(fd)
        for _ in range(100):  # the reaped child leaves the cgroup asynchronously
            try:
                os.rmdir(point + leaf)
                break
            except OSError:
                time.sleep(0.01)
    return Run({"cgroup": where == leaf, "procs": listed}, {"child_cgroup": where, "target": leaf})
