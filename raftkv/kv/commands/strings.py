"""The string commands: GET/SET and their variants, counters, ranges. Replies follow Redis 7 exactly.

A command that reads a key's string looks it up with ``typed(..., bytes)``, which raises WrongType (the
reply WRONGTYPE) when the key holds an aggregate, as Redis checks the type; the commands that replace a
value whatever its type (SET without GET, SETEX, MSET...) and those that only test for a key (SETNX,
MSETNX, SET NX/XX) do not, and MGET answers nil for a key of another type, as Redis does.
"""
from __future__ import annotations

from fractions import Fraction

from raftkv.errors import RespError, err
from raftkv.kv import longdouble
from raftkv.kv.args import (
    INT64_MAX,
    INT64_MIN,
    NOT_A_FLOAT,
    NOT_AN_INTEGER,
    SYNTAX_ERROR,
    invalid_expire_time,
    parse_int,
)
from raftkv.kv.keyspace import Handler, Keyspace, Reply
from raftkv.kv.table import wrong_arity

MAX_STRING = 512 * 1024 * 1024  # Redis's default proto-max-bulk-len
_TOO_BIG = err("string exceeds maximum allowed size (proto-max-bulk-len)")
_OVERFLOW = err("increment or decrement would overflow")
_NOT_FINITE = err("increment would produce NaN or Infinity")

# Expiry options: (ms per unit, relative to now).
_UNITS = {b"ex": (1000, True), b"px": (1, True), b"exat": (1000, False), b"pxat": (1, False)}


class _Options:
    """SET's and GETEX's parsed options."""

    __slots__ = ("nx", "xx", "get", "keepttl", "persist", "unit", "time")

    def __init__(self) -> None:
        self.nx = self.xx = self.get = self.keepttl = self.persist = False
        self.unit: bytes | None = None  # one of _UNITS
        self.time = b""  # the raw argument of the unit


def _parse_options(argv: list[bytes], start: int, for_set: bool) -> _Options | RespError:
    """Parses SET's (for_set) or GETEX's options the way Redis does, conflicts included.

    As in Redis, repeating an option is allowed and the last expiry of one unit wins; mixing units, or
    KEEPTTL/PERSIST with an expiry, is a syntax error.
    """
    o = _Options()
    i, n = start, len(argv)
    while i < n:
        opt = argv[i].lower()
        if for_set and opt == b"nx" and not o.xx:
            o.nx = True
        elif for_set and opt == b"xx" and not o.nx:
            o.xx = True
        elif for_set and opt == b"get":
            o.get = True
        elif for_set and opt == b"keepttl" and o.unit is None:
            o.keepttl = True
        elif not for_set and opt == b"persist" and o.unit is None:
            o.persist = True
        elif (opt in _UNITS and i + 1 < n and o.unit in (None, opt)
              and not o.keepttl and not o.persist):
            o.unit, o.time = opt, argv[i + 1]
            i += 1
        else:
            return SYNTAX_ERROR
        i += 1
    return o


def expire_at(raw: bytes, unit: bytes, now_ms: int, command: str) -> int | RespError:
    """The absolute time in ms that an EX/PX/EXAT/PXAT argument asks for, or Redis's error for it."""
    ms_per_unit, relative = _UNITS[unit]
    when = parse_int(raw)
    if when is None:
        return NOT_AN_INTEGER
    if when <= 0 or when > INT64_MAX // ms_per_unit:
        return invalid_expire_time(command)
    when *= ms_per_unit
    if relative:
        when += now_ms
        if when > INT64_MAX:  # Redis sees the 64-bit sum wrap negative
            return invalid_expire_time(command)
    return when


def get(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return sm.typed(argv[1], now_ms, bytes)


def set_(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    key, value = argv[1], argv[2]
    if len(argv) == 3:
        sm.put(key, value)
        return "OK"
    o = _parse_options(argv, 3, for_set=True)
    if isinstance(o, RespError):
        return o
    when: int | None = None
    if o.unit is not None:
        parsed = expire_at(o.time, o.unit, now_ms, "set")
        if isinstance(parsed, RespError):
            return parsed
        when = parsed
    old = sm.typed_for_write(key, now_ms, bytes) if o.get else sm.value_for_write(key, now_ms)
    if (o.nx and old is not None) or (o.xx and old is None):
        return old if o.get else None
    sm.put(key, value, keep_ttl=o.keepttl)
    if when is not None:
        sm.set_expiry(key, when, now_ms)
    return old if o.get else "OK"


def setnx(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    if sm.value_for_write(argv[1], now_ms) is not None:
        return 0
    sm.put(argv[1], argv[2])
    return 1


def _set_with_expiry(sm: Keyspace, argv: list[bytes], now_ms: int, unit: bytes, command: str) -> Reply:
    when = expire_at(argv[2], unit, now_ms, command)
    if isinstance(when, RespError):
        return when
    sm.put(argv[1], argv[3])
    sm.set_expiry(argv[1], when, now_ms)
    return "OK"


def setex(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _set_with_expiry(sm, argv, now_ms, b"ex", "setex")


def psetex(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _set_with_expiry(sm, argv, now_ms, b"px", "psetex")


def getset(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    old = sm.typed_for_write(argv[1], now_ms, bytes)
    sm.put(argv[1], argv[2])
    return old


def getdel(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    old = sm.typed_for_write(argv[1], now_ms, bytes)
    if old is not None:
        sm.delete(argv[1])
    return old


def getex(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    o = _parse_options(argv, 2, for_set=False)
    if isinstance(o, RespError):
        return o
    key = argv[1]
    value = sm.typed_for_write(key, now_ms, bytes)
    if value is None:  # Redis answers a missing key (and a wrong type) before looking at the expiry's value
        return None
    if o.unit is not None:
        when = expire_at(o.time, o.unit, now_ms, "getex")
        if isinstance(when, RespError):
            return when
        sm.set_expiry(key, when, now_ms)
    elif o.persist:
        sm.persist(key)
    return value


def mget(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    value = sm.value
    return [v if type(v := value(key, now_ms)) is bytes else None for key in argv[1:]]


def mset(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    if len(argv) % 2 == 0:
        return wrong_arity("mset")
    for i in range(1, len(argv), 2):
        sm.put(argv[i], argv[i + 1])
    return "OK"


def msetnx(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    if len(argv) % 2 == 0:
        return wrong_arity("msetnx")
    for i in range(1, len(argv), 2):
        if sm.value_for_write(argv[i], now_ms) is not None:
            return 0
    for i in range(1, len(argv), 2):
        sm.put(argv[i], argv[i + 1])
    return 1


def _increment(sm: Keyspace, key: bytes, delta: int, now_ms: int) -> Reply:
    old = sm.typed_for_write(key, now_ms, bytes)
    current = 0 if old is None else parse_int(old)
    if current is None:
        return NOT_AN_INTEGER
    new = current + delta
    if not INT64_MIN <= new <= INT64_MAX:
        return _OVERFLOW
    sm.put(key, b"%d" % new, keep_ttl=True)
    return new


def incr(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _increment(sm, argv[1], 1, now_ms)


def decr(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _increment(sm, argv[1], -1, now_ms)


def incrby(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    delta = parse_int(argv[2])
    if delta is None:
        return NOT_AN_INTEGER
    return _increment(sm, argv[1], delta, now_ms)


def decrby(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    delta = parse_int(argv[2])
    if delta is None:
        return NOT_AN_INTEGER
    if delta == INT64_MIN:  # its negation does not fit in 64 bits
        return err("decrement would overflow")
    return _increment(sm, argv[1], -delta, now_ms)


def incrbyfloat(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    key = argv[1]
    old = sm.typed_for_write(key, now_ms, bytes)
    current = longdouble.parse(old) if old is not None else Fraction(0)
    increment = longdouble.parse(argv[2])
    if current is None or increment is None:
        return NOT_A_FLOAT
    if isinstance(current, longdouble.Infinite) or isinstance(increment, longdouble.Infinite):
        return _NOT_FINITE
    total = longdouble.round_to_long_double(current + increment)
    if total is None:
        return _NOT_FINITE
    text = longdouble.format_human(total)
    sm.put(key, text, keep_ttl=True)
    return text


def append(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    key, suffix = argv[1], argv[2]
    old = sm.typed_for_write(key, now_ms, bytes)
    if old is None:
        sm.put(key, suffix)
        return len(suffix)
    if len(old) + len(suffix) > MAX_STRING:
        return _TOO_BIG
    sm.put(key, old + suffix, keep_ttl=True)
    return len(old) + len(suffix)


def strlen(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    value = sm.typed(argv[1], now_ms, bytes)
    return 0 if value is None else len(value)


def getrange(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    start, end = parse_int(argv[2]), parse_int(argv[3])
    if start is None or end is None:
        return NOT_AN_INTEGER
    value = sm.typed(argv[1], now_ms, bytes)
    if value is None:
        return b""
    n = len(value)
    if start < 0 and end < 0 and start > end:
        return b""
    if start < 0:
        start = max(n + start, 0)
    if end < 0:
        end = max(n + end, 0)
    end = min(end, n - 1)
    if start > end or n == 0:
        return b""
    return value[start:end + 1]


def setrange(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    key, patch = argv[1], argv[3]
    offset = parse_int(argv[2])
    if offset is None:
        return NOT_AN_INTEGER
    if offset < 0:
        return err("offset is out of range")
    old = sm.typed_for_write(key, now_ms, bytes)
    if not patch:  # nothing to write: the length as it is, and no key created
        return 0 if old is None else len(old)
    if offset + len(patch) > MAX_STRING:
        return _TOO_BIG
    base = old or b""
    if len(base) < offset:
        base += bytes(offset - len(base))
    new = base[:offset] + patch + base[offset + len(patch):]
    sm.put(key, new, keep_ttl=True)
    return len(new)


HANDLERS: dict[bytes, Handler] = {
    b"get": get,
    b"set": set_,
    b"setnx": setnx,
    b"setex": setex,
    b"psetex": psetex,
    b"getset": getset,
    b"getdel": getdel,
    b"getex": getex,
    b"mget": mget,
    b"mset": mset,
    b"msetnx": msetnx,
    b"incr": incr,
    b"decr": decr,
    b"incrby": incrby,
    b"decrby": decrby,
    b"incrbyfloat": incrbyfloat,
    b"append": append,
    b"strlen": strlen,
    b"getrange": getrange,
    b"substr": getrange,  # its old name
    b"setrange": setrange,
}
