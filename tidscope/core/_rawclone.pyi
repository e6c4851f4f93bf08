"""Raw clone(2) children on stacks mapped by us; see tidscope.core.clone."""

from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal, final

ARCH: str
PAGE_SIZE: int
MAX_OPS: int
SCRATCH_SIZE: int
PRIVATE_SIZE: int
SLOT_SIZE: int
MIN_STACK: int

def pthread_bench(n: int, batch: bool, stack_size: int = ..., /) -> int: ...
def trim_stack_cache() -> None: ...
def spawn_command(
    path: bytes, argv: list[bytes], env: list[bytes], mask: int, defaults: int, /
) -> int: ...

@final
class Group:
    """Raw clone(2) children sharing one flag set and one syscall program."""

    def __init__(
        self,
        flags: int,
        count: int,
        stack_size: int,
        ops: Sequence[tuple[int, Sequence[int], int, int, bool]],
        scratch: Sequence[bytes],
        park: bool = ...,
        growsdown: bool = ...,
        clone3: bool = ...,
        exit_signal: int = ...,
        cgroup_fd: int = ...,
        private: bytes = ...,
        set_tid: Sequence[int] | None = ...,
    ) -> None: ...
    @property
    def spawned(self) -> int: ...
    @property
    def count(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    @property
    def failed_in(self) -> str | None: ...
    def spawn(self) -> int: ...
    def wait_ran(self, timeout: float, /) -> bool: ...
    def release(self) -> None: ...
    def join(self) -> None: ...
    def close(self) -> None: ...
    def child(self, i: int, /) -> dict[str, Any]: ...
    def private(self) -> bytes: ...
    def private_address(self) -> int: ...
    def __enter__(self) -> Group: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Literal[False]: ...
