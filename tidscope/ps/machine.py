"""What ps reads once per run about the machine, cached in ``Context.cache``.

procps reads these once per listing: ``/proc/uptime`` (as ``boot_tics``,
the seconds since boot times USER_HZ, truncated), ``MemTotal`` of
``/proc/meminfo``, the page size, the clock, and libnuma when it is
installed.  Each is read here on first use, under this module's keys, from
the same proc root as the tasks.  An uptime that cannot be read gives 0, as
procps's does (every task's age then wraps, as there), and so does one whose
ticks a C unsigned 64-bit number cannot hold (x86-64's conversion of such a
double gives 0: procps's answer).  A MemTotal that cannot be read, or 0, is
an error when %MEM is asked for (procps says "Unable to get total memory", or
divides by zero): never a %MEM of 0.0.
"""

from __future__ import annotations

import math
import os
import time

from tidscope.errors import TidscopeError
from tidscope.numeric import decimal, decimal_fraction
from tidscope.proc.files import TABLE_MAX, read, read_all

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from tidscope.ps.context import Context


def boot_tics(ctx: Context) -> int:
    """procps's ``boot_tics``: /proc/uptime's seconds times USER_HZ, truncated
    (read once per run, as procps reads it once per listing); 0 if unreadable."""
    tics: int | None = ctx.cache.get("machine.boot_tics")
    if tics is None:
        words = (read(f"{ctx.root}/uptime") or b"").split()
        up = decimal_fraction(words[0].decode("ascii", "replace")) if words else None
        tics = ctx.cache["machine.boot_tics"] = _c_ull(up * ctx.hz) if up is not None else 0
    return tics


def _c_ull(value: float) -> int:
    """C's ``(unsigned long long)`` of a double as x86-64's code gives it:
    the integer part, modulo 2**64 below 0; 0 from 2**64 up (and for NaN,
    0x8000000000000000 as below -2**63)."""
    if math.isnan(value) or value < -(2.0**63):
        return 1 << 63
    if value >= 2.0**64:
        return 0
    return int(value) & 0xFFFFFFFFFFFFFFFF


def mem_total(ctx: Context) -> int:
    """``MemTotal`` of /proc/meminfo in kB; an error if it cannot be read
    or is 0 (procps refuses, or divides by it)."""
    total: int | None = ctx.cache.get("machine.mem_total")
    if total is None:
        total = 0
        for line in (read_all(f"{ctx.root}/meminfo", limit=TABLE_MAX) or b"").split(b"\n"):
            if line.startswith(b"MemTotal:"):
                words = line[9:].split()
                total = (decimal(words[0].decode("ascii", "replace")) or 0) if words else 0
                break
        if not total:
            raise TidscopeError(
                f"{ctx.root}/meminfo: no total memory (its MemTotal line is missing, "
                "0 or not a number), so no %MEM can be computed: leave out %MEM, or "
                "unmount what covers it"
            )
        ctx.cache["machine.mem_total"] = total
    return total


def page_kb(ctx: Context) -> int:
    """The page size in KiB (ps's ``getpagesize()``)."""
    size: int | None = ctx.cache.get("machine.page_kb")
    if size is None:
        size = ctx.cache["machine.page_kb"] = max(os.sysconf("SC_PAGE_SIZE") // 1024, 1)
    return size


def now(ctx: Context) -> int:
    """ps's ``seconds_since_1970``: the clock once per run."""
    when: int | None = ctx.cache.get("machine.now")
    if when is None:
        when = ctx.cache["machine.now"] = int(time.time())
    return when


def numa_node(ctx: Context, cpu: int) -> int:
    """libnuma's ``numa_node_of_cpu``, which procps asks when libnuma is
    installed (else -1, as procps's stand-in answers)."""
    node_of = ctx.cache.get("machine.numa", False)
    if node_of is False:
        node_of = None
        try:
            import ctypes

            node_of = ctypes.CDLL("libnuma.so.1").numa_node_of_cpu
            node_of.argtypes, node_of.restype = [ctypes.c_int], ctypes.c_int
        except (OSError, AttributeError):
            node_of = None
        ctx.cache["machine.numa"] = node_of
    return int(node_of(cpu)) if node_of is not None else -1
