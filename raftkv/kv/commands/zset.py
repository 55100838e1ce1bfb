"""The sorted-set commands on one key: ZADD to ZRANDMEMBER, with Redis 7.0's replies, errors and order of
checks. The range family (ZRANGE and its kin) is in :mod:`raftkv.kv.commands.zrange`, the operations over
several sets (ZUNION, ZINTER, ZDIFF) in :mod:`raftkv.kv.commands.zsetops`.

A sorted set is a :class:`raftkv.kv.datatypes.ZSet`: member -> score dict beside a ``SortedList`` of
(score, member). Costs: ZADD/ZINCRBY/ZREM O(log n) per member; ZSCORE/ZMSCORE/ZCARD O(1) per member;
ZCOUNT O(log n); ZLEXCOUNT O(log² n); ZRANK/ZREVRANK O(log n); ZREMRANGEBY* O(log n + removed);
ZPOPMIN/ZPOPMAX/ZMPOP O(log n) per element; ZRANDMEMBER O(log n) per element drawn (it reads at random,
so it uses the read RNG; only within EXEC does every node draw the same). Scores are floats, never NaN
and never -0 (stored as 0, as Redis's listpack does; its skiplist, past 128 members, would keep -0);
replies carry them as floats, which the codec writes as Redis 7.0 does (``%.17g``; RESP3 doubles).
"""
from __future__ import annotations

from raftkv.errors import RespError, err
from raftkv.kv.args import NOT_AN_INTEGER, SYNTAX_ERROR, parse_int
from raftkv.kv.commands.list import first_held, parse_mpop
from raftkv.kv.datatypes import ZSet
from raftkv.kv.keyspace import Handler, Keyspace, Reply
from raftkv.kv.scanning import scan_aggregate
from raftkv.kv.scores import NOT_A_FLOAT, lex_window, parse_lex_range, parse_score, parse_score_range, score_window
from raftkv.wire.values import NULL_ARRAY, Pairs

NAN_SCORE = err("resulting score is not a number (NaN)")
_LONG_MAX = (1 << 63) - 1
_ZADD_FLAGS = (b"nx", b"xx", b"ch", b"incr", b"gt", b"lt")


def _zadd(sm: Keyspace, argv: list[bytes], now_ms: int, incr: bool) -> Reply:
    flags: set[bytes] = {b"incr"} if incr else set()
    at = 2
    while at < len(argv) and argv[at].lower() in _ZADD_FLAGS:
        flags.add(argv[at].lower())
        at += 1
    pairs = len(argv) - at
    if pairs % 2 or not pairs:
        return SYNTAX_ERROR
    nx, xx, gt, lt, incr = (f in flags for f in (b"nx", b"xx", b"gt", b"lt", b"incr"))
    if nx and xx:
        return err("XX and NX options at the same time are not compatible")
    if (gt and nx) or (lt and nx) or (gt and lt):
        return err("GT, LT, and/or NX options at the same time are not compatible")
    if incr and pairs > 2:
        return err("INCR option supports a single increment-element pair")
    scores: list[float] = []
    for raw in argv[at::2]:
        score = parse_score(raw)
        if score is None:
            return NOT_A_FLOAT
        scores.append(score)
    key = argv[1]
    zset = sm.typed_for_write(key, now_ms, ZSet)
    added = updated = processed = 0
    result = 0.0
    if zset is None:
        if xx:
            return None if incr else 0
        zset = ZSet()
        sm.put(key, zset)
    for score, member in zip(scores, argv[at + 1::2]):
        current = zset.scores.get(member)
        if current is None:
            if xx:
                continue
            zset.add(member, score + 0.0)  # -0 is stored as 0 (but answered as -0), as in Redis's listpack
            added += 1
        else:
            if nx:
                continue
            if incr:
                score += current
                if score != score:
                    return NAN_SCORE
            if (lt and score >= current) or (gt and score <= current):
                continue
            if score != current:
                zset.add(member, score + 0.0)
                updated += 1
        processed += 1
        result = score
    if added or updated:
        sm.changed(key)
    if incr:
        return result if processed else None
    return added + updated if b"ch" in flags else added


def zadd(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _zadd(sm, argv, now_ms, False)


def zincrby(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _zadd(sm, argv, now_ms, True)


def zrem(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    key = argv[1]
    zset = sm.typed_for_write(key, now_ms, ZSet)
    if zset is None:
        return 0
    removed = sum(1 for member in argv[2:] if zset.remove(member))
    if removed:
        sm.changed(key)
    return removed


def zscore(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    zset = sm.typed(argv[1], now_ms, ZSet)
    return None if zset is None else zset.scores.get(argv[2])


def zmscore(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    zset = sm.typed(argv[1], now_ms, ZSet)
    scores = {} if zset is None else zset.scores
    return [scores.get(member) for member in argv[2:]]


def zcard(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    zset = sm.typed(argv[1], now_ms, ZSet)
    return 0 if zset is None else len(zset)


def zcount(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    bounds = parse_score_range(argv[2], argv[3])
    if isinstance(bounds, RespError):
        return bounds
    zset = sm.typed(argv[1], now_ms, ZSet)
    if zset is None:
        return 0
    low, high = score_window(zset.order, bounds)
    return high - low


def zlexcount(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    bounds = parse_lex_range(argv[2], argv[3])
    if isinstance(bounds, RespError):
        return bounds
    zset = sm.typed(argv[1], now_ms, ZSet)
    if zset is None:
        return 0
    low, high = lex_window(zset.order, bounds)
    return high - low


def _rank(sm: Keyspace, argv: list[bytes], now_ms: int, reverse: bool) -> Reply:
    zset = sm.typed(argv[1], now_ms, ZSet)
    rank = None if zset is None else zset.rank(argv[2])
    if rank is None or zset is None:
        return None
    return len(zset) - 1 - rank if reverse else rank


def zrank(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _rank(sm, argv, now_ms, False)


def zrevrank(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _rank(sm, argv, now_ms, True)


def rank_window(start: int, stop: int, length: int) -> tuple[int, int]:
    """Redis's rank range start..stop (negative from the end) as positions [lo, hi), maybe empty."""
    if start < 0:
        start += length
    if stop < 0:
        stop += length
    start = max(start, 0)
    if start > stop or start >= length:
        return 0, 0
    return start, min(stop, length - 1) + 1


def _remove_window(sm: Keyspace, key: bytes, zset: ZSet, window: tuple[int, int]) -> int:
    low, high = window
    for _score, member in list(zset.order.islice(low, high)):
        zset.remove(member)
    if high > low:
        sm.changed(key)
    return high - low


def zremrangebyrank(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    start, stop = parse_int(argv[2]), parse_int(argv[3])
    if start is None or stop is None:
        return NOT_AN_INTEGER
    zset = sm.typed_for_write(argv[1], now_ms, ZSet)
    if zset is None:
        return 0
    return _remove_window(sm, argv[1], zset, rank_window(start, stop, len(zset)))


def zremrangebyscore(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    bounds = parse_score_range(argv[2], argv[3])
    if isinstance(bounds, RespError):
        return bounds
    zset = sm.typed_for_write(argv[1], now_ms, ZSet)
    if zset is None:
        return 0
    return _remove_window(sm, argv[1], zset, score_window(zset.order, bounds))


def zremrangebylex(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    bounds = parse_lex_range(argv[2], argv[3])
    if isinstance(bounds, RespError):
        return bounds
    zset = sm.typed_for_write(argv[1], now_ms, ZSet)
    if zset is None:
        return 0
    return _remove_window(sm, argv[1], zset, lex_window(zset.order, bounds))


def pop_pairs(sm: Keyspace, key: bytes, zset: ZSet, highest: bool, count: int) -> list[bytes | float]:
    """Up to `count` members popped from one end, flat: [member, score, ...]."""
    flat: list[bytes | float] = []
    order = zset.order
    for _ in range(min(count, len(order))):
        score, member = order[-1] if highest else order[0]
        zset.remove(member)
        flat += (member, score)
    sm.changed(key)
    return flat


def _zpop(sm: Keyspace, argv: list[bytes], now_ms: int, highest: bool) -> Reply:
    if len(argv) > 3:
        return SYNTAX_ERROR
    count = parse_int(argv[2]) if len(argv) == 3 else 1
    if count is None or count < 0:
        return err("value is out of range, must be positive")
    key = argv[1]
    zset = sm.typed_for_write(key, now_ms, ZSet)
    if zset is None or count == 0:
        return []
    flat = pop_pairs(sm, key, zset, highest, count)
    return flat if len(argv) == 2 else Pairs(flat)


def zpopmin(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _zpop(sm, argv, now_ms, False)


def zpopmax(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _zpop(sm, argv, now_ms, True)


def zmpop(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    parsed = parse_mpop(argv, 1, {b"min": False, b"max": True})
    if isinstance(parsed, RespError):
        return parsed
    keys, highest, count = parsed
    found = first_held(sm, keys, now_ms, ZSet)
    if found is None:
        return NULL_ARRAY
    key, zset = found
    flat = pop_pairs(sm, key, zset, highest, count)
    return [key, [flat[i:i + 2] for i in range(0, len(flat), 2)]]


def zscan(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return scan_aggregate(sm, argv, now_ms, ZSet)


def zrandmember(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    if len(argv) == 2:
        zset = sm.typed(argv[1], now_ms, ZSet)
        return None if zset is None else zset.order[sm.rng.randrange(len(zset))][1]
    count = parse_int(argv[2])
    if count is None:
        return NOT_AN_INTEGER
    if count < -_LONG_MAX:
        return err(f"value is out of range, value must between {-_LONG_MAX} and {_LONG_MAX}")
    withscores = len(argv) == 4
    if len(argv) > 4 or (withscores and argv[3].lower() != b"withscores"):
        return SYNTAX_ERROR
    if withscores and not -_LONG_MAX // 2 <= count <= _LONG_MAX // 2:
        return err("value is out of range")
    zset = sm.typed(argv[1], now_ms, ZSet)
    if zset is None:
        return []
    order, size = zset.order, len(zset)
    if count == 0:
        return []
    if count < 0 or count == 1:
        picks = [order[sm.rng.randrange(size)] for _ in range(abs(count))]
    elif count >= size:
        picks = list(reversed(order))  # the whole set, highest first, as Redis answers it
    else:
        picks = [order[i] for i in sm.rng.sample(range(size), count)]
    if not withscores:
        return [member for _score, member in picks]
    return Pairs([x for score, member in picks for x in (member, score)])


HANDLERS: dict[bytes, Handler] = {
    b"zadd": zadd,
    b"zincrby": zincrby,
    b"zrem": zrem,
    b"zscore": zscore,
    b"zmscore": zmscore,
    b"zcard": zcard,
    b"zcount": zcount,
    b"zlexcount": zlexcount,
    b"zrank": zrank,
    b"zrevrank": zrevrank,
    b"zremrangebyrank": zremrangebyrank,
    b"zremrangebyscore": zremrangebyscore,
    b"zremrangebylex": zremrangebylex,
    b"zpopmin": zpopmin,
    b"zpopmax": zpopmax,
    b"zmpop": zmpop,
    b"zrandmember": zrandmember,
    b"zscan": zscan,
}
