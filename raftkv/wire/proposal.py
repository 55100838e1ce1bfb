"""The payload of a NORMAL log entry: who proposed it, when, and the command.

``<origin node id u64><request id u64><leader time ms u64><RESP-encoded argv>``. The origin node answers
its client when it applies the entry with its own id (request ids are unique per node across restarts);
the time is the proposer's clock, so that applying never reads one.
"""
from __future__ import annotations

import struct

from raftkv.wire.resp import encode_command

_HEAD = struct.Struct(">QQQ")
HEAD_SIZE = _HEAD.size


def encode(origin: int, request_id: int, time_ms: int, argv: list[bytes]) -> bytes:
    return _HEAD.pack(origin, request_id, time_ms) + encode_command(argv)


def encode_head(origin: int, request_id: int, time_ms: int) -> bytes:
    return _HEAD.pack(origin, request_id, time_ms)


def decode_head(data: bytes) -> tuple[int, int, int]:
    return _HEAD.unpack_from(data)
