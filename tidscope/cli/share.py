"""``tidscope share``: what tasks share, by kcmp(2) and namespace inodes."""

from __future__ import annotations

import sys

import click

from tidscope.cli.options import PidRange, output_options
from tidscope.errors import TidscopeError, UsageError, note
from tidscope.proc.root import hidden_note, mismatch
from tidscope.proc.task import ID_MAX


@click.command("share")
@click.argument("pids", metavar="[PID]...", nargs=-1, type=PidRange(1, ID_MAX))
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Every group and every task's inference, not only those that cross or split a process.",
)
@click.option("--explain", is_flag=True, help="Show every kcmp(2) call made and its answer.")
@output_options()
def command(pids: tuple[int, ...], every: bool, explain: bool, fmt: str, no_headers: bool) -> int:
    """Show which tasks share an address space, file table, fs state,
    signal handlers, I/O context, SysV undo list or namespaces, and the
    clone flags each behaves as if created with.

    PID... names processes (a thread's id stands for its process); they are
    compared with their parents.  Without PID, every visible task.  Tasks
    kcmp(2) may not compare (another user's) are listed as not comparable.
    """
    from tidscope.core.clone import ARCH
    from tidscope.share import groups as share
    from tidscope.share import infer as share_infer
    from tidscope.share import report as share_report

    fmt = fmt.lower()
    if explain and fmt == "csv":
        raise UsageError(
            "--explain lists kcmp calls, which a CSV table cannot hold: use --format table or json"
        )
    other = mismatch()
    if other is not None:
        raise TidscopeError(
            f"{other}: share compares the tasks /proc lists with kcmp(2), which takes our"
            " namespace's pids, so every comparison would be of other tasks"
        )
    chosen = list(pids) or None
    tasks = share.walk(chosen)
    tgids = sorted({t.tgid for t in tasks})
    sharing = share.observe(
        tasks,
        explain=explain,
        rewalk=None if chosen is None else lambda: share.groups_of(tgids),
    )
    inferred = share_infer.infer(sharing, ARCH)
    share_report.write(sharing, inferred, fmt, every, explain, not no_headers, sys.stdout)
    if sharing.gone:
        note("share", f"{sharing.gone} task(s) exited while they were observed: left out")
    if chosen is None:
        hidden_note("share", "/proc")
    return 0
