"""The per-task files beyond ``stat``, ``status`` and ``cmdline`` that some
``-o`` columns show: ``wchan``, ``cgroup``, the ``ns/*`` links, the group
owning the task's directory, and those procps 4.0.2 reads for its newer
columns (``exe``, ``oom_score``, ``oom_score_adj``, ``io``,
``smaps_rollup``, ``autogroup``, ``attr/current``, ``loginuid``).

A column names what it reads in its ``needs`` (the names below);
snapshot._extras reads exactly those, once per task, from the task's own
directory (``/proc/<pid>`` for a process row and for a group's leader,
``/proc/<pid>/task/<tid>`` for its other threads: where procps reads them),
and keeps each under its name in ``task.extra``.  Nothing here is read for
a column list that names none of them.

A file that cannot be read (gone, hidden, not ours to look at, not a
regular file under a ``--proc-root`` that is no proc mount) is kept as
None, never raised; the column shows it as procps shows such a task.  Only
our own exhaustion (no file descriptors or memory left) is raised.
"""

from __future__ import annotations

import errno
import os

from tidscope.proc.files import CHUNK, STATUS_MAX, Unread, link, read, read_all, stat_of
from tidscope.proc.task import Task

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

WCHAN = "wchan"  # the kernel function the task sleeps in, or "0"
CGROUP = "cgroup"  # one "hierarchy:controllers:path" line per hierarchy
GID = "gid"  # the group owning the task's directory: its effective gid
NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
NS = {name: f"ns/{name}" for name in NAMESPACES}  # each link's inode
EXE = "exe"  # where the link to the executable points
OOM = "oom_score"
OOM_ADJ = "oom_score_adj"
IO = "io"  # rchar, wchar, syscr, syscw, read_bytes...
SMAPS = "smaps_rollup"  # Pss, Private_Clean, Private_Dirty...
AUTOGROUP = "autogroup"  # "/autogroup-ID nice N"
ATTR = "attr/current"  # the security label (SELinux, AppArmor...)
LOGINUID = "loginuid"

WCHAN_MAX = 63  # procps reads a symbol name into 64 bytes
CGROUP_MAX = 128 * 1024 - 1  # procps's buffer for the whole file, less its NUL
LABEL_MAX = 666  # procps reads this much of attr/current
# What reading attr/current answers when no security module gives a label
# (none loaded: EINVAL; one that keeps no "current": EOPNOTSUPP): no label,
# as procps prints it, not a failed read.
NO_LABEL = frozenset({errno.EINVAL, errno.EOPNOTSUPP})


def _wchan(where: str, dir_fd: int | None, check: bool) -> bytes | None:
    data = read(f"{where}/wchan", dir_fd, check)
    return None if data is None else data[:WCHAN_MAX]


def _cgroup(where: str, dir_fd: int | None, check: bool) -> bytes | None:
    return read_all(f"{where}/cgroup", dir_fd, CGROUP_MAX, check)


def _stat(path: str, dir_fd: int | None) -> os.stat_result | None:
    """stat(2), following links (an ``ns/*`` link to its namespace's inode)."""
    st = stat_of(path, dir_fd)
    return None if isinstance(st, Unread) else st


def _gid(where: str, dir_fd: int | None, check: bool) -> int | None:
    st = _stat(where, dir_fd)
    return None if st is None else st.st_gid


def _namespace(link: str) -> Callable[[str, int | None, bool], int | None]:
    def inode(where: str, dir_fd: int | None, check: bool) -> int | None:
        st = _stat(f"{where}/{link}", dir_fd)
        return None if st is None else st.st_ino

    return inode


def _exe(where: str, dir_fd: int | None, check: bool) -> str | None:
    found = link(f"{where}/exe", dir_fd)
    return None if isinstance(found, Unread) else found


def _small(name: str, size: int = CHUNK) -> Callable[[str, int | None, bool], bytes | None]:
    def reader(where: str, dir_fd: int | None, check: bool) -> bytes | None:
        return read(f"{where}/{name}", dir_fd, check, size)

    return reader


def _label(where: str, dir_fd: int | None, check: bool) -> bytes | None:
    try:
        return read(f"{where}/{ATTR}", dir_fd, check, LABEL_MAX)
    except OSError as err:
        if err.errno in NO_LABEL:
            return None
        raise


def _whole(name: str) -> Callable[[str, int | None, bool], bytes | None]:
    def reader(where: str, dir_fd: int | None, check: bool) -> bytes | None:
        return read_all(f"{where}/{name}", dir_fd, STATUS_MAX, check)

    return reader


READERS: dict[str, Callable[[str, int | None, bool], object]] = {
    WCHAN: _wchan,
    CGROUP: _cgroup,
    GID: _gid,
    EXE: _exe,
    OOM: _small(OOM),
    OOM_ADJ: _small(OOM_ADJ),
    IO: _small(IO),
    SMAPS: _whole(SMAPS),
    AUTOGROUP: _small(AUTOGROUP),
    ATTR: _label,
    LOGINUID: _small(LOGINUID),
    **{link: _namespace(link) for link in NS.values()},
}
FILES = frozenset(READERS)


def task_status_line(task: Task, key: bytes) -> bytes | None:
    """The value of line ``key`` of the task's ``status`` (the STATUS need),
    or None (not read, or no such line)."""
    status = task.status
    return None if status is None else status.line(key)


def extra(task: Task, name: str) -> Any:
    """What was read for need ``name`` (None: not asked, or unreadable)."""
    found = task.extra
    return None if found is None else found.get(name)


def read_into(task: Task, where: str, dir_fd: int | None, want: Iterable[str], check: bool) -> None:
    """Read each of ``want`` this module knows (others are snapshot's own)
    from the task directory ``where`` (relative to ``dir_fd``) into
    ``task.extra``; ``check`` as for :func:`tidscope.proc.files.read`."""
    found = task.extra
    for name in want:
        reader = READERS.get(name)
        if reader is not None:
            if found is None:
                found = task.extra = {}
            found[name] = reader(where, dir_fd, check)
