"""Thread pools: threads of one process whose names differ only by a
trailing number (``worker-1`` .. ``worker-8``, ``pool7``), folded into one
row, and processes as the sum of their threads.

A pool's row sums its threads' figures (%CPU, switches, migrations and
faults a second), counts them in ``threads``, and is named by what they
share with a ``*`` for the number (``worker-*``); state, CPU, policy and
wchan are shown when every thread of the pool has the same one.  A name
that only one thread of its process has is no pool.
"""

from __future__ import annotations

from tidscope.top.columns import DESCENDING

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    Row = dict[str, Any]

SUMMED = tuple(sorted(DESCENDING))
SAME = ("user", "s", "cpu", "pol", "ni", "rtprio", "wchan")
DIGITS = "0123456789"


def stem(name: str) -> str | None:
    """The pool name ``name`` belongs to (``worker-`` for ``worker-12``),
    or None if it ends in no number (or is only one)."""
    base = name.rstrip(DIGITS)
    return base if base != name and base else None


def summed(rows: list[Row], name: str, tid: int | None) -> Row:
    """One row for ``rows``, named ``name``, its tid ``tid``."""
    first = rows[0]
    out: Row = {key: first.get(key) for key in first}
    out["tid"] = tid
    for key in SUMMED:
        values = [r.get(key) for r in rows]
        known = [v for v in values if v is not None]
        out[key] = round(sum(known), 1) if known else None
    for key in SAME:
        same = {r.get(key) for r in rows}
        out[key] = same.pop() if len(same) == 1 else None
    out["threads"] = sum(r.get("threads") or 1 for r in rows)
    if "hist" in out:  # the live view's history is a thread's own
        out["hist"] = None
    out["name"] = name
    return out


def fold(rows: Iterable[Row], expanded: frozenset[tuple[int, str]] = frozenset()) -> list[Row]:
    """``rows`` with each pool (of two threads or more) folded into one
    row, unless (pid, pool name) is in ``expanded``; the order of first
    appearance is kept."""
    pools: dict[tuple[int, str], list[Row]] = {}
    order: list[tuple[int, str] | Row] = []
    for r in rows:
        base = stem(r["name"]) if isinstance(r.get("name"), str) else None
        if base is None:
            order.append(r)
            continue
        key = (r["pid"], base)
        if key not in pools:
            pools[key] = []
            order.append(key)
        pools[key].append(r)
    out: list[Row] = []
    for item in order:
        if not isinstance(item, tuple):
            out.append(item)
            continue
        members = pools[item]
        if len(members) < 2 or item in expanded:
            out.extend(members)
        else:
            out.append(summed(members, item[1] + "*", None))
    return out


def pool_key(row: Row) -> tuple[int, str] | None:
    """(pid, pool name) of a folded pool's row, or of a thread of a pool."""
    name = row.get("name")
    if not isinstance(name, str):
        return None
    if name.endswith("*") and (row.get("threads") or 1) > 1:
        return row["pid"], name[:-1]
    base = stem(name)
    return (row["pid"], base) if base is not None else None


def by_process(rows: Iterable[Row]) -> dict[int, list[Row]]:
    """The rows of each process, in the order they come."""
    groups: dict[int, list[Row]] = {}
    for r in rows:
        groups.setdefault(r["pid"], []).append(r)
    return groups


def process_row(pid: int, rows: list[Row], name: str | None) -> Row:
    """A process's row: the sum of its threads, named as its leader."""
    leader = next((r for r in rows if r.get("tid") == pid), None)
    out = summed(rows, name or (leader or rows[0]).get("name") or "?", None)
    out["tid"] = None
    return out
