"""Errors the CLI turns into one line on stderr and a stable exit code."""

from __future__ import annotations

EXIT_FAILURE = 1  # runtime failure: the kernel or the machine said no
EXIT_USAGE = 2  # the command line asked for something impossible


class TidscopeError(Exception):
    """A failure to report as one line; ``exit_code`` says which kind."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(TidscopeError):
    """Bad input: the message names the problem and the fix."""

    exit_code = EXIT_USAGE


class Terminated(BaseException):
    """A terminating signal arrived; unwinds like KeyboardInterrupt."""

    def __init__(self, signo: int) -> None:
        super().__init__(signo)
        self.signo = signo


def errno_name(code: int) -> str:
    """``EPERM`` for 1: the errno's name, or its number if it has none."""
    import errno

    return errno.errorcode.get(code, str(code))


def describe(err: OSError | int, call: str | None = None) -> str:
    """An OSError (or an errno) in words, the same everywhere: ``CALL:
    ENAME (what it means)``, CALL being ``call`` or else the file or call the
    error names (``pipe2: EMFILE (Too many open files)``).  An error with
    no errno is its own text."""
    import os

    if isinstance(err, int):
        code, where, text = err, call, None
    else:
        if err.errno is None:
            return " ".join(str(err).split())
        code, where, text = err.errno, call or err.filename, err.strerror
    what = f"{errno_name(code)} ({text or os.strerror(code)})"
    return f"{where}: {what}" if where else what


# What to do about a limit the machine set, by errno (for any other errno
# the line names the call and the file, and the caller says what fits)
_REMEDIES = {
    23: "raise the system's limit on open files (fs.file-max) or close some",  # ENFILE
    24: "raise the open-files limit (ulimit -n)",  # EMFILE
    12: "free memory, or raise the address-space limit (ulimit -v)",  # ENOMEM
}


def remedy(code: int | None) -> str | None:
    """The fix for an errno that means a limit was reached, else None."""
    return _REMEDIES.get(code) if code is not None else None


def note(command: str, text: str) -> None:
    """One line on stderr about partial data: not an error, the exit code stays."""
    import sys

    if sys.stderr is not None:  # closed (2>&-): print(file=None) would use stdout
        print(f"tidscope {command}: note: {text}", file=sys.stderr, flush=True)


FIRED: list[int] = []  # the terminating signal that is unwinding us, if any
SIGINT = 2  # Linux's number on every architecture we build for


def raise_once(signo: int, frame: object) -> None:
    """The handler of the signals that ask tidscope to stop: the first
    unwinds the stack (SIGINT as KeyboardInterrupt, the others as
    Terminated); those after it while we unwind are absorbed, so that none
    cuts the cleanup short (a second Ctrl-C while children are joined) and
    the exit status is the first one's."""
    if FIRED:
        return
    FIRED.append(signo)
    if signo == SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signo)
