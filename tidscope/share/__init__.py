"""``tidscope share``: what running tasks share, observed with kcmp(2)
(groups.py over kcmpsort.py) and namespace inodes (namespaces.py), as one
Sharing (sharing.py); the clone flags that explain it (infer.py), and the
report (report.py)."""
