"""TOUCH, SUBSTR, LCS, TIME, MOVE, SWAPDB, SORT, SORT_RO, DUMP and RESTORE on the state machine alone."""
from __future__ import annotations

import io
import random
import struct

import pytest

from raftkv.errors import RespError
from raftkv.kv.commands import dump as dumps
from raftkv.kv.commands.lcs import MAX_CELLS
from raftkv.kv.datatypes import CODE_HASH_SMALL, CODE_SET, CODE_ZSET, Hash, List
from raftkv.kv.state_machine import StateMachine
from raftkv.kv.table import READ, TABLE, WRITE, lookup

NOW_MS = 1_700_000_000_123


def run(sm: StateMachine, *args: bytes | str | int, now_ms: int = NOW_MS) -> object:
    argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    spec = lookup(argv)
    if isinstance(spec, RespError):
        return spec
    sm.applied_index += 1
    return sm.execute(argv, now_ms)


@pytest.fixture
def sm() -> StateMachine:
    return StateMachine()


def test_new_commands_run_where_their_effects_allow() -> None:
    reads = {b"touch", b"substr", b"lcs", b"sort_ro", b"dump", b"time"}
    writes = {b"sort", b"restore", b"move", b"swapdb"}
    assert {name for name in reads if TABLE[name].where is READ} == reads
    assert {name for name in writes if TABLE[name].where is WRITE} == writes


def test_touch_counts_live_keys_and_changes_nothing(sm: StateMachine) -> None:
    run(sm, "SET", "a", "1")
    run(sm, "SET", "gone", "1", "PXAT", NOW_MS)
    digest = sm.digest()
    assert run(sm, "TOUCH", "a", "a", "gone", "none") == 2
    assert sm.digest() == digest


def test_substr_is_getrange(sm: StateMachine) -> None:
    run(sm, "SET", "a", "hello")
    assert run(sm, "SUBSTR", "a", 1, -2) == run(sm, "GETRANGE", "a", 1, -2) == b"ell"


def _reference_lcs_length(a: bytes, b: bytes) -> int:
    row = [0] * (len(b) + 1)
    for ca in a:
        prev, row = row, [0]
        for j, cb in enumerate(b):
            row.append(prev[j] + 1 if ca == cb else max(prev[j + 1], row[j]))
    return row[-1]


def test_lcs_agrees_with_the_plain_dynamic_programme(sm: StateMachine) -> None:
    rng = random.Random(7)
    for _ in range(200):
        a = bytes(rng.choice(b"abc") for _ in range(rng.randrange(20)))
        b = bytes(rng.choice(b"abc") for _ in range(rng.randrange(20)))
        run(sm, "MSET", "a", a, "b", b)
        found = run(sm, "LCS", "a", "b")
        assert isinstance(found, bytes) and len(found) == _reference_lcs_length(a, b)
        assert run(sm, "LCS", "a", "b", "LEN") == len(found)
        matches = run(sm, "LCS", "a", "b", "IDX", "WITHMATCHLEN")
        assert isinstance(matches, dict) and matches[b"len"] == len(found)
        # the ranges, last first, spell the subsequence in both strings
        pieces_a = [a[ra[0]:ra[1] + 1] for ra, _rb, _n in reversed(matches[b"matches"])]
        pieces_b = [b[rb[0]:rb[1] + 1] for _ra, rb, _n in reversed(matches[b"matches"])]
        assert b"".join(pieces_a) == b"".join(pieces_b) == found


def test_lcs_refuses_a_table_past_its_limit(sm: StateMachine) -> None:
    side = int(MAX_CELLS ** 0.5)
    run(sm, "MSET", "a", b"x" * side, "b", b"x" * (side + 2))
    reply = run(sm, "LCS", "a", "b", "LEN")
    assert isinstance(reply, RespError) and "LCS table" in reply.message
    run(sm, "SET", "b", b"x" * (side - 2))
    assert run(sm, "LCS", "a", "b", "LEN") == side - 2


def test_time_is_the_entry_clock(sm: StateMachine) -> None:
    assert run(sm, "TIME", now_ms=1_700_000_000_123) == [b"1700000000", b"123000"]
    assert run(sm, "TIME", now_ms=5) == [b"0", b"5000"]


def test_one_database_for_move_and_swapdb(sm: StateMachine) -> None:
    run(sm, "SET", "a", "1")
    assert run(sm, "MOVE", "a", 0) == RespError("ERR source and destination objects are the same")
    assert run(sm, "MOVE", "a", 1) == RespError("ERR DB index is out of range")
    assert run(sm, "SWAPDB", 0, 0) == "OK"
    assert run(sm, "SWAPDB", 0, 1) == RespError("ERR DB index is out of range")
    assert run(sm, "GET", "a") == b"1"


def test_sort_orders_numbers_and_reads_patterns(sm: StateMachine) -> None:
    run(sm, "RPUSH", "ids", "3", "1", "2")
    run(sm, "MSET", "w_1", "30", "w_2", "10", "w_3", "20", "name_1", "one")
    run(sm, "HSET", "h_2", "f", "two")
    assert run(sm, "SORT", "ids") == [b"1", b"2", b"3"]
    assert run(sm, "SORT", "ids", "BY", "w_*", "DESC") == [b"1", b"3", b"2"]
    assert run(sm, "SORT_RO", "ids", "BY", "w_*", "GET", "#", "GET", "name_*", "GET", "h_*->f") == [
        b"2", None, b"two", b"3", None, None, b"1", b"one", None]
    assert run(sm, "SORT", "ids", "LIMIT", 1, 1) == [b"2"]
    assert run(sm, "SORT", "ids", "BY", "nosort") == [b"3", b"1", b"2"]


def test_sort_store_replaces_the_destination_and_keeps_no_ttl(sm: StateMachine) -> None:
    run(sm, "SADD", "s", "b", "a", "c")
    run(sm, "SET", "dst", "old", "PX", 10_000)
    assert run(sm, "SORT", "s", "BY", "nosort", "STORE", "dst") == 3  # a stored set is sorted
    value = sm.value(b"dst", NOW_MS)
    assert isinstance(value, List) and list(value.items) == [b"a", b"b", b"c"]
    assert sm.expiry(b"dst") is None
    assert run(sm, "SORT", "missing", "STORE", "dst") == 0
    assert not sm.is_live(b"dst", NOW_MS)
    assert run(sm, "SORT_RO", "s", "STORE", "dst") == RespError("ERR syntax error")


def test_sort_of_another_type_or_of_words_is_refused(sm: StateMachine) -> None:
    run(sm, "SET", "str", "x")
    run(sm, "RPUSH", "words", "a")
    assert run(sm, "SORT", "str") == RespError("WRONGTYPE Operation against a key holding the wrong kind of value")
    assert run(sm, "SORT", "words") == RespError("ERR One or more scores can't be converted into double")
    assert run(sm, "SORT", "words", "ALPHA") == [b"a"]


def _fill_every_type(sm: StateMachine) -> None:
    run(sm, "SET", "s", b"bin\x00\xff")
    run(sm, "HSET", "small", "b", "1", "a", "2")
    run(sm, "HSET", "big", *[f"f{i}" for i in range(300)])
    run(sm, "SADD", "set", "3", "x", "1")
    run(sm, "RPUSH", "l", "x", "y", "x")
    run(sm, "ZADD", "z", "1.5", "m", "-inf", "n")


def test_dump_restore_round_trips_every_type_and_layout(sm: StateMachine) -> None:
    _fill_every_type(sm)
    for key in (b"s", b"small", b"big", b"set", b"l", b"z"):
        payload = run(sm, "DUMP", key)
        assert isinstance(payload, bytes)
        assert run(sm, "RESTORE", key + b"2", 0, payload) == "OK"
        original, copy = sm.value(key, NOW_MS), sm.value(key + b"2", NOW_MS)
        assert type(copy) is type(original)
        if not isinstance(original, bytes):
            assert copy.flat() == original.flat() and copy.code == original.code  # type: ignore[union-attr]
            assert copy is not original
    assert run(sm, "DUMP", "nokey") is None
    snapshot = io.BytesIO()
    sm.dump(snapshot)
    snapshot.seek(0)
    assert StateMachine.load(snapshot).digest() == sm.digest()


def test_restore_ttl_is_relative_to_the_entry_time_unless_absttl(sm: StateMachine) -> None:
    run(sm, "SET", "s", "v")
    payload = run(sm, "DUMP", "s")
    assert run(sm, "RESTORE", "a", 5000, payload) == "OK"
    assert sm.expiry(b"a") == NOW_MS + 5000
    assert run(sm, "RESTORE", "b", NOW_MS + 1, payload, "ABSTTL", "FREQ", 5) == "OK"
    assert sm.expiry(b"b") == NOW_MS + 1
    assert run(sm, "RESTORE", "b", NOW_MS, payload, "ABSTTL", "REPLACE") == "OK"  # already due: deleted
    assert not sm.is_live(b"b", NOW_MS)
    assert run(sm, "RESTORE", "c", 2 ** 63 - 1, payload) == RespError("ERR invalid expire time in 'restore' command")


def _payload(code: int, items: list[bytes]) -> bytes:
    body = struct.pack("<BI", code, len(items)) + b"".join(struct.pack("<I", len(i)) + i for i in items)
    body += struct.pack("<H", dumps.FORMAT_VERSION)
    return body + dumps._checksum(body)


@pytest.mark.parametrize("code, items", [
    (0, [b"a", b"b"]), (CODE_SET, []), (CODE_SET, [b"a", b"a"]), (CODE_HASH_SMALL, [b"f"]),
    (CODE_HASH_SMALL, [b"f", b"x" * 65]), (CODE_ZSET, [b"m", b"short"]),
    (CODE_ZSET, [b"m", struct.pack("<d", float("nan"))]),
    (99, [b"a"]),
])
def test_restore_checks_a_payload_that_passes_its_checksum(sm: StateMachine, code: int, items: list[bytes]) -> None:
    assert run(sm, "RESTORE", "k", 0, _payload(code, items)) == RespError("ERR Bad data format")
    assert not sm.is_live(b"k", NOW_MS)


def test_restore_refuses_damage(sm: StateMachine) -> None:
    run(sm, "HSET", "h", "f", "v")
    payload = run(sm, "DUMP", "h")
    assert isinstance(payload, bytes)
    for damaged in (payload[:-1], payload[:3] + b"!" + payload[4:], b""):
        assert run(sm, "RESTORE", "k", 0, damaged) == RespError("ERR DUMP payload version or checksum are wrong")
    assert run(sm, "RESTORE", "k", 0, payload) == "OK"
    restored = sm.value(b"k", NOW_MS)
    assert isinstance(restored, Hash) and restored.small
