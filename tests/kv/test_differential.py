"""The state machine's replies against a real redis-server's, byte for byte, in RESP2 and RESP3.

Each command goes to Redis over a raw connection and to StateMachine.execute (after the command
table's arity check, as a worker does it); the encoded replies must be identical (tests/kv/differential.py
has the machinery). Our clock is fixed at import time, so only time-independent answers are compared
exactly: expiry times far in the future or in the past, EXPIRETIME/PEXPIRETIME, and TTLs within a range.
KEYS compares as a sorted list, a full SCAN as a set. The hash and set commands have their hand-written
cases in test_differential_types.py; the generated sequences here mix every type.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftkv.errors import RespError
from raftkv.kv.args import parse_int
from raftkv.kv.datatypes import Hash, Set
from raftkv.kv.state_machine import StateMachine
from raftkv.kv.table import READ, TABLE, WRITE
from tests.kv.differential import (  # noqa: F401
    FUTURE_MS,
    FUTURE_S,
    NOW_MS,
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
    unordered_pairs,
)
from tests.redis_server import RedisConnection

_argv, _decode = argv_of, decode


# ---------------------------------------------------------------------------------------------------------
# Hand-written cases: every command's error paths and corner cases. Each runs on an empty database.

CASES: dict[str, list[tuple[Arg, ...]]] = {
    "set options": [
        ("SET", "a", "1", "NX", "XX"), ("SET", "a", "1", "XX", "NX"), ("SET", "a", "1", "EX", 0),
        ("SET", "a", "1", "EX", -1), ("SET", "a", "1", "PX", 0), ("SET", "a", "1", "EX", "abc"),
        ("SET", "a", "1", "EX", "1.5"), ("SET", "a", "1", "EX", 10, "PX", 10), ("SET", "a", "1", "KEEPTTL", "EX", 10),
        ("SET", "a", "1", "EX", 10, "KEEPTTL"), ("SET", "a", "1", "EX"), ("SET", "a", "1", "foo"),
        ("SET", "a", "1", "PX", 9223372036854775807), ("SET", "a", "1", "EX", 9223372036854775),
        ("SET", "a", "1", "EX", 9223372036854776), ("SET", "a", "1", "EXAT", 0), ("SET", "a", "1", "PXAT", -5),
        ("SET", "a", "1", "PERSIST"), ("GET", "a"),
        ("SET", "a", "1", "GET"), ("SET", "a", "2", "get", "nx"), ("SET", "b", "2", "GET", "NX"),
        ("SET", "a", "3", "XX", "GET"), ("SET", "c", "3", "XX", "GET"), ("SET", "c", "3", "xx"),
        ("SET", "a", "4", "nx", "nx"), ("SET", "a", "5", "xx", "xx", "get"), ("MGET", "a", "b", "c"),
        ("SET", "a", "1", "EXAT", 1), ("GET", "a"), ("EXISTS", "a"),
        ("SET", "a", "1", "PXAT", 9223372036854775807), ("PEXPIRETIME", "a"),
        ("SET", "a", "1", "EXAT", FUTURE_S, "EXAT", FUTURE_S + 1), ("EXPIRETIME", "a"),
        ("SET", "a", "2", "KEEPTTL"), ("EXPIRETIME", "a"), ("SET", "a", "2", "KEEPTTL", "KEEPTTL", "GET"),
        ("PEXPIRETIME", "a"), ("SET", "a", "3"), ("PEXPIRETIME", "a"),
        ("SET", "a", "1", "PXAT", FUTURE_MS, "NX"), ("SET", "d", "1", "PXAT", FUTURE_MS, "NX", "GET"),
        ("PEXPIRETIME", "d"), ("SET", "d", "2", "EXAT", 1, "XX", "GET"), ("EXISTS", "d"),
    ],
    "setnx setex psetex": [
        ("SETNX", "a", "1"), ("SETNX", "a", "2"), ("GET", "a"), ("SETEX", "a", 0, "v"), ("SETEX", "a", -3, "v"),
        ("SETEX", "a", "x", "v"), ("PSETEX", "a", 0, "v"), ("PSETEX", "a", "1e3", "v"),
        ("SETEX", "a", 9223372036854776, "v"), ("PSETEX", "a", 9223372036854775807, "v"), ("GET", "a"),
    ],
    "getset getdel": [
        ("GETSET", "a", "1"), ("GETSET", "a", "2"), ("GETDEL", "a"), ("GETDEL", "a"), ("EXISTS", "a"),
        ("SET", "b", "x", "PXAT", FUTURE_MS), ("GETSET", "b", "y"), ("PEXPIRETIME", "b"),
    ],
    "getex": [
        ("GETEX", "nokey"), ("GETEX", "nokey", "EX", "abc"), ("GETEX", "nokey", "PERSIST", "EX", 1),
        ("SET", "a", "v"), ("GETEX", "a", "PERSIST", "EX", 10), ("GETEX", "a", "EX", 10, "PERSIST"),
        ("GETEX", "a", "EX", "abc"), ("GETEX", "a", "EX", 0), ("GETEX", "a", "PX", -1),
        ("GETEX", "a", "EXAT", 9223372036854776), ("GETEX", "a", "KEEPTTL"), ("GETEX", "a", "GET"),
        ("GETEX", "a", "NX"), ("GETEX", "a", "EX"), ("GETEX", "a", "PXAT", FUTURE_MS), ("PEXPIRETIME", "a"),
        ("GETEX", "a", "EXAT", FUTURE_S, "EXAT", FUTURE_S + 5), ("EXPIRETIME", "a"), ("GETEX", "a"),
        ("EXPIRETIME", "a"), ("GETEX", "a", "PERSIST"), ("EXPIRETIME", "a"), ("GETEX", "a", "persist", "persist"),
        ("GETEX", "a", "PXAT", 1), ("EXISTS", "a"), ("GETEX", "a"),
    ],
    "mget mset msetnx": [
        ("MSET", "a"), ("MSET", "a", "1", "b"), ("MSETNX", "a", "1", "b"), ("MSET", "a", "1", "a", "2"),
        ("MGET", "a", "b", "a"), ("MSETNX", "b", "1", "a", "3"), ("MGET", "a", "b"), ("MSETNX", "b", "1", "c", "2"),
        ("MSETNX", "x", "1", "x", "2"), ("MGET", "x", "b", "c", "nokey"), ("MSET", "", ""), ("MGET", ""),
    ],
    "incr decr": [
        ("INCR", "n"), ("INCRBY", "n", 10), ("DECR", "n"), ("DECRBY", "n", 3), ("DECRBY", "n", -3),
        ("INCRBY", "n", "+1"), ("INCRBY", "n", " 1"), ("INCRBY", "n", "1 "), ("INCRBY", "n", "01"),
        ("INCRBY", "n", "-0"), ("INCRBY", "n", "1.0"), ("INCRBY", "n", "9223372036854775808"),
        ("INCRBY", "n", "-9223372036854775809"), ("DECRBY", "n", "-9223372036854775808"),
        ("SET", "n", "9223372036854775807"), ("INCR", "n"), ("INCRBY", "n", 0), ("DECRBY", "n", -1),
        ("SET", "n", "-9223372036854775808"), ("DECR", "n"), ("INCRBY", "n", -1), ("DECRBY", "n", 1),
        ("INCRBY", "n", 9223372036854775807), ("SET", "s", "abc"), ("INCR", "s"), ("SET", "s", ""), ("INCR", "s"),
        ("SET", "s", " 1"), ("DECR", "s"), ("SET", "s", "007"), ("INCR", "s"), ("SET", "s", "1e3"), ("INCR", "s"),
        ("SET", "s", "12345678901234567890"), ("INCR", "s"), ("SET", "t", "5", "PXAT", FUTURE_MS), ("INCR", "t"),
        ("PEXPIRETIME", "t"), ("GET", "t"),
    ],
    "incrbyfloat": [
        ("INCRBYFLOAT", "f", "0.1"), ("INCRBYFLOAT", "f", "0.2"), ("INCRBYFLOAT", "f", "abc"),
        ("INCRBYFLOAT", "f", ""), ("INCRBYFLOAT", "f", " 1"), ("INCRBYFLOAT", "f", "1 "), ("INCRBYFLOAT", "f", "+1"),
        ("INCRBYFLOAT", "f", "1."), ("INCRBYFLOAT", "f", ".5"), ("INCRBYFLOAT", "f", "."), ("INCRBYFLOAT", "f", "1e"),
        ("INCRBYFLOAT", "f", "1e-3"), ("INCRBYFLOAT", "f", "-2.5E+2"), ("INCRBYFLOAT", "f", "0x10"),
        ("INCRBYFLOAT", "f", "0x.8p1"), ("INCRBYFLOAT", "f", "0x1p"), ("INCRBYFLOAT", "f", "0x"),
        ("INCRBYFLOAT", "f", "nan"), ("INCRBYFLOAT", "f", "inf"), ("INCRBYFLOAT", "f", "-Infinity"),
        ("INCRBYFLOAT", "f", "infinit"), ("INCRBYFLOAT", "f", b"1\x00"), ("INCRBYFLOAT", "f", "1e-5000"),
        ("INCRBYFLOAT", "f", "1e5000"), ("INCRBYFLOAT", "g", "1e4000"), ("INCRBYFLOAT", "g", "1e4932"),
        ("INCRBYFLOAT", "h", "1e308"), ("INCRBYFLOAT", "h", "1e308"), ("INCRBYFLOAT", "i", "-0.00000000000000000001"),
        ("INCRBYFLOAT", "j", "1.00000000000000000000000001"), ("INCRBYFLOAT", "j", "2.5e-17"),
        ("INCRBYFLOAT", "k", "3.0000000000000000000000000000000000000000000000000001e-17"),
        ("INCRBYFLOAT", "l", "0x1p-16445"), ("INCRBYFLOAT", "l", "0x1p-16446"), ("INCRBYFLOAT", "m", "1e-4950"),
        ("SET", "s", "1.5"), ("INCRBYFLOAT", "s", "1"), ("SET", "s", "12"), ("INCRBYFLOAT", "s", "-12"),
        ("SET", "s", "x"), ("INCRBYFLOAT", "s", "1"), ("SET", "s", "nan"), ("INCRBYFLOAT", "s", "1"),
        ("SET", "s", "inf"), ("INCRBYFLOAT", "s", "1"), ("SET", "s", "1", "PXAT", FUTURE_MS),
        ("INCRBYFLOAT", "s", "1.25"), ("PEXPIRETIME", "s"), ("INCRBYFLOAT", "s", "-1e-18"),
        ("INCRBYFLOAT", "s", "1234567890.123456789"), ("INCRBYFLOAT", "s", "-1234567892.37345678"),
    ],
    "append strlen": [
        ("APPEND", "a", "x"), ("APPEND", "a", "yz"), ("APPEND", "a", ""), ("STRLEN", "a"), ("STRLEN", "nokey"),
        ("APPEND", "e", ""), ("EXISTS", "e"), ("STRLEN", "e"), ("SET", "b", "1", "PXAT", FUTURE_MS),
        ("APPEND", "b", "2"), ("PEXPIRETIME", "b"), ("GET", "b"),
    ],
    "getrange": [
        ("SET", "s", "hello"), ("GETRANGE", "s", 0, -1), ("GETRANGE", "s", -3, -1), ("GETRANGE", "s", -1, -3),
        ("GETRANGE", "s", -100, -90), ("GETRANGE", "s", 3, 1), ("GETRANGE", "s", 10, 20),
        ("GETRANGE", "s", -100, 100), ("GETRANGE", "s", 0, -100), ("GETRANGE", "s", 4, 4), ("GETRANGE", "s", 1, 0),
        ("GETRANGE", "nokey", 0, -1), ("GETRANGE", "nokey", "x", 1), ("GETRANGE", "s", 0, "y"),
        ("GETRANGE", "s", 9223372036854775807, -9223372036854775808),
        ("GETRANGE", "s", -9223372036854775808, 9223372036854775807), ("SET", "e", ""), ("GETRANGE", "e", 0, -1),
        ("GETRANGE", "e", -1, 0), ("GETRANGE", "e", 0, 0), ("SET", "n", "12345"), ("GETRANGE", "n", 1, 2),
    ],
    "setrange": [
        ("SETRANGE", "s", -1, "x"), ("SETRANGE", "s", "abc", "x"), ("SETRANGE", "s", 536870912, "x"),
        ("SETRANGE", "s", 536870911, ""), ("SETRANGE", "s", 536870912, ""), ("SETRANGE", "s", 0, ""),
        ("EXISTS", "s"), ("SETRANGE", "s", 3, "ab"), ("GET", "s"), ("SETRANGE", "s", 1, "XYZW"), ("GET", "s"),
        ("SETRANGE", "s", 0, ""), ("SETRANGE", "s", 536870911, "ab"), ("SETRANGE", "s", 9223372036854775807, "a"),
        ("SET", "t", "hello", "PXAT", FUTURE_MS), ("SETRANGE", "t", 5, "!"), ("GET", "t"), ("PEXPIRETIME", "t"),
    ],
    "exists del unlink type": [
        ("MSET", "a", "1", "b", "2", "c", "3"), ("EXISTS", "a", "a", "nokey", "b"), ("TYPE", "a"), ("TYPE", "nokey"),
        ("DEL", "a", "a", "nokey"), ("UNLINK", "b", "c", "b"), ("EXISTS", "a", "b", "c"), ("DEL", "a"),
        ("SET", "x", "1", "PXAT", 1), ("TYPE", "x"), ("DEL", "x"), ("DBSIZE",),
    ],
    "rename": [
        ("RENAME", "nokey", "b"), ("RENAMENX", "nokey", "b"), ("SET", "a", "1"), ("RENAME", "a", "a"),
        ("RENAMENX", "a", "a"), ("SET", "b", "2", "PXAT", FUTURE_MS), ("RENAMENX", "a", "b"), ("RENAME", "a", "b"),
        ("GET", "b"), ("PEXPIRETIME", "b"), ("EXISTS", "a"), ("RENAME", "b", "c"), ("PEXPIRETIME", "c"),
        ("RENAMENX", "c", "d"), ("PEXPIRETIME", "d"), ("MGET", "a", "b", "c", "d"),
    ],
    "copy": [
        ("COPY", "a", "a"), ("COPY", "a", "b"), ("SET", "a", "1", "PXAT", FUTURE_MS), ("COPY", "a", "a"),
        ("COPY", "a", "b"), ("PEXPIRETIME", "b"), ("SET", "c", "x"), ("COPY", "a", "c"), ("COPY", "a", "c", "REPLACE"),
        ("GET", "c"), ("PEXPIRETIME", "c"), ("COPY", "a", "b", "DB", 0, "REPLACE", "DB", 0), ("COPY", "a", "b", "DB"),
        ("COPY", "a", "b", "DB", "x"), ("COPY", "a", "b", "DB", 16), ("COPY", "a", "b", "DB", -1),
        ("COPY", "a", "b", "DB", 4294967296), ("COPY", "a", "b", "foo"), ("COPY", "a", "b", "REPLACE", "foo"),
        ("COPY", "nokey", "nokey2", "REPLACE"),
    ],
    "randomkey dbsize flush": [
        ("RANDOMKEY",), ("SET", "only", "1"), ("RANDOMKEY",), ("DBSIZE",), ("FLUSHDB", "foo"), ("FLUSHDB", "async"),
        ("DBSIZE",), ("SET", "a", "1"), ("FLUSHALL", "SYNC"), ("FLUSHALL", "sync", "async"), ("FLUSHALL",),
        ("FLUSHDB",), ("SET", "x", "1", "PXAT", 1), ("RANDOMKEY",), ("DBSIZE",),
    ],
    "expire options": [
        ("EXPIRE", "a", 10), ("SET", "a", "v"), ("EXPIRE", "a", 10, "NX", "XX"), ("EXPIRE", "a", 10, "nx", "gt"),
        ("EXPIRE", "a", 10, "lt", "nx"), ("EXPIRE", "a", 10, "GT", "LT"), ("EXPIRE", "a", 10, "foo"),
        ("EXPIRE", "a", 10, "xx", b"bad\x00tail"), ("EXPIRE", "a", "abc"), ("EXPIRE", "nokey", "abc"),
        ("EXPIRE", "nokey", 10, "bogus"), ("EXPIRE", "a", 9223372036854776), ("PEXPIRE", "a", 9223372036854775807),
        ("EXPIREAT", "a", -9223372036854775808), ("EXPIREAT", "a", -9223372036854776),
        ("PEXPIREAT", "a", FUTURE_MS, "XX"), ("PEXPIREAT", "a", FUTURE_MS, "GT"), ("PEXPIREAT", "a", FUTURE_MS, "LT"),
        ("PEXPIREAT", "a", FUTURE_MS, "NX"), ("PEXPIRETIME", "a"), ("PEXPIREAT", "a", FUTURE_MS + 1, "LT"),
        ("PEXPIREAT", "a", FUTURE_MS - 1, "GT"), ("PEXPIREAT", "a", FUTURE_MS + 1, "GT", "XX"), ("PEXPIRETIME", "a"),
        ("PEXPIREAT", "a", FUTURE_MS, "LT"), ("EXPIREAT", "a", FUTURE_S, "NX"), ("EXPIREAT", "a", FUTURE_S, "xx"),
        ("EXPIRETIME", "a"), ("PERSIST", "a"), ("PERSIST", "a"), ("PERSIST", "nokey"), ("EXPIRETIME", "a"),
        ("EXPIREAT", "a", FUTURE_S, "LT"), ("EXPIRETIME", "a"), ("PERSIST", "a"),
        ("EXPIREAT", "a", FUTURE_S, "GT"), ("EXPIRETIME", "a"), ("EXPIRE", "a", -1, "XX"), ("EXPIRE", "a", -1),
        ("EXISTS", "a"), ("SET", "a", "v"), ("PEXPIRE", "a", -9223372036854775808), ("EXISTS", "a"),
        ("SET", "a", "v"), ("EXPIRE", "a", -9223372036854775), ("EXISTS", "a"), ("SET", "a", "v"),
        ("EXPIRE", "a", -9223372036854776), ("EXPIREAT", "a", 0), ("EXISTS", "a"), ("EXPIREAT", "nokey", 100),
    ],
    "expiretime rounding": [
        ("EXPIRETIME", "nokey"), ("PEXPIRETIME", "nokey"), ("TTL", "nokey"), ("PTTL", "nokey"), ("SET", "k", "v"),
        ("EXPIRETIME", "k"), ("PEXPIRETIME", "k"), ("TTL", "k"), ("PTTL", "k"),
        ("PEXPIREAT", "k", 4102444800499), ("EXPIRETIME", "k"), ("PEXPIREAT", "k", 4102444800500),
        ("EXPIRETIME", "k"), ("PEXPIREAT", "k", 4102444800501), ("EXPIRETIME", "k"), ("PEXPIRETIME", "k"),
    ],
    "scan errors": [
        ("SCAN", "x"), ("SCAN", "-1x"), ("SCAN", ""), ("SCAN", "0", "COUNT", 0), ("SCAN", "0", "COUNT", -1),
        ("SCAN", "0", "COUNT", "x"), ("SCAN", "0", "foo"), ("SCAN", "0", "COUNT"), ("SCAN", "0", "MATCH"),
        ("SCAN", "0", "TYPE", "hash"), ("SCAN", "0", "x", "COUNT", 0), ("SCAN", "0", "COUNT", 0, "x"),
        ("SET", "a", "1"), ("SCAN", "0", "TYPE", "list"), ("SCAN", "0", "TYPE", "STRING", "MATCH", "a"),
    ],
    "keys with binary and empty names": [
        ("MSET", "", "empty", b"\x00", "nul", b"\xff\xfe", "high", "a b", "space"), ("GET", ""), ("EXISTS", ""),
        ("GET", b"\x00"), ("DEL", ""), ("EXISTS", ""), ("RENAME", b"\xff\xfe", ""), ("GET", ""),
    ],
}


@pytest.mark.parametrize("name", list(CASES))
def test_hand_written_cases(both: Both, name: str) -> None:
    for command in CASES[name]:
        both.same(*command)


def test_relative_expiry_times(both: Both) -> None:
    both.same("SET", "a", "1", "EX", 100)
    both.ttl_close("TTL", "a", 100, 1)
    both.ttl_close("PTTL", "a", 100_000, 5_000)
    both.same("SET", "b", "1", "PX", 5000)
    both.ttl_close("PTTL", "b", 5000, 5_000)
    both.same("SETEX", "c", 50, "v")
    both.ttl_close("TTL", "c", 50, 1)
    both.same("PSETEX", "d", 50_000, "v")
    both.ttl_close("TTL", "d", 50, 1)
    both.same("GETEX", "d", "EX", 70)
    both.ttl_close("TTL", "d", 70, 1)
    both.same("EXPIRE", "d", 20, "LT")
    both.ttl_close("TTL", "d", 20, 1)
    both.same("EXPIRE", "d", 30, "LT")
    both.same("PEXPIRE", "d", 40_000, "GT")
    both.ttl_close("PTTL", "d", 40_000, 5_000)
    both.same("SET", "d", "x", "KEEPTTL")
    both.ttl_close("TTL", "d", 40, 1)
    both.same("SET", "e", "1", "EX", 100, "GET")
    both.ttl_close("TTL", "e", 100, 1)


def test_keys_patterns(both: Both) -> None:
    names = [b"", b"a", b"b", b"ab", b"abc", b"a*c", b"a?c", b"a[c", b"a]c", b"a\\c", b"a-c", b"^", b"]",
             b"\xff", b"\x80x", b"hello", b"hallo", b"hxllo", b"h\nllo", b"user:1", b"user:2", b"user:10"]
    both.same("MSET", *[x for name in names for x in (name, b"v")])
    patterns = [b"*", b"**", b"", b"?", b"a*", b"*c", b"a?c", b"a\\*c", b"a\\?c", b"a[*]c", b"h[ae]llo",
                b"h[^e]llo", b"h[a-b]llo", b"h[b-a]llo", b"[a-]", b"[a-]c", b"a[\\]]c", b"a[", b"[", b"[^",
                b"\\", b"a\\", b"*\\", b"user:?", b"user:*", b"user:1*", b"[\x80-\xff]*", b"[a-\xff]",
                b"[\xff-a]*", b"*[c]", b"a[^]c", b"a[]]c", b"[]", b"[!a]", b"h?llo*", b"*l*l*o*", b"a\\[c",
                b"[\\", b"[a-", b"[a-b", b"*a*b*c*", b"\\a\\b"]
    for pattern in patterns:
        both.same_keys(pattern)


def _full_scan(call: object, *options: Arg) -> tuple[set[bytes], int]:
    cursor = b"0"
    seen: set[bytes] = set()
    calls = 0
    while True:
        reply = call("SCAN", cursor, *options)  # type: ignore[operator]
        assert isinstance(reply, list) and len(reply) == 2, reply
        cursor, batch = reply
        seen.update(batch)
        calls += 1
        if cursor == b"0":
            return seen, calls
        assert calls < 10_000


def test_scan_full_passes(both: Both) -> None:
    keys = [b"k%03d" % i for i in range(150)] + [b"", b"other", b"\xff"]
    both.same("MSET", *[x for key in keys for x in (key, b"v")])
    both.same("PEXPIREAT", "k007", 1)

    def ours(*args: Arg) -> object:
        return _decode(both.ours(_argv(args)))

    def theirs(*args: Arg) -> object:
        return both.conn.call(_argv(args))[1]

    for options in [(), ("COUNT", 1), ("COUNT", 7), ("COUNT", 1000), ("MATCH", "k1*"), ("MATCH", "k1*", "COUNT", 3),
                    ("MATCH", "*9"), ("TYPE", "string"), ("TYPE", "hash"), ("MATCH", "nothing*")]:
        mine, _calls = _full_scan(ours, *options)
        assert mine == _full_scan(theirs, *options)[0], options


def test_scan_survives_changes_between_calls() -> None:
    # Not against Redis: the guarantee that keys present for the whole scan are returned.
    sm = StateMachine()
    for i in range(200):
        sm.execute([b"SET", b"k%03d" % i, b"v"], 0)
    cursor, seen, step = b"0", set(), 0
    while True:
        reply = sm.execute([b"SCAN", cursor, b"COUNT", b"7"], 0)
        assert isinstance(reply, list)
        cursor, batch = reply
        seen.update(batch)
        step += 1
        # Churn around the cursor: delete some keys already seen and some not, insert new ones.
        sm.execute([b"DEL", b"k%03d" % (step * 3), b"k%03d" % (199 - step)], 0)
        sm.execute([b"SET", b"k%03d!" % (step * 5), b"v", b"NX"], 0)
        if cursor == b"0":
            break
    stable = {b"k%03d" % i for i in range(200)} - {b"k%03d" % (s * 3) for s in range(1, step + 1)} - {
        b"k%03d" % (199 - s) for s in range(1, step + 1)}
    assert stable <= seen


def test_command_info_matches_redis(conn: RedisConnection) -> None:
    for name, spec in TABLE.items():
        if spec.where not in (READ, WRITE):
            continue
        _raw, info = conn.call([b"COMMAND", b"INFO", name])
        assert isinstance(info, list) and info[0] is not None, name
        real = info[0]
        assert real[0] == name
        assert spec.arity == real[1], name
        assert spec.flags == tuple(real[2]), name
        assert (spec.first_key, spec.last_key, spec.key_step) == tuple(real[3:6]), name
        if spec.group != "transactions" and spec.flags:  # Redis flags EXEC, WATCH and OBJECT neither write
            # nor readonly
            assert ("write" in real[2]) == (spec.where == WRITE), name


def test_the_commands_allowed_before_auth_are_redis_s(conn: RedisConnection) -> None:
    for name, spec in TABLE.items():
        _raw, info = conn.call([b"COMMAND", b"INFO", name])
        if info[0] is None:
            continue  # ours only (RAFT)
        assert spec.no_auth == ("no_auth" in info[0][2]), name
        if spec.no_auth:
            assert spec.flags == tuple(info[0][2]), name


# ---------------------------------------------------------------------------------------------------------
# Generated sequences over a small keyspace.

KEYS = st.sampled_from([b"a", b"b", b"c"])
VALUES = st.sampled_from([b"", b"0", b"1", b"-1", b"10", b"007", b"-0", b"9223372036854775807",
                          b"-9223372036854775808", b"1.5", b"0.1", b"-2.5e3", b"1e3", b"0x1A", b"inf", b"abc",
                          b" 1", b"\x00\xff", b"\r\n"]) | st.binary(max_size=6)
INTS = st.sampled_from([b"0", b"1", b"-1", b"2", b"-3", b"100", b"9223372036854775807", b"-9223372036854775808",
                        b"x", b"1.5", b""]) | st.integers(-20, 20).map(lambda i: b"%d" % i)
ABSOLUTE = st.sampled_from([(b"EXAT", b"1"), (b"EXAT", b"%d" % FUTURE_S), (b"EXAT", b"%d" % (FUTURE_S + 1)),
                            (b"PXAT", b"%d" % FUTURE_MS), (b"PXAT", b"1"), (b"PXAT", b"0"), (b"EXAT", b"-1"),
                            (b"PXAT", b"abc")])
SET_FLAGS = st.lists(st.sampled_from([(b"NX",), (b"XX",), (b"GET",), (b"KEEPTTL",)]) | ABSOLUTE, max_size=3)
EXPIRE_FLAGS = st.lists(st.sampled_from([b"NX", b"XX", b"GT", b"LT"]), max_size=2)
EXPIRE_AT = st.sampled_from([b"1", b"%d" % FUTURE_S, b"%d" % (FUTURE_S + 7), b"-5", b"0", b"x"])
PEXPIRE_AT = st.sampled_from([b"1", b"%d" % FUTURE_MS, b"%d" % (FUTURE_MS - 9), b"%d" % (FUTURE_MS + 9), b"-5"])


def _command() -> st.SearchStrategy[list[bytes]]:
    k, v = KEYS, VALUES
    return st.one_of(
        st.tuples(st.just(b"SET"), k, v, SET_FLAGS).map(lambda t: [t[0], t[1], t[2]] + [x for f in t[3] for x in f]),
        st.tuples(st.sampled_from([b"GET", b"GETDEL", b"INCR", b"DECR", b"STRLEN", b"TYPE", b"PERSIST", b"TTL",
                                   b"PTTL", b"EXPIRETIME", b"PEXPIRETIME"]), k).map(list),
        st.tuples(st.sampled_from([b"SETNX", b"GETSET", b"APPEND"]), k, v).map(list),
        st.tuples(st.sampled_from([b"INCRBY", b"DECRBY"]), k, INTS).map(list),
        st.tuples(st.just(b"INCRBYFLOAT"), k, VALUES).map(list),
        st.tuples(st.just(b"GETEX"), k, st.sampled_from([(), (b"PERSIST",)]) | ABSOLUTE).map(
            lambda t: [t[0], t[1], *t[2]]),
        st.tuples(st.just(b"GETRANGE"), k, INTS, INTS).map(list),
        st.tuples(st.just(b"SETRANGE"), k, st.sampled_from([b"0", b"1", b"3", b"-1", b"x"]), v).map(list),
        st.tuples(st.sampled_from([b"MGET", b"EXISTS", b"DEL", b"UNLINK"]), st.lists(k, min_size=1, max_size=4)).map(
            lambda t: [t[0], *t[1]]),
        st.tuples(st.sampled_from([b"MSET", b"MSETNX"]), st.lists(st.tuples(k, v), min_size=1, max_size=3)).map(
            lambda t: [t[0]] + [x for pair in t[1] for x in pair]),
        st.tuples(st.sampled_from([b"RENAME", b"RENAMENX"]), k, k).map(list),
        st.tuples(st.just(b"COPY"), k, k, st.sampled_from([(), (b"REPLACE",), (b"DB", b"0")])).map(
            lambda t: [t[0], t[1], t[2], *t[3]]),
        st.tuples(st.sampled_from([b"EXPIREAT", b"EXPIRE"]), k, EXPIRE_AT, EXPIRE_FLAGS).map(
            lambda t: [t[0], t[1], b"-5" if t[0] == b"EXPIRE" else t[2], *t[3]]),
        st.tuples(st.just(b"PEXPIREAT"), k, PEXPIRE_AT, EXPIRE_FLAGS).map(lambda t: [t[0], t[1], t[2], *t[3]]),
        st.sampled_from([[b"DBSIZE"], [b"RANDOMKEY"], [b"KEYS", b"*"], [b"KEYS", b"[ab]"], [b"FLUSHDB"],
                         [b"SCAN", b"0", b"TYPE", b"hash"], [b"SCAN", b"0", b"TYPE", b"set"],
                         [b"SCAN", b"0", b"TYPE", b"string", b"COUNT", b"1"]]),
    )


FIELDS = st.sampled_from([b"f", b"g", b"h", b"", b"1"])
MEMBERS = st.sampled_from([b"1", b"2", b"10", b"-3", b"x", b"y", b""])
LONG_VALUE = b"L" * 65  # turns a small hash into a hash table, in Redis and here
HASH_VALUES = VALUES | st.just(LONG_VALUE)
COUNTS = st.sampled_from([b"0", b"1", b"2", b"3", b"10", b"-1", b"-3", b"x", b"-9223372036854775808"])


def _hash_command() -> st.SearchStrategy[list[bytes]]:
    k, f = KEYS, FIELDS
    return st.one_of(
        st.tuples(st.sampled_from([b"HSET", b"HMSET"]), k, st.lists(st.tuples(f, HASH_VALUES), min_size=1,
                                                                    max_size=3)).map(
            lambda t: [t[0], t[1]] + [x for pair in t[2] for x in pair]),
        st.tuples(st.just(b"HSETNX"), k, f, HASH_VALUES).map(list),
        st.tuples(st.sampled_from([b"HGET", b"HEXISTS", b"HSTRLEN"]), k, f).map(list),
        st.tuples(st.sampled_from([b"HMGET", b"HDEL"]), k, st.lists(f, min_size=1, max_size=3)).map(
            lambda t: [t[0], t[1], *t[2]]),
        st.tuples(st.sampled_from([b"HLEN", b"HKEYS", b"HVALS", b"HGETALL", b"HRANDFIELD"]), k).map(list),
        st.tuples(st.just(b"HINCRBY"), k, f, INTS).map(list),
        st.tuples(st.just(b"HINCRBYFLOAT"), k, f, VALUES).map(list),
        st.tuples(st.just(b"HRANDFIELD"), k, COUNTS, st.sampled_from([(), (b"WITHVALUES",)])).map(
            lambda t: [t[0], t[1], t[2], *t[3]]),
        st.tuples(st.just(b"HSCAN"), k, st.sampled_from([(), (b"COUNT", b"1"), (b"MATCH", b"[fg]")])).map(
            lambda t: [t[0], t[1], b"0", *t[2]]),
    )


def _set_command() -> st.SearchStrategy[list[bytes]]:
    k, m = KEYS, MEMBERS
    keys = st.lists(k, min_size=1, max_size=3)
    return st.one_of(
        st.tuples(st.sampled_from([b"SADD", b"SREM", b"SMISMEMBER"]), k, st.lists(m, min_size=1, max_size=4)).map(
            lambda t: [t[0], t[1], *t[2]]),
        st.tuples(st.sampled_from([b"SMEMBERS", b"SCARD", b"SPOP", b"SRANDMEMBER"]), k).map(list),
        st.tuples(st.sampled_from([b"SPOP", b"SRANDMEMBER"]), k, COUNTS).map(list),
        st.tuples(st.just(b"SISMEMBER"), k, m).map(list),
        st.tuples(st.just(b"SMOVE"), k, k, m).map(list),
        st.tuples(st.sampled_from([b"SINTER", b"SUNION", b"SDIFF"]), keys).map(lambda t: [t[0], *t[1]]),
        st.tuples(st.sampled_from([b"SINTERSTORE", b"SUNIONSTORE", b"SDIFFSTORE"]), k, keys).map(
            lambda t: [t[0], t[1], *t[2]]),
        st.tuples(st.just(b"SINTERCARD"), keys, st.sampled_from([(), (b"LIMIT", b"1"), (b"LIMIT", b"0")])).map(
            lambda t: [t[0], b"%d" % len(t[1]), *t[1], *t[2]]),
        st.tuples(st.just(b"SSCAN"), k, st.sampled_from([(), (b"COUNT", b"1"), (b"MATCH", b"*1*")])).map(
            lambda t: [t[0], t[1], b"0", *t[2]]),
    )


_UNORDERED = {b"SMEMBERS", b"SINTER", b"SUNION", b"SDIFF", b"SPOP", b"SRANDMEMBER"}
_HASH_LISTS = {b"HGETALL", b"HKEYS", b"HVALS", b"HRANDFIELD"}
_SCANS = {b"SCAN": 1, b"HSCAN": 2, b"SSCAN": 2}


def _normalized(argv: list[bytes], raw: bytes, both: Both) -> object:
    """What must agree for `argv`'s reply: its bytes, or a time-independent summary of it, or one
    without the order Redis leaves to its hash tables (sets, and hashes past the listpack's limits)."""
    name = argv[0].upper()
    if name in (b"TTL", b"PTTL"):
        value = _decode(raw)
        return ("positive",) if isinstance(value, int) and value > 0 else raw
    if name == b"RANDOMKEY":
        return _decode(raw) is None
    if name == b"KEYS":
        value = _decode(raw)
        return sorted(value) if isinstance(value, list) else raw
    if name in _UNORDERED:
        return unordered(raw)
    if name in _HASH_LISTS:
        h = both.sm.data.get(argv[1])
        if isinstance(h, Hash) and not h.small:
            return unordered_pairs(raw) if name == b"HGETALL" and both.proto == 2 else unordered(raw)
    return raw


def _random_pick(both: Both, argv: list[bytes]) -> tuple[int, int | None] | None:
    """For SPOP, SRANDMEMBER and HRANDFIELD whose answer depends on the draw: (size, count); else None."""
    name = argv[0].upper()
    if name not in (b"SPOP", b"SRANDMEMBER", b"HRANDFIELD"):
        return None
    value = both.sm.value(argv[1], NOW_MS)
    if not isinstance(value, (Set, Hash)) or (name == b"HRANDFIELD") != isinstance(value, Hash):
        return None
    count = parse_int(argv[2]) if len(argv) > 2 else None
    if len(argv) > 2 and (count is None or count < -(2 ** 63 - 1) or (name == b"SPOP" and count < 0)):
        return None  # an error
    size = len(value)
    if size == 1 or count == 0 or (count is not None and count >= size):
        return None  # only one possible answer, up to order
    return size, count


def _check_random_pick(both: Both, argv: list[bytes], count: int | None) -> None:
    """A random answer: its shape is Redis's and it holds members; Redis is then brought to our SPOP."""
    before = both.sm.value(argv[1], NOW_MS)
    members = dict(before.fields) if isinstance(before, Hash) else dict.fromkeys(before)  # type: ignore[arg-type]
    ours = both.ours(argv)
    value = _decode(ours)
    picks = [value] if count is None else value
    assert isinstance(picks, list), ours
    if len(argv) == 4:  # WITHVALUES: pairs, nested in RESP3 and flat in RESP2
        pairs = picks if both.proto == 3 else [list(p) for p in zip(picks[0::2], picks[1::2])]
        assert all(members.get(field, object()) == v for field, v in pairs), ours
    else:
        assert all(p in members for p in picks), ours
    if argv[0].upper() == b"SPOP":
        assert len(set(picks)) == len(picks)
        assert _decode(both.theirs([b"SREM", argv[1], *picks])) == len(picks)
        assert header(ours) == (b"$%d" % len(picks[0]) if count is None else b"%s%d" % (
            b"~" if both.proto == 3 else b"*", count)), ours
        return
    theirs = both.theirs(argv)
    assert header(ours)[:None if count is not None else 1] == header(theirs)[:None if count is not None else 1], (
        argv, ours, theirs)


def _same_scan(both: Both, argv: list[bytes]) -> None:
    at = _SCANS[argv[0].upper()]
    ours, _ = full_scan(both.ours, argv, at)
    theirs, _ = full_scan(both.theirs, argv, at)
    if argv[0].upper() == b"HSCAN" and ours and not isinstance(ours[0], RespError):
        ours, theirs = sorted(zip(ours[0::2], ours[1::2])), sorted(zip(theirs[0::2], theirs[1::2]))
    assert sorted(map(repr, ours)) == sorted(map(repr, theirs)), f"{argv!r}: ours {ours!r}, redis {theirs!r}"
    h = both.sm.value(argv[1], NOW_MS) if argv[0].upper() == b"HSCAN" else None
    if isinstance(h, Hash) and h.small:  # a listpack in Redis: answered whole, in the same order
        both.same(*argv)


def _same_end_state(both: Both) -> None:
    """Every live key of ours has Redis's type and content, and Redis has no other."""
    live = sorted(k for k in both.sm.data if both.sm.is_live(k, NOW_MS))
    theirs_keys = _decode(both.theirs([b"KEYS", b"*"]))
    assert isinstance(theirs_keys, list) and live == sorted(theirs_keys)
    for key in live:
        kind = both.same("TYPE", key)
        if kind.endswith(b"hash\r\n"):
            both.same_unordered("HGETALL", key, pairs=both.proto == 2)
        elif kind.endswith(b"set\r\n"):
            both.same_unordered("SMEMBERS", key)
        else:
            both.same("GET", key)
        both.same("PEXPIRETIME", key)


@pytest.mark.parametrize("proto", [2, 3], ids=["resp2", "resp3"])
@settings(max_examples=500, deadline=None)
@given(st.lists(_command() | _hash_command() | _set_command(), min_size=1, max_size=25))
def test_generated_sequences(conn: RedisConnection, conn3: RedisConnection, proto: int,
                             commands: list[list[bytes]]) -> None:
    both = Both(conn3 if proto == 3 else conn, proto)
    named: set[bytes] = set()  # every argument so far: a superset of the keys Redis may still hold
    for argv in commands:
        named.update(argv[1:])
        if argv[0].upper() in _SCANS:
            _same_scan(both, argv)
            continue
        pick = _random_pick(both, argv)
        if pick is not None:
            _check_random_pick(both, argv, pick[1])
            continue
        ours, theirs = both.ours(argv), both.theirs(argv)
        if argv[0] == b"DBSIZE":
            # Redis counts expired keys until its 10 Hz active expiry (or a read) removes them, so its
            # count depends on timing; ours counts live keys only, never more than Redis's. (Ours may
            # already have deleted a key set with a time in the past, which Redis still counts.)
            ours_n, theirs_n = _decode(ours), _decode(theirs)
            assert ours_n == sum(1 for k in both.sm.data if both.sm.is_live(k, NOW_MS)), (ours, argv)
            assert isinstance(theirs_n, int) and ours_n <= theirs_n <= len(named), (ours, theirs)
            continue
        assert _normalized(argv, ours, both) == _normalized(argv, theirs, both), (
            f"{argv!r}: ours {ours!r}, redis {theirs!r}")
    # Expired keys may still sit in our map (reads do not delete them), so compare the live ones.
    _same_end_state(both)


NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(f).encode()),
    st.integers(-10 ** 30, 10 ** 30).map(lambda i: b"%d" % i),
    st.tuples(st.integers(-10 ** 25, 10 ** 25), st.integers(-40, 40)).map(lambda t: b"%de%d" % t),
    st.tuples(st.integers(0, 10 ** 20), st.integers(0, 10 ** 20)).map(lambda t: b"%d.%d" % t),
    st.tuples(st.integers(0, 1 << 70), st.integers(-200, 200)).map(lambda t: b"0x%xp%d" % t),
    st.sampled_from([b"0.1", b"0.2", b"-0.3", b"1e-17", b"5e-18", b"123456789.987654321", b"1e4931"]),
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(NUMBER_TEXT, min_size=1, max_size=6))
def test_generated_incrbyfloat(conn: RedisConnection, increments: list[bytes]) -> None:
    both = Both(conn)
    for increment in increments:
        both.same("INCRBYFLOAT", "f", increment)


PATTERN = st.text(alphabet="ab*?[]^-\\", max_size=7).map(str.encode)


@settings(max_examples=500, deadline=None)
@given(st.lists(PATTERN, min_size=1, max_size=5))
def test_generated_glob_patterns(conn: RedisConnection, patterns: list[bytes]) -> None:
    both = Both(conn)
    names = [b"a", b"b", b"ab", b"ba", b"aab", b"a*", b"a?", b"[", b"]", b"^", b"-", b"\\", b"a]b", b"a-b",
             b"*", b"?", b"ab*", b"a\\b", b"", b"bbb", b"[a]"]
    both.same("MSET", *[x for name in names for x in (name, b"v")])
    for pattern in patterns:
        both.same_keys(pattern)
