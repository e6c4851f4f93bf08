"""The columns of ``tidscope top``, the keys it sorts by, and the names
of scheduling policies.

Every figure is a row key; a table's header is the key upper-cased
(render.py).  Rates are per second over the thread's own interval;
percentages are of one CPU.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# (key, what it is): the order of a table, a CSV header and a JSON row
COLUMNS = (
    ("tid", "thread ID"),
    ("pid", "its process (thread group) ID"),
    ("user", "effective user (the owner of its /proc directory)"),
    ("s", "state, as ps's S"),
    ("cpu", "the CPU it last ran on"),
    ("pol", "scheduling policy, as ps's CLS (TS, FF, RR, B, IDL, DLN, EXT)"),
    ("ni", "nice value (none for a real-time or deadline policy)"),
    ("rtprio", "real-time priority (none for other policies)"),
    ("pcpu", "%CPU over the interval, user and system"),
    ("usr", "%CPU in user mode"),
    ("sys", "%CPU in the kernel"),
    ("vcsw", "voluntary context switches per second (it blocked)"),
    ("ivcsw", "involuntary context switches per second (it was preempted)"),
    ("migr", "migrations between CPUs per second (sched; none where unreadable)"),
    ("minflt", "minor page faults per second"),
    ("majflt", "major page faults per second"),
    ("threads", "threads in the row (more than 1: a pool, or a process)"),
    ("name", "thread name (comm); a pool's as NAME* with its number cut off"),
    ("wchan", "the kernel function it sleeps in (none if it runs)"),
)
KEYS = tuple(key for key, _ in COLUMNS)
# the batch table's (and the live view's) columns: all of them but rtprio
TABLE = tuple(k for k in KEYS if k != "rtprio")

# sort keys: the numeric ones sort largest first, the others smallest first
SORTS = ("pcpu", "usr", "sys", "vcsw", "ivcsw", "migr", "minflt", "majflt", "tid", "pid", "name")
DESCENDING = frozenset({"pcpu", "usr", "sys", "vcsw", "ivcsw", "migr", "minflt", "majflt"})

# sched(7)'s policies by number, named as ps's CLS names them
POLICIES = {0: "TS", 1: "FF", 2: "RR", 3: "B", 4: "ISO", 5: "IDL", 6: "DLN", 7: "EXT"}
REALTIME = frozenset({1, 2})
DEADLINE = 6


def sort_key(key: str) -> Callable[[dict[str, Any]], Any]:
    """A function ordering rows by ``key`` (largest first for a figure),
    ties broken by tid; a missing value sorts last."""
    if key in DESCENDING:
        return lambda row: (-(row.get(key) or 0.0), row.get("tid") or 0)
    if key == "name":
        return lambda row: (row.get("name") or "", row.get("tid") or 0)
    return lambda row: (row.get(key) or 0, row.get("tid") or 0)
