"""A thread's fields from ``stat``, ``status`` and ``sched``, each with its source.

Every :class:`Field` names the file (and line, or stat field number) it was
read from, and whether the kernel keeps it per thread (``thread``) or once
for the thread group (``process``).  Its ``value`` is what JSON carries; its
``text`` what a table shows (text in both as read: render.py escapes or
cleans it for the format); a value that could not be read is an
:class:`~tidscope.proc.files.Unread` with the reason, never a guess.

Numbers are read as the kernel writes them (tidscope/numeric.py); a line
that holds anything else is an Unread ("unexpected: ..."), not a value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tidscope.numeric import c_integer, kernel_ints
from tidscope.proc import masks
from tidscope.proc.files import Unread
from tidscope.proc.task import Task

THREAD, PROCESS = "thread", "process"
UNREADABLE = "not readable: "
# stat fields read here, numbered as proc(5) numbers them
NAME, UTIME, STIME, PRIORITY, NICE, PROCESSOR, RT_PRIORITY, POLICY = 2, 14, 15, 18, 19, 39, 40, 41
KSTKESP = 29
POLICIES = {
    0: "SCHED_OTHER",
    1: "SCHED_FIFO",
    2: "SCHED_RR",
    3: "SCHED_BATCH",
    5: "SCHED_IDLE",
    6: "SCHED_DEADLINE",
    7: "SCHED_EXT",
}
SECCOMP = {0: "disabled", 1: "strict", 2: "filter"}

Parsed = tuple[Any, str]  # (value, text); a parser raises ValueError on what it cannot read
Parser = Callable[[str], Parsed]


@dataclass(frozen=True)
class Field:
    """One observed value of one thread.

    ``basis`` is what a comparison with the leader looks at: the value
    itself unless given (a syscall is compared by number, not by its
    arguments).  ``compare=False`` for counters and ids, which differ
    between threads by nature."""

    key: str
    scope: str
    source: str
    value: Any
    text: str
    compare: bool = True
    basis: Any = None

    @property
    def observed(self) -> bool:
        return not isinstance(self.value, Unread)

    def same_as(self, other: Field) -> bool | None:
        """Whether this field equals ``other``'s; None if it is not compared
        or either was not observed."""
        if not (self.compare and self.observed and other.observed):
            return None
        mine = self.value if self.basis is None else self.basis
        theirs = other.value if other.basis is None else other.basis
        return bool(mine == theirs)


def unread(key: str, scope: str, source: str, why: Unread, compare: bool = True) -> Field:
    """The field ``key`` that was not observed, for ``why``."""
    return Field(key, scope, source, why, UNREADABLE + why.why, compare)


# -- stat and status ------------------------------------------------------------------


def stat_field(
    key: str, scope: str, stat: Task | Unread, number: int, parse: Parser, compare: bool = True
) -> Field:
    """Field ``number`` of the ``stat`` line (2 is the name)."""
    source = f"stat field {number}"
    if isinstance(stat, Unread):
        return unread(key, scope, source, stat, compare)
    raw = stat.name if number == NAME else stat.field(number).decode("ascii", "replace")
    try:
        value, text = parse(raw)
    except ValueError:
        return unread(key, scope, source, Unread(source, f"unexpected: {raw!r}"), compare)
    return Field(key, scope, source, value, text, compare)


def status_field(
    key: str,
    scope: str,
    status: dict[str, str] | Unread,
    line: str,
    parse: Parser,
    compare: bool = True,
) -> Field:
    """The ``line:`` of ``status``."""
    source = f"status {line}"
    if isinstance(status, Unread):
        return unread(key, scope, source, status, compare)
    raw = status.get(line)
    if raw is None:
        return unread(key, scope, source, Unread(source, "no such line here"), compare)
    try:
        value, text = parse(raw)
    except ValueError:
        return unread(key, scope, source, Unread(source, f"unexpected: {raw!r}"), compare)
    return Field(key, scope, source, value, text, compare)


def text(raw: str) -> Parsed:
    return raw, raw


def number(raw: str) -> Parsed:
    values = kernel_ints(raw.encode())
    if not values or len(values) != 1:
        raise ValueError(raw)
    return values[0], str(values[0])


def numbers(raw: str) -> tuple[int, ...]:
    words = raw.split()
    values = kernel_ints(*(w.encode() for w in words)) if words else ()
    if values is None:
        raise ValueError(raw)
    return values


def policy(raw: str) -> Parsed:
    value, _ = number(raw)
    label = POLICIES.get(value, f"policy {value}")
    return label, label


def seconds(hz: int) -> Parser:
    """Clock ticks as seconds."""

    def parse(raw: str) -> Parsed:
        ticks, _ = number(raw)
        return ticks / hz, f"{ticks / hz:.2f} s"

    return parse


def signals(raw: str) -> Parsed:
    mask = masks.parse(raw)
    if mask is None:
        raise ValueError(raw)
    return masks.signal_names(mask), masks.signal_summary(mask)


def capabilities(last: int | None) -> Parser:
    def parse(raw: str) -> Parsed:
        mask = masks.parse(raw)
        if mask is None:
            raise ValueError(raw)
        return masks.capability_names(mask), masks.capability_summary(mask, last)

    return parse


def ids(raw: str) -> Parsed:
    """``Uid:``/``Gid:``: real, effective, saved and filesystem ids."""
    values = numbers(raw)
    if len(values) != 4:
        raise ValueError(raw)
    keys = ("real", "effective", "saved", "filesystem")
    shown = " ".join(f"{k}={v}" for k, v in zip(("r", "e", "s", "fs"), values, strict=True))
    return dict(zip(keys, values, strict=True)), shown


def groups(raw: str) -> Parsed:
    values = list(numbers(raw))
    return values, " ".join(map(str, values)) or "none"


def chain(raw: str) -> Parsed:
    """``NSpid:``/``NStgid:``: the id in each PID namespace, outermost first."""
    values = list(numbers(raw))
    if not values:
        raise ValueError(raw)
    return values, " ".join(map(str, values))


def flag(raw: str) -> Parsed:
    if raw not in ("0", "1"):
        raise ValueError(raw)
    return raw == "1", "true" if raw == "1" else "false"  # as render.py prints a bool


def seccomp(status: dict[str, str] | Unread) -> Field:
    """``Seccomp:`` (the mode) with ``Seccomp_filters:`` (how many filters)."""

    def parse(raw: str) -> Parsed:
        mode, _ = number(raw)
        label = SECCOMP.get(mode, f"mode {mode}")
        count = status.get("Seccomp_filters") if isinstance(status, dict) else None
        filters = c_integer(count, 10) if count is not None else None
        if filters is None:
            return {"mode": label}, label
        return {
            "mode": label,
            "filters": filters,
        }, f"{label}, {filters} filter(s)" if filters else label

    return status_field("seccomp", THREAD, status, "Seccomp", parse)


def migrations(data: bytes | Unread) -> Field:
    """``se.nr_migrations`` of ``sched``: how often the thread moved between CPUs."""
    source = "sched se.nr_migrations"
    if isinstance(data, Unread):
        return unread("migrations", THREAD, source, data, False)
    for line in data.decode("ascii", "replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "se.nr_migrations":
            count = c_integer(value.strip(), 10)
            if count is not None:
                return Field("migrations", THREAD, source, count, str(count), False)
    return unread("migrations", THREAD, source, Unread(source, "no such line here"), False)
