"""The namespaces of each task: a namespace is the (st_dev, st_ino) of the
task's ``ns/<type>`` link; readlink(2) names the inode, and one stat(2) per
namespace found gives both."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Sequence

from tidscope.errors import errno_name
from tidscope.proc import files
from tidscope.proc.files import PROC, Unread
from tidscope.proc.task import Task
from tidscope.share.sharing import NAMESPACES, Sharing

NsSeen = list[int]  # per type: the inode its link names, or -errno


def read_namespaces(tids: list[int], types: Sequence[str]) -> dict[int, NsSeen | None]:
    """Each task's namespaces, from readlink(2) of its ``ns/*`` links,
    which name the inode (``uts:[4026531838]``); None: the task is gone.
    readlink costs half a stat(2) here; :func:`_devices` then stats one
    link of each namespace found, for its (st_dev, st_ino)."""
    return {tid: _task_namespaces(tid, types) for tid in tids}


def _task_namespaces(tid: int | str, types: Sequence[str]) -> NsSeen | None:
    fd = files.opened(f"{PROC}/{tid}/ns", directory=True)
    if isinstance(fd, Unread):
        return None if fd.errno == errno.ENOENT else [-(fd.errno or errno.EIO)] * len(types)
    try:
        links = files.links(types, fd)
    finally:
        os.close(fd)
    read = [link for link in links if not isinstance(link, Unread)]
    if len(read) == len(types):
        with contextlib.suppress(ValueError):  # the kernel writes "type:[inode]"
            return [int(link[len(name) + 2 : -1]) for name, link in zip(types, read, strict=True)]
    return _inodes(types, links)


def _inodes(types: Sequence[str], links: Sequence[str | Unread]) -> NsSeen | None:
    """Each link's inode, or its -errno; None if the task exited (its links
    are gone)."""
    seen: NsSeen = []
    for name, link in zip(types, links, strict=True):
        if isinstance(link, Unread):
            if link.errno == errno.ENOENT:
                return None
            seen.append(-(link.errno or errno.EIO))
        else:
            seen.append(_inode(name, link))
    return seen


def has_namespace(t: str) -> bool:
    """Whether this kernel has ``t`` namespaces: our own ``ns/<t>`` stats."""
    return not isinstance(files.stat_of(f"{PROC}/self/ns/{t}", raises=files.NOTHING), Unread)


def _inode(name: str, link: str) -> int:
    number = link.removeprefix(f"{name}:[").removesuffix("]")
    return int(number) if number.isdigit() and number.isascii() else -errno.EINVAL


def _device(t: str, inode: int, tids: Iterable[int]) -> tuple[int, int] | None:
    """(st_dev, st_ino) of namespace ``inode`` of type ``t``, from stat(2)
    of the link of the first of ``tids`` still in it."""
    for tid in tids:
        st = files.stat_of(f"{PROC}/{tid}/ns/{t}")
        if isinstance(st, Unread):
            continue
        if st.st_ino == inode:
            return st.st_dev, st.st_ino
    return None


def namespace_groups(
    sharing: Sharing, rows: list[Task], seen: dict[int, NsSeen | None], types: Sequence[str]
) -> None:
    for t in NAMESPACES:
        if t not in types:
            sharing.unavailable[t] = f"this kernel has no {t} namespaces (no /proc/self/ns/{t})"
    mine = _task_namespaces("self", types) or []  # the kernel's "us", not libc's pid
    tids = [task.tid for task in rows]
    lost = [-errno.ENOENT] * len(types)
    table = [seen.get(tid) or lost for tid in tids]
    for i, t in enumerate(types):
        column = [observed[i] for observed in table]
        numbers = {v: n for n, v in enumerate(dict.fromkeys(v for v in column if v >= 0), 1)}
        sharing.namespaces[t] = {
            tid: numbers[v] for tid, v in zip(tids, column, strict=True) if v >= 0
        }
        for tid, v in zip(tids, column, strict=True):
            if v < 0:
                name = errno_name(-v)
                sharing.ns_refused.setdefault(
                    tid,
                    f"readlink /proc/{tid}/ns/{t}: {name} (reading a namespace link"
                    " needs PTRACE_MODE_READ_FSCREDS over the task)",
                )
        inodes: dict[int, tuple[int, int]] = {}
        for inode, number in numbers.items():
            members = (tid for tid, v in zip(tids, column, strict=True) if v == inode)
            where = _device(t, inode, members)
            if where is not None:
                inodes[number] = where
            if i < len(mine) and mine[i] == inode:
                sharing.ours[t] = number
        sharing.inodes[t] = inodes
