"""What an experiment returns, and the verdict helpers its probes share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tidscope import flags


class Unobservable(Exception):
    """The experiment cannot be set up here (the message says why)."""


@dataclass
class Run:
    """One clone's observations: for each, whether the flag's effect showed
    (True), did not (False) or could not be seen (None)."""

    checks: dict[str, bool | None]
    evidence: dict[str, Any] = field(default_factory=dict)


Probe = Callable[[int], Run]


@dataclass(frozen=True)
class Experiment:
    flag: str
    effect: str  # what the flag makes the child share or get
    method: str  # how we look
    base: int  # flags that make the flag valid, without it
    probe: Probe | None = None
    clone3: bool = False  # clone3-only: base is clone3 flags, exit signal SIGCHLD
    isolated: bool = False  # needs a lab with its own namespaces (or a user namespace)
    skip: str | None = None  # no honest experiment: why

    @property
    def bit(self) -> int:
        return flags.FLAGS[self.flag]


def negate(value: bool | None) -> bool | None:
    return None if value is None else not value


def if_ran(rc: int, effect: bool) -> bool | None:
    """An effect that needs the child's syscall to have succeeded."""
    return effect if rc >= 0 else None
