"""``tidscope spawn``: clone raw threads or processes and show what each saw."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import click

from tidscope.cli.options import complete_list, seconds
from tidscope.core import flags
from tidscope.core.clone import DEFAULT_STACK, MAX_CHILDREN, Children, parse_size
from tidscope.core.signals import (
    TERMINATING,
    blocked,
    check_exit_signal,
    exit_signal_absorbed,
    sigwait,
    terminating_signals,
)
from tidscope.core.syscalls import syscall
from tidscope.errors import Terminated, TidscopeError, UsageError, describe, note
from tidscope.proc.masks import signal_name
from tidscope.render import render
from tidscope.spawn.report import (
    COLUMNS,
    child_rows,
    classic_line,
    explain,
    parent_row,
    proc_mismatch,
    program,
)

FOREVER = "forever"


def _hold_seconds(value: str | None) -> float | None:
    """None: no hold; inf: until Enter or a signal; else seconds."""
    if value is None:
        return None
    if value == FOREVER:
        return float("inf")
    return seconds(value, "--hold", "5", alone="hold until Enter or a signal")


@click.command("spawn")
@click.option(
    "-n",
    "--threads",
    "count",
    type=click.IntRange(1, MAX_CHILDREN),
    default=2,
    show_default=True,
    help="Number of children to clone.",
)
@click.option(
    "--flags",
    "flag_text",
    default="thread",
    show_default=True,
    metavar="SET",
    help="Clone flags: a preset (thread, process), names like VM,FS,FILES or "
    "CLONE_VM|CLONE_FS, a SIG* exit signal, or a number.",
    shell_complete=complete_list(
        lambda: [*flags.PRESETS, *flags.FLAGS, "SIGCHLD", "SIGUSR1", "SIGRTMIN"], ",|+"
    ),
)
@click.option(
    "--stack-size",
    default=f"{DEFAULT_STACK // 1024}K",
    show_default=True,
    metavar="SIZE",
    help="Stack per child (bytes, or K/M suffix), guard page included.",
)
@click.option(
    "--stack-style",
    type=click.Choice(["block", "growsdown"]),
    default="block",
    show_default=True,
    help="block: all stacks in one mapping, a guard page below each; growsdown: "
    "a MAP_GROWSDOWN mapping per child above a guard page, as in the classic article.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "table", "json", "csv"], case_sensitive=False),
    default="text",
    show_default=True,
    help="text: the classic demo lines; table/json/csv add what /proc reports.",
)
@click.option("--no-headers", is_flag=True, help="Print no header line (table and csv).")
@click.option(
    "--hold",
    is_flag=False,
    flag_value=FOREVER,
    default=None,
    metavar="[SECONDS]",
    help="Keep the children alive: SECONDS, or alone until Enter on a terminal or "
    "SIGINT/SIGTERM/SIGHUP/SIGQUIT.",
)
@click.option(
    "--run",
    "command",
    metavar="CMD",
    help="Run CMD (with sh) while the children are alive, TIDSCOPE_PID and "
    "TIDSCOPE_TIDS in its environment; exit with its status.  What CMD leaves "
    "running is ended with it.",
)
@click.option(
    "--keep-background",
    is_flag=True,
    help="With --run: leave running what CMD put in the background when it exits.",
)
@click.option(
    "--explain", "explain_regs", is_flag=True, help="Print each clone call as the CPU sees it."
)
def command(
    count: int,
    flag_text: str,
    stack_size: str,
    stack_style: str,
    fmt: str,
    no_headers: bool,
    hold: str | None,
    command: str | None,
    keep_background: bool,
    explain_regs: bool,
) -> int:
    """Clone raw threads (or processes) and print what each one saw.

    Each child is made by the clone syscall itself, on a stack mapped by
    tidscope, and reports its own getpid(), gettid() and getppid():

    \b
      parent thread, pid: 12674, tid: 12674
      child thread, pid: 12674, tid: 12675
    """
    value = flags.parse(flag_text)
    size = parse_size(stack_size)
    seconds = _hold_seconds(hold)
    if seconds is not None and command is not None:
        raise UsageError("--hold and --run both keep children alive: give one of them")
    if keep_background and command is None:
        raise UsageError("--keep-background keeps what --run's CMD leaves running: give --run")
    # A thread's exit signal is never sent (the kernel sets it to -1).
    exit_signal = 0 if flags.has(value, "THREAD") else value & flags.CSIGNAL
    check_exit_signal(exit_signal)
    growsdown = stack_style == "growsdown"
    children = Children(count, value, program=program(value), stack_size=size, growsdown=growsdown)
    # Left in this order: children reaped, then the signals restored.
    try:
        with exit_signal_absorbed(exit_signal) as ignored, terminating_signals(), children as ch:
            rows = [parent_row(), *child_rows(ch)]
            _print(rows, ch, fmt.lower(), not no_headers, explain_regs)
            _say_errors(rows)
            if command is not None:
                return _run(command, ch, keep_background, ignored)
            if seconds is not None:
                _hold(seconds, ch)
    finally:
        for i, tid, signo in children.ended_stopped:
            note(
                "spawn",
                f"child {i + 1} (pid {tid}) was stopped ({signal_name(signo)}) when released,"
                " and would never exit: ended with SIGKILL",
            )
    return 0 if all(not r.get("errors") for r in rows) else 1


def _print(
    rows: list[dict[str, Any]], children: Children, fmt: str, headers: bool, explain_: bool
) -> None:
    if fmt == "text":
        for row in rows:
            click.echo(classic_line(row))
    else:
        other = proc_mismatch()
        if other is not None:
            note("spawn", f"{other}; the /proc columns are left empty")
        columns = list(COLUMNS) + (["rdi", "rsi", "rdx", "r10", "r8"] if explain_ else [])
        if explain_:
            for row, rep in zip(rows[1:], children.reports(), strict=True):
                row.update(zip(columns[-5:], (hex(v) for v in rep.regs[1:]), strict=True))
        render(rows, columns if fmt != "json" else [*columns, "mismatch"], fmt, headers=headers)
    if explain_ and fmt == "text":
        for rep in children.reports():
            click.echo("\n".join(explain(children, rep)))
    sys.stdout.flush()


def _say_errors(rows: list[dict[str, Any]]) -> None:
    """Each row's errors on stderr, one line each, naming the row: what
    failed is said whatever the format (json and csv have no column for it)."""
    for i, row in enumerate(rows):
        who = "parent" if i == 0 else f"child {i}"
        for error in row.get("errors", ()):
            click.echo(f"tidscope spawn: {who}: {error}", err=True)


def _hint(children: Children) -> str:
    me = syscall("getpid")
    tids = " ".join(str(t) for t in children.tids)
    if children.is_thread:
        look = f"ps -T -p {me}"
        what = f"{children.spawned} raw threads (tids {tids}) of pid {me}"
    else:
        look = f"ps -o pid,ppid,comm --ppid {me}"
        what = f"{children.spawned} raw child processes (pids {tids}) of pid {me}"
    return f"tidscope: holding {what}; look with: {look}"


def _hold(seconds: float, children: Children) -> None:
    if flags.has(children.flags, "VFORK"):
        click.echo("tidscope: nothing to hold: CLONE_VFORK children have exited", err=True)
        return
    hint = _hint(children)
    if seconds != float("inf"):
        click.echo(f"{hint}; releasing in {seconds:g}s", err=True)
        time.sleep(seconds)
        return
    # stdin may be closed (<&-): then, as in a script, a signal releases them
    tty = sys.stdin is not None and sys.stdin.isatty()
    if tty and os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp():
        click.echo(f"{hint}; press Enter (or Ctrl-C) to release", err=True)
        sys.stdin.readline()
        return
    click.echo(f"{hint}; release with: kill {syscall('getpid')}", err=True)
    while True:
        time.sleep(3600)


KILL_AFTER = 2.0  # seconds CMD has to end on the signal before SIGKILL
# Taken synchronously while CMD runs: a request to stop, or CMD's end.
WAKE = (*TERMINATING, signal.SIGCHLD)


def _run(cmd: str, children: Children, keep_background: bool, ignored: Sequence[int] = ()) -> int:
    """Run CMD and return its exit status; end what it left running unless
    ``keep_background``.  ``ignored``: signals we set to SIG_IGN, which CMD
    gets back at their default.

    The terminating signals are blocked from before CMD is started until it
    is reaped and everything it left is ended, and taken synchronously: none
    can strike between the fork and the moment we know CMD's pid, nor cut
    the cleanup short.  A signal N ends CMD and all it started with N (then
    SIGKILL), and tidscope with 128+N."""
    from tidscope.core import reaper, shell

    env = dict(os.environ)
    env["TIDSCOPE_PID"] = str(syscall("getpid"))
    env["TIDSCOPE_TIDS"] = " ".join(str(t) for t in children.tids)
    ours = set() if children.is_thread else set(children.tids)
    with blocked(WAKE) as mask, reaper.subreaper():  # what CMD leaves comes back to us
        try:
            pid = shell.start(cmd, env, mask, ignored)
            status, signo = _wait(pid)
        except BaseException:
            reaper.end_all(signal.SIGTERM, KILL_AFTER, keep=ours)
            raise
        if signo or not keep_background:
            reaper.end_all(signo or signal.SIGTERM, KILL_AFTER, keep=ours)
    if signo == signal.SIGINT:
        raise KeyboardInterrupt
    if signo:
        raise Terminated(signo)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _wait(pid: int) -> tuple[int, int]:
    """(CMD's wait status, 0) once it ends, or (0, N) if terminating signal
    N comes first; WAKE is blocked, so neither can be missed.  A wait4 that
    says ECHILD while CMD (our unreaped child, held by a pidfd) is still
    there failed: it is tried again for a while, then raised naming wait4;
    another error of wait4 is raised at once, naming it
    (the caller ends and reaps CMD)."""
    from tidscope.core import reaper

    fd = reaper.opened(pid)
    refused: float | None = None
    try:
        while True:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError as err:
                if fd is None or not reaper.there(fd):
                    raise OSError(err.errno, err.strerror, "wait4") from None
                refused = refused or time.monotonic()
                if time.monotonic() - refused > reaper.WAIT_RETRY:
                    raise OSError(err.errno, err.strerror, "wait4") from None
                done, status = 0, 0
            except OSError as err:  # EPERM, EIO, EFAULT: a filter, an injected fault
                raise TidscopeError(
                    f"{describe(err, 'wait4')}: tidscope cannot wait for CMD, so it is ended"
                    " (and reaped through waitid(2)); allow wait4 to tidscope (a seccomp"
                    " filter or an injected fault refuses it)"
                ) from None
            if done:
                return status, 0
            got = sigwait(WAKE, 0.01 if refused else 1.0)  # SIGCHLD: some child changed state
            if got in TERMINATING:
                return 0, got
    finally:
        if fd is not None:
            os.close(fd)
