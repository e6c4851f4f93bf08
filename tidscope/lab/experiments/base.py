"""What an experiment returns, and how its observations say whether they were made.

An observation is a value or an :class:`~tidscope.proc.files.Unread`: the
step (a syscall, ours or the child's) that could not be carried out, with
its errno (:func:`~tidscope.proc.files.failed` makes one).  An Unread is
never evidence: every check computed from it is that same Unread, and a
row that cites one is an ``error``, never ``pass`` or ``fail``.
"""

from __future__ import annotations

import errno as errnos
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tidscope.core import flags
from tidscope.core.clone import Report

# ours is defined in probes, which the experiments import: were it defined
# here, probes would import this package, whose __init__ imports
# experiments.clone3, which imports probes (a cycle that broke `import
# tidscope.lab.probes` on its own).  It is this module's name still, and so
# are Unread and failed, the package's one "not observed".
from tidscope.lab.probes import ours
from tidscope.proc.files import Unread, failed

__all__ = [
    "Check",
    "Experiment",
    "Probe",
    "Run",
    "Unobservable",
    "Unread",
    "child",
    "effect",
    "failed",
    "negate",
    "ours",
    "shown",
]

T = TypeVar("T")


class Unobservable(Exception):
    """The experiment cannot be set up here (the message says why)."""


# An observation's verdict: the effect showed (True), did not (False), cannot
# be seen here by design (None), or could not be observed (Unread).
Check = bool | Unread | None


@dataclass
class Run:
    """One clone's observations, each a :data:`Check`; for a flag the
    kernel is documented to ignore, ``properties``: what the child was like,
    each as text (or the step that failed), compared with and without it."""

    checks: dict[str, Check]
    evidence: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, str | Unread] = field(default_factory=dict)


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
    ignored: bool = False  # documented as ignored: its properties are compared

    @property
    def bit(self) -> int:
        return flags.FLAGS[self.flag]


def child(rep: Report, index: int, step: str) -> int | Unread:
    """What op ``index`` of the child's program returned, or why it tells nothing."""
    # A guard (see probes.spawn_one) stops a program only after the ops
    # before it ran.
    if not rep.ran and (rep.stopped_at is None or index >= rep.stopped_at):
        return failed(f"child {step} (the child did not run its program)", errnos.ETIMEDOUT)
    rc = rep.results[index]
    return failed(f"child {step}", -rc) if rc < 0 else rc


def effect(test: Callable[..., T], *values: Any) -> T | Unread:
    """``test(*values)``, unless one of the values was not observed: then
    the first such Unread, which no verdict counts as evidence."""
    for value in values:
        if isinstance(value, Unread):
            return value
    return test(*values)


def negate(value: Check) -> Check:
    return value if value is None or isinstance(value, Unread) else not value


def shown(value: Any) -> Any:
    """An evidence value as JSON can carry it (an Unread as its text)."""
    return str(value) if isinstance(value, Unread) else value
