"""``tidscope inspect``: one thread's own state, field by field, each with
the file it came from (autopsy.py over fields.py, activity.py and the
process-wide facts of process.py)."""
