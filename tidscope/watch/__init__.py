"""``tidscope watch``: births, execs and exits as they happen, from the
process-events connector (connector.py), by polling /proc (poll.py), or by
following a command with ptrace (tracer.py over tracee.py and the C
extension _ptrace); per-group summaries (summary.py)."""
