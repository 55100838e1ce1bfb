"""The set commands, SADD to SSCAN, with Redis 7's replies and the order in which Redis checks things.

A set is a :class:`raftkv.kv.datatypes.Set`; its docstring says what each operation costs. Replies list
members in the set's order (integers first, numerically, as Redis's intset gives them). SMEMBERS,
SINTER, SUNION, SDIFF and SPOP with a count answer a RESP3 set, the others arrays, as Redis does.

SPOP changes the set, so it draws from ``entry_rng``: every node pops the same members. SRANDMEMBER is
a read and draws from the serving process's RNG.
"""
from __future__ import annotations

from raftkv.errors import RespError, err
from raftkv.kv.args import INT64_MAX, NOT_AN_INTEGER, SYNTAX_ERROR, parse_int
from raftkv.kv.datatypes import Set, WrongType, member_order
from raftkv.kv.keyspace import Handler, Keyspace, Reply
from raftkv.kv.scanning import scan_aggregate
from raftkv.wire.values import SetReply

_LONG_MAX = INT64_MAX
_MUST_BE_POSITIVE = err("value is out of range, must be positive")
_OUT_OF_RANGE = err(f"value is out of range, value must between {-_LONG_MAX} and {_LONG_MAX}")
_NUMKEYS = err("numkeys should be greater than 0")
_TOO_FEW_ARGS = err("Number of keys can't be greater than number of args")
_NEGATIVE_LIMIT = err("LIMIT can't be negative")
# SRANDMEMBER with a negative count repeats members; Redis streams them until the client's output limit
# closes the connection. Here a reply is built whole, so a count past this is refused.
MAX_RANDOM_REPLY = 1_000_000
_TOO_MANY = err(f"count is too large: at most {MAX_RANDOM_REPLY} random elements per call")


def sadd(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    key = argv[1]
    s = sm.typed_for_write(key, now_ms, Set)
    if s is None:
        s = Set(argv[2:])
        sm.put(key, s)
        return len(s)
    added = sum(s.add(member) for member in argv[2:])
    if added:
        sm.changed(key)
    return added


def srem(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    key = argv[1]
    s = sm.typed_for_write(key, now_ms, Set)
    if s is None:
        return 0
    removed = sum(s.remove(member) for member in argv[2:])
    if removed:
        sm.changed(key)
    return removed


def sismember(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    s = sm.typed(argv[1], now_ms, Set)
    return int(s is not None and argv[2] in s)


def smismember(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    s = sm.typed(argv[1], now_ms, Set)
    if s is None:
        return [0] * (len(argv) - 2)
    return [int(member in s) for member in argv[2:]]


def scard(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    s = sm.typed(argv[1], now_ms, Set)
    return 0 if s is None else len(s)


def _positive(raw: bytes) -> int | RespError:
    """Redis's getPositiveLongFromObjectOrReply."""
    count = parse_int(raw)
    return _MUST_BE_POSITIVE if count is None or count < 0 else count


def spop(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    if len(argv) > 3:
        return SYNTAX_ERROR
    count: int | None = None
    if len(argv) == 3:
        parsed = _positive(argv[2])
        if isinstance(parsed, RespError):
            return parsed
        count = parsed
    key = argv[1]
    s = sm.typed_for_write(key, now_ms, Set)
    if s is None:
        return None if count is None else SetReply()
    if count == 0:
        return SetReply()
    size = len(s)
    if count is not None and count >= size:
        sm.delete(key)
        return SetReply(s)
    rng = sm.entry_rng(now_ms)
    if count is None:
        chosen = [s.random_member(rng)]
    else:
        chosen = [s.member_at(i) for i in rng.sample(range(size), count)]
    for member in chosen:
        s.remove(member)
    sm.changed(key)
    return chosen[0] if count is None else SetReply(chosen)


def srandmember(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    if len(argv) > 3:
        return SYNTAX_ERROR
    if len(argv) == 2:
        s = sm.typed(argv[1], now_ms, Set)
        return None if s is None else s.random_member(sm.rng)
    count = parse_int(argv[2])
    if count is None:
        return NOT_AN_INTEGER
    if count < -_LONG_MAX:
        return _OUT_OF_RANGE
    s = sm.typed(argv[1], now_ms, Set)
    if s is None or count == 0:
        return []
    size = len(s)
    rng = sm.rng
    if count < 0 or count == 1:  # with repetitions, in random order
        if -count > MAX_RANDOM_REPLY:
            return _TOO_MANY
        return [s.random_member(rng) for _ in range(abs(count))]
    if count >= size:
        return list(s)
    return [s.member_at(i) for i in rng.sample(range(size), count)]


def smove(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    src_key, dst_key, member = argv[1], argv[2], argv[3]
    src = sm.value_for_write(src_key, now_ms)
    dst = sm.value_for_write(dst_key, now_ms)
    if src is None:
        return 0
    if type(src) is not Set or (dst is not None and type(dst) is not Set):
        raise WrongType
    if src_key == dst_key:
        return int(member in src)
    if not src.remove(member):
        return 0
    sm.changed(src_key)
    if dst is None:
        sm.put(dst_key, Set([member]))
    elif dst.add(member):
        sm.changed(dst_key)
    return 1


def _sources(sm: Keyspace, keys: list[bytes], now_ms: int) -> list[Set | None]:
    """Every key's set (None when missing), all type-checked before anything is computed."""
    return [sm.typed(key, now_ms, Set) for key in keys]


def _intersection(sets: list[Set | None], limit: int = 0) -> list[bytes]:
    """The members in every set, in set order; stops at `limit` members (0: no limit)."""
    if not sets or any(s is None for s in sets):
        return []
    by_size = sorted(sets, key=len)  # type: ignore[arg-type]
    smallest, others = by_size[0], [s for s in by_size[1:] if s is not by_size[0]]
    found: list[bytes] = []
    for member in smallest:  # type: ignore[union-attr]
        if all(member in s for s in others):  # type: ignore[operator]
            found.append(member)
            if len(found) == limit:
                break
    return found


def _union(sets: list[Set | None]) -> list[bytes]:
    members: set[bytes] = set()
    for s in sets:
        if s is not None:
            members.update(s.members)
    return sorted(members, key=member_order)


def _difference(keys: list[bytes], sets: list[Set | None]) -> list[bytes]:
    first = sets[0]
    if first is None or keys[0] in keys[1:]:
        return []
    others = [s for s in sets[1:] if s is not None]
    return [member for member in first if not any(member in s for s in others)]


def sinter(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return SetReply(_intersection(_sources(sm, argv[1:], now_ms)))


def smembers(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    s = sm.typed(argv[1], now_ms, Set)
    return SetReply() if s is None else SetReply(s)


def sunion(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return SetReply(_union(_sources(sm, argv[1:], now_ms)))


def sdiff(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return SetReply(_difference(argv[1:], _sources(sm, argv[1:], now_ms)))


def sintercard(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    numkeys = parse_int(argv[1])
    if numkeys is None or numkeys < 1:
        return _NUMKEYS
    if numkeys > len(argv) - 2:
        return _TOO_FEW_ARGS
    limit = 0
    i = 2 + numkeys
    while i < len(argv):
        if argv[i].lower() == b"limit" and i + 1 < len(argv):
            parsed = parse_int(argv[i + 1])
            if parsed is None or parsed < 0:
                return _NEGATIVE_LIMIT
            limit = parsed
            i += 2
        else:
            return SYNTAX_ERROR
    return len(_intersection(_sources(sm, argv[2:2 + numkeys], now_ms), limit))


def _store(sm: Keyspace, key: bytes, members: list[bytes], now_ms: int) -> Reply:
    """Replaces `key` with a set of `members` (deletes it when there are none); their number."""
    if members:
        sm.value_for_write(key, now_ms)  # an expired key goes first, so that its TTL goes with it
        sm.put(key, Set(members))
    elif sm.value_for_write(key, now_ms) is not None:
        sm.delete(key)
    return len(members)


def sinterstore(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _store(sm, argv[1], _intersection(_sources(sm, argv[2:], now_ms)), now_ms)


def sunionstore(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _store(sm, argv[1], _union(_sources(sm, argv[2:], now_ms)), now_ms)


def sdiffstore(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _store(sm, argv[1], _difference(argv[2:], _sources(sm, argv[2:], now_ms)), now_ms)


def sscan(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return scan_aggregate(sm, argv, now_ms, Set)


HANDLERS: dict[bytes, Handler] = {
    b"sadd": sadd,
    b"srem": srem,
    b"smembers": smembers,
    b"sismember": sismember,
    b"smismember": smismember,
    b"scard": scard,
    b"spop": spop,
    b"srandmember": srandmember,
    b"smove": smove,
    b"sinter": sinter,
    b"sintercard": sintercard,
    b"sunion": sunion,
    b"sdiff": sdiff,
    b"sinterstore": sinterstore,
    b"sunionstore": sunionstore,
    b"sdiffstore": sdiffstore,
    b"sscan": sscan,
}
