"""``verify-flags``: run the experiments, judge them, and test combinations.

A verdict is ``pass`` only when every observation was made, all show the
flag's effect with the flag and none shows it without, at least one each
way.  ``fail`` needs the same: every observation made, and one
contradicting the documented effect.  A flag documented as ignored
(DETACHED) is ``ignored`` only when every property compared was observed
and each is the same both ways (``fail`` names those that differ).  An
observation whose syscall failed is never evidence: its row is ``error``,
naming the step and the errno.  An experiment that cannot run here is
``skip`` (no privilege, no kernel support) or ``error``, never ``pass``.
"""

from __future__ import annotations

import errno
import signal
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from tidscope.core import flags, reaper
from tidscope.core.clone import SpawnError
from tidscope.errors import describe, errno_name
from tidscope.lab import runner as lab
from tidscope.lab.experiments import BY_FLAG, EXPERIMENTS, Experiment, Run, Unobservable, Unread
from tidscope.lab.experiments.base import shown
from tidscope.lab.probes import spawn_one

SIGCHLD = int(signal.SIGCHLD)

# Errnos with which the kernel refuses a flag it will not grant us here:
# "cannot be done here", not "the experiment broke".
CANNOT = {errno.EPERM, errno.EACCES, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOSPC, errno.EUSERS}

# Verdicts that prove what the manual says: the effect (pass), or, for a
# flag documented as ignored, no effect at all (ignored).
PROVEN = ("pass", "ignored")

COLUMNS = ("flag", "effect", "with_flag", "without_flag", "verdict", "reason")
JSON_COLUMNS = ("flag", "effect", "method", "with_flag", "without_flag", "verdict", "reason")


def _run_probe(exp: Experiment, value: int) -> dict[str, Any]:
    """One clone of an experiment, inside the lab: what it showed, or why not."""
    assert exp.probe is not None
    try:
        run: Run = exp.probe(value)
    except Unobservable as err:
        return {"unobservable": str(err)}
    except SpawnError as err:
        return {"errno": err.errno, "error": err.message, "spawn": True}
    except OSError as err:
        return {"errno": err.errno, "error": describe(err, err.filename or "syscall")}

    def plain(v: Any) -> Any:
        return {"failed": str(v), "errno": v.errno} if isinstance(v, Unread) else v

    out = {
        "checks": {k: plain(v) for k, v in run.checks.items()},
        "evidence": {k: shown(v) for k, v in run.evidence.items()},
    }
    if run.properties:
        out["properties"] = {k: plain(v) for k, v in run.properties.items()}
    return out


def _lab_body(exp: Experiment) -> Callable[[], dict[str, Any]]:
    def body() -> dict[str, Any]:
        return {
            "with": _run_probe(exp, exp.base | exp.bit),
            "without": _run_probe(exp, exp.base),
        }

    return body


def _describe(exp: Experiment, value: int) -> str:
    text = flags.describe(value, clone3=exp.clone3)
    return f"clone3({text}, exit SIGCHLD)" if exp.clone3 else text


@dataclass
class Row:
    flag: str
    effect: str
    method: str
    with_flag: str
    without_flag: str
    verdict: str
    reason: str
    evidence: dict[str, Any]


def _failed(check: Any) -> bool:
    return isinstance(check, dict) and "failed" in check


def _summary(run: dict[str, Any]) -> str:
    if "checks" not in run:
        return run.get("error") or run.get("unobservable") or "-"
    if "properties" in run:
        return " ".join(f"{k}={'error' if _failed(v) else v}" for k, v in run["properties"].items())
    marks = {True: "yes", False: "no", None: "n/a"}
    return " ".join(f"{k}={'error' if _failed(v) else marks[v]}" for k, v in run["checks"].items())


def judge(exp: Experiment, outcome: dict[str, Any]) -> Row:
    """The verdict for one experiment's lab outcome."""
    evidence = dict(outcome)
    runs = (("with", exp.base | exp.bit), ("without", exp.base))
    for label, value in runs:
        if isinstance(evidence.get(label), dict):
            evidence[label] = {"flags": _describe(exp, value), **evidence[label]}
    row = Row(f"CLONE_{exp.flag}", exp.effect, exp.method, "-", "-", "skip", "", evidence)
    if exp.skip:
        row.reason = exp.skip
        return row
    if "unavailable" in outcome:
        row.reason = outcome["unavailable"]
        return row
    if "error" in outcome:
        row.verdict, row.reason = "error", outcome["error"]
        return row
    with_, without = outcome["with"], outcome["without"]
    row.with_flag, row.without_flag = _summary(with_), _summary(without)
    # The run without the flag goes first: if even it could not clone, a
    # refusal of the flag proves nothing about privilege.
    for label, run, value in (
        ("without", without, exp.base),
        ("with", with_, exp.base | exp.bit),
    ):
        if "unobservable" in run:
            row.reason = run["unobservable"]
            return row
        if "errno" in run:
            refused = label == "with" and run.get("spawn") and run["errno"] in CANNOT
            row.verdict = "skip" if refused else "error"
            row.reason = f"{_describe(exp, value)}: {run['error']}"
            return row
    failed: dict[str, list[str]] = {}
    for label, run in (("with", with_), ("without", without)):
        for check in [*run["checks"].values(), *run.get("properties", {}).values()]:
            if _failed(check):
                failed.setdefault(check["failed"], []).append(label)
    if failed:
        row.verdict = "error"
        row.reason = "not observed: " + "; ".join(
            f"{step} ({' and '.join(dict.fromkeys(labels))} the flag)"
            for step, labels in failed.items()
        )
        return row
    if exp.ignored:
        return _judge_ignored(row, with_, without)
    seen_with = [v for v in with_["checks"].values() if v is not None]
    seen_without = [v for v in without["checks"].values() if v is not None]
    if not seen_with or not seen_without:
        row.reason = "no observation could be made here"
        return row
    if all(seen_with) and not any(seen_without):
        row.verdict = "pass"
        row.reason = f"{len(seen_with)} observation(s) agree"
        if outcome.get("lab", "").startswith("in a new user"):
            row.reason += ", in a new user namespace"
        return row
    row.verdict = "fail"
    missing = [k for k, v in with_["checks"].items() if v is False]
    extra = [k for k, v in without["checks"].items() if v is True]
    parts = ([f"absent with the flag: {', '.join(missing)}"] if missing else []) + (
        [f"present without it: {', '.join(extra)}"] if extra else []
    )
    row.reason = "; ".join(parts)
    return row


# Where else a flag documented as ignored is tried: its run's evidence key, told as.
ELSEWHERE = {"clone3": "clone3", "clone_with_PIDFD": "clone(2) with CLONE_PIDFD"}


def _judge_ignored(row: Row, with_: dict[str, Any], without: dict[str, Any]) -> Row:
    """A flag documented as ignored: ``ignored`` when every property
    compared is the same with and without it, ``fail`` naming those that
    differ; what the kernel said to the flag elsewhere (clone3, another
    flag beside it) is told in the reason."""
    props_with, props_without = with_.get("properties", {}), without.get("properties", {})
    if not props_with or set(props_with) != set(props_without):
        row.verdict, row.reason = "error", "the runs compared different properties"
        return row
    differ = [k for k in props_with if props_with[k] != props_without[k]]
    elsewhere = []
    for key, where in ELSEWHERE.items():
        said, other = with_["evidence"].get(key), without["evidence"].get(key)
        if said is None:
            continue
        if said == other:
            elsewhere.append(f"{where}: {said} with it and without")
        elif said == "accepted":
            elsewhere.append(f"{where} accepts it ({other} without it)")
        else:
            elsewhere.append(f"{where} refuses it: {said} ({other} without it)")
    if differ:
        row.verdict = "fail"
        row.reason = "not ignored by clone(2): " + ", ".join(
            f"{k} {props_with[k]} with it, {props_without[k]} without" for k in differ
        )
    else:
        row.verdict = "ignored"
        row.reason = f"clone(2): all {len(props_with)} properties the same with and without it"
    row.reason = "; ".join([row.reason, *elsewhere])
    return row


def given_names(
    names: Iterable[str], known: Iterable[str], bare: Callable[[str], str], what: str
) -> list[str]:
    """Each of ``names`` as ``bare`` spells it, one of ``known`` (a
    ``what``: "experiment for flag", "fact"), each once; usage errors name
    the fix."""
    from tidscope.errors import UsageError

    choices = list(known)
    noun = what.rsplit(maxsplit=1)[-1]
    out: list[str] = []
    for name in names:
        one = bare(name)
        if one not in choices:
            raise UsageError(f"no {what} {name!r}: choose from {', '.join(choices)}")
        if one in out:
            raise UsageError(f"{noun} {name!r} is given twice: name each {noun} once")
        out.append(one)
    return out


def parse_names(names: Iterable[str]) -> list[str]:
    """``VM``, ``clone_vm``... as experiment names; usage errors name the fix."""
    return given_names(
        names, BY_FLAG, lambda n: n.upper().removeprefix("CLONE_"), "experiment for flag"
    )


def _chosen(names: Iterable[str] | None) -> list[Experiment]:
    wanted = None if names is None else set(names)
    return [e for e in EXPERIMENTS if wanted is None or e.flag in wanted]


def run_experiments(names: Iterable[str] | None = None) -> list[Row]:
    rows = []
    with reaper.subreaper():
        for exp in _chosen(names):
            outcome: dict[str, Any] = {}
            if not exp.skip:
                outcome = lab.run(_lab_body(exp), isolated=exp.isolated)
            rows.append(judge(exp, outcome))
    return rows


def not_run(names: Iterable[str] | None, reason: str) -> list[Row]:
    """The rows of experiments that could not even start: ``reason``."""
    return [judge(exp, {"error": reason}) for exp in _chosen(names)]


def row_dict(row: Row, evidence: bool) -> dict[str, Any]:
    out = asdict(row)
    if not evidence:
        out.pop("evidence")
    return out


def explain_lines(row: Row) -> list[str]:
    """The evidence behind one row, for people."""
    lines = [f"{row.flag} ({row.effect}): {row.verdict}, {row.reason}"]
    if row.method:
        lines.append(f"  method: {row.method}")
    for label in ("with", "without"):
        run = row.evidence.get(label)
        if not isinstance(run, dict):
            continue
        lines.append(f"  {label:<7} {run.get('flags', '')}: {_summary(run)}")
        for key, value in (run.get("evidence") or {}).items():
            lines.append(f"          {key} = {value!r}")
    return lines


# -- invalid combinations ------------------------------------------------------


@dataclass(frozen=True)
class Combo:
    name: str
    value: int
    clone3: bool = False
    exit_signal: int = 0


def _f(*names: str) -> int:
    return flags.bits(*names)


COMBOS: tuple[Combo, ...] = (
    Combo("THREAD without SIGHAND", _f("VM", "THREAD")),
    Combo("SIGHAND without VM", _f("SIGHAND") | SIGCHLD),
    Combo("FS|NEWNS", _f("FS", "NEWNS") | SIGCHLD),
    Combo("FS|NEWUSER", _f("FS", "NEWUSER") | SIGCHLD),
    Combo("NEWIPC|SYSVSEM", _f("NEWIPC", "SYSVSEM") | SIGCHLD),
    Combo("THREAD|NEWPID", _f("VM", "SIGHAND", "THREAD", "NEWPID")),
    Combo("THREAD|NEWUSER", _f("VM", "SIGHAND", "THREAD", "NEWUSER")),
    Combo("NEWPID|PARENT", _f("NEWPID", "PARENT") | SIGCHLD),
    Combo("SIGHAND|CLEAR_SIGHAND", _f("VM", "SIGHAND", "CLEAR_SIGHAND"), True, SIGCHLD),
    Combo("PIDFD|PARENT_SETTID", _f("PIDFD", "PARENT_SETTID") | SIGCHLD),
    Combo("PIDFD|THREAD", _f("VM", "SIGHAND", "THREAD", "PIDFD")),
    Combo("PIDFD|DETACHED", _f("PIDFD", "DETACHED") | SIGCHLD),
    Combo("DETACHED (clone3)", _f("DETACHED"), True, SIGCHLD),
    Combo("THREAD with an exit signal (clone3)", _f("VM", "SIGHAND", "THREAD"), True, SIGCHLD),
    Combo("PARENT with an exit signal (clone3)", _f("PARENT"), True, SIGCHLD),
    Combo("VM|SIGHAND|THREAD (valid)", _f("VM", "SIGHAND", "THREAD")),
)

COMBO_COLUMNS = ("combination", "flags", "documented", "kernel", "agrees")


def _documented(c: Combo) -> str:
    reasons = flags.einval_reasons(c.value, c.clone3, c.exit_signal)
    return f"EINVAL ({reasons[0]})" if reasons else "accepted"


def _try_combo(c: Combo) -> Callable[[], dict[str, Any]]:
    def body() -> dict[str, Any]:
        # Mapping the stack may fail too: that is no answer from clone.
        children = spawn_one(c.value, clone3=c.clone3, exit_signal=c.exit_signal)
        try:
            with children:
                pass
        except SpawnError as err:
            return {"errno": err.errno}
        return {"errno": 0}

    return body


def _combo_row(c: Combo, got: dict[str, Any]) -> dict[str, Any]:
    documented = _documented(c)
    if "unavailable" in got or "error" in got or "errno" not in got:
        kernel = "not run: " + (got.get("unavailable") or got.get("error") or "?")
    else:
        code = got["errno"]
        kernel = "accepted" if code == 0 else errno_name(code)
    ran = not kernel.startswith("not run")
    return {
        "combination": c.name,
        "flags": flags.describe(c.value, clone3=c.clone3) + (" (clone3)" if c.clone3 else ""),
        "documented": documented,
        "kernel": kernel,
        "agrees": documented.split()[0] == kernel if ran else None,
    }


def run_combos() -> list[dict[str, Any]]:
    with reaper.subreaper():
        return [_combo_row(c, lab.run(_try_combo(c))) for c in COMBOS]


def combos_not_run(reason: str) -> list[dict[str, Any]]:
    return [_combo_row(c, {"error": reason}) for c in COMBOS]
