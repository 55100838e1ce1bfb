"""The blocking pops (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP) as the state
machine runs them: one attempt.

Each goes through the log like any write. Applied, an attempt checks its arguments in Redis's order
(the timeout first), then either pops as its non-blocking twin would and returns the reply, or, when
every key is empty, changes nothing and returns :data:`WOULD_BLOCK`. Waiting is not the state
machine's business: the node that proposed the attempt parks its client and proposes it again when a
key it waits on changes (:mod:`raftkv.node.blocked`), so every pop is an entry of the log, applied at
the same index on every node. Inside EXEC an attempt that would block answers at once, as Redis does
(:func:`in_transaction`).
"""
from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from raftkv.errors import RespError, err
from raftkv.kv import longdouble
from raftkv.kv.args import SYNTAX_ERROR
from raftkv.kv.commands.list import first_held, lmpop, move, parse_side, pop_elements
from raftkv.kv.commands.zset import pop_pairs, zmpop
from raftkv.kv.datatypes import List, ZSet
from raftkv.kv.keyspace import Handler, Keyspace, Reply
from raftkv.wire.values import NULL_ARRAY


class _WouldBlock:
    """The reply of an attempt that found every key empty (never sent to a client)."""

    def __repr__(self) -> str:
        return "WOULD_BLOCK"


WOULD_BLOCK = _WouldBlock()
_NOT_A_TIMEOUT = err("timeout is not a float or out of range")
_NEGATIVE = err("timeout is negative")


# What a client gets when its timeout passes (or CLIENT UNBLOCK ends its wait).
TIMEOUT_REPLY = NULL_ARRAY


def in_transaction(argv: list[bytes], reply: Reply) -> Reply:
    """The reply of command ``argv`` inside EXEC, which never waits: a pop that would block answers a
    null (a null bulk string for BLMOVE and BRPOPLPUSH, as Redis's LMOVE twin gives, else a null array)."""
    if reply is not WOULD_BLOCK:
        return reply
    return None if argv[0].lower() in (b"blmove", b"brpoplpush") else NULL_ARRAY


def parse_timeout(raw: bytes) -> Fraction | RespError:
    """A blocking command's timeout in seconds (0: wait forever), as Redis reads it."""
    value = longdouble.parse(raw)
    if not isinstance(value, Fraction):
        return _NOT_A_TIMEOUT
    if int(value * 1000) < 0:
        return _NEGATIVE
    return value


def timeout_index(argv: list[bytes]) -> int:
    """Where a blocking command's timeout is: first for BLMPOP/BZMPOP, last for the others."""
    return 1 if argv[0].lower() in (b"blmpop", b"bzmpop") else len(argv) - 1


def waited_keys(argv: list[bytes]) -> list[bytes]:
    """The keys an attempt of ``argv`` (already validated by a first attempt) may pop from."""
    name = argv[0].lower()
    if name in (b"blmpop", b"bzmpop"):
        return argv[3:3 + int(argv[2])]
    if name in (b"blmove", b"brpoplpush"):
        return [argv[1]]
    return argv[1:-1]


def _pop_first(sm: Keyspace, argv: list[bytes], now_ms: int, kind: type[List] | type[ZSet],
               pop: Callable[[Keyspace, bytes, Any], list[Any]]) -> Reply:
    """BLPOP and BZPOPMIN's shape: the timeout, then the first key holding a ``kind``, popped by ``pop``."""
    timeout = parse_timeout(argv[-1])
    if isinstance(timeout, RespError):
        return timeout
    found = first_held(sm, argv[1:-1], now_ms, kind)
    if found is None:
        return WOULD_BLOCK
    return [found[0], *pop(sm, *found)]


def _list_pop(left: bool) -> Callable[[Keyspace, bytes, List], list[bytes]]:
    def pop(sm: Keyspace, key: bytes, lst: List) -> list[bytes]:
        item = pop_elements(lst, left, 1)
        sm.changed(key)
        return item
    return pop


def _bpop(sm: Keyspace, argv: list[bytes], now_ms: int, left: bool) -> Reply:
    return _pop_first(sm, argv, now_ms, List, _list_pop(left))


def blpop(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _bpop(sm, argv, now_ms, True)


def brpop(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _bpop(sm, argv, now_ms, False)


def _bmove(sm: Keyspace, argv: list[bytes], now_ms: int, from_left: bool, to_left: bool) -> Reply:
    timeout = parse_timeout(argv[-1])
    if isinstance(timeout, RespError):
        return timeout
    item = move(sm, argv[1], argv[2], from_left, to_left, now_ms)
    return WOULD_BLOCK if item is None else item


def blmove(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    from_left, to_left = parse_side(argv[3]), parse_side(argv[4])
    if from_left is None or to_left is None:
        return SYNTAX_ERROR
    return _bmove(sm, argv, now_ms, from_left, to_left)


def brpoplpush(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _bmove(sm, argv, now_ms, False, True)


def _mpop(sm: Keyspace, argv: list[bytes], now_ms: int, mpop: Handler) -> Reply:
    timeout = parse_timeout(argv[1])
    if isinstance(timeout, RespError):
        return timeout
    reply = mpop(sm, [argv[0], *argv[2:]], now_ms)
    return WOULD_BLOCK if reply is NULL_ARRAY else reply


def blmpop(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _mpop(sm, argv, now_ms, lmpop)


def bzmpop(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _mpop(sm, argv, now_ms, zmpop)


def _bzpop(sm: Keyspace, argv: list[bytes], now_ms: int, highest: bool) -> Reply:
    return _pop_first(sm, argv, now_ms, ZSet, lambda sm, key, zset: pop_pairs(sm, key, zset, highest, 1))


def bzpopmin(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _bzpop(sm, argv, now_ms, False)


def bzpopmax(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _bzpop(sm, argv, now_ms, True)


HANDLERS: dict[bytes, Handler] = {
    b"blpop": blpop,
    b"brpop": brpop,
    b"blmove": blmove,
    b"brpoplpush": brpoplpush,
    b"blmpop": blmpop,
    b"bzpopmin": bzpopmin,
    b"bzpopmax": bzpopmax,
    b"bzmpop": bzmpop,
}
