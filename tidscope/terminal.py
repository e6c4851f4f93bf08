"""The terminal's size, found as procps finds it: the first of the output,
standard error, standard input and ``/dev/tty`` whose window is sane (both
dimensions non-zero); ``$COLUMNS`` and ``$LINES``, read as C's ``strtol``
reads them, override it."""

from __future__ import annotations

import os

from tidscope.numeric import c_integer

C_SPACE = " \t\n\v\f\r"  # what strtol skips first


def window(first: int | None = None) -> tuple[int, int] | None:
    """(columns, lines) of the first sane window: ``first``'s (the output's
    descriptor), stderr's, stdin's, then /dev/tty's; None if none is."""
    for fd in (first, 2, 0):
        if fd is None or fd < 0:
            continue
        try:
            size = os.get_terminal_size(fd)
        except (OSError, ValueError):
            continue
        if size.columns > 0 and size.lines > 0:
            return size.columns, size.lines
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    return (size.columns, size.lines) if size.columns > 0 and size.lines > 0 else None


def from_env(name: str, below: int) -> int | None:
    """``$name`` (COLUMNS, LINES) as a number from 1 to ``below`` - 1, or
    None when it is unset or unreadable (then the window decides)."""
    value = c_integer(os.environ.get(name, "").lstrip(C_SPACE))
    return value if value is not None and 0 < value < below else None
