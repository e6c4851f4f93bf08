"""Many /proc task files read at once, without the GIL; see tidscope.proc.snapshot."""

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, final

_T = TypeVar("_T")

MAX_IDS: int
BATCH: int

def kernel_pid() -> int | None: ...
def read_stats(
    dir_fd: int,
    ids: Sequence[int],
    tgid: int,
    want_uid: bool,
    make: Callable[..., _T],
    parse: Callable[[bytes, int, int], _T | None],
    files: Sequence[str] = ...,
    caps: Sequence[int] = ...,
    /,
) -> list[Any]: ...

@final
class Walk:
    def __init__(
        self,
        dir_fd: int,
        ids: Sequence[int] | None,
        tgid: int,
        want_uid: bool,
        make: Callable[..., Any] | None,
        parse: Callable[..., Any],
        files: Sequence[str] = ...,
        caps: Sequence[int] = ...,
        leader_own: bool = ...,
        numbers: bool = ...,
    ) -> None: ...
    def __iter__(self) -> Iterator[list[Any]]: ...
    def __next__(self) -> list[Any]: ...
