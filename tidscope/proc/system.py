"""What the machine says once for every task: its clock tick, its boot
time, and how wide its pids can be."""

from __future__ import annotations

import os

from tidscope.numeric import decimal, kernel_ints
from tidscope.proc.files import PROC, TABLE_MAX, read, read_all
from tidscope.proc.task import ID_MAX

PID_WIDTH = 5  # procps's column width when pid_max cannot be read


def clock_ticks() -> int:
    """USER_HZ: the unit of every time in ``stat``."""
    return os.sysconf("SC_CLK_TCK")


def boot_time(root: str = PROC) -> int | None:
    """Seconds since the epoch at boot (``btime`` in ``/proc/stat``)."""
    data = read_all(f"{root}/stat", limit=TABLE_MAX) or b""
    at = data.find(b"\nbtime ")
    if at < 0:
        return None
    values = kernel_ints(data[at + 7 :].split(b"\n", 1)[0])
    return values[0] if values and 0 <= values[0] < 1 << 40 else None  # a time_t yet


def pid_width(root: str = PROC) -> int:
    """Digits in ``kernel.pid_max``: procps's width for PID-like columns
    (procps's own default when the file holds no pid_max the kernel allows)."""
    text = (read(f"{root}/sys/kernel/pid_max") or b"").decode("ascii", "replace").strip()
    value = decimal(text)
    return len(text) if value is not None and 0 < value <= ID_MAX + 1 else PID_WIDTH
