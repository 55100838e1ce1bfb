"""ZRANGE and its kin: ZRANGESTORE, ZREVRANGE, Z[REV]RANGEBYSCORE and Z[REV]RANGEBYLEX, as Redis 7.0's
zrangeGenericCommand reads and answers them.

Cost: O(log n + offset + m) for m elements returned (O(log² n + offset + m) by lex): the window is found
by bisection of the set's ``SortedList`` and only it is read, so a slice of a million-member set reads
the slice alone. ZRANGESTORE adds O(m log m) to build the destination.
"""
from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from functools import partial

from sortedcontainers import SortedList

from raftkv.errors import RespError, err
from raftkv.kv.args import NOT_AN_INTEGER, SYNTAX_ERROR, parse_int
from raftkv.kv.commands.zset import rank_window
from raftkv.kv.datatypes import ZSet
from raftkv.kv.keyspace import Handler, Keyspace, Reply
from raftkv.kv.scores import lex_window, parse_lex_range, parse_score_range, score_window
from raftkv.wire.values import Pairs


class By(Enum):
    RANK = "rank"
    SCORE = "score"
    LEX = "lex"


def _range(sm: Keyspace, argv: list[bytes], now_ms: int, first: int, by: By | None, reverse: bool | None,
           store: bool) -> Reply:
    """The shared body; `by` and `reverse` are None where ZRANGE's options may set them."""
    withscores = False
    limit: tuple[int, int] | None = None
    i = first + 3
    while i < len(argv):
        option = argv[i].lower()
        if option == b"withscores" and not store:
            withscores = True
        elif option == b"limit" and len(argv) - i - 1 >= 2:
            offset, count = parse_int(argv[i + 1]), parse_int(argv[i + 2])
            if offset is None or count is None:
                return NOT_AN_INTEGER
            limit = offset, count
            i += 2
        elif option == b"rev" and reverse is None:
            reverse = True
        elif option == b"bylex" and by is None:
            by = By.LEX
        elif option == b"byscore" and by is None:
            by = By.SCORE
        else:
            return SYNTAX_ERROR
        i += 1
    by = by or By.RANK
    reverse = bool(reverse)
    if limit is not None and by is By.RANK:
        return err("syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    if withscores and by is By.LEX:
        return err("syntax error, WITHSCORES not supported in combination with BYLEX")
    low, high = argv[first + 1], argv[first + 2]
    if reverse and by is not By.RANK:
        low, high = high, low
    locate: Callable[[SortedList], tuple[int, int]]
    if by is By.RANK:
        start, stop = parse_int(low), parse_int(high)
        if start is None or stop is None:
            return NOT_AN_INTEGER
        locate = partial(_ranks, start, stop, reverse)
    elif by is By.SCORE:
        scores = parse_score_range(low, high)
        if isinstance(scores, RespError):
            return scores
        locate = partial(score_window, bounds=scores)
    else:
        lex = parse_lex_range(low, high)
        if isinstance(lex, RespError):
            return lex
        locate = partial(lex_window, bounds=lex)
    zset = sm.typed(argv[first], now_ms, ZSet)
    pairs: list[tuple[float, bytes]] = []
    if zset is not None:
        pairs = _window(zset.order, locate(zset.order), reverse, limit)
    if store:
        return _store(sm, argv[1], pairs, now_ms)
    if withscores:
        return Pairs([x for score, member in pairs for x in (member, score)])
    return [member for _score, member in pairs]


def _ranks(start: int, stop: int, reverse: bool, order: SortedList) -> tuple[int, int]:
    low, high = rank_window(start, stop, len(order))
    return (len(order) - high, len(order) - low) if reverse else (low, high)


def _window(order: SortedList, window: tuple[int, int], reverse: bool, limit: tuple[int, int] | None
            ) -> list[tuple[float, bytes]]:
    """The pairs at positions `window`, in the order asked for, after LIMIT offset count."""
    low, high = window
    if limit is not None:
        offset, count = limit
        if offset < 0:
            return []
        if reverse:
            high = max(low, high - offset)
            if count >= 0:
                low = max(low, high - count)
        else:
            low = min(high, low + offset)
            if count >= 0:
                high = min(high, low + count)
    return list(order.islice(low, high, reverse=reverse))


def _store(sm: Keyspace, dst: bytes, pairs: list[tuple[float, bytes]], now_ms: int) -> Reply:
    sm.value_for_write(dst, now_ms)
    if pairs:
        sm.put(dst, ZSet((member, score) for score, member in pairs))
    else:
        sm.delete(dst)
    return len(pairs)


def zrange(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _range(sm, argv, now_ms, 1, None, None, False)


def zrangestore(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _range(sm, argv, now_ms, 2, None, None, True)


def zrevrange(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _range(sm, argv, now_ms, 1, By.RANK, True, False)


def zrangebyscore(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _range(sm, argv, now_ms, 1, By.SCORE, False, False)


def zrevrangebyscore(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _range(sm, argv, now_ms, 1, By.SCORE, True, False)


def zrangebylex(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _range(sm, argv, now_ms, 1, By.LEX, False, False)


def zrevrangebylex(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _range(sm, argv, now_ms, 1, By.LEX, True, False)


HANDLERS: dict[bytes, Handler] = {
    b"zrange": zrange,
    b"zrangestore": zrangestore,
    b"zrevrange": zrevrange,
    b"zrangebyscore": zrangebyscore,
    b"zrevrangebyscore": zrevrangebyscore,
    b"zrangebylex": zrangebylex,
    b"zrevrangebylex": zrevrangebylex,
}
