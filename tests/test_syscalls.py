"""The raw syscall gateway (tidscope.core.syscalls over tidscope.core._syscall).

Its failures under a seccomp filter (a -1 that libc's wrapper would have
handed back as a pid) are tests/test_sabotage.py's; its numbers are checked
against the kernel's table there and in test_inspect.py.
"""

from __future__ import annotations

import errno
import os
import re
import threading
from pathlib import Path

import pytest

from tidscope.core import syscalls
from tidscope.core.syscalls import SYSCALLS, by_number, syscall

PACKAGE = Path(syscalls.__file__).resolve().parent.parent


def test_identity_comes_from_the_kernel() -> None:
    assert syscall("getpid") == os.getpid()
    assert syscall("getppid") == os.getppid()
    assert syscall("gettid") == threading.get_native_id()
    assert by_number(SYSCALLS["getuid"]) == os.getuid()


def test_a_failure_names_the_syscall() -> None:
    with pytest.raises(OSError) as caught:
        syscall("close", -1)
    assert caught.value.errno == errno.EBADF
    assert caught.value.filename == "close"
    assert str(caught.value).startswith("[Errno 9] Bad file descriptor: 'close'")


def test_by_number_leaves_the_errno_to_the_caller() -> None:
    with pytest.raises(OSError) as caught:
        by_number(SYSCALLS["close"], -1)
    assert caught.value.errno == errno.EBADF
    assert caught.value.filename is None


def test_a_writable_buffer_passes_by_address() -> None:
    uts = bytearray(6 * 65)  # struct utsname: six fields of 65 bytes
    assert syscall("uname", uts) == 0
    assert uts[:65].rstrip(b"\0") == os.uname().sysname.encode()
    view = memoryview(bytearray(6 * 65))
    assert by_number(SYSCALLS["uname"], view) == 0
    assert bytes(view[:65]).rstrip(b"\0") == os.uname().sysname.encode()


def test_what_the_gateway_refuses() -> None:
    with pytest.raises(BufferError):
        syscall("uname", b"\0" * 390)  # type: ignore[arg-type]  # read-only: the kernel writes
    with pytest.raises(TypeError, match="1 to 7 arguments"):
        by_number(SYSCALLS["getpid"], 0, 0, 0, 0, 0, 0, 0)
    with pytest.raises(TypeError):
        by_number()  # type: ignore[call-arg]
    with pytest.raises(KeyError):
        syscall("no_such_call")


def test_the_gateway_is_reached_through_its_face_only() -> None:
    """Every module but core/syscalls.py calls syscall() or by_number()."""
    importers = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if re.search(r"\b_syscall\b", path.read_text())
    ]
    assert importers == ["core/syscalls.py"]
