"""One raw syscall in this process, by number; see tidscope.core.syscalls."""

SYSCALLS: dict[str, int]

def syscall(nr: int, /, *args: int | bytearray | memoryview) -> int: ...
