"""Terminal names as procps's ``dev_to_tty`` makes them from ``tty_nr``,
and the order libproc2 sorts them in (:func:`strverscmp`)."""

from __future__ import annotations

import os

from tidscope.numeric import decimal
from tidscope.proc.files import PROC, TABLE_MAX, Unread, link, read_all

# major -> /dev name prefix; the device file must exist and match.
_GUESS = {
    11: "ttyB", 17: "ttyH", 19: "ttyC", 22: "ttyD", 23: "ttyD", 24: "ttyE", 32: "ttyX",
    43: "ttyI", 46: "ttyR", 48: "ttyL", 57: "ttyP", 71: "ttyF", 75: "ttyW", 78: "ttyM",
    105: "ttyV", 112: "ttyM", 148: "ttyT", 154: "ttySR", 164: "ttyCH", 166: "ttyACM",
    172: "ttyMX", 174: "ttySI", 188: "ttyUSB", 208: "ttyU", 216: "ttyUB", 224: "ttyY",
    227: "3270/tty", 229: "iseries/vtty",
}  # fmt: skip


def _is_device(path: str, major: int, minor: int) -> bool:
    try:
        rdev = os.stat(path).st_rdev
    except OSError:
        return False
    return os.major(rdev) == major and os.minor(rdev) == minor


class TtyNames:
    """``tty_nr`` to a name such as ``pts/0``, ``tty1`` or ``ttyS0``.

    As procps: the drivers in ``/proc/tty/drivers`` first, then the task's
    standard error, then names by major number, then fd 255 (bash's tty);
    a name counts only if that device file exists with that number.
    """

    def __init__(self, root: str = PROC) -> None:
        self.root = root
        self._drivers: list[tuple[str, bool, int, int, int]] | None = None
        self._by_driver: dict[int, str | None] = {}
        self._by_guess: dict[int, str | None] = {}

    def name(self, tty_nr: int, tid: int) -> str | None:
        major, minor = os.major(tty_nr), os.minor(tty_nr)
        if tty_nr not in self._by_driver:
            self._by_driver[tty_nr] = self._driver(major, minor)
        found = self._by_driver[tty_nr] or self._link(tid, "fd/2", major, minor)
        if found is None:
            if tty_nr not in self._by_guess:
                self._by_guess[tty_nr] = self._guess(major, minor)
            found = self._by_guess[tty_nr] or self._link(tid, "fd/255", major, minor)
        return found

    def _load(self) -> list[tuple[str, bool, int, int, int]]:
        drivers = []
        data = read_all(f"{self.root}/tty/drivers", limit=TABLE_MAX)
        for line in (data or b"").decode("ascii", "replace").splitlines():
            words = line.split()
            if len(words) < 4 or not words[1].startswith("/dev/"):
                continue
            name = words[1][5:]
            numbered = name.endswith("%d")
            first, _, last = words[3].partition("-")
            major, low, high = decimal(words[2]), decimal(first), decimal(last or first)
            if major is None or low is None or high is None:
                continue
            name = name[:-2] if numbered else name
            drivers.append((name, numbered, major, low, high))
        drivers.reverse()  # procps searches the last-listed driver first
        return drivers

    def _driver(self, major: int, minor: int) -> str | None:
        if self._drivers is None:
            self._drivers = self._load()
        for name, numbered, maj, first, last in self._drivers:
            if maj == major and first <= minor <= last:
                for path in (f"/dev/{name}{minor}", f"/dev/{name}/{minor}"):
                    if _is_device(path, major, minor):
                        return path[5:]
                if not numbered and _is_device(f"/dev/{name}", major, minor):
                    return name
                return None
        return None

    def _link(self, tid: int, fd: str, major: int, minor: int) -> str | None:
        path = link(f"{self.root}/{tid}/{fd}")
        if isinstance(path, Unread) or not _is_device(path, major, minor):
            return None
        return path[5:] if path.startswith("/dev/") and len(path) > 5 else path

    def _guess(self, major: int, minor: int) -> str | None:
        if major == 4:
            path = f"/dev/tty{minor}" if minor < 64 else f"/dev/ttyS{minor - 64}"
        elif 136 <= major <= 143:
            path = f"/dev/pts/{minor + (major - 136) * 256}"
        elif major == 3 and minor < 256:
            path = "/dev/tty" + "pqrstuvwxyzabcde"[minor >> 4] + "0123456789abcdef"[minor & 15]
        elif major == 156:
            path = f"/dev/ttySR{minor + 256}"
        elif major in _GUESS:
            path = f"/dev/{_GUESS[major]}{minor}"
        else:
            return None
        return path[5:] if _is_device(path, major, minor) else None


# glibc's strverscmp, a state machine over the classes of the bytes: other,
# a digit 1-9, the digit 0 (x, d, 0); the states: normal, in an integer, in
# a fraction (digits after a leading 0), in leading zeros
_SN, _SI, _SF, _SZ = 0, 3, 6, 9
_CMP, _LEN = 2, 3
_NEXT = (_SN, _SI, _SZ, _SN, _SI, _SI, _SN, _SF, _SF, _SN, _SF, _SZ)
_RESULT = (
    (_CMP, _CMP, _CMP, _CMP, _LEN, _CMP, _CMP, _CMP, _CMP),
    (_CMP, -1, -1, +1, _LEN, _LEN, +1, _LEN, _LEN),
    (_CMP, _CMP, _CMP, _CMP, _CMP, _CMP, _CMP, _CMP, _CMP),
    (_CMP, +1, +1, -1, _CMP, _CMP, -1, _CMP, _CMP),
)


def _class(byte: int) -> int:
    return 2 if byte == 0x30 else 1 if 0x31 <= byte <= 0x39 else 0


def strverscmp(a: bytes, b: bytes) -> int:
    """glibc's ``strverscmp(3)`` of two C strings (no NUL inside): the
    version order, where runs of digits compare as numbers and a run with
    leading zeros as a fraction."""
    a += b"\0"
    b += b"\0"
    i = 0
    c1, c2 = a[0], b[0]
    state = _SN + _class(c1)
    while c1 == c2:
        if c1 == 0:
            return 0
        state = _NEXT[state]
        i += 1
        c1, c2 = a[i], b[i]
        state += _class(c1)
    result = _RESULT[state // 3][state % 3 * 3 + _class(c2)]
    if result == _CMP:
        return c1 - c2
    if result != _LEN:
        return result
    j = i + 1  # the longer run of digits is the greater number; same length: the pair
    while _class(a[j]):
        if not _class(b[j]):
            return 1
        j += 1
    return -1 if _class(b[j]) else c1 - c2
