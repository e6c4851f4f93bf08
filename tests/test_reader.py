"""The one /proc reader (tidscope/proc/files.py) and its one "not read"
(tidscope/proc/files.py), issue 19.

Every read of a /proc (or cgroup) file goes through files.py; what it could
not read is an Unread that names the step and the errno, so that a gone
task, a refused one and a failing read (EIO, EMFILE...) stay apart.  The
failures are provoked on the real kernel: tests/seccomp.py makes one
syscall fail with a chosen errno, in a fresh interpreter whose tidscope
modules are all imported before the filter is installed.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import python, run
from test_package import _import_alone

import tidscope
from tidscope.core import clone_errors, reaper
from tidscope.lab import experiments
from tidscope.lab.experiments import base
from tidscope.proc import files, taskdir
from tidscope.proc.files import Unread, failed
from tidscope.proc.task import Status
from tidscope.watch import tracee
from tidscope.watch.connector import name_of

SECCOMP = str(Path(__file__).with_name("seccomp.py"))


def _free_id() -> int:
    """An id no task has: ids are below pid_max."""
    with open("/proc/sys/kernel/pid_max") as f:
        return int(f.read())


FREE = _free_id()


def _denied(deny: str, err: str, code: str) -> Any:
    """What ``code`` prints last (one JSON value) while ``deny`` fails with ``err``."""
    proc = run(
        [sys.executable, SECCOMP, "--deny", deny, "--errno", err, "-c", textwrap.dedent(code)]
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the one "not read" ------------------------------------------------------------------


def test_unread_is_the_one_not_read_value_of_every_wing() -> None:
    """One class, defined once: the labs' observations, inspect's fields and
    the reader's answers are all proc/files.py's Unread."""
    assert base.Unread is experiments.Unread is Unread
    package = Path(tidscope.__file__).parent
    defined = [
        str(path.relative_to(package))
        for path in sorted(package.rglob("*.py"))
        if re.search(r"^class (Unread|Failed)\b", path.read_text(), re.MULTILINE)
    ]
    assert defined == ["proc/files.py"]
    kcmp = failed("kcmp KCMP_VM", errno.EPERM)
    assert kcmp == Unread("kcmp KCMP_VM", "EPERM", errno.EPERM)
    assert hash(kcmp) == hash(Unread("kcmp KCMP_VM", "EPERM", errno.EPERM))
    assert str(kcmp) == "kcmp KCMP_VM: EPERM"  # as a lab's reason names a step
    assert base.shown(kcmp) == "kcmp KCMP_VM: EPERM"
    assert failed("read x", OSError(errno.EIO, "Input/output error")).why == "EIO"
    assert str(failed("child bind", 4095)) == "child bind: 4095"  # no name: the number
    said = Unread("syscall", "unexpected: 'x'")  # what the file held instead: no errno
    assert said.errno == 0 and not (said.gone or said.refused or said.exhausted)


def test_an_unread_is_the_oserror_it_was() -> None:
    err = failed("open /proc/self/status", errno.EIO).error()
    assert (err.errno, err.filename) == (errno.EIO, "open /proc/self/status")
    assert Unread("x", "is a FIFO").error().errno is None


# -- what a failure means ----------------------------------------------------------------


def test_a_gone_task_is_gone_and_names_its_step() -> None:
    path = f"/proc/{FREE}/status"
    got = files.contents(path)
    assert got == Unread(f"open {path}", "ENOENT", errno.ENOENT)
    assert isinstance(got, Unread) and got.gone and not got.refused and not got.exhausted
    # ps's and tree's readers keep their None for a task that is not there
    assert files.read(path) is None and files.read_all(path) is None
    assert files.listing(f"/proc/{FREE}/task") == failed(f"listdir /proc/{FREE}/task", 2)
    assert files.link(f"/proc/{FREE}/exe") == failed(f"readlink /proc/{FREE}/exe", 2)
    assert files.stat_of(f"/proc/{FREE}") == failed(f"stat /proc/{FREE}", 2)
    assert files.opened(f"/proc/{FREE}", directory=True) == failed(f"open /proc/{FREE}", 2)


def test_a_caller_names_the_file_itself() -> None:
    d = taskdir.TaskDir.open(os.getpid(), threading.get_native_id())
    assert d is not None
    with d:
        assert d.read("no-such-file") == Unread("no-such-file", "ENOENT", errno.ENOENT)
        assert isinstance(d.read("status"), bytes)
        assert not d.gone()


def test_what_is_no_regular_file_says_what_it_is(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = files.contents(str(fifo))  # non-blocking: no writer cannot hang us
    assert got == Unread(str(fifo), "is a FIFO, not a regular file", 0)
    assert files.read_all(str(fifo)) is None


def test_a_failing_read_surfaces_its_errno() -> None:
    """read(2) fails with EIO: an Unread naming the read, in the reader, in
    inspect's task directory and in a lab's observation; never a task that
    is gone, and never an empty answer."""
    got = _denied(
        "read",
        "EIO",
        """
        import json, os, threading
        from tidscope.lab import probes
        from tidscope.proc import files, taskdir
        got = files.contents("/proc/self/status")
        d = taskdir.TaskDir.open(os.getpid(), threading.get_native_id())
        unread = d.read("status")
        lab = probes.read_file("/proc/self/status")
        try:
            probes.need_file("/proc/self/status")
        except OSError as err:
            need = [err.errno, err.filename]
        print(json.dumps({
            "files": [got.where, got.why, got.errno, got.gone, got.refused, got.exhausted],
            "taskdir": [unread.where, unread.why, unread.errno, d.gone()],
            "lab": str(lab),
            "need": need,
        }))
        """,
    )
    assert got["files"] == ["read /proc/self/status", "EIO", errno.EIO, False, False, False]
    assert got["taskdir"] == ["status", "EIO", errno.EIO, False]
    assert got["lab"] == "read /proc/self/status: EIO"
    assert got["need"] == [errno.EIO, "read /proc/self/status"]


def test_a_refused_open_is_refused_not_gone() -> None:
    got = _denied(
        "open",
        "EACCES",
        """
        import json
        from tidscope.proc import files
        got = files.contents("/proc/self/status")
        print(json.dumps([str(got), got.refused, got.gone]))
        """,
    )
    assert got == ["open /proc/self/status: EACCES", True, False]


def test_a_failing_close_does_not_undo_what_was_read() -> None:
    """close(2) fails with EPERM: what was read stands (Linux frees the
    descriptor whatever close says), for the reader and a lab alike."""
    got = _denied(
        "close",
        "EPERM",
        """
        import json
        from tidscope.lab import probes
        from tidscope.proc import files
        print(json.dumps([
            type(files.contents("/proc/self/status")).__name__,
            type(probes.read_file("/proc/self/status")).__name__,
        ]))
        """,
    )
    assert got == ["bytes", "bytes"]


def test_running_out_of_descriptors_is_raised_unless_the_caller_keeps_it() -> None:
    """EMFILE is ours, not the file's: raised by default; a lab's read and
    the cleanup's reads keep it (the lab's as a failed step, the cleanup's
    as left out, so that it goes on)."""
    got = _denied(
        "open",
        "EMFILE",
        """
        import errno, json, os
        from tidscope.core import reaper
        from tidscope.lab import probes
        from tidscope.proc import files
        from tidscope.watch import connector, tracee

        def raised(fn, *args):
            try:
                fn(*args)
            except OSError as err:
                return errno.errorcode[err.errno]
            return None

        kept = files.contents("/proc/self/status", raises=files.NOTHING)
        print(json.dumps({
            "contents": raised(files.contents, "/proc/self/status"),
            "read_all": raised(files.read_all, "/proc/self/status"),
            "name_of": raised(connector.name_of, os.getpid(), os.getpid()),
            "kept": [str(kept), kept.exhausted],
            "lab": str(probes.read_file("/proc/self/fdinfo/0")),
            "children": sorted(reaper.children(os.getpid())),
            "ids": tracee.ids(os.getpid()),
        }))
        """,
    )
    assert got["contents"] == got["read_all"] == got["name_of"] == "EMFILE"
    assert got["kept"] == ["open /proc/self/status: EMFILE", True]
    assert got["lab"] == "open /proc/self/fdinfo/0: EMFILE"
    assert got["children"] == [] and got["ids"] == [None, None, None]


# -- links, listings, stat ---------------------------------------------------------------


def test_links_listings_and_stat() -> None:
    me = os.getpid()
    assert files.link("/proc/self") == str(me)
    tids = files.listing(f"/proc/{me}/task")
    assert isinstance(tids, list) and str(threading.get_native_id()) in tids
    st = files.stat_of(f"/proc/{me}/ns/pid")
    assert isinstance(st, os.stat_result) and st.st_ino == os.stat("/proc/self/ns/pid").st_ino
    fd = files.opened(f"/proc/{me}/ns", directory=True)
    assert isinstance(fd, int)
    try:
        pid, missing, uts = files.links(["pid", "no-such-ns", "uts"], fd)
    finally:
        os.close(fd)
    assert isinstance(pid, str) and pid.startswith("pid:[")
    assert isinstance(uts, str) and uts.startswith("uts:[")
    assert missing == Unread("no-such-ns", "ENOENT", errno.ENOENT)


# -- the callers moved onto the reader ---------------------------------------------------


def test_tracee_ids_are_read_with_the_status_parser() -> None:
    with open(f"/proc/{os.getpid()}/status", "rb") as f:
        tracer = Status(f.read()).tracer_pid
    assert tracee.ids(os.getpid()) == (os.getpid(), os.getppid(), tracer)
    assert tracee.ids(FREE) == (None, None, None)
    assert tracee.in_clone(FREE) is False  # gone: in no clone
    status = Status(b"Name:\tx\nTgid:\t12\nPPid:\t-1\nTracerPid:\t\n")
    assert (status.number(b"Tgid"), status.number(b"PPid"), status.number(b"TracerPid")) == (
        12,
        None,
        None,
    )
    assert status.number(b"NoSuchLine") is None


def test_name_of_a_live_and_a_gone_task() -> None:
    done = threading.Event()
    t = threading.Thread(target=done.wait, name="reader-test")
    t.start()
    try:
        tid = t.native_id
        assert tid is not None
        with open(f"/proc/{os.getpid()}/task/{tid}/comm") as f:
            assert name_of(tid, os.getpid()) == f.read().rstrip("\n")
    finally:
        done.set()
        t.join()
    assert name_of(FREE, FREE) is None


def test_children_of_a_pid_the_kernel_gave() -> None:
    """Our pid from the kernel (/proc/self), not from libc, can be passed."""
    ours = files.link("/proc/self")
    assert isinstance(ours, str)
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in reaper.children(int(ours))
        assert reaper.children(FREE) == set()
    finally:
        child.kill()
        child.wait()


def test_end_all_ends_our_children_and_what_they_leave_us() -> None:
    """end_all ends our children, found through /proc/self and signalled
    through a pidfd the kernel says is ours; a grandchild is ended once its
    parent's death makes it ours (we are its subreaper)."""
    got = python(
        """
        import json, os, signal, subprocess
        from tidscope.core import reaper
        child = subprocess.Popen(["sh", "-c", "sleep 30 & echo $!; wait"], stdout=subprocess.PIPE)
        grandchild = int(child.stdout.readline())
        before = child.pid in reaper.own_children()
        with reaper.subreaper():
            reaper.end_all(signal.SIGTERM, 2.0)
        try:
            os.kill(grandchild, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        print(json.dumps([before, sorted(reaper.own_children()), alive]))
        """
    )
    assert got == [True, [], False]


def test_claim_takes_only_what_the_kernel_says_is_ours() -> None:
    """A pidfd is kept for our child only: not for our parent, nor pid 1."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        fd = reaper.claim(child.pid)
        assert fd is not None
        os.close(fd)
        assert reaper.claim(os.getppid()) is None
        assert reaper.claim(1) is None
        assert reaper.claim(FREE) is None
    finally:
        child.kill()
        child.wait()


def test_clone_errors_read_the_limits_they_name() -> None:
    text = clone_errors.task_limits()
    for name in ("threads-max", "pid_max"):
        with open(f"/proc/sys/kernel/{name}") as f:
            assert f"kernel.{name}={f.read().strip()}" in text, text
    assert "? tasks now" not in text and "=?" not in text, text
    assert clone_errors._tasks_of(os.getuid()) >= threading.active_count()


# -- the changed modules import on their own ---------------------------------------------

CHANGED = [
    "tidscope.proc.files",
    "tidscope.proc.files",
    "tidscope.proc.taskdir",
    "tidscope.proc.taskfiles",
    "tidscope.proc.task",
    "tidscope.core.reaper",
    "tidscope.core.clone_errors",
    "tidscope.watch.connector",
    "tidscope.watch.tracee",
    "tidscope.watch.poll",
    "tidscope.lab.probes",
    "tidscope.lab.experiments.base",
    "tidscope.inspector.fields",
    "tidscope.inspector.autopsy",
    "tidscope.share.groups",
    "tidscope.ps.ttys",
    "tidscope.tree.hierarchy",
]


@pytest.mark.parametrize("module", CHANGED)
def test_a_changed_module_imports_alone(module: str) -> None:
    name, code, err = _import_alone(module)
    assert code == 0, f"import {name}: {err}"
