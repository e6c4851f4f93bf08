"""Every number tidscope reads from a user or from /proc is parsed here.

Python's ``str.isdigit()`` and ``int()`` accept far more than C does: ``²``
and the Arabic-Indic one are digits to them, ``int(" 1_0 ")`` is 10.  procps parses with
C's ``strtoul``/``strtol`` on ASCII, so do we: nothing else in tidscope
calls ``isdigit()`` or ``int()`` on text it did not make itself.
"""

from __future__ import annotations

ASCII_DIGITS = frozenset("0123456789")
# Python's int() refuses decimals of more than 4,300 digits (ValueError); any
# with more than this many significant digits is past every C type we read
# into, and reads as PAST_EVERY_RANGE: C's strtol saturates there too, and
# every caller's range check then says "out of range", as procps does.
LONGEST = 4000
PAST_EVERY_RANGE = 10**LONGEST
MAX_SECONDS = 10**9  # 31 years: what time.sleep() and every clock here take without trouble
_HEX = frozenset("0123456789abcdefABCDEF")
_OCT = frozenset("01234567")
LIST_SEPARATORS = " ,\t"


def is_decimal(text: str) -> bool:
    """``text`` is one or more ASCII digits, nothing else."""
    return bool(text) and text.isascii() and text.isdigit()


def decimal(text: str) -> int | None:
    """A plain ASCII decimal (``/proc`` entry names, uids, ``COLUMNS``), or None."""
    return _base10(text) if is_decimal(text) else None


def _base10(digits: str) -> int:
    """ASCII ``digits`` as a number, however many (see LONGEST)."""
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= LONGEST else PAST_EVERY_RANGE


def c_integer(text: str, base: int = 0) -> int | None:
    """What C's ``strtol(text, &end, base)`` reads when it must consume all
    of ``text`` (no leading blanks): an optional sign, then with base 0 a
    ``0x`` prefix for hex, a leading ``0`` for octal, else decimal; ASCII
    only.  None if ``text`` is anything else."""
    if not text.isascii():
        return None
    sign = 1
    if text[:1] in ("+", "-"):
        sign, text = (-1 if text[0] == "-" else 1), text[1:]
    if base in (0, 16) and text[:2].lower() == "0x" and len(text) > 2:
        digits, base = text[2:], 16
    elif base == 0 and len(text) > 1 and text[0] == "0":
        digits, base = text[1:], 8
    else:
        digits, base = text, base or 10
    allowed = {16: _HEX, 8: _OCT, 10: ASCII_DIGITS}[base]
    if not digits or not set(digits) <= allowed:
        return None
    return sign * (_base10(digits) if base == 10 else int(digits, base))


def procps_list(text: str) -> list[str] | None:
    """The items of a procps list (``1,2 3``): separated by one comma,
    blank or tab each, none empty, none leading or trailing; None if
    improper (procps: "improper list")."""
    items: list[str] = []
    current = ""
    need = True
    for ch in text:
        if ch in LIST_SEPARATORS:
            if need:
                return None
            items.append(current)
            current, need = "", True
        else:
            current += ch
            need = False
    if need:
        return None
    items.append(current)
    return items


def entry_id(name: str) -> int | None:
    """The id a ``/proc`` (or ``task/``) entry names: the kernel writes ids
    as plain ASCII decimals from 1 to 2**31 - 1 with no leading zero, so
    anything else (``²``, ``007``, ``self``) names no task."""
    if name.isascii() and name.isdigit() and name[0] != "0":
        value = int(name)
        return value if value <= 0x7FFFFFFF else None
    return None


def entry_ids(names: list[str]) -> list[int | None]:
    """:func:`entry_id` of each name; at C speed when all are plain digits,
    as a ``task/`` directory of tens of thousands of threads is."""
    joined = "".join(names)
    if joined.isascii() and joined.isdigit():
        return [v if (v := int(n)) <= 0x7FFFFFFF and n[0] != "0" else None for n in names]
    return [entry_id(n) for n in names]


def kernel_numbers(line: bytes) -> bool:
    """Whether ``line`` holds nothing but what the kernel prints in /proc's
    lines of numbers (``%d``, ``%u``, ``%llu`` separated by blanks): ASCII
    digits, ``-`` signs, blanks and newlines.  Then ``int()`` of each
    blank-separated word reads it as C would, or raises ValueError (``""``,
    ``1-2``); without the check it would also take ``+1``, ``1_0`` and
    ``\t1``."""
    return line.translate(None, b" -\n").isdigit()


def unsigned(*fields: bytes) -> bool:
    """Whether each field is ASCII digits only (or empty, which ``int()``
    refuses), as the kernel prints an unsigned number: one C-speed check for
    the fields of a ``stat`` line, which ``ps -T`` reads by the thousand."""
    return b"".join(fields).isdigit()


def kernel_ints(*fields: bytes) -> tuple[int, ...] | None:
    """Each field a number as the kernel prints it (see
    :func:`kernel_numbers`), or None if any is anything else.  Range checks
    are the caller's: it knows each field's C type."""
    if not fields or not kernel_numbers(b" ".join(fields)):
        return None
    try:
        return tuple(map(int, fields))
    except ValueError:
        return None


def decimal_fraction(text: str) -> float | None:
    """``5``, ``0.25``, ``.5``: ASCII digits with at most one point, no sign,
    exponent, blank or ``_`` (all of which ``float()`` takes), or None."""
    whole, point, fraction = text.partition(".")
    if not (whole or fraction) or not all(p == "" or is_decimal(p) for p in (whole, fraction)):
        return None
    if point and not fraction:
        return None
    return float(text)


def seconds(text: str) -> float | None:
    """A number of seconds from a user (``--hold``, ``--duration``,
    ``--poll``): a :func:`decimal_fraction` above 0 as a float (``5``,
    ``0.5``, ``.5``; so small a fraction that it is 0.0 is 0), or None: no
    sign, exponent (``1e3``), blank, ``inf`` or ``nan``.  Never int(), so no
    length limit: a value above :data:`MAX_SECONDS` (``inf`` for thousands
    of digits) is returned for the caller to refuse as too long
    (cli/options.seconds says which of the two is wrong)."""
    value = decimal_fraction(text)
    return value if value is not None and value > 0 else None
