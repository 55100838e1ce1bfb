"""What the differential tests share: a state machine and a real redis-server fed the same commands.

Each command goes to Redis over a raw connection (RESP2, or RESP3 after HELLO 3) and to
StateMachine.execute (after the command table's arity check, as a worker does it), and the encoded
replies are compared, byte for byte unless a test says how else. Our clock is fixed at import time.

Import the fixtures (``conn``, ``conn3``, ``both``, ``redis_server``) into a test module to use them;
``both`` runs a test once per protocol.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from raftkv.errors import RespError
from raftkv.kv.state_machine import StateMachine
from raftkv.kv.table import lookup
from raftkv.wire.resp import Reader, encode_reply
from tests.redis_server import RedisConnection, RedisServer, redis_server  # noqa: F401

NOW_MS = int(time.time() * 1000)
FUTURE_S = 4102444800  # 2100-01-01
FUTURE_MS = FUTURE_S * 1000 + 123

Arg = bytes | str | int


def argv_of(args: tuple[Arg, ...] | list[Arg]) -> list[bytes]:
    return [a if isinstance(a, bytes) else str(a).encode() for a in args]


def decode(raw: bytes) -> object:
    reader = Reader()
    reader.feed(raw)
    return reader.gets()


def header(raw: bytes) -> bytes:
    """A reply's first line: its type and length."""
    return raw.split(b"\r\n", 1)[0]


def unordered(raw: bytes) -> object:
    """A reply whose order Redis does not define, in a canonical form: its first line, then its
    elements sorted (maps as sorted pairs, pairs of a RESP2 flat array kept together when asked)."""
    value = decode(raw)
    if isinstance(value, dict):
        return header(raw), sorted(value.items())
    if isinstance(value, list):
        return header(raw), sorted(map(repr, value))
    return raw


def unordered_pairs(raw: bytes) -> object:
    """As :func:`unordered` for a flat array of pairs (HGETALL in RESP2, HSCAN's elements)."""
    value = decode(raw)
    if isinstance(value, list) and len(value) % 2 == 0:
        return header(raw), sorted(zip(value[0::2], value[1::2]))
    return unordered(raw)


class Both:
    """A fresh StateMachine and an emptied redis-server, fed the same commands in RESP `proto`."""

    def __init__(self, conn: RedisConnection, proto: int = 2) -> None:
        self.conn = conn
        self.proto = proto
        self.sm = StateMachine()
        conn.call([b"FLUSHALL"])

    def ours(self, argv: list[bytes]) -> bytes:
        spec = lookup(argv)
        if isinstance(spec, RespError):
            return encode_reply(spec, self.proto)
        self.sm.applied_index += 1
        return encode_reply(self.sm.execute(argv, NOW_MS), self.proto)

    def theirs(self, argv: list[bytes]) -> bytes:
        return self.conn.call(argv)[0]

    def run(self, *args: Arg) -> tuple[bytes, bytes]:
        argv = argv_of(args)
        return self.ours(argv), self.theirs(argv)

    def same(self, *args: Arg) -> bytes:
        ours, theirs = self.run(*args)
        assert ours == theirs, f"{args!r}: ours {ours!r}, redis {theirs!r}"
        return ours

    def same_unordered(self, *args: Arg, pairs: bool = False) -> bytes:
        """The same reply up to the order of its elements, which Redis leaves to its hash tables."""
        ours, theirs = self.run(*args)
        canonical: Callable[[bytes], object] = unordered_pairs if pairs else unordered
        assert canonical(ours) == canonical(theirs), f"{args!r}: ours {ours!r}, redis {theirs!r}"
        return ours

    def same_keys(self, pattern: bytes) -> list[bytes]:
        ours, theirs = self.run("KEYS", pattern)
        ours_v, theirs_v = decode(ours), decode(theirs)
        assert isinstance(ours_v, list) and isinstance(theirs_v, list), (pattern, ours, theirs)
        assert sorted(ours_v) == sorted(theirs_v), pattern
        return ours_v

    def ttl_close(self, command: str, key: str, expected: int, slack: int) -> None:
        ours, theirs = self.run(command, key)
        ours_v, theirs_v = decode(ours), decode(theirs)
        assert ours_v == expected, (command, key, ours_v)
        assert isinstance(theirs_v, int) and expected - slack <= theirs_v <= expected, (command, key, theirs_v)


def full_scan(call: Callable[[list[bytes]], bytes], argv: list[bytes], cursor_at: int) -> tuple[list[object], int]:
    """Every element a whole SCAN-family iteration returns (calling ``call`` with argv, whose cursor is
    at index `cursor_at`), and the number of calls; an error reply is returned as the only element."""
    argv = list(argv)
    argv[cursor_at] = b"0"
    seen: list[object] = []
    calls = 0
    while True:
        reply = decode(call(argv))
        if isinstance(reply, RespError):
            return [reply], calls
        assert isinstance(reply, list) and len(reply) == 2, reply
        cursor, batch = reply
        assert isinstance(batch, list)
        seen += batch
        calls += 1
        if cursor == b"0":
            return seen, calls
        argv[cursor_at] = cursor  # type: ignore[assignment]
        assert calls < 10_000


@pytest.fixture(scope="module")
def conn(redis_server: RedisServer) -> RedisConnection:  # noqa: F811
    return redis_server.connect()


@pytest.fixture(scope="module")
def conn3(redis_server: RedisServer) -> RedisConnection:  # noqa: F811
    c = redis_server.connect()
    c.call([b"HELLO", b"3"])
    return c


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def both(request: pytest.FixtureRequest, conn: RedisConnection, conn3: RedisConnection) -> Both:
    return Both(conn3 if request.param == 3 else conn, request.param)
