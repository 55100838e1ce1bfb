"""Property tests: round trips through both codecs, and the Cython codec against its pure-Python twin.

The pure-Python twin in raftkv.wire.resp is the oracle: on any input, random bytes included, the Cython codec
must give the same commands, values and error texts, however the input is split into reads.
"""
from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftkv.wire import resp
from raftkv.wire.resp import NEED_MORE, NULL_ARRAY, Pairs, ProtocolError, RespError, SetReply, Verbatim

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def cython() -> ModuleType:
    resp.require_compiled()  # fails loudly when the extension is not built
    from raftkv import _resp

    return _resp


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """`data` cut at the given positions (taken modulo its length, in order)."""
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=6)


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[bytes], fragments: st.SearchStrategy[bytes]) -> bytes:
    """A valid encoding with a few bytes replaced, deleted or inserted: malformed deep inside."""
    data = bytearray(draw(valid))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["replace", "delete", "insert"]))
        if action == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 4))]
        else:
            data[at:at] = draw(fragments)
    return bytes(data)


# ---------------------------------------------------------------------------------------------------------
# Requests

Arg = bytes | str | int | float
args = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=20),
    st.integers(),
    st.floats(allow_nan=False),
)


def arg_bytes(arg: Arg) -> bytes:
    return arg if isinstance(arg, bytes) else str(arg).encode()


Parsed = tuple[list[list[bytes]], str | None]  # the commands, and the parser's error


def run_parser(parser_class: type, pieces: list[bytes], **limits: int) -> Parsed:
    parser = parser_class(**limits)
    commands = []
    for piece in pieces:
        parser.feed(piece)
        commands += parser.pop_commands()
    return commands, parser.error


@FAST
@given(st.lists(st.lists(args, max_size=6), max_size=5), cuts)
def test_encoded_commands_parse_back(commands: list[list[Arg]], cut_at: list[int]) -> None:
    data = b"".join(cython().encode_command(argv) for argv in commands)
    assert data == b"".join(resp.py_encode_command(argv) for argv in commands)
    expected = [[arg_bytes(arg) for arg in argv] for argv in commands if argv]  # "*0" is no command
    for parser_class in (cython().RequestParser, resp.PyRequestParser):
        assert run_parser(parser_class, [data]) == (expected, None)
        assert run_parser(parser_class, split(data, cut_at)) == (expected, None)


# Fragments that make random input look like requests often enough to reach every branch.
request_fragments = st.sampled_from(
    [b"*", b"$", b"\r\n", b"\r", b"\n", b"0", b"1", b"2", b"3", b"-1", b"10", b"abc", b" ", b"\t", b'"', b"'",
     b"\\", b"x4", b"\\x41", b"set", b"\x00", b"\xff", b"*1\r\n$1\r\nx\r\n", b"*2\r\n", b"$3\r\n"]
)  # fmt: skip
valid_requests = st.lists(st.lists(args, min_size=1, max_size=4), min_size=1, max_size=3).map(
    lambda commands: b"".join(resp.py_encode_command(argv) for argv in commands)
)
request_bytes = st.one_of(
    st.binary(max_size=64),
    st.lists(request_fragments, max_size=30).map(b"".join),
    mutated(valid_requests, request_fragments),
)
request_limits = st.one_of(
    st.just({}),
    st.fixed_dictionaries(
        {
            "max_bulk_len": st.integers(0, 12),
            "max_multibulk_len": st.integers(0, 4),
            "max_inline_len": st.integers(0, 16),
        }
    ),
)


@FAST
@given(request_bytes, cuts, request_limits)
def test_request_parsers_agree_on_any_bytes(data: bytes, cut_at: list[int], limits: dict[str, int]) -> None:
    expected = run_parser(resp.PyRequestParser, [data], **limits)
    assert run_parser(cython().RequestParser, [data], **limits) == expected
    # Neither the result nor the error may depend on how the bytes were split into reads.
    assert run_parser(cython().RequestParser, split(data, cut_at), **limits) == expected
    assert run_parser(resp.PyRequestParser, split(data, cut_at), **limits) == expected


# ---------------------------------------------------------------------------------------------------------
# Replies

line_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"), max_size=10)
# Map keys and set members whose decoded forms stay distinct: no CR or LF (they become spaces), and no
# None or NULL_ARRAY (both come back as None in RESP3).
keys = st.recursive(
    st.one_of(st.binary(max_size=8), line_text, st.integers()),
    lambda inner: st.lists(inner, max_size=3).map(tuple),
    max_leaves=6,
)
scalars = st.one_of(
    st.binary(max_size=20),
    st.builds(bytearray, st.binary(max_size=5)),
    st.text(max_size=20),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.none(),
    st.just(NULL_ARRAY),
    st.builds(RespError, st.text(max_size=20)),
    st.builds(Verbatim, st.text("abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=3), st.binary(max_size=9)),
)
replies = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(keys, inner, max_size=4),
        st.sets(keys, max_size=4),
        st.frozensets(keys, max_size=4),
        st.lists(inner, max_size=4).map(SetReply),
        st.lists(st.tuples(inner, inner), max_size=3).map(lambda pairs: Pairs(x for p in pairs for x in p)),
    ),
    max_leaves=20,
)

INT64 = range(-(2**63), 2**63)


def one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def double_text(value: float) -> str:
    return f"{value:.17g}"  # Redis 7.0's


def decoded(value: object, proto: int) -> object:
    """What a Reader gives back for `value` encoded as a reply in RESP `proto`."""
    resp3 = proto == 3
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return one_line(value)
    if isinstance(value, bool):
        return value if resp3 else int(value)
    if isinstance(value, int):
        return value if resp3 or value in INT64 else str(value).encode()
    if isinstance(value, float):
        return value if resp3 else double_text(value).encode()
    if value is None or value is NULL_ARRAY:
        return None
    if isinstance(value, dict):
        if resp3:
            return {as_key(decoded(k, proto)): decoded(v, proto) for k, v in value.items()}
        return [decoded(x, proto) for pair in value.items() for x in pair]
    if isinstance(value, Pairs) and resp3:
        return [[decoded(value[i], proto), decoded(value[i + 1], proto)] for i in range(0, len(value), 2)]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [decoded(x, proto) for x in value]
    if isinstance(value, RespError):
        return RespError(one_line(value.message))
    assert isinstance(value, Verbatim)
    return value if resp3 else value.data


def as_key(value: object) -> object:
    return tuple(as_key(x) for x in value) if isinstance(value, list) else value


def read_all(reader_class: type, pieces: list[bytes]) -> list[object]:
    """Every value the pieces hold; a ProtocolError ends the list as its last item."""
    reader = reader_class()
    values: list[object] = []
    try:
        for piece in pieces:
            reader.feed(piece)
            while (value := reader.gets()) is not NEED_MORE:
                values.append(value)
    except ProtocolError as exc:
        values.append(exc)
    return values


def same(a: object, b: object) -> bool:
    """Equal, and of the same types throughout (repr tells True from 1 and 0.0 from -0.0)."""
    return repr(a) == repr(b)


@FAST
@given(st.lists(replies, min_size=1, max_size=3), st.sampled_from([2, 3]), cuts)
def test_encoded_replies_read_back(values: list[object], proto: int, cut_at: list[int]) -> None:
    data = b"".join(cython().encode_reply(value, proto) for value in values)
    assert data == b"".join(resp.py_encode_reply(value, proto) for value in values)
    expected = [decoded(value, proto) for value in values]
    for reader_class in (cython().Reader, resp.PyReader):
        got = read_all(reader_class, [data])
        assert got == expected and same(got, expected)
        assert same(read_all(reader_class, split(data, cut_at)), expected)


reply_fragments = st.sampled_from(
    [b"+", b"-", b":", b"$", b"*", b"%", b"~", b",", b"#", b"(", b"=", b"!", b">", b"|", b"_", b"?", b"\r\n",
     b"\r", b"0", b"1", b"2", b"3", b"-1", b"-2", b"t", b"f", b"inf", b"nan", b".5", b"e3", b"txt:", b"abc",
     b"\xff", b"*1\r\n", b"%1\r\n", b"$3\r\n", b"|1\r\n", b":1\r\n", b"+OK\r\n"]
)  # fmt: skip
valid_replies = st.tuples(st.lists(replies, min_size=1, max_size=3), st.sampled_from([2, 3])).map(
    lambda case: b"".join(resp.py_encode_reply(value, case[1]) for value in case[0])
)
reply_bytes = st.one_of(
    st.binary(max_size=64),
    st.lists(reply_fragments, max_size=30).map(b"".join),
    mutated(valid_replies, reply_fragments),
)


def outcome(values: list[object]) -> str:
    return repr([repr(v) if not isinstance(v, ProtocolError) else ("ProtocolError", str(v)) for v in values])


@FAST
@given(reply_bytes, cuts)
def test_readers_agree_on_any_bytes(data: bytes, cut_at: list[int]) -> None:
    expected = outcome(read_all(resp.PyReader, [data]))
    assert outcome(read_all(cython().Reader, [data])) == expected
    assert outcome(read_all(cython().Reader, split(data, cut_at))) == expected
    assert outcome(read_all(resp.PyReader, split(data, cut_at))) == expected


@pytest.mark.parametrize("proto", [2, 3])
@FAST
@given(value=st.one_of(replies, st.text(), st.builds(object), st.lists(st.builds(object), min_size=1)))
def test_reply_encoders_agree(value: object, proto: int) -> None:
    def encode(encoder: object) -> object:
        try:
            return encoder(value, proto)  # type: ignore[operator]
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError for lone surrogates
            return (type(exc).__name__, str(exc))

    assert encode(cython().encode_reply) == encode(resp.py_encode_reply)
