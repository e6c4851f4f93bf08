"""procps's column lists for ``-f``, ``-F``, ``-l``, ``-j``, ``-y``, ``-c``,
``-L``/``-T`` and the BSD formats (``u``, ``j``, ``l``, ``s``, ``v``).

A SysV listing (no BSD format letter) is built the way procps builds it:
one list, column by column, each added only for the options that ask for
it, so that ``-eLf`` is ``uid_hack,pid,ppid,lwp,c,nlwp,stime,tname,time,cmd``
and ``-ly`` trades ``F`` and ``ADDR`` for ``RSS``.  A BSD form (any argument
without a leading dash) prefers BSD columns: STAT, the M:SS TIME and the
whole command line.  A BSD format letter names a fixed list, which the
modifiers (``-j``, ``-y``, ``-c``, ``-T``, ``-L``) then edit by header, as
procps edits it.  Column names are procps's ``-o`` names (``uid_hack`` is
USER under the header UID, ``opri`` the PRI of ``-l``, ``addr_1`` its ADDR).
"""

from __future__ import annotations

from tidscope.errors import UsageError

# procps's "Old Linux" formats, which its default personality uses for BSD letters
BSD_FORMATS = {
    "j": "ppid,pid,pgid,sid,tname,tpgid,stat,uid,bsdtime,args",
    "l": "flags,uid,pid,ppid,priority,nice,vsz,rss,wchan,stat,tname,bsdtime,args",
    "s": "uid,pid,pending,sig_block,sig_ignore,caught,stat,tname,bsdtime,args",
    "u": "user,pid,pcpu,pmem,vsz,rss,tname,stat,start_time,bsdtime,args",
    "v": "pid,tname,stat,bsdtime,maj_flt,m_trs,m_drs,rss,pmem,args",
    "X": "pid,stackp,esp,eip,tmout,alarm,stat,tname,bsdtime,args",  # old i386 Linux registers
}
CONTEXT = "pid,context,args"  # --context: procps's FLASK_context
# what -O (Unix) and O (BSD) put after the columns given, PID being before them
PRELOADED_TAIL = {False: "s,tname,time,args", True: "s,tname,time,comm"}
SHORT_SORT = frozenset("CGJKMNPRSTUcfgjkmnoprstuvy+-")  # procps's O sort letters


class Style:
    """What shapes the column list: the format letters and modifiers given.

    ``full`` is -f (and -F), ``extra`` -F, ``long`` -l, ``jobs`` -j,
    ``rss`` -y, ``sched`` -c, ``psr`` -P, ``label`` -M/-Z (BSD Z),
    ``context`` --context, ``lwp``/``spid`` -L/-T, ``bsd`` a BSD form
    was used, ``bsd_format`` its format letter (``u``...) if any.
    """

    __slots__ = (
        "bsd",
        "bsd_format",
        "context",
        "extra",
        "full",
        "jobs",
        "label",
        "long",
        "lwp",
        "psr",
        "rss",
        "sched",
        "spid",
    )

    def __init__(
        self,
        *,
        full: bool = False,
        extra: bool = False,
        long: bool = False,
        jobs: bool = False,
        rss: bool = False,
        sched: bool = False,
        psr: bool = False,
        label: bool = False,
        context: bool = False,
        lwp: bool = False,
        spid: bool = False,
        bsd: bool = False,
        bsd_format: str = "",
    ) -> None:
        self.full = full or extra
        self.extra = extra
        self.long = long
        self.jobs = jobs
        self.rss = rss
        self.sched = sched
        self.psr = psr
        self.label = label
        self.context = context
        self.lwp = lwp
        self.spid = spid
        self.bsd = bsd or bool(bsd_format)
        self.bsd_format = bsd_format

    @property
    def modified(self) -> bool:
        """Whether a modifier that edits a listing (-j, -y, -c, -P, -M) was given."""
        return self.jobs or self.rss or self.sched or self.psr or self.label

    @property
    def formatted(self) -> bool:
        """Whether a format letter (-f, -F, -l, --context or a BSD one) was given."""
        return self.full or self.long or self.context or bool(self.bsd_format)

    @property
    def modifier(self) -> str:
        """The first modifier given, as typed (for messages)."""
        found = [("-j", self.jobs), ("-y", self.rss), ("-c", self.sched), ("-P", self.psr)]
        return next((name for name, given in found if given), "-M")


def check(style: Style, user_columns: bool) -> None:
    """procps's refusals: -o with a format or modifier, two formats, -y without -l."""
    if user_columns and style.formatted:
        given = style.bsd_format or (
            "-l" if style.long else "-F" if style.extra else "-f" if style.full else "--context"
        )
        raise UsageError(
            f"-o and {given} both choose the columns: give one of them"
            " (e.g. -o with the columns of your choice)"
        )
    if user_columns and style.modified:
        raise UsageError(
            f"{style.modifier} changes procps's own column lists, not -o's: drop it, or name"
            " the columns in -o"
        )
    if style.bsd_format and (style.full or style.long or style.context):
        given = "-l" if style.long else "-f" if style.full else "--context"
        raise UsageError(f"BSD {style.bsd_format} and {given} are two formats: give one of them")
    if style.context and (style.full or style.long):
        given = "-l" if style.long else "-f"
        raise UsageError(f"--context and {given} are two formats: give one of them")
    if style.rss and not style.long and not style.bsd_format:
        raise UsageError("-y only changes the -l format: give -l too (ps -ly)")


def names(style: Style) -> list[str]:
    """The procps ``-o`` names of the columns ``style`` lists, in order."""
    if style.bsd_format or style.context:
        fixed = BSD_FORMATS[style.bsd_format] if style.bsd_format else CONTEXT
        cols = _edited(fixed.split(","), style)
        return ["label", *cols] if style.label else cols
    return _sysv(style)


def preloaded(spec: str, bsd: bool) -> list[str]:
    """procps's -O (``bsd`` False) or BSD O list: PID, the columns given,
    then S, TTY, TIME and the command (BSD O: its name).  BSD O's other
    reading, a sort order in letters (``O -r``), is refused."""
    if bsd and _short_sort(spec):
        raise UsageError(
            f"BSD O {spec!r} reads as procps's one-letter sort codes, which tidscope ps does"
            " not take: sort with k or --sort and column names, e.g. k -pcpu"
        )
    return ["pid", spec, PRELOADED_TAIL[bsd]]


def _short_sort(spec: str) -> bool:
    """procps's verify_short_sort: sort letters, none twice, each sign
    followed by a letter."""
    if not spec or not set(spec) <= SHORT_SORT:
        return False
    seen = set()
    for at, letter in enumerate(spec):
        if letter in "+-":
            if spec[at + 1 : at + 2] in ("", "+", "-"):
                return False
        elif letter in seen:
            return False
        seen.add(letter)
    return True


def _sysv(s: Style) -> list[str]:
    """procps's generate_sysv_list, which pushes columns last to first: the
    right part (command back to C), then the IDs and flags on its left."""
    out = _sysv_right(s)
    push = out.append
    if s.psr:
        push("psr")
    if s.lwp:
        push("lwp")
    if s.jobs:
        push("sid")
        push("pgid")
    if s.full or s.long:
        push("ppid")
    if s.spid:
        push("spid")
    push("pid")
    if s.full:
        push("user=UID")  # procps's uid_hack: USER under the header UID
    elif s.long:
        push("uid")
    if s.long:
        push("s")
        if not s.rss:
            push("f")
    if s.label:
        push("label")
    out.reverse()
    return out


def _sysv_right(s: Style) -> list[str]:
    out: list[str] = []
    push = out.append
    if s.bsd:
        push("cmd" if s.full or s.long else "args")
        push("bsdtime")
        if not s.long:
            push("stat")
    else:
        push("cmd" if s.full else "ucmd")
        push("time")
    push("tname")
    if s.full:
        push("stime")
    if s.extra:
        if not s.psr:  # -FP: -P's column instead
            push("psr")
        if not (s.long and s.rss):
            push("rss")
    if s.long:
        push("wchan")
    if s.extra or s.long:
        push("sz")
    if s.long:
        push("rss" if s.rss else "addr_1")
    if s.sched:
        push("pri")
        push("class")
    elif s.long:
        push("ni")
        push("opri")
    if s.lwp and s.full:
        push("nlwp")
    if (s.full or s.long) and not s.sched:
        push("c")
    return out


# procps finds a column of a fixed list by its header when it edits the list
HEADERS = {
    "ppid": "PPID", "pid": "PID", "pgid": "PGID", "sid": "SID", "flags": "F",
    "priority": "PRI", "pri": "PRI", "nice": "NI", "pcpu": "%CPU", "class": "CLS",
}  # fmt: skip


def _edited(cols: list[str], s: Style) -> list[str]:
    """procps's edits of a fixed (BSD) list for -j, -y, -c, -T and -L, by header."""

    def after(anchors: tuple[str, ...], name: str) -> bool:
        for anchor in anchors:
            for i, col in enumerate(cols):
                if HEADERS.get(col) == anchor:
                    cols.insert(i + 1, name)
                    return True
        return False

    def delete(header: str) -> None:
        for i, col in enumerate(cols):
            if HEADERS.get(col) == header:
                del cols[i]
                return

    if s.jobs:
        after(("PPID", "PID"), "pgid")
        after(("PGID",), "sid")
    if s.rss:
        delete("F")
    if s.sched:
        for header in ("%CPU", "NI"):
            delete(header)
        if not after(("PRI",), "class"):
            raise UsageError(f"-c needs a PRI column, which BSD {s.bsd_format} lacks: drop -c")
        delete("PRI")
        after(("CLS",), "pri")
    if s.spid:
        after(("PID",), "spid")
    if s.lwp:
        after(("SID", "PGID", "PPID", "PID"), "lwp")
        after(("%CPU",), "nlwp")
    return cols
