"""Standard output written whole, standard error written if it can be.

Python's buffered writer reports a short write (a file size limit, a full
disk) as a short count that the text layer above it ignores: the rest of
the output was lost and the command exited 0.  Here every write is carried
on until all of it is written or the kernel says why not, which surfaces as
an error and exit status 1.  Standard error carries diagnostics only: when
it cannot be written (``2>/dev/full``), they are dropped, and the exit
status stays what the command decided.
"""

from __future__ import annotations

import io
import os
import sys

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from typing import Any

STDOUT = "standard output"  # how a failed write names its file


class _Fd(io.RawIOBase):
    """A descriptor we write to but never close (it is the process's)."""

    def __init__(self, fd: int, must: bool) -> None:
        super().__init__()
        self._fd = fd
        self._must = must
        self.dropping = False  # silence(): take every write, write nothing

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: Any) -> int:  # bytes-like
        view = memoryview(data).cast("B")
        if self.dropping:
            return len(view)
        done = 0
        try:
            while done < len(view):
                done += os.write(self._fd, view[done:])
        except OSError as err:
            if self._must:  # (EPIPE stays a BrokenPipeError)
                raise OSError(err.errno, err.strerror, STDOUT) from None
        return len(view)


def _rewrap(stream: io.TextIOWrapper, must: bool, errors: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(
        io.BufferedWriter(_Fd(stream.fileno(), must)),
        encoding=stream.encoding,
        errors=errors,
        line_buffering=stream.line_buffering,
    )


def install() -> None:
    """Replace sys.stdout and sys.stderr (where they are open descriptors)."""
    out, err = sys.stdout, sys.stderr
    if isinstance(out, io.TextIOWrapper):
        # What the output's encoding cannot carry prints as "?", as procps
        # prints it (PYTHONIOENCODING=ascii, a Latin-1 locale).
        out.flush()
        sys.stdout = _rewrap(out, True, "replace")
    if isinstance(err, io.TextIOWrapper):
        err.flush()
        sys.stderr = _rewrap(err, False, err.errors or "backslashreplace")


def silence() -> None:
    """Drop what standard output still buffers and write nothing more, so
    that the interpreter's final flush cannot fail again (its reader went
    away, or its disk is full).  Needs no /dev/null, which may not open."""
    out = sys.stdout
    raw = getattr(getattr(out, "buffer", None), "raw", None)
    if isinstance(raw, _Fd):
        raw.dropping = True
        return
    try:  # not ours (standard output was not a file when we started)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        return
    try:
        os.dup2(devnull, out.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)
