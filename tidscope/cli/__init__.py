"""The ``tidscope`` command: parse, call the core, render.

Subcommands live one per module and are imported only when used, so that
``tidscope ps`` pays neither for the raw-clone core nor for the flag
experiments; a plain ``ps`` command line does not even import click (see
fastpath.py).  Every failure leaves through :func:`main` as one line on
stderr and a stable exit code (0 ok, 1 runtime failure, 2 usage error,
128+N killed by signal N).
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the C module: signal would import enum
import os
import sys

from tidscope.cli.commands import COMMANDS, COMPLETE_VAR, command_path, one_line
from tidscope.errors import (
    EXIT_FAILURE,
    EXIT_USAGE,
    Terminated,
    TidscopeError,
    describe,
    raise_once,
    remedy,
)

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["COMMANDS", "EXIT_USAGE", "main"]

# Linux's numbers on every architecture we build for (importing the signal
# module, which imports enum, would cost a ps start-up a fifth of its time)
SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGTERM = 1, 2, 3, 13, 15
DEBUG_VAR = "TIDSCOPE_DEBUG"  # set: an internal error shows its traceback


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status instead of raising."""
    args = list(sys.argv[1:] if argv is None else argv)
    if sys.stdout is None:  # started with standard output closed (>&-)
        _error(args, "standard output is closed: redirect it, e.g. >/dev/null")
        return EXIT_FAILURE
    from tidscope.cli import streams

    streams.install()
    _raise_once()
    try:
        try:
            rv = _dispatch(args)
        finally:
            sys.stdout.flush()
    except TidscopeError as err:
        _error(args, one_line(err.message))
        return err.exit_code
    except KeyboardInterrupt:
        _ending()
        return 128 + SIGINT
    except Terminated as sig:
        _ending()
        return 128 + sig.signo
    except BrokenPipeError:
        # The reader went away (`| head -1`): stop quietly with the status of
        # a process killed by SIGPIPE, every child joined by then.  (procps
        # ps exits 0 here; pstree and coreutils die of SIGPIPE.)
        streams.silence()
        return 128 + SIGPIPE
    except OSError as err:
        _error(args, _os_error(err))
        return _flushed(EXIT_FAILURE)
    except ImportError as err:  # a module imported when first needed could not be
        if os.environ.get(DEBUG_VAR):  # loaded: the file system answered no, not our code
            raise
        _error(args, _import_error(err))
        return _flushed(EXIT_FAILURE)
    except Exception as err:  # a bug of ours: one line, unless asked for more
        if os.environ.get(DEBUG_VAR):
            raise
        _error(
            args,
            f"internal error: {type(err).__name__}: {one_line(str(err))}"
            f" (run again with {DEBUG_VAR}=1 for the traceback, and report it)",
        )
        return _flushed(EXIT_FAILURE)
    return rv if isinstance(rv, int) else 0


def _flushed(code: int) -> int:
    """``code``, once what stdout still buffers is written or dropped."""
    try:  # what is still buffered, if the error was not stdout's own
        sys.stdout.flush()
    except OSError:
        from tidscope.cli import streams

        streams.silence()  # else the interpreter's final flush fails again
    return code


def _dispatch(args: list[str]) -> object:
    """The fast path for a plain ``ps`` command line, else click."""
    if args[:1] == ["ps"] and COMPLETE_VAR not in os.environ:
        from tidscope.cli.fastpath import parse_ps, run_ps

        params = parse_ps(args[1:])
        if params is not None:
            return run_ps(params, args[1:])
    from tidscope.cli import app

    return app.run(args)


def _error(args: list[str], message: str) -> None:
    if sys.stderr is None:  # started with standard error closed (2>&-): say nothing
        return  # (print(file=None) would write the message to stdout)
    print(f"{command_path(args)}: {message}", file=sys.stderr, flush=True)


def _import_error(err: ImportError) -> str:
    """A module is imported when a command first needs it (start-up pays
    only for what it uses): one that then cannot be found or read is the
    machine's answer (a stat or open refused, too few free descriptors) or
    a damaged installation, and Python keeps the errno to itself."""
    what = err.name or one_line(str(err))
    return (
        f"cannot load the module {what}: its file could not be found or read"
        " (a refused syscall, the open-files limit, or a damaged installation):"
        " run again, or reinstall tidscope if it persists"
    )


def _os_error(err: OSError) -> str:
    text = describe(err)
    if err.filename == "standard output":
        text += ": the output is incomplete: make room (disk space, ulimit -f) or write elsewhere"
    elif remedy(err.errno) is not None:
        text += f": {remedy(err.errno)}"
    return text


def _raise_once() -> None:
    """SIGINT and SIGQUIT raise once (errors.raise_once) in every command:
    a second Ctrl-C while the first unwinds is absorbed, and SIGQUIT ends a
    command as SIGTERM does, with 128+3 and no core dump (its default
    action dumps one).  Commands that clean up install the same handler for
    all the terminating signals (core/signals.py).  One we were started
    ignoring stays ignored; one whose handler cannot be set (a sabotaged
    rt_sigaction) keeps Python's."""
    for signo in (SIGINT, SIGQUIT):
        if _signal.getsignal(signo) != _signal.SIG_IGN:
            try:  # noqa: SIM105 (contextlib would cost ps start-up)
                _signal.signal(signo, raise_once)
            except OSError:
                pass


def _ending() -> None:
    """A terminating signal ends us: hold every other back, so that none
    can kill the interpreter as it finalizes (it puts the default actions
    back then)."""
    try:  # noqa: SIM105 (contextlib would cost ps start-up)
        _signal.pthread_sigmask(_signal.SIG_BLOCK, {SIGHUP, SIGINT, SIGQUIT, SIGTERM})
    except OSError:
        pass
