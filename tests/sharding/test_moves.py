"""The pure parts of moving slots, in process: slot lists, the rebalance plan, the map rules with
importing, the migration state's encoding, and the move steps applied on two groups' shard states."""
from __future__ import annotations

from typing import Any

import pytest

from kvsctl.cluster import ClusterFailure, install
from kvsctl.resharding import move_slots, plan_rebalance
from raftkv.client import ClientError
from raftkv.errors import RespError
from raftkv.kv.state_machine import StateMachine
from raftkv.kv.table import TABLE
from raftkv.sharding import migration, slot_map
from raftkv.sharding.migration import Batch, Migration, Moved
from raftkv.sharding.slot_map import Group, SlotMap, with_slots_moved
from raftkv.sharding.slot_ranges import SlotSpecError, format_slots, parse_slots
from raftkv.sharding.slots import key_slot
from raftkv.sharding.state import ShardState
from tests.sharding.test_slot_map import shard_state

A, B, C = ("127.0.0.1:7001",), ("127.0.0.1:7101",), ("127.0.0.1:7201",)


def two_groups(epoch: int = 1) -> SlotMap:
    return SlotMap(epoch, (Group("g1", A, ((0, 8191),)), Group("g2", B, ((8192, 16383),))))


def slots_set(m: SlotMap) -> list[bytes]:
    return [b"RAFT", b"SLOTS", b"SET", b"%d" % m.epoch, m.encode()]


def test_slot_lists_parse_format_and_refuse_nonsense() -> None:
    assert parse_slots("100-102,305, 7") == [7, 100, 101, 102, 305]
    assert parse_slots("5,5,4-5") == [4, 5]
    assert format_slots([7, 100, 101, 102, 305]) == "7,100-102,305" and format_slots([]) == "-"
    for bad in ("", "x", "5-", "9-3", "16384", "-1", "1-2-3"):
        with pytest.raises(SlotSpecError, match="bad slot list"):
            parse_slots(bad)


def test_rebalance_plan_evens_counts_moving_as_few_slots_as_possible() -> None:
    three = SlotMap(2, (*two_groups().groups, Group("g3", C, ())))
    plan = plan_rebalance(three)
    assert [(s, t, len(slots)) for s, t, slots in plan] == [("g1", "g3", 2730), ("g2", "g3", 2731)]
    assert plan[0][2] == list(range(5462, 8192)) and plan[1][2] == list(range(13653, 16384))
    after = three
    for _source, target, slots in plan:
        after = with_slots_moved(after, slots, target)
    assert sorted(g.slot_count for g in after.groups) == [5461, 5461, 5462]
    assert plan_rebalance(after) == [] and plan_rebalance(two_groups()) == []
    lopsided = SlotMap(1, (Group("g1", A, ((0, 9),)), Group("g2", B, ((10, 10),))))
    assert plan_rebalance(lopsided) == [("g1", "g2", [6, 7, 8, 9])]  # 11 slots: 6 and 5


def test_a_map_may_give_a_group_a_slot_of_another_only_while_it_imports_it() -> None:
    old, new = two_groups(1), with_slots_moved(two_groups(1), [8191, 100], "g2")
    assert new.epoch == 2 and new.groups[0].ranges == ((0, 99), (101, 8190))
    assert slot_map.takes_over(old, new, "g2", {}) == 100
    assert slot_map.takes_over(old, new, "g2", {100: "g1"}) == 8191
    assert slot_map.takes_over(old, new, "g2", {100: "g1", 8191: "g1"}) is None
    assert slot_map.takes_over(old, new, "g2", {100: "g3", 8191: "g1"}) == 100  # not from its owner
    assert slot_map.gives_away(old, new, "g1") == {100: "g2", 8191: "g2"} and slot_map.gives_away(old, new, "g2") == {}


def test_migration_state_round_trips_through_its_encoding() -> None:
    assert migration.decode(Migration().encode()) == Migration() and Migration().idle
    state = Migration({5: "g2"}, {9: "g3"}, {"g2": Batch(42, (Moved(b"k\x00\xff", b"\x01payload", 123),))},
                      {"g3": 17})
    assert migration.decode(state.encode()) == state and not state.idle
    assert migration.decode(state.encode(batches=False)) == Migration({5: "g2"}, {9: "g3"})
    assert state.buffered() == {b"k\x00\xff"}


class Groups:
    """Two groups' shard states and key spaces, one node each, entries applied as their logs would."""

    def __init__(self) -> None:
        self.src, self.dst = shard_state(A[0], leader=A[0]), shard_state(B[0], leader=B[0])
        self.src_sm, self.dst_sm = StateMachine(), StateMachine()
        self.index = 0
        for state, sm in ((self.src, self.src_sm), (self.dst, self.dst_sm)):
            assert self.apply(state, sm, slots_set(two_groups())) == "OK"

    def apply(self, state: ShardState, sm: StateMachine, argv: list[bytes], now_ms: int = 1000) -> Any:
        self.index += 1
        sm.applied_index = self.index
        if argv[0] == b"RAFT":
            return state.apply_entry(argv, sm, now_ms)
        argv, refusal = state.route_entry(argv, sm, now_ms)
        return refusal if refusal is not None else sm.execute(argv, now_ms)

    def on_src(self, *argv: bytes, now_ms: int = 1000) -> Any:
        return self.apply(self.src, self.src_sm, list(argv), now_ms)

    def on_dst(self, *argv: bytes, now_ms: int = 1000) -> Any:
        return self.apply(self.dst, self.dst_sm, list(argv), now_ms)


def keys_of(slot: int, count: int) -> list[bytes]:
    return [k for k in (b"k%d" % i for i in range(200_000)) if key_slot(k) == slot][:count]


def test_the_steps_of_a_move_applied_on_both_groups() -> None:
    g = Groups()
    slot = 8000
    a, b, c = keys_of(slot, 3)
    g.on_src(b"SET", a, b"1")
    g.on_src(b"SET", b, b"2", b"PX", b"5000")
    g.on_src(b"SET", c, b"3", b"PX", b"1")  # expired by the time the batch is taken
    for source, slots in ((b"g1", b"9000"), (b"g2", b"9000"), (b"g3", b"100"), (b"g1", b"1-x")):
        assert isinstance(g.on_dst(b"RAFT", b"SLOTS", b"IMPORTING", source, slots), RespError)
    assert g.on_dst(b"RAFT", b"SLOTS", b"IMPORTING", b"g1", b"%d" % slot) == "OK"
    assert g.on_src(b"RAFT", b"SLOTS", b"MIGRATING", b"g2", b"%d" % slot) == "OK"
    assert isinstance(g.on_src(b"RAFT", b"SLOTS", b"MIGRATING", b"g1", b"1"), RespError)  # itself
    # At apply, a write for a key the source lacks is sent to the target, and changes nothing here.
    new_key = keys_of(slot, 4)[3]
    assert g.on_src(b"SET", new_key, b"x") == RespError(f"ASK {slot} {B[0]}")
    assert g.on_dst(b"SET", new_key, b"x") == RespError(f"MOVED {slot} {A[0]}")
    assert g.on_dst(b"ASKING", b"SET", new_key, b"x") == "OK"
    assert isinstance(g.on_src(b"RAFT", b"SLOTS", b"EXPORT", b"g2", b"0"), RespError)
    assert isinstance(g.on_src(b"RAFT", b"SLOTS", b"EXPORT", b"g3", b"10"), RespError)  # nothing migrates there
    batch = g.on_src(b"RAFT", b"SLOTS", b"EXPORT", b"g2", b"10", now_ms=2000)
    assert batch[0] == g.index and batch[1::3] == [a, b] and batch[3::3] == [0, 6000]
    assert g.on_src(b"RAFT", b"SLOTS", b"EXPORT", b"g2", b"10") == batch  # the same batch until released
    assert not g.src_sm.data  # both taken, the expired one dropped
    assert g.on_src(b"GET", a) == RespError(f"TRYAGAIN Key being moved during rehashing of slot {slot}")
    early = with_slots_moved(two_groups(), [slot], "g2")
    assert "not released" in g.on_src(*slots_set(early)).message
    importing = [b"RAFT", b"SLOTS", b"IMPORT", b"g1", b"%d" % batch[0], *(x if isinstance(x, bytes) else b"%d" % x
                                                                           for x in batch[1:])]
    assert g.on_dst(*importing) == "OK"
    assert g.on_dst(b"ASKING", b"SET", a, b"newer") == "OK"
    assert g.on_dst(*importing) == "OK" and g.dst_sm.execute([b"GET", a], 1000) == b"newer"  # imported once
    assert g.dst_sm.execute([b"PTTL", b], 1000) == 5000
    assert isinstance(g.on_src(b"RAFT", b"SLOTS", b"RELEASE", b"g2", b"1"), RespError)  # not that batch
    assert g.on_src(b"RAFT", b"SLOTS", b"RELEASE", b"g2", b"%d" % batch[0]) == "OK"
    assert g.on_src(b"GET", a) == RespError(f"ASK {slot} {B[0]}")
    assert g.on_src(b"RAFT", b"SLOTS", b"EXPORT", b"g2", b"10") == []
    # The target takes only the slots it imports, not a neighbour the source still owns.
    refused = g.on_dst(*slots_set(with_slots_moved(two_groups(), [slot, slot + 1], "g2")))
    assert isinstance(refused, RespError) and f"slot {slot + 1} belongs to another group" in refused.message
    assert g.on_src(*slots_set(early)) == "OK" and g.on_dst(*slots_set(early)) == "OK"
    assert not g.src.migration.migrating and not g.dst.migration.importing
    assert g.on_src(b"GET", a) == RespError(f"MOVED {slot} {B[0]}") and g.on_dst(b"GET", a) is not None
    assert g.dst.route([b"GET", a], TABLE[b"get"], g.dst_sm, 1000) is None
    # A snapshot carries it all.
    again = shard_state(B[0])
    again.restore(g.dst.encoded)
    assert again.map == g.dst.map and again.migration == g.dst.migration


def test_the_source_refuses_to_give_away_a_slot_with_keys_or_not_migrating() -> None:
    g = Groups()
    key = keys_of(8000, 1)[0]
    g.on_src(b"SET", key, b"v")
    moved = with_slots_moved(two_groups(), [8000], "g2")
    assert "not migrating to group g2" in g.on_src(*slots_set(moved)).message
    g.on_src(b"RAFT", b"SLOTS", b"MIGRATING", b"g2", b"8000")
    assert "still holds keys" in g.on_src(*slots_set(moved)).message
    assert g.src.map == two_groups()


def fake_ask(maps: dict[str, SlotMap]) -> Any:
    def call(address: str, *argv: str | bytes) -> Any:
        assert argv[:3] == ("RAFT", "SLOTS", "GET"), argv
        m = maps[address]
        return [m.epoch, m.encode(), address.encode(), b""]
    return call


def test_installing_a_map_a_group_has_already_is_not_a_failure() -> None:
    sent = []

    def ask_holding(installed: SlotMap) -> Any:
        def ask(address: str, *argv: str | bytes) -> Any:
            if argv[2] == "GET":
                return [installed.epoch, installed.encode(), b"", b""]
            sent.append(address)
            return RespError("ERR stale slot map: epoch 3 is not above the installed 3")  # asked a member behind
        return ask

    install(ask_holding(two_groups(3)), two_groups(3))
    assert sent == [A[0], B[0]]
    # Another map of that epoch (the group's leader listing new members meanwhile): not installed.
    listing = SlotMap(3, (Group("g1", (*A, "127.0.0.1:7999"), two_groups().groups[0].ranges), two_groups().groups[1]))
    with pytest.raises(ClusterFailure, match="^group g1 installed another map of epoch 3 meanwhile: run the"):
        install(ask_holding(listing), two_groups(3))
    with pytest.raises(ClusterFailure, match="group g1: ERR stale slot map: epoch 2 is not above the installed 3"):
        install(lambda address, *argv: RespError("ERR stale slot map: epoch 2 is not above the installed 3"),
                two_groups(2))


def test_move_slots_checks_its_arguments_before_any_step() -> None:
    three = SlotMap(2, (*two_groups().groups, Group("g3", C, ())))
    ask = fake_ask({A[0]: three, B[0]: three, C[0]: three})
    with pytest.raises(ClusterFailure, match="^slot 9000 is not owned by group g1$"):
        move_slots(ask, A[0], "g1", "g3", [9000])
    with pytest.raises(ClusterFailure, match="^no group is named 'g4': the groups are g1, g2, g3$"):
        move_slots(ask, A[0], "g4", "g3", [1])
    with pytest.raises(ClusterFailure, match="same"):
        move_slots(ask, A[0], "g1", "g1", [1])
    with pytest.raises(ClusterFailure, match="group g3 owns 0 slots: cannot move 1"):
        move_slots(ask, A[0], "g3", "g1", count=1)

    def down(address: str, *argv: str | bytes) -> Any:
        if address == C[0]:
            raise ClientError(f"cannot reach {address}: connection refused")
        return ask(address, *argv)

    with pytest.raises(ClusterFailure, match=f"^group g3 cannot be reached: cannot reach {C[0]}: connection refused$"):
        move_slots(down, A[0], "g1", "g3", [1])
