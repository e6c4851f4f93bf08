"""procps's BSD options: the arguments of ``ps aux``, ``ps axjf``, ``ps p 1``.

An argument without a leading dash is a run of BSD letters, read as procps
reads them: ``a`` other users' processes too, ``x`` those without a
terminal too (both: every process), ``u``/``j``/``l``/``s``/``v`` a
format, ``f`` the ASCII forest, ``H`` threads shown as processes, ``c``
the task's name for the command line, ``h`` no header, ``w`` wider,
``X`` the register format, ``Z`` a LABEL column, ``S`` reaped children's
times, ``V`` the version; ``o``, ``O``, ``p``, ``q``, ``t``, ``U`` and
``k`` take the rest of the argument (or the next argument) as their list,
and digits are a list of process IDs.  Letters procps has that tidscope
does not are refused, saying why and what to use instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from tidscope.errors import UsageError
from tidscope.ps.options import BSD_FORMATS as FORMATS
from tidscope.ps.options import BSD_VALUES as VALUES

# the BSD letters procps takes and tidscope ps does not, each with why
# (tidscope-ps(1), DIFFERENCES FROM PROCPS) and what to use instead
INSTEAD = {
    "m": "threads after their process are not listed: use -L (e.g. ps -eLf),"
    " or H for threads shown as processes",
    "M": "threads after their process are not listed: use -L (e.g. ps -eLf),"
    " or H for threads shown as processes",
    "e": "the environment is not shown: read /proc/PID/environ",
    "L": "the column names are in the COLUMNS section of tidscope-ps(1)",
    "n": "numbers for users and wchan are not shown instead of names: use -o uid,nwchan",
    "r": "the running-only selection is not taken: use -o stat and look for R",
    "T": "this terminal's selection is not taken: use -t with the terminal, e.g. -t pts/0",
}


class BsdArgs:
    """What the BSD arguments of one command line ask for."""

    __slots__ = (
        "command_names",
        "cumulative",
        "forest",
        "format_letter",
        "formats",
        "label",
        "leaders",
        "no_headers",
        "other_users",
        "pids",
        "preloaded",
        "quick",
        "sort",
        "threads",
        "ttyless",
        "ttys",
        "users",
        "version",
        "wide",
    )

    def __init__(self) -> None:
        self.other_users = False  # a
        self.ttyless = False  # x
        self.formats: list[str] = []  # o lists
        self.forest = False  # f
        self.threads = False  # H
        self.command_names = False  # c
        self.no_headers = False  # h
        self.wide = 0  # w, each
        self.pids: list[str] = []  # p and digits
        self.quick: list[str] = []  # q
        self.ttys: list[str] = []  # t
        self.users: list[str] = []  # U
        self.sort: list[str] = []  # k
        self.format_letter = ""  # u, j, l, s or v
        self.leaders = False  # g: a no-op in procps, but a selection letter
        self.label = False  # Z: a LABEL column first
        self.cumulative = False  # S: reaped children's times and faults
        self.version = False  # V
        self.preloaded: list[str] = []  # O lists

    @property
    def table(self) -> bool:
        """Whether a selection letter (a, x, g) was given: then procps's
        table counts along with any list."""
        return self.other_users or self.ttyless or self.leaders


def parse(tokens: Sequence[str]) -> BsdArgs:
    """Read BSD arguments (each already holding its list, see
    fastpath.join_bsd_values); UsageError naming the problem and the fix."""
    args = BsdArgs()
    lists = {"o": args.formats, "p": args.pids, "q": args.quick, "t": args.ttys}
    lists.update({"U": args.users, "k": args.sort, "O": args.preloaded})
    for token in tokens:
        for i, letter in enumerate(token):
            if letter.isascii() and letter.isdigit():
                args.pids.append(token[i:])
                break
            if letter in VALUES:
                value = token[i + 1 :]
                if letter not in lists:
                    raise _unsupported(letter, token)
                if not value:
                    raise UsageError(
                        f"BSD {letter} in {token!r} needs a list after it: give e.g. ps ax"
                        f" {letter}{_EXAMPLES[letter]}"
                    )
                lists[letter].append(value)
                break
            _flag(args, letter, token)
    return args


_EXAMPLES = {"o": " pid,comm", "p": " 1", "q": " 1", "t": " pts/0", "U": " root", "k": " -pcpu"}
_EXAMPLES["O"] = " ppid"


def _flag(args: BsdArgs, letter: str, token: str) -> None:
    if letter == "a":
        args.other_users = True
    elif letter == "x":
        args.ttyless = True
    elif letter == "g":
        args.leaders = True
    elif letter in FORMATS:
        if args.format_letter and args.format_letter != letter:
            raise UsageError(
                f"BSD {args.format_letter} and {letter} are two formats: give one of them"
            )
        args.format_letter = letter
    elif letter == "f":
        args.forest = True
    elif letter == "H":
        args.threads = True
    elif letter == "c":
        args.command_names = True
    elif letter == "h":
        if args.no_headers:
            raise UsageError("BSD h is given twice: give it once")
        args.no_headers = True
    elif letter == "w":
        args.wide += 1
    elif letter == "Z":
        args.label = True
    elif letter == "S":
        args.cumulative = True
    elif letter == "V":
        args.version = True
    else:
        raise _unsupported(letter, token)


def _unsupported(letter: str, token: str) -> UsageError:
    if letter == "-":
        return UsageError(
            f"{token!r} has a '-' inside BSD options: write Unix options with a leading"
            " dash as separate arguments, e.g. ps aux -L"
        )
    instead = INSTEAD.get(letter)
    if instead is None:
        return UsageError(
            f"{letter!r} in {token!r} is no BSD option tidscope ps knows: see tidscope-ps(1),"
            " e.g. ps aux"
        )
    return UsageError(f"BSD {letter} (in {token!r}) is not supported by tidscope ps: {instead}")
