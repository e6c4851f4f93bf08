"""The fast path for ``tidscope ps``: plain command lines without click.

Importing click costs several times Python's own start-up, more than a
whole ``ps -p 1``.  Command lines made only of ps's own options in their
plain forms (``-AT``, ``-p 1,2``, ``--pid=1``, ``-o pid,comm``,
``--format json``...) are parsed here, to exactly the values click would
give the command; anything else (help, completion, a typo, a value that
looks like an option) returns None and click parses it, with its messages.
tests/test_fastpath.py holds the two parsers to the same answers.
"""

from __future__ import annotations

TYPE_CHECKING = False  # keep typing out of ps's start-up
if TYPE_CHECKING:
    from typing import Any

PS_FLAGS = {"-A": "all_", "-e": "all_", "-T": "spid", "-L": "lwp", "--no-headers": "no_headers"}
PS_MULTI = {"-p": "pids", "--pid": "pids", "--tid": "tids", "-o": "formats", "--columns": "formats"}
PS_SINGLE = {"--proc-root": "proc_root", "--format": "fmt"}
FORMATS = ("table", "json", "csv")


def parse_ps(args: list[str]) -> dict[str, Any] | None:
    """``ps``'s parameters from ``args`` (after ``ps``), or None."""
    from tidscope.procfs import PROC

    params: dict[str, Any] = {
        "all_": False,
        "spid": False,
        "lwp": False,
        "pids": [],
        "tids": [],
        "formats": [],
        "proc_root": PROC,
        "fmt": "table",
        "no_headers": False,
    }
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in PS_FLAGS and not eq:
            params[PS_FLAGS[name]] = True
        elif name in PS_MULTI or name in PS_SINGLE:
            if not eq:
                if len(arg) > 2 and not arg.startswith("--"):
                    return None  # -p1 and friends: leave them to click
                i += 1
                if i == len(args):
                    return None
                value = args[i]
            if not value or value.startswith("-"):
                return None
            if name in PS_MULTI:
                params[PS_MULTI[name]].append(value)
            else:
                params[PS_SINGLE[name]] = value
        elif (
            len(arg) > 2
            and arg[0] == "-"
            and arg[1] != "-"
            and all(f"-{c}" in PS_FLAGS for c in arg[1:])
        ):
            for c in arg[1:]:  # -AT, -eL: bundled flags
                params[PS_FLAGS[f"-{c}"]] = True
        else:
            return None
        i += 1
    params["fmt"] = params["fmt"].lower()  # as click.Choice(case_sensitive=False)
    if params["fmt"] not in FORMATS:
        return None
    for key in ("pids", "tids", "formats"):
        params[key] = tuple(params[key])
    return params
