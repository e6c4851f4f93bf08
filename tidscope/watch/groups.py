"""What the connector's exits and execs mean for a thread group: a leader
thread's exit, the group's exit, an exec that replaced the group's threads.

The kernel sends one PROC_EVENT_EXIT for every task, leader or not, from
do_exit() (drivers/connector/cn_proc.c, ``proc_exit_connector``): its
``exit_code`` is that task's own code, its ``exit_signal`` the signal its
parent gets (-1 for a non-leader thread).  Nothing in the message says
whether the group lives on: a leader that leaves alone (pthread_exit(3), a
raw SYS_exit) sends the same message as a process that ends, and stays a
zombie until its last thread goes; that thread's message, a thread's, is the
group's end.  An exec by a non-leader thread kills the others (their exits,
the leader's among them) and takes the leader's tid: the PROC_EVENT_EXEC
that follows carries the leader's ids, and the exec'ing thread's own tid
ends with no event.

So :class:`Groups` keeps each group's live threads: a scan of /proc taken
once the subscription holds (every task alive then), plus the forks since,
less the exits.  A group's last live thread's exit is its end, with that
thread's code: the group's code (exit_group(2) and a fatal signal give it
to every thread; since Linux 5.19 the last thread's own exit sets it when
nothing did, ``synchronize_group_exit``), which wait(2) returns.  A leader's
exit while others live is the leader's; its parent and exit signal are kept
for the group's end.  An exec in a group whose leader had exited was made by
another thread (named when one was left).  A group never seen (lost events,
a task the scan could not read) is looked up in /proc at its exit.
"""

from __future__ import annotations

import os

from tidscope.proc import snapshot
from tidscope.proc.files import PROC, read
from tidscope.proc.task import DEAD, parse_stat
from tidscope.watch.event import Event, said


class Groups:
    """The live threads of every thread group, from :meth:`baseline` and
    the events fed since."""

    def __init__(self, proc: str = PROC) -> None:
        self.proc = proc
        self.live: dict[int, set[int]] = {}  # tgid -> its threads not yet exited
        self.left: dict[int, Event] = {}  # tgid -> its leader's exit, while others live on

    def baseline(self) -> None:
        """Every task alive now; a zombie leader with live threads has left."""
        zombies = []
        for task in snapshot.tasks(self.proc):
            if task.state in DEAD:
                if task.tid == task.tgid:
                    zombies.append(task)
                continue
            self.live.setdefault(task.tgid, set()).add(task.tid)
        for task in zombies:
            if task.tgid in self.live:
                self.left[task.tgid] = Event(
                    "exit", 0, -1, task.tid, task.tgid, None, task.ppid, False, role="leader"
                )

    def fork(self, event: Event) -> None:
        found = self.live.get(event.tgid)
        if found is None:
            self.live[event.tgid] = {event.tid}
        else:
            found.add(event.tid)

    def exit(self, event: Event) -> list[Event]:
        """The event said as a thread's, a leader's or the group's exit;
        a last thread that is not the leader: its own exit, then the group's."""
        tgid, tid = event.tgid, event.tid
        live = self.live.get(tgid)
        if live is None:
            live = self._look(tgid, tid)
            if live is None:  # not even /proc knows the group
                return [said(event, "thread" if tid != tgid else "process")]
        live.discard(tid)
        if live:
            if tid != tgid:
                return [said(event, "thread")]
            self.left[tgid] = event
            return [said(event, "leader")]
        del self.live[tgid]
        if tid == tgid:
            self.left.pop(tgid, None)
            return [said(event, "process")]
        leader = self.left.pop(tgid, None)
        mine = said(event, "thread")
        if leader is None:  # its leader was never known: it is not said to end here
            return [mine]
        group = said(
            event,
            "process",
            tid=tgid,
            thread=False,
            parent_tid=leader.parent_tid,
            parent_tgid=leader.parent_tgid,
            exit_signal=leader.exit_signal,
            comm=leader.comm,
            last_tid=tid,
        )
        return [mine, group]

    def exec(self, event: Event) -> Event:
        """An exec; in a group whose leader had exited, made by another
        thread, which took the leader's tid (``parent_tid``: that thread,
        when it was the one left)."""
        tgid = event.tgid
        live = self.live.get(tgid)
        leader = self.left.pop(tgid, None)
        self.live[tgid] = {event.tid}
        if leader is None or live is None:
            return event
        others = live - {tgid}
        if len(others) != 1:
            return event
        return said(event, None, parent_tid=others.pop())

    def _look(self, tgid: int, tid: int) -> set[int] | None:
        """A group no event or scan told us of: its live threads now in
        /proc (``tid`` among them, as it is the one exiting), or None."""
        try:
            names = os.listdir(f"{self.proc}/{tgid}/task")
        except OSError:
            return None
        live = {tid}
        for name in names:
            if name.isdigit() and int(name) != tid and self._alive(tgid, int(name)):
                live.add(int(name))
        self.live[tgid] = live
        return live

    def _alive(self, tgid: int, tid: int) -> bool:
        data = read(f"{self.proc}/{tgid}/task/{tid}/stat", None, False)
        task = None if data is None else parse_stat(data, tid, tgid, False)
        return task is not None and task.state not in DEAD
