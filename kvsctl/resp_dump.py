"""A snapshot's key space as the RESP commands that rebuild it in Redis, for ``redis-cli --pipe``.

One command per string (SET) and, per aggregate, DEL then HSET/RPUSH/SADD/ZADD in batches of
``BATCH`` elements (so that no command outgrows Redis's query buffer), then PEXPIREAT for a key with
an expiry time: times are absolute, as the state machine keeps them. Keys already expired when the dump
is written are left out. Sorted-set scores are written as Python's shortest round-trip form, which
Redis parses back to the same double. No I/O but the stream it writes to.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from raftkv.kv.datatypes import Hash, List, Set, ZSet
from raftkv.kv.state_machine import StateMachine
from raftkv.wire.resp import encode_command

BATCH = 1000


def write_resp(sm: StateMachine, out: BinaryIO, now_ms: int) -> int:
    """Writes the commands for every key still live at ``now_ms``; returns how many keys it wrote."""
    written = 0
    for key, value in sm.data.items():
        when = sm.expiry(key)
        if when is not None and when <= now_ms:
            continue
        for argv in _commands(key, value):
            out.write(encode_command(argv))
        if when is not None:
            out.write(encode_command([b"PEXPIREAT", key, b"%d" % when]))
        written += 1
    return written


def _commands(key: bytes, value: object) -> Iterator[list[bytes]]:
    if type(value) is bytes:
        yield [b"SET", key, value]
        return
    verb, items, width = _elements(value)
    yield [b"DEL", key]  # a key of that name already in the target would otherwise be merged into
    step = BATCH * width
    for start in range(0, len(items), step):
        yield [verb, key, *items[start:start + step]]


def _elements(value: object) -> tuple[bytes, list[bytes], int]:
    """The command that adds an aggregate's elements, its arguments in order, and how many make one element."""
    if isinstance(value, Hash):
        return b"HSET", value.flat(), 2
    if isinstance(value, List):
        return b"RPUSH", value.flat(), 1
    if isinstance(value, Set):
        return b"SADD", value.flat(), 1
    if isinstance(value, ZSet):
        return b"ZADD", [x for score, member in value.order for x in (repr(score).encode(), member)], 2
    raise TypeError(f"no Redis command for a value of type {type(value).__name__}")
