"""Per-second figures of each thread between two readings.

A thread's interval runs from its first read to its second (each batch of
threads carries the second it was read at: a walk of 30,000 threads takes
a while, and each thread's own interval is what its counts rose over):

- seen in both readings (same tid, same start time): the difference;
- seen only in the second, and started after the first reading began:
  born inside the interval, it counts from its start (every count of a new
  thread starts at 0), over the time since;
- seen only in the first: it died inside the interval, and is left out;
- a tid in both with two start times: two threads, the old one died and
  the new one was born inside the interval;
- seen only in the second, but older than the first reading: it was not
  selected then (a name that changed), or not there to be listed; no
  figures until its next interval.

CPU time comes from ``stat`` in clock ticks; the user/system split is the
kernel's own (utime, stime).  A count that went backwards, which the
kernel never does, is taken as no change.
"""

from __future__ import annotations

import pwd

from tidscope.proc.threads import NUMBERS
from tidscope.top.columns import DEADLINE, POLICIES, REALTIME
from tidscope.top.sample import (
    HZ,
    LCPU,
    MAJFLT,
    MINFLT,
    NAME,
    NICE,
    POLICY,
    RTPRIO,
    STATE,
    STIME,
    TID,
    UTIME,
    Reading,
    Readings,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Row = dict[str, Any]

NOBODY_YET = 1.0 / HZ  # the shortest interval a figure is taken over: one tick

_users: dict[int, str | int] = {}


def user_name(uid: int | None) -> str | int | None:
    """The user's name, or the uid if it has none (cached: one lookup a uid)."""
    if uid is None:
        return None
    name = _users.get(uid)
    if name is None:
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = uid
        _users[uid] = name
    return name


def _rate(new: int | None, old: int | None, span: float) -> float | None:
    if new is None or old is None:
        return None
    return round(max(new - old, 0) / span, 1)


def _pct(ticks: int, span: float) -> float:
    return round(max(ticks, 0) / HZ / span * 100, 1)


# the counts of a thread at its start: nothing yet
ZERO = Reading((0,) * len(NUMBERS), 0, 0.0, (None, 0, 0, 0, None))


# the keys of a row, in the order row() makes them
ROW_KEYS = (
    "tid", "pid", "user", "s", "cpu", "pol", "ni", "rtprio", "pcpu", "usr", "sys",
    "vcsw", "ivcsw", "migr", "minflt", "majflt", "threads", "name", "wchan",
)  # fmt: skip


def row(new: Reading, old: Reading, span: float) -> Row:
    """One thread's row over ``span`` seconds since ``old`` (:data:`ZERO`
    for a thread born since)."""
    n, o = new.numbers, old.numbers
    more, was = new.more, old.more
    utime = n[UTIME] - o[UTIME]
    stime = n[STIME] - o[STIME]
    policy = n[POLICY]
    return {
        "tid": n[TID],
        "pid": new.tgid,
        "user": user_name(new.uid),
        "s": n[STATE],
        "cpu": n[LCPU],
        "pol": POLICIES.get(policy, str(policy)) if policy is not None else None,
        "ni": n[NICE] if policy not in REALTIME and policy != DEADLINE else None,
        "rtprio": n[RTPRIO] if policy in REALTIME else None,
        "pcpu": _pct(max(utime, 0) + max(stime, 0), span),
        "usr": _pct(utime, span),
        "sys": _pct(stime, span),
        "vcsw": _rate(more[1], was[1], span),  # VCSW
        "ivcsw": _rate(more[2], was[2], span),  # IVCSW
        "migr": _rate(more[3], was[3], span),  # MIGRATIONS
        "minflt": _rate(n[MINFLT], o[MINFLT], span),
        "majflt": _rate(n[MAJFLT], o[MAJFLT], span),
        "threads": 1,
        "name": n[NAME],
        "wchan": more[4],  # WCHAN
    }


def rows(before: Readings, after: Readings, began: float) -> list[Row]:
    """Each thread's row between readings ``before`` (which began at boot
    second ``began``) and ``after``; see the module for who is left out."""
    found = []
    for key, new in after.items():
        old = before.get(key)
        if old is not None:
            if new.more is old.more and new.numbers == old.numbers:
                # nothing changed: every figure is 0 over any span, the row
                # the same as last time it did not change (kept as its values,
                # a tenth of a dict's size; a new dict: printers write to rows)
                idle = old.idle
                if idle is None:
                    idle = tuple(row(new, old, 1.0).values())
                new.idle = idle
                found.append(dict(zip(ROW_KEYS, idle, strict=True)))
                continue
            span = new.when - old.when
            found.append(row(new, old, max(span, NOBODY_YET)))
        elif new.started >= began - NOBODY_YET:  # born inside the interval
            span = new.when - new.started
            found.append(row(new, ZERO, max(span, NOBODY_YET)))
    return found
