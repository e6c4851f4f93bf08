"""The ps -o columns procps 4.0.2 computes from ``stat`` and system files.

Every number is a field of the task's ``stat`` line (``Task.field``,
numbered as proc(5) numbers them), read as the C type procps reads it into
and printed with procps's format; a field the line lacks reads as procps's
default (0, or -1 for the policy and the real-time priority).  A -T/-L
thread row is the thread's own ``stat``, a process row (and a leader's)
the process's, with the group's CPU times and fault counts, as in procps.
CPU use and dates are task_times.py's, the per-run lookups (uptime,
MemTotal, page size) machine.py's.

procps takes RSS and VSZ from ``status``.  Its VmSize is ``stat``'s vsize
in KiB (both the mm's total_vm), so VSZ and SZ are read from ``stat``; but
VmRSS is an exact sum of the kernel's per-CPU counters where ``stat``'s rss
is their cached total (they differ by tens of KiB on Linux 6.18), so RSS
and %MEM read ``status``, as does ``stat``'s ``L`` (VmLck).  Columns
procps knows but prints as ``-`` (``addr``...) are in nop_columns.py.
"""

from __future__ import annotations

from tidscope.ps.context import LEFT, PIDMAX, RIGHT, Spec
from tidscope.ps.machine import numa_node, page_kb
from tidscope.ps.stat_values import (
    FLAGS,
    KSTKEIP,
    KSTKESP,
    MAJFLT,
    MINFLT,
    NO_FILES,
    PGRP,
    PRIORITY,
    RLIM_INFINITY,
    RSSLIM,
    SESSION,
    STARTSTACK,
    STATUS_FILE,
    TPGID,
    VSIZE,
    class_text,
    code_kb,
    data_kb,
    ifield,
    nice_value,
    pmem,
    processor,
    rss_kb,
    rtprio_value,
    sched_value,
    sgi_p_text,
    sgi_p_value,
    stat_text,
    tty4_text,
    ufield,
    vsz_kb,
)
from tidscope.ps.task_times import (
    U32,
    bsdstart_text,
    bsdtime_text,
    children_time,
    cpu_seconds,
    elapsed,
    etime_text,
    lstart_text,
    pcpu_text,
    per,
    start_text,
    utilization,
)
from tidscope.text import clip, escape

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from tidscope.proc.task import Task
    from tidscope.ps.context import Context


# -- the table ----------------------------------------------------------------


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def _number(
    key: str,
    header: str,
    width: int,
    value: Callable[[Task, Context], Any],
    needs: frozenset[str] = NO_FILES,
) -> Spec:
    """A column whose cell is its typed value printed (``-`` for None)."""
    return (key, header, width, RIGHT, needs, lambda t, c: _dash(value(t, c)), value)


def _pcpu(header: str) -> Spec:
    return (
        "pcpu",
        header,
        4,
        RIGHT,
        NO_FILES,
        pcpu_text,
        lambda t, c: per(t, c, 1000) / 10,
    )


def _padded(key: str, header: str, scale: int, most: int) -> Spec:
    """procps's C (per cent) and CP (per mille): whole, capped at ``most``,
    and padded to its digits inside the cell (``%2u``, ``%3u``)."""
    digits = len(str(most))

    def value(t: Task, c: Context) -> int:
        return min(per(t, c, scale), most)

    return (key, header, digits, RIGHT, NO_FILES, lambda t, c: f"{value(t, c):{digits}}", value)


def _pmem(header: str) -> Spec:
    def text(t: Task, c: Context) -> str:
        permille = pmem(t, c)
        return f"{permille // 10:2}.{permille % 10}"

    return ("pmem", header, 4, RIGHT, STATUS_FILE, text, lambda t, c: pmem(t, c) / 10)


def _rss(header: str, width: int = 5, just: int = RIGHT) -> Spec:
    return ("rss", header, width, just, STATUS_FILE, lambda t, c: str(rss_kb(t, c)), rss_kb)


def _vsz() -> Spec:
    return _number("vsz", "VSZ", 6, vsz_kb)


def _drs(header: str, width: int) -> Spec:
    return _number("drs", header, width, lambda t, c: data_kb(t))


def _trs(header: str, width: int) -> Spec:
    return _number("trs", header, width, lambda t, c: code_kb(t))


def _address(key: str, header: str, number: int) -> Spec:
    return (
        key,
        header,
        16,
        RIGHT,
        NO_FILES,
        lambda t, c: f"{ufield(t, number):016x}",
        lambda t, c: ufield(t, number),
    )


def _elapsed(text: Callable[[Task, Context], str], width: int) -> Spec:
    return (
        "elapsed",
        "ELAPSED",
        width,
        RIGHT,
        NO_FILES,
        text,
        lambda t, c: round(elapsed(t, c), 2),
    )


def _start(header: str, width: int, text: Callable[[Task, Context], str]) -> Spec:
    return ("start", header, width, RIGHT, NO_FILES, text, lambda t, c: c.started(t))


def _priority(key: str, header: str, offset: int, sign: int = 1) -> Spec:
    """procps's PRI family: ``offset + sign * priority`` (stat's priority)."""
    return _number(key, header, 3, lambda t, c: offset + sign * ifield(t, PRIORITY))


def _class(header: str, just: int) -> Spec:
    def value(t: Task, c: Context) -> str | None:
        text = class_text(t, c)
        return None if text == "-" else text

    return ("class", header, 3, just, NO_FILES, class_text, value)


def _pgid(header: str) -> Spec:
    return _number("pgid", header, PIDMAX, lambda t, c: ifield(t, PGRP) & U32)


def _sid(header: str) -> Spec:
    return _number("sid", header, PIDMAX, lambda t, c: ifield(t, SESSION))


def _flags() -> Spec:
    return (
        "f",
        "F",
        1,
        RIGHT,
        NO_FILES,
        lambda t, c: f"{(ufield(t, FLAGS) >> 6) & 7:o}",
        lambda t, c: (ufield(t, FLAGS) >> 6) & 7,
    )


def _fault(key: str, header: str, number: int) -> Spec:
    """A fault count; with --cumulative the reaped children's (the next
    field of ``stat``) added, as procps adds them."""

    def value(t: Task, c: Context) -> int:
        count = ufield(t, number)
        return count + ufield(t, number + 1) if c.cumulative else count

    return _number(key, header, 6, value)


def _lim_text(t: Task, c: Context) -> str:
    limit = ufield(t, RSSLIM)
    return "xx" if limit == RLIM_INFINITY else f"{limit >> 10:5}"


def _lim_value(t: Task, c: Context) -> int | None:
    limit = ufield(t, RSSLIM)
    return None if limit == RLIM_INFINITY else limit >> 10


def _utilization(key: str, header: str, width: int, ticks: Callable[[Task], int]) -> Spec:
    def value(t: Task, c: Context) -> float:
        return round(utilization(t, c, ticks(t)), 3)

    return (
        key,
        header,
        width,
        RIGHT,
        NO_FILES,
        lambda t, c: f"{utilization(t, c, ticks(t)):#.3f}",
        value,
    )


def _psr(header: str, width: int) -> Spec:
    return _number("psr", header, width, processor)


def _tty(header: str, width: int, text: Callable[[Task, Context], str]) -> Spec:
    return ("tty", header, width, LEFT, NO_FILES, text, lambda t, c: c.tty(t))


SPECS: dict[str, Spec] = {
    "pcpu": _pcpu("%CPU"),
    "%cpu": _pcpu("%CPU"),
    "c": _padded("c", "C", 100, 99),
    "util": _padded("c", "C", 100, 99),
    "cp": _padded("cp", "CP", 1000, 999),
    "cuu": _utilization("cuu", "%CUU", 6, lambda t: t.cpu_ticks),
    "cuc": _utilization("cuc", "%CUC", 7, children_time),
    "pmem": _pmem("%MEM"),
    "%mem": _pmem("%MEM"),
    "rss": _rss("RSS"),
    "rssize": _rss("RSS"),
    "rsz": _rss("RSZ"),
    "sgi_rss": _rss("RSS", 4, LEFT),
    "vsz": _vsz(),
    "vsize": _vsz(),
    "sz": _number("sz", "SZ", 5, lambda t, c: vsz_kb(t, c) // page_kb(c)),
    "m_size": _number("m_size", "SIZE", 5, lambda t, c: ufield(t, VSIZE)),
    "drs": _drs("DRS", 5),
    "m_drs": _drs("DRS", 5),
    "dsiz": _drs("DSIZ", 4),
    "trs": _trs("TRS", 4),
    "m_trs": _trs("TRS", 5),
    "trss": _trs("TRSS", 4),
    "tsiz": _trs("TSIZ", 4),
    "lim": ("lim", "LIM", 5, RIGHT, NO_FILES, _lim_text, _lim_value),
    "stackp": _address("stackp", "STACKP", STARTSTACK),
    "start_stack": _address("stackp", "STACKP", STARTSTACK),
    "esp": _address("esp", "ESP", KSTKESP),
    "eip": _address("eip", "EIP", KSTKEIP),
    "stat": ("stat", "STAT", 4, LEFT, STATUS_FILE, stat_text, stat_text),
    "etime": _elapsed(etime_text, 11),
    "etimes": _elapsed(lambda t, c: str(int(elapsed(t, c)) & U32), 7),
    "lstart": _start("STARTED", 24, lstart_text),
    "start": _start("STARTED", 8, start_text),
    "bsdstart": _start("START", 6, bsdstart_text),
    "bsdtime": ("time", "TIME", 6, RIGHT, NO_FILES, bsdtime_text, cpu_seconds),
    "ni": _number("nice", "NI", 3, nice_value),
    "nice": _number("nice", "NI", 3, nice_value),
    "pri": _priority("pri", "PRI", 39, -1),
    "priority": _priority("priority", "PRI", 0),
    "opri": _priority("opri", "PRI", 60),
    "intpri": _priority("opri", "PRI", 60),
    "pri_api": _priority("pri_api", "API", -1, -1),
    "pri_bar": _priority("pri_bar", "BAR", 1),
    "pri_baz": _priority("pri_baz", "BAZ", 100),
    "pri_foo": _priority("pri_foo", "FOO", -20),
    "rtprio": _number("rtprio", "RTPRIO", 6, rtprio_value),
    "cls": _class("CLS", RIGHT),
    "class": _class("CLS", LEFT),
    "policy": _class("POL", LEFT),
    "sched": _number("sched", "SCH", 3, sched_value),
    "psr": _psr("PSR", 3),
    "cpuid": _psr("CPUID", 5),
    "lastcpu": _psr("C", 3),
    "sgi_p": ("sgi_p", "P", 1, RIGHT, NO_FILES, sgi_p_text, sgi_p_value),
    "numa": _number("numa", "NUMA", 4, lambda t, c: numa_node(c, processor(t, c))),
    "pgid": _pgid("PGID"),
    "pgrp": _pgid("PGRP"),
    "sid": _sid("SID"),
    "sess": _sid("SESS"),
    "session": _sid("SESS"),
    "tpgid": _number("tpgid", "TPGID", PIDMAX, lambda t, c: ifield(t, TPGID)),
    "f": _flags(),
    "flag": _flags(),
    "flags": _flags(),
    "min_flt": _fault("min_flt", "MINFL", MINFLT),
    "minflt": _fault("min_flt", "MINFLT", MINFLT),
    "maj_flt": _fault("maj_flt", "MAJFL", MAJFLT),
    "majflt": _fault("maj_flt", "MAJFLT", MAJFLT),
    "pagein": _fault("maj_flt", "PAGEIN", MAJFLT),
    "tty4": _tty("TTY", 4, tty4_text),
    "fname": (
        "comm",
        "COMMAND",
        8,
        LEFT,
        NO_FILES,
        lambda t, c: clip(escape(t.name), 8),
        lambda t, c: t.name,
    ),
}
