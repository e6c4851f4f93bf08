"""The thread facts people get wrong, each an experiment (``verify-threads``).

A fact is a one-line statement and an observation that could show it
false, made in a lab with the flag experiments' rules: every look that
was not made names its step and makes the row ``error``; the looks where
the statement says something happens and those where it says it does
not are both made (see base.Seen); nothing a lab makes outlives it.
"""

from __future__ import annotations

from tidscope.lab.facts import creds, groups, pidfds, pidns, signals
from tidscope.lab.facts.base import Fact, Seen, Unobservable

__all__ = ["BY_NAME", "FACTS", "Fact", "Seen", "Unobservable"]

FACTS: tuple[Fact, ...] = (
    Fact(
        "credentials",
        "credentials are per thread: a raw setresuid() changes one thread's uids;"
        " libc's changes every thread libc made",
        "a raw thread's setresuid() and geteuid(), every Uid: line; then a pthread's"
        " os.setresuid() and every pthread's Uid: line",
        creds.observe,
    ),
    Fact(
        "process-signal",
        "a process-directed signal goes to one thread that does not block it;"
        " blocked by all, it waits in ShdPnd",
        "kill() to the lab while two raw threads wait for it in rt_sigtimedwait(); a second"
        " signal every thread blocks: ShdPnd and every SigPnd",
        signals.observe_process_directed,
    ),
    Fact(
        "thread-signal",
        "a signal sent with tgkill() waits in that thread's SigPnd only, not in ShdPnd",
        "tgkill() to one raw thread, kill() to the lab, all signals blocked: every"
        " thread's SigPnd and the ShdPnd",
        signals.observe_thread_directed,
    ),
    Fact(
        "sigstop",
        "SIGSTOP stops every thread, even sent to one thread with tgkill(); SIGCONT"
        " resumes them all",
        "a helper's raw threads: each task's state in /proc, and waitid(WSTOPPED),"
        " after SIGSTOP by pidfd and by tgkill() to one thread",
        signals.observe_sigstop,
    ),
    Fact(
        "fatal-signal",
        "a fatal signal kills every thread of the group, those blocking it too;"
        " to a thread that blocks it, it only waits",
        "tgkill(SIGUSR1) to a helper's raw thread that blocks it, then to one that"
        " does not: its SigPnd, waitid(), the tasks /proc lists",
        signals.observe_fatal,
    ),
    Fact(
        "exec",
        "exec from a thread that is not the leader ends every other thread;"
        " the exec'ing thread takes the leader's TID and start time",
        "a helper's pthread, marked by its nice value, execs: the tasks /proc lists,"
        " their start times and nice values, before and after",
        groups.observe_exec,
    ),
    Fact(
        "leader-exit",
        "a leader that calls exit() stays a zombie while its threads run;"
        " the process ends with its last thread",
        "a helper's leader calls exit(): its state, ps, waitid() and its pidfd as"
        " each of its raw threads ends",
        groups.observe_leader_exit,
    ),
    Fact(
        "pid-namespaces",
        "clone3's set_tid gives a task the pid asked for in each nested PID namespace",
        "clone3(CLONE_NEWPID) in a PID namespace of the lab's, with and without"
        " set_tid = [1, N]: NSpid and the child's getpid()",
        pidns.observe,
        isolated=True,
    ),
    Fact(
        "pidfds",
        "a pidfd signals what it names and reports its exit: a process's, and a"
        " thread's (PIDFD_THREAD)",
        "pidfd_send_signal() through a process's and a thread's pidfd: ShdPnd, SigPnd;"
        " poll() and waitid() before and after each ends",
        pidfds.observe,
    ),
)

BY_NAME = {f.name: f for f in FACTS}
