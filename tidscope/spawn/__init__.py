"""``tidscope spawn`` and ``bench-spawn``: what each raw child saw next to
what /proc says (report.py), and what a thread costs (bench.py)."""
