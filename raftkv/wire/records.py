"""Records on the pipes between a worker and the Raft process (a socketpair per worker).

Worker -> Raft: RESP arrays, so the Raft process parses a whole recv of them with one call of the Cython
parser: ``[b"R", conn, seq, proto, *argv]`` (a request), ``[b"O", conn, addr]`` (a connection opened, from
the client's ip:port), ``[b"C", conn]`` (a connection closed), ``[b"S", *fields]`` (what the worker
counted of the commands it answered itself, for INFO commandstats). ``conn`` and ``seq`` are decimal. The
node-wide connection commands (:mod:`raftkv.node.clients`) add ``[b"A", token, answer]`` (a worker's
answer to a node request), ``[b"M", line]`` (a command for the MONITOR connections) and ``[b"U", conn]``
(a MONITOR connection closed).

Raft -> worker: binary frames ``<conn u32><seq u32><len u32><reply>``, where reply is the final RESP
encoding of the answer, written to the client as it is. A frame for connection :data:`CONTROL` (no
connection has that id) is for the worker itself, a RESP-encoded argv (:func:`control`): a node request,
or ``[b"config", name, value, ...]``, a CONFIG SET the node accepted (:func:`config_set`).
"""
from __future__ import annotations

import struct

from raftkv.wire.resp import encode_command

REQUEST = b"R"
OPEN = b"O"
CLOSE = b"C"
ANSWER = b"A"
MONITOR_LINE = b"M"
UNMONITORED = b"U"
STATS = b"S"

CONTROL = 0  # the connection id of Raft -> worker frames for the worker itself (connection ids start at 1)
CONFIG = b"config"  # the control frame of a CONFIG SET; the others are node requests

REPLY_HEAD = struct.Struct("<III")
_PROTO = {2: b"2", 3: b"3"}

# A pipe record may carry a maximal client request plus its header.
MAX_RECORD_ARGS = 1024 * 1024 + 4


def client_id(conn_id: int, worker: int, workers: int) -> int:
    """The node-wide id (CLIENT ID) of connection ``conn_id`` of ``worker``: connection ids are unique
    only within their worker."""
    return conn_id * workers + worker


def connection_of(client: int, workers: int) -> tuple[int, int]:
    """The (worker, connection id) of a CLIENT ID: the inverse of :func:`client_id`."""
    conn_id, worker = divmod(client, workers)
    return worker, conn_id


def request(conn_id: int, seq: int, proto: int, argv: list[bytes]) -> bytes:
    return encode_command([REQUEST, b"%d" % conn_id, b"%d" % seq, _PROTO[proto], *argv])


def opened(conn_id: int, addr: bytes) -> bytes:
    return encode_command([OPEN, b"%d" % conn_id, addr])


def closed(conn_id: int) -> bytes:
    return encode_command([CLOSE, b"%d" % conn_id])


def answer(token: bytes, value: bytes) -> bytes:
    return encode_command([ANSWER, token, value])


def monitor_line(line: bytes) -> bytes:
    return encode_command([MONITOR_LINE, line])


def unmonitored(conn_id: int) -> bytes:
    return encode_command([UNMONITORED, b"%d" % conn_id])


def local_stats(fields: list[bytes]) -> bytes:
    return encode_command([STATS, *fields])


def control(argv: list[bytes]) -> bytes:
    frame = bytearray()
    append_reply(frame, CONTROL, 0, encode_command(argv))
    return bytes(frame)


def append_reply(out: bytearray, conn_id: int, seq: int, payload: bytes) -> None:
    """Adds the frame of one reply to ``out`` (the head and the payload appended, never concatenated)."""
    out += REPLY_HEAD.pack(conn_id, seq, len(payload))
    out += payload


def config_set(pairs: list[bytes]) -> bytes:
    """The frame telling a worker the parameters CONFIG SET changed (``name value ...``)."""
    return control([CONFIG, *pairs])


class PyReplyReader:
    """Splits the Raft -> worker byte stream into (conn, seq, payload) frames: the specification of
    ``raftkv._frames.ReplyReader``, which the worker uses when the extension is built."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[int, int, bytes]]:
        buf = self._buf
        buf += data
        frames = []
        pos = 0
        end = len(buf)
        head = REPLY_HEAD.size
        unpack = REPLY_HEAD.unpack_from
        while end - pos >= head:
            conn_id, seq, size = unpack(buf, pos)
            if end - pos - head < size:
                break
            start = pos + head
            frames.append((conn_id, seq, bytes(buf[start:start + size])))
            pos = start + size
        if pos:
            del buf[:pos]
        return frames


try:
    from raftkv._frames import ReplyReader as ReplyReader
except ImportError:
    COMPILED = False
    ReplyReader = PyReplyReader  # type: ignore[misc,assignment]
else:
    COMPILED = True
