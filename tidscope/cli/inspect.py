"""``tidscope inspect PID|TID``: one thread's state, next to its leader's."""

from __future__ import annotations

import sys

import click

from tidscope.cli.options import PidRange, output_options
from tidscope.errors import TidscopeError, note
from tidscope.proc.files import PROC
from tidscope.proc.root import foreign_note, unseen
from tidscope.proc.task import ID_MAX


@click.command("inspect")
@click.argument("task", metavar="PID|TID", type=PidRange(1, ID_MAX))
@click.option(
    "--all-threads",
    is_flag=True,
    help="Every thread of the task's process, each next to the leader.",
)
@output_options()
def command(task: int, all_threads: bool, fmt: str, no_headers: bool) -> int:
    """Show a thread's own state, each field from the file that holds it.

    A TID is shown next to its process's leader, with the fields that
    differ marked; a PID is the leader itself.  Each field names its
    source and whether the kernel keeps it per thread or per process; one
    that could not be read says why (EACCES...).  The process's memory,
    descriptors, I/O priority and limits follow, as psutil reads them.
    """
    from tidscope.inspector import autopsy as inspect
    from tidscope.render import render

    foreign_note("inspect", PROC, f"{task} is looked up there, and may be another task")
    found = inspect.resolve(task)
    if found is None:
        raise TidscopeError(f"no task {task}: {unseen(task)} (see tidscope ps -AT)")
    tgid, tid = found
    autopsy = inspect.autopsy(tgid, tid, all_threads)
    if autopsy is None:
        what = f"thread {tid}" if tid != tgid else f"process {tid}"
        also = f" (or its process {tgid} did)" if tid != tgid else ""
        raise TidscopeError(f"{what} exited while it was being read{also}: nothing to show")
    fmt = fmt.lower()
    headers = not no_headers
    if fmt == "table":  # the process's facts as a table of their own
        render(
            inspect.thread_rows(autopsy, False),
            inspect.columns(autopsy, False),
            fmt,
            headers=headers,
        )
        sys.stdout.write("\n")
        render(inspect.process_rows(autopsy, False), inspect.PROCESS_COLUMNS, fmt, headers=headers)
    else:
        rows = inspect.thread_rows(autopsy, True) + inspect.process_rows(autopsy, True)
        render(rows, inspect.columns(autopsy, True), fmt, headers=headers)
    if autopsy.left_out:
        gone = ", ".join(map(str, autopsy.left_out))
        note("inspect", f"left out thread(s) {gone}: they exited while they were being read")
    return 0
