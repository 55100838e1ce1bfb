"""Inputs found by tests/fuzz/fuzz_codec.py on which the codec broke its contract, kept as tests.

A map key (RESP3 ``%``) that is an array is turned into a tuple, recursively, and then hashed. Nested
past Python's recursion limit (about 1000 levels, 4 bytes of input each), the pure ``PyReader`` raised
``RecursionError`` where the Cython ``Reader`` returned the map: the twins disagreed, and neither the
value nor a ``ProtocolError`` came out of the oracle. Nested a million levels deep (4 MB from a
server), the Cython ``Reader`` killed the process with SIGSEGV: its recursive key conversion, and
CPython's hash of a tuple that deep, ran out of C stack. Both readers now refuse aggregates nested
deeper than 512 levels with a ``ProtocolError``.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from raftkv.wire import resp
from raftkv.wire.resp import NEED_MORE, ProtocolError


def deep_map_key(depth: int) -> bytes:
    """A map of one entry whose key is an array nested `depth` levels deep."""
    return b"%1\r\n" + b"*1\r\n" * depth + b":1\r\n" + b":2\r\n"


def readers() -> list[type]:
    resp.require_compiled()
    from raftkv import _resp

    return [_resp.Reader, resp.PyReader]


def outcome(reader_class: type, data: bytes) -> str:
    """``value`` if a reply is read, ``ProtocolError: <text>`` if refused, else the exception's type."""
    reader = reader_class()
    reader.feed(data)
    try:
        value = reader.gets()
    except ProtocolError as exc:
        return f"ProtocolError: {exc}"
    except Exception as exc:
        return type(exc).__name__
    return "need more" if value is NEED_MORE else "value"


def test_readers_agree_on_a_map_key_nested_past_the_recursion_limit() -> None:
    data = deep_map_key(1500)
    fast, slow = (outcome(reader_class, data) for reader_class in readers())
    assert slow == fast
    assert fast == "value" or fast.startswith("ProtocolError")


_CHILD = """
import sys
from raftkv import _resp
from raftkv.wire import resp
from raftkv.wire.resp import ProtocolError
reader = getattr(_resp if sys.argv[1] == "Reader" else resp, sys.argv[1])()
reader.feed(b"%1\\r\\n" + b"*1\\r\\n" * int(sys.argv[2]) + b":1\\r\\n:2\\r\\n")
try:
    reader.gets()
    print("value")
except ProtocolError:
    print("ProtocolError")
except Exception as exc:
    print(type(exc).__name__)
"""


@pytest.mark.parametrize("reader_name", ["Reader", "PyReader"])
def test_a_map_key_nested_a_million_deep_neither_crashes_nor_escapes(reader_name: str) -> None:
    readers()  # the extension is built
    child = subprocess.run([sys.executable, "-c", _CHILD, reader_name, str(1_000_000)],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, f"the reader's process died with {child.returncode}: {child.stderr[-2000:]}"
    assert child.stdout.strip() in ("value", "ProtocolError")
