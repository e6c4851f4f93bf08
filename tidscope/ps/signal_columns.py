"""The signal mask ``-o`` columns (``pending``, ``blocked``, ``caught``,
``ignored`` and their aliases), read from ``status`` as procps 4.0.2 reads
them, and the signals' names for ``--signames``.

A row read from ``/proc/<pid>`` (a process, or a group's leader with
``-T``) shows the process's pending set (``ShdPnd``) as ``pending``,
another thread's row its own (``SigPnd``); ``tsig`` is always the task's
own.  A cell is the 16 hex digits ``status`` holds; layout.Layout cuts it
to 8 on a narrow screen, or fits the names in their room, as procps does.
A mask that cannot be read is an empty cell, which procps (and Layout)
print as 8 zeros; its JSON/CSV value is None.
"""

from __future__ import annotations

from tidscope.proc import masks
from tidscope.proc.snapshot import STATUS
from tidscope.proc.task import Task
from tidscope.proc.taskfiles import task_status_line
from tidscope.ps.context import SIGNAL, Spec

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from tidscope.ps.context import Context

HEX = frozenset(b"0123456789abcdefABCDEF")

_S = frozenset({STATUS})


def _mask(t: Task, key: bytes) -> str | None:
    """A mask as ``status`` writes it (16 hex digits), or None."""
    if key == b"ShdPnd" and t.tid != t.tgid:
        key = b"SigPnd"  # procps: a thread row's pending set is its own
    mask = task_status_line(t, key)
    if key == b"ShdPnd" and mask is None:
        mask = task_status_line(t, b"SigPnd")  # kernels before 2.6: one set only
    if not mask or len(mask) > 16 or not HEX.issuperset(mask):
        return None
    return mask.decode("ascii")


def signal_names(mask: str) -> list[str]:
    """The signals a hex mask holds, by procps's names, lowest first."""
    return masks.procps_names(int(mask, 16))


def _signal(key: str, header: str, field: bytes) -> Spec:
    """A mask column: the hex ``status`` holds (layout.Layout cuts it to 8
    digits on a narrow screen), with ``--signames`` the signals' names
    (``-`` for none).  A mask that could not be read is empty, which
    procps, and Layout, print as 8 zeros."""

    def text(t: Task, c: Context) -> str:
        mask = _mask(t, field)
        if mask is None:
            return ""
        if c.signames:
            return ",".join(signal_names(mask)) or "-"
        return mask

    def value(t: Task, c: Context) -> str | list[str] | None:
        mask = _mask(t, field)
        if mask is None or not c.signames:
            return mask
        return signal_names(mask)

    return (key, header, 9, SIGNAL, _S, text, value)


SPECS: dict[str, Spec] = {
    "pending": _signal("pending", "PENDING", b"ShdPnd"),
    "sig": _signal("pending", "PENDING", b"ShdPnd"),
    "sig_pend": _signal("pending", "SIGNAL", b"ShdPnd"),
    "tsig": _signal("tsig", "PENDING", b"SigPnd"),
    "blocked": _signal("blocked", "BLOCKED", b"SigBlk"),
    "sigmask": _signal("blocked", "BLOCKED", b"SigBlk"),
    "sig_block": _signal("blocked", "BLOCKED", b"SigBlk"),
    "caught": _signal("caught", "CAUGHT", b"SigCgt"),
    "sigcatch": _signal("caught", "CAUGHT", b"SigCgt"),
    "sig_catch": _signal("caught", "CATCHED", b"SigCgt"),
    "ignored": _signal("ignored", "IGNORED", b"SigIgn"),
    "sigignore": _signal("ignored", "IGNORED", b"SigIgn"),
    "sig_ignore": _signal("ignored", "IGNORED", b"SigIgn"),
}
