"""A shard group's membership changing under a slot map: its leader lists the voters it has now in a new
map of its own log, the other groups learn the list from that map, and a node added to the group routes
as the group does although the map it joined under did not name it."""
from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from redis.exceptions import MovedError

from kvsctl.cluster import current_map
from raftkv.sharding.slot_map import SlotMap, decode
from raftkv.sharding.slots_pure import key_slot
from tests.integration.conftest import wait_for
from tests.integration.test_membership import add, joining_node, raft, voters
from tests.sharding.conftest import Sharded, ask

pytestmark = pytest.mark.integration


def installed(address: str) -> SlotMap:
    """The map the node at ``address`` has installed (RAFT SLOTS GET: epoch, map, leader, moves)."""
    _epoch, blob, *_ = ask(address, "RAFT", "SLOTS", "GET")
    return decode(blob)


def listed(address: str, group: int) -> tuple[str, ...]:
    """The members the map installed on the node at ``address`` gives ``group``."""
    return installed(address).groups[group].members


def shard_nodes(client: redis.Redis, slot: int) -> set[str]:
    """The addresses CLUSTER SHARDS gives for the shard serving ``slot``."""
    for shard in client.execute_command("CLUSTER", "SHARDS"):
        shard = dict(zip(shard[::2], shard[1::2]))
        ranges = shard[b"slots"]
        if any(a <= slot <= b for a, b in zip(ranges[::2], ranges[1::2])):
            return {f"{dict(zip(n[::2], n[1::2]))[b'ip'].decode()}:{dict(zip(n[::2], n[1::2]))[b'port']}"
                    for n in shard[b"nodes"]}
    return set()


def test_members_added_and_removed_are_listed_by_every_group(make_sharded: Callable[..., Sharded],
                                                             make_node) -> None:
    sharded = make_sharded(2, 1)
    first, other = sharded.groups[0].nodes[0], sharded.groups[1].nodes[0]
    mine = next(f"k{i}" for i in range(1000) if key_slot(f"k{i}".encode()) < 8192)
    theirs = next(f"k{i}" for i in range(1000) if key_slot(f"k{i}".encode()) >= 8192)
    assert first.client(protocol=2).set(mine, "v")

    new = joining_node(make_node, first)
    assert add(first, new) == b"OK"
    wait_for(lambda: voters(first) == {first.address, new.address}, 30, "the new member to be promoted")
    wait_for(lambda: listed(first.address, 0) == (first.address, new.address), 15,
             "the group's leader to list its new voter in the map")
    assert installed(first.address).epoch == 2
    assert installed(other.address).epoch == 1  # the other group's log is not written
    # kvsctl's view, asked of the other group, lists each group as its own map does.
    assert current_map(ask, other.address).groups[0].members == (first.address, new.address)
    with other.client(protocol=2) as c:
        wait_for(lambda: shard_nodes(c, key_slot(mine.encode())) == {first.address, new.address}, 15,
                 "the other group to learn the new member from the group's map")

    with new.client(protocol=2) as c:
        assert c.get(mine) == b"v"  # the group's slots: served (a read through the group's leader)
        with pytest.raises(MovedError) as moved:
            c.get(theirs)
        assert f"{moved.value.host}:{moved.value.port}" == other.address
        nodes = c.execute_command("CLUSTER", "NODES").decode()
        assert f"{new.address}@0 myself,slave" in nodes

    assert raft(first, "MEMBER", "REMOVE", new.address) == b"OK"
    wait_for(lambda: listed(first.address, 0) == (first.address,), 15, "the removed member to leave the map")
    with other.client(protocol=2) as c:
        wait_for(lambda: shard_nodes(c, key_slot(mine.encode())) == {first.address}, 15,
                 "the other group to drop the removed member")
