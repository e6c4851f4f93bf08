"""The fast path for ``tidscope ps``: plain command lines without click.

Importing click costs several times Python's own start-up, more than a
whole ``ps -p 1``.  Command lines made only of ps's own options in their
plain forms (``-eLf``, ``-p 1,2``, ``--pid=1``, ``-eo pid,comm``,
``--sort=-pcpu``, ``aux``, ``--format json``...) are parsed here, to
exactly the values click would give the command; anything else (help,
completion, a typo, a value that looks like an option) returns None and
click parses it, with its messages.  tests/test_fastpath.py holds the two
parsers to the same answers.

Both parsers first let :func:`join_bsd_values` glue a BSD option that takes
a list to its list (``k -pcpu`` to ``k-pcpu``), so that click reads every
BSD argument as one positional argument whatever its list looks like.
"""

from __future__ import annotations

from tidscope.render import FORMATS

TYPE_CHECKING = False  # keep typing out of ps's start-up
if TYPE_CHECKING:
    from typing import Any

# option: the command's parameter (tidscope/cli/ps.py declares the same)
PS_FLAGS = {
    "-A": "all_",
    "-e": "all_",
    "-T": "spid",
    "-L": "lwp",
    "-f": "full",
    "-F": "extra",
    "-l": "long",
    "-j": "jobs",
    "-y": "rss",
    "-c": "sched",
    "-H": "hierarchy",
    "--forest": "forest",
    "--headers": "headers",
    "--no-headers": "no_headers",
    "--signames": "signames",
}
PS_COUNT = {"-w": "wide"}
PS_MULTI = {
    "-p": "pids",
    "--pid": "pids",
    "-q": "quick",
    "--quick-pid": "quick",
    "--tid": "tids",
    "-o": "formats",
    "--columns": "formats",
    "-u": "users",
    "--user": "users",
    "-U": "real_users",
    "--User": "real_users",
    "-g": "groups",
    "--group": "egroups",
    "-G": "real_groups",
    "--Group": "real_groups",
    "-C": "commands",
    "--ppid": "ppids",
    "-t": "ttys",
    "--tty": "ttys",
    "-s": "sids",
    "--sid": "sids",
    "--sort": "sort",
}
PS_SINGLE = {"--proc-root": "proc_root", "--format": "fmt"}
TAKES_VALUE = frozenset(PS_MULTI) | frozenset(PS_SINGLE)
DASH_VALUES = frozenset({"--sort"})  # whose values often start with '-' (descending keys)
BSD_VALUES = "kopqtUON"  # BSD letters whose list is the rest of the argument, or the next one


SHORT = frozenset(o for o in (*PS_FLAGS, *PS_COUNT, *TAKES_VALUE, "-h") if o[1] != "-")
BSD_LETTERS = frozenset("axujlsvfHchwg" + BSD_VALUES + "0123456789")


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
    from tidscope.proc.files import PROC

    params: dict[str, Any] = {name: False for name in PS_FLAGS.values()}
    params.update({name: 0 for name in PS_COUNT.values()})
    params.update({name: [] for name in PS_MULTI.values()})
    params.update({"proc_root": PROC, "fmt": "table", "bsd": []})
    return params


def parse_ps(args: list[str]) -> dict[str, Any] | None:
    """``ps``'s parameters from ``args`` (after ``ps``), or None."""
    args = join_bsd_values(args)
    params = defaults()
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if name in PS_FLAGS and not eq:
                params[PS_FLAGS[name]] = True
            elif name in TAKES_VALUE:
                if not eq:
                    i += 1
                    if i == len(args):
                        return None
                    value = args[i]
                if not _plain(value, name):
                    return None
                _store(params, name, value)
            else:
                return None
        elif arg.startswith("-") and len(arg) > 1:
            for at, letter in enumerate(arg[1:], 1):
                option = f"-{letter}"
                if option in PS_FLAGS:
                    params[PS_FLAGS[option]] = True
                elif option in PS_COUNT:
                    params[PS_COUNT[option]] += 1
                elif option in TAKES_VALUE:
                    value = arg[at + 1 :]
                    if not value:
                        i += 1
                        if i == len(args):
                            return None
                        value = args[i]
                    if not _plain(value, option):
                        return None
                    _store(params, option, value)
                    break
                else:
                    return None
        elif arg and arg != "-":
            params["bsd"].append(arg)
        else:
            return None
        i += 1
    params["fmt"] = params["fmt"].lower()  # as click.Choice(case_sensitive=False)
    if params["fmt"] not in FORMATS:
        return None
    for key, value in params.items():
        if isinstance(value, list):
            params[key] = tuple(value)
    return params


def _plain(value: str, option: str) -> bool:
    """A value click reads the same way: not empty, and no option look-alike
    (``-`` alone is none) unless the option's values often start with a dash."""
    return bool(value) and (value == "-" or not value.startswith("-") or option in DASH_VALUES)


def _store(params: dict[str, Any], option: str, value: str) -> None:
    if option in PS_MULTI:
        params[PS_MULTI[option]].append(value)
    else:
        params[PS_SINGLE[option]] = value
