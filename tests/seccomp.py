"""Make chosen syscalls fail, then run tidscope: a seccomp filter for the tests.

    python tests/seccomp.py --deny NAME[,NAME...] [--errno EPERM] -- ARGS...
    python tests/seccomp.py --deny NAME[,NAME...] [--errno EPERM] -c CODE

(``--cgroup DIR`` first moves the process into the cgroup2 directory DIR.)

The filter is classic BPF built here (no libseccomp): on this process's
architecture, a syscall whose number is denied returns ``-errno``; every
other syscall, and every syscall of another architecture, is allowed.  It is
installed after every tidscope module is imported (Python's own imports are
not what is being tested) and is inherited by everything the command forks
or clones: the labs and their raw children fail the same syscalls.

``exit`` and ``exit_group`` are never denied: a raw child that cannot exit
would spin in its exit path forever, and so would the interpreter.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import importlib
import os
import pkgutil
import platform
import struct
import sys
import tempfile
from collections.abc import Sequence

# <linux/audit.h>: AUDIT_ARCH_* = EM_* | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

# Syscall numbers: arch/x86/entry/syscalls/syscall_64.tbl and
# include/uapi/asm-generic/unistd.h (aarch64 has no open, stat, mkdir, rmdir,
# pipe, fork, arch_prctl: only their *at / 2 / clone forms).
X86_64 = """
read 0  write 1  open 2  close 3  stat 4  fstat 5  lstat 6  rt_sigaction 13
rt_sigprocmask 14  pipe 22  nanosleep 35  getpid 39  socket 41  bind 49  clone 56
fork 57  vfork 58  exit 60  wait4 61  kill 62  uname 63  semget 64  semop 65
semctl 66  msgget 68  msgctl 71  getcwd 79  chdir 80  mkdir 83  rmdir 84  unlink 87
readlink 89  umask 95  getuid 102  getppid 110  ptrace 101  prctl 157  arch_prctl 158  mount 165
umount2 166  sethostname 170  gettid 186  futex 202  clock_gettime 228  exit_group 231
waitid 247  ioprio_set 251  ioprio_get 252  openat 257  mkdirat 258  newfstatat 262
unlinkat 263  readlinkat 267  unshare 272  pipe2 293  kcmp 312  statx 332
pidfd_open 434  clone3 435  openat2 437  select 23  pselect6 270  process_vm_readv 310
rt_sigtimedwait 128  sched_getaffinity 204  setresuid 117  geteuid 107  tgkill 234
setpriority 141  getpriority 140  execve 59  execveat 322  pidfd_send_signal 424  poll 7
ppoll 271
"""
AARCH64 = """
getcwd 17  ioprio_set 30  ioprio_get 31  mkdirat 34  unlinkat 35  umount2 39  mount 40
chdir 49  openat 56  close 57  pipe2 59  read 63  write 64  readlinkat 78
newfstatat 79  fstat 80  exit 93  exit_group 94  waitid 95  unshare 97  futex 98
nanosleep 101  clock_gettime 113  kill 129  rt_sigaction 134  rt_sigprocmask 135
sethostname 161  uname 160  umask 166  prctl 167  getpid 172  getppid 173  getuid 174
gettid 178  ptrace 117  msgget 186  msgctl 187  semget 190  semctl 191  semop 193  socket 198
bind 200  clone 220  wait4 260  kcmp 272  statx 291  pidfd_open 434  clone3 435
openat2 437  pselect6 72  process_vm_readv 270  rt_sigtimedwait 137  sched_getaffinity 123
setresuid 147  geteuid 175  tgkill 131  setpriority 140  getpriority 141  execve 221
execveat 281  pidfd_send_signal 424  ppoll 73
"""


def _table(text: str) -> dict[str, int]:
    words = text.split()
    return {name: int(nr) for name, nr in zip(words[::2], words[1::2], strict=True)}


SYSCALLS = {"x86_64": _table(X86_64), "aarch64": _table(AARCH64)}

# One name for a family of syscalls libc may pick from for one call.
FAMILIES = {
    "stat": ("stat", "fstat", "lstat", "newfstatat", "statx"),
    "open": ("open", "openat", "openat2"),
    "mkdir": ("mkdir", "mkdirat"),
    "rmdir": ("rmdir", "unlinkat"),
    "pipe": ("pipe", "pipe2"),
    "select": ("select", "pselect6"),
    "poll": ("poll", "ppoll"),
    "execve": ("execve", "execveat"),
}
NEVER = ("exit", "exit_group")

SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
BPF_RET_K = 0x06  # BPF_RET | BPF_K
NR_OFFSET, ARCH_OFFSET = 0, 4  # struct seccomp_data
PR_SET_SECCOMP, SECCOMP_MODE_FILTER, PR_SET_NO_NEW_PRIVS = 22, 2, 38


def machine() -> str:
    arch = platform.machine()
    if arch not in AUDIT_ARCH:
        raise SystemExit(f"seccomp.py: no syscall table for {arch}")
    return arch


def numbers(names: Sequence[str], arch: str | None = None) -> list[int]:
    """The syscall numbers behind ``names`` (families expanded; names this
    architecture lacks, like ``mkdir`` on aarch64, are skipped)."""
    table = SYSCALLS[arch or machine()]
    out: list[int] = []
    for name in names:
        if name in NEVER:
            raise ValueError(f"{name} is never denied: a raw child could then never exit")
        members = FAMILIES.get(name, (name,))
        if not any(m in table for m in members):
            raise ValueError(f"no syscall {name!r} in the table")
        out += [table[m] for m in members if m in table and table[m] not in out]
    return out


def sock_filter(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def program(nrs: Sequence[int], err: int, arch: str | None = None) -> bytes:
    """Classic BPF: another architecture → allow; a denied nr → -err; else allow."""
    n = len(nrs)
    assert 0 < n < 250 and 0 < err <= 0xFFFF
    insns = [
        sock_filter(BPF_LD_W_ABS, 0, 0, ARCH_OFFSET),
        sock_filter(BPF_JEQ_K, 0, n + 1, AUDIT_ARCH[arch or machine()]),  # else: allow
        sock_filter(BPF_LD_W_ABS, 0, 0, NR_OFFSET),
    ]
    insns += [sock_filter(BPF_JEQ_K, n - i, 0, nr) for i, nr in enumerate(nrs)]  # → deny
    insns += [
        sock_filter(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW),
        sock_filter(BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | err),
    ]
    return b"".join(insns)


class SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def install(names: Sequence[str], err: int) -> None:
    """Deny ``names`` with ``err`` in this (single-threaded) process and in
    everything it starts from now on."""
    assert len(os.listdir("/proc/self/task")) == 1, "the filter would miss other threads"
    code = program(numbers(names), err)
    buf = ctypes.create_string_buffer(code, len(code))
    prog = SockFprog(len(code) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")


def preload() -> None:
    """Import every tidscope module (and what tidscope imports lazily), and
    let tempfile find its directory, while nothing is denied yet."""
    import tidscope

    for mod in pkgutil.walk_packages(tidscope.__path__, "tidscope."):
        if not mod.name.endswith("__main__"):  # which would run the CLI
            importlib.import_module(mod.name)
    for name in ("click.shell_completion", "csv", "json", "difflib", "unicodedata", "pwd"):
        importlib.import_module(name)
    tempfile.gettempdir()
    errno.errorcode.get(0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="seccomp.py")
    parser.add_argument("--deny", required=True, help="NAME[,NAME...]; families: stat, open...")
    parser.add_argument("--errno", default="EPERM", help="what the denied syscalls fail with")
    parser.add_argument("-c", dest="code", help="Python code to run instead of tidscope")
    parser.add_argument("--cgroup", help="a cgroup2 directory to move into first")
    parser.add_argument("args", nargs="*", help="tidscope's arguments (after --)")
    opts = parser.parse_args(argv)
    err = getattr(errno, opts.errno)
    names = [n for n in opts.deny.split(",") if n]
    if opts.cgroup:
        with open(os.path.join(opts.cgroup, "cgroup.procs"), "w") as f:
            f.write("0")  # this process
    preload()
    from tidscope.cli import main as tidscope_main

    install(names, err)
    if opts.code is not None:
        exec(compile(opts.code, "<seccomp -c>", "exec"), {"__name__": "__main__"})
        return 0
    return tidscope_main(opts.args)


if __name__ == "__main__":
    sys.exit(main())
