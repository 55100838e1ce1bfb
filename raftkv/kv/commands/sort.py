"""SORT and SORT_RO: a list's, set's or sorted set's elements in order, with Redis 7.0's options.

``BY pattern`` and ``GET pattern`` read other keys: the first ``*`` of the pattern is replaced by the
element, and ``key->field`` reads a hash's field; ``GET #`` is the element itself. Redis Cluster's
refusal of BY and GET patterns does not apply: every node holds every key.

SORT is a WRITE (Redis flags it so, because of STORE) and goes through the log even without STORE;
SORT_RO is its READ twin. Orders follow Redis: numbers compare as doubles, ties by the element's bytes;
ALPHA compares bytes (Redis's ``strcoll`` under the C locale, and its order with STORE); equal ALPHA keys
keep the order they were read in, as glibc's merge sort keeps them. A set is read in our member order
(integers first, then bytewise), which is Redis's own for a set of integers; without sorting (``BY``
a pattern with no ``*``) that is the order returned.
"""
from __future__ import annotations

import sys

from raftkv.errors import RespError, err
from raftkv.kv.args import NOT_AN_INTEGER, SYNTAX_ERROR, parse_int
from raftkv.kv.datatypes import WRONGTYPE, Hash, List, Set, ZSet
from raftkv.kv.keyspace import Handler, Keyspace, Reply
from raftkv.kv.scores import parse_score

_NOT_DOUBLE = err("One or more scores can't be converted into double")


class _Options:
    __slots__ = ("desc", "alpha", "start", "count", "store", "by", "dont_sort", "gets")

    def __init__(self) -> None:
        self.desc = self.alpha = False
        self.start, self.count = 0, -1
        self.store: bytes | None = None
        self.by: bytes | None = None
        self.dont_sort = False  # a BY without "*" was given: it stays so even if a later BY has one, as in Redis
        self.gets: list[bytes] = []


def _parse(argv: list[bytes], readonly: bool) -> _Options | RespError:
    o = _Options()
    i, n = 2, len(argv)
    while i < n:
        opt, left = argv[i].lower(), n - i - 1
        if opt == b"asc":
            o.desc = False
        elif opt == b"desc":
            o.desc = True
        elif opt == b"alpha":
            o.alpha = True
        elif opt == b"limit" and left >= 2:
            start, count = parse_int(argv[i + 1]), parse_int(argv[i + 2])
            if start is None or count is None:
                return NOT_AN_INTEGER
            o.start, o.count = start, count
            i += 2
        elif opt == b"store" and not readonly and left >= 1:
            o.store = argv[i + 1]
            i += 1
        elif opt == b"by" and left >= 1:
            o.by = argv[i + 1]
            o.dont_sort = o.dont_sort or b"*" not in o.by
            i += 1
        elif opt == b"get" and left >= 1:
            o.gets.append(argv[i + 1])
            i += 1
        else:
            return SYNTAX_ERROR
        i += 1
    return o


def _lookup(sm: Keyspace, pattern: bytes, element: bytes, now_ms: int) -> bytes | None:
    """What `pattern` names for `element`: a string key's value, a hash's field, or the element (``#``)."""
    if pattern == b"#":
        return element
    star = pattern.find(b"*")
    if star < 0:
        return None
    arrow = pattern.find(b"->", star + 1)
    if arrow < 0 or arrow + 2 == len(pattern):
        arrow = len(pattern)
    value = sm.value(pattern[:star] + element + pattern[star + 1:arrow], now_ms)
    if arrow == len(pattern):
        return value if type(value) is bytes else None
    return value.fields.get(pattern[arrow + 2:]) if type(value) is Hash else None


def _window(total: int, start: int, count: int) -> slice:
    """LIMIT start count, clamped as Redis clamps it."""
    start = min(max(start, 0), total)
    count = min(max(count, -1), total)
    end = total - 1 if count < 0 else start + count - 1
    return slice(start, min(end, total - 1) + 1) if start < total else slice(0, 0)


def _ordered(sm: Keyspace, value: List | Set | ZSet, o: _Options, now_ms: int) -> list[bytes] | RespError:
    """The elements in the order asked for, before LIMIT."""
    if isinstance(value, List):
        elements = list(value.items)
    elif isinstance(value, ZSet):
        elements = [member for _score, member in value.order]
    else:
        elements = list(value.members)
    by, alpha = o.by, o.alpha
    if o.dont_sort:  # nothing to sort by
        if not isinstance(value, Set):
            return elements[::-1] if o.desc else elements
        if o.store is None:
            return elements
        by, alpha = None, True  # a set stored is sorted, so that every replica stores the same list
    keys: list[tuple[object, bytes]]
    if alpha:
        if by is None:
            return sorted(elements, reverse=o.desc)
        weights = [_lookup(sm, by, e, now_ms) for e in elements]
        keys = [(0, b"") if w is None else (1, w) for w in weights]  # a missing weight sorts first
    else:
        keys = []
        for e in elements:
            raw = e if by is None else _lookup(sm, by, e, now_ms)
            score = 0.0 if raw is None or raw == b"" else parse_score(raw.lstrip())  # C's strtod
            if score is None or 0 < abs(score) < sys.float_info.min:  # strtod's ERANGE includes underflow
                return _NOT_DOUBLE
            keys.append((score, e))
    # Python's sort is stable, also reversed: equal keys keep the order the elements were read in
    order = sorted(range(len(elements)), key=keys.__getitem__, reverse=o.desc)
    return [elements[i] for i in order]


def _sort(sm: Keyspace, argv: list[bytes], now_ms: int, readonly: bool) -> Reply:
    o = _parse(argv, readonly)
    if isinstance(o, RespError):
        return o
    value = sm.value(argv[1], now_ms)
    if value is None:
        value = List()
    elif not isinstance(value, (List, Set, ZSet)):
        return WRONGTYPE
    ordered = _ordered(sm, value, o, now_ms)
    if isinstance(ordered, RespError):
        return ordered
    chosen = ordered[_window(len(ordered), o.start, o.count)]
    if not o.gets:
        result: list[bytes | None] = list(chosen)
    else:
        result = [_lookup(sm, pattern, e, now_ms) for e in chosen for pattern in o.gets]
    if o.store is None:
        return result
    if result:
        sm.put(o.store, List(b"" if r is None else r for r in result))
    elif sm.value_for_write(o.store, now_ms) is not None:
        sm.delete(o.store)
    return len(result)


def sort(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _sort(sm, argv, now_ms, readonly=False)


def sort_ro(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _sort(sm, argv, now_ms, readonly=True)


HANDLERS: dict[bytes, Handler] = {b"sort": sort, b"sort_ro": sort_ro}
