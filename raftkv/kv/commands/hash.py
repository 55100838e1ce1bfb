"""The hash commands, HSET to HSCAN, with Redis 7's replies and the order in which Redis checks things.

A hash is a :class:`raftkv.kv.datatypes.Hash`; its docstring says what each operation costs. Replies
that list fields come in the hash's own order, which for a small hash is Redis's (insertion order).
HRANDFIELD is a read and draws from the serving process's RNG (the entry's, inside a transaction).
"""
from __future__ import annotations

from fractions import Fraction

from raftkv.errors import err
from raftkv.kv import longdouble
from raftkv.kv.args import INT64_MAX, INT64_MIN, NOT_A_FLOAT, NOT_AN_INTEGER, SYNTAX_ERROR, parse_int
from raftkv.kv.datatypes import Hash
from raftkv.kv.keyspace import Handler, Keyspace, Reply
from raftkv.kv.scanning import scan_aggregate
from raftkv.kv.table import wrong_arity
from raftkv.wire.values import Pairs

_NOT_AN_INTEGER_FIELD = err("hash value is not an integer")
_NOT_A_FLOAT_FIELD = err("hash value is not a float")
_OVERFLOW = err("increment or decrement would overflow")
_NOT_FINITE_INCREMENT = err("value is NaN or Infinity")
_NOT_FINITE = err("increment would produce NaN or Infinity")
_OUT_OF_RANGE = err("value is out of range")
_LONG_MAX = INT64_MAX
# HRANDFIELD with a negative count repeats fields; Redis streams them until the client's output limit
# closes the connection. Here a reply is built whole, so a count past this is refused.
MAX_RANDOM_REPLY = 1_000_000
_TOO_MANY = err(f"count is too large: at most {MAX_RANDOM_REPLY} random elements per call")


def _hash_for_write(sm: Keyspace, key: bytes, now_ms: int) -> Hash:
    """The hash at `key`, created empty (and not yet in the keyspace) if missing; WrongType otherwise.
    The caller puts a new one in place once it holds a field."""
    h = sm.typed_for_write(key, now_ms, Hash)
    return Hash() if h is None else h


def _store(sm: Keyspace, key: bytes, h: Hash) -> None:
    if sm.data.get(key) is h:
        sm.changed(key)
    else:
        sm.put(key, h)


def hset(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    if len(argv) % 2:
        return wrong_arity(argv[0].lower().decode())
    key = argv[1]
    h = _hash_for_write(sm, key, now_ms)
    created = 0
    for i in range(2, len(argv), 2):
        created += h.set(argv[i], argv[i + 1])
    _store(sm, key, h)
    return "OK" if argv[0].lower() == b"hmset" else created


def hsetnx(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    key, field = argv[1], argv[2]
    h = _hash_for_write(sm, key, now_ms)
    if field in h.fields:
        return 0
    h.set(field, argv[3])
    _store(sm, key, h)
    return 1


def hget(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    h = sm.typed(argv[1], now_ms, Hash)
    return None if h is None else h.fields.get(argv[2])


def hmget(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    h = sm.typed(argv[1], now_ms, Hash)
    if h is None:
        return [None] * (len(argv) - 2)
    get = h.fields.get
    return [get(field) for field in argv[2:]]


def hdel(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    key = argv[1]
    h = sm.typed_for_write(key, now_ms, Hash)
    if h is None:
        return 0
    deleted = sum(h.delete(field) for field in argv[2:])
    if deleted:
        sm.changed(key)
    return deleted


def hexists(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    h = sm.typed(argv[1], now_ms, Hash)
    return int(h is not None and argv[2] in h.fields)


def hlen(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    h = sm.typed(argv[1], now_ms, Hash)
    return 0 if h is None else len(h)


def hstrlen(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    h = sm.typed(argv[1], now_ms, Hash)
    value = None if h is None else h.fields.get(argv[2])
    return 0 if value is None else len(value)


def hkeys(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    h = sm.typed(argv[1], now_ms, Hash)
    return [] if h is None else list(h.fields)


def hvals(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    h = sm.typed(argv[1], now_ms, Hash)
    return [] if h is None else list(h.fields.values())


def hgetall(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    h = sm.typed(argv[1], now_ms, Hash)
    return {} if h is None else dict(h.fields)  # a copy: a later command of a transaction may change it


def hincrby(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    increment = parse_int(argv[3])
    if increment is None:
        return NOT_AN_INTEGER
    key, field = argv[1], argv[2]
    h = _hash_for_write(sm, key, now_ms)
    old = h.fields.get(field)
    current = 0 if old is None else parse_int(old)
    if current is None:
        return _NOT_AN_INTEGER_FIELD
    new = current + increment
    if not INT64_MIN <= new <= INT64_MAX:
        return _OVERFLOW
    h.set(field, b"%d" % new)
    _store(sm, key, h)
    return new


def hincrbyfloat(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    increment = longdouble.parse(argv[3])
    if increment is None:
        return NOT_A_FLOAT
    if isinstance(increment, longdouble.Infinite):
        return _NOT_FINITE_INCREMENT
    key, field = argv[1], argv[2]
    h = _hash_for_write(sm, key, now_ms)
    old = h.fields.get(field)
    current = Fraction(0) if old is None else longdouble.parse(old)
    if current is None:
        return _NOT_A_FLOAT_FIELD
    if isinstance(current, longdouble.Infinite):
        return _NOT_FINITE
    total = longdouble.round_to_long_double(current + increment)
    if total is None:
        return _NOT_FINITE
    text = longdouble.format_human(total)
    h.set(field, text)
    _store(sm, key, h)
    return text


def hrandfield(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    if len(argv) == 2:
        h = sm.typed(argv[1], now_ms, Hash)
        return None if h is None else h.random_field(sm.rng)
    count = parse_int(argv[2])
    if count is None:
        return NOT_AN_INTEGER
    if count < -_LONG_MAX:
        return err(f"value is out of range, value must between {-_LONG_MAX} and {_LONG_MAX}")
    with_values = len(argv) == 4
    if len(argv) > 4 or (with_values and argv[3].lower() != b"withvalues"):
        return SYNTAX_ERROR
    if with_values and not -(_LONG_MAX // 2) <= count <= _LONG_MAX // 2:  # C division: toward zero
        return _OUT_OF_RANGE
    h = sm.typed(argv[1], now_ms, Hash)
    if h is None or count == 0:
        return []
    fields = h.fields
    size = len(fields)
    rng = sm.rng
    if count < 0 or count == 1:  # with repetitions, in random order
        if -count > MAX_RANDOM_REPLY:
            return _TOO_MANY
        if h.small:
            names = list(fields)
            chosen = [names[rng.randrange(size)] for _ in range(abs(count))]
        else:
            chosen = [h.field_at(rng.randrange(size)) for _ in range(abs(count))]
    elif count >= size:
        chosen = list(fields)
    elif h.small:
        names = list(fields)
        chosen = [names[i] for i in rng.sample(range(size), count)]
    else:
        chosen = [h.field_at(i) for i in rng.sample(range(size), count)]
    if not with_values:
        return chosen
    return Pairs(x for name in chosen for x in (name, fields[name]))


def hscan(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return scan_aggregate(sm, argv, now_ms, Hash)


HANDLERS: dict[bytes, Handler] = {
    b"hset": hset,
    b"hmset": hset,
    b"hsetnx": hsetnx,
    b"hget": hget,
    b"hmget": hmget,
    b"hdel": hdel,
    b"hexists": hexists,
    b"hlen": hlen,
    b"hstrlen": hstrlen,
    b"hkeys": hkeys,
    b"hvals": hvals,
    b"hgetall": hgetall,
    b"hincrby": hincrby,
    b"hincrbyfloat": hincrbyfloat,
    b"hrandfield": hrandfield,
    b"hscan": hscan,
}
