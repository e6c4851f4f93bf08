"""``verify-threads``: run the thread facts (lab/facts/) and judge them.

A fact is ``pass`` only when every look was made, at least one where the
statement says something happens and one where it says it does not, and
every look came out as stated; ``fail`` needs every look made and one
that contradicts the statement.  A look that was not made (its syscall
failed, a wait passed its deadline) is never evidence: the row is
``error``, naming the step and the errno.  A fact this machine cannot
show (no privilege, no kernel support, said which) is ``skip``, never
``pass``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from tidscope.core import reaper
from tidscope.core.clone import SpawnError
from tidscope.errors import describe
from tidscope.lab import runner as lab
from tidscope.lab.experiments.base import shown
from tidscope.lab.facts import BY_NAME, FACTS, Fact, Unobservable
from tidscope.lab.verify import given_names
from tidscope.proc.files import Unread

COLUMNS = ("fact", "verdict", "statement", "reason")
JSON_COLUMNS = ("fact", "statement", "method", "shows", "contrast", "verdict", "reason")
SIDES = ("shows", "contrast")  # where the statement says it happens; where it does not


@dataclass
class Row:
    fact: str
    statement: str
    method: str
    shows: str
    contrast: str
    verdict: str
    reason: str
    evidence: dict[str, Any]


def _plain(value: Any) -> Any:
    return {"failed": str(value), "errno": value.errno} if isinstance(value, Unread) else value


def _lab_body(fact: Fact) -> Callable[[], dict[str, Any]]:
    def body() -> dict[str, Any]:
        try:
            seen = fact.observe()
        except Unobservable as err:
            return {"unobservable": str(err)}
        except SpawnError as err:
            return {"errno": err.errno, "error": err.message}
        except OSError as err:
            return {"errno": err.errno, "error": describe(err, err.filename or "syscall")}
        return {
            "shows": {k: _plain(v) for k, v in seen.shows.items()},
            "contrast": {k: _plain(v) for k, v in seen.contrast.items()},
            "evidence": {k: shown(v) for k, v in seen.evidence.items()},
        }

    return body


def _failed(look: Any) -> bool:
    return isinstance(look, dict) and "failed" in look


def _summary(looks: dict[str, Any]) -> str:
    marks = {True: "yes", False: "no", None: "n/a"}
    return " ".join(f"{k}={'error' if _failed(v) else marks[v]}" for k, v in looks.items())


def judge(fact: Fact, outcome: dict[str, Any]) -> Row:
    """The verdict for one fact's lab outcome."""
    row = Row(fact.name, fact.statement, fact.method, "-", "-", "skip", "", dict(outcome))
    if "unavailable" in outcome:
        row.reason = outcome["unavailable"]
        return row
    if "unobservable" in outcome:
        row.reason = outcome["unobservable"]
        return row
    if "error" in outcome:
        row.verdict, row.reason = "error", outcome["error"]
        return row
    sides = {side: outcome[side] for side in SIDES}
    row.shows, row.contrast = _summary(sides["shows"]), _summary(sides["contrast"])
    failed = [v["failed"] for looks in sides.values() for v in looks.values() if _failed(v)]
    if failed:
        row.verdict = "error"
        row.reason = "not observed: " + "; ".join(dict.fromkeys(failed))
        return row
    made = {side: [k for k, v in looks.items() if v is not None] for side, looks in sides.items()}
    if not made["shows"] or not made["contrast"]:
        row.reason = "no observation could be made here on both sides of the statement"
        return row
    wrong = [k for looks in sides.values() for k, v in looks.items() if v is False]
    if wrong:
        row.verdict, row.reason = "fail", "not as stated: " + ", ".join(wrong)
        return row
    row.verdict = "pass"
    n_shows, n_contrast = len(made["shows"]), len(made["contrast"])
    row.reason = (
        f"{n_shows + n_contrast} looks as stated"
        f" ({n_shows} where it happens, {n_contrast} where it does not)"
    )
    skipped = [k for looks in sides.values() for k, v in looks.items() if v is None]
    if skipped:
        row.reason += f"; n/a here: {', '.join(skipped)}"
    if outcome.get("lab", "").startswith("in a new user"):
        row.reason += ", in a new user namespace"
    return row


def parse_names(names: Iterable[str]) -> list[str]:
    """Fact names as given; usage errors name the fix."""
    return given_names(names, BY_NAME, str.lower, "fact")


def _chosen(names: Iterable[str] | None) -> list[Fact]:
    wanted = None if names is None else set(names)
    return [f for f in FACTS if wanted is None or f.name in wanted]


def run_facts(names: Iterable[str] | None = None) -> list[Row]:
    with reaper.subreaper():
        return [judge(f, lab.run(_lab_body(f), isolated=f.isolated)) for f in _chosen(names)]


def not_run(names: Iterable[str] | None, reason: str) -> list[Row]:
    """The rows of facts that could not even start: ``reason``."""
    return [judge(f, {"error": reason}) for f in _chosen(names)]


def row_dict(row: Row, evidence: bool) -> dict[str, Any]:
    out = asdict(row)
    if evidence:
        out["evidence"] = row.evidence.get("evidence", {})
    else:
        out.pop("evidence")
    return out


def explain_lines(row: Row) -> list[str]:
    """The looks and the evidence behind one row, for people."""
    lines = [f"{row.fact}: {row.verdict}, {row.reason}", f"  statement: {row.statement}"]
    lines.append(f"  method: {row.method}")
    labels = {"shows": "where it happens", "contrast": "where it does not"}
    for side in SIDES:
        looks = row.evidence.get(side)
        if isinstance(looks, dict):
            lines.append(f"  {labels[side]}: {_summary(looks)}")
    for key, value in (row.evidence.get("evidence") or {}).items():
        lines.append(f"          {key} = {value!r}")
    return lines
