"""The fast path for ``tidscope ps``: plain command lines without click.

Importing click costs several times Python's own start-up, more than a
whole ``ps -p 1``.  Command lines made only of ps's own options in their
plain forms (``-eLf``, ``-p 1,2``, ``--pid=1``, ``-eo pid,comm``,
``--sort=-pcpu``, ``aux``, ``--format json``...) are parsed here, to
exactly the values click would give the command; anything else (help,
completion, a typo, a value that looks like an option) returns None and
click parses it, with its messages.  Both parsers are made of the one table
of ps's options (ps/options.py); tests/test_fastpath.py and
tests/test_ps_options.py hold them to the same answers.

Both parsers first let :func:`join_bsd_values` glue a BSD option that takes
a list to its list (``k -pcpu`` to ``k-pcpu``), so that click reads every
BSD argument as one positional argument whatever its list looks like.
"""

from __future__ import annotations

from tidscope.ps.options import (
    ARGUMENT,
    BSD_FLAGS,
    BSD_VALUES,
    BY_NAME,
    COUNT,
    FLAG,
    LIST,
    OPTIONS,
    Option,
)

TYPE_CHECKING = False  # keep typing out of ps's start-up
if TYPE_CHECKING:
    from typing import Any

HELP = "-h"  # the group's short help option (cli/app.py), no option of ps's own
TAKES_VALUE = frozenset(name for name, o in BY_NAME.items() if o.takes_value)
SHORT = frozenset(name for name in (*BY_NAME, HELP) if name[1] != "-")
BSD_LETTERS = frozenset(BSD_FLAGS + BSD_VALUES + "0123456789")
CHOOSING = tuple(o for o in OPTIONS if o.choices)


def join_bsd_values(args: list[str]) -> list[str]:
    """``args`` with each BSD argument that ends in a list-taking letter
    joined to the argument after it (``ax k -pcpu`` -> ``ax k-pcpu``), as
    procps takes that next argument whatever it looks like.  A dash before
    BSD letters that are no Unix options (``-aux``) is dropped, as procps's
    second reading of a command line drops it."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if _dashed_bsd(arg):
            arg = arg[1:]
        out.append(arg)
        i += 1
        if arg == "--":
            out.extend(args[i:])
            break
        if arg.startswith("--"):
            if "=" not in arg and arg in TAKES_VALUE and i < len(args):
                out.append(args[i])
                i += 1
        elif arg.startswith("-") and len(arg) > 1:
            for at, letter in enumerate(arg[1:], 1):
                if f"-{letter}" in TAKES_VALUE:
                    if at == len(arg) - 1 and i < len(args):
                        out.append(args[i])
                        i += 1
                    break
        elif arg and _bsd_wants_next(arg) and i < len(args):
            out[-1] = arg + args[i]
            i += 1
    return out


def _dashed_bsd(arg: str) -> bool:
    """``-aux``: a dash, then BSD letters only, the first of them no Unix option."""
    return (
        len(arg) > 1
        and arg[0] == "-"
        and arg[:2] not in SHORT
        and arg[1] != "-"
        and set(arg[1:]) <= BSD_LETTERS
    )


def _bsd_wants_next(token: str) -> bool:
    """Whether the first list-taking letter of a BSD argument ends it (digits
    are a list of their own)."""
    for at, letter in enumerate(token):
        if letter.isascii() and letter.isdigit():
            return False
        if letter in BSD_VALUES:
            return at == len(token) - 1
    return False


def defaults() -> dict[str, Any]:
    """click's values for a command line without options."""
    params: dict[str, Any] = {o.dest: _default(o) for o in OPTIONS}
    params[ARGUMENT] = []
    return params


def _default(option: Option) -> object:
    kind = option.kind
    return False if kind == FLAG else 0 if kind == COUNT else [] if kind == LIST else option.default


def parse_ps(args: list[str]) -> dict[str, Any] | None:
    """``ps``'s parameters from ``args`` (after ``ps``), or None."""
    args = join_bsd_values(args)
    params = defaults()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            option = BY_NAME.get(name)
            if option is None:
                return None
            if not option.takes_value:
                if eq:
                    return None
                _given(params, option)
            else:
                if not eq:
                    i += 1
                    if i == len(args):
                        return None
                    value = args[i]
                if not _store(params, option, value):
                    return None
        elif arg.startswith("-") and len(arg) > 1:
            for at, letter in enumerate(arg[1:], 1):
                option = BY_NAME.get(f"-{letter}")
                if option is None:
                    return None
                if not option.takes_value:
                    _given(params, option)
                    continue
                value = arg[at + 1 :]
                if not value:
                    i += 1
                    if i == len(args):
                        return None
                    value = args[i]
                if not _store(params, option, value):
                    return None
                break
        elif arg and arg != "-":
            params[ARGUMENT].append(arg)
        else:
            return None
        i += 1
    for option in CHOOSING:  # click checks the last value given, in any case
        params[option.dest] = params[option.dest].lower()
        if params[option.dest] not in option.choices:
            return None
    for key, value in params.items():
        if isinstance(value, list):
            params[key] = tuple(value)
    return params


def _given(params: dict[str, Any], option: Option) -> None:
    if option.kind == COUNT:
        params[option.dest] += 1
    else:
        params[option.dest] = True


def _store(params: dict[str, Any], option: Option, value: str) -> bool:
    """Keep ``value`` as click does; False if click might read it otherwise:
    empty, or an option look-alike (``-`` alone is none) unless the option's
    values often start with a dash."""
    if not value or (value != "-" and value.startswith("-") and not option.dashed):
        return False
    if option.kind == LIST:
        params[option.dest].append(value)
    else:
        params[option.dest] = value
    return True
