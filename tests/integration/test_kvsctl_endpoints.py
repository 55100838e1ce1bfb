"""``kvsctl endpoint status|health`` against a real three-node cluster, with a dead endpoint first."""
from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import Cluster, Node, wait_for
from tests.integration.test_kvsctl import dead_address, kvsctl

pytestmark = pytest.mark.integration

REMOVAL_TIMEOUT_S = 30.0


def info(node: Node) -> dict[str, Any]:
    with node.client(protocol=2, socket_timeout=5) as client:
        return client.info("everything")


def endpoints(*nodes: Node, dead: str | None = None) -> str:
    return ",".join([*([dead] if dead else []), *(n.address for n in nodes)])


def test_status_json_and_table(make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    with leader.client(protocol=2) as client:
        client.mset({"a": 1, "b": 2, "c": 3})
    cluster.wait_caught_up()
    dead = dead_address()

    result = kvsctl("--endpoints", endpoints(*cluster.nodes, dead=dead), "endpoint", "status", "--json")
    assert (result.returncode, result.stderr) == (1, "kvsctl: no status from 1 of 4 endpoints\n")
    down, *rows = json.loads(result.stdout)
    assert down == {"endpoint": dead, "error": f"cannot reach {dead}: connection refused"}
    for node, row in zip(cluster.nodes, rows):
        fields = info(node)
        assert row["endpoint"] == node.address
        assert row["id"] == fields["node_id"]
        assert row["version"] == fields["raftkv_version"]
        for name in ("role", "membership", "term", "leader_id", "leader_addr", "commit_index", "applied_index",
                     "last_log_index", "log_entries", "snapshot_size", "data_dir"):
            assert row[name] == fields[name], name
        assert row["keys"] == fields["db0"]["keys"] == 3
        assert (row["lag"], row["error"]) == (0, None)
    assert [row["role"] == "leader" for row in rows] == [n is leader for n in cluster.nodes]

    # The leader is not among the endpoints: the lag is measured against the leader they name.
    followers = cluster.followers(leader)
    table = kvsctl("--endpoints", endpoints(*followers), "endpoint", "status")
    assert (table.returncode, table.stderr) == (0, "")
    header, *lines = table.stdout.splitlines()
    assert header.split()[:6] == ["ENDPOINT", "ID", "VERSION", "ROLE", "LEADER", "TERM"]
    assert len(lines) == 2
    for node, line in zip(followers, lines):
        cells = line.split()
        assert cells[:5] == [node.address, str(info(node)["node_id"]), "0.1.0", "follower", leader.address]
        assert cells[9:] == ["0", str(info(node)["log_entries"]), "0", "3", "-"]


def test_health_of_a_cluster_a_dead_endpoint_and_a_removed_node(make_cluster: Any) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    everyone = endpoints(*cluster.nodes)

    healthy = kvsctl("--endpoints", everyone, "endpoint", "health", "-w", "json")
    assert (healthy.returncode, healthy.stderr) == (0, "")
    rows = json.loads(healthy.stdout)
    assert [(r["endpoint"], r["healthy"], r["error"]) for r in rows] == [(n.address, True, None) for n in cluster.nodes]
    assert all(r["took_ms"] >= 0 for r in rows)

    dead = dead_address()
    table = kvsctl("--endpoints", endpoints(*cluster.nodes, dead=dead), "endpoint", "health")
    assert (table.returncode, table.stderr) == (1, "kvsctl: 1 of 4 endpoints unhealthy\n")
    header, *lines = table.stdout.splitlines()
    assert header.split() == ["ENDPOINT", "HEALTHY", "TOOK", "ERROR"]
    assert lines[0].split()[:2] == [dead, "no"]
    assert lines[0].endswith(f"cannot reach {dead}: connection refused")
    assert [line.split()[:2] for line in lines[1:]] == [[n.address, "yes"] for n in cluster.nodes]

    gone = cluster.followers(leader)[0]
    removal = kvsctl("--endpoints", endpoints(leader, dead=dead), "member", "remove", gone.address)
    assert (removal.returncode, removal.stdout) == (0, "OK\n"), removal.stderr
    wait_for(lambda: info(gone)["membership"] == "removed", REMOVAL_TIMEOUT_S, f"{gone.address} to know it is removed")
    removed = kvsctl("-a", gone.address, "endpoint", "health", "--json")
    assert (removed.returncode, removed.stderr) == (1, "kvsctl: 1 of 1 endpoints unhealthy\n")
    [row] = json.loads(removed.stdout)
    assert (row["healthy"], row["error"]) == (False, f"{gone.address} was removed from the cluster")


def test_status_and_health_with_a_password(make_node: Any) -> None:
    node = make_node(extra_args=["--requirepass", "s3cret"], start=False)
    node.start(wait=False)
    wait_for(lambda: node.client(protocol=2, password="s3cret").get("__ready__") is None, 30, "the node")

    status = kvsctl("-a", node.address, "--password", "s3cret", "endpoint", "status", "--json")
    assert (status.returncode, status.stderr) == (0, "")
    assert json.loads(status.stdout)[0]["role"] == "leader"
    health = kvsctl("-a", node.address, "--password", "s3cret", "endpoint", "health", "--json")
    assert (health.returncode, json.loads(health.stdout)[0]["healthy"]) == (0, True)

    wrong = kvsctl("-a", node.address, "--password", "nope", "endpoint", "health", "--json")
    assert wrong.returncode == 1
    assert json.loads(wrong.stdout)[0]["error"].startswith(f"{node.address} refused AUTH: WRONGPASS")
    none = kvsctl("-a", node.address, "endpoint", "status")
    assert none.returncode == 1
    assert f"{node.address} refused INFO: NOAUTH Authentication required." in none.stdout
