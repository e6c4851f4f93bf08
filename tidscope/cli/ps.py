"""``tidscope ps``: list processes or threads with procps ``ps``'s options."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from tidscope.cli.fastpath import join_bsd_values
from tidscope.cli.options import complete_list, output_options, proc_root_option

F = TypeVar("F", bound=Callable[..., Any])


def _column_names() -> list[str]:
    from tidscope.ps.columns import SPECS

    return sorted(SPECS)


class PsCommand(click.Command):
    """A command whose BSD arguments (``aux``, ``k -pcpu``) reach it whole."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, join_bsd_values(args))


def _flag(*decls: str, help: str) -> Callable[[F], F]:
    return click.option(*decls, is_flag=True, help=help)


def _list(*decls: str, metavar: str, help: str, **kw: Any) -> Callable[[F], F]:
    return click.option(*decls, multiple=True, metavar=metavar, help=help, **kw)


def _options(fn: F) -> F:
    """Every option of ``tidscope ps``, in the order --help lists them."""
    decorators = [
        _flag("-A", "-e", "all_", help="Every process (with -T/-L: every thread)."),
        _flag("-T", "spid", help="One row per thread, with an SPID column."),
        _flag("-L", "lwp", help="One row per thread, with an LWP column."),
        _flag("-f", "full", help="Full format: UID PID PPID C STIME TTY TIME CMD."),
        _flag("-F", "extra", help="Extra full format: -f with SZ, RSS and PSR."),
        _flag("-l", "long", help="Long format: F S UID PID PPID C PRI NI ADDR SZ WCHAN..."),
        _flag("-j", "jobs", help="Jobs format: PGID and SID columns."),
        _flag("-y", "rss", help="With -l: RSS instead of F and ADDR."),
        _flag("-c", "sched", help="Scheduling class and priority (CLS PRI) instead of C, NI."),
        _flag("-H", "hierarchy", help="Process hierarchy: children indented by two blanks."),
        _flag("--forest", "forest", help="Process tree drawn in ASCII in the command column."),
        click.option("-w", "wide", count=True, help="Wide output: -w 132 columns, -ww unlimited."),
        _list("-p", "--pid", "pids", metavar="PID[,PID...]", help="Processes by ID."),
        _list(
            "-q",
            "--quick-pid",
            "quick",
            metavar="PID[,PID...]",
            help="Only these processes, read directly, in the order given.",
        ),
        _list("--tid", "tids", metavar="TID[,TID...]", help="Tasks by thread ID; implies -T."),
        _list("-u", "--user", "users", metavar="USER[,...]", help="By effective user."),
        _list("-U", "--User", "real_users", metavar="USER[,...]", help="By real user."),
        _list(
            "-g", "groups", metavar="SID|GROUP[,...]", help="By session, or else effective group."
        ),
        _list("--group", "egroups", metavar="GROUP[,...]", help="By effective group."),
        _list("-G", "--Group", "real_groups", metavar="GROUP[,...]", help="By real group."),
        _list("-C", "commands", metavar="NAME[,NAME...]", help="By task name."),
        _list("--ppid", "ppids", metavar="PID[,PID...]", help="By parent process ID."),
        _list("-t", "--tty", "ttys", metavar="TTY[,TTY...]", help="By terminal (- for none)."),
        _list("-s", "--sid", "sids", metavar="SID[,SID...]", help="By session ID."),
        _list(
            "-o",
            "--columns",
            "formats",
            metavar="COL[,COL...]",
            help="procps column names, e.g. pid,tid,ppid,nlwp,comm,s,tty,time,uid,user,args; "
            "NAME=HEADER renames, NAME:WIDTH resizes.",
            shell_complete=complete_list(_column_names),
        ),
        _list(
            "--sort",
            "sort",
            metavar="[+|-]COL[,...]",
            help="Sort by these columns, - for descending (e.g. --sort=-pcpu,pid).",
            shell_complete=complete_list(_column_names, separators=",+-"),
        ),
        _flag("--headers", "headers", help="Repeat the header line once per screen."),
        _flag("--signames", "signames", help="Signal masks as signal names, not hex."),
    ]
    for decorate in reversed(decorators):
        fn = decorate(fn)
    return fn


@click.command("ps", cls=PsCommand)
@_options
@click.argument("bsd", nargs=-1, metavar="[BSD-OPTIONS]")
@proc_root_option
@output_options()
def command(**params: Any) -> int:
    """List processes, or threads with -T/-L, as procps ps does.

    The table is procps's, row for row, for procps's Unix options (-ef,
    -eLf, -ly...) and its BSD forms (ps aux, ps axjf); --format json|csv
    gives typed values under the columns' keys.  Exit status 1 when no
    task matched.
    """
    from tidscope.ps.run import run

    return run(**params)
