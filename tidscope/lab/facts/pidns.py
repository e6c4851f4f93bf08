"""PID namespaces nest, and clone3's ``set_tid`` picks a task's pid in each.

The lab (in a user namespace of its own when we are not root, so that
the pid namespaces below are ours) unshares a PID namespace; its first
child there is that namespace's init (pid 1).  A child cloned with clone3,
CLONE_NEWPID and ``set_tid = [1, N]`` is then pid 1 of a second, nested
namespace and pid N of the first: its ``NSpid:`` line ends ``N 1``.
Without ``set_tid`` the kernel picks N.  A kernel without clone3, or
whose clone3 has no ``set_tid`` (before 5.5), cannot show it: the fact is
skipped, saying which.
"""

from __future__ import annotations

import errno
import os
import secrets
import signal

from tidscope.core import flags
from tidscope.core.clone import Op, SpawnError
from tidscope.core.syscalls import syscall
from tidscope.lab.experiments.base import child, effect
from tidscope.lab.facts.base import DEADLINE, Seen, Unobservable, Unread, failed
from tidscope.lab.helper import Channel, Helper
from tidscope.lab.probes import read_file, spawn_one, status

CLONE_NEWPID = flags.FLAGS["NEWPID"]
SIGCHLD = int(signal.SIGCHLD)


def _nspid(tid: int) -> tuple[int, ...] | Unread:
    fields = status(tid)
    if isinstance(fields, Unread):
        return fields
    try:
        return tuple(int(p) for p in fields["NSpid"].split())
    except (KeyError, ValueError):
        return failed(f"NSpid in /proc/{tid}/status", errno.ENODATA)


def _make(channel: Channel) -> None:
    """In the helper, init of the lab's new PID namespace: for each
    set_tid the lab sends, clone3 a child into a namespace nested in ours,
    say its pid here and its own getpid(), and hold it until the lab has
    looked."""
    while (order := channel.receive(DEADLINE)) is not None:
        try:
            ch = spawn_one(
                CLONE_NEWPID,
                [Op("getpid")],
                clone3=True,
                exit_signal=SIGCHLD,
                set_tid=order["set_tid"],
                outside_parent=True,
            )
            with ch:
                rep = ch.report(0)
                got = child(rep, 0, "getpid")
                channel.send({"pid": rep.tid, "getpid": got if isinstance(got, int) else str(got)})
                channel.receive(DEADLINE)
        except SpawnError as err:
            channel.send({"spawn": err.errno})


def _nested(
    init: Helper, set_tid: list[int]
) -> tuple[int | Unread, int | str, tuple[int, ...] | Unread]:
    """A child the namespace's init clones into a namespace of its own:
    (its pid in the init's namespace, its own getpid(), its NSpid chain as
    /proc shows it)."""
    init.send({"set_tid": set_tid})
    said = init.receive(DEADLINE)
    if "spawn" in said:
        code = int(said["spawn"])
        if code == errno.ENOSYS:
            raise Unobservable("this kernel has no clone3 (ENOSYS)")
        if code == errno.E2BIG and set_tid:
            raise Unobservable("this kernel's clone3 has no set_tid (E2BIG)")
        flags_given = "CLONE_NEWPID, set_tid " + (str(set_tid) if set_tid else "none")
        raise OSError(code, os.strerror(code), f"clone3 ({flags_given}) in the new PID namespace")
    try:
        # /proc names it by our pid for it: the init's one child there.
        kids = _children(init.pid)
        chain = effect(
            lambda k: (
                _nspid(k[0])
                if len(k) == 1
                else failed(f"the one child of {init.pid} (found {k})", errno.ESRCH)
            ),
            kids,
        )
    finally:
        init.send({"looked": True})
    return said["pid"], said["getpid"], chain


def _children(pid: int) -> list[int] | Unread:
    data = read_file(f"/proc/{pid}/task/{pid}/children")
    return data if isinstance(data, Unread) else [int(k) for k in data.split()]


def observe() -> Seen:
    syscall("unshare", CLONE_NEWPID)  # our next child is the new namespace's init
    asked = 300 + secrets.randbelow(30000)
    with Helper("namespace's init", _make, outside_pidns=True) as init:
        free_pid, free_self, free_chain = _nested(init, [])
        pid, self_pid, chain = _nested(init, [1, asked])
    return Seen(
        shows={
            "NSpid_is_the_chain_asked": effect(
                lambda c: len(c) >= 3 and c[-2:] == (asked, 1) and pid == asked, chain
            ),
            "getpid_is_1_inside": self_pid == 1
            if isinstance(self_pid, int)
            else failed("the child's getpid", errno.EIO),
        },
        contrast={
            "without_set_tid_the_kernel_picks": effect(
                lambda c: len(c) >= 3 and c[-1] == 1 and c[-2] == free_pid != asked, free_chain
            ),
        },
        evidence={
            "set_tid": [1, asked],
            "NSpid (outermost first)": chain,
            "pid_in_the_first_namespace": pid,
            "NSpid_without_set_tid": free_chain,
            "getpid_inside (with, without)": [self_pid, free_self],
        },
    )
