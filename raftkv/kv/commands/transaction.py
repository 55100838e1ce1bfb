"""EXEC as the state machine applies it: one log entry holding a whole transaction.

WATCH is a read: it answers the versions of its keys, which the Raft process keeps for the connection
(and answers ``OK`` to the client). The entry's argv is ``exec <n> <key1> <version1> ... <keyn> <versionn> <command1> <command2> ...``: the
connection's watched keys with the versions it read, then each queued command RESP-encoded. Every node
applies the entry at the same point of the log, so the transaction is atomic on all of them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from raftkv.kv.registry import Reply, handler
from raftkv.wire.resp import decode_command

if TYPE_CHECKING:
    from raftkv.kv.state_machine import StateMachine

def encode_exec(watched: dict[bytes, int], commands: list[bytes]) -> list[bytes]:
    """The argv of an EXEC entry; ``commands`` are already RESP-encoded."""
    argv = [b"exec", b"%d" % len(watched)]
    for key, version in watched.items():
        argv += (key, b"%d" % version)
    return argv + commands


@handler("exec")
def exec_(sm: StateMachine, argv: list[bytes], now_ms: int) -> Reply:
    n = int(argv[1])
    watched = [(argv[2 + 2 * i], int(argv[3 + 2 * i])) for i in range(n)]
    commands = [decode_command(raw) for raw in argv[2 + 2 * n:]]
    return sm.execute_transaction(commands, watched, now_ms)


@handler("watch")
def watch(sm: StateMachine, argv: list[bytes], now_ms: int) -> Reply:
    return [sm.key_version(key, now_ms) for key in argv[1:]]
