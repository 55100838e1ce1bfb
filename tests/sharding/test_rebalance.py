"""kvsctl cluster move-slots and rebalance from the command line, on real nodes: a group added later gets
its share of the slots with their keys, and mistakes are one line and a non-zero exit."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from kvsctl.cluster import add_group, current_map
from kvsctl.resharding import move_slots
from raftkv.sharding.slots_pure import key_slot
from tests.integration.conftest import Cluster
from tests.kvsctl.scripted import dead_address, run
from tests.sharding.conftest import Sharded, ask
from tests.sharding.test_resharding import Crash, crashing, everywhere

pytestmark = pytest.mark.integration


def test_rebalance_gives_an_added_group_its_share(make_sharded: Callable[..., Sharded],
                                                  make_cluster: Callable[..., Cluster]) -> None:
    sharded = make_sharded(2, 1)
    g1 = sharded.groups[0].nodes[0]
    c1 = g1.client(protocol=2)
    keys = [f"r{i}" for i in range(300)]
    pipe = c1.pipeline(transaction=False)
    for key in keys:
        if key_slot(key.encode()) < 8192:
            pipe.set(key, key)
    pipe.execute()
    third = make_cluster(1)
    third.leader()
    add_group(ask, g1.address, f"g3={third.nodes[0].address}")
    sharded.groups.append(third)
    result = run("-a", g1.address, "cluster", "rebalance")
    assert result.exit_code == 0, result.output
    assert "moving 2731 slots" in result.stdout and result.stdout.endswith("done\n")
    final = current_map(ask, g1.address)
    assert sorted(g.slot_count for g in final.groups) == [5461, 5461, 5462]
    everywhere(sharded, final.epoch)
    sizes = [g.nodes[0].client(protocol=2).execute_command("DBSIZE") for g in sharded.groups]
    assert sum(sizes) == sum(key_slot(k.encode()) < 8192 for k in keys) and sizes[2] > 0
    # Balanced already: nothing to do.
    again = run("-a", g1.address, "cluster", "rebalance")
    assert again.exit_code == 0 and "already differ by at most one" in again.stdout
    status = run("-a", g1.address, "cluster", "status")
    assert status.exit_code == 0 and "MIGRATING" in status.stdout and "IMPORTING" in status.stdout


def test_move_slots_mistakes_are_one_line(make_sharded: Callable[..., Sharded]) -> None:
    sharded = make_sharded(2, 1)
    address = sharded.groups[0].nodes[0].address

    def fails(*args: str) -> str:
        result = run("-a", address, "cluster", "move-slots", *args)
        assert result.exit_code != 0 and result.stderr.count("\n") == 1, result.output
        return result.stderr

    assert fails("g1", "nope", "1") == "kvsctl: no group is named 'nope': the groups are g1, g2\n"
    assert "bad slot list '5-x'" in fails("g1", "g2", "5-x")
    assert "bad slot list '16384'" in fails("g1", "g2", "16384")
    assert "give either SLOTS or --count N" in fails("g1", "g2")
    assert "owns 8192 slots: cannot move 9000" in fails("g1", "g2", "--count", "9000")
    unreachable = run("-a", dead_address(), "cluster", "move-slots", "g1", "g2", "1")
    assert unreachable.exit_code == 1 and unreachable.stderr.startswith("kvsctl: ")
    moved = run("-a", address, "cluster", "move-slots", "g1", "g2", "--count", "3")
    assert moved.exit_code == 0 and "moving 3 slots 8189-8191 from g1 to g2" in moved.stdout
    # Run again after a stop, --count N finishes the stopped move instead of moving N more slots.
    for step in ("EXPORT", "SET"):
        with pytest.raises(Crash):
            move_slots(crashing(step), address, "g1", "g2", count=2)
        move_slots(ask, address, "g1", "g2", count=2)
    assert current_map(ask, address).groups[0].ranges == ((0, 8184),)
