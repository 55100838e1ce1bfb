"""Reader, Cython and pure Python: every RESP2/RESP3 reply type, values split anywhere, malformed input."""
from __future__ import annotations

import math
import tracemalloc
from collections.abc import Callable

import pytest

from raftkv.wire import resp
from raftkv.wire.resp import NEED_MORE, ProtocolError, RespError, Verbatim

ReaderFactory = Callable[[], resp.PyReader]


@pytest.fixture(params=["cython", "python"])
def make_reader(request: pytest.FixtureRequest) -> ReaderFactory:
    if request.param == "python":
        return resp.PyReader
    resp.require_compiled()  # fails the Cython half loudly when the extension is not built
    from raftkv import _resp

    return _resp.Reader  # type: ignore[return-value]


def feed_and_drain(reader: resp.PyReader, pieces: list[bytes], values: list[object]) -> None:
    """Feeds each piece, then appends to `values` every value it completes."""
    for piece in pieces:
        reader.feed(piece)
        while (value := reader.gets()) is not NEED_MORE:
            values.append(value)


def read_pieces(make_reader: ReaderFactory, pieces: list[bytes]) -> list[object]:
    values: list[object] = []
    feed_and_drain(make_reader(), pieces, values)
    return values


VALID = [
    (b"+OK\r\n", "OK"),
    (b"+\r\n", ""),
    (b"+caf\xc3\xa9 \xff\r\n", "café \ufffd"),
    (b"-ERR unknown command\r\n", RespError("ERR unknown command")),
    (b":0\r\n", 0),
    (b":-42\r\n", -42),
    (b":9223372036854775807\r\n", 2**63 - 1),
    (b":-9223372036854775808\r\n", -(2**63)),
    (b"$3\r\nfoo\r\n", b"foo"),
    (b"$0\r\n\r\n", b""),
    (b"$4\r\na\r\nb\r\n", b"a\r\nb"),
    (b"$-1\r\n", None),
    (b"*-1\r\n", None),
    (b"_\r\n", None),
    (b"*0\r\n", []),
    (b"*3\r\n:1\r\n*1\r\n$1\r\nx\r\n*0\r\n", [1, [b"x"], []]),
    (b"*2\r\n-ERR a\r\n$-1\r\n", [RespError("ERR a"), None]),
    (b"%0\r\n", {}),
    (b"%2\r\n+a\r\n:1\r\n*2\r\n:1\r\n:2\r\n%1\r\n:3\r\n#t\r\n", {"a": 1, (1, 2): {3: True}}),
    (b"%1\r\n*1\r\n*1\r\n:1\r\n:2\r\n", {((1,),): 2}),
    (b"%1\r\n~2\r\n:1\r\n:2\r\n_\r\n", {(1, 2): None}),
    (b"~2\r\n:1\r\n+b\r\n", [1, "b"]),
    (b"~0\r\n", []),
    (b",3.14\r\n", 3.14),
    (b",-2\r\n", -2.0),
    (b",1e+20\r\n", 1e20),
    (b",1.5E-3\r\n", 1.5e-3),
    (b",inf\r\n", math.inf),
    (b",-inf\r\n", -math.inf),
    (b"#t\r\n", True),
    (b"#f\r\n", False),
    (b"(3492890328409238509324850943850943825024385\r\n", 3492890328409238509324850943850943825024385),
    (b"(-12\r\n", -12),
    (b"=15\r\ntxt:Some string\r\n", Verbatim("txt", b"Some string")),
    (b"=4\r\nmkd:\r\n", Verbatim("mkd", b"")),
    (b"!21\r\nSYNTAX invalid syntax\r\n", RespError("SYNTAX invalid syntax")),
    (b">3\r\n+message\r\n+chan\r\n$2\r\nhi\r\n", ["message", "chan", b"hi"]),
    (b"|1\r\n+ttl\r\n:3600\r\n:5\r\n", 5),  # attributes are read and dropped
    (b"*2\r\n|1\r\n+k\r\n+v\r\n:1\r\n|0\r\n:2\r\n", [1, 2]),
    (b"|1\r\n+a\r\n|1\r\n+b\r\n+c\r\n+d\r\n$1\r\nx\r\n", b"x"),
    (b"%1\r\n|1\r\n+k\r\n+v\r\n+key\r\n+value\r\n", {"key": "value"}),
]


@pytest.mark.parametrize(("data", "value"), VALID)
def test_each_reply_type_reads_however_split(make_reader: ReaderFactory, data: bytes, value: object) -> None:
    expected = [value, "after"]
    data += b"+after\r\n"
    assert read_pieces(make_reader, [data]) == expected
    for cut in range(len(data) + 1):
        assert read_pieces(make_reader, [data[:cut], data[cut:]]) == expected, cut
    assert read_pieces(make_reader, [data[i : i + 1] for i in range(len(data))]) == expected


def test_types_are_exact(make_reader: ReaderFactory) -> None:
    values = read_pieces(make_reader, [b"#t\r\n:1\r\n,1\r\n$1\r\n1\r\n+1\r\n"])
    assert [type(v) for v in values] == [bool, int, float, bytes, str]


def test_nan_double(make_reader: ReaderFactory) -> None:
    reader = make_reader()
    reader.feed(b",nan\r\n")
    assert math.isnan(reader.gets())  # type: ignore[arg-type]


def test_need_more_until_complete(make_reader: ReaderFactory) -> None:
    reader = make_reader()
    assert reader.gets() is NEED_MORE
    reader.feed(b"*2\r\n$3\r\nfo")
    assert reader.gets() is NEED_MORE
    assert reader.gets() is NEED_MORE
    reader.feed(b"o\r\n:")
    assert reader.gets() is NEED_MORE
    reader.feed(bytearray(b"7\r\n"))
    assert reader.gets() == [b"foo", 7]
    assert reader.gets() is NEED_MORE


MALFORMED = [
    (b"?x\r\n", "unknown reply type '?'"),
    (b"\x00", "unknown reply type '\\x00'"),
    (b"+a\rb\r\n", "line not terminated by CRLF"),
    (b":abc\r\n", "invalid integer"),
    (b":\r\n", "invalid integer"),
    (b":01\r\n", "invalid integer"),
    (b":+1\r\n", "invalid integer"),
    (b":9223372036854775808\r\n", "invalid integer"),
    (b"$abc\r\n", "invalid length"),
    (b"$-2\r\n", "invalid length"),
    (b"*-2\r\n", "invalid length"),
    (b"%\r\n", "invalid length"),
    (b"$3\r\nabcd\r\n", "blob not terminated by CRLF"),
    (b"_x\r\n", "invalid null"),
    (b",abc\r\n", "invalid double"),
    (b",1.2.3\r\n", "invalid double"),
    (b",\r\n", "invalid double"),
    (b", 1\r\n", "invalid double"),
    (b",1_0\r\n", "invalid double"),
    (b",infinity\r\n", "invalid double"),
    (b"#x\r\n", "invalid boolean"),
    (b"#\r\n", "invalid boolean"),
    (b"(1.5\r\n", "invalid bignum"),
    (b"(\r\n", "invalid bignum"),
    (b"(+1\r\n", "invalid bignum"),
    (b"(" + b"9" * 5000 + b"\r\n", "invalid bignum"),
    (b"=3\r\ntxt\r\n", "invalid verbatim string"),
    (b"=5\r\ntxt-a\r\n", "invalid verbatim string"),
    (b"=5\r\n\xfftx:a\r\n", "invalid verbatim string"),
    (b"*4294967296\r\n", "aggregate too long"),
    (b"%1\r\n%0\r\n:1\r\n", "unhashable map key"),
    (b"*2\r\n:1\r\n*1\r\n?", "unknown reply type '?'"),
]


@pytest.mark.parametrize(("data", "error"), MALFORMED)
def test_malformed_replies_raise_however_split(make_reader: ReaderFactory, data: bytes, error: str) -> None:
    data = b":1\r\n" + data
    for pieces in ([data], [data[:3], data[3:]], [data[i : i + 1] for i in range(len(data))]):
        values: list[object] = []
        with pytest.raises(ProtocolError) as caught:
            feed_and_drain(make_reader(), pieces, values)
        assert str(caught.value) == error
        assert values == [1]


def test_a_protocol_error_is_final(make_reader: ReaderFactory) -> None:
    reader = make_reader()
    reader.feed(b"?\r\n")
    for _ in range(2):
        with pytest.raises(ProtocolError, match="unknown reply type"):
            reader.gets()
    reader.feed(b"+OK\r\n")
    with pytest.raises(ProtocolError, match="unknown reply type"):
        reader.gets()


@pytest.mark.parametrize(
    "data",
    [b"*4294967295\r\n:1\r\n", b"%4294967295\r\n", b"$600000000\r\nxyz", b"$9223372036854775807\r\n"],
)
def test_declared_lengths_allocate_nothing_early(make_reader: ReaderFactory, data: bytes) -> None:
    tracemalloc.start()
    try:
        reader = make_reader()
        reader.feed(data)
        value = reader.gets()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert value is NEED_MORE
    assert peak < 256 * 1024


def test_a_big_array_in_small_pieces_is_built_incrementally(make_reader: ReaderFactory) -> None:
    count = 20000
    data = b"*%d\r\n" % count + b":7\r\n" * count
    assert read_pieces(make_reader, [data[i : i + 3] for i in range(0, len(data), 3)]) == [[7] * count]
