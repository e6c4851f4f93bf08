"""Reading the kernel's task tables under /proc (the procfs backend).

Races are ordinary control flow here: a task can vanish between listing and
reading, which yields None, never an exception.
"""

from __future__ import annotations

PROC = "/proc"


def task_status(tgid: int, tid: int, root: str = PROC) -> dict[str, str] | None:
    """``/proc/<tgid>/task/<tid>/status`` as a dict, or None if unreadable."""
    try:
        with open(f"{root}/{tgid}/task/{tid}/status", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    status: dict[str, str] = {}
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            status[key] = value.strip()
    return status
