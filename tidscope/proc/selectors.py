"""procps's selection lists, read once for every command that selects
tasks as ``ps`` does (``ps``, ``top``): process and thread ids (``-p``,
``--tid``), users (``-u``), task names (``-C``), and whether a task's name
is one of them.

Every list is read with procps's rules: items split by one comma, blank
or tab each; ids as C's ``strtol(item, &end, 0)`` reads them; users and
groups by number or name.  A bad item is one UsageError naming it and the
fix.
"""

from __future__ import annotations

from tidscope.errors import UsageError
from tidscope.numeric import c_integer, procps_list
from tidscope.proc.task import ID_MAX

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Protocol

    class Named(Protocol):
        """Anything with a task's name: a Task, or top's Reading."""

        @property
        def name(self) -> str: ...


COMM_MAX = 63  # procps keeps 63 bytes of a -C name
COMM_LEN = 15  # the kernel keeps 15 bytes of a task's name
UID_MAX = 0xFFFFFFFE  # (uid_t)-1 is no user


def parse_ids(values: Iterable[str], option: str) -> tuple[int, ...]:
    """procps's process ID lists (repeatable): items split by one comma,
    blank or tab each, every item read as C's ``strtol(item, &end, 0)``
    reads it (``+1``, ``010`` is 8, ``0x10`` is 16), 1 to INT_MAX; UsageError,
    naming the problem and the fix, on anything else."""
    ids = []
    for value in values:
        if not value:
            raise UsageError(f"{option} needs at least one id, e.g. {option} 1")
        items = procps_list(value)
        if items is None:
            why = "improper list (one comma or blank between ids, none before or after)"
            raise _bad_ids(option, value, why)
        for item in items:
            number = c_integer(item)
            if number is None:
                why = f"{item!r} is not a number (decimal, 0x hex or 0 octal, ASCII digits)"
                raise _bad_ids(option, value, why)
            if not 0 < number <= ID_MAX:  # procps: "process ID out of range"
                raise _bad_ids(option, value, f"{item} is out of range: ids are 1 to {ID_MAX}")
            ids.append(number)
    return tuple(ids)


def _bad_ids(option: str, value: str, why: str) -> UsageError:
    return UsageError(f"{option} {value!r} is not a list of ids: {why}: give e.g. {option} 1,42")


def items(values: Iterable[str], option: str, example: str) -> list[str]:
    items: list[str] = []
    for value in values:
        found = procps_list(value) if value else None
        if found is None:
            raise UsageError(
                f"{option} {value!r} is not a list: one comma or blank between items,"
                f" none before or after: give e.g. {option} {example}"
            )
        items.extend(found)
    return items


def _number(item: str) -> int | None:
    """What C's strtoul(item, &end, 0) reads from all of ``item``: a minus
    sign wraps around, as it does in C."""
    number = c_integer(item)
    if number is not None and number < 0:
        number += 1 << 64
    return number


def users(values: Iterable[str], option: str) -> frozenset[int]:
    """User IDs, by number or name, as procps's parse_uid reads them."""
    return _names_or_numbers(values, option, "user", "root,1000", _uid)


def groups(values: Iterable[str], option: str) -> frozenset[int]:
    """Group IDs, by number or name, as procps's parse_gid reads them."""
    return _names_or_numbers(values, option, "group", "root,100", _gid)


def _uid(name: str) -> int:
    import pwd

    return pwd.getpwnam(name).pw_uid


def _gid(name: str) -> int:
    import grp

    return grp.getgrnam(name).gr_gid


def _names_or_numbers(
    values: Iterable[str], option: str, what: str, example: str, by_name: Callable[[str], int]
) -> frozenset[int]:
    """The IDs of ``what`` (user or group) the items of ``values`` name: an
    item is a number (C's strtoul, up to UID_MAX) or else a name that
    ``by_name`` looks up (KeyError: none has it)."""
    found = set()
    for item in items(values, option, example):
        number = _number(item)
        if number is None:
            try:
                number = by_name(item)
            except (KeyError, UnicodeEncodeError, ValueError):
                raise UsageError(
                    f"{option}: no {what} is named {item!r}: give a {what} name or a"
                    f" numeric {what} ID, e.g. {option} root"
                ) from None
        if number > UID_MAX:
            raise UsageError(f"{option}: {what} ID {item} is out of range: give 0 to {UID_MAX}")
        found.add(number)
    return frozenset(found)


def commands(values: Iterable[str]) -> frozenset[bytes]:
    """``-C`` names, as bytes, cut to the 63 procps keeps."""
    return frozenset(
        item.encode("utf-8", "surrogateescape")[:COMM_MAX]
        for item in items(values, "-C", "bash,sshd")
    )


def named(task: Named, names: frozenset[bytes]) -> bool:
    name = task.name.encode("utf-8", "surrogateescape")
    if name in names:
        return True
    # procps: a name the kernel cut to 15 bytes matches a longer one it begins
    return len(name) == COMM_LEN and any(len(n) >= COMM_LEN and n[:COMM_LEN] == name for n in names)
