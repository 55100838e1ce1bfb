"""The command table's validation and the state machine's replies, without any process."""
from __future__ import annotations

from fractions import Fraction

import pytest

from raftkv.errors import RespError
from raftkv.kv import longdouble
from raftkv.kv.commands.keys import decode_cursor, encode_cursor
from raftkv.kv.glob import Pattern
from raftkv.kv.state_machine import StateMachine
from raftkv.kv.table import READ, TABLE, WRITE, lookup


def test_unknown_command_text_is_redis_7s() -> None:
    assert lookup([b"FOO"]) == RespError("ERR unknown command 'FOO', with args beginning with: ")
    assert lookup([b"foo", b"a", b"b c"]) == RespError(
        "ERR unknown command 'foo', with args beginning with: 'a' 'b c' ")
    long = lookup([b"x", b"a" * 200, b"b"])
    assert long.message == "ERR unknown command 'x', with args beginning with: '" + "a" * 128 + "' "
    assert "\n" not in lookup([b"x\ny", b"1\r\n2"]).message


def test_arity_errors() -> None:
    assert lookup([b"GET"]) == RespError("ERR wrong number of arguments for 'get' command")
    assert lookup([b"get", b"a", b"b"]) == RespError("ERR wrong number of arguments for 'get' command")
    assert lookup([b"DEL"]) == RespError("ERR wrong number of arguments for 'del' command")
    assert lookup([b"del", b"a", b"b", b"c"]) is TABLE[b"del"]


def test_write_commands_are_flagged_write_and_reads_readonly() -> None:
    for name, cmd in TABLE.items():
        if cmd.group == "transactions":
            continue  # Redis flags EXEC and WATCH neither write nor readonly
        if cmd.subcommands and not cmd.flags:
            continue  # a container (OBJECT): Redis flags its subcommands, not itself
        if name == b"time":
            continue  # a READ for the serving node's clock, touching no key: Redis flags it neither
        if cmd.where == WRITE:
            assert "write" in cmd.flags, name
        elif cmd.where == READ:
            assert "readonly" in cmd.flags and "write" not in cmd.flags, name


def test_state_machine_replies() -> None:
    sm = StateMachine()
    assert sm.execute([b"SET", b"k", b"v"], 0) == "OK"
    assert sm.execute([b"get", b"k"], 0) == b"v"
    assert sm.execute([b"get", b"nope"], 0) is None
    assert sm.execute([b"exists", b"k", b"k", b"x"], 0) == 2
    assert sm.execute([b"dbsize"], 0) == 1
    assert sm.execute([b"set", b"k", b"v", b"nx"], 0) is None
    assert sm.execute([b"set", b"k", b"v", b"nx", b"xx"], 0) == RespError("ERR syntax error")
    assert sm.execute([b"del", b"k", b"k"], 0) == 1
    assert sm.execute([b"dbsize"], 0) == 0


def test_digest_depends_on_content_only() -> None:
    a, b = StateMachine(), StateMachine()
    a.execute([b"set", b"x", b"1"], 0)
    a.execute([b"set", b"y", b"2"], 0)
    b.execute([b"set", b"y", b"2"], 0)
    b.execute([b"set", b"x", b"1"], 0)
    assert a.digest() == b.digest()
    b.execute([b"set", b"x", b"3"], 0)
    assert a.digest() != b.digest()


def test_digest_covers_the_versions_watch_reads() -> None:
    a, b = StateMachine(), StateMachine()
    for sm, index in ((a, 1), (b, 2)):
        sm.applied_index = index
        sm.execute([b"set", b"x", b"1"], 0)
    assert a.data == b.data
    assert a.digest() != b.digest()


def test_mset_with_a_key_missing_its_value_is_an_arity_error() -> None:
    sm = StateMachine()
    assert sm.execute([b"MSET", b"a", b"1", b"b"], 0) == RespError("ERR wrong number of arguments for 'mset' command")
    assert sm.execute([b"MSETNX", b"a"], 0) == RespError("ERR wrong number of arguments for 'msetnx' command")
    assert not sm.data


def test_copy_only_knows_database_zero() -> None:
    sm = StateMachine()
    sm.execute([b"SET", b"a", b"1"], 0)
    assert sm.execute([b"COPY", b"a", b"b", b"DB", b"1"], 0) == RespError("ERR DB index is out of range")
    assert sm.execute([b"COPY", b"a", b"b", b"db", b"0"], 0) == 1


@pytest.mark.parametrize("key", [b"", b"a", b"\x00", b"\xff\x00\x01", bytes(range(256))])
def test_scan_cursors_round_trip(key: bytes) -> None:
    cursor = encode_cursor(key)
    assert cursor.isdigit() and cursor != b"0"
    assert decode_cursor(cursor) == key


@pytest.mark.parametrize("cursor", [b"x", b"-1", b" 1", b"1256", b"12", b"2000"])
def test_bad_scan_cursors_are_refused(cursor: bytes) -> None:
    with pytest.raises(ValueError):
        decode_cursor(cursor)
    assert StateMachine().execute([b"SCAN", cursor], 0) == RespError("ERR invalid cursor")


def test_scan_walks_the_sorted_map_and_skips_to_the_pattern_prefix() -> None:
    sm = StateMachine()
    sm.execute([b"MSET", *[x for i in range(30) for x in (b"k%02d" % i, b"v")], b"user:1", b"v", b"user:2", b"v"], 0)
    reply = sm.execute([b"SCAN", b"0", b"COUNT", b"5"], 0)
    assert isinstance(reply, list)
    cursor, batch = reply
    assert batch == [b"k00", b"k01", b"k02", b"k03", b"k04"]
    assert decode_cursor(cursor) == b"k04"
    # With a literal prefix the scan starts at it and ends with it, whatever COUNT says.
    assert sm.execute([b"SCAN", b"0", b"MATCH", b"user:*", b"COUNT", b"100"], 0) == [b"0", [b"user:1", b"user:2"]]
    assert sm.execute([b"SCAN", b"0", b"MATCH", b"k1?", b"COUNT", b"10"], 0) == [b"0", [b"k1%d" % i for i in range(10)]]


def test_glob_prefix_and_signed_ranges() -> None:
    assert Pattern(b"user:\\*x*").prefix == b"user:*x"
    assert Pattern(b"[a]bc").prefix == b""
    assert Pattern(b"abc").match(b"abc") and not Pattern(b"abc").match(b"abcd")
    # Ranges compare signed chars: 0x80..0xff sort below 'a'.
    assert Pattern(b"[\x80-a]").match(b"\xff") and Pattern(b"[\x80-a]").match(b"0")
    assert not Pattern(b"[\x80-a]").match(b"b")
    assert Pattern(b"[\xff-a]").match(b"\xff") and not Pattern(b"[\xff-a]").match(b"\x80")
    assert not Pattern(b"**").match(b"") and Pattern(b"*").match(b"") and Pattern(b"").match(b"")


@pytest.mark.parametrize("text, parsed", [
    (b"0.1", None), (b"1e4000", None), (b"0x1p-16445", None), (b"1e-5000", "invalid"), (b"0x1p-16446", "invalid"),
    (b"nan", "invalid"), (b"1e5000", "invalid"), (b" 1", "invalid"), (b"1\x00", "invalid"), (b"", "invalid"),
    (b"inf", "infinite"), (b"-Infinity", "infinite"),
])
def test_long_double_parsing(text: bytes, parsed: str | None) -> None:
    value = longdouble.parse(text)
    if parsed == "invalid":
        assert value is None
    elif parsed == "infinite":
        assert value is longdouble.INFINITE
    else:
        assert value is not None and value is not longdouble.INFINITE


def test_long_double_sums_print_as_redis_does() -> None:
    def add(*texts: bytes) -> bytes:
        total = Fraction(0)
        for text in texts:
            value = longdouble.parse(text)
            assert isinstance(value, Fraction)
            rounded = longdouble.round_to_long_double(total + value)
            assert rounded is not None
            total = rounded
        return longdouble.format_human(total)

    assert add(b"0.1", b"0.2") == b"0.3"
    assert add(b"1.00000000000000000000000001", b"2.5e-17") == b"1.00000000000000003"
    assert add(b"-0.00000000000000000001") == b"0"
    assert add(b"12", b"-12") == b"0"
    assert add(b"1e20") == b"100000000000000000000"
    largest = longdouble.parse(b"1e4932")
    assert isinstance(largest, Fraction) and longdouble.round_to_long_double(largest * 2) is None


def test_rules_read_from_the_table() -> None:
    # A node that refuses clients still tells what it is (and takes its name, CONFIG and diagnostics).
    assert {name for name, cmd in TABLE.items() if cmd.served_while_removed} == {
        b"info", b"raft", b"client", b"monitor", b"config", b"slowlog", b"latency", b"lastsave"}
    assert {name for name, cmd in TABLE.items() if cmd.queueable} == {
        name for name, cmd in TABLE.items() if cmd.where in (READ, WRITE)}
