"""Names as procps prints them: the one text escaper every renderer calls.

Task names and command lines are bytes the kernel keeps for anyone to set;
tidscope decodes them as UTF-8 with undecodable bytes kept as surrogates
(procfs.py).  For people they are printed as procps ``ps`` prints them, which
depends on the locale procps would run in (``setlocale(LC_ALL, "")`` from the
environment, all categories or none; UTF-8 when its ``LC_CTYPE`` codeset is):

* not UTF-8 (``LANG`` unset, ``C``, ``POSIX``, a locale that is not
  installed, ISO-8859-1...): byte by byte, control bytes and DEL print as
  ``.``, every byte from 0x80 up as ``?``; one cell each.
* UTF-8: each byte of an invalid sequence, each ASCII control character
  and DEL, and each character glibc's ``iswprint`` refuses (C1 controls,
  unassigned code points such as U+0378 and U+FFFF, U+2028 and U+2029)
  prints as one ``?``; anything else prints as itself, taking the cells
  glibc's ``wcwidth`` gives it: none for combining and format characters
  (U+0301, U+200B, U+FEFF), two for wide ones.

What procps's library keeps of a name or command line, which is what
``ps --sort`` compares, is not always what ps prints (:func:`library`).

glibc's tables are Unicode's, with a few exceptions spelled out in
:func:`width`; tests/test_text.py compares them with the C library's own.
JSON and CSV carry the text itself instead (:func:`clean`).

Plain printable ASCII, nearly every name there is, costs one check:
``unicodedata`` and ``locale`` are imported only when other text turns up.

The terminal's size is found as procps finds it (:func:`window`): the first
of the output, standard error, standard input and ``/dev/tty`` whose window
is sane (both dimensions non-zero); ``$COLUMNS`` and ``$LINES``, read as C's
``strtol`` reads them, override it (:func:`from_env`).
"""

from __future__ import annotations

import os
import sys

from tidscope.numeric import c_integer

# glibc's LC_* categories, by number: setlocale(LC_ALL, "") sets all of them
CATEGORIES = {
    0: "LC_CTYPE",
    1: "LC_NUMERIC",
    2: "LC_TIME",
    3: "LC_COLLATE",
    4: "LC_MONETARY",
    5: "LC_MESSAGES",
    7: "LC_PAPER",
    8: "LC_NAME",
    9: "LC_ADDRESS",
    10: "LC_TELEPHONE",
    11: "LC_MEASUREMENT",
    12: "LC_IDENTIFICATION",
}
# Unicode's Prepended_Concatenation_Mark characters: format characters
# glibc gives one cell, not none
_PREPENDED = frozenset((*range(0x600, 0x606), 0x6DD, 0x70F, 0x890, 0x891, 0x8E2, 0x110BD, 0x110CD))
_UNPRINTABLE = frozenset(("Cc", "Cs", "Cn", "Zl", "Zp"))
_ZERO = frozenset(("Mn", "Me", "Cf"))
# a non-UTF-8 locale, byte by byte: controls and DEL "." and the upper half "?"
_BYTES = bytes(46 if b < 0x20 or b == 0x7F else 63 if b > 0x7F else b for b in range(256))
# the length of the UTF-8 sequence each lead byte starts; 0: none
_SEQUENCE = bytes(
    1
    if b < 0x80
    else 2
    if 0xC2 <= b <= 0xDF
    else 3
    if 0xE0 <= b <= 0xEF
    else 4
    if b <= 0xF4 and b >= 0xF0
    else 0
    for b in range(256)
)

_MODE: list[tuple[bool, str]] = []  # once known: (procps's locale is UTF-8, our output's encoding)


def procps_utf8(environ: dict[str, str] | None = None) -> bool:
    """Whether procps, started with ``environ`` (by default the environment
    tidscope itself was started with), prints in a UTF-8 locale."""
    env = _startup_environment() if environ is None else environ

    def chosen(category: str) -> str:
        return env.get("LC_ALL") or env.get(category) or env.get("LANG") or ""

    ctype = chosen("LC_CTYPE")
    if ctype in ("", "C", "POSIX"):
        return False
    import locale

    names = {number: chosen(name) for number, name in CATEGORIES.items()}
    saved = {number: locale.setlocale(number) for number in names}
    try:
        for number, name in names.items():
            locale.setlocale(number, name)  # as glibc: one bad category, none set
        codeset = locale.nl_langinfo(locale.CODESET)
    except (locale.Error, ValueError):
        return False
    finally:
        for number, name in saved.items():
            locale.setlocale(number, name)
    return codeset.upper() in ("UTF-8", "UTF8")


def _startup_environment() -> dict[str, str]:
    """The environment as the kernel handed it to us.

    Python rewrites ``LC_CTYPE`` in a C or POSIX locale (PEP 538) before any
    of our code runs, so ``os.environ`` cannot tell ``LANG=C`` from
    ``LANG=C.UTF-8``; /proc/self/environ still holds what procps would see.
    """
    try:
        with open("/proc/self/environ", "rb") as f:
            data = f.read()
    except OSError:
        return dict(os.environ)
    env: dict[str, str] = {}
    for item in data.split(b"\0"):
        key, eq, value = item.partition(b"=")
        if eq:  # getenv(3) takes the first of repeated names
            env.setdefault(key.decode("utf-8", "replace"), value.decode("utf-8", "replace"))
    return env


def _current() -> tuple[bool, str]:
    if not _MODE:
        encoding = (getattr(sys.stdout, "encoding", None) or "utf-8").lower().replace("_", "-")
        _MODE.append((procps_utf8(), "utf-8" if encoding in ("utf-8", "utf8") else encoding))
    return _MODE[0]


def escape(text: str) -> str:
    """``text`` as procps prints it in the current locale (see the module)."""
    if text.isascii() and text.isprintable():
        return text
    raw = text.encode("utf-8", "surrogateescape")
    utf8, encoding = _current()
    if not utf8:
        return raw.translate(_BYTES).decode("ascii")
    import unicodedata

    out = []
    for ch in _library_pass(raw).decode("utf-8", "surrogateescape"):
        o = ord(ch)
        if o < 0x80:
            out.append(ch if 0x20 <= o < 0x7F else "?")
        elif unicodedata.category(ch) in _UNPRINTABLE:
            out.append("?")  # undecodable bytes, kept as surrogates, too
        elif encoding != "utf-8" and not _encodable(ch, encoding):
            out.append("?")  # e.g. PYTHONIOENCODING=ascii: as procps, not a traceback
        else:
            out.append(ch)
    return "".join(out)


def library(text: str) -> str:
    """``text`` as libproc2 keeps a name or a command line, before ps
    escapes it for printing (:func:`escape`): what ps's ``--sort`` compares.
    Not UTF-8: every byte :func:`escape` would change changed the same way.
    UTF-8: :func:`_library_pass` only, so a character glibc will not print
    (U+2028, a C1 control) stays itself here and prints as ``?``."""
    if text.isascii() and text.isprintable():
        return text
    raw = text.encode("utf-8", "surrogateescape")
    if not _current()[0]:
        return raw.translate(_BYTES).decode("ascii")
    return _library_pass(raw).decode("utf-8", "surrogateescape")


def _library_pass(raw: bytes) -> bytes:
    """What libproc2 does to a name before ps escapes it again, in a UTF-8
    locale: walking by the length each lead byte announces (continuation
    bytes unchecked), control bytes become ``?``; from the first byte that
    cannot start a character, or a character cut short by the end, on,
    everything is escaped as in a non-UTF-8 locale (controls as ``.``)."""
    out = bytearray(raw)
    i, end = 0, len(raw)
    while i < end:
        byte = raw[i]
        size = _SEQUENCE[byte]
        if not size or i + size > end:
            out[i:] = raw[i:].translate(_BYTES)
            break
        if byte < 0x20 or byte == 0x7F:
            out[i] = 0x3F  # "?"
        i += size
    return bytes(out)


def _encodable(ch: str, encoding: str) -> bool:
    try:
        ch.encode(encoding)
    except (UnicodeError, LookupError):
        return False
    return True


def width(ch: str) -> int:
    """glibc's ``wcwidth`` of one printable character: 0, 1 or 2 cells."""
    o = ord(ch)
    if o < 0x300:  # ASCII, Latin-1 and more, U+00AD too: one cell
        return 1
    import unicodedata

    if o in _PREPENDED:
        return 1
    if 0x1160 <= o < 0x1200 or 0xD7B0 <= o < 0xD800:  # Hangul vowels and finals
        return 0
    if unicodedata.category(ch) in _ZERO or unicodedata.bidirectional(ch) == "NSM":
        return 0
    if unicodedata.east_asian_width(ch) in "WF" or 0x3248 <= o < 0x3250 or 0x4DC0 <= o < 0x4E00:
        return 2
    return 1


def cells(text: str) -> int:
    """Screen cells escaped ``text`` takes."""
    if text.isascii():
        return len(text)
    return sum(width(ch) for ch in text)


def clip(text: str, room: int) -> str:
    """The longest start of escaped ``text`` that fits ``room`` cells, as
    procps cuts it: a wide character that would straddle the edge goes, and
    so do zero-width characters once the room is full."""
    if text.isascii():
        return text[:room]
    used = 0
    for i, ch in enumerate(text):
        if used >= room:
            return text[:i]
        used += width(ch)
        if used > room:
            return text[:i]
    return text


def clean(text: str) -> str:
    """Text JSON and CSV can carry: undecodable bytes become U+FFFD."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# -- the terminal's size ---------------------------------------------------------------

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
