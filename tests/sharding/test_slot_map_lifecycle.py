"""The slot map as replicated state on real nodes: refused without sharding, kept across a restart and a
snapshot, stale epochs refused, a group added."""
from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from kvsctl.cluster import ClusterFailure, add_group, create, current_map
from raftkv.sharding.slot_map import SlotMap
from tests.integration.conftest import Cluster, wait_for
from tests.sharding.conftest import Sharded, ask

pytestmark = pytest.mark.integration


def test_a_plain_cluster_has_cluster_support_disabled(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(1).nodes[0].client(protocol=2)
    assert c.info("cluster") == {"cluster_enabled": 0} and c.info()["redis_mode"] == "standalone"
    for sub in ("INFO", "SLOTS", "KEYSLOT"):
        with pytest.raises(redis.ResponseError, match="^This instance has cluster support disabled$"):
            c.execute_command("CLUSTER", sub, *(["k"] if sub == "KEYSLOT" else []))
    assert c.set("any", "key") and c.get("any") == b"key"


def test_map_survives_restart_and_snapshot_and_refuses_stale_epochs(make_sharded: Callable[..., Sharded]) -> None:
    # A snapshot every 20 entries: the map must come back from a snapshot, its entry compacted away.
    sharded = make_sharded(2, 1, extra_args=["--snapshot-entries", "20"])
    g1, g2 = (g.nodes[0] for g in sharded.groups)
    slot_map = current_map(ask, g1.address)
    c = g1.client(protocol=2)
    for i in range(60):
        c.set(f"{{b}}{i}", "v")  # {b} hashes to slot 3300: group 1's
    wait_for(lambda: c.info("raft")["snapshot_index"] > 2, 20, "a snapshot past the map's entry")
    g1.stop()
    g1.start()
    c = g1.client(protocol=2)
    assert c.info("cluster") == {"cluster_enabled": 1} and c.info("server")["redis_mode"] == "cluster"
    assert current_map(ask, g1.address) == slot_map
    with pytest.raises(redis.exceptions.MovedError):
        c.get("{a}x")  # slot 15495: group 2's
    assert c.get("{b}1") == b"v"
    with pytest.raises(redis.ResponseError, match="stale slot map: epoch 1 is not above the installed 1"):
        c.execute_command("RAFT", "SLOTS", "SET", "1", slot_map.encode())
    assert create(ask, [g1.address, g2.address]) == slot_map  # the same deployment: nothing to do
    with pytest.raises(ClusterFailure, match="already has a slot map"):
        create(ask, [g2.address, g1.address])  # another one over the same groups


def test_add_group_installs_the_next_epoch_everywhere(make_sharded: Callable[..., Sharded],
                                                      make_cluster: Callable[..., Cluster]) -> None:
    sharded = make_sharded(2, 1)
    third = make_cluster(1)
    third.leader()
    new = add_group(ask, sharded.groups[0].nodes[0].address, f"extra={third.nodes[0].address}")
    assert new.epoch == 2 and new.groups[-1].name == "extra" and not new.groups[-1].ranges
    for node in [*sharded.nodes, third.nodes[0]]:
        wait_for(lambda n=node: _epoch(n.address) == 2, 10, f"{node.address} to install epoch 2")
    # The new group owns no slot: it sends every key elsewhere.
    with pytest.raises(redis.exceptions.MovedError):
        third.nodes[0].client(protocol=2).get("k")


def _epoch(address: str) -> int:
    m: SlotMap = current_map(ask, address)
    return m.epoch
