"""The list commands: LPUSH to LMPOP, with Redis 7.0's replies, errors and order of checks.

A list is a :class:`raftkv.kv.datatypes.List` over a :class:`raftkv.kv.blocklist.BlockList`, whose
docstring gives each operation's cost; per command: pushes and pops O(1) per element, LLEN O(1), LINDEX
and LSET O(log n), LRANGE O(log n + m), LTRIM O(removed / 512 + n / 512), LINSERT, LREM and LPOS O(n),
LMOVE/RPOPLPUSH O(1), LMPOP O(keys + count). Every handler looks up each key it will check (raising
WrongType) before it changes anything, as Redis's do.
"""
from __future__ import annotations

from typing import TypeVar

from raftkv.errors import RespError, err
from raftkv.kv.args import NOT_AN_INTEGER, SYNTAX_ERROR, parse_int
from raftkv.kv.datatypes import List
from raftkv.kv.keyspace import Handler, Keyspace, Reply
from raftkv.kv.table import wrong_arity
from raftkv.wire.values import NULL_ARRAY

T = TypeVar("T")
_MUST_BE_POSITIVE = err("value is out of range, must be positive")
_LONG_MAX = (1 << 63) - 1


def _positive(raw: bytes, error: RespError) -> int | RespError:
    """Redis's getPositiveLongFromObjectOrReply: 0 <= n, else `error` (also for a non-integer)."""
    n = parse_int(raw)
    return error if n is None or n < 0 else n


def _push(sm: Keyspace, argv: list[bytes], now_ms: int, left: bool, only_existing: bool) -> Reply:
    key = argv[1]
    lst = sm.typed_for_write(key, now_ms, List)
    if lst is None:
        if only_existing:
            return 0
        lst = List()
        sm.put(key, lst)
    items = lst.items
    push = items.push_left if left else items.push_right
    for item in argv[2:]:
        push(item)
    sm.changed(key)
    return len(items)


def lpush(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _push(sm, argv, now_ms, True, False)


def rpush(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _push(sm, argv, now_ms, False, False)


def lpushx(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _push(sm, argv, now_ms, True, True)


def rpushx(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _push(sm, argv, now_ms, False, True)


def pop_elements(lst: List, left: bool, count: int) -> list[bytes]:
    """Up to `count` elements popped from one end, in the order they come off."""
    items = lst.items
    pop = items.pop_left if left else items.pop_right
    return [pop() for _ in range(min(count, len(items)))]


def _pop(sm: Keyspace, argv: list[bytes], now_ms: int, left: bool) -> Reply:
    if len(argv) > 3:
        return wrong_arity(argv[0].decode("utf-8", "replace").lower())
    count = _positive(argv[2], _MUST_BE_POSITIVE) if len(argv) == 3 else None
    if isinstance(count, RespError):
        return count
    key = argv[1]
    lst = sm.typed_for_write(key, now_ms, List)
    if lst is None:
        return None if count is None else NULL_ARRAY
    if count == 0:
        return []
    popped = pop_elements(lst, left, 1 if count is None else count)
    sm.changed(key)
    return popped[0] if count is None else popped


def lpop(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _pop(sm, argv, now_ms, True)


def rpop(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _pop(sm, argv, now_ms, False)


def llen(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    lst = sm.typed(argv[1], now_ms, List)
    return 0 if lst is None else len(lst)


def _clamped(start: int, stop: int, length: int) -> tuple[int, int] | None:
    """Redis's index range start..stop (negative from the end) as a slice, or None when empty."""
    if start < 0:
        start += length
    if stop < 0:
        stop += length
    start = max(start, 0)
    if start > stop or start >= length:
        return None
    return start, min(stop, length - 1) + 1


def lrange(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    start, stop = parse_int(argv[2]), parse_int(argv[3])
    if start is None or stop is None:
        return NOT_AN_INTEGER
    lst = sm.typed(argv[1], now_ms, List)
    if lst is None:
        return []
    window = _clamped(start, stop, len(lst))
    return [] if window is None else lst.items.slice(*window)


def _index(raw_index: int, length: int) -> int | None:
    index = raw_index + length if raw_index < 0 else raw_index
    return index if 0 <= index < length else None


def lindex(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    lst = sm.typed(argv[1], now_ms, List)
    if lst is None:
        return None
    raw = parse_int(argv[2])
    if raw is None:
        return NOT_AN_INTEGER
    index = _index(raw, len(lst))
    return None if index is None else lst.items[index]


def lset(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    key = argv[1]
    lst = sm.typed_for_write(key, now_ms, List)
    if lst is None:
        return err("no such key")
    raw = parse_int(argv[2])
    if raw is None:
        return NOT_AN_INTEGER
    index = _index(raw, len(lst))
    if index is None:
        return err("index out of range")
    lst.items[index] = argv[3]
    sm.changed(key)
    return "OK"


def ltrim(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    start, stop = parse_int(argv[2]), parse_int(argv[3])
    if start is None or stop is None:
        return NOT_AN_INTEGER
    key = argv[1]
    lst = sm.typed_for_write(key, now_ms, List)
    if lst is None:
        return "OK"
    length = len(lst)
    window = _clamped(start, stop, length) or (length, length)
    lst.items.drop_right(length - window[1])
    lst.items.drop_left(window[0])
    sm.changed(key)
    return "OK"


def linsert(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    where = argv[2].lower()
    if where != b"before" and where != b"after":
        return SYNTAX_ERROR
    key = argv[1]
    lst = sm.typed_for_write(key, now_ms, List)
    if lst is None:
        return 0
    at = lst.items.index(argv[3])
    if at is None:
        return -1
    lst.items.insert(at + (where == b"after"), argv[4])
    sm.changed(key)
    return len(lst)


def lrem(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    count = parse_int(argv[2])
    if count is None:
        return NOT_AN_INTEGER
    key = argv[1]
    lst = sm.typed_for_write(key, now_ms, List)
    if lst is None:
        return 0
    element, items = argv[3], lst.items
    limit = abs(count) or len(items)
    if count >= 0:
        found = [i for i, item in enumerate(items) if item == element][:limit]
    else:
        last = len(items) - 1
        found = [last - i for i, item in enumerate(reversed(items)) if item == element][:limit]
    if not found:
        return 0
    # One pass that rebuilds the blocks: O(n), where deleting one at a time would shift the starts each time.
    gone = set(found)
    lst.items = type(items)(item for i, item in enumerate(items) if i not in gone)
    sm.changed(key)
    return len(found)


def lpos(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    rank, count, maxlen = 1, None, 0
    i = 3
    while i < len(argv):
        option = argv[i].lower()
        if i + 1 >= len(argv) or option not in (b"rank", b"count", b"maxlen"):
            return SYNTAX_ERROR
        raw = argv[i + 1]
        if option == b"rank":
            value = parse_int(raw)
            if value is None:
                return NOT_AN_INTEGER
            if value < -_LONG_MAX:
                return err(f"value is out of range, value must between {-_LONG_MAX} and {_LONG_MAX}")
            if value == 0:
                return err("RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
                           "or use negative to start from the end of the list")
            rank = value
        else:
            parsed = _positive(raw, err(f"{option.decode().upper()} can't be negative"))
            if isinstance(parsed, RespError):
                return parsed
            if option == b"count":
                count = parsed
            else:
                maxlen = parsed
        i += 2
    lst = sm.typed(argv[1], now_ms, List)
    if lst is None:
        return None if count is None else []
    element, items, last = argv[2], lst.items, len(lst) - 1
    scan = enumerate(items) if rank > 0 else ((last - i, item) for i, item in enumerate(reversed(items)))
    wanted = 1 if count is None else count
    skip = abs(rank) - 1
    found: list[int] = []
    for seen, (position, item) in enumerate(scan):
        if maxlen and seen >= maxlen:
            break
        if item == element:
            if skip:
                skip -= 1
                continue
            found.append(position)
            if wanted and len(found) == wanted:
                break
    if count is None:
        return found[0] if found else None
    return found


def parse_side(raw: bytes) -> bool | None:
    """LEFT -> True, RIGHT -> False, anything else None (a syntax error)."""
    side = raw.lower()
    return True if side == b"left" else False if side == b"right" else None


def move(sm: Keyspace, src: bytes, dst: bytes, from_left: bool, to_left: bool, now_ms: int) -> Reply:
    """LMOVE's work once its arguments are read: the element moved, or None if `src` is empty."""
    source = sm.typed_for_write(src, now_ms, List)
    if source is None:
        return None
    target = sm.typed_for_write(dst, now_ms, List)
    item = source.items.pop_left() if from_left else source.items.pop_right()
    if target is None:
        target = List()
        sm.put(dst, target)
    if to_left:
        target.items.push_left(item)
    else:
        target.items.push_right(item)
    sm.changed(src)
    if dst != src:
        sm.changed(dst)
    return item


def lmove(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    from_left, to_left = parse_side(argv[3]), parse_side(argv[4])
    if from_left is None or to_left is None:
        return SYNTAX_ERROR
    return move(sm, argv[1], argv[2], from_left, to_left, now_ms)


def rpoplpush(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return move(sm, argv[1], argv[2], False, True, now_ms)


def parse_mpop(argv: list[bytes], first: int, sides: dict[bytes, bool]) -> tuple[list[bytes], bool, int] | RespError:
    """LMPOP/ZMPOP's ``numkeys key... WHERE [COUNT n]`` from argv[first]: (keys, where, count)."""
    numkeys = parse_int(argv[first])
    if numkeys is None or numkeys < 1:
        return err("numkeys should be greater than 0")
    where_at = first + 1 + numkeys
    if where_at >= len(argv):
        return SYNTAX_ERROR
    where = sides.get(argv[where_at].lower())
    if where is None:
        return SYNTAX_ERROR
    count = None
    i = where_at + 1
    while i < len(argv):
        if count is not None or argv[i].lower() != b"count" or i + 1 >= len(argv):
            return SYNTAX_ERROR
        count = parse_int(argv[i + 1])
        if count is None or count < 1:
            return err("count should be greater than 0")
        i += 2
    return argv[first + 1:where_at], where, 1 if count is None else count


def first_held(sm: Keyspace, keys: list[bytes], now_ms: int, kind: type[T]) -> tuple[bytes, T] | None:
    """The first of ``keys`` that holds a ``kind`` (WrongType at one that holds another type), as the
    multi-key pops (LMPOP, ZMPOP, BLPOP, BZPOPMIN, ...) look for what to pop."""
    for key in keys:
        value = sm.typed_for_write(key, now_ms, kind)
        if value is not None:
            return key, value
    return None


def lmpop(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    parsed = parse_mpop(argv, 1, {b"left": True, b"right": False})
    if isinstance(parsed, RespError):
        return parsed
    keys, left, count = parsed
    found = first_held(sm, keys, now_ms, List)
    if found is None:
        return NULL_ARRAY
    key, lst = found
    popped = pop_elements(lst, left, count)
    sm.changed(key)
    return [key, popped]


HANDLERS: dict[bytes, Handler] = {
    b"lpush": lpush,
    b"rpush": rpush,
    b"lpushx": lpushx,
    b"rpushx": rpushx,
    b"lpop": lpop,
    b"rpop": rpop,
    b"llen": llen,
    b"lrange": lrange,
    b"lindex": lindex,
    b"lset": lset,
    b"ltrim": ltrim,
    b"linsert": linsert,
    b"lrem": lrem,
    b"lpos": lpos,
    b"lmove": lmove,
    b"rpoplpush": rpoplpush,
    b"lmpop": lmpop,
}
