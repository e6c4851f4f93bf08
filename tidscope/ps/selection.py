"""Which tasks ``tidscope ps`` lists: procps's selections and their lists.

As in procps, the lists add up: a task is listed when any list names it
(``-p`` its process, ``--tid`` itself, ``-u``/``-U`` its effective/real
user, ``-g`` its session or effective group, ``-G`` its real group, ``-C``
its name, ``--ppid`` its parent, ``-t`` its terminal, ``-s`` its session),
and ``-A``/``-e`` lists everything whatever else is given.  Each task is
judged on its own, so with ``-L``/``-T`` a thread's own name, users and
groups count.  A BSD form without a list and without both ``a`` and ``x``
lists, as procps's table does, the caller's own processes that have a
terminal; ``a`` adds other users', ``x`` those without a terminal.
Without any selection tidscope lists every process (procps lists the
caller's on its terminal).

Every list is read with procps's rules (proc/selectors.py: ids, users
and groups by number or name); a bad item is one UsageError naming it and
the fix.
"""

from __future__ import annotations

import os

from tidscope.errors import UsageError
from tidscope.numeric import kernel_ints
from tidscope.proc import selectors
from tidscope.proc.snapshot import STATUS
from tidscope.proc.task import Task

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

# procps's table of simple selections: a bit for each kind of task, the kind
# numbered 1 if it is ours (its effective uid ours), + 2 if a session
# leader, + 4 if without a terminal; a task is listed if its kind's bit is set
BSD_DEFAULT = 0x0A  # a BSD form without a selection (and g): ours, with a terminal
BSD_A = 0x0F  # a: every process with a terminal
BSD_X = 0xAA  # x: ours
TTY_NOT_LEADERS = 0x03  # Unix -a: with a terminal, no session leader
NOT_LEADERS = 0x33  # Unix -d
EITHER = 0x3F  # Unix -a -d: no session leader, or with a terminal
EVERYTHING = 0xFF  # BSD ax


def sessions_or_groups(values: Iterable[str]) -> tuple[frozenset[int], frozenset[int]]:
    """``-g``: (sessions, effective groups).  As procps: the whole list is
    session IDs if every item is a process ID, else group IDs or names."""
    from tidscope.proc.selectors import parse_ids

    values = list(values)
    try:
        return frozenset(parse_ids(values, "-g")), frozenset()
    except UsageError:
        pass
    try:
        return frozenset(), selectors.groups(values, "-g")
    except UsageError as err:
        raise UsageError(
            f"{err.message.rstrip('.')} (-g takes session IDs, or effective groups by name or ID)"
        ) from None


def ttys(values: Iterable[str]) -> frozenset[int]:
    """``-t`` terminals as device numbers (0 for none: ``-`` or ``?``),
    looked up as procps looks them up: a path, else /dev/pts/NAME,
    /dev/NAME, /dev/ttyNAME, /dev/ptyNAME, /dev/NAMEnsole."""
    found = set()
    for item in selectors.items(values, "-t", "pts/0"):
        found.add(_tty(item))
    return frozenset(found)


def _tty(item: str) -> int:
    import stat

    if item.startswith("/"):
        paths = [item]
    else:
        paths = [f"/dev/pts/{item}", f"/dev/{item}", f"/dev/tty{item}", f"/dev/pty{item}"]
        paths.append(f"/dev/{item}nsole")
    for path in paths:
        try:
            info = os.stat(path)
        except (OSError, ValueError):
            continue
        if not stat.S_ISCHR(info.st_mode):
            raise UsageError(
                f"-t {item!r}: {path} is not a terminal: give a terminal such as pts/0 or tty1"
            )
        return info.st_rdev & 0xFFFFFFFF
    if item in ("-", "?"):
        return 0
    if len(item) == 1 and os.path.exists(item):  # procps: a '?' the shell expanded
        return 0
    raise UsageError(
        f"-t {item!r}: no such terminal in /dev: give e.g. -t pts/0, -t tty1,"
        " or -t - for tasks without one"
    )


def _ids(status_line: bytes) -> tuple[int, ...]:
    return kernel_ints(*status_line.split()) or ()


def euid(task: Task) -> int | None:
    """The effective user ID, from ``status`` as procps reads it."""
    status = task.status
    return status.uids[1] if status is not None and len(status.uids) > 1 else None


def ruid(task: Task) -> int | None:
    status = task.status
    return status.uids[0] if status is not None and status.uids else None


def gids(task: Task) -> tuple[int, ...]:
    """(real, effective, saved, filesystem) group IDs from ``status``."""
    status = task.status
    return _ids(status.fields.get(b"Gid", b"")) if status is not None else ()


def session(task: Task) -> int:
    return int(task.field(6) or b"0")


class Selection:
    """The selections of one command line, as one predicate on tasks.

    ``everything`` is -A/-e (or BSD ``ax``); ``table`` is procps's table
    of simple selections (Unix -a and -d, BSD a, x and g: the bits above),
    or None; each list is a set of the values it names; ``negate`` (-N)
    lists what the rest does not.
    """

    def __init__(
        self,
        *,
        everything: bool = False,
        negate: bool = False,
        table: int | None = None,
        pids: frozenset[int] = frozenset(),
        tids: frozenset[int] = frozenset(),
        users: frozenset[int] = frozenset(),
        real_users: frozenset[int] = frozenset(),
        sessions: frozenset[int] = frozenset(),
        groups: frozenset[int] = frozenset(),
        real_groups: frozenset[int] = frozenset(),
        commands: frozenset[bytes] = frozenset(),
        ppids: frozenset[int] = frozenset(),
        ttys: frozenset[int] = frozenset(),
    ) -> None:
        self.everything = everything
        self.negate = negate
        self.table = table
        self.pids = pids
        self.tids = tids
        self.tests: list[Callable[[Task], bool]] = []
        self.needs: frozenset[str] = frozenset()
        self._lists(users, real_users, sessions, groups, real_groups, commands, ppids, ttys)

    def _lists(
        self,
        users: frozenset[int],
        real_users: frozenset[int],
        sessions: frozenset[int],
        groups: frozenset[int],
        real_groups: frozenset[int],
        commands: frozenset[bytes],
        ppids: frozenset[int],
        ttys: frozenset[int],
    ) -> None:
        tests = self.tests
        if self.pids:
            tests.append(lambda t: t.tgid in self.pids)
        if self.tids:
            tests.append(lambda t: t.tid in self.tids)
        if users:
            tests.append(lambda t: euid(t) in users)
        if real_users:
            tests.append(lambda t: ruid(t) in real_users)
        if groups:
            tests.append(lambda t: (gids(t) or (None, None))[1] in groups)
        if real_groups:
            tests.append(lambda t: (gids(t) or (None,))[0] in real_groups)
        if sessions:
            tests.append(lambda t: session(t) in sessions)
        if commands:
            tests.append(lambda t: selectors.named(t, commands))
        if ppids:
            tests.append(lambda t: t.ppid in ppids)
        if ttys:
            tests.append(lambda t: t.tty_nr in ttys)
        if users or real_users or groups or real_groups or self.table:
            self.needs = frozenset({STATUS})

    @property
    def listed(self) -> bool:
        """Whether any list was given (then, without a BSD table, only they count)."""
        return bool(self.tests)

    @property
    def ids_only(self) -> bool:
        """Whether only -p and --tid select: then only those tasks need reading."""
        return (
            not self.everything
            and not self.negate
            and self.table is None
            and bool(self.pids or self.tids)
            and (len(self.tests) == bool(self.pids) + bool(self.tids))
        )

    @property
    def all_tasks(self) -> bool:
        """Whether every task is listed (-A, or no selection at all)."""
        return not self.negate and (self.everything or (self.table is None and not self.tests))

    def wants(self, task: Task) -> bool:
        """procps's want_this_proc: -A, else the table, else any list;
        the opposite with -N."""
        return self._wants(task) != self.negate

    def _wants(self, task: Task) -> bool:
        if self.everything or (self.table is None and not self.tests):
            return True
        if self.table is not None and _in_table(task, self.table):
            return True
        return any(test(task) for test in self.tests)


_EUID = os.geteuid()


def _in_table(task: Task, table: int) -> bool:
    """procps's table_accept: whether the bit of the task's kind is set."""
    kind = int(euid(task) == _EUID)
    kind |= (session(task) == task.tgid) << 1
    kind |= (task.tty_nr == 0) << 2
    return bool(table >> kind & 1)
