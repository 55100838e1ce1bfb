"""Expiry commands: EXPIRE and its variants, TTL and its variants, PERSIST, and the internal ``expired``.

``expired key [key ...]`` is proposed by the leader, never sent by a client (it is not in the client
command table): the leader reads :meth:`StateMachine.expired_keys` at its clock and proposes their
deletion through the log, so that every node deletes the same keys at the same point of the log. When
the entry applies, a key is deleted only if it is still due at the entry's time: one set again (or
given a later expiry, or persisted) in between survives. The reply is the number deleted.
"""
from __future__ import annotations

from raftkv.errors import err
from raftkv.kv.args import INT64_MAX, INT64_MIN, NOT_AN_INTEGER, invalid_expire_time, option_text, parse_int
from raftkv.kv.keyspace import Handler, Keyspace, Reply

_CONDITIONS = (b"nx", b"xx", b"gt", b"lt")
# C's LLONG_MIN / 1000 rounds toward zero.
_MIN_SECONDS = -(-INT64_MIN // 1000)


def _expire(sm: Keyspace, argv: list[bytes], now_ms: int, command: str, seconds: bool,
            relative: bool) -> Reply:
    given = set()
    for raw in argv[3:]:
        opt = raw.lower()
        if opt not in _CONDITIONS:
            return err(f"Unsupported option {option_text(raw)}")
        given.add(opt)
    if b"nx" in given and len(given) > 1:
        return err("NX and XX, GT or LT options at the same time are not compatible")
    if b"gt" in given and b"lt" in given:
        return err("GT and LT options at the same time are not compatible")
    when = parse_int(argv[2])
    if when is None:
        return NOT_AN_INTEGER
    if seconds:
        if when > INT64_MAX // 1000 or when < _MIN_SECONDS:
            return invalid_expire_time(command)
        when *= 1000
    base = now_ms if relative else 0
    if when > INT64_MAX - base:
        return invalid_expire_time(command)
    when += base
    key = argv[1]
    if sm.value_for_write(key, now_ms) is None:
        return 0
    current = sm.expiry(key)  # None: no expiry, which GT and LT take as infinite
    if b"nx" in given and current is not None:
        return 0
    if b"xx" in given and current is None:
        return 0
    if b"gt" in given and (current is None or when <= current):
        return 0
    if b"lt" in given and current is not None and when >= current:
        return 0
    sm.set_expiry(key, when, now_ms)
    return 1


def expire(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _expire(sm, argv, now_ms, "expire", seconds=True, relative=True)


def pexpire(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _expire(sm, argv, now_ms, "pexpire", seconds=False, relative=True)


def expireat(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _expire(sm, argv, now_ms, "expireat", seconds=True, relative=False)


def pexpireat(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _expire(sm, argv, now_ms, "pexpireat", seconds=False, relative=False)


def _time_left(sm: Keyspace, key: bytes, now_ms: int, ms: bool, absolute: bool) -> Reply:
    if not sm.is_live(key, now_ms):
        return -2
    when = sm.expiry(key)
    if when is None:
        return -1
    left = max(when if absolute else when - now_ms, 0)
    return left if ms else (left + 500) // 1000  # Redis rounds seconds to the nearest


def ttl(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _time_left(sm, argv[1], now_ms, ms=False, absolute=False)


def pttl(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _time_left(sm, argv[1], now_ms, ms=True, absolute=False)


def expiretime(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _time_left(sm, argv[1], now_ms, ms=False, absolute=True)


def pexpiretime(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _time_left(sm, argv[1], now_ms, ms=True, absolute=True)


def persist(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    if sm.value_for_write(argv[1], now_ms) is None:
        return 0
    return int(sm.persist(argv[1]))


def expired(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    removed = 0
    for key in argv[1:]:
        when = sm.expiry(key)
        if when is not None and when <= now_ms:
            sm.drop_expired(key)
            removed += 1
    return removed


HANDLERS: dict[bytes, Handler] = {
    b"expire": expire,
    b"pexpire": pexpire,
    b"expireat": expireat,
    b"pexpireat": pexpireat,
    b"ttl": ttl,
    b"pttl": pttl,
    b"expiretime": expiretime,
    b"pexpiretime": pexpiretime,
    b"persist": persist,
    b"expired": expired,
}
