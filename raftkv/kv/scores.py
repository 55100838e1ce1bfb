"""Sorted-set arguments as Redis 7.0 reads them: scores (``string2d``), score ranges and lex ranges.

A score is a C double: Python's float is one, and ``float()`` of a decimal literal rounds as glibc's
``strtod`` does (correctly). What differs is the grammar, so the text is first matched against C's: no
blanks, underscores or "nan"; hex literals allowed. Replies format scores with the codec's ``%.17g``.
It also finds ranges in a sorted set's ``SortedList`` of (score, member): :func:`score_window`,
:func:`lex_window`.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Final

from sortedcontainers import SortedList

from raftkv.errors import RespError, err

NOT_A_FLOAT: Final = err("value is not a valid float")
RANGE_NOT_FLOAT: Final = err("min or max is not a float")
RANGE_NOT_LEX: Final = err("min or max not valid string range item")

_DECIMAL = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX = re.compile(rb"([+-]?)0[xX]((?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?)")
_INFINITY = re.compile(rb"[+-]?(?:inf|infinity)", re.IGNORECASE)
_NAN = re.compile(rb"[+-]?nan(?:\([0-9A-Za-z_]*\))?", re.IGNORECASE)
_C_SPACE = b" \t\n\v\f\r"


def _strtod(text: bytes) -> tuple[float, bool] | None:
    """`text` read whole as a strtod literal: (value, out of range), or None if it is not one."""
    if _INFINITY.fullmatch(text):
        return (-math.inf if text[:1] == b"-" else math.inf), False
    if _NAN.fullmatch(text):
        return math.nan, False
    if _DECIMAL.fullmatch(text):
        value = float(text)
        nonzero = any(c in b"123456789" for c in text.split(b"e")[0].split(b"E")[0])
    else:
        m = _HEX.fullmatch(text)
        if m is None:
            return None
        body = m[2] if b"p" in m[2].lower() else m[2] + b"p0"
        try:
            value = float.fromhex((m[1] + b"0x" + body).decode())
        except OverflowError:
            return (-math.inf if m[1] == b"-" else math.inf), True
        nonzero = any(c not in b"0.xX" for c in body.lower().split(b"p")[0])
    return value, math.isinf(value) or (value == 0 and nonzero)


def parse_score(raw: bytes) -> float | None:
    """A score argument (ZADD, ZINCRBY, weights): Redis's string2d; None if it is not a valid float."""
    if not raw or raw[0] in _C_SPACE:
        return None
    read = _strtod(raw)
    if read is None or math.isnan(read[0]) or (read[1] and (math.isinf(read[0]) or read[0] == 0)):
        return None
    return read[0]


def _range_double(raw: bytes) -> float | None:
    """One end of a score range as zslParseRange reads it: strtod up to the first NUL, leading blanks
    skipped, out-of-range values kept, NaN refused; "" is 0 (strtod reads nothing, at the NUL)."""
    text = raw.split(b"\0", 1)[0]
    if not text:
        return 0.0
    stripped = text.lstrip(_C_SPACE)
    read = _strtod(stripped) if stripped else None
    if read is None or math.isnan(read[0]):
        return None
    return read[0]


class ScoreRange:
    """min and max of ZRANGEBYSCORE and its kin, each inclusive or exclusive ("(")."""

    __slots__ = ("low", "low_open", "high", "high_open")

    def __init__(self, low: float, low_open: bool, high: float, high_open: bool) -> None:
        self.low, self.low_open, self.high, self.high_open = low, low_open, high, high_open

    def empty(self) -> bool:
        return self.low > self.high or (self.low == self.high and (self.low_open or self.high_open))

    def above_low(self, score: float) -> bool:
        return score > self.low if self.low_open else score >= self.low

    def below_high(self, score: float) -> bool:
        return score < self.high if self.high_open else score <= self.high


def parse_score_range(low: bytes, high: bytes) -> ScoreRange | RespError:
    ends: list[tuple[float, bool]] = []
    for raw in (low, high):
        is_open = raw[:1] == b"("
        value = _range_double(raw[1:] if is_open else raw)
        if value is None:
            return RANGE_NOT_FLOAT
        ends.append((value, is_open))
    return ScoreRange(ends[0][0], ends[0][1], ends[1][0], ends[1][1])


class LexRange:
    """min and max of ZRANGEBYLEX and its kin. A bound is (rank, member, open): rank -1 for "-" (below
    every member), 1 for "+" (above every member), 0 for "[member" or "(member" (open)."""

    __slots__ = ("low", "high")

    def __init__(self, low: tuple[int, bytes, bool], high: tuple[int, bytes, bool]) -> None:
        self.low, self.high = low, high

    def empty(self) -> bool:
        low, high = self.low[:2], self.high[:2]
        return low > high or (low == high and (self.low[2] or self.high[2]))

    def above_low(self, member: bytes) -> bool:
        rank, value, is_open = self.low
        if rank:
            return rank < 0
        return member > value if is_open else member >= value

    def below_high(self, member: bytes) -> bool:
        rank, value, is_open = self.high
        if rank:
            return rank > 0
        return member < value if is_open else member <= value


def _lex_bound(raw: bytes) -> tuple[int, bytes, bool] | None:
    if raw == b"+":
        return 1, b"", True
    if raw == b"-":
        return -1, b"", True
    if raw[:1] == b"[":
        return 0, raw[1:], False
    if raw[:1] == b"(":
        return 0, raw[1:], True
    return None


def parse_lex_range(low: bytes, high: bytes) -> LexRange | RespError:
    low_bound, high_bound = _lex_bound(low), _lex_bound(high)
    if low_bound is None or high_bound is None:
        return RANGE_NOT_LEX
    return LexRange(low_bound, high_bound)


def score_window(order: SortedList, bounds: ScoreRange) -> tuple[int, int]:
    """The positions [lo, hi) of the (score, member) pairs of `order` inside `bounds`: two bisections."""
    def first_above(score: float) -> int:
        return len(order) if score == math.inf else order.bisect_left((math.nextafter(score, math.inf),))

    low = first_above(bounds.low) if bounds.low_open else order.bisect_left((bounds.low,))
    high = order.bisect_left((bounds.high,)) if bounds.high_open else first_above(bounds.high)
    return low, max(low, high)


def lex_window(order: SortedList, bounds: LexRange) -> tuple[int, int]:
    """The positions [lo, hi) of the members of `order` inside `bounds`, by bisection on the members:
    O(log² n). Exact when all scores are equal, the only case Redis defines."""
    if bounds.empty():
        return 0, 0

    def first(ok: Callable[[bytes], bool], lo: int) -> int:
        hi = len(order)
        while lo < hi:
            mid = (lo + hi) // 2
            if ok(order[mid][1]):
                hi = mid
            else:
                lo = mid + 1
        return lo

    low = first(bounds.above_low, 0)
    return low, first(lambda member: not bounds.below_high(member), low)
