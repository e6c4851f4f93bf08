"""A task's ``stat`` fields as procps reads them: each in the C type procps
reads it into (``ufield``, ``ifield``), memory sizes, the scheduling class
and priorities, the CPU, and the terminal's short name.  The column table
that prints them is stat_columns.py."""

from __future__ import annotations

from tidscope.proc.snapshot import STATUS
from tidscope.ps.machine import mem_total
from tidscope.ps.task_times import U32, U64

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from tidscope.proc.task import Task
    from tidscope.ps.context import Context

RLIM_INFINITY = U64
NO_FILES: frozenset[str] = frozenset()
STATUS_FILE = frozenset({STATUS})

# proc(5)'s numbers for the stat fields used here
PGRP, SESSION, TPGID, FLAGS, MINFLT, MAJFLT = 5, 6, 8, 9, 10, 12
CUTIME, CSTIME, PRIORITY, NICE = 16, 17, 18, 19
VSIZE, RSSLIM, STARTCODE, ENDCODE, STARTSTACK, KSTKESP, KSTKEIP = 23, 25, 26, 27, 28, 29, 30
PROCESSOR, RT_PRIORITY, POLICY = 39, 40, 41


def ufield(task: Task, number: int, bits: int = 64) -> int:
    """Field ``number`` as C's unsigned type of ``bits`` holds it; 0 if absent."""
    try:
        return int(task.field(number)) & ((1 << bits) - 1)
    except ValueError:
        return 0


def ifield(task: Task, number: int, default: int = 0) -> int:
    """Field ``number`` as a C int holds it; ``default`` if absent (procps's
    defaults for fields older kernels lack: 0, or -1 for policy and rtprio)."""
    try:
        value = int(task.field(number))
    except ValueError:
        return default
    return ((value + 0x80000000) & U32) - 0x80000000


# -- states and memory --------------------------------------------------------


def stat_text(task: Task, ctx: Context) -> str:
    """procps's STAT: the state, then ``<`` (nice below 0) or ``N`` (above),
    ``L`` (pages locked), ``s`` (session leader), ``l`` (more than one
    thread), ``+`` (in the terminal's foreground process group)."""
    nice = ifield(task, NICE)
    text = task.state
    if nice < 0:
        text += "<"
    elif nice > 0:
        text += "N"
    if status_kb(task, b"VmLck"):
        text += "L"
    if ifield(task, SESSION) == task.tgid:
        text += "s"
    if task.nlwp > 1:
        text += "l"
    if ifield(task, PGRP) == ifield(task, TPGID):
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
    return ufield(task, VSIZE) >> 10


def pmem(task: Task, ctx: Context) -> int:
    """%MEM in per-mille: VmRSS of MemTotal, at most 999."""
    total = mem_total(ctx)
    return min(rss_kb(task, ctx) * 1000 // total, 999)


def data_kb(task: Task) -> int:
    """procps's DRS/DSIZ: the address space less the code, in KiB."""
    vsize = ufield(task, VSIZE)
    return ((vsize - ufield(task, ENDCODE) + ufield(task, STARTCODE)) & U64) >> 10 if vsize else 0


def code_kb(task: Task) -> int:
    """procps's TRS/TSIZ: the code, in KiB."""
    if not ufield(task, VSIZE):
        return 0
    return ((ufield(task, ENDCODE) - ufield(task, STARTCODE)) & U64) >> 10


# -- scheduling ---------------------------------------------------------------

# SCHED_* by number, as procps names them ("ISO" was reserved for SCHED_ISO)
CLASSES = ("TS", "FF", "RR", "B", "ISO", "IDL", "DLN", "#7", "#8", "#9")


def policy_of(task: Task) -> int:
    return ifield(task, POLICY, -1)


def nice_value(task: Task, ctx: Context) -> int | None:
    """The nice value, None (``-``) under a policy nice does not apply to."""
    return ifield(task, NICE) if policy_of(task) in (0, 3, -1) else None


def rtprio_value(task: Task, ctx: Context) -> int | None:
    """The real-time priority, None (``-``) under SCHED_OTHER."""
    return None if policy_of(task) in (0, -1) else ifield(task, RT_PRIORITY, -1)


def class_text(task: Task, ctx: Context) -> str:
    policy = policy_of(task)
    if policy == -1:
        return "-"
    return CLASSES[policy] if 0 <= policy < len(CLASSES) else "?"


def sched_value(task: Task, ctx: Context) -> int | None:
    policy = policy_of(task)
    return None if policy == -1 else policy


def processor(task: Task, ctx: Context) -> int:
    return ifield(task, PROCESSOR)


def sgi_p_value(task: Task, ctx: Context) -> int | None:
    """The CPU of a running task, None (``*``) for any other."""
    return ifield(task, PROCESSOR) & U32 if task.state == "R" else None


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
