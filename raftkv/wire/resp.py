"""The RESP2/RESP3 codec: its public names, and the pure-Python twin of the Cython module raftkv._resp.

Owns the wire format in both directions and nothing else (no sockets, no command semantics):

- ``RequestParser``: a client's bytes -> commands (argv lists), multibulk or inline, with Redis's limits
  and Redis's error texts (redis src/networking.c);
- ``Reader``: a server's bytes -> reply values, RESP2 and RESP3, like hiredis's Reader;
- ``encode_command`` / ``encode_reply``: the other two directions.

Those four names are the Cython versions when the extension is built, else the ``Py*`` twins of
:mod:`raftkv.wire.resp_pure`. The twins behave identically, down to error texts: they are the oracle
the tests compare the Cython code against. The server should call :func:`require_compiled` at start-up
so that it never runs the slow path by accident.
"""
from __future__ import annotations

from raftkv.errors import ProtocolError, RespError
from raftkv.wire.resp_pure import PyReader, PyRequestParser, py_encode_command, py_encode_reply
from raftkv.wire.values import NEED_MORE, NULL_ARRAY, Pairs, SetReply, Verbatim

__all__ = [
    "COMPILED",
    "NEED_MORE",
    "NULL_ARRAY",
    "Pairs",
    "ProtocolError",
    "PyReader",
    "PyRequestParser",
    "Reader",
    "RequestParser",
    "RespError",
    "SetReply",
    "Verbatim",
    "encode_command",
    "encode_reply",
    "py_encode_command",
    "py_encode_reply",
    "decode_command",
    "py_decode_command",
    "require_compiled",
]

# ---------------------------------------------------------------------------------------------------------
# The names the rest of raftkv uses

def py_decode_command(raw: bytes, offset: int = 0) -> list[bytes]:
    """The one command RESP-encoded in ``raw[offset:]`` (a log entry's payload, a queued transaction
    command, a framed peer message): trusted bytes this process or a peer encoded, so any error is a
    ProtocolError. A fresh parser each time, so that bad input cannot leave a shared one broken."""
    parser = PyRequestParser(1 << 30, 1 << 24, 64 * 1024)
    parser.feed(raw[offset:])
    commands = parser.pop_commands()
    if parser.error or len(commands) != 1:
        raise ProtocolError(parser.error or f"expected one command, found {len(commands)}")
    return commands[0]


try:
    from raftkv._resp import Reader, RequestParser, decode_command, encode_command, encode_reply
except ImportError:
    COMPILED = False
    RequestParser = PyRequestParser  # type: ignore[assignment,misc]
    Reader = PyReader  # type: ignore[assignment,misc]
    encode_command = py_encode_command
    encode_reply = py_encode_reply
    decode_command = py_decode_command
else:
    COMPILED = True


def require_compiled() -> None:
    """Raises unless the fast Cython codecs are in use: the server must not run on the Python twins."""
    from importlib.util import find_spec

    from raftkv.wire import entries

    # raftkv.wire.records imports this module, so the worker's frame reader is looked for, not imported.
    missing = [name for name, built in (("raftkv._resp", COMPILED), ("raftkv._entries", entries.COMPILED),
                                        ("raftkv._frames", find_spec("raftkv._frames") is not None)) if not built]
    if missing:
        raise RuntimeError(
            f"the Cython codec {' and '.join(missing)} is not built: run `make` (or `pip install -e .`) first"
        )
