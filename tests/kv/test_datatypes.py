"""Keys of every type in the state machine: TYPE, WRONGTYPE, the key commands, expiry, versions, the
digest and snapshots. Values are put in place directly, so these hold whatever commands build them."""
from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sortedcontainers import SortedDict, SortedSet

from raftkv.errors import RespError
from raftkv.kv import datatypes
from raftkv.kv.commands.blocking import in_transaction
from raftkv.kv.datatypes import WRONGTYPE, Hash, List, Set, ZSet, from_flat, member_order
from raftkv.kv.state_machine import StateMachine
from raftkv.kv.table import READ, TABLE, WRITE
from raftkv.node.snapshots.snapshot_file import load_snapshot, write_snapshot
from raftkv.raft.types import ConfState, SnapshotMeta
from raftkv.wire.resp import encode_reply


def apply(sm: StateMachine, now_ms: int, *args: bytes | str | int) -> object:
    sm.applied_index += 1
    return sm.execute([a if isinstance(a, bytes) else str(a).encode() for a in args], now_ms)


def big_hash() -> Hash:
    h = Hash()
    for i in range(200):
        h.set(b"f%03d" % i, b"v%d" % i)
    return h


def every_type() -> StateMachine:
    sm = StateMachine()
    sm.applied_index = 10
    sm.put(b"str", b"value")
    sm.put(b"hash", Hash({b"b": b"2", b"a": b"1"}))
    sm.put(b"bighash", big_hash())
    sm.put(b"set", Set([b"10", b"x", b"-3", b"2"]))
    sm.put(b"list", List([b"a", b"b", b"a"]))
    sm.put(b"zset", ZSet([(b"m", 1.5), (b"n", -0.0), (b"o", float("inf"))]))
    return sm


AGGREGATES = [b"hash", b"bighash", b"set", b"list", b"zset"]


def test_type_names_every_type() -> None:
    sm = every_type()
    assert [sm.execute([b"TYPE", k], 0) for k in [b"str", *AGGREGATES, b"none"]] == [
        "string", "hash", "hash", "set", "list", "zset", "none"]


def test_object_encoding_names_our_structures() -> None:
    sm = every_type()
    encodings = [sm.execute([b"OBJECT", b"ENCODING", k], 0) for k in [b"str", *AGGREGATES]]
    assert encodings == [b"bytes", b"smalldict", b"sorteddict", b"sortedset", b"blocklist", b"dict+sortedlist"]
    assert {e.decode() for e in encodings} == set(datatypes.ENCODINGS)
    assert sm.execute([b"OBJECT", b"ENCODING", b"none"], 0) is None
    assert sm.execute([b"OBJECT", b"REFCOUNT", b"set"], 0) == 1
    assert sm.execute([b"OBJECT", b"FREQ", b"set"], 0).message.startswith("ERR An LFU maxmemory policy is not")
    assert sm.execute([b"OBJECT", b"IDLETIME", b"set"], 0).message.startswith("ERR OBJECT IDLETIME is not")
    assert sm.execute([b"OBJECT", b"ENCODING"], 0) == RespError(
        "ERR wrong number of arguments for 'object|encoding' command")
    assert sm.execute([b"OBJECT", b"nope", b"x"], 0) == RespError("ERR unknown subcommand 'nope'. Try OBJECT HELP.")


STRING_READERS = [["GET", "k"], ["GETSET", "k", "v"], ["GETDEL", "k"], ["GETEX", "k"], ["GETEX", "k", "PERSIST"],
                  ["SET", "k", "v", "GET"], ["SET", "k", "v", "NX", "GET"], ["INCR", "k"], ["DECR", "k"],
                  ["INCRBY", "k", 2], ["DECRBY", "k", 2], ["INCRBYFLOAT", "k", "1.5"], ["APPEND", "k", "x"],
                  ["STRLEN", "k"], ["GETRANGE", "k", 0, -1], ["SETRANGE", "k", 1, "x"]]


@pytest.mark.parametrize("key", AGGREGATES)
@pytest.mark.parametrize("command", STRING_READERS, ids=lambda c: " ".join(map(str, c)))
def test_string_commands_refuse_other_types_and_change_nothing(key: bytes, command: list[object]) -> None:
    sm = every_type()
    before = sm.digest()
    assert apply(sm, 0, command[0], key, *command[2:]) == WRONGTYPE
    sm.applied_index -= 1
    assert sm.digest() == before


def test_commands_that_replace_or_only_test_a_key_take_any_type() -> None:
    sm = every_type()
    assert apply(sm, 0, "MGET", "str", "hash", "set", "none") == [b"value", None, None, None]
    assert apply(sm, 0, "SETNX", "hash", "x") == 0
    assert apply(sm, 0, "SET", "hash", "x", "NX") is None
    assert apply(sm, 0, "MSETNX", "new", "1", "set", "2") == 0
    assert apply(sm, 0, "SET", "list", "now a string") == "OK"
    assert apply(sm, 0, "GET", "list") == b"now a string"
    assert apply(sm, 0, "SETEX", "zset", 100, "s") == "OK"
    assert apply(sm, 0, "MSET", "set", "1") == "OK"
    assert [apply(sm, 0, "TYPE", k) for k in (b"list", b"zset", b"set")] == ["string"] * 3


def test_key_commands_across_types() -> None:
    sm = every_type()
    assert apply(sm, 0, "EXISTS", *AGGREGATES, "str", "none") == 6
    assert sorted(apply(sm, 0, "KEYS", "*")) == sorted([b"str", *AGGREGATES])
    cursor, found = apply(sm, 0, "SCAN", "0", "TYPE", "HASH", "COUNT", 100)
    assert (cursor, found) == (b"0", [b"bighash", b"hash"])
    assert apply(sm, 0, "SCAN", "0", "TYPE", "zset")[1] == [b"zset"]
    assert apply(sm, 0, "SCAN", "0", "TYPE", "stream")[1] == []
    sm.rng = random.Random(5)
    assert {apply(sm, 0, "RANDOMKEY") for _ in range(100)} == {b"str", *AGGREGATES}
    assert apply(sm, 0, "RENAME", "set", "set2") == "OK"
    assert apply(sm, 0, "TYPE", "set2") == "set" and apply(sm, 0, "EXISTS", "set") == 0
    assert apply(sm, 0, "COPY", "hash", "hash2") == 1
    sm.data[b"hash2"].set(b"c", b"3")
    assert len(sm.data[b"hash"]) == 2 and len(sm.data[b"hash2"]) == 3  # a copy, not the same object
    for key in [b"bighash", b"set2", b"list", b"zset"]:
        assert apply(sm, 0, "COPY", key, key + b"-copy") == 1
        assert sm.data[key + b"-copy"] is not sm.data[key]
        assert sm.data[key + b"-copy"].flat() == sm.data[key].flat()
    assert apply(sm, 0, "DEL", "hash", "set2", "list", "none") == 3
    assert apply(sm, 0, "UNLINK", "zset") == 1


def test_expiry_applies_to_every_type() -> None:
    sm = every_type()
    for key in AGGREGATES:
        assert apply(sm, 0, "PEXPIREAT", key, 1000) == 1
    assert apply(sm, 999, "PTTL", "set") == 1
    assert apply(sm, 0, "RENAME", "hash", "hash2") == "OK"
    assert apply(sm, 0, "PEXPIRETIME", "hash2") == 1000
    assert apply(sm, 1000, "TYPE", "zset") == "none"
    assert sm.expired_keys(1000, 10) == sorted([b"bighash", b"hash2", b"set", b"list", b"zset"])
    assert apply(sm, 1000, "EXPIRED", *sm.expired_keys(1000, 10)) == 5
    assert sorted(sm.data) == [b"str"]


def test_typed_lookups_skip_expired_keys_and_writes_delete_them() -> None:
    sm = every_type()
    apply(sm, 0, "PEXPIREAT", "set", 1000)
    assert sm.typed(b"set", 999, Set) is sm.data[b"set"]
    assert sm.typed(b"set", 1000, Hash) is None  # expired: missing, not the wrong type
    assert sm.typed_for_write(b"set", 1000, Set) is None
    assert b"set" not in sm.data
    with pytest.raises(datatypes.WrongType):
        sm.typed(b"hash", 0, Set)


def test_changed_bumps_the_version_and_deletes_an_emptied_aggregate() -> None:
    sm = every_type()
    version = sm.key_version(b"set")
    sm.applied_index += 1
    s = sm.typed_for_write(b"set", 0, Set)
    assert s is not None and s.add(b"new")
    sm.changed(b"set")
    assert sm.key_version(b"set") == sm.applied_index != version
    sm.applied_index += 1
    for member in list(s):
        s.remove(member)
    sm.changed(b"set")
    assert b"set" not in sm.data
    assert sm.key_version(b"set") == sm.applied_index  # the deletion's tombstone
    assert apply(sm, 0, "EXISTS", "set") == 0


def test_entry_rng_is_the_same_on_every_node_and_moves_on_within_an_entry() -> None:
    a, b = StateMachine(), StateMachine()
    a.applied_index = b.applied_index = 7
    assert [a.entry_rng(123).random() for _ in range(3)] == [b.entry_rng(123).random() for _ in range(3)]
    first = a.entry_rng(123).random()
    a.applied_index = 8
    assert a.entry_rng(123).random() != first


def test_a_hash_keeps_insertion_order_until_redis_would_convert_it() -> None:
    h = Hash()
    assert h.set(b"b", b"1") and h.set(b"a", b"2") and not h.set(b"b", b"3")
    assert list(h.fields.items()) == [(b"b", b"3"), (b"a", b"2")]
    assert h.small and h.scan(None, 1) == ([b"b", b"a"], None)
    h.set(b"long", b"x" * 65)
    assert not h.small and list(h.fields) == [b"a", b"b", b"long"]
    h.delete(b"long")
    assert not h.small  # one way, as Redis's listpack -> hashtable
    big = big_hash()
    assert big.encoding == "sorteddict" and big.field_at(3) == b"f003"
    names, last = big.scan(None, 10)
    assert names == [b"f%03d" % i for i in range(10)] and last == b"f009"
    assert big.scan(b"f195", 10) == ([b"f196", b"f197", b"f198", b"f199"], None)


def test_sets_order_integers_numerically_first_as_an_intset_does() -> None:
    s = Set([b"10", b"9", b"-1", b"b", b"a", b"007", b"-0", b"9223372036854775807", b"9223372036854775808"])
    assert list(s) == [b"-1", b"9", b"10", b"9223372036854775807", b"-0", b"007", b"9223372036854775808",
                       b"a", b"b"]
    assert member_order(b"1") < member_order(b"2") < member_order(b"10") < member_order(b"")
    assert Set([b"3", b"1"]).scans_whole and not s.scans_whole
    assert not Set([b"%d" % i for i in range(513)]).scans_whole
    assert s.add(b"c") and not s.add(b"c") and s.remove(b"c") and not s.remove(b"c")


def test_zset_order_and_rank() -> None:
    z = ZSet([(b"b", 1.0), (b"a", 1.0), (b"c", -2.0)])
    assert list(z.order) == [(-2.0, b"c"), (1.0, b"a"), (1.0, b"b")]
    assert z.rank(b"b") == 2 and z.rank(b"x") is None
    assert z.add(b"c", 5.0) is False and z.rank(b"c") == 2
    assert z.remove(b"a") and not z.remove(b"a") and len(z) == 2


@pytest.mark.parametrize("value", [Hash({b"b": b"", b"a": b"\x00"}), big_hash(), Set([b"2", b"1", b"z"]),
                                   List([b"x", b"", b"x"]), ZSet([(b"a", 1e-300), (b"b", float("-inf"))])])
def test_flat_forms_round_trip(value: datatypes.Aggregate) -> None:
    twin = from_flat(value.code, value.flat())
    assert type(twin) is type(value) and twin.flat() == value.flat() and twin.encoding == value.encoding
    with pytest.raises(ValueError):
        from_flat(99, [])


def observe(sm: StateMachine) -> list[object]:
    seen: list[object] = [sm.digest(), sm.applied_index, sm.version_floor, sorted(sm.expires.items())]
    for key, value in sm.data.items():
        seen += [key, datatypes.type_name(value), datatypes.encoding_of(value),
                 value if type(value) is bytes else value.flat(), sm.key_version(key)]
    return seen


def test_dump_and_load_keep_every_type(tmp_path: Path) -> None:
    sm = every_type()
    apply(sm, 0, "PEXPIREAT", "zset", 5000)
    apply(sm, 0, "SET", "gone", "x")
    apply(sm, 0, "DEL", "gone")
    out = io.BytesIO()
    sm.dump(out)
    loaded = StateMachine.load(io.BytesIO(out.getvalue()))
    assert observe(loaded) == observe(sm)
    assert loaded.key_version(b"gone") == sm.key_version(b"gone")
    # The same through a real snapshot file.
    meta = SnapshotMeta(index=sm.applied_index, term=2, conf_state=ConfState(voters=(1,), learners=()))
    _meta, _members, from_file = load_snapshot(write_snapshot(tmp_path, sm, meta, b"members"))
    assert observe(from_file) == observe(sm)
    # What the loaded copy does next is what the original does.
    for command in [("SET", "str", "2"), ("RENAME", "set", "s2"), ("TYPE", "s2"), ("COPY", "bighash", "b2"),
                    ("OBJECT", "ENCODING", "b2"), ("EXPIRED", "zset")]:
        assert apply(loaded, 6000, *command) == apply(sm, 6000, *command)
    assert loaded.digest() == sm.digest()


def test_load_reads_a_dump_of_the_first_version() -> None:
    # As the string-only state machine wrote it: [applied, floor, count], keys, values, versions,
    # expiring positions and times; then tombstones.
    def ints(numbers: list[int]) -> bytes:
        return struct.pack(f"<Q{len(numbers)}q", len(numbers), *numbers)

    def blobs(items: list[bytes]) -> bytes:
        return ints(list(map(len, items))) + b"".join(items)

    raw = (ints([9, 2, 2]) + blobs([b"a", b"b"]) + blobs([b"1", b""]) + ints([3, 4]) + ints([1]) + ints([777])
           + blobs([b"dead"]) + ints([5]))
    sm = StateMachine.load(io.BytesIO(raw))
    assert dict(sm.data) == {b"a": b"1", b"b": b""} and sm.expires == {b"b": 777}
    assert (sm.applied_index, sm.version_floor, sm.key_version(b"a"), sm.key_version(b"dead")) == (9, 2, 3, 5)
    with pytest.raises(ValueError, match="unknown version"):
        StateMachine.load(io.BytesIO(ints([9, 2, 0, 99])))


def test_digest_covers_content_order_and_layout() -> None:
    def digest_of(value: object) -> str:
        sm = StateMachine()
        sm.put(b"k", value)
        return sm.digest()

    assert digest_of(Hash({b"a": b"1", b"b": b"2"})) != digest_of(Hash({b"b": b"2", b"a": b"1"}))
    assert digest_of(Hash({b"a": b"1"})) != digest_of(Hash(SortedDict({b"a": b"1"})))
    assert digest_of(Set([b"a"])) != digest_of(List([b"a"]))
    assert digest_of(List([b"a", b"b"])) != digest_of(List([b"b", b"a"]))
    assert digest_of(Set([b"b", b"a"])) == digest_of(Set([b"a", b"b"]))
    assert digest_of(ZSet([(b"a", 1.0)])) != digest_of(ZSet([(b"a", 2.0)]))
    assert digest_of(b"ab") != digest_of(List([b"ab"]))


def test_object_is_a_read() -> None:
    assert TABLE[b"object"].where is READ and TABLE[b"type"].where is READ and TABLE[b"copy"].where is WRITE


_ARGS = st.sampled_from([b"a", b"hash", b"bighash", b"set", b"str", b"list", b"zset", b"nokey", b"0", b"1", b"2",
                         b"-1", b"3", b"10", b"-9223372036854775808", b"9223372036854775807",
                         b"99999999999999999999", b"1.5",
                         b"inf", b"nan", b"", b"x" * 70, b"COUNT", b"MATCH", b"LIMIT", b"WITHVALUES", b"TYPE",
                         b"*", b"[", b"REPLACE", b"ENCODING", b"HELP", b"18446744073709551616", b"-"])
_DATA_COMMANDS = sorted(name for name, cmd in TABLE.items() if cmd.where in (READ, WRITE) and name != b"exec")


@settings(max_examples=3000, deadline=None)
@given(st.sampled_from(_DATA_COMMANDS), st.lists(_ARGS, max_size=6))
def test_no_command_raises_whatever_its_arguments(name: bytes, args: list[bytes]) -> None:
    # An exception while applying an entry would stop the node at that entry on every restart.
    cmd = TABLE[name]
    argv = [name, *args]
    if (cmd.arity > 0 and len(argv) != cmd.arity) or len(argv) < abs(cmd.arity):
        return
    sm = every_type()
    sm.put(b"str", b"12")
    sm.applied_index += 1
    reply = in_transaction(argv, sm.execute(argv, 0))  # a pop that would block answers as in EXEC
    encode_reply(reply, 2)
    encode_reply(reply, 3)


def test_nodes_applying_the_same_entries_pop_the_same_members() -> None:
    from raftkv.wire.proposal import encode_exec
    from raftkv.wire.resp import encode_command

    def run() -> tuple[str, list[object]]:
        sm = StateMachine()
        replies = [apply(sm, 1000, "SADD", "s", *[b"m%d" % i for i in range(100)])]
        for now in range(1000, 1020):
            replies.append(apply(sm, now, "SPOP", "s"))
            replies.append(apply(sm, now, "SPOP", "s", 3))
        sm.applied_index += 1
        replies.append(sm.execute(encode_exec({}, [encode_command(c) for c in [[b"SPOP", b"s"], [b"SPOP", b"s"],
                                                                              [b"SPOP", b"s", b"2"]]]), 2000))
        return sm.digest(), replies

    first, second = run(), run()
    assert first == second
    in_one_entry = first[1][-1]
    assert isinstance(in_one_entry, list) and in_one_entry[0] != in_one_entry[1]  # one sequence per entry


class _NoWalkSet(SortedSet):  # type: ignore[misc]
    def __iter__(self):  # type: ignore[no-untyped-def]
        raise AssertionError("walked the whole set")


class _NoWalkDict(SortedDict):  # type: ignore[misc]
    def __iter__(self):  # type: ignore[no-untyped-def]
        raise AssertionError("walked the whole hash")


def test_scans_and_random_picks_of_big_aggregates_do_not_walk_them() -> None:
    sm = StateMachine()
    s = Set()
    s.members = _NoWalkSet((b"m%06d" % i for i in range(20_000)), key=member_order)
    h = Hash(_NoWalkDict({b"f%06d" % i: b"v" for i in range(20_000)}))
    sm.put(b"s", s)
    sm.put(b"h", h)
    for key, command in [(b"s", b"SSCAN"), (b"h", b"HSCAN")]:
        cursor, seen = b"0", 0
        for _ in range(50):
            cursor, batch = sm.execute([command, key, cursor, b"COUNT", b"10"], 0)
            seen += len(batch)
        assert cursor != b"0" and seen == (500 if key == b"s" else 1000)
    for argv in ([b"SRANDMEMBER", b"s", b"5"], [b"SRANDMEMBER", b"s", b"-5"], [b"SRANDMEMBER", b"s"],
                 [b"HRANDFIELD", b"h", b"5", b"WITHVALUES"], [b"HRANDFIELD", b"h", b"-5"], [b"HRANDFIELD", b"h"],
                 [b"SPOP", b"s", b"3"], [b"SPOP", b"s"], [b"SISMEMBER", b"s", b"m000001"], [b"SADD", b"s", b"new"],
                 [b"SCARD", b"s"], [b"HSET", b"h", b"f", b"v"], [b"HDEL", b"h", b"f000003"], [b"HLEN", b"h"]):
        sm.applied_index += 1
        assert not isinstance(sm.execute(argv, 0), RespError), argv
