"""Every option of ``tidscope ps``, once, as plain data.

One table, :data:`OPTIONS`, in the order ``--help`` lists them; everything
else is derived from it: cli/ps.py makes click's options of it, the fast
path (cli/fastpath.py) parses plain command lines with it without importing
click, and run.py and request.py read the parsed values under its ``dest``
names.  The BSD letters are here too: bsd.py reads them, and the fast path
needs them to tell ``-aux`` from Unix options.  tests/test_ps_options.py
holds click, the fast path and the request to this table.

Nothing here imports more than the /proc mount point: the fast path pays
for this module on every ``tidscope ps``.
"""

from __future__ import annotations

from tidscope.proc.files import PROC

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Sequence

# what an option does with the command line
FLAG = "flag"  # True when given
COUNT = "count"  # how many times it is given (-w, -ww)
LIST = "list"  # each value given, in order, as a tuple (-p 1 -p 2,3: ("1", "2,3"))
VALUE = "value"  # the last value given, else the default
FORMATS = ("table", "json", "csv")  # --format: what render.render() writes, and ps's table


class Option:
    """One option of ``tidscope ps``.

    ``names`` as typed (``-p``, ``--pid``); ``dest`` the name of its value
    in the parsed parameters (run.run's keyword); ``kind`` FLAG, COUNT,
    LIST or VALUE; ``metavar`` the value's name in --help; ``default`` a
    VALUE's value when not given; ``choices`` a VALUE's allowed values,
    lower case (case does not matter to the user); ``dashed``: its values
    often start with ``-`` (``--sort -pcpu``), which then is no option;
    ``complete``: the characters that separate the column names of its
    value, for shell completion of those names ("": none completed);
    ``selects``: a list of tasks to select, which -q's own list excludes.
    """

    __slots__ = (
        "choices",
        "complete",
        "dashed",
        "default",
        "dest",
        "help",
        "kind",
        "metavar",
        "names",
        "selects",
    )

    def __init__(
        self,
        names: tuple[str, ...],
        dest: str,
        kind: str,
        help: str,
        *,
        metavar: str | None = None,
        default: str | None = None,
        choices: Sequence[str] = (),
        dashed: bool = False,
        complete: str = "",
        selects: bool = False,
    ) -> None:
        self.names = names
        self.dest = dest
        self.kind = kind
        self.help = help
        self.metavar = metavar
        self.default = default
        self.choices = tuple(choices)
        self.dashed = dashed
        self.complete = complete
        self.selects = selects

    @property
    def takes_value(self) -> bool:
        return self.kind in (LIST, VALUE)

    def __repr__(self) -> str:
        return f"Option({'/'.join(self.names)} -> {self.dest}, {self.kind})"


def _flag(*names: str, dest: str, help: str) -> Option:
    return Option(names, dest, FLAG, help)


def _list(
    *names: str,
    dest: str,
    metavar: str,
    help: str,
    selects: bool = False,
    dashed: bool = False,
    complete: str = "",
) -> Option:
    return Option(
        names, dest, LIST, help, metavar=metavar, selects=selects, dashed=dashed, complete=complete
    )


PIDS = "PID[,PID...]"
OPTIONS = (
    _flag("-A", "-e", dest="all_", help="Every process (with -T/-L: every thread)."),
    _flag("-a", dest="tty_others", help="Every process with a terminal, but session leaders."),
    _flag("-d", dest="not_leaders", help="Every process but session leaders."),
    _flag("-N", "--deselect", dest="deselect", help="Every process the selection does not select."),
    _flag("-T", dest="spid", help="One row per thread, with an SPID column."),
    _flag("-L", dest="lwp", help="One row per thread, with an LWP column."),
    _flag("-f", dest="full", help="Full format: UID PID PPID C STIME TTY TIME CMD."),
    _flag("-F", dest="extra", help="Extra full format: -f with SZ, RSS and PSR."),
    _flag("-l", dest="long", help="Long format: F S UID PID PPID C PRI NI ADDR SZ WCHAN..."),
    _flag("-j", dest="jobs", help="Jobs format: PGID and SID columns."),
    _flag("-y", dest="rss", help="With -l: RSS instead of F and ADDR."),
    _flag("-c", dest="sched", help="Scheduling class and priority (CLS PRI) instead of C, NI."),
    _flag("-P", dest="psr", help="Add a PSR column: the CPU each task last ran on."),
    _flag("-M", "-Z", dest="label", help="Add a LABEL column: the security label."),
    _flag("--context", dest="context", help="PID, security label (CONTEXT) and command."),
    _flag("-H", dest="hierarchy", help="Process hierarchy: children indented by two blanks."),
    _flag("--forest", dest="forest", help="Process tree drawn in ASCII in the command column."),
    Option(("-w",), "wide", COUNT, "Wide output: -w 132 columns, -ww unlimited."),
    _list("-p", "--pid", dest="pids", metavar=PIDS, help="Processes by ID.", selects=True),
    _list(
        "-q",
        "--quick-pid",
        dest="quick",
        metavar=PIDS,
        help="Only these processes, read directly, in the order given.",
    ),
    _list(
        "--tid",
        dest="tids",
        metavar="TID[,TID...]",
        help="Tasks by thread ID; implies -T.",
        selects=True,
    ),
    _list(
        "-u", "--user", dest="users", metavar="USER[,...]", help="By effective user.", selects=True
    ),
    _list(
        "-U", "--User", dest="real_users", metavar="USER[,...]", help="By real user.", selects=True
    ),
    _list(
        "-g",
        dest="groups",
        metavar="SID|GROUP[,...]",
        help="By session, or else effective group.",
        selects=True,
    ),
    _list(
        "--group", dest="egroups", metavar="GROUP[,...]", help="By effective group.", selects=True
    ),
    _list(
        "-G",
        "--Group",
        dest="real_groups",
        metavar="GROUP[,...]",
        help="By real group.",
        selects=True,
    ),
    _list("-C", dest="commands", metavar="NAME[,NAME...]", help="By task name.", selects=True),
    _list("--ppid", dest="ppids", metavar=PIDS, help="By parent process ID.", selects=True),
    _list(
        "-t",
        "--tty",
        dest="ttys",
        metavar="TTY[,TTY...]",
        help="By terminal (- for none).",
        selects=True,
    ),
    _list("-s", "--sid", dest="sids", metavar="SID[,SID...]", help="By session ID.", selects=True),
    _list(
        "-o",
        dest="formats",
        metavar="COL[,COL...]",
        help="procps column names, e.g. pid,tid,ppid,nlwp,comm,s,tty,time,uid,user,args; "
        "NAME=HEADER renames, NAME:WIDTH resizes.",
        complete=",",
    ),
    _list(
        "-O",
        dest="preloaded",
        metavar="COL[,COL...]",
        help="PID, these columns, then S TTY TIME COMMAND.",
        complete=",",
    ),
    _list(
        "--sort",
        dest="sort",
        metavar="[+|-]COL[,...]",
        help="Sort by these columns, - for descending (e.g. --sort=-pcpu,pid).",
        dashed=True,
        complete=",+-",
    ),
    _flag("--cumulative", dest="cumulative", help="Add reaped children's CPU time and faults."),
    _flag("--headers", dest="headers", help="Repeat the header line once per screen."),
    _flag("--signames", dest="signames", help="Signal masks as signal names, not hex."),
    Option(
        ("--proc-root",),
        "proc_root",
        VALUE,
        "Where procfs is mounted.",
        metavar="DIR",
        default=PROC,
    ),
    Option(
        ("--format",),
        "fmt",
        VALUE,
        "Output format: " + ", ".join(FORMATS) + ".",
        default="table",
        choices=FORMATS,
    ),
    _flag("--no-headers", dest="no_headers", help="Print no header line (table and csv)."),
    Option(
        ("--cols", "--columns", "--width"),
        "cols",
        VALUE,
        "The screen's width, in columns.",
        metavar="N",
    ),
    Option(("--rows", "--lines"), "rows", VALUE, "The screen's height, in rows.", metavar="N"),
    _flag("-V", "--version", dest="version", help="Print tidscope's version and exit."),
)
ARGUMENT = "bsd"  # the dest of the BSD arguments (aux, axjf, p 1): a tuple of them
ARGUMENT_METAVAR = "[BSD-OPTIONS]"

BY_NAME = {name: option for option in OPTIONS for name in option.names}
FLAGS = tuple(o.dest for o in OPTIONS if o.kind == FLAG)
LISTS = tuple(o.dest for o in OPTIONS if o.kind == LIST)
SELECTIONS = tuple(o for o in OPTIONS if o.selects)

# BSD letters (bsd.py): those that take a list (the rest of the argument, or
# the next one), the formats, the others
BSD_VALUES = "kopqtUO"
BSD_FORMATS = "jlsuvX"
BSD_FLAGS = "axg" + BSD_FORMATS + "fHchwZSV"
