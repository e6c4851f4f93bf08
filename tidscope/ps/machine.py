"""What ps reads once per run about the machine, cached in ``Context.cache``.

procps reads these once per listing: ``/proc/uptime`` (as ``boot_tics``,
the seconds since boot times USER_HZ, truncated), ``MemTotal`` of
``/proc/meminfo``, the page size, the clock, and libnuma when it is
installed.  Each is read here on first use, under this module's keys, from
the same proc root as the tasks.  A file that cannot be read gives 0, as if
the machine had just booted (every task then 0 s old) or had no memory
(%MEM 0.0), where procps would use garbage or fail.
"""

from __future__ import annotations

import os
import time

from tidscope.numeric import decimal_fraction
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
        tics = ctx.cache["machine.boot_tics"] = int(up * ctx.hz) if up is not None else 0
    return tics


def mem_total(ctx: Context) -> int:
    """``MemTotal`` of /proc/meminfo in kB; 0 if unreadable."""
    total: int | None = ctx.cache.get("machine.mem_total")
    if total is None:
        total = 0
        for line in (read_all(f"{ctx.root}/meminfo", limit=TABLE_MAX) or b"").split(b"\n"):
            if line.startswith(b"MemTotal:"):
                words = line[9:].split()
                total = int(words[0]) if words and words[0].isdigit() else 0
                break
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
