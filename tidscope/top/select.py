"""Which threads ``tidscope top`` reads: the lists of ``tidscope ps``
(proc/selectors.py), added up as procps adds them: a thread is shown when
any list names it (``-p`` its process, ``--tid`` itself, ``-u`` its
effective user, ``-C`` its own name); without a list, every thread."""

from __future__ import annotations

from tidscope.proc import selectors

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Protocol

    from tidscope.proc.selectors import Named

    class Thread(Named, Protocol):
        """What a selection looks at: a Task, or top's Reading."""

        @property
        def tid(self) -> int: ...
        @property
        def tgid(self) -> int: ...
        @property
        def uid(self) -> int | None: ...


class Selection:
    """The lists of one command line, as one predicate on threads."""

    def __init__(
        self,
        pids: frozenset[int] = frozenset(),
        tids: frozenset[int] = frozenset(),
        users: frozenset[int] = frozenset(),
        commands: frozenset[bytes] = frozenset(),
    ) -> None:
        self.pids = pids
        self.tids = tids
        self.users = users
        self.commands = commands

    @classmethod
    def parse(
        cls,
        pids: Sequence[str] = (),
        tids: Sequence[str] = (),
        users: Sequence[str] = (),
        commands: Sequence[str] = (),
    ) -> Selection:
        """The lists as typed (each option repeatable), read as ps reads them."""
        return cls(
            frozenset(selectors.parse_ids(pids, "-p")),
            frozenset(selectors.parse_ids(tids, "--tid")),
            selectors.users(users, "-u"),
            selectors.commands(commands),
        )

    @property
    def everything(self) -> bool:
        return not (self.pids or self.tids or self.users or self.commands)

    @property
    def ids_only(self) -> bool:
        """Only -p and --tid: only their groups need reading."""
        return bool(self.pids or self.tids) and not (self.users or self.commands)

    def wants(self, task: Thread) -> bool:
        if self.everything:
            return True
        return (
            task.tgid in self.pids
            or task.tid in self.tids
            or (bool(self.users) and task.uid in self.users)
            or (bool(self.commands) and selectors.named(task, self.commands))
        )
