"""The per-task files beyond ``stat``, ``status`` and ``cmdline`` that some
``-o`` columns show: ``wchan``, ``cgroup``, the ``ns/*`` links, and the
group owning the task's directory.

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

import os

from tidscope.proc.files import read, read_all, stat_of
from tidscope.proc.task import Task
from tidscope.proc.unread import Unread

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

WCHAN = "wchan"  # the kernel function the task sleeps in, or "0"
CGROUP = "cgroup"  # one "hierarchy:controllers:path" line per hierarchy
GID = "gid"  # the group owning the task's directory: its effective gid
NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
NS = {name: f"ns/{name}" for name in NAMESPACES}  # each link's inode

WCHAN_MAX = 63  # procps reads a symbol name into 64 bytes
CGROUP_MAX = 128 * 1024 - 1  # procps's buffer for the whole file, less its NUL


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


READERS: dict[str, Callable[[str, int | None, bool], object]] = {
    WCHAN: _wchan,
    CGROUP: _cgroup,
    GID: _gid,
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
