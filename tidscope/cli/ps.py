"""``tidscope ps``: list processes or threads like procps ``ps -A`` / ``ps -AT``."""

from __future__ import annotations

import click

from tidscope.cli.options import complete_list, output_options, proc_root_option


def _column_names() -> list[str]:
    from tidscope.columns import SPECS

    return sorted(SPECS)


@click.command("ps")
@click.option("-A", "-e", "all_", is_flag=True, help="All processes (the default; for ps habits).")
@click.option("-T", "spid", is_flag=True, help="One row per thread, with an SPID column.")
@click.option("-L", "lwp", is_flag=True, help="One row per thread, with an LWP column.")
@click.option(
    "-p",
    "--pid",
    "pids",
    multiple=True,
    metavar="PID[,PID...]",
    help="Only these processes (with -T/-L: all their threads).",
)
@click.option(
    "--tid",
    "tids",
    multiple=True,
    metavar="TID[,TID...]",
    help="Only these tasks, by thread ID; implies -T.",
)
@click.option(
    "-o",
    "--columns",
    "formats",
    multiple=True,
    metavar="COL[,COL...]",
    help="procps column names, e.g. pid,tid,ppid,nlwp,comm,s,tty,time,uid,user,args; "
    "NAME=HEADER renames, NAME:WIDTH resizes.",
    shell_complete=complete_list(_column_names),
)
@proc_root_option
@output_options()
def command(
    all_: bool,
    spid: bool,
    lwp: bool,
    pids: tuple[str, ...],
    tids: tuple[str, ...],
    formats: tuple[str, ...],
    proc_root: str,
    fmt: str,
    no_headers: bool,
) -> int:
    """List processes, or threads with -T/-L, as procps ps -A/-AT does.

    The table is procps's, row for row; --format json|csv gives typed
    values under the columns' keys.  Exit status 1 when no task matched.
    """
    from tidscope.pslist import run

    return run(all_, spid, lwp, pids, tids, formats, proc_root, fmt, no_headers)
