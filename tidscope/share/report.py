"""``tidscope share``'s output: the sharing groups, one row per task with a
group number per resource, the inferences, and the kcmp calls.

Rules:

- Group numbers count from 1 per resource in row order; 0 (``-`` in a
  table) is "no such object"; null (``?``) is "not comparable".
- A group is shown when it crosses a thread-group boundary (tasks of two
  processes in it) or splits one (some tasks of a process in it, some not);
  for namespaces also when it is not tidscope's own namespace.  ``--all``
  shows every group.
- The table lists the inferences that stand out (a thread that does not
  share what pthread_create(3) shares, a process that shares anything with
  its parent), one line per kind and parent; ``--all`` lists every task's.
  JSON and CSV carry every task's inference and its evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import IO, Any

from tidscope.core.kcmp import WHAT
from tidscope.errors import errno_name
from tidscope.proc.task import Task
from tidscope.render import json_object, render
from tidscope.share.infer import Inference
from tidscope.share.sharing import NONE, RESOURCES, Call, Sharing, spread
from tidscope.text import escape

SHOWN_MEMBERS = 6  # processes named in a table's MEMBERS cell before "and N more"
SHOWN_TIDS = 12  # tasks listed for a line of not comparable ones
GROUP_COLUMNS = ("resource", "group", "tasks", "processes", "why", "members")
GROUP_KEYS = ("resource", "group", "why", "tids", "pids", "split", "inode")  # in JSON
RESULTS = ("same", "less", "greater")


def columns(sharing: Sharing) -> list[str]:
    """The per-task columns: ids, then one per resource, then one per
    namespace type this kernel has."""
    return [
        "tid",
        "pid",
        "ppid",
        "name",
        *(r.lower() for r in RESOURCES),
        *(f"{t}_ns" for t in sharing.namespaces),
    ]


def task_rows(sharing: Sharing, inferred: dict[int, Inference], fmt: str) -> list[dict[str, Any]]:
    """One row per task: JSON and CSV values typed (ints, null), a table's
    as text (``-`` none, ``?`` not comparable).  A table's rows hold only
    its columns.  Names as read: render.py escapes them."""
    table = fmt == "table"
    kinds = [(r.lower(), sharing.groups.get(r, {})) for r in RESOURCES]
    spaces = [(f"{t}_ns", groups) for t, groups in sharing.namespaces.items()]
    rows = []
    for task in sharing.tasks:
        tid = task.tid
        row: dict[str, Any] = {"tid": tid, "pid": task.tgid, "ppid": task.ppid}
        row["name"] = task.name
        if table:
            for key, groups in kinds:
                row[key] = _cell(groups.get(tid))
            for key, groups in spaces:
                row[key] = groups.get(tid, "?")
            rows.append(row)
            continue
        for key, groups in kinds + spaces:
            row[key] = groups.get(tid)
        inference = inferred[tid]
        row["inferred"] = list(inference.flags)
        row["summary"] = inference.summary
        row["usual"] = inference.usual
        row["compared_with"] = inference.compared_with
        row["evidence"] = inference.evidence
        row["not_comparable"] = sharing.refused.get(tid)
        row["namespaces_unreadable"] = sharing.ns_refused.get(tid)
        rows.append(row)
    return rows


def _cell(number: int | None) -> str | int:
    if number is None:
        return "?"
    return "-" if number == NONE else number


# -- groups ---------------------------------------------------------------------


def groups(sharing: Sharing, every: bool) -> list[dict[str, Any]]:
    """The groups to show (all with ``every``), resources first, then
    namespaces; chosen from each process's spread over the groups, and only
    the groups shown are gathered task by task."""
    names = {t.tid: t for t in sharing.tasks}
    sizes: dict[int, int] = {}
    for t in sharing.tasks:
        sizes[t.tgid] = sizes.get(t.tgid, 0) + 1
    out = []
    for kind, by_tid in [*sharing.groups.items(), *sharing.namespaces.items()]:
        namespace = kind not in sharing.groups
        processes: dict[int, list[int]] = {}  # group -> its tgids
        counts: dict[int, int] = {}  # group -> its tasks
        split: set[int] = set()
        for tgid, numbers in spread(sharing, kind).items():
            if len(numbers) > 1:
                split.add(tgid)
            for number, count in numbers.items():
                processes.setdefault(number, []).append(tgid)
                counts[number] = counts.get(number, 0) + count
        shown: dict[int, list[str]] = {}
        for number in sorted(processes):
            tgids = processes[number]
            why = []
            if len(tgids) > 1 and number != NONE and not namespace:
                why.append(f"across {len(tgids)} processes")
            splits = [g for g in tgids if g in split]
            if splits and number != NONE:
                why.append("splits " + ", ".join(str(g) for g in sorted(splits)))
            if namespace and sharing.ours.get(kind) != number:
                why.append("not tidscope's namespace")
            if why or every:
                shown[number] = why
        if not shown:
            continue
        tids: dict[int, list[int]] = {number: [] for number in shown}
        for tid, number in by_tid.items():
            if number in tids:
                tids[number].append(tid)
        for number, why in shown.items():
            tgids = sorted(processes[number])
            if number == NONE:
                why.append(f"no {WHAT[kind]} (none)")
            out.append(
                {
                    "resource": kind if not namespace else f"{kind}_ns",
                    "group": number,
                    "tasks": counts[number],
                    "processes": len(tgids),
                    "why": "; ".join(why) or "-",
                    "members": _members(tids[number], names, sizes),
                    "tids": tids[number],
                    "pids": tgids,
                    "split": [g for g in tgids if g in split],
                    "inode": _inode(sharing, kind, number),
                }
            )
    return out


def _inode(sharing: Sharing, kind: str, number: int) -> dict[str, int] | None:
    found = sharing.inodes.get(kind, {}).get(number)
    return None if found is None else {"st_dev": found[0], "st_ino": found[1]}


def _members(tids: list[int], tasks: dict[int, Task], sizes: dict[int, int]) -> str:
    """``24627 tidscope (3 tasks), 24630 bash: 24631 (1 of 2 tasks)``..."""
    by_process: dict[int, list[int]] = {}
    for tid in tids:
        by_process.setdefault(tasks[tid].tgid, []).append(tid)
    parts = []
    for tgid, mine in list(by_process.items())[:SHOWN_MEMBERS]:
        lead = tasks.get(tgid)
        label = f"{tgid} {lead.name}" if lead else f"{tgid}"  # a cell: render escapes it
        total = sizes[tgid]
        if len(mine) == total:
            parts.append(label if total == 1 else f"{label} ({total} tasks)")
        else:
            listed = ",".join(str(t) for t in mine[:SHOWN_MEMBERS])
            more = "..." if len(mine) > SHOWN_MEMBERS else ""
            parts.append(f"{label}: {listed}{more} ({len(mine)} of {total} tasks)")
    left = len(by_process) - SHOWN_MEMBERS
    if left > 0:
        parts.append(f"and {left} more processes")
    return ", ".join(parts)


# -- writing -----------------------------------------------------------------------


def write(
    sharing: Sharing,
    inferred: dict[int, Inference],
    fmt: str,
    every: bool,
    explain: bool,
    headers: bool,
    out: IO[str],
) -> None:
    rows = task_rows(sharing, inferred, fmt)
    cols = columns(sharing)
    if fmt == "csv":
        extra = ["inferred", "summary", "usual", "not_comparable"]
        render(rows, [*cols, *extra], "csv", headers=headers, out=out)
    elif fmt == "json":
        _json(sharing, rows, cols, every, explain, out)
    else:
        _table(sharing, inferred, rows, cols, every, explain, headers, out)


def _json(
    sharing: Sharing,
    rows: list[dict[str, Any]],
    cols: list[str],
    every: bool,
    explain: bool,
    out: IO[str],
) -> None:
    keys = [*cols, "inferred", "summary", "usual", "compared_with", "evidence"]
    keys += ["not_comparable", "namespaces_unreadable"]
    found = groups(sharing, every)
    doc: dict[str, Any] = {
        "groups": [{k: g[k] for k in GROUP_KEYS} for g in found],
        "tasks": [{k: r[k] for k in keys} for r in rows],
        "unavailable": sharing.unavailable,
        "exited_while_observed": sharing.gone,
        "kcmp_calls": sharing.calls,
        "sorts": sharing.sorts,
    }
    if explain:
        doc["calls"] = [_call_json(c) for c in sharing.log or ()]
    json_object(doc, out)  # one line a task or call


def _call_json(call: Call) -> dict[str, Any]:
    return {
        "pid1": call.pid1,
        "pid2": call.pid2,
        "type": call.resource,
        "result": call.result if call.result >= 0 else None,
        "errno": errno_name(-call.result) if call.result < 0 else None,
    }


def _table(
    sharing: Sharing,
    inferred: dict[int, Inference],
    rows: list[dict[str, Any]],
    cols: list[str],
    every: bool,
    explain: bool,
    headers: bool,
    out: IO[str],
) -> None:
    found = groups(sharing, every)
    if found:
        render(found, GROUP_COLUMNS, "table", headers=headers, out=out)
    else:
        out.write("no group crosses or splits a process (--all shows every group)\n")
    out.write("\n")
    same = [c for c in cols if c.endswith("_ns") and _one_number({r[c] for r in rows})]
    render(rows, [c for c in cols if c not in same], "table", headers=headers, out=out)
    if same and rows:
        names = ", ".join(c.removesuffix("_ns") for c in same)
        out.write(f"every task shown is in one {names} namespace each\n")
    out.writelines(_inference_lines(sharing, inferred, every))
    out.writelines(_refused_lines(sharing))
    for what, why in sharing.unavailable.items():
        out.write(f"\n{what}: not observed: {why}\n")
    if explain:
        out.writelines(_explain_lines(sharing))


def _one_number(values: set[Any]) -> bool:
    """One namespace for every row, all of them read."""
    return len(values) == 1 and "?" not in values


def _inference_lines(
    sharing: Sharing, inferred: dict[int, Inference], every: bool
) -> Iterable[str]:
    """Tasks that stand out, one line per kind of inference and parent."""
    lines: dict[tuple[str, tuple[str, ...], str], list[Task]] = {}
    for task in sharing.tasks:
        inf = inferred[task.tid]
        if (inf.usual or task.tid in sharing.refused) and not every:
            continue
        lines.setdefault((inf.compared_with, inf.flags, inf.summary), []).append(task)
    if not lines:
        return
    yield "\ninferred: the clone flags each task behaves as if created with"
    yield " (evidence: --format json)\n"
    for (compared, flags, summary), tasks in lines.items():
        names = _task_list(tasks)
        flag_text = "|".join(f"CLONE_{f}" for f in flags) or "no shared flag"
        yield f"  {names}: {flag_text}: {summary} (compared with {compared})\n"


def _task_list(tasks: Sequence[Task]) -> str:
    shown = [
        f"{t.tid} {escape(t.name)}" if t.tid == t.tgid else f"{t.tid} {{{escape(t.name)}}}"
        for t in tasks[:SHOWN_MEMBERS]
    ]
    if len(tasks) > SHOWN_MEMBERS:
        shown.append(f"and {len(tasks) - SHOWN_MEMBERS} more")
    return ", ".join(shown)


def _refused_lines(sharing: Sharing) -> Iterable[str]:
    by_reason: dict[str, list[int]] = {}
    for tid, why in sharing.refused.items():
        by_reason.setdefault(why, []).append(tid)
    for why, tids in by_reason.items():
        listed = ", ".join(str(t) for t in tids[:SHOWN_TIDS])
        more = f" and {len(tids) - SHOWN_TIDS} more" if len(tids) > SHOWN_TIDS else ""
        yield f"\nnot comparable: {listed}{more}: {why}\n"


def _explain_lines(sharing: Sharing) -> Iterable[str]:
    counts = ", ".join(f"{k} {v}" for k, v in sharing.calls.items())
    sorts = ", ".join(f"{k} {v}" for k, v in sharing.sorts.items() if v > 1)
    yield f"\nkcmp calls: {counts}" + (f"; sorted again after a race: {sorts}" if sorts else "")
    yield "\n"
    for call in sharing.log or ():
        what = f"KCMP_{call.resource}"
        if call.result >= 0:
            answer = f"{call.result} ({RESULTS[call.result]})"
        else:
            answer = f"-1 {errno_name(-call.result)}"
        yield f"kcmp({call.pid1}, {call.pid2}, {what}) = {answer}\n"
