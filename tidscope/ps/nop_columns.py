"""The ps -o columns procps 4.0.2 knows but prints as ``-``.

Other systems' columns (``addr``, ``jobc``, ``nwchan``...) and Linux ones
procps no longer fills (``alarm``, ``utime``, ``vm_data``...) are in its
table with a function that prints ``-`` whatever the task; they read
nothing, and their JSON/CSV value is null under the column's own name.
"""

from __future__ import annotations

from tidscope.ps.context import LEFT, PIDMAX, RIGHT, TEXT, USER, Spec

# name, header, width, justification: procps's table, in its order; a
# justification other than these four (``mwchan``'s WCHAN) is left-aligned
# text there, as here.  (``nvcsw`` and ``nivcsw`` are file_columns.py's.)
_TABLE = (
    ("acflag", "ACFLG", 5, RIGHT),
    ("acflg", "ACFLG", 5, RIGHT),
    ("addr", "ADDR", 4, RIGHT),
    ("addr_1", "ADDR", 1, LEFT),
    ("alarm", "ALARM", 5, RIGHT),
    ("argc", "ARGC", 4, RIGHT),
    ("bnd", "BND", 1, RIGHT),
    ("cmaj_flt", "-", 1, RIGHT),
    ("cmin_flt", "-", 1, RIGHT),
    ("cnswap", "-", 1, RIGHT),
    ("cpu", "CPU", 3, RIGHT),
    ("ctid", "CTID", 5, RIGHT),
    ("cursig", "CURSIG", 6, RIGHT),
    ("cutime", "-", 1, RIGHT),
    ("cwd", "CWD", 3, LEFT),
    ("emul", "EMUL", 13, LEFT),
    ("end_code", "E_CODE", 16, RIGHT),
    ("environ", "ENVIRONMENT", 11, TEXT),
    ("inblk", "INBLK", 5, RIGHT),
    ("inblock", "INBLK", 5, RIGHT),
    ("jid", "JID", 1, RIGHT),
    ("jobc", "JOBC", 4, RIGHT),
    ("ktrace", "KTRACE", 8, RIGHT),
    ("ktracep", "KTRACEP", 8, RIGHT),
    ("login", "LOGNAME", 8, LEFT),
    ("logname", "LOGNAME", 8, LEFT),
    ("luser", "LUSER", 8, USER),
    ("m_dt", "DT", 4, RIGHT),
    ("m_lrs", "LRS", 5, RIGHT),
    ("m_resident", "RES", 5, RIGHT),
    ("m_share", "SHRD", 5, RIGHT),
    ("m_swap", "SWAP", 5, RIGHT),
    ("msgrcv", "MSGRCV", 6, RIGHT),
    ("msgsnd", "MSGSND", 6, RIGHT),
    ("mwchan", "MWCHAN", 6, LEFT),
    ("nsignals", "NSIGS", 5, RIGHT),
    ("nsigs", "NSIGS", 5, RIGHT),
    ("nswap", "NSWAP", 5, RIGHT),
    ("nwchan", "WCHAN", 6, RIGHT),
    ("osz", "SZ", 2, RIGHT),
    ("oublk", "OUBLK", 5, RIGHT),
    ("oublock", "OUBLK", 5, RIGHT),
    ("p_ru", "P_RU", 6, RIGHT),
    ("paddr", "PADDR", 6, RIGHT),
    ("poip", "-", 1, RIGHT),
    ("prmgrp", "PRMGRP", 12, RIGHT),
    ("prmid", "PRMID", 12, RIGHT),
    ("project", "PROJECT", 12, LEFT),
    ("projid", "PROJID", 5, RIGHT),
    ("pset", "PSET", 4, RIGHT),
    ("psxpri", "PPR", 3, RIGHT),
    ("re", "RE", 3, RIGHT),
    ("resident", "RES", 5, RIGHT),
    ("rlink", "RLINK", 8, RIGHT),
    ("scnt", "SCNT", 4, RIGHT),
    ("scount", "SC", 4, RIGHT),
    ("share", "-", 1, RIGHT),
    ("sl", "SL", 3, RIGHT),
    ("start_code", "S_CODE", 16, RIGHT),
    ("status", "STATUS", 6, RIGHT),
    ("systime", "SYSTEM", 6, RIGHT),
    ("taskid", "TASKID", PIDMAX, RIGHT),
    ("tdev", "TDEV", 4, RIGHT),
    ("timeout", "TMOUT", 5, RIGHT),
    ("tmout", "TMOUT", 5, RIGHT),
    ("tsess", "TSESS", PIDMAX, RIGHT),
    ("tsession", "TSESS", PIDMAX, RIGHT),
    ("tsid", "TSID", PIDMAX, RIGHT),
    ("u_procp", "UPROCP", 6, RIGHT),
    ("umask", "UMASK", 5, RIGHT),
    ("upr", "UPR", 3, RIGHT),
    ("uprocp", "UPROCP", 8, RIGHT),
    ("usertime", "USER", 4, RIGHT),
    ("usrpri", "UPR", 3, RIGHT),
    ("utime", "UTIME", 6, RIGHT),
    ("vm_data", "DATA", 5, RIGHT),
    ("vm_exe", "EXE", 5, RIGHT),
    ("vm_lib", "LIB", 5, RIGHT),
    ("vm_lock", "LCK", 3, RIGHT),
    ("vm_stack", "STACK", 5, RIGHT),
    ("xstat", "XSTAT", 5, RIGHT),
    ("zoneid", "ZONEID", 31, RIGHT),
    ("~", "-", 1, RIGHT),
)

SPECS: dict[str, Spec] = {
    name: (name, header, width, just, frozenset(), lambda t, c: "-", lambda t, c: None)
    for name, header, width, just in _TABLE
}
