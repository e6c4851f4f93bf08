"""``tidscope top``: which thread is busy now, and what the others are doing.

Two reads of every selected thread one interval apart (sample.py) become
per-second figures (interval.py); threads of a pool fold into one row
(pools.py); batch frames print through render.py (frames.py), the live view
draws with curses (live.py).  The columns and sort keys are in columns.py.
"""
