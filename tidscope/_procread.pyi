"""Many /proc stat files read at once, without the GIL; see tidscope.snapshot."""

from collections.abc import Callable, Sequence
from typing import TypeVar

_T = TypeVar("_T")

MAX_IDS: int

def read_stats(
    dir_fd: int,
    ids: Sequence[int],
    tgid: int,
    want_uid: bool,
    make: Callable[..., _T],
    parse: Callable[[bytes, int, int], _T | None],
    /,
) -> list[_T]: ...
