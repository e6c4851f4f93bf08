"""One experiment per CLONE_* flag: clone with and without it, observe both.

A probe runs inside a lab (see lab.py), clones one parked raw child with the
flags it is given and returns a :class:`Run`.  Observations come from two
sides where the kernel offers both: kcmp(2) or /proc from the parent, and a
syscall the child itself made.
"""

from __future__ import annotations

import signal

from tidscope.core import flags
from tidscope.core.clone import ARCH
from tidscope.lab.experiments.base import Experiment, Run, Unobservable, Unread
from tidscope.lab.experiments.clone3 import probe_clear_sighand, probe_into_cgroup
from tidscope.lab.experiments.namespaces import (
    probe_newcgroup,
    probe_newipc,
    probe_newnet,
    probe_newns,
    probe_newpid,
    probe_newtime,
    probe_newuser,
    probe_newuts,
)
from tidscope.lab.experiments.sharing import (
    probe_files,
    probe_fs,
    probe_io,
    probe_sighand,
    probe_sysvsem,
    probe_vm,
)
from tidscope.lab.experiments.tasks import (
    probe_child_cleartid,
    probe_child_settid,
    probe_parent,
    probe_parent_settid,
    probe_pidfd,
    probe_settls,
    probe_thread,
    probe_vfork,
)
from tidscope.lab.experiments.tracing import probe_detached, probe_ptrace, probe_untraced

__all__ = ["BY_FLAG", "EXPERIMENTS", "Experiment", "Run", "Unobservable", "Unread"]

SIGCHLD = int(signal.SIGCHLD)

_THREAD_BASE = flags.bits("VM", "SIGHAND") | SIGCHLD
_PTHREAD = flags.THREAD

EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment(
        "VM",
        "address space",
        "kcmp KCMP_VM; child's getcwd() into our private memory",
        SIGCHLD,
        probe_vm,
    ),
    Experiment(
        "FS",
        "cwd, root and umask",
        "kcmp KCMP_FS; child's chdir(/proc) and umask() seen by us",
        SIGCHLD,
        probe_fs,
    ),
    Experiment(
        "FILES",
        "file descriptor table",
        "kcmp KCMP_FILES; child's close() closes our fd",
        SIGCHLD,
        probe_files,
    ),
    Experiment(
        "SIGHAND",
        "signal dispositions",
        "kcmp KCMP_SIGHAND; child ignores SIGUSR2, our SigIgn shows it",
        flags.bits("VM") | SIGCHLD,
        probe_sighand,
    ),
    Experiment(
        "PIDFD",
        "a pidfd for the child",
        "parent_tid holds an fd; its fdinfo Pid: is the child",
        SIGCHLD,
        probe_pidfd,
    ),
    Experiment(
        "PTRACE",
        "tracing continues into the child",
        "the lab traced by a tracer of ours: child's TracerPid; the tracer's waitpid()",
        SIGCHLD,
        probe_ptrace,
    ),
    Experiment(
        "VFORK",
        "caller suspended until the child exits",
        "clone returns after the child's clock reading and its last progress word",
        SIGCHLD,
        probe_vfork,
    ),
    Experiment(
        "PARENT",
        "the caller's parent as parent",
        "child's getppid() and /proc PPid are our parent",
        SIGCHLD,
        probe_parent,
    ),
    Experiment(
        "THREAD",
        "the caller's thread group",
        "child's getpid() and /proc Tgid are ours",
        _THREAD_BASE,
        probe_thread,
    ),
    Experiment(
        "NEWNS",
        "a new mount namespace",
        "/proc/<pid>/ns/mnt; child's tmpfs mount unseen by us",
        SIGCHLD,
        probe_newns,
        isolated=True,
    ),
    Experiment(
        "SYSVSEM",
        "System V semaphore undo list",
        "kcmp KCMP_SYSVSEM; child's SEM_UNDO not undone at its exit",
        SIGCHLD,
        probe_sysvsem,
        isolated=True,
    ),
    Experiment(
        "SETTLS",
        "the child's thread pointer",
        "child's arch_prctl(ARCH_GET_FS) is the tls argument",
        _PTHREAD,
        probe_settls,
        skip=None if ARCH == "x86_64" else "reading the thread pointer needs x86_64's arch_prctl",
    ),
    Experiment(
        "PARENT_SETTID",
        "child's tid stored in the parent",
        "parent_tid word holds the tid",
        _PTHREAD & ~flags.FLAGS["PARENT_SETTID"],
        probe_parent_settid,
    ),
    Experiment(
        "CHILD_CLEARTID",
        "tid word cleared and woken at exit",
        "child_tid word is 0 after exit; a futex wait on it wakes",
        _THREAD_BASE & ~SIGCHLD | flags.FLAGS["THREAD"],
        probe_child_cleartid,
    ),
    Experiment(
        "DETACHED",
        "none: ignored since Linux 2.6.2",
        "child's exit signal, parent, thread group, getppid(), our SIGCHLD and wait4()"
        " compared with and without; clone3 and CLONE_PIDFD tried",
        SIGCHLD,
        probe_detached,
        ignored=True,
    ),
    Experiment(
        "UNTRACED",
        "a tracer cannot force CLONE_PTRACE",
        "the lab traced, its tracer following clones: child's TracerPid; the clone"
        " event; the tracer's waitpid()",
        SIGCHLD,
        probe_untraced,
    ),
    Experiment(
        "CHILD_SETTID",
        "child's tid stored in the child",
        "child_tid word holds the tid",
        SIGCHLD,
        probe_child_settid,
    ),
    Experiment(
        "NEWCGROUP",
        "a new cgroup namespace",
        "/proc/<pid>/ns/cgroup; child's /proc/self/cgroup is rooted",
        SIGCHLD,
        probe_newcgroup,
        isolated=True,
    ),
    Experiment(
        "NEWUTS",
        "a new UTS namespace",
        "/proc/<pid>/ns/uts; child's sethostname() unseen by us",
        SIGCHLD,
        probe_newuts,
        isolated=True,
    ),
    Experiment(
        "NEWIPC",
        "a new IPC namespace",
        "/proc/<pid>/ns/ipc; child's message queue unseen by us",
        SIGCHLD,
        probe_newipc,
        isolated=True,
    ),
    Experiment(
        "NEWUSER",
        "a new user namespace",
        "/proc/<pid>/ns/user; child's getuid() is the overflow uid",
        SIGCHLD,
        probe_newuser,
        isolated=True,
    ),
    Experiment(
        "NEWPID",
        "a new PID namespace",
        "/proc/<pid>/ns/pid; child's getpid() is 1",
        SIGCHLD,
        probe_newpid,
        isolated=True,
    ),
    Experiment(
        "NEWNET",
        "a new network namespace",
        "/proc/<pid>/ns/net; our abstract socket name is free in the child",
        SIGCHLD,
        probe_newnet,
        isolated=True,
    ),
    Experiment(
        "IO", "I/O context", "kcmp KCMP_IO; child's ioprio_set() changes ours", SIGCHLD, probe_io
    ),
    Experiment(
        "NEWTIME",
        "a new time namespace",
        "/proc/<pid>/ns/time (clone3)",
        0,
        probe_newtime,
        clone3=True,
        isolated=True,
    ),
    Experiment(
        "CLEAR_SIGHAND",
        "handlers reset to default in the child",
        "child's SigCgt and rt_sigaction() lack our SIGUSR2 handler (clone3)",
        0,
        probe_clear_sighand,
        clone3=True,
    ),
    Experiment(
        "INTO_CGROUP",
        "child starts in the given cgroup",
        "/proc/<pid>/cgroup and cgroup.procs (clone3)",
        0,
        probe_into_cgroup,
        clone3=True,
    ),
)

BY_FLAG = {e.flag: e for e in EXPERIMENTS}
