"""EXEC and WATCH as the state machine serves them.

EXEC is one log entry holding a whole transaction (its argv is laid out by
:func:`raftkv.wire.proposal.encode_exec`); every node applies it at the same point of the log, so the
transaction is atomic on all of them. WATCH is a read: it answers the versions of its keys, which the
Raft process keeps for the connection (and answers ``OK`` to the client).
"""
from __future__ import annotations

from raftkv.kv.keyspace import Handler, Keyspace, Reply
from raftkv.wire.proposal import decode_exec


def exec_(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    watched, commands = decode_exec(argv)
    return sm.execute_transaction(commands, watched, now_ms)


def watch(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return [sm.key_version(key, now_ms) for key in argv[1:]]


HANDLERS: dict[bytes, Handler] = {
    b"exec": exec_,
    b"watch": watch,
}
