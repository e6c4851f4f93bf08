"""errors.describe: an OSError in words, one way everywhere."""

from __future__ import annotations

import errno

from tidscope.errors import describe, errno_name


def test_an_oserror_names_its_call_its_errno_and_what_it_means() -> None:
    err = OSError(errno.EMFILE, "Too many open files", "pipe2")
    assert describe(err) == "pipe2: EMFILE (Too many open files)"
    assert describe(err, "fork") == "fork: EMFILE (Too many open files)"


def test_an_errno_alone() -> None:
    assert describe(errno.EPERM) == "EPERM (Operation not permitted)"
    assert describe(errno.ESRCH, "kill") == "kill: ESRCH (No such process)"
    assert errno_name(4095) == "4095"


def test_an_error_with_no_errno_is_its_own_text() -> None:
    assert describe(OSError("no  errno\nhere")) == "no errno here"
