"""``tidscope share``: what running tasks share, observed with kcmp(2) and
namespace inodes (groups.py), the clone flags that explain it (infer.py),
and the report (report.py)."""
