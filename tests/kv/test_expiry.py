"""Expiry, WATCH versions and transactions in the state machine, and that applying is deterministic."""
from __future__ import annotations

import random

import pytest

from raftkv.errors import RespError
from raftkv.kv import state_machine
from raftkv.kv.state_machine import StateMachine
from raftkv.kv.table import INTERNAL, lookup
from raftkv.wire.values import NULL_ARRAY


class Log:
    """Applies commands to a state machine the way the driver does: one entry each, index set first."""

    def __init__(self, sm: StateMachine | None = None) -> None:
        self.sm = sm or StateMachine()

    def apply(self, now_ms: int, *args: bytes | str | int) -> object:
        self.sm.applied_index += 1
        return self.sm.execute([a if isinstance(a, bytes) else str(a).encode() for a in args], now_ms)


def test_an_expired_key_is_absent_for_reads_without_being_deleted() -> None:
    log = Log()
    log.apply(0, "SET", "k", "v", "PXAT", 1000)
    sm = log.sm
    assert sm.execute([b"GET", b"k"], 999) == b"v"
    for argv, missing in [([b"GET", b"k"], None), ([b"EXISTS", b"k"], 0), ([b"DBSIZE"], 0), ([b"KEYS", b"*"], []),
                          ([b"SCAN", b"0"], [b"0", []]), ([b"TTL", b"k"], -2), ([b"PTTL", b"k"], -2),
                          ([b"TYPE", b"k"], "none"), ([b"STRLEN", b"k"], 0), ([b"RANDOMKEY"], None),
                          ([b"MGET", b"k"], [None]), ([b"PEXPIRETIME", b"k"], -2),
                          ([b"GETRANGE", b"k", b"0", b"-1"], b"")]:
        assert sm.execute(argv, 1000) == missing, argv
    assert b"k" in sm.data  # reads do not delete
    assert sm.keyspace_info(1000) == (0, 0, 0)


def test_writes_delete_an_expired_key_first() -> None:
    log = Log()
    log.apply(0, "SET", "k", "5", "PXAT", 1000)
    assert log.apply(1000, "INCR", "k") == 1  # counts from nothing, and no expiry is kept
    assert log.sm.expiry(b"k") is None
    log.apply(0, "SET", "j", "v", "PXAT", 1000)
    assert log.apply(1000, "DEL", "j") == 0
    assert b"j" not in log.sm.data
    log.apply(0, "SET", "x", "v", "PXAT", 1000)
    assert log.apply(1000, "SET", "x", "w", "NX", "GET") is None
    assert log.apply(1000, "GET", "x") == b"w"
    log.apply(0, "SET", "r", "v", "PXAT", 1000)
    assert log.apply(1000, "RENAME", "r", "s") == RespError("ERR no such key")
    assert b"r" not in log.sm.data


def test_ttl_is_relative_to_now() -> None:
    log = Log()
    log.apply(10_000, "SET", "k", "v", "EX", 100)
    assert log.sm.expiry(b"k") == 110_000
    assert log.sm.execute([b"TTL", b"k"], 10_000) == 100
    assert log.sm.execute([b"TTL", b"k"], 60_400) == 50  # 49.6 s rounds to 50
    assert log.sm.execute([b"PTTL", b"k"], 60_400) == 49_600
    assert log.sm.execute([b"EXPIRETIME", b"k"], 0) == 110
    assert log.apply(20_000, "PEXPIRE", "k", 500) == 1
    assert log.sm.expiry(b"k") == 20_500


def test_expired_keys_lists_due_keys_soonest_first() -> None:
    log = Log()
    for name, when in [("c", 300), ("a", 100), ("b", 200), ("d", 400)]:
        log.apply(0, "SET", name, "v", "PXAT", when)
    log.apply(0, "SET", "forever", "v")
    sm = log.sm
    assert sm.expired_keys(50, 10) == []
    assert sm.expired_keys(300, 10) == [b"a", b"b", b"c"]
    assert sm.expired_keys(300, 2) == [b"a", b"b"]
    log.apply(0, "PERSIST", "a")
    log.apply(0, "PEXPIREAT", "b", 1000)
    assert sm.expired_keys(300, 10) == [b"c"]
    assert sm.expired_keys(10_000, 10) == [b"c", b"d", b"b"]


def test_the_internal_expired_command_spares_keys_changed_since() -> None:
    log = Log()
    for name in ("a", "b", "c", "d"):
        log.apply(0, "SET", name, "v", "PXAT", 100)
    due = log.sm.expired_keys(100, 10)
    assert due == [b"a", b"b", b"c", b"d"]
    # Between the leader's sweep and the entry's application, b is set again, c gets a later expiry,
    # d is persisted.
    log.apply(90, "SET", "b", "new")
    log.apply(90, "PEXPIRE", "c", 1000)
    log.apply(90, "PERSIST", "d")
    assert log.apply(100, "EXPIRED", *due) == 1
    assert sorted(log.sm.data) == [b"b", b"c", b"d"]
    assert log.sm.expired_keys(100, 10) == []
    assert log.apply(2000, "expired", "c", "c", "nokey") == 1
    assert sorted(log.sm.data) == [b"b", b"d"]


def test_expired_is_for_the_node_only() -> None:
    assert lookup([b"EXPIRED", b"k"]) == RespError("ERR unknown command 'EXPIRED', with args beginning with: 'k' ")
    assert INTERNAL[b"expired"].arity == -2


def test_keyspace_info() -> None:
    log = Log()
    log.apply(0, "MSET", "a", "1", "b", "2", "c", "3", "d", "4")
    log.apply(0, "PEXPIREAT", "a", 1000)
    log.apply(0, "PEXPIREAT", "b", 3000)
    log.apply(0, "PEXPIREAT", "c", 500)
    assert log.sm.keyspace_info(0) == (4, 3, 1500)
    assert log.sm.keyspace_info(600) == (3, 2, 1400)  # c is due: not counted
    assert log.sm.keyspace_info(5000) == (1, 0, 0)


class TestVersions:
    def test_every_change_moves_the_version_and_nothing_else_does(self) -> None:
        log = Log()
        sm = log.sm
        assert sm.key_version(b"k") == 0
        seen = {sm.key_version(b"k")}
        for command, changes in [(("SET", "k", "1"), True), (("GET", "k"), False), (("SET", "k", "2", "NX"), False),
                                 (("INCR", "k"), True), (("PEXPIRE", "k", 10_000), True), (("TTL", "k"), False),
                                 (("PEXPIRE", "k", 20_000, "LT"), False), (("PERSIST", "k"), True),
                                 (("PERSIST", "k"), False), (("APPEND", "k", "x"), True),
                                 (("SETRANGE", "k", 0, ""), False),
                                 (("RENAME", "k", "j"), True), (("DEL", "k"), False), (("COPY", "j", "k"), True),
                                 (("DEL", "k"), True), (("GETEX", "j"), False), (("SET", "k", "v"), True),
                                 (("FLUSHDB",), True), (("DEL", "k"), False), (("SET", "k", "1"), True)]:
            before = sm.key_version(b"k")
            log.apply(0, *command)
            after = sm.key_version(b"k")
            assert (after != before) == changes, command
            if changes:
                assert after not in seen, command
                seen.add(after)

    def test_a_deleted_key_keeps_its_tombstone_version(self) -> None:
        log = Log()
        log.apply(0, "SET", "k", "v")
        log.apply(0, "DEL", "k")
        deleted = log.sm.key_version(b"k")
        log.apply(0, "SET", "other", "v")
        log.apply(0, "DEL", "other")
        assert log.sm.key_version(b"k") == deleted
        log.apply(0, "SET", "k", "v")
        assert log.sm.key_version(b"k") != deleted

    def test_expiry_is_a_change_once_not_twice(self) -> None:
        log = Log()
        log.apply(0, "SET", "k", "v", "PXAT", 100)
        live = log.sm.key_version(b"k", 50)
        expired = log.sm.key_version(b"k", 100)
        assert expired != live
        # Its deletion, by the sweep or by a write, is no further change.
        log.apply(100, "EXPIRED", "k")
        assert log.sm.key_version(b"k", 100) == expired
        log.apply(0, "SET", "j", "v", "PXAT", 100)
        expired_j = log.sm.key_version(b"j", 200)
        log.apply(200, "DEL", "j")
        assert log.sm.key_version(b"j", 200) == expired_j
        log.apply(300, "SET", "k", "again")
        assert log.sm.key_version(b"k", 300) not in (live, expired)

    def test_dropped_tombstones_still_read_as_changed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(state_machine, "MAX_TOMBSTONES", 3)
        log = Log()
        log.apply(0, "SET", "k", "v")
        watched = log.sm.key_version(b"k")
        log.apply(0, "DEL", "k")
        for i in range(5):
            log.apply(0, "SET", f"t{i}", "v")
            log.apply(0, "DEL", f"t{i}")
        assert len(log.sm._tombstones) == 3
        assert log.sm.key_version(b"k") != watched


class TestTransactions:
    def test_unchanged_watched_keys_run_every_command(self) -> None:
        log = Log()
        log.apply(0, "SET", "w", "1")
        watched = [(b"w", log.sm.key_version(b"w", 0)), (b"missing", log.sm.key_version(b"missing", 0))]
        log.apply(0, "SET", "unrelated", "1")
        log.sm.applied_index += 1
        replies = log.sm.execute_transaction(
            [[b"INCR", b"w"], [b"INCR", b"unrelated2"], [b"SET", b"x", b"abc"], [b"INCR", b"x"], [b"GET", b"w"]],
            watched, 0)
        assert replies == [2, 1, "OK", RespError("ERR value is not an integer or out of range"), b"2"]

    def test_a_changed_watched_key_aborts_without_applying_anything(self) -> None:
        log = Log()
        log.apply(0, "SET", "w", "1")
        watched = [(b"w", log.sm.key_version(b"w", 0))]
        log.apply(0, "SET", "w", "1")  # same value, still a change
        log.sm.applied_index += 1
        assert log.sm.execute_transaction([[b"SET", b"x", b"1"]], watched, 0) is NULL_ARRAY
        assert b"x" not in log.sm.data

    def test_a_watched_key_that_expires_aborts(self) -> None:
        log = Log()
        log.apply(0, "SET", "w", "1", "PXAT", 100)
        watched = [(b"w", log.sm.key_version(b"w", 50))]
        log.sm.applied_index += 1
        assert log.sm.execute_transaction([[b"GET", b"w"]], watched, 100) is NULL_ARRAY
        # Watched after it had expired: its deletion changes nothing.
        watched = [(b"w", log.sm.key_version(b"w", 150))]
        log.apply(150, "EXPIRED", "w")
        log.sm.applied_index += 1
        assert log.sm.execute_transaction([[b"GET", b"w"]], watched, 200) == [None]

    def test_randomkey_inside_a_transaction_is_the_same_on_every_node(self) -> None:
        nodes = [Log(), Log()]
        for node in nodes:
            node.apply(0, "MSET", *[x for i in range(50) for x in (f"k{i}", "v")])
            node.sm.applied_index += 1
        random.seed(1)  # the read path's generator must not matter
        first = nodes[0].sm.execute_transaction([[b"RANDOMKEY"]] * 5, [], 7)
        random.seed(2)
        assert nodes[1].sm.execute_transaction([[b"RANDOMKEY"]] * 5, [], 7) == first


def _random_entries(seed: int, count: int) -> list[tuple[int, list[bytes]]]:
    rng = random.Random(seed)
    keys = [b"a", b"b", b"c", b"d"]
    entries = []
    now = 1_000
    for _ in range(count):
        now += rng.randrange(0, 50)
        k = rng.choice(keys)
        argv = rng.choice([
            [b"SET", k, b"%d" % rng.randrange(100)],
            [b"SET", k, b"v", b"PX", b"%d" % rng.randrange(1, 200)],
            [b"INCRBYFLOAT", k, b"0.1"],
            [b"PEXPIRE", k, b"%d" % rng.randrange(-10, 200)],
            [b"PERSIST", k],
            [b"DEL", k],
            [b"APPEND", k, b"x"],
            [b"RENAME", k, rng.choice(keys)],
            [b"EXPIRED", *keys],
        ])
        entries.append((now, argv))
    return entries


def test_the_same_entries_give_the_same_digest() -> None:
    entries = _random_entries(7, 2000)
    a, b = Log(), Log()
    for now, argv in entries:
        a.apply(now, *argv)
    for now, argv in entries:
        b.apply(now, *argv)
        b.sm.execute([b"KEYS", b"*"], now + 1000)  # reads in between change nothing
        b.sm.execute([b"RANDOMKEY"], now)
    assert a.sm.digest() == b.sm.digest()
    assert a.sm.expires == b.sm.expires


def test_the_digest_covers_expiry_times() -> None:
    a, b = Log(), Log()
    for log, when in ((a, 5000), (b, 6000)):
        log.apply(0, "SET", "k", "v")
        log.apply(0, "PEXPIREAT", "k", when)
    assert a.sm.data == b.sm.data
    assert a.sm.digest() != b.sm.digest()
