"""The commands by name, each with the module that defines it (imported only
when used), and how a message names the command it comes from."""

from __future__ import annotations

COMMANDS = {
    "spawn": "tidscope.cli.spawn",
    "ps": "tidscope.cli.ps",
    "tree": "tidscope.cli.tree",
    "verify-flags": "tidscope.cli.verify_flags",
    "verify-threads": "tidscope.cli.verify_threads",
    "bench-spawn": "tidscope.cli.bench_spawn",
    "share": "tidscope.cli.share",
    "inspect": "tidscope.cli.inspect",
    "watch": "tidscope.cli.watch",
    "top": "tidscope.cli.top",
}
COMPLETE_VAR = "_TIDSCOPE_COMPLETE"


def one_line(text: str) -> str:
    return " ".join(text.split())


def command_path(args: list[str]) -> str:
    """``tidscope spawn`` for messages, from the first word naming a command."""
    sub = next((a for a in args if a in COMMANDS), None)
    return f"tidscope {sub}" if sub else "tidscope"
