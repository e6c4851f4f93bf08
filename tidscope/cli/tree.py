"""``tidscope tree``: processes nested under their parents, threads under them."""

from __future__ import annotations

import sys

import click

from tidscope.cli.options import PidRange, output_options, proc_root_option
from tidscope.errors import TidscopeError, UsageError, note
from tidscope.proc.root import SHOWN, foreign_note, hidden_note
from tidscope.proc.task import ID_MAX


@click.command("tree")
@click.argument("pid", required=False, type=PidRange(1, ID_MAX))
@click.option(
    "-u", "--user", metavar="USER", help="The trees of USER's topmost processes (name or uid)."
)
@click.option("--no-threads", is_flag=True, help="Processes only.")
@click.option("--ascii", "ascii_", is_flag=True, help="Draw with ASCII, not Unicode box drawing.")
@proc_root_option
@output_options(("text", "table", "json", "csv", "dot"), "text")
def command(
    pid: int | None,
    user: str | None,
    no_threads: bool,
    ascii_: bool,
    proc_root: str,
    fmt: str,
    no_headers: bool,
) -> int:
    """Show processes under their parents and threads under their process.

    The root is PID, or pid 1 (every process whose parent is hidden when pid
    1 is not visible).  Processes print as PID NAME, threads as
    TID {NAME} thread of PID.
    """
    from tidscope.tree import hierarchy as tree

    if pid is not None and user is not None:
        raise UsageError("give a PID or -u USER, not both")
    uid = tree.user_id(user) if user is not None else None
    forest = tree.read_forest(proc_root, threads=not no_threads)
    try:
        tops = tree.roots(forest, pid, uid, proc_root)
    except TidscopeError:
        hidden_note("tree", proc_root)  # what may hide the process asked for, as ps -p says
        foreign_note("tree", proc_root, SHOWN)
        raise
    # Box drawing only where a UTF-8 locale and output can carry it (Python
    # itself writes UTF-8 even under LANG=C: ask the locale, as procps does).
    from tidscope.text import procps_utf8

    enc = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    ascii_ = ascii_ or enc != "utf8" or not procps_utf8()
    tree.print_tree(forest, tops, fmt.lower(), sys.stdout, ascii_, headers=not no_headers)
    cycles = tree.cycles_note(forest) if pid is None else None
    if cycles is not None:
        note("tree", cycles)
    hidden_note("tree", proc_root)
    foreign_note("tree", proc_root, SHOWN)
    return 0
