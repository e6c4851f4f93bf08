"""Every number tidscope reads from a user or from /proc is parsed here.

Python's ``str.isdigit()`` and ``int()`` accept far more than C does: ``²``
and the Arabic-Indic one are digits to them, ``int(" 1_0 ")`` is 10.  procps parses with
C's ``strtoul``/``strtol`` on ASCII, so do we: nothing else in tidscope
calls ``isdigit()`` or ``int()`` on text it did not make itself.
"""

from __future__ import annotations

ASCII_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")
_OCT = frozenset("01234567")
LIST_SEPARATORS = " ,\t"


def is_decimal(text: str) -> bool:
    """``text`` is one or more ASCII digits, nothing else."""
    return bool(text) and text.isascii() and text.isdigit()


def decimal(text: str) -> int | None:
    """A plain ASCII decimal (``/proc`` entry names, uids, ``COLUMNS``), or None."""
    return int(text) if is_decimal(text) else None


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
    return sign * int(digits, base)


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
