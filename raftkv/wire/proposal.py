"""The payload of a NORMAL log entry: who proposed it, when, and the command.

``<origin node id u64><request id u64><leader time ms u64><RESP-encoded argv>``. The origin node answers
its client when it applies the entry with its own id (request ids are unique per node across restarts);
the time is the proposer's clock, so that applying never reads one.

The argv of an EXEC entry carries a whole transaction: ``exec <n> <key1> <version1> ... <keyn>
<versionn> <command1> <command2> ...``, the connection's watched keys with the versions it read, then
each queued command RESP-encoded (see :func:`encode_exec` and :func:`decode_exec`).

The context of a configuration-change entry has the same head (time 0) followed by the JSON of the
member being added, if any: the address table travels through the log with the change.
"""
from __future__ import annotations

import json
import struct
from dataclasses import asdict

from raftkv.wire.members import Member
from raftkv.wire.resp import decode_command, encode_command

_HEAD = struct.Struct(">QQQ")
HEAD_SIZE = _HEAD.size


def encode(origin: int, request_id: int, time_ms: int, argv: list[bytes]) -> bytes:
    return _HEAD.pack(origin, request_id, time_ms) + encode_command(argv)


def encode_head(origin: int, request_id: int, time_ms: int) -> bytes:
    return _HEAD.pack(origin, request_id, time_ms)


def decode_head(data: bytes) -> tuple[int, int, int]:
    return _HEAD.unpack_from(data)


def encode_exec(watched: dict[bytes, int], commands: list[bytes]) -> list[bytes]:
    """The argv of an EXEC entry; ``commands`` are already RESP-encoded."""
    argv = [b"exec", b"%d" % len(watched)]
    for key, version in watched.items():
        argv += (key, b"%d" % version)
    return argv + commands


def decode_exec(argv: list[bytes]) -> tuple[list[tuple[bytes, int]], list[list[bytes]]]:
    """What :func:`encode_exec` took: the watched keys with their versions, and the decoded commands."""
    n = int(argv[1])
    watched = [(argv[2 + 2 * i], int(argv[3 + 2 * i])) for i in range(n)]
    return watched, [decode_command(raw) for raw in argv[2 + 2 * n:]]

def encode_context(origin: int, request_id: int, member: Member | None) -> bytes:
    """The context of a conf-change entry proposed by ``origin`` (``member``: the server being added)."""
    body = json.dumps(asdict(member)).encode() if member else b""
    return encode_head(origin, request_id, 0) + body


def decode_context(context: bytes) -> tuple[int, int, Member | None]:
    origin, request_id, _ = decode_head(context)
    body = context[HEAD_SIZE:]
    return origin, request_id, Member(**json.loads(body)) if body else None
