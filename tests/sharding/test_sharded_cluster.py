"""A 2-group deployment of real nodes (3 per group): Redis Cluster clients route through it, and every
node answers the CLUSTER commands in Redis's formats."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest
import redis
from redis.cluster import RedisCluster
from redis.exceptions import MovedError

from raftkv.sharding.slots_pure import key_slot
from raftkv.sharding.state import node_id
from tests.integration.conftest import wait_for
from tests.sharding.conftest import Sharded

pytestmark = pytest.mark.integration


def owned_key(sharded: Sharded, group: int, prefix: str = "k") -> str:
    """A key whose slot belongs to ``group`` (kvsctl create gives group 0 the lower half)."""
    low = group == 0
    return next(f"{prefix}{i}" for i in range(1000) if (key_slot(f"{prefix}{i}".encode()) < 8192) == low)


@pytest.fixture
def sharded(make_sharded: Callable[..., Sharded]) -> Sharded:
    return make_sharded(2, 3)


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_cluster_client_writes_and_reads_across_both_groups(sharded: Sharded, protocol: int) -> None:
    rc = RedisCluster(startup_nodes=sharded.startup_nodes(), protocol=protocol, socket_timeout=10)
    try:
        for i in range(200):
            assert rc.set(f"key:{i}", f"v{i}")
        for i in range(200):
            assert rc.get(f"key:{i}") == f"v{i}".encode()
        assert rc.mset_nonatomic({"{t}a": "1", "{t}b": "2"}) is not None
        assert rc.mget("{t}a", "{t}b") == [b"1", b"2"]
    finally:
        rc.close()
    # Each group holds only its own keys, about half of them.
    sizes = [g.nodes[0].client(protocol=2).execute_command("DBSIZE") for g in sharded.groups]
    assert sum(sizes) == 202 and min(sizes) > 50


def test_redis_cli_follows_moved(sharded: Sharded) -> None:
    first = sharded.groups[0].nodes[0]
    key = owned_key(sharded, 1)

    def cli(*args: str) -> str:
        return subprocess.run(["redis-cli", "-c", "-p", str(first.port), *args], capture_output=True, text=True,
                              timeout=20, check=True).stdout.strip()

    assert cli("SET", key, "there") == "OK"
    assert cli("GET", key) == "there"
    assert sharded.groups[1].nodes[1].client(protocol=2).get(key) == b"there"


def test_moved_and_crossslot_replies(sharded: Sharded) -> None:
    g1, g2 = sharded.groups
    c = g1.nodes[1].client(protocol=2)  # a follower: it serves its group's slots too
    mine, theirs = owned_key(sharded, 0), owned_key(sharded, 1)
    assert c.set(mine, "here")
    assert c.get(mine) == b"here"
    with pytest.raises(MovedError) as moved:
        c.get(theirs)
    assert moved.value.slot_id == key_slot(theirs.encode())
    assert f"{moved.value.host}:{moved.value.port}" in [n.address for n in g2.nodes]
    # The address is the other group's leader once the poller has found it.
    leader = g2.leader().address
    wait_for(lambda: _moved_to(c, theirs) == leader, 10, "MOVED to name the other group's leader")
    with pytest.raises(redis.ResponseError, match="Keys in request don't hash to the same slot"):
        c.mset({mine: "1", theirs: "2"})
    assert c.ping() and c.dbsize() >= 1  # keyless commands are served anywhere


def _moved_to(c: redis.Redis, key: str) -> str:
    try:
        c.get(key)
    except MovedError as exc:
        return f"{exc.host}:{exc.port}"
    return ""


@pytest.mark.parametrize("protocol", [2, 3])
def test_cluster_commands_parsed_by_redis_py(sharded: Sharded, protocol: int) -> None:
    g1, g2 = sharded.groups
    node = g1.nodes[2]
    leaders = [g1.leader().address, g2.leader().address]
    rc = RedisCluster(startup_nodes=sharded.startup_nodes(), protocol=protocol, socket_timeout=10)
    try:
        target = rc.get_node("127.0.0.1", node.port)
        wait_for(lambda: rc.cluster_slots(target)[(8192, 16383)]["primary"] == ("127.0.0.1", g2.leader().port),
                 10, "CLUSTER SLOTS to name the leader of the other group")
        slots = rc.cluster_slots(target)
        assert set(slots) == {(0, 8191), (8192, 16383)}
        assert slots[(0, 8191)]["primary"] == ("127.0.0.1", g1.leader().port)
        assert sorted(slots[(0, 8191)]["replicas"]) == sorted(("127.0.0.1", n.port) for n in g1.nodes
                                                             if n.address != leaders[0])
        nodes = rc.execute_command("CLUSTER NODES", target_nodes=target)
        assert set(nodes) == {n.address for n in sharded.nodes}
        me = nodes[node.address]
        assert "myself" in me["flags"] and me["node_id"] == node_id(node.address)
        assert nodes[leaders[1]]["flags"] == "master" and nodes[leaders[1]]["slots"] == [["8192", "16383"]]
        replica = next(n for n in g2.nodes if n.address != leaders[1]).address
        assert nodes[replica]["flags"] == "slave" and nodes[replica]["master_id"] == node_id(leaders[1])
        shards = rc.cluster_shards(target)
        assert sorted(_ranges(_text(s, "slots")) for s in shards) == [[(0, 8191)], [(8192, 16383)]]
        for shard in shards:
            assert sorted(_text(n, "role") for n in _text(shard, "nodes")) == ["master", "replica", "replica"]
        info = rc.cluster_info(target)
        assert info["cluster_state"] == "ok" and int(info["cluster_slots_assigned"]) == 16384
        assert int(info["cluster_known_nodes"]) == 6 and int(info["cluster_size"]) == 2
        assert _as_str(rc.cluster_myid(target)) == node_id(node.address)
        assert rc.cluster_keyslot("{user1000}.following") == key_slot(b"user1000")
        key = owned_key(sharded, 0, "slotkey")
        assert rc.set(key, "1")
        slot = key_slot(key.encode())
        assert rc.cluster_countkeysinslot(slot) == 1
        assert [_as_str(k) for k in rc.cluster_get_keys_in_slot(slot, 10)] == [key]
    finally:
        rc.close()
    c = node.client(protocol=protocol)
    assert c.info("cluster") == {"cluster_enabled": 1}
    with pytest.raises(redis.ResponseError, match="unknown subcommand"):
        c.execute_command("CLUSTER", "ADDSLOTS", "1")


def _as_str(value: object) -> object:
    return value.decode() if isinstance(value, bytes) else value


def _ranges(value: object) -> list[tuple[int, int]]:
    """CLUSTER SHARDS slots as redis-py gives them: (start, end) pairs, or the flat list of the reply."""
    assert isinstance(value, list)
    if value and isinstance(value[0], int):
        return list(zip(value[::2], value[1::2]))
    return [tuple(r) for r in value]


def _text(mapping: dict, name: str) -> object:
    """A CLUSTER SHARDS field, whether redis-py left its names and values as bytes or not."""
    value = mapping.get(name, mapping.get(name.encode()))
    return _as_str(value)


def test_kvsctl_cluster_status(sharded: Sharded) -> None:
    address = sharded.groups[1].nodes[0].address
    out = subprocess.run([sys.executable, "-m", "kvsctl", "-a", address, "cluster", "status", "--json"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    rows = json.loads(out)
    assert [r["group"] for r in rows] == ["g1", "g2"]
    assert [r["slots"] for r in rows] == ["0-8191", "8192-16383"]
    assert all(r["leader"] in r["members"] for r in rows)
    table = subprocess.run([sys.executable, "-m", "kvsctl", "-a", address, "cluster", "status"],
                           capture_output=True, text=True, timeout=30, check=True).stdout
    assert table.splitlines()[0].split()[:4] == ["GROUP", "LEADER", "SLOTS", "COUNT"]


def test_redis_benchmark_cluster(sharded: Sharded) -> None:
    first = sharded.groups[0].nodes[0]
    run = subprocess.run(["redis-benchmark", "--cluster", "-p", str(first.port), "-t", "set,get", "-n", "4000",
                          "-c", "20", "-q"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "SET:" in run.stdout and "GET:" in run.stdout, run.stdout + run.stderr
    assert "error" not in (run.stdout + run.stderr).lower()
