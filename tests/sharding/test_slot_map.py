"""The slot map value, the key positions routing reads, and the node's shard state, in process."""
from __future__ import annotations

import pytest

from raftkv.errors import RespError
from raftkv.kv.state_machine import StateMachine
from raftkv.kv.table import TABLE
from raftkv.node.snapshots import node_state
from raftkv.sharding import slot_map
from raftkv.sharding.command_keys import command_keys
from raftkv.sharding.slot_map import Group, SlotMap, SlotMapError
from raftkv.sharding.slots_pure import key_slot
from raftkv.sharding.state import ShardState
from raftkv.wire.resp import encode_command

A, B = ("127.0.0.1:7001", "127.0.0.1:7002"), ("127.0.0.1:7101", "127.0.0.1:7102")


def two_groups(epoch: int = 1) -> SlotMap:
    return SlotMap(epoch, (Group("g1", A, ((0, 8191),)), Group("g2", B, ((8192, 16383),))))


def shard_state(me: str, leader: str = "", members: tuple[str, ...] = (),
                voters: tuple[str, ...] = ()) -> ShardState:
    """The state of the node at client address ``me``, whose Raft group has ``members`` (``me`` if none)."""
    return ShardState(me, lambda: leader, lambda: members or (me,), lambda: voters)
def slots_set(m: SlotMap) -> list[bytes]:
    return [b"RAFT", b"SLOTS", b"SET", b"%d" % m.epoch, m.encode()]


def test_even_ranges_cover_every_slot_once() -> None:
    assert slot_map.even_ranges(2) == [(0, 8191), (8192, 16383)]
    ranges = slot_map.even_ranges(3)
    assert ranges[0][0] == 0 and ranges[-1][1] == 16383
    assert all(a[1] + 1 == b[0] for a, b in zip(ranges, ranges[1:]))


def test_encode_decode_round_trip_and_checks() -> None:
    m = two_groups(3)
    assert slot_map.decode(m.encode()) == m
    assert slot_map.decode(m.encode(), 7).epoch == 7
    overlapping = SlotMap(1, (Group("g1", A, ((0, 10),)), Group("g2", B, ((10, 20),))))
    with pytest.raises(SlotMapError, match="slot 10 is given to two groups"):
        slot_map.decode(overlapping.encode())
    with pytest.raises(SlotMapError, match="two groups"):
        slot_map.decode(SlotMap(1, (Group("g1", A, ()), Group("g2", A, ()))).encode())
    with pytest.raises(SlotMapError, match="malformed"):
        slot_map.decode(b"{")


def test_command_keys_follow_the_table_and_movablekeys() -> None:
    def keys(*argv: bytes) -> list[bytes]:
        return command_keys(list(argv), TABLE[argv[0].lower()])

    assert keys(b"SET", b"k", b"v") == [b"k"]
    assert keys(b"MSET", b"a", b"1", b"b", b"2") == [b"a", b"b"]
    assert keys(b"BLPOP", b"a", b"b", b"0") == [b"a", b"b"]
    assert keys(b"ZUNIONSTORE", b"d", b"2", b"x", b"y", b"WEIGHTS", b"1", b"2") == [b"d", b"x", b"y"]
    assert keys(b"LMPOP", b"2", b"x", b"y", b"LEFT") == [b"x", b"y"]
    assert keys(b"BLMPOP", b"0", b"1", b"x", b"LEFT") == [b"x"]
    assert keys(b"SORT", b"s", b"LIMIT", b"0", b"1", b"STORE", b"d") == [b"s", b"d"]
    assert keys(b"PING") == []
    assert keys(b"READONLY", b"GET", b"k") == [b"k"]
    assert keys(b"EXEC", encode_command([b"SET", b"a", b"1"]), encode_command([b"GET", b"b"])) == [b"a", b"b"]


def test_state_routes_by_its_group_and_refuses_stale_maps() -> None:
    state, sm = shard_state(A[1], leader=A[0]), StateMachine()
    assert not state.routes
    assert state.apply_entry(slots_set(two_groups(2)), sm, 0) == "OK"
    mine = next(k for k in (b"k%d" % i for i in range(100)) if key_slot(k) <= 8191)
    theirs = next(k for k in (b"k%d" % i for i in range(100)) if key_slot(k) > 8191)

    def route(*argv: bytes) -> RespError | None:
        return state.route(list(argv), TABLE[argv[0].lower()], sm, 0)

    assert route(b"GET", mine) is None
    assert route(b"GET", theirs) == RespError(f"MOVED {key_slot(theirs)} {B[0]}")
    state.leaders["g2"] = B[1]
    assert route(b"GET", theirs) == RespError(f"MOVED {key_slot(theirs)} {B[1]}")
    assert route(b"MGET", mine, theirs) == RespError("CROSSSLOT Keys in request don't hash to the same slot")
    stale = state.apply_entry(slots_set(two_groups(2)), sm, 0)
    assert isinstance(stale, RespError) and "stale slot map" in stale.message
    # A newer map may not hand this group a slot another group owns: that takes a move.
    grab = SlotMap(3, (Group("g1", A, ((0, 8192),)), Group("g2", B, ((8193, 16383),))))
    refused = state.apply_entry(slots_set(grab), sm, 0)
    assert isinstance(refused, RespError) and "slot 8192 belongs to another group" in refused.message
    # Nor give one away that is not moving: its keys would be nobody's.
    give = SlotMap(3, (Group("g1", A, ((0, 8190),)), Group("g2", B, ((8191, 16383),))))
    refused = state.apply_entry(slots_set(give), sm, 0)
    assert isinstance(refused, RespError) and "slot 8191 is not migrating to group g2" in refused.message
    # A snapshot carries the state; a restarted node rebuilds it from its snapshot and log, nothing else.
    again = shard_state(A[1])
    assert not again.routes
    again.restore(state.encoded)
    assert again.map == two_groups(2) and again.my_group == 0


def test_a_map_that_names_no_member_of_the_group_is_refused() -> None:
    state = shard_state("127.0.0.1:9999", members=("127.0.0.1:9998", "127.0.0.1:9999"))
    reply = state.apply_entry(slots_set(two_groups()), StateMachine(), 0)
    assert isinstance(reply, RespError) and "names no member of this node's group" in reply.message
    assert not state.routes


def test_a_node_the_map_does_not_name_yet_routes_by_its_group() -> None:
    """Added to group g2 after the map was written: its fellow members are named, so it routes as g2."""
    new, sm, get = "127.0.0.1:7103", StateMachine(), TABLE[b"get"]
    state = shard_state(new, members=(*B, new), voters=(*B, new))
    assert state.apply_entry(slots_set(two_groups()), sm, 0) == "OK" and state.my_group == 1
    theirs = next(k for k in (b"k%d" % i for i in range(100)) if key_slot(k) <= 8191)
    mine = next(k for k in (b"k%d" % i for i in range(100)) if key_slot(k) > 8191)
    assert state.route([b"GET", mine], get, sm, 0) is None
    assert state.route([b"GET", theirs], get, sm, 0) == RespError(f"MOVED {key_slot(theirs)} {A[0]}")
    # Our own group is listed as it is now; another group as its own map lists it (the poller's).
    assert state.members_of(1) == (*B, new)
    state.members["g1"] = (A[1],)
    assert state.members_of(0) == (A[1],)
    assert state.route([b"GET", theirs], get, sm, 0) == RespError(f"MOVED {key_slot(theirs)} {A[1]}")


def test_with_members_keeps_the_listed_order_and_moves_to_the_next_epoch() -> None:
    m = two_groups(4)
    assert slot_map.with_members(m, 1, (B[1], B[0])) is None  # the same members
    assert slot_map.with_members(m, 1, ()) is None
    grown = slot_map.with_members(m, 1, ("127.0.0.1:7100", *B))
    assert grown is not None and grown.epoch == 5 and grown.groups[0] == m.groups[0]
    assert grown.groups[1] == Group("g2", (*B, "127.0.0.1:7100"), m.groups[1].ranges)
    shrunk = slot_map.with_members(grown, 1, (B[1], "127.0.0.1:7100"))
    assert shrunk is not None and shrunk.groups[1].members == (B[1], "127.0.0.1:7100")


def test_snapshot_node_state_carries_the_map_beside_the_members() -> None:
    members = b'[{"id":1,"client_addr":"127.0.0.1:1","peer_addr":"127.0.0.1:2"}]'
    assert node_state.unpack(node_state.pack(members, two_groups().encode())) == (members, two_groups().encode())
    assert node_state.pack(members, b"") == members  # as before sharding: old snapshots read the same
    assert node_state.unpack(members) == (members, b"")
