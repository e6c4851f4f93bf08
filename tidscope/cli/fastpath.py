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

A command line procps cannot take as it is written gets a second reading
there, every dashed argument read as BSD letters (``-ux`` as ``ux``,
``-axjf`` as ``axjf``): :func:`second_reading` makes it, both parsers
parse it when the first reading is no command line, and :func:`run_ps`
runs it when the first is refused.
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
    procps takes that next argument whatever it looks like."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
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


def second_reading(args: list[str]) -> list[str] | None:
    """procps's second reading of a command line it could not take: each
    dashed argument (``-aux``) as BSD letters (``aux``), with the argument
    after it when its list-taking letter ends it; long options as they are.
    None where that reading fails in procps too (a BSD argument written
    without a dash, which it refuses then) or changes nothing."""
    if HELP in args or "--help" in args:
        return None  # tidscope's help, which procps does not have as -h
    if "-m" in args:  # read again it would be BSD m, refused as that: say -m
        from tidscope.errors import UsageError
        from tidscope.ps.bsd import INSTEAD

        raise UsageError(f"-m is not supported by tidscope ps: {INSTEAD['m']}")
    out: list[str] = []
    changed = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.startswith("--") and len(arg) > 2 and arg[2].isascii() and arg[2].isalpha():
            out.append(arg)
            if "=" not in arg and arg in TAKES_VALUE and i < len(args):
                out.append(args[i])
                i += 1
        elif arg[:1] == "-" and arg[1:2].isascii() and arg[1:2].isalpha():
            letters = arg[1:]
            _no_inner_dash(arg)
            changed = True
            if _bsd_wants_next(letters):
                if i == len(args) or not args[i]:
                    return None  # procps: a list must follow
                if args[i][:1] == "-" and letters[-1] != "k":
                    return None  # a list that looks like an option: left to click
                letters += args[i]
                i += 1
            out.append(letters)
        elif arg[:1].isascii() and arg[:1].isdigit():
            out.append(arg)  # process IDs
        else:
            return None
    return out if changed else None


def _no_inner_dash(arg: str) -> None:
    """procps refuses a dashed argument with a '-' among its Unix letters
    (before one that takes the rest as its value: ``-N-C``) in both its
    readings, and says so of the Unix one: as it does, never as BSD letters."""
    for letter in arg[1:]:
        if f"-{letter}" in TAKES_VALUE:
            return
        if letter == "-":
            from tidscope.errors import UsageError

            split = " ".join(f"-{part}" for part in arg[1:].split("-") if part)
            raise UsageError(
                f"{arg!r} has a '-' inside Unix options: give each its own dash and"
                f" argument, e.g. ps {split}"
            )


def run_ps(params: dict[str, Any], args: list[str]) -> int:
    """Run ``ps`` with ``params``, the first reading of ``args``; when that
    is refused, with their second reading (:func:`second_reading`), as
    procps does, and if that is refused too, say why the first was."""
    from tidscope.errors import UsageError
    from tidscope.ps.run import execute, prepare

    try:
        req = prepare(**params)
    except UsageError as first:
        second = second_reading(args)
        again = _parse(join_bsd_values(second)) if second is not None else None
        if again is None:
            raise
        try:
            req = prepare(**again)
        except UsageError:
            raise first from None
    return execute(req)


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
    """``ps``'s parameters from ``args`` (after ``ps``), or None; from their
    second reading (see :func:`second_reading`) when the first is no
    command line of ps's."""
    params = _parse(join_bsd_values(args))
    if params is None:
        second = second_reading(args)
        if second is not None:
            params = _parse(join_bsd_values(second))
    return params


def _parse(args: list[str]) -> dict[str, Any] | None:
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
