"""LCS: the longest common subsequence of two strings, with Redis 7.0's options and replies.

Redis builds the whole table of LCS lengths of prefixes (n * m cells of 4 bytes); here each row is one
bit vector of m bits, built with a few integer operations per row, and the walk back from the last cell
finds the same subsequence and the same matched ranges as Redis's, in the same order (last first). A read
holds the Raft process while it runs, so the table is limited to :data:`MAX_CELLS` bits (32 MiB) where
Redis's limit is proto-max-bulk-len bytes of cells.
"""
from __future__ import annotations

from raftkv.errors import RespError, err
from raftkv.kv.args import NOT_AN_INTEGER, SYNTAX_ERROR, parse_int
from raftkv.kv.keyspace import Handler, Keyspace, Reply

MAX_CELLS = 1 << 28
_NOT_STRINGS = err("The specified keys must contain string values")
_LEN_AND_IDX = err("If you want both the length and indexes, please just use IDX.")
_TOO_BIG = err(f"LCS table of more than {MAX_CELLS} cells (the strings' lengths plus one, multiplied)")


class _Options:
    __slots__ = ("length", "idx", "with_match_len", "min_match_len")

    def __init__(self) -> None:
        self.length = self.idx = self.with_match_len = False
        self.min_match_len = 0


def _parse(argv: list[bytes]) -> _Options | RespError:
    o = _Options()
    i = 3
    while i < len(argv):
        opt = argv[i].lower()
        if opt == b"idx":
            o.idx = True
        elif opt == b"len":
            o.length = True
        elif opt == b"withmatchlen":
            o.with_match_len = True
        elif opt == b"minmatchlen" and i + 1 < len(argv):
            n = parse_int(argv[i + 1])
            if n is None:
                return NOT_AN_INTEGER
            o.min_match_len = max(n, 0)
            i += 1
        else:
            return SYNTAX_ERROR
        i += 1
    if o.length and o.idx:
        return _LEN_AND_IDX
    return o


class _Table:
    """The LCS lengths of every pair of prefixes, one bit vector per row (Hyyrö's bit-parallel LCS): after
    i bytes of a, the zero bits among the low j bits of ``rows[i]`` count the LCS of a[:i] and b[:j]."""

    __slots__ = ("rows",)

    def __init__(self, a: bytes, b: bytes) -> None:
        mask = (1 << len(b)) - 1
        where: dict[int, int] = {}
        for j, c in enumerate(b):
            where[c] = where.get(c, 0) | 1 << j
        v = mask
        self.rows = [v]
        for c in a:
            u = v & where.get(c, 0)
            v = ((v + u) | (v - u)) & mask
            self.rows.append(v)

    def at(self, i: int, j: int) -> int:
        return j - (self.rows[i] & ((1 << j) - 1)).bit_count()


def _walk(a: bytes, b: bytes, table: _Table, o: _Options) -> tuple[bytes, list[list[object]]]:
    """The LCS itself and the matched ranges IDX reports, walking back from the table's last cell."""
    found = bytearray()
    ranges: list[list[object]] = []
    start: tuple[int, int] | None = None  # where the current range begins (in a, in b), walking back
    end = (0, 0)
    i, j = len(a), len(b)
    while i > 0 and j > 0:
        emit = False
        if a[i - 1] == b[j - 1]:
            found.append(a[i - 1])
            if start is None:
                start = end = (i - 1, j - 1)
            elif start == (i, j):
                start = (i - 1, j - 1)
            else:
                emit = True
            if start[0] == 0 or start[1] == 0:
                emit = True
            i, j = i - 1, j - 1
        else:
            if table.at(i - 1, j) > table.at(i, j - 1):
                i -= 1
            else:
                j -= 1
            emit = start is not None
        if emit and start is not None:
            match_len = end[0] - start[0] + 1
            if match_len >= o.min_match_len:
                entry: list[object] = [[start[0], end[0]], [start[1], end[1]]]
                if o.with_match_len:
                    entry.append(match_len)
                ranges.append(entry)
            start = None
    found.reverse()
    return bytes(found), ranges


def lcs(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    values = [sm.value(key, now_ms) for key in argv[1:3]]
    if any(v is not None and type(v) is not bytes for v in values):
        return _NOT_STRINGS
    o = _parse(argv)
    if isinstance(o, RespError):
        return o
    a, b = (v if isinstance(v, bytes) else b"" for v in values)  # a missing key is an empty string
    if (len(a) + 1) * (len(b) + 1) > MAX_CELLS:
        return _TOO_BIG
    table = _Table(a, b)
    total = table.at(len(a), len(b))
    if o.length:
        return total
    found, ranges = _walk(a, b, table, o)
    if o.idx:
        return {b"matches": ranges, b"len": total}
    return found


HANDLERS: dict[bytes, Handler] = {b"lcs": lcs}
