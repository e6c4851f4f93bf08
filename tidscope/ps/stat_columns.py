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

from tidscope.proc.snapshot import STATUS
from tidscope.ps.colspec import LEFT, PIDMAX, RIGHT, Spec
from tidscope.ps.machine import mem_total, numa_node, page_kb
from tidscope.ps.task_times import (
    U32,
    U64,
    bsdstart_text,
    bsdtime_text,
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

RLIM_INFINITY = U64
_N: frozenset[str] = frozenset()
_S = frozenset({STATUS})

# proc(5)'s numbers for the stat fields used here
PGRP, SESSION, TPGID, FLAGS, MINFLT, MAJFLT = 5, 6, 8, 9, 10, 12
CUTIME, CSTIME, PRIORITY, NICE = 16, 17, 18, 19
VSIZE, RSSLIM, STARTCODE, ENDCODE, STARTSTACK, KSTKESP, KSTKEIP = 23, 25, 26, 27, 28, 29, 30
PROCESSOR, RT_PRIORITY, POLICY = 39, 40, 41


def _u(task: Task, number: int, bits: int = 64) -> int:
    """Field ``number`` as C's unsigned type of ``bits`` holds it; 0 if absent."""
    try:
        return int(task.field(number)) & ((1 << bits) - 1)
    except ValueError:
        return 0


def _i(task: Task, number: int, default: int = 0) -> int:
    """Field ``number`` as a C int holds it; ``default`` if absent (procps's
    defaults for fields older kernels lack: 0, or -1 for policy and rtprio)."""
    try:
        value = int(task.field(number))
    except ValueError:
        return default
    return ((value + 0x80000000) & U32) - 0x80000000


def _children(task: Task) -> int:
    return task.cpu_ticks + _u(task, CUTIME) + _u(task, CSTIME)


# -- states and memory --------------------------------------------------------


def stat_text(task: Task, ctx: Context) -> str:
    """procps's STAT: the state, then ``<`` (nice below 0) or ``N`` (above),
    ``L`` (pages locked), ``s`` (session leader), ``l`` (more than one
    thread), ``+`` (in the terminal's foreground process group)."""
    nice = _i(task, NICE)
    text = task.state
    if nice < 0:
        text += "<"
    elif nice > 0:
        text += "N"
    if status_kb(task, b"VmLck"):
        text += "L"
    if _i(task, SESSION) == task.tgid:
        text += "s"
    if task.nlwp > 1:
        text += "l"
    if _i(task, PGRP) == _i(task, TPGID):
        text += "+"
    return text


def status_kb(task: Task, key: bytes) -> int:
    """A ``status`` line in kB (VmRSS, VmLck) as procps reads it; 0 if the
    file or the line is missing (kernel threads and zombies have no Vm lines)."""
    if task.status is None:
        return 0
    words = (task.status.line(key) or b"").split()
    return int(words[0]) if words and words[0].isdigit() else 0


def rss_kb(task: Task, ctx: Context) -> int:
    """VmRSS: resident memory in KiB (0 without one: a kernel thread, a zombie)."""
    return status_kb(task, b"VmRSS")


def vsz_kb(task: Task, ctx: Context) -> int:
    """VmSize: the address space in KiB."""
    return _u(task, VSIZE) >> 10


def pmem(task: Task, ctx: Context) -> int:
    """%MEM in per-mille: VmRSS of MemTotal, at most 999."""
    total = mem_total(ctx)
    return min(rss_kb(task, ctx) * 1000 // total, 999) if total else 0


def data_kb(task: Task) -> int:
    """procps's DRS/DSIZ: the address space less the code, in KiB."""
    vsize = _u(task, VSIZE)
    return ((vsize - _u(task, ENDCODE) + _u(task, STARTCODE)) & U64) >> 10 if vsize else 0


def code_kb(task: Task) -> int:
    """procps's TRS/TSIZ: the code, in KiB."""
    if not _u(task, VSIZE):
        return 0
    return ((_u(task, ENDCODE) - _u(task, STARTCODE)) & U64) >> 10


# -- scheduling ---------------------------------------------------------------

# SCHED_* by number, as procps names them ("ISO" was reserved for SCHED_ISO)
CLASSES = ("TS", "FF", "RR", "B", "ISO", "IDL", "DLN", "#7", "#8", "#9")


def _policy(task: Task) -> int:
    return _i(task, POLICY, -1)


def nice_value(task: Task, ctx: Context) -> int | None:
    """The nice value, None (``-``) under a policy nice does not apply to."""
    return _i(task, NICE) if _policy(task) in (0, 3, -1) else None


def rtprio_value(task: Task, ctx: Context) -> int | None:
    """The real-time priority, None (``-``) under SCHED_OTHER."""
    return None if _policy(task) in (0, -1) else _i(task, RT_PRIORITY, -1)


def class_text(task: Task, ctx: Context) -> str:
    policy = _policy(task)
    if policy == -1:
        return "-"
    return CLASSES[policy] if 0 <= policy < len(CLASSES) else "?"


def sched_value(task: Task, ctx: Context) -> int | None:
    policy = _policy(task)
    return None if policy == -1 else policy


def processor(task: Task, ctx: Context) -> int:
    return _i(task, PROCESSOR)


def sgi_p_value(task: Task, ctx: Context) -> int | None:
    """The CPU of a running task, None (``*``) for any other."""
    return _i(task, PROCESSOR) & U32 if task.state == "R" else None


def sgi_p_text(task: Task, ctx: Context) -> str:
    cpu = sgi_p_value(task, ctx)
    return "*" if cpu is None else str(cpu)


def tty4_text(task: Task, ctx: Context) -> str:
    """procps's TTY4: the terminal without a ``tty`` or ``pts/`` before the rest."""
    name = ctx.tty(task)
    if name is None:
        return "?"
    if name.startswith("tty") and len(name) > 3:
        name = name[3:]
    if name.startswith("pts/") and len(name) > 4:
        name = name[4:]
    return name


# -- the table ----------------------------------------------------------------


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def _number(
    key: str,
    header: str,
    width: int,
    value: Callable[[Task, Context], Any],
    needs: frozenset[str] = _N,
) -> Spec:
    """A column whose cell is its typed value printed (``-`` for None)."""
    return (key, header, width, RIGHT, needs, lambda t, c: _dash(value(t, c)), value)


def _pcpu(header: str) -> Spec:
    return (
        "pcpu",
        header,
        4,
        RIGHT,
        _N,
        pcpu_text,
        lambda t, c: per(t, c, 1000) / 10,
    )


def _padded(key: str, header: str, scale: int, most: int) -> Spec:
    """procps's C (per cent) and CP (per mille): whole, capped at ``most``,
    and padded to its digits inside the cell (``%2u``, ``%3u``)."""
    digits = len(str(most))

    def value(t: Task, c: Context) -> int:
        return min(per(t, c, scale), most)

    return (key, header, digits, RIGHT, _N, lambda t, c: f"{value(t, c):{digits}}", value)


def _pmem(header: str) -> Spec:
    def text(t: Task, c: Context) -> str:
        permille = pmem(t, c)
        return f"{permille // 10:2}.{permille % 10}"

    return ("pmem", header, 4, RIGHT, _S, text, lambda t, c: pmem(t, c) / 10)


def _rss(header: str, width: int = 5, just: int = RIGHT) -> Spec:
    return ("rss", header, width, just, _S, lambda t, c: str(rss_kb(t, c)), rss_kb)


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
        _N,
        lambda t, c: f"{_u(t, number):016x}",
        lambda t, c: _u(t, number),
    )


def _elapsed(text: Callable[[Task, Context], str], width: int) -> Spec:
    return ("elapsed", "ELAPSED", width, RIGHT, _N, text, lambda t, c: round(elapsed(t, c), 2))


def _start(header: str, width: int, text: Callable[[Task, Context], str]) -> Spec:
    return ("start", header, width, RIGHT, _N, text, lambda t, c: c.started(t))


def _priority(key: str, header: str, offset: int, sign: int = 1) -> Spec:
    """procps's PRI family: ``offset + sign * priority`` (stat's priority)."""
    return _number(key, header, 3, lambda t, c: offset + sign * _i(t, PRIORITY))


def _class(header: str, just: int) -> Spec:
    def value(t: Task, c: Context) -> str | None:
        text = class_text(t, c)
        return None if text == "-" else text

    return ("class", header, 3, just, _N, class_text, value)


def _pgid(header: str) -> Spec:
    return _number("pgid", header, PIDMAX, lambda t, c: _i(t, PGRP) & U32)


def _sid(header: str) -> Spec:
    return _number("sid", header, PIDMAX, lambda t, c: _i(t, SESSION))


def _flags() -> Spec:
    return (
        "f",
        "F",
        1,
        RIGHT,
        _N,
        lambda t, c: f"{(_u(t, FLAGS) >> 6) & 7:o}",
        lambda t, c: (_u(t, FLAGS) >> 6) & 7,
    )


def _fault(key: str, header: str, number: int) -> Spec:
    return _number(key, header, 6, lambda t, c: _u(t, number))


def _lim_text(t: Task, c: Context) -> str:
    limit = _u(t, RSSLIM)
    return "xx" if limit == RLIM_INFINITY else f"{limit >> 10:5}"


def _lim_value(t: Task, c: Context) -> int | None:
    limit = _u(t, RSSLIM)
    return None if limit == RLIM_INFINITY else limit >> 10


def _utilization(key: str, header: str, width: int, ticks: Callable[[Task], int]) -> Spec:
    def value(t: Task, c: Context) -> float:
        return round(utilization(t, c, ticks(t)), 3)

    return (
        key,
        header,
        width,
        RIGHT,
        _N,
        lambda t, c: f"{utilization(t, c, ticks(t)):#.3f}",
        value,
    )


def _psr(header: str, width: int) -> Spec:
    return _number("psr", header, width, processor)


def _tty(header: str, width: int, text: Callable[[Task, Context], str]) -> Spec:
    return ("tty", header, width, LEFT, _N, text, lambda t, c: c.tty(t))


SPECS: dict[str, Spec] = {
    "pcpu": _pcpu("%CPU"),
    "%cpu": _pcpu("%CPU"),
    "c": _padded("c", "C", 100, 99),
    "util": _padded("c", "C", 100, 99),
    "cp": _padded("cp", "CP", 1000, 999),
    "cuu": _utilization("cuu", "%CUU", 6, lambda t: t.cpu_ticks),
    "cuc": _utilization("cuc", "%CUC", 7, _children),
    "pmem": _pmem("%MEM"),
    "%mem": _pmem("%MEM"),
    "rss": _rss("RSS"),
    "rssize": _rss("RSS"),
    "rsz": _rss("RSZ"),
    "sgi_rss": _rss("RSS", 4, LEFT),
    "vsz": _vsz(),
    "vsize": _vsz(),
    "sz": _number("sz", "SZ", 5, lambda t, c: vsz_kb(t, c) // page_kb(c)),
    "m_size": _number("m_size", "SIZE", 5, lambda t, c: _u(t, VSIZE)),
    "drs": _drs("DRS", 5),
    "m_drs": _drs("DRS", 5),
    "dsiz": _drs("DSIZ", 4),
    "trs": _trs("TRS", 4),
    "m_trs": _trs("TRS", 5),
    "trss": _trs("TRSS", 4),
    "tsiz": _trs("TSIZ", 4),
    "lim": ("lim", "LIM", 5, RIGHT, _N, _lim_text, _lim_value),
    "stackp": _address("stackp", "STACKP", STARTSTACK),
    "start_stack": _address("stackp", "STACKP", STARTSTACK),
    "esp": _address("esp", "ESP", KSTKESP),
    "eip": _address("eip", "EIP", KSTKEIP),
    "stat": ("stat", "STAT", 4, LEFT, _S, stat_text, stat_text),
    "etime": _elapsed(etime_text, 11),
    "etimes": _elapsed(lambda t, c: str(int(elapsed(t, c)) & U32), 7),
    "lstart": _start("STARTED", 24, lstart_text),
    "start": _start("STARTED", 8, start_text),
    "bsdstart": _start("START", 6, bsdstart_text),
    "bsdtime": ("time", "TIME", 6, RIGHT, _N, bsdtime_text, cpu_seconds),
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
    "sgi_p": ("sgi_p", "P", 1, RIGHT, _N, sgi_p_text, sgi_p_value),
    "numa": _number("numa", "NUMA", 4, lambda t, c: numa_node(c, processor(t, c))),
    "pgid": _pgid("PGID"),
    "pgrp": _pgid("PGRP"),
    "sid": _sid("SID"),
    "sess": _sid("SESS"),
    "session": _sid("SESS"),
    "tpgid": _number("tpgid", "TPGID", PIDMAX, lambda t, c: _i(t, TPGID)),
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
        _N,
        lambda t, c: clip(escape(t.name), 8),
        lambda t, c: t.name,
    ),
}
