"""encode_reply and encode_command, Cython and pure Python: exact bytes in RESP2 and RESP3; the facade."""
from __future__ import annotations

import copy
import enum
import pickle
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftkv.wire import entries, resp
from raftkv.wire.resp import NEED_MORE, NULL_ARRAY, Pairs, ProtocolError, RespError, SetReply, Verbatim


@pytest.fixture(params=["cython", "python"])
def codec(request: pytest.FixtureRequest) -> SimpleNamespace:
    if request.param == "python":
        return SimpleNamespace(encode_reply=resp.py_encode_reply, encode_command=resp.py_encode_command)
    resp.require_compiled()  # fails the Cython half loudly when the extension is not built
    from raftkv import _resp

    return SimpleNamespace(encode_reply=_resp.encode_reply, encode_command=_resp.encode_command)


class Color(enum.IntEnum):
    RED = 7


class Status(enum.StrEnum):
    OK = "OK"


class Blob(bytes):
    pass


class Loud(float):
    def __repr__(self) -> str:
        return "LOUD"


REPLIES: list[tuple[object, bytes, bytes]] = [  # value, RESP2, RESP3
    (b"foo", b"$3\r\nfoo\r\n", b"$3\r\nfoo\r\n"),
    (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
    (b"a\r\nb", b"$4\r\na\r\nb\r\n", b"$4\r\na\r\nb\r\n"),
    (bytearray(b"ba"), b"$2\r\nba\r\n", b"$2\r\nba\r\n"),
    (memoryview(b"mv"), b"$2\r\nmv\r\n", b"$2\r\nmv\r\n"),
    ("OK", b"+OK\r\n", b"+OK\r\n"),
    (Status.OK, b"+OK\r\n", b"+OK\r\n"),
    (Blob(b"bl"), b"$2\r\nbl\r\n", b"$2\r\nbl\r\n"),
    ("café", b"+caf\xc3\xa9\r\n", b"+caf\xc3\xa9\r\n"),
    ("a\r\nb\nc", b"+a  b c\r\n", b"+a  b c\r\n"),  # a simple string cannot hold CR or LF
    (True, b":1\r\n", b"#t\r\n"),
    (False, b":0\r\n", b"#f\r\n"),
    (0, b":0\r\n", b":0\r\n"),
    (-123, b":-123\r\n", b":-123\r\n"),
    (2**63 - 1, b":9223372036854775807\r\n", b":9223372036854775807\r\n"),
    (-(2**63), b":-9223372036854775808\r\n", b":-9223372036854775808\r\n"),
    (2**63, b"$19\r\n9223372036854775808\r\n", b"(9223372036854775808\r\n"),
    (-(2**64), b"$21\r\n-18446744073709551616\r\n", b"(-18446744073709551616\r\n"),
    (Color.RED, b":7\r\n", b":7\r\n"),
    (3.0, b"$1\r\n3\r\n", b",3\r\n"),
    (3.14, b"$18\r\n3.1400000000000001\r\n", b",3.1400000000000001\r\n"),
    (1e16, b"$17\r\n10000000000000000\r\n", b",10000000000000000\r\n"),
    (-0.0, b"$2\r\n-0\r\n", b",-0\r\n"),
    (-0.5, b"$4\r\n-0.5\r\n", b",-0.5\r\n"),
    (1e20, b"$5\r\n1e+20\r\n", b",1e+20\r\n"),
    (1e-7, b"$22\r\n9.9999999999999995e-08\r\n", b",9.9999999999999995e-08\r\n"),
    (float("inf"), b"$3\r\ninf\r\n", b",inf\r\n"),
    (float("-inf"), b"$4\r\n-inf\r\n", b",-inf\r\n"),
    (float("nan"), b"$3\r\nnan\r\n", b",nan\r\n"),
    (Loud(2.0), b"$1\r\n2\r\n", b",2\r\n"),
    (None, b"$-1\r\n", b"_\r\n"),
    (NULL_ARRAY, b"*-1\r\n", b"_\r\n"),
    ([], b"*0\r\n", b"*0\r\n"),
    ([b"a", 1, None], b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n", b"*3\r\n$1\r\na\r\n:1\r\n_\r\n"),
    ((1, [True]), b"*2\r\n:1\r\n*1\r\n:1\r\n", b"*2\r\n:1\r\n*1\r\n#t\r\n"),
    ({}, b"*0\r\n", b"%0\r\n"),
    ({b"k": 1, "s": []}, b"*4\r\n$1\r\nk\r\n:1\r\n+s\r\n*0\r\n", b"%2\r\n$1\r\nk\r\n:1\r\n+s\r\n*0\r\n"),
    ({5}, b"*1\r\n:5\r\n", b"~1\r\n:5\r\n"),
    (frozenset(), b"*0\r\n", b"~0\r\n"),
    (SetReply([b"b", b"a", 3]), b"*3\r\n$1\r\nb\r\n$1\r\na\r\n:3\r\n", b"~3\r\n$1\r\nb\r\n$1\r\na\r\n:3\r\n"),
    (SetReply(), b"*0\r\n", b"~0\r\n"),
    (Pairs([b"f", b"v", b"g", 2.5]), b"*4\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\ng\r\n$3\r\n2.5\r\n",
     b"*2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$1\r\ng\r\n,2.5\r\n"),
    (Pairs(), b"*0\r\n", b"*0\r\n"),
    ([Pairs([SetReply([1]), None])], b"*1\r\n*2\r\n*1\r\n:1\r\n$-1\r\n", b"*1\r\n*1\r\n*2\r\n~1\r\n:1\r\n_\r\n"),
    (RespError("ERR no such key"), b"-ERR no such key\r\n", b"-ERR no such key\r\n"),
    (RespError("ERR a\r\nb"), b"-ERR a  b\r\n", b"-ERR a  b\r\n"),
    (Verbatim("txt", b"Some string"), b"$11\r\nSome string\r\n", b"=15\r\ntxt:Some string\r\n"),
    (Verbatim("mkd", bytearray(b"")), b"$0\r\n\r\n", b"=4\r\nmkd:\r\n"),
    (
        [NULL_ARRAY, {None: 0.5}],
        b"*2\r\n*-1\r\n*2\r\n$-1\r\n$3\r\n0.5\r\n",
        b"*2\r\n_\r\n%1\r\n_\r\n,0.5\r\n",
    ),
]


@pytest.mark.parametrize(("value", "resp2", "resp3"), REPLIES)
def test_encode_reply_exact_bytes(codec: SimpleNamespace, value: object, resp2: bytes, resp3: bytes) -> None:
    assert codec.encode_reply(value, 2) == resp2
    assert codec.encode_reply(value, 3) == resp3


@pytest.mark.parametrize("value", [object(), 1j, {1: object()}, [b"ok", Exception("x")], type])
def test_encode_reply_rejects_other_types(codec: SimpleNamespace, value: object) -> None:
    with pytest.raises(TypeError, match="as a RESP reply"):
        codec.encode_reply(value, 3)


def test_encode_reply_rejects_unknown_protocols(codec: SimpleNamespace) -> None:
    for proto in (1, 4):
        with pytest.raises(ValueError, match="proto must be 2 or 3"):
            codec.encode_reply(b"x", proto)


def test_encode_reply_refuses_deep_or_cyclic_nesting(codec: SimpleNamespace) -> None:
    deep: list[object] = []
    for _ in range(600):
        deep = [deep]
    cyclic: list[object] = []
    cyclic.append(cyclic)
    for value in (deep, cyclic, {1: cyclic}):
        with pytest.raises(ValueError, match="nested too deeply"):
            codec.encode_reply(value, 2)
    shallow: list[object] = []
    for _ in range(500):
        shallow = [shallow]
    assert codec.encode_reply(shallow, 3) == b"*1\r\n" * 500 + b"*0\r\n"


def test_pairs_count_toward_the_nesting_limit(codec: SimpleNamespace) -> None:
    # In RESP3 a Pairs is two levels deep (the array and each pair): 256 of them nest 512 levels.
    nested: object = b"x"
    for _ in range(256):
        nested = Pairs([nested, 1])
    assert codec.encode_reply(nested, 3) == b"*1\r\n*2\r\n" * 256 + b"$1\r\nx\r\n" + b":1\r\n" * 256
    with pytest.raises(ValueError, match="nested too deeply"):
        codec.encode_reply(Pairs([nested, 1]), 3)
    assert codec.encode_reply(Pairs([nested, 1]), 2).startswith(b"*2\r\n*2\r\n")
    with pytest.raises(ValueError, match="even number"):
        Pairs([1])


def test_encode_command_exact_bytes(codec: SimpleNamespace) -> None:
    argv = [
        b"SET", "kéy", 42, -1.5, bytearray(b"ba"), memoryview(b"mv"),
        b"", True, Color.RED, Status.OK, Blob(b"b"),
    ]  # fmt: skip
    assert codec.encode_command(argv) == (
        b"*11\r\n$3\r\nSET\r\n$4\r\nk\xc3\xa9y\r\n$2\r\n42\r\n$4\r\n-1.5\r\n$2\r\nba\r\n$2\r\nmv\r\n"
        b"$0\r\n\r\n$4\r\nTrue\r\n$1\r\n7\r\n$2\r\nOK\r\n$1\r\nb\r\n"
    )
    assert codec.encode_command(()) == b"*0\r\n"
    assert codec.encode_command((b"PING",)) == b"*1\r\n$4\r\nPING\r\n"


@pytest.mark.parametrize("arg", [None, object(), [b"nested"]])
def test_encode_command_rejects_other_types(codec: SimpleNamespace, arg: object) -> None:
    with pytest.raises(TypeError, match="a command argument must be bytes, str, int or float"):
        codec.encode_command([b"SET", arg])


def test_facade_uses_the_compiled_codec() -> None:
    resp.require_compiled()
    from raftkv import _resp

    assert (resp.RequestParser, resp.Reader, resp.encode_command, resp.encode_reply) == (
        _resp.RequestParser,
        _resp.Reader,
        _resp.encode_command,
        _resp.encode_reply,
    )


def test_require_compiled_explains_how_to_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resp, "COMPILED", False)
    with pytest.raises(RuntimeError) as caught:
        resp.require_compiled()
    assert str(caught.value) == (
        "the Cython codec raftkv._resp is not built: run `make` (or `pip install -e .`) first"
    )


def test_require_compiled_names_every_missing_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resp, "COMPILED", False)
    monkeypatch.setattr(entries, "COMPILED", False)
    with pytest.raises(RuntimeError, match=r"raftkv\._resp and raftkv\._entries is not built"):
        resp.require_compiled()


@pytest.mark.parametrize("sentinel", [NEED_MORE, NULL_ARRAY])
def test_sentinels_stay_singletons(sentinel: object) -> None:
    assert pickle.loads(pickle.dumps(sentinel)) is sentinel
    assert copy.deepcopy(sentinel) is sentinel
    assert repr(sentinel) in ("NEED_MORE", "NULL_ARRAY")


def test_verbatim_value_semantics() -> None:
    assert Verbatim("txt", b"a") == Verbatim("txt", b"a")
    assert Verbatim("txt", b"a") != Verbatim("mkd", b"a")
    assert Verbatim("txt", b"a") != Verbatim("txt", b"b")
    assert hash(Verbatim("txt", b"a")) == hash(Verbatim("txt", b"a"))
    assert repr(Verbatim("txt", b"a")) == "Verbatim('txt', b'a')"
    for fmt in ("tx", "text", "tx\u00e9"):
        with pytest.raises(ValueError, match="three ASCII characters"):
            Verbatim(fmt, b"")


def test_reexports() -> None:
    from raftkv import errors
    from raftkv.wire import values

    assert (resp.ProtocolError, resp.RespError) == (errors.ProtocolError, errors.RespError)
    assert (resp.NEED_MORE, resp.NULL_ARRAY, resp.Verbatim) == (
        values.NEED_MORE,
        values.NULL_ARRAY,
        values.Verbatim,
    )


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=8), st.binary(max_size=5))
def test_decode_command_reads_one_encoded_command_from_an_offset(argv: list[bytes], head: bytes) -> None:
    raw = head + resp.encode_command(argv)
    assert resp.decode_command(raw, len(head)) == resp.py_decode_command(raw, len(head)) == argv


@given(st.binary(max_size=60))
def test_decode_command_of_any_bytes_is_the_pure_answer_or_a_protocol_error(raw: bytes) -> None:
    # The compiled decoder takes only what encode_command writes (no inline form): a subset of the
    # pure one, which parses like a client's parser.
    try:
        got = resp.decode_command(raw)
    except ProtocolError:
        return
    assert got == resp.py_decode_command(raw)


@pytest.mark.parametrize("raw", [b"", b"*0\r\n", b"*2\r\n$1\r\na\r\n", b"*1\r\n$1\r\nab\r\n",
                                 b"*1\r\n$1\r\na\r\n*1\r\n$1\r\nb\r\n", b"*1\r\n:1\r\n", b"*1\r\n$-1\r\n"])
def test_decode_command_refuses_anything_but_exactly_one_command(raw: bytes) -> None:
    for decode in (resp.decode_command, resp.py_decode_command):
        with pytest.raises(ProtocolError):
            decode(raw)
