"""``watch --summary``: per thread group, threads created and exited and
how long the threads lived, from the birth and exit events alone.

A lifetime is measured only for a thread whose birth and exit were both
seen (the two events' own timestamps); a thread born before the watch
began, or still alive at its end, adds to the counts but has no lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import median_low

from tidscope.watch.event import Event


@dataclass
class Group:
    """One thread group's threads: counts, and the lifetimes measured."""

    created: int = 0
    exited: int = 0
    lifetimes_ns: list[int] = field(default_factory=list)

    @property
    def shortest_ns(self) -> int | None:
        return min(self.lifetimes_ns) if self.lifetimes_ns else None

    @property
    def median_ns(self) -> int | None:
        """The median lifetime (the lower middle one for an even count: a
        lifetime some thread really had)."""
        return median_low(self.lifetimes_ns) if self.lifetimes_ns else None


class Summary:
    """Fed every printed event; ``groups`` by tgid."""

    def __init__(self) -> None:
        self.groups: dict[int, Group] = {}
        self._born: dict[int, tuple[int, int]] = {}  # tid: (tgid, birth time_ns)

    def add(self, event: Event) -> None:
        if not event.thread or event.kind not in ("fork", "exit"):
            return
        group = self.groups.setdefault(event.tgid, Group())
        if event.kind == "fork":
            group.created += 1
            self._born[event.tid] = (event.tgid, event.time_ns)
            return
        group.exited += 1
        birth = self._born.pop(event.tid, None)
        if birth is not None and birth[0] == event.tgid:
            group.lifetimes_ns.append(event.time_ns - birth[1])


def duration(ns: int | None) -> str:
    """A lifetime for people, ASCII only: 850ns, 412us, 3.21ms, 1.50s."""
    if ns is None:
        return "-"
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.3g}us"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.3g}ms"
    return f"{ns / 1e9:.2f}s"
