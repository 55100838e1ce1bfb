"""RequestParser, Cython and Python: requests split anywhere, Redis's errors and limits, inline syntax."""
from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import pytest

from raftkv.wire import resp

ParserFactory = Callable[..., resp.PyRequestParser]


@pytest.fixture(params=["cython", "python"])
def make_parser(request: pytest.FixtureRequest) -> ParserFactory:
    if request.param == "python":
        return resp.PyRequestParser
    resp.require_compiled()  # fails the Cython half loudly when the extension is not built
    from raftkv import _resp

    return _resp.RequestParser  # type: ignore[return-value]


Parsed = tuple[list[list[bytes]], str | None]  # the commands, and the parser's error


def parse_whole(make_parser: ParserFactory, data: bytes, **limits: int) -> Parsed:
    parser = make_parser(**limits)
    parser.feed(data)
    return parser.pop_commands(), parser.error


def parse_pieces(make_parser: ParserFactory, pieces: list[bytes], **limits: int) -> Parsed:
    parser = make_parser(**limits)
    commands = []
    for piece in pieces:
        parser.feed(piece)
        commands += parser.pop_commands()
    return commands, parser.error


def assert_split_anywhere(make_parser: ParserFactory, data: bytes, expected: object, **limits: int) -> None:
    """Fed whole, cut at every position, and byte by byte, `data` parses to `expected` each time."""
    assert parse_whole(make_parser, data, **limits) == expected
    for cut in range(len(data) + 1):
        assert parse_pieces(make_parser, [data[:cut], data[cut:]], **limits) == expected, cut
    assert parse_pieces(make_parser, [data[i : i + 1] for i in range(len(data))], **limits) == expected


VALID = [
    (b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", [[b"SET", b"key", b"value"]]),
    (b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n", [[b"PING"], [b"ECHO", b"hi"]]),
    (b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n", [[b"GET", b""]]),
    (b"*1\r\n$6\r\na\r\n\x00\xffb\r\n", [[b"a\r\n\x00\xffb"]]),  # payloads are binary
    (b"*0\r\n*-1\r\n*-5\r\n*1\r\n$1\r\nx\r\n", [[b"x"]]),  # non-positive counts are no command
    (b"PING\r\nPING\nECHO  a\t b \r\n", [[b"PING"], [b"PING"], [b"ECHO", b"a", b"b"]]),
    (b"\r\n\n   \r\n*1\r\n$4\r\nPING\r\n", [[b"PING"]]),  # empty inline lines are no command
    (b'SET k "a b"\r\n*1\r\n$1\r\nx\r\nGET k\n', [[b"SET", b"k", b"a b"], [b"x"], [b"GET", b"k"]]),
    (b" *1\r\n", [[b"*1"]]),  # only a leading '*' makes a multibulk request
]


@pytest.mark.parametrize(("data", "commands"), VALID)
def test_valid_requests_parse_the_same_however_split(
    make_parser: ParserFactory, data: bytes, commands: list[list[bytes]]
) -> None:
    assert_split_anywhere(make_parser, data, (commands, None))


@pytest.mark.parametrize(
    "data",
    [b"*2\r\n$3\r\nGET\r\n$3\r\nke", b"*1\r\n$4\r\nPI", b"*1\r\n$4", b"*1\r", b"*", b"PING", b"PING\r"],
)
def test_partial_input_stays_buffered(make_parser: ParserFactory, data: bytes) -> None:
    parser = make_parser()
    parser.feed(data)
    assert parser.pop_commands() == []
    assert parser.pop_commands() == []
    assert parser.error is None


def test_commands_come_in_order_across_many_feeds(make_parser: ParserFactory) -> None:
    parser = make_parser()
    parser.feed(b"*1\r\n$1\r\na\r\n*1\r\n$1\r")
    assert parser.pop_commands() == [[b"a"]]
    parser.feed(b"\nb\r\nINLINE c\r\n")
    parser.feed(b"*1\r\n$1\r\nd\r\n")
    assert parser.pop_commands() == [[b"b"], [b"INLINE", b"c"], [b"d"]]
    assert parser.pop_commands() == []


BIG = 64 * 1024  # Redis's PROTO_INLINE_MAX_SIZE, the default max_inline_len

MALFORMED = [
    (b"*abc\r\n", "invalid multibulk length"),
    (b"*\r\n", "invalid multibulk length"),
    (b"*01\r\n", "invalid multibulk length"),
    (b"*+1\r\n", "invalid multibulk length"),
    (b"* 1\r\n", "invalid multibulk length"),
    (b"*99999999999\r\n", "invalid multibulk length"),
    (b"*99999999999999999999999\r\n", "invalid multibulk length"),
    (b"*1048577\r\n", "invalid multibulk length"),
    (b"*1\rX", "invalid multibulk length"),
    (b"*1\r\nX\r\n", "expected '$', got 'X'"),
    (b"*1\r\n:1\r\n", "expected '$', got ':'"),
    (b"*1\r\n\r\n", "expected '$', got '\r'"),
    (b"*1\r\n$abc\r\n", "invalid bulk length"),
    (b"*1\r\n$\r\n", "invalid bulk length"),
    (b"*1\r\n$-1\r\n", "invalid bulk length"),
    (b"*1\r\n$600000000\r\n", "invalid bulk length"),
    (b"*1\r\n$1\rX", "invalid bulk length"),
    (b"*1\r\n$3\r\nabcde", "invalid bulk format"),
    (b"*1\r\n$3\r\nabc\n\r", "invalid bulk format"),
    (b"*" + b"1" * BIG, "too big mbulk count string"),
    (b"*1\r\n$" + b"1" * BIG, "too big bulk count string"),
    (b"x" * (BIG + 1), "too big inline request"),
    (b'SET "a\r\n', "unbalanced quotes in request"),
    (b"SET 'a\r\n", "unbalanced quotes in request"),
    (b'SET "a"b\r\n', "unbalanced quotes in request"),
    (b"SET 'a'b\r\n", "unbalanced quotes in request"),
    (b'SET "a\\"\r\n', "unbalanced quotes in request"),
]


@pytest.mark.parametrize(("data", "error"), MALFORMED)
def test_malformed_requests_get_redis_texts(make_parser: ParserFactory, data: bytes, error: str) -> None:
    assert parse_whole(make_parser, data) == ([], error)


@pytest.mark.parametrize(("data", "error"), [case for case in MALFORMED if len(case[0]) < 100])
def test_errors_do_not_depend_on_the_split(make_parser: ParserFactory, data: bytes, error: str) -> None:
    assert_split_anywhere(make_parser, b"PING\r\n*1\r\n$1\r\nx\r\n" + data, ([[b"PING"], [b"x"]], error))


def test_long_lines_are_cut_off_at_the_limit_wherever_the_split(make_parser: ParserFactory) -> None:
    # A line may hold max_inline_len bytes before its CR (multibulk) or LF (inline); one more is an error
    # even when its end is already buffered (Redis would accept it then: we never depend on the split).
    assert parse_whole(make_parser, b"*" + b"0" * (BIG - 1)) == ([], None)
    assert parse_whole(make_parser, b"x" * BIG) == ([], None)
    assert parse_whole(make_parser, b"x" * (BIG - 1) + b"\n") == ([[b"x" * (BIG - 1)]], None)
    assert parse_whole(make_parser, b"x" * BIG + b"\n") == ([[b"x" * BIG]], None)
    assert parse_whole(make_parser, b"x" * (BIG + 1) + b"\n") == ([], "too big inline request")
    assert parse_whole(make_parser, b"*1\r\n$" + b"0" * (BIG - 1) + b"\r\n") == ([], "invalid bulk length")
    assert parse_whole(make_parser, b"*1\r\n$" + b"0" * BIG + b"\r\n") == ([], "too big bulk count string")


def test_configured_limits(make_parser: ParserFactory) -> None:
    limits = {"max_bulk_len": 4, "max_multibulk_len": 2, "max_inline_len": 8}
    assert parse_whole(make_parser, b"*2\r\n$4\r\nabcd\r\n$0\r\n\r\n", **limits) == ([[b"abcd", b""]], None)
    assert parse_whole(make_parser, b"*1\r\n$5\r\nabcde\r\n", **limits) == ([], "invalid bulk length")
    assert parse_whole(make_parser, b"*3\r\n", **limits) == ([], "invalid multibulk length")
    assert parse_whole(make_parser, b"GET abcd\n", **limits) == ([[b"GET", b"abcd"]], None)
    assert parse_whole(make_parser, b"GET abcde\n", **limits) == ([], "too big inline request")
    assert parse_whole(make_parser, b"GET abcd", **limits) == ([], None)
    assert parse_whole(make_parser, b"GET abcde", **limits) == ([], "too big inline request")
    assert parse_whole(make_parser, b"*1234567", **limits) == ([], None)
    assert parse_whole(make_parser, b"*12345678", **limits) == ([], "too big mbulk count string")
    parser = make_parser(**limits)
    assert (parser.max_bulk_len, parser.max_multibulk_len, parser.max_inline_len) == (4, 2, 8)


def test_after_an_error_further_input_is_ignored(make_parser: ParserFactory) -> None:
    parser = make_parser()
    parser.feed(b"*1\r\n$1\r\na\r\n*x\r\n*1\r\n$1\r\nb\r\n")
    assert parser.pop_commands() == [[b"a"]]
    assert parser.error == "invalid multibulk length"
    parser.feed(b"*1\r\n$1\r\nc\r\n")
    assert parser.pop_commands() == []
    assert parser.error == "invalid multibulk length"


def test_feed_takes_any_bytes_like(make_parser: ParserFactory) -> None:
    parser = make_parser()
    parser.feed(bytearray(b"*1\r\n$2\r"))
    parser.feed(memoryview(b"\nhi\r\n"))
    assert parser.pop_commands() == [[b"hi"]]


@pytest.mark.parametrize(
    "data",
    [
        b"*1\r\n$500000000\r\n" + b"x" * 100,  # a declared 500 MB bulk, within max_bulk_len
        b"*1048576\r\n$1\r\nx\r\n",  # a declared million arguments, within max_multibulk_len
        b"*2\r\n$9223372036854775807\r\n",  # not even the limit check may overflow
    ],
)
def test_declared_lengths_allocate_nothing_early(make_parser: ParserFactory, data: bytes) -> None:
    tracemalloc.start()
    try:
        parser = make_parser()
        parser.feed(data)
        commands = parser.pop_commands()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024
    assert commands == []
    assert parser.error in (None, "invalid bulk length")


def test_a_big_bulk_in_small_pieces_costs_linear_time(make_parser: ParserFactory) -> None:
    size, piece = 16 * 1024 * 1024, 1024
    payload = bytes(range(256)) * (size // 256)
    data = b"*2\r\n$3\r\nSET\r\n$%d\r\n%b\r\n" % (size, payload)
    parser = make_parser()
    commands = []
    started = time.perf_counter()
    for i in range(0, len(data), piece):
        parser.feed(data[i : i + piece])
        commands += parser.pop_commands()
    # Linear work takes well under a second; moving the buffer on each feed would take minutes.
    assert time.perf_counter() - started < 10
    assert commands == [[b"SET", payload]]


def test_many_small_arguments_in_small_pieces_are_not_reparsed(make_parser: ParserFactory) -> None:
    count = 20000
    data = b"*%d\r\n" % count + b"$1\r\nx\r\n" * count
    commands = parse_pieces(make_parser, [data[i : i + 5] for i in range(0, len(data), 5)])
    assert commands == ([[b"x"] * count], None)


INLINE = [
    (b"PING", [b"PING"]),
    (b"  set   a  b  ", [b"set", b"a", b"b"]),
    (b"a\tb", [b"a", b"b"]),
    (b"a\rb", [b"a", b"b"]),
    (b"a\r", [b"a"]),  # one trailing CR is the line end; a second one separates
    (b"\x0b\x0ca", [b"a"]),  # isspace() skips \v and \f between arguments...
    (b"a\x0bb\x0c", [b"a\x0bb\x0c"]),  # ...but they do not end an unquoted one
    (b'set "hello world"', [b"set", b"hello world"]),
    (b'"\\n\\r\\t\\b\\a\\\\\\"\\q"', [b'\n\r\t\x08\x07\\"q']),
    (b'"\\x41\\x4a\\x4A\\x00\\xff"', [b"AJJ\x00\xff"]),
    (b'"\\xZZ" "\\x4" "\\x"', [b"xZZ", b"x4", b"x"]),
    (b"'it\\'s' 'a\\nb' 'c\\\\d'", [b"it's", b"a\\nb", b"c\\\\d"]),
    (b'foo"bar baz" x', [b"foobar baz", b"x"]),
    (b"''", [b""]),
    (b'""  x', [b"", b"x"]),
    (b'"a"\tb', [b"a", b"b"]),
    (b"'a'\x0bb", [b"a", b"b"]),
    (b'"a\'b" \'c"d\'', [b"a'b", b'c"d']),
    (b"\xff\x00 z", [b"\xff\x00", b"z"]),  # a NUL byte is an ordinary character here
]


@pytest.mark.parametrize(("line", "argv"), INLINE)
def test_inline_commands_split_like_redis(make_parser: ParserFactory, line: bytes, argv: list[bytes]) -> None:
    assert_split_anywhere(make_parser, line + b"\n", ([argv], None))
    assert parse_whole(make_parser, line + b"\r\n") == ([argv], None)


@pytest.mark.parametrize("line", [b'"abc', b"'abc", b'"a"b', b"'a'b", b'"\\"', b"'\\'", b'x "', b'"a" "b'])
def test_inline_unbalanced_quotes(make_parser: ParserFactory, line: bytes) -> None:
    expected = ([[b"PING"]], "unbalanced quotes in request")
    assert_split_anywhere(make_parser, b"PING\n" + line + b"\r\n", expected)
