"""Reading /proc's files: the one way tidscope opens and reads them (and
lists, stats and follows the links of /proc and cgroup entries), and what
an entry that cannot be read means.

Two kinds of answer, for two kinds of caller:

- :func:`read` and :func:`read_all` give the bytes or None.  For ps, tree
  and watch a task can vanish between listing and reading, and a file may
  be one we may not read (``hidepid``, another user's task): races and
  refusals are ordinary control flow there, and the callers show what they
  could read.  Any other failure (EIO...: :data:`~tidscope.proc.files.LEFT_OUT`
  says which are left out) is raised, naming the file: a failed read is no
  empty answer.  (:func:`read` is the hot path of ``ps -T``.)
- :func:`contents`, :func:`opened`, :func:`link`, :func:`links`,
  :func:`listing` and :func:`stat_of` give the answer or an
  :class:`~tidscope.proc.files.Unread` that names the step (by default the
  failing call and the path: ``open /proc/1/status``) and the errno: gone,
  refused, or a real failure (EIO...) stay apart, for callers that must not
  take one for another (inspect's fields, the labs' observations).

Running out of descriptors or memory is ours, not the file's, and raised
(``raises``, by default :data:`EXHAUSTED`); a caller that must report every
failure as an Unread, the labs', passes ``raises=NOTHING``.

Files are read as bytes with one ``os.open`` and as few ``os.read`` calls as
the file needs; the procfs root is a parameter so that tests, and users with
a second proc mount, can point it elsewhere.  A root that is not the
kernel's (``--proc-root`` at a copy, or a hostile tree) may hold anything
where a file should be: every open is non-blocking (a FIFO cannot hang us),
every read is capped (``/dev/zero`` cannot fill memory), and anything but a
regular file reads as unreadable, like a hidden one.  The per-task files of
a root that is a proc mount skip that check (``check=False``: an ``fstat``
per file would cost a tenth of a ``ps -T``): there the kernel makes every
file, regular (see root.is_proc_mount).

:class:`Unread` is tidscope's one "not read": a value that was not
observed, and why.  (The module is longer than 400 lines because the
reader and the value it answers with are one idea: every caller of the one
meets the other.)  Whatever could not be read or seen (a /proc file, a
line of it, a link, a directory listing, a syscall of a lab, a psutil
call) is an :class:`Unread` naming ``where`` it failed and ``why``: an
errno by name (``errno`` holds its number), or what the file held instead
of what was asked for (``errno`` 0).  It is never a value: a field shows
it as not readable, a lab's verdict built on it is an error.

What an errno means here is told by the properties, so that no caller takes
one failure for another: :attr:`Unread.gone` (the task, or the file, is no
longer there), :attr:`Unread.refused` (it is there, but not ours to read:
``hidepid``, another user's task, a ptrace check), :attr:`Unread.exhausted`
(we ran out of descriptors or memory: ours, not the file's); anything else
(EIO, EINVAL...) is a failing read, never an empty answer.
"""

from __future__ import annotations

import errno as errnos
import os
import stat

from tidscope.errors import errno_name

# A task, or one of its files, that is no longer there.  (ENOENT is also a
# kernel built without that file: see taskdir.TaskDir.gone.)
VANISHED = frozenset({errnos.ENOENT, errnos.ESRCH})
# Not ours to look at: hidepid, another user's task, a ptrace access check.
REFUSED = frozenset({errnos.EACCES, errnos.EPERM})
# Errors that are ours, not the file's: reported, never taken for a hidden task.
EXHAUSTED = frozenset({errnos.EMFILE, errnos.ENFILE, errnos.ENOMEM})
# What a listing leaves out: a task gone or not ours to see, and what no
# /proc file answers (a fake root's socket, symbolic-link loop, device or
# directory).  Any other failure (EIO, EINVAL, our EMFILE...) is raised by
# the readers that answer None: a failed read is no empty answer.
LEFT_OUT = (
    VANISHED
    | REFUSED
    | frozenset(
        {
            errnos.ENOTDIR,
            errnos.ELOOP,
            errnos.ENXIO,
            errnos.ENODEV,
            errnos.EISDIR,
            errnos.EOPNOTSUPP,
        }
    )
)


class Unread:
    """A value not observed: ``where`` (a file, a line of it, a step such as
    ``open /proc/1/status`` or ``kcmp KCMP_VM``, a psutil call) did not give
    it, for ``why`` (an errno's name, ``errno`` its number; or what the file
    said instead, ``errno`` 0).  Compared by value, and never changed once
    made.  (A plain class: proc/files.py is imported by ``tidscope ps``,
    which must not pay for importing dataclasses.)"""

    __slots__ = ("errno", "where", "why")

    where: str
    why: str
    errno: int

    def __init__(self, where: str, why: str, errno: int = 0) -> None:
        self.where = where
        self.why = why
        self.errno = errno

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Unread):
            return NotImplemented
        return (self.where, self.why, self.errno) == (other.where, other.why, other.errno)

    def __hash__(self) -> int:
        return hash((self.where, self.why, self.errno))

    def __repr__(self) -> str:
        return f"Unread({self.where!r}, {self.why!r}, {self.errno!r})"

    def __str__(self) -> str:
        return f"{self.where}: {self.why}"

    @property
    def gone(self) -> bool:
        """The task or file is no longer there (ENOENT, ESRCH)."""
        return self.errno in VANISHED

    @property
    def refused(self) -> bool:
        """There, but not ours to read (EACCES, EPERM)."""
        return self.errno in REFUSED

    @property
    def exhausted(self) -> bool:
        """We ran out of descriptors or memory (EMFILE, ENFILE, ENOMEM)."""
        return self.errno in EXHAUSTED

    def error(self) -> OSError:
        """This failure as the OSError it was (``filename`` is ``where``);
        for one that was no syscall's (``errno`` 0), an OSError with no errno."""
        if not self.errno:
            return OSError(str(self))
        return OSError(self.errno, os.strerror(self.errno), self.where)


def failed(where: str, err: OSError | int) -> Unread:
    """What a failed syscall on ``where`` tells: its errno (``err``, or the
    OSError's), by name."""
    code = err if isinstance(err, int) else err.errno or 0
    return Unread(where, errno_name(code), code)


TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    # What failed, before it is an Unread: the call and its errno, or
    # ("mode", st_mode) for what is no regular file.  (Numbers, not the
    # OSError: one kept past its except block holds its frame in a cycle.)
    Failure = tuple[str, int]

PROC = "/proc"
READ = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
DIRECTORY = READ | os.O_DIRECTORY
CHUNK = 4096  # one read holds any stat line; longer files are read to EOF

# The most of a file read: procps's cap for a command line; a status file
# lists at most 65,536 supplementary groups; the system tables (mountinfo,
# /proc/stat, tty/drivers) are read once.
CMDLINE_MAX = 128 * 1024
STATUS_MAX = 1024 * 1024
TABLE_MAX = 4 * 1024 * 1024

NOTHING: frozenset[int] = frozenset()  # raises=NOTHING: every failure is an Unread
_LEFT_OUT = (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError)


def passable(err: OSError) -> bool:
    """Whether ``err`` means "leave this file out" (gone, hidden, or not a
    file /proc would hold: a socket, a symlink loop...) rather than a
    failure to raise (EIO; no file descriptors or memory left).  By errno,
    or by the class Python gives each of those errnos."""
    return err.errno in LEFT_OUT or isinstance(err, _LEFT_OUT)


def kind(mode: int) -> str:
    """What a file of ``mode`` is, for messages: ``a FIFO``, ``a directory``..."""
    for test, name in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "no regular file"


# -- bytes or None: gone, hidden and unreadable alike -----------------------------------


def read(
    path: str, dir_fd: int | None = None, check: bool = True, size: int = CHUNK
) -> bytes | None:
    """One read of at most ``size`` bytes of a small file (``stat``,
    ``comm``), or None if it is gone, hidden or no regular file.
    ``check=False`` skips the last test: for the kernel's own files (see
    :func:`is_proc_mount`).  (The hot path of ``ps -T`` and of ``watch``'s
    names: :func:`opened` inlined; a task that is gone, the usual failure,
    is told by its class, which costs less than looking at its errno.)"""
    try:
        fd = os.open(path, READ, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as err:
        if not passable(err):
            raise
        return None
    try:
        if check and not _regular(fd):
            return None
        return os.read(fd, size)
    except OSError as err:
        if not passable(err):
            raise OSError(err.errno, err.strerror, path) from None
        return None
    finally:
        os.close(fd)


def _regular(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def read_all(
    path: str, dir_fd: int | None = None, limit: int = STATUS_MAX, check: bool = True
) -> bytes | None:
    """A whole file (``status``, ``cmdline``) up to ``limit`` bytes, or None
    as :func:`read` (:func:`contents` says why)."""
    got = _whole(path, dir_fd, limit, check, EXHAUSTED)
    if isinstance(got, bytes):
        return got
    call, number = got
    if call != "mode" and number not in LEFT_OUT:
        raise OSError(number, os.strerror(number), path)
    return None


def read_fd(fd: int, limit: int) -> bytes:
    """The open file ``fd`` read to its end, up to ``limit`` bytes; an
    error is raised, for the caller to judge."""
    chunks = []
    left = limit
    while left > 0 and (chunk := os.read(fd, min(CHUNK * 4, left))):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# -- the answer, or an Unread that says why not ---------------------------------------


def _whole(
    path: str, dir_fd: int | None, limit: int, check: bool, raises: Collection[int]
) -> bytes | Failure:
    """The whole file, or what failed (no Unread is made here: for
    :func:`read_all`, a task that is gone costs no more than it did)."""
    try:
        fd = os.open(path, READ, dir_fd=dir_fd)
    except OSError as err:
        if err.errno in raises:
            raise
        return "open", err.errno or 0
    try:
        if check:
            problem = _irregular(fd, raises)
            if problem is not None:
                return problem
        return read_fd(fd, limit)
    except OSError as err:
        if err.errno in raises:
            raise
        return "read", err.errno or 0
    finally:
        _close(fd)


def _irregular(fd: int, raises: Collection[int]) -> Failure | None:
    """None if ``fd`` is a regular file; else why not."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError as err:
        if err.errno in raises:
            raise
        return "fstat", err.errno or 0
    return None if stat.S_ISREG(mode) else ("mode", mode)


def _unread(failure: Failure, path: str | int, where: str | None) -> Unread:
    """What failed as an Unread of ``where``, else of ``call path``."""
    call, number = failure
    if call == "mode":
        named = str(path) if where is None else where
        return Unread(named, f"is {kind(number)}, not a regular file")
    return failed(f"{call} {path}" if where is None else where, number)


def _failed(
    call: str, path: str | int, where: str | None, err: OSError, raises: Collection[int]
) -> Unread:
    """``err`` as an Unread, or raised if its errno is one of ``raises``."""
    if err.errno in raises:
        raise err
    return _unread((call, err.errno or 0), path, where)


def opened(
    path: str,
    dir_fd: int | None = None,
    check: bool = False,
    *,
    directory: bool = False,
    where: str | None = None,
    raises: Collection[int] = EXHAUSTED,
) -> int | Unread:
    """``path`` open to read (a directory: ``directory``), for the caller
    to close; or why not.  ``check``: anything but a regular file is an
    Unread too (``is a FIFO``, errno 0)."""
    try:
        fd = os.open(path, DIRECTORY if directory else READ, dir_fd=dir_fd)
    except OSError as err:
        return _failed("open", path, where, err, raises)
    if check:
        try:
            problem = _irregular(fd, raises)
        except OSError:
            _close(fd)
            raise
        if problem is not None:
            _close(fd)
            return _unread(problem, path, where)
    return fd


def contents(
    path: str,
    dir_fd: int | None = None,
    limit: int = STATUS_MAX,
    check: bool = True,
    *,
    where: str | None = None,
    raises: Collection[int] = EXHAUSTED,
) -> bytes | Unread:
    """A whole file up to ``limit`` bytes; or an Unread naming ``where``
    (by default the failing call and ``path``: ``open /proc/1/status``,
    ``read /proc/1/status``) and the errno.  ``check`` as for :func:`read`."""
    got = _whole(path, dir_fd, limit, check, raises)
    return got if isinstance(got, bytes) else _unread(got, path, where)


def _close(fd: int) -> None:
    """close(2) of a descriptor only read from: what was read stands, and
    Linux frees the descriptor even when close fails, so a failure is no
    answer of the file's (a lab under sabotage must still see its read).
    (No contextlib.suppress: its object would cost read_all a twentieth.)"""
    try:  # noqa: SIM105
        os.close(fd)
    except OSError:
        pass


def link(
    path: str,
    dir_fd: int | None = None,
    *,
    where: str | None = None,
    raises: Collection[int] = EXHAUSTED,
) -> str | Unread:
    """Where the symbolic link ``path`` points (``ns/pid``, ``fd/2``,
    ``/proc/self``); or why it could not be read."""
    try:
        return os.readlink(path, dir_fd=dir_fd)
    except OSError as err:
        return _failed("readlink", path, where, err, raises)


def links(
    names: Sequence[str], dir_fd: int, raises: Collection[int] = EXHAUSTED
) -> list[str | Unread]:
    """Each link of ``names`` in the open directory ``dir_fd`` (a task's
    ``ns/``), in order; one that fails is an Unread named for it.  All are
    read in one loop first: one that fails is rare, and only then is each
    read on its own, to keep the errno of each."""
    try:
        return [os.readlink(name, dir_fd=dir_fd) for name in names]
    except OSError:
        return [link(name, dir_fd, where=name, raises=raises) for name in names]


def listing(
    path: str | int, *, where: str | None = None, raises: Collection[int] = EXHAUSTED
) -> list[str] | Unread:
    """The names in directory ``path`` (or the open directory ``path``),
    in the kernel's order; or why it could not be listed."""
    try:
        return os.listdir(path)
    except OSError as err:
        return _failed("listdir", path, where, err, raises)


def stat_of(
    path: str,
    dir_fd: int | None = None,
    *,
    where: str | None = None,
    raises: Collection[int] = EXHAUSTED,
) -> os.stat_result | Unread:
    """stat(2) of ``path``, following links (an ``ns/*`` link gives its
    namespace's inode); or why not."""
    try:
        return os.stat(path, dir_fd=dir_fd)
    except OSError as err:
        return _failed("stat", path, where, err, raises)
