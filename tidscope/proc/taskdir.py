"""One task's /proc directory, held open while its files are read.

The directory ``/proc/<tgid>/task/<tid>`` is opened once and every file is
opened relative to it: once our task has exited, a new task given the same
id cannot answer for it (the open directory still belongs to the old task,
whose files then fail with ENOENT or ESRCH).

Every read (through proc/files.py) gives the file's bytes or an
:class:`~tidscope.proc.files.Unread` that names the file and what the
kernel answered (``EACCES``...), never an exception: a field that could not
be read is shown as such, never guessed.  Only our own exhaustion (no file
descriptors or memory left) is raised, as files.py raises it.
Whether a failed read means that the task has gone is for :meth:`TaskDir.gone`
to say: the same ENOENT also means a kernel built without that file
(``sched`` needs CONFIG_SCHED_DEBUG).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from tidscope.numeric import c_integer, kernel_ints
from tidscope.proc import files
from tidscope.proc.files import CHUNK, EXHAUSTED, PROC, Unread, failed

LIMIT = 1 << 20  # the most of one file read whole (a status file is ~1.5 KiB)


class TaskDir:
    """``/proc/<tgid>/task/<tid>``, open; :meth:`close` it (or use ``with``)."""

    def __init__(self, fd: int, tgid: int, tid: int, root: str) -> None:
        self.fd = fd
        self.tgid = tgid
        self.tid = tid
        self.root = root

    @classmethod
    def open(cls, tgid: int, tid: int, root: str = PROC) -> TaskDir | None:
        """The task's directory, or None if there is no such task (now)."""
        fd = files.opened(f"{root}/{tgid}/task/{tid}", directory=True)
        return None if isinstance(fd, Unread) else cls(fd, tgid, tid, root)

    def __enter__(self) -> TaskDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @property
    def path(self) -> str:
        return f"{self.root}/{self.tgid}/task/{self.tid}"

    def read(self, name: str, limit: int = LIMIT) -> bytes | Unread:
        """File ``name`` of the task, whole (up to ``limit`` bytes)."""
        return files.contents(name, self.fd, limit, check=False, where=name)

    def mapping(self, address: int) -> Mapping | Unread | None:
        """The mapping of ``smaps`` that holds ``address`` and its ``Rss``, or
        None if none does.  Read line by line and only as far as that
        mapping: the ``smaps`` of a large process is megabytes."""
        fd = files.opened("smaps", self.fd, where="smaps")
        if isinstance(fd, Unread):
            return fd
        try:
            with os.fdopen(fd, "rb", buffering=CHUNK * 4) as f:
                return _find(f, address)
        except OSError as err:
            if err.errno in EXHAUSTED:
                raise
            return failed("smaps", err)

    def link(self, name: str) -> str | Unread:
        """Where the link ``name`` points (``ns/pid``: readable only to those
        who may ptrace-read the task)."""
        return files.link(name, self.fd, where=name)

    def gone(self) -> bool:
        """Whether the task has exited (its ``stat`` no longer opens).  A
        zombie has not: its ``stat`` still reads, state Z."""
        got = self.read("stat", CHUNK)
        return isinstance(got, Unread) and got.gone


@dataclass(frozen=True)
class Mapping:
    """One mapping as its ``smaps`` entry shows it."""

    start: int
    end: int
    perms: str
    path: str  # "" for an anonymous mapping; "[stack]", "[heap]"... as the kernel names them
    rss_kib: int | None  # None: the entry had no Rss line


def _find(lines: Iterable[bytes], address: int) -> Mapping | None:
    """The entry of ``smaps`` lines that holds ``address``.  An entry is its
    ``maps`` line (``start-end perms offset dev inode [path]``) followed by
    ``Key: value`` lines."""
    found: Mapping | None = None
    for line in lines:
        head = line.split(b" ", 1)[0]
        low, dash, high = head.partition(b"-")
        if dash:  # a maps line: the next entry starts
            if found is not None:
                return found
            start, end = (
                c_integer(low.decode("ascii", "replace"), 16),
                c_integer(high.decode("ascii", "replace"), 16),
            )
            if start is not None and end is not None and start <= address < end:
                words = line.rstrip(b"\n").split(maxsplit=5)
                path = words[5].decode("utf-8", "surrogateescape") if len(words) > 5 else ""
                perms = words[1].decode("ascii", "replace") if len(words) > 1 else ""
                found = Mapping(start, end, perms, path, None)
        elif found is not None and line.startswith(b"Rss:"):
            kib = kernel_ints(*line[4:].split()[:1])
            found = Mapping(
                found.start, found.end, found.perms, found.path, kib[0] if kib else None
            )
    return found
