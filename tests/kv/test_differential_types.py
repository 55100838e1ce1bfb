"""Hashes and sets against a real redis-server, in RESP2 and RESP3 (tests/kv/differential.py).

Small hashes and sets of integers have a definite order in Redis (listpack, intset) and ours follows it,
so their replies are compared byte for byte. Other sets have Redis's hash-table order, so replies that
list their members compare up to order; random picks compare by shape, and by being members.
"""
from __future__ import annotations

import pytest

from raftkv.kv.datatypes import Hash, Set
from tests.kv.differential import (  # noqa: F401
    FUTURE_MS,
    Arg,
    Both,
    argv_of,
    both,
    conn,
    conn3,
    decode,
    full_scan,
    header,
    redis_server,
    unordered,
)

LONG = "x" * 65  # longer than Redis's hash-max-listpack-value

HASH_CASES: dict[str, list[tuple[Arg, ...]]] = {
    "hset hget": [
        ("HSET", "h", "f"), ("HSET", "h", "f", "v", "g"), ("HMSET", "h", "f"), ("HMSET", "h", "f", "v", "g"),
        ("HSET", "h", "b", "1", "a", "2", "b", "3"), ("HGET", "h", "b"), ("HGET", "h", "nofield"),
        ("HGET", "nokey", "f"), ("HGETALL", "h"), ("HMSET", "h", "c", "4", "a", "5"), ("HGETALL", "h"),
        ("HKEYS", "h"), ("HVALS", "h"), ("HLEN", "h"), ("HSET", "h", "", ""), ("HGET", "h", ""),
        ("HSET", "h", b"\x00\xff", b"\r\n"), ("HGETALL", "h"), ("HSETNX", "h", "a", "x"), ("HSETNX", "h", "z", "x"),
        ("HSETNX", "new", "f", "v"), ("HGETALL", "new"), ("HGETALL", "nokey"), ("HKEYS", "nokey"),
        ("HVALS", "nokey"), ("HLEN", "nokey"), ("TYPE", "h"), ("EXISTS", "h"),
    ],
    "hmget hexists hstrlen": [
        ("HMGET", "nokey", "a", "b"), ("HSET", "h", "a", "1", "b", "hello"), ("HMGET", "h", "a", "x", "b", "a"),
        ("HEXISTS", "h", "a"), ("HEXISTS", "h", "x"), ("HEXISTS", "nokey", "a"), ("HSTRLEN", "h", "b"),
        ("HSTRLEN", "h", "x"), ("HSTRLEN", "nokey", "x"), ("HSET", "h", "n", "-123"), ("HSTRLEN", "h", "n"),
    ],
    "hdel": [
        ("HDEL", "nokey", "a"), ("HSET", "h", "a", "1", "b", "2", "c", "3"), ("HDEL", "h", "x"),
        ("HDEL", "h", "a", "a", "x"), ("HGETALL", "h"), ("HSET", "h", "a", "9"), ("HGETALL", "h"),
        ("HDEL", "h", "b", "c", "a", "z"), ("EXISTS", "h"), ("TYPE", "h"), ("HLEN", "h"),
        ("HSET", "t", "a", "1"), ("PEXPIREAT", "t", FUTURE_MS), ("HSET", "t", "b", "2"), ("PEXPIRETIME", "t"),
        ("HDEL", "t", "a"), ("PEXPIRETIME", "t"), ("HDEL", "t", "b"), ("PEXPIRETIME", "t"),
    ],
    "hincrby": [
        ("HINCRBY", "h", "f", "x"), ("HINCRBY", "h", "f", "1.5"), ("HINCRBY", "h", "f", ""), ("EXISTS", "h"),
        ("HINCRBY", "h", "f", 5), ("HINCRBY", "h", "f", -7), ("HGET", "h", "f"),
        ("HINCRBY", "h", "f", 9223372036854775807), ("HINCRBY", "h", "f", "-9223372036854775808"),
        ("HSET", "h", "big", "9223372036854775807"), ("HINCRBY", "h", "big", 1), ("HINCRBY", "h", "big", 0),
        ("HSET", "h", "s", "abc"), ("HINCRBY", "h", "s", 1), ("HSET", "h", "s", " 1"), ("HINCRBY", "h", "s", 1),
        ("HSET", "h", "s", "007"), ("HINCRBY", "h", "s", 1), ("HSET", "h", "s", "1.0"), ("HINCRBY", "h", "s", 1),
        ("HSET", "h", "s", ""), ("HINCRBY", "h", "s", 1), ("HGETALL", "h"),
        ("HINCRBY", "h", "f", "9223372036854775808"),
    ],
    "hincrbyfloat": [
        ("HINCRBYFLOAT", "h", "f", "x"), ("HINCRBYFLOAT", "h", "f", "inf"), ("HINCRBYFLOAT", "h", "f", "-inf"),
        ("HINCRBYFLOAT", "h", "f", "nan"), ("HINCRBYFLOAT", "h", "f", ""), ("EXISTS", "h"),
        ("HINCRBYFLOAT", "h", "f", "0.1"), ("HINCRBYFLOAT", "h", "f", "0.2"), ("HINCRBYFLOAT", "h", "f", "1e3"),
        ("HINCRBYFLOAT", "h", "f", "-1000.3"), ("HGET", "h", "f"), ("HSET", "h", "s", "abc"),
        ("HINCRBYFLOAT", "h", "s", "1"), ("HSET", "h", "s", "inf"), ("HINCRBYFLOAT", "h", "s", "1"),
        ("HINCRBYFLOAT", "h", "i", "5"), ("HINCRBY", "h", "i", 1), ("HINCRBYFLOAT", "h", "i", "0x10"),
        ("HINCRBY", "h", "i", 1), ("HGETALL", "h"),
        # Results longer than 64 bytes make a hash table of the hash: one field per key keeps the order.
        ("HSET", "b1", "s", "1e308"), ("HINCRBYFLOAT", "b1", "s", "1e308"), ("HGETALL", "b1"),
        ("HINCRBYFLOAT", "b2", "g", "1e4000"), ("HINCRBYFLOAT", "b2", "g", "1e4000"), ("HGETALL", "b2"),
        ("HINCRBYFLOAT", "b3", "g", "1e4931"), ("HINCRBYFLOAT", "b3", "g", "1e4931"), ("HGETALL", "b3"),
    ],
    "hrandfield errors and certain cases": [
        ("HRANDFIELD", "nokey"), ("HRANDFIELD", "nokey", 5), ("HRANDFIELD", "nokey", 5, "WITHVALUES"),
        ("HRANDFIELD", "nokey", "x"), ("HRANDFIELD", "nokey", 1, "withvalue"), ("HRANDFIELD", "nokey", 1, "a", "b"),
        ("HRANDFIELD", "nokey", "-9223372036854775808"), ("HRANDFIELD", "nokey", "9223372036854775807", "WITHVALUES"),
        ("HRANDFIELD", "nokey", "-4611686018427387904", "WITHVALUES"), ("HSET", "h", "b", "1", "a", "2", "c", "3"),
        ("HRANDFIELD", "h", 0), ("HRANDFIELD", "h", 0, "WITHVALUES"), ("HRANDFIELD", "h", 3), ("HRANDFIELD", "h", 30),
        ("HRANDFIELD", "h", 3, "withvalues"), ("HRANDFIELD", "h", 4611686018427387903, "WITHVALUES"),
        ("HSET", "one", "f", "v"), ("HRANDFIELD", "one"), ("HRANDFIELD", "one", 1), ("HRANDFIELD", "one", -3),
        ("HRANDFIELD", "one", -2, "WITHVALUES"), ("HRANDFIELD", "one", 1, "WITHVALUES"),
    ],
    "hscan": [
        ("HSCAN", "nokey", "0"), ("HSCAN", "nokey", "x"), ("HSCAN", "nokey", "0", "COUNT", "x"),
        ("HSET", "h", "b", "1", "a", "2", "ab", "3"), ("HSCAN", "h", "0"), ("HSCAN", "h", "0", "COUNT", 1),
        ("HSCAN", "h", "0", "MATCH", "a*"), ("HSCAN", "h", "0", "MATCH", "*b", "COUNT", 100),
        ("HSCAN", "h", "0", "COUNT", 0), ("HSCAN", "h", "0", "COUNT", "x"), ("HSCAN", "h", "0", "TYPE", "string"),
        ("HSCAN", "h", "0", "COUNT"), ("HSCAN", "h", "0", "foo", "bar"), ("HSCAN", "h", "x"), ("HSCAN", "h", " 1"),
        ("HSCAN", "h", "-1"), ("HSCAN", "h", "+5"), ("HSCAN", "h", ""), ("HSCAN", "h", "18446744073709551615"),
        ("HSCAN", "h", "18446744073709551616"), ("HSCAN", "h", "-"),
    ],
    "hashes and other types": [
        ("SET", "s", "v"), ("HSET", "s", "f", "v"), ("HMSET", "s", "f", "v"), ("HSETNX", "s", "f", "v"),
        ("HGET", "s", "f"), ("HMGET", "s", "f"), ("HDEL", "s", "f"), ("HEXISTS", "s", "f"), ("HLEN", "s"),
        ("HSTRLEN", "s", "f"), ("HKEYS", "s"), ("HVALS", "s"), ("HGETALL", "s"), ("HINCRBY", "s", "f", 1),
        ("HINCRBY", "s", "f", "x"), ("HINCRBYFLOAT", "s", "f", "1"), ("HINCRBYFLOAT", "s", "f", "x"),
        ("HRANDFIELD", "s"), ("HRANDFIELD", "s", 2), ("HRANDFIELD", "s", "x"), ("HRANDFIELD", "s", 1, "x"),
        ("HSCAN", "s", "0"), ("HSCAN", "s", "x"), ("HSCAN", "s", "0", "COUNT", "x"),
        ("HSET", "h", "f", "v"), ("GET", "h"), ("GETSET", "h", "v"), ("GETDEL", "h"), ("GETEX", "h", "PERSIST"),
        ("GETEX", "h", "EX", "x"), ("SET", "h", "v", "GET"), ("SET", "h", "v", "NX", "GET"),
        ("SET", "h", "v", "EX", 0, "GET"),
        ("INCR", "h"), ("INCRBY", "h", "x"), ("DECRBY", "h", "-9223372036854775808"), ("INCRBYFLOAT", "h", "1"),
        ("INCRBYFLOAT", "h", "x"), ("APPEND", "h", "x"), ("STRLEN", "h"), ("GETRANGE", "h", 0, 1),
        ("GETRANGE", "h", "x", 1), ("SETRANGE", "h", 0, "x"), ("SETRANGE", "h", -1, "x"), ("SETRANGE", "h", 0, ""),
        ("MGET", "h", "s", "nokey"), ("SETNX", "h", "v"), ("SET", "h", "v", "NX"), ("MSETNX", "x", "1", "h", "2"),
        ("TYPE", "h"), ("HGETALL", "h"), ("SADD", "h", "m"), ("SMEMBERS", "h"), ("SET", "h", "now a string"),
        ("TYPE", "h"), ("GET", "h"), ("HSET", "h2", "f", "v"), ("SETEX", "h2", 100, "v"), ("TYPE", "h2"),
        ("HSET", "h3", "f", "v"), ("MSET", "h3", "v"), ("GET", "h3"),
    ],
    "keys commands on hashes": [
        ("HSET", "h", "b", "1", "a", "2"), ("PEXPIREAT", "h", FUTURE_MS), ("RENAME", "h", "h2"), ("HGETALL", "h2"),
        ("PEXPIRETIME", "h2"), ("COPY", "h2", "h3"), ("HSET", "h3", "c", "3"), ("HGETALL", "h2"),
        ("HGETALL", "h3"), ("PEXPIRETIME", "h3"), ("RENAMENX", "h3", "h2"), ("SET", "s", "v"),
        ("COPY", "h2", "s"), ("COPY", "h2", "s", "REPLACE"), ("TYPE", "s"), ("HGETALL", "s"),
        ("RENAME", "s", "h2"), ("PEXPIRETIME", "h2"), ("PERSIST", "h3"), ("TTL", "h3"), ("HSET", "h3", "d", "4"),
        ("DEL", "h2", "h3", "nokey"), ("EXISTS", "h2", "h3"), ("HSET", "e", "f", "v"), ("EXPIREAT", "e", 1),
        ("HGET", "e", "f"), ("EXISTS", "e"), ("HSET", "e", "g", "w"), ("HGETALL", "e"), ("TTL", "e"),
        ("HSET", "k", "f", "v"), ("SET", "k", "v", "KEEPTTL"), ("TYPE", "k"), ("OBJECT", "ENCODING", "nokey"),
        ("OBJECT", "FREQ", "k"), ("OBJECT", "REFCOUNT", "nokey"), ("OBJECT", "ENCODING"),
        ("OBJECT", "ENCODING", "k", "x"), ("OBJECT", "nope"), ("OBJECT", "HELP"), ("OBJECT", "help", "x"),
    ],
}


@pytest.mark.parametrize("name", list(HASH_CASES))
def test_hash_cases(both: Both, name: str) -> None:
    for command in HASH_CASES[name]:
        both.same(*command)


def test_a_big_hash_answers_up_to_order(both: Both) -> None:
    """Past 128 fields, or with a field or value over 64 bytes, Redis's hash is a hash table."""
    both.same("HSET", "h", "b", "1", "a", "2")
    both.same("HSET", "h", "long", LONG)
    both.same_unordered("HGETALL", "h", pairs=both.proto == 2)
    both.same_unordered("HKEYS", "h")
    both.same_unordered("HVALS", "h")
    both.same("HDEL", "h", "long")
    both.same_unordered("HGETALL", "h", pairs=both.proto == 2)  # conversion is one way
    fields = [x for i in range(130) for x in (b"f%d" % i, b"%d" % i)]
    both.same("HSET", "many", *fields[:256])
    both.same("HGETALL", "many")  # 128 fields: still a listpack
    both.same("HSET", "many", *fields[256:])
    both.same_unordered("HGETALL", "many", pairs=both.proto == 2)
    both.same("HINCRBY", "many", "f3", 10)
    both.same("HMGET", "many", "f3", "f129", "nope")
    both.same("HSTRLEN", "many", "f100")
    both.same("HLEN", "many")
    both.same_unordered("HRANDFIELD", "many", 1000)
    assert isinstance(both.sm.data[b"many"], Hash) and not both.sm.data[b"many"].small


def test_hrandfield_picks_fields_of_the_hash(both: Both) -> None:
    both.same("HSET", "h", *[x for i in range(20) for x in (b"f%d" % i, b"v%d" % i)])
    fields = {b"f%d" % i: b"v%d" % i for i in range(20)}
    for args in [(), (5,), (-5,), (19,), (-40,), (5, "WITHVALUES"), (-30, "WITHVALUES"), (19, "WITHVALUES")]:
        ours, theirs = both.run("HRANDFIELD", "h", *args)
        assert header(ours)[:1 if not args else None] == header(theirs)[:1 if not args else None], (ours, theirs)
        value = decode(ours)
        if not args:
            assert value in fields
            continue
        with_values = len(args) == 2
        picks = value if not with_values or both.proto == 3 else list(zip(value[0::2], value[1::2]))
        assert len(picks) == abs(args[0])
        for pick in picks:
            field, val = (pick[0], pick[1]) if with_values else (pick, None)
            assert field in fields and (val is None or fields[field] == val), pick
        if args[0] > 0:
            names = [pick[0] if with_values else pick for pick in picks]
            assert len(set(names)) == len(names), "a positive count gives distinct fields"


def _scan_pairs(both: Both, key: str, *options: Arg) -> None:
    argv = argv_of(["HSCAN", key, "0", *options])
    ours, _ = full_scan(both.ours, argv, 2)
    theirs, _ = full_scan(both.theirs, argv, 2)
    assert sorted(zip(ours[0::2], ours[1::2])) == sorted(zip(theirs[0::2], theirs[1::2])), options


def test_hscan_of_a_big_hash_resumes_and_returns_every_field_once(both: Both) -> None:
    both.same("HSET", "h", *[x for i in range(500) for x in (b"field:%03d" % i, b"v%d" % i)])
    for options in [
        (), ("COUNT", 1), ("COUNT", 7), ("COUNT", 1000), ("MATCH", "field:1*"), ("MATCH", "*9", "COUNT", 3),
    ]:
        _scan_pairs(both, "h", *options)
    argv = argv_of(["HSCAN", "h", "0", "COUNT", "10"])
    fields, calls = full_scan(both.ours, argv, 2)
    assert calls >= 50 and len(fields) == 1000
    # A cursor that is not one of ours is refused for a big hash, as any value is not by Redis for a small one.
    assert decode(both.ours(argv_of(["HSCAN", "h", "-1"]))).message == "ERR invalid cursor"


SET_CASES: dict[str, list[tuple[Arg, ...]]] = {
    "sadd srem scard intset": [
        ("SADD", "s", "3", "1", "2", "1"), ("SMEMBERS", "s"), ("SADD", "s", "-5", "10", "3"), ("SMEMBERS", "s"),
        ("SCARD", "s"), ("SCARD", "nokey"), ("SREM", "s", "1", "1", "7"), ("SREM", "nokey", "1"), ("SMEMBERS", "s"),
        ("SADD", "s", "9223372036854775807", "-9223372036854775808"), ("SMEMBERS", "s"),
        ("SREM", "s", "-5", "10", "3", "2", "9223372036854775807", "-9223372036854775808"), ("EXISTS", "s"),
        ("SMEMBERS", "s"), ("SMEMBERS", "nokey"), ("SADD", "t", "1"), ("PEXPIREAT", "t", FUTURE_MS),
        ("SADD", "t", "2"), ("PEXPIRETIME", "t"), ("SREM", "t", "1", "2"), ("PEXPIRETIME", "t"),
    ],
    "sismember smismember": [
        ("SISMEMBER", "nokey", "a"), ("SMISMEMBER", "nokey", "a", "b"), ("SADD", "s", "a", "b", ""),
        ("SISMEMBER", "s", "a"), ("SISMEMBER", "s", "x"), ("SISMEMBER", "s", ""),
        ("SMISMEMBER", "s", "a", "x", "", "a"),
    ],
    "spop srandmember certain cases": [
        ("SPOP", "nokey"), ("SPOP", "nokey", 3), ("SPOP", "nokey", -1), ("SPOP", "nokey", "x"), ("SPOP", "s", 1, 2),
        ("SRANDMEMBER", "nokey"), ("SRANDMEMBER", "nokey", 3), ("SRANDMEMBER", "nokey", "x"),
        ("SRANDMEMBER", "nokey", -9223372036854775808), ("SRANDMEMBER", "s", 1, 2), ("SADD", "s", "7"),
        ("SRANDMEMBER", "s"), ("SRANDMEMBER", "s", 1), ("SRANDMEMBER", "s", -3), ("SRANDMEMBER", "s", 5),
        ("SRANDMEMBER", "s", 0), ("SPOP", "s", 0), ("SPOP", "s"), ("EXISTS", "s"), ("SADD", "s", "3", "1", "2"),
        ("SRANDMEMBER", "s", 3), ("SRANDMEMBER", "s", 100), ("SPOP", "s", 3), ("EXISTS", "s"),
        ("SADD", "s", "5", "4"), ("SPOP", "s", 10), ("SADD", "s", "x"), ("SPOP", "s", 1), ("SPOP", "s", -2),
        ("SADD", "s", "1"), ("SPOP", "s"), ("SCARD", "s"),
    ],
    "smove": [
        ("SMOVE", "nokey", "dst", "a"), ("SET", "str", "v"), ("SMOVE", "nokey", "str", "a"), ("SADD", "src", "1", "2"),
        ("SMOVE", "src", "str", "1"), ("SMOVE", "str", "src", "1"), ("SMOVE", "src", "dst", "3"), ("EXISTS", "dst"),
        ("SMOVE", "src", "src", "1"), ("SMOVE", "src", "src", "3"), ("SMOVE", "src", "dst", "1"),
        ("SMEMBERS", "src"), ("SMEMBERS", "dst"), ("SADD", "dst", "2"), ("SMOVE", "src", "dst", "2"),
        ("EXISTS", "src"), ("SMEMBERS", "dst"), ("PEXPIREAT", "dst", FUTURE_MS), ("SADD", "other", "9"),
        ("SMOVE", "dst", "other", "1"), ("PEXPIRETIME", "dst"), ("SMEMBERS", "other"),
    ],
    "sinter sunion sdiff of intsets": [
        ("SADD", "a", "1", "2", "3", "4"), ("SADD", "b", "3", "4", "5"), ("SADD", "c", "4", "6", "3"),
        ("SINTER", "a", "b"), ("SINTER", "a", "b", "c"), ("SINTER", "a", "nokey"), ("SINTER", "nokey", "a"),
        ("SINTER", "a"), ("SINTER", "a", "a"), ("SUNION", "a", "b"), ("SUNION", "nokey"), ("SUNION", "a", "nokey", "c"),
        ("SDIFF", "a", "b"), ("SDIFF", "a", "b", "c"), ("SDIFF", "a", "a"), ("SDIFF", "a", "nokey"),
        ("SDIFF", "nokey", "a"), ("SDIFF", "a", "b", "a"), ("SDIFF", "b", "a"),
    ],
    "sintercard": [
        ("SINTERCARD", 0, "a"), ("SINTERCARD", -1, "a"), ("SINTERCARD", "x", "a"), ("SINTERCARD", 2, "a"),
        ("SINTERCARD", 1, "a", "LIMIT"), ("SINTERCARD", 1, "a", "LIMIT", -1), ("SINTERCARD", 1, "a", "LIMIT", "x"),
        ("SINTERCARD", 1, "a", "foo"), ("SINTERCARD", 1, "a", "LIMIT", 1, "LIMIT"), ("SINTERCARD", 1, "nokey"),
        ("SADD", "a", "1", "2", "3", "x"), ("SADD", "b", "2", "3", "x", "y"), ("SINTERCARD", 2, "a", "b"),
        ("SINTERCARD", 2, "a", "b", "LIMIT", 0), ("SINTERCARD", 2, "a", "b", "LIMIT", 2),
        ("SINTERCARD", 2, "a", "b", "limit", 9), ("SINTERCARD", 2, "a", "b", "LIMIT", 1, "LIMIT", 3),
        ("SINTERCARD", 1, "a", "b"), ("SINTERCARD", 3, "a", "b", "nokey"),
        ("SET", "str", "v"), ("SINTERCARD", 2, "a", "str"), ("SINTERCARD", 2, "nokey", "str"),
        ("SINTERCARD", 1, "str", "LIMIT", "x"),
    ],
    "stores": [
        ("SADD", "a", "1", "2", "3"), ("SADD", "b", "2", "3", "4"), ("SINTERSTORE", "d", "a", "b"), ("SMEMBERS", "d"),
        ("SUNIONSTORE", "d", "a", "b"), ("SMEMBERS", "d"), ("SDIFFSTORE", "d", "a", "b"), ("SMEMBERS", "d"),
        ("SET", "str", "v", "PXAT", FUTURE_MS), ("SINTERSTORE", "str", "a", "b"), ("TYPE", "str"), ("PTTL", "str"),
        ("SINTERSTORE", "d", "a", "nokey"), ("EXISTS", "d"), ("SINTERSTORE", "d", "a", "nokey"),
        ("SUNIONSTORE", "d", "nokey"), ("SDIFFSTORE", "d", "a", "a"), ("SDIFFSTORE", "a", "a", "b"),
        ("SMEMBERS", "a"), ("SUNIONSTORE", "a", "a", "b"), ("SMEMBERS", "a"), ("SINTERSTORE", "b", "b"),
        ("SMEMBERS", "b"), ("SET", "str", "v"), ("SINTERSTORE", "d", "a", "str"), ("SUNIONSTORE", "d", "str"),
        ("SDIFFSTORE", "d", "nokey", "str"), ("SDIFFSTORE", "str", "a"), ("TYPE", "str"), ("EXISTS", "d"),
    ],
    "sscan": [
        ("SSCAN", "nokey", "0"), ("SSCAN", "nokey", "x"), ("SSCAN", "nokey", "0", "MATCH"),
        ("SADD", "s", "3", "1", "22", "12"), ("SSCAN", "s", "0"), ("SSCAN", "s", "0", "COUNT", 1),
        ("SSCAN", "s", "0", "MATCH", "*2"), ("SSCAN", "s", "0", "COUNT", 0), ("SSCAN", "s", "0", "TYPE", "set"),
        ("SSCAN", "s", "x"), ("SSCAN", "s", "-3"), ("SSCAN", "s", "99"), ("SSCAN", "s", "0", "MATCH"),
    ],
    "sets and other types": [
        ("SET", "str", "v"), ("SADD", "str", "a"), ("SREM", "str", "a"), ("SMEMBERS", "str"), ("SISMEMBER", "str", "a"),
        ("SMISMEMBER", "str", "a"), ("SCARD", "str"), ("SPOP", "str"), ("SPOP", "str", 2), ("SPOP", "str", 0),
        ("SPOP", "str", "x"), ("SRANDMEMBER", "str"), ("SRANDMEMBER", "str", 2), ("SRANDMEMBER", "str", "x"),
        ("SINTER", "str"), ("SINTER", "nokey", "str"), ("SUNION", "str"), ("SDIFF", "str"), ("SDIFF", "nokey", "str"),
        ("SSCAN", "str", "0"), ("SSCAN", "str", "x"), ("SADD", "s", "1"), ("GET", "s"), ("HGET", "s", "f"),
        ("HSET", "s", "f", "v"), ("INCR", "s"), ("TYPE", "s"), ("OBJECT", "REFCOUNT", "s"),
        ("RENAME", "s", "t"), ("SMEMBERS", "t"), ("COPY", "t", "u"), ("SADD", "u", "2"), ("SMEMBERS", "t"),
        ("SMEMBERS", "u"), ("SET", "u", "x"), ("TYPE", "u"), ("DEL", "u"), ("SCAN", "0", "TYPE", "set"),
        ("SCAN", "0", "TYPE", "SET"),
        ("SCAN", "0", "TYPE", "string"), ("SCAN", "0", "TYPE", "hash"),
    ],
}


@pytest.mark.parametrize("name", list(SET_CASES))
def test_set_cases(both: Both, name: str) -> None:
    for command in SET_CASES[name]:
        both.same(*command)


def test_sets_of_strings_answer_up_to_order(both: Both) -> None:
    both.same("SADD", "a", "x", "y", "z", "1", "2")
    both.same("SADD", "b", "y", "z", "w", "2")
    both.same("SADD", "c", *[b"m%d" % i for i in range(600)])
    for command in [("SMEMBERS", "a"), ("SINTER", "a", "b"), ("SUNION", "a", "b"), ("SDIFF", "a", "b"),
                    ("SDIFF", "b", "a"), ("SUNION", "a", "c"), ("SINTER", "c", "a"), ("SRANDMEMBER", "a", 5),
                    ("SRANDMEMBER", "a", 50), ("SDIFF", "c", "a", "b")]:
        both.same_unordered(*command)
    for command in [("SINTERSTORE", "d", "a", "b"), ("SMEMBERS", "d"), ("SUNIONSTORE", "d", "a", "b", "c"),
                    ("SCARD", "d"), ("SDIFFSTORE", "d", "a", "b"), ("SMEMBERS", "d"), ("SPOP", "a", 5),
                    ("EXISTS", "a")]:
        both.same_unordered(*command)
    both.same("SADD", "big", *[b"%d" % i for i in range(513)])  # more than an intset holds
    both.same_unordered("SMEMBERS", "big")
    both.same("SREM", "big", *[b"%d" % i for i in range(500)])
    both.same_unordered("SMEMBERS", "big")


def test_spop_and_srandmember_pick_members(both: Both) -> None:
    members = {b"m%d" % i for i in range(30)}
    both.same("SADD", "s", *sorted(members))
    for args in [(), (1,), (5,), (-5,), (29,), (-60,)]:
        ours, theirs = both.run("SRANDMEMBER", "s", *args)
        assert header(ours)[:1 if not args else None] == header(theirs)[:1 if not args else None], (ours, theirs)
        value = decode(ours)
        picks = [value] if not args else value
        assert all(pick in members for pick in picks)
        if args and args[0] > 0:
            assert len(set(picks)) == len(picks) == args[0]
    # SPOP changes the set: Redis is brought to our choice with SREM, after comparing the reply's shape.
    left = set(members)
    for args in [(), (3,), (1,), (20,)]:
        ours = both.ours(argv_of(["SPOP", "s", *args]))
        popped = decode(ours)
        popped = [popped] if not args else popped
        assert set(popped) <= left and len(set(popped)) == len(popped) == (args[0] if args else 1)
        kind = b"$" if not args else (b"~" if both.proto == 3 else b"*")
        assert ours.startswith(kind), ours
        assert decode(both.theirs(argv_of(["SREM", "s", *popped]))) == len(popped)
        left -= set(popped)
        both.same_unordered("SMEMBERS", "s")
    ours_shape, theirs_shape = both.run("SPOP", "s", 2)
    assert header(ours_shape) == header(theirs_shape)


def test_sscan_of_a_big_set_resumes_and_returns_every_member_once(both: Both) -> None:
    both.same("SADD", "s", *[b"member:%03d" % i for i in range(700)], *[b"%d" % i for i in range(50)])
    for options in [
        (), ("COUNT", 1), ("COUNT", 13), ("COUNT", 5000), ("MATCH", "member:1*"), ("MATCH", "*7", "COUNT", 4),
    ]:
        argv = argv_of(["SSCAN", "s", "0", *options])
        ours, _ = full_scan(both.ours, argv, 2)
        theirs, _ = full_scan(both.theirs, argv, 2)
        assert len(ours) == len(set(ours)) and sorted(ours) == sorted(theirs), options
    both.same("SADD", "ints", *[b"%d" % i for i in range(512)])
    both.same("SSCAN", "ints", "0", "COUNT", 5)  # an intset answers whole
    assert isinstance(both.sm.data[b"ints"], Set) and both.sm.data[b"ints"].scans_whole


def test_watch_sees_changes_of_aggregates_as_redis_signals_them() -> None:
    # Not against Redis: the versions WATCH compares move exactly when Redis signals a modified key.
    from raftkv.kv.state_machine import StateMachine

    sm = StateMachine()

    def apply(*args: Arg) -> object:
        sm.applied_index += 1
        return sm.execute(argv_of(list(args)), 0)

    def moved(*args: Arg) -> bool:
        keys = [b"h", b"s", b"d"]
        before = [sm.key_version(k, 0) for k in keys]
        apply(*args)
        return [sm.key_version(k, 0) for k in keys] != before

    apply("HSET", "h", "f", "v")
    apply("SADD", "s", "a")
    assert moved("HSET", "h", "f", "v")  # Redis signals HSET even when nothing changes
    assert not moved("HSETNX", "h", "f", "w")
    assert not moved("HDEL", "h", "nofield")
    assert moved("HINCRBY", "h", "n", 0)
    assert not moved("SADD", "s", "a")
    assert not moved("SREM", "s", "b")
    assert moved("SADD", "s", "b")
    assert not moved("SMOVE", "s", "d", "nope")
    assert moved("SMOVE", "s", "d", "b")
    assert not moved("SPOP", "s", 0)
    assert moved("SPOP", "s")
    assert not moved("SINTERSTORE", "x", "nokey")
    assert moved("SINTERSTORE", "d", "nokey")  # deletes d
    assert not moved("HGETALL", "h") and not moved("SMEMBERS", "s")


def test_unordered_helper_sorts_only_order() -> None:
    assert unordered(b"*2\r\n$1\r\nb\r\n$1\r\na\r\n") == unordered(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n")
    assert unordered(b"~1\r\n$1\r\na\r\n") != unordered(b"*1\r\n$1\r\na\r\n")
