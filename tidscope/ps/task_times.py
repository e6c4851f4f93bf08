"""procps's arithmetic of task times: CPU use, age, start dates.

procps 4.0.2 measures a task's life from ``boot_tics`` (machine.py) to its
start in ``stat``, in clock ticks as C's unsigned 64-bit numbers (so a task
started after the uptime was read wraps to a huge age, as there), then
converts it with C doubles: %CPU is the CPU ticks times 1000 over the
life's ticks, both truncated to integers; %CUU and %CUC the CPU ticks in
C's single-precision float times 100 over the life.  A task's CPU ticks
are its own on a -T/-L row and its process's on a process row.  Dates are
C's ``ctime`` in the local time zone (``TZ``), English whatever the locale.
"""

from __future__ import annotations

import time

from tidscope.ps.machine import boot_tics, now

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from tidscope.proc.task import Task
    from tidscope.ps.context import Context

U32 = 0xFFFFFFFF
U64 = 0xFFFFFFFFFFFFFFFF


def _lifetime(task: Task, ctx: Context) -> float:
    """Clock ticks since the task started, as a C double of the unsigned
    difference (a task younger than the uptime read wraps, as in procps)."""
    return float((boot_tics(ctx) - task.start_ticks) & U64)


def elapsed(task: Task, ctx: Context) -> float:
    """Seconds since the task started (procps's TIME_ELAPSED)."""
    ticks = _lifetime(task, ctx)
    return ticks / ctx.hz if ticks > 0 else 0.0


def used_ticks(task: Task, ctx: Context) -> int:
    """The CPU ticks procps's C, %CPU, CP and BSD TIME count: the task's,
    with its reaped children's under --cumulative (BSD S)."""
    if not ctx.cumulative:
        return task.cpu_ticks
    return children_time(task)


CUTIME, CSTIME = 16, 17  # the reaped children's ticks in ``stat``


def children_time(task: Task) -> int:
    """The task's CPU ticks and its reaped children's (procps's TICS_ALL_C),
    each field as C's unsigned long holds it (0 if absent)."""
    total = task.cpu_ticks
    for number in (CUTIME, CSTIME):
        field = task.field(number)
        total += int(field) & U64 if field and field.isdigit() else 0
    return total


def per(task: Task, ctx: Context, scale: int) -> int:
    """CPU ticks per tick of life times ``scale`` (1000: procps's per-mille
    %CPU), in unsigned integers as procps divides them."""
    jiffies = int(elapsed(task, ctx) * ctx.hz) & U64
    return (used_ticks(task, ctx) * scale // jiffies) & U32 if jiffies else 0


def pcpu_text(task: Task, ctx: Context) -> str:
    permille = per(task, ctx, 1000)
    if permille > 999:
        return str(permille // 10)
    return f"{permille // 10}.{permille % 10}"


def _f32(value: float) -> float:
    import struct

    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


def utilization(task: Task, ctx: Context, ticks: int) -> float:
    """procps's UTILIZATION: ``ticks`` (in C's float) * 100 per tick of life,
    shown capped at 99.999 and with three decimals."""
    life = _lifetime(task, ctx)
    used = _f32(_f32(float(ticks)) * 100.0) / life if life > 0 else 0.0
    return 99.999 if used > 99.0 else used


def etime_text(task: Task, ctx: Context) -> str:
    """``[[DD-]HH:]MM:SS`` of whole seconds since the start."""
    days, rest = divmod(int(elapsed(task, ctx)) & U64, 86400)
    days &= U32  # procps keeps the days in an unsigned int
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{minutes:02}:{seconds:02}"
    if days or hours:
        text = f"{hours:02}:{text}"
    return f"{days}-{text}" if days else text


def _ctime(when: int) -> str:
    """C's ``ctime`` without its newline: ``Sun Nov 29 21:13:29 2026``."""
    return time.asctime(time.localtime(when))


def lstart_text(task: Task, ctx: Context) -> str:
    return f"{_ctime(ctx.started(task))[:24]:>24}"


def start_text(task: Task, ctx: Context) -> str:
    """procps's START: ``HH:MM:SS`` within a day of now, else ``  Mmm DD``."""
    when = ctx.started(task)
    text = _ctime(when)
    if text[8] == " ":
        text = text[:8] + "0" + text[9:]
    if (when + 86400) & U64 > now(ctx) & U64:
        return f"{text[11:19]:>8}"
    return f"  {text[4:10]}"


def bsdstart_text(task: Task, ctx: Context) -> str:
    """procps's BSD START: `` HH:MM`` within a day of now, else ``Mmm DD``."""
    when = ctx.started(task)
    text = _ctime(when)
    return text[4:10] if now(ctx) - when > 86400 else text[10:16]


def cpu_seconds(task: Task, ctx: Context) -> float:
    """CPU time in seconds, to the hundredth (the value of ``time``)."""
    return round(task.cpu_ticks / ctx.hz, 2)


def bsdtime_text(task: Task, ctx: Context) -> str:
    """``MMM:SS`` of CPU time."""
    seconds = (used_ticks(task, ctx) // ctx.hz) & U32
    return f"{seconds // 60:3}:{seconds % 60:02}"
