"""The one table of ps's options (tidscope/ps/options.py): click's command,
the fast path's parser and the request are all made of it, and agree."""

from __future__ import annotations

import inspect
import re

import click
import pytest
from test_fastpath import _click_params

from tidscope.cli.app import cli
from tidscope.cli.fastpath import parse_ps, second_reading
from tidscope.errors import UsageError
from tidscope.ps import bsd
from tidscope.ps.options import (
    ARGUMENT,
    BSD_FLAGS,
    BSD_FORMATS,
    BSD_VALUES,
    COUNT,
    FLAG,
    FLAGS,
    LIST,
    LISTS,
    OPTIONS,
    SELECTIONS,
    VALUE,
    Option,
)
from tidscope.ps.request import resolve
from tidscope.ps.run import prepare


def _ps() -> click.Command:
    command = cli.get_command(click.Context(cli), "ps")
    assert command is not None
    return command


def test_click_declares_the_table_and_nothing_else() -> None:
    params = _ps().params
    declared = [p for p in params if isinstance(p, click.Option)]
    assert [(tuple(p.opts), p.name) for p in declared] == [(o.names, o.dest) for o in OPTIONS]
    for param, option in zip(declared, OPTIONS, strict=True):
        assert param.help == option.help
        assert param.is_flag == (option.kind == FLAG), option
        assert param.count == (option.kind == COUNT), option
        assert param.multiple == (option.kind == LIST), option
        if option.kind == VALUE:
            assert param.default == option.default
        if option.choices:
            assert isinstance(param.type, click.Choice)
            assert tuple(param.type.choices) == option.choices
        # shell completion of column names (-o, --sort) and nothing else
        assert (param._custom_shell_complete is not None) == bool(option.complete), option
    assert [p.name for p in params if isinstance(p, click.Argument)] == [ARGUMENT]


def test_every_name_and_dest_is_given_once() -> None:
    names = [name for o in OPTIONS for name in o.names]
    assert len(names) == len(set(names))
    dests = [o.dest for o in OPTIONS]
    assert len(dests) == len(set(dests)) and ARGUMENT not in dests


def _value(option: Option) -> str:
    if option.choices:
        return option.choices[-1]
    if option.dashed:
        return "-pcpu"
    return "/elsewhere/proc" if option.kind == VALUE else "1"


def _forms(option: Option) -> list[tuple[list[str], object]]:
    """Each way to type ``option`` on a command line, with its parsed value."""
    value = _value(option)
    forms: list[tuple[list[str], object]] = []
    for name in option.names:
        short = name[1] != "-"
        if option.kind == FLAG:
            forms.append(([name], True))
        elif option.kind == COUNT:
            forms += [([name], 1), ([name, name], 2)]
            if short:
                forms.append(([name + name[1:]], 2))  # -ww
        else:
            got: object = (value,) if option.kind == LIST else value
            forms.append(([name, value], got))
            forms.append(([name + value] if short else [f"{name}={value}"], got))
        if option.kind == LIST:
            forms.append(([name, value, name, "2"], (value, "2")))
        if option.choices:
            forms.append(([name, value.upper()], value))  # as click.Choice(case_sensitive=False)
        if short and option.kind == FLAG:
            forms.append(([f"-A{name[1:]}"], True))  # in a cluster
    return forms


CASES = [(o, argv, want) for o in OPTIONS for argv, want in _forms(o)]


@pytest.mark.parametrize(("option", "argv", "want"), CASES, ids=[" ".join(c[1]) for c in CASES])
def test_every_option_parses_the_same_on_both_paths(
    option: Option, argv: list[str], want: object
) -> None:
    fast = parse_ps(argv)
    assert fast is not None, f"{argv} should take the fast path"
    assert fast == _click_params(argv)
    assert fast[option.dest] == want
    empty = parse_ps([])
    assert empty is not None
    untouched = {k: v for k, v in empty.items() if k not in (option.dest, "all_")}
    assert {k: fast[k] for k in untouched} == untouched


def test_run_takes_every_option_of_the_table() -> None:
    """run() (through prepare()) reads flags and lists by the table's names
    (run.FLAGS/LISTS are the table's), the rest as its own keywords: no
    option is dropped."""
    keywords = {
        name
        for name, p in inspect.signature(prepare).parameters.items()
        if p.kind == inspect.Parameter.KEYWORD_ONLY
    }
    assert set(FLAGS) | set(LISTS) | keywords == {o.dest for o in OPTIONS} | {ARGUMENT}
    assert not (set(FLAGS) | set(LISTS)) & keywords


def _resolved(argv: list[str]) -> list[str]:
    params = parse_ps(argv)
    assert params is not None
    flags = {name: params[name] for name in FLAGS}
    lists = {name: params[name] for name in LISTS}
    req = resolve(
        flags=flags,
        wide=params["wide"],
        lists=lists,
        bsd_tokens=params[ARGUMENT],
        proc_root=params["proc_root"],
        fmt=params["fmt"],
    )
    return [c.name for c in req.columns]


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        ([], ["pid", "tname", "time", "ucmd"]),
        (["-T"], ["pid", "spid", "tname", "time", "ucmd"]),
        (["--tid", "1"], ["pid", "spid", "tname", "time", "ucmd"]),
        (["-L"], ["pid", "lwp", "tname", "time", "ucmd"]),
    ],
    ids=" ".join,
)
def test_the_default_columns_are_procps_s_sysv_list(argv: list[str], names: list[str]) -> None:
    """One list maker (ps/formats.py) for every command line, the plain one too."""
    assert _resolved(argv) == names


SELECTING = [(o.names[0], [name, "1"]) for o in SELECTIONS for name in o.names]
SELECTING += [("-p", ["p", "1"]), ("-p", ["1"]), ("-u", ["U", "0"]), ("-t", ["t", "-"])]


@pytest.mark.parametrize(("first", "argv"), SELECTING, ids=[" ".join(a) for _, a in SELECTING])
def test_quick_refuses_every_selecting_list_by_its_name(first: str, argv: list[str]) -> None:
    message = f"cannot be combined with {re.escape(first)}: use -p instead of -q"
    with pytest.raises(UsageError, match=message):
        _resolved(["-q", "1", *argv])


def test_the_selecting_lists_are_the_lists_but_quick_columns_and_order() -> None:
    assert {o.dest for o in SELECTIONS} == set(LISTS) - {"quick", "formats", "preloaded", "sort"}


def test_bsd_letters_are_read_by_bsd_py_and_told_from_unix_options_alike() -> None:
    for letter in BSD_FLAGS:
        bsd.parse([letter])  # each alone is one tidscope knows
    for letter in BSD_VALUES:
        try:
            parsed = bsd.parse([f"{letter}1"])
        except UsageError as err:
            assert "is not supported by tidscope ps" in err.message
        else:
            lists = (
                parsed.formats,
                parsed.pids,
                parsed.quick,
                parsed.ttys,
                parsed.users,
                parsed.sort,
                parsed.preloaded,
            )
            assert sum(map(len, lists)) == 1, letter
    assert set(BSD_FORMATS) <= set(BSD_FLAGS)
    # procps's second reading: dashed arguments as BSD letters, lists and all;
    # none where a BSD argument is written without a dash (procps fails then)
    assert second_reading(["-aux"]) == ["aux"]
    assert second_reading(["-ef", "-o", "pid"]) == ["ef", "opid"]
    assert second_reading(["-k", "-pcpu", "--sort=pid", "1"]) == ["k-pcpu", "--sort=pid", "1"]
    assert second_reading(["-a", "x"]) is None
    assert second_reading(["-h"]) is None and second_reading(["-o"]) is None
    assert second_reading(["--forest"]) is None
