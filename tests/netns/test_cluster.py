"""A cluster whose nodes each have a network namespace and an address of their own: forming, clients on
every node, members added and removed by address, leadership transfer, a restart keeping its data."""
from __future__ import annotations

import json

import pytest

from tests.integration.conftest import wait_for
from tests.netns.conftest import CLIENT_PORT, NsCluster

pytestmark = [pytest.mark.netns, pytest.mark.integration]


def members(cluster: NsCluster, address: str) -> list[dict]:
    return json.loads(cluster.kvsctl(address, "member", "list", "--json"))


def test_three_nodes_form_a_cluster_and_serve_clients_on_every_address(make_cluster) -> None:
    cluster = make_cluster(3, workers=2)
    addresses = sorted(node.address for node in cluster.nodes)
    assert len({a.split(":")[0] for a in addresses}) == 3  # three hosts, one port
    for i, node in enumerate(cluster.nodes):
        with node.client(protocol=2) as c:
            assert c.set(f"k{i}", node.address)
    for node in cluster.nodes:
        with node.client(protocol=3) as c:
            assert [c.get(f"k{i}") for i in range(3)] == [n.address.encode() for n in cluster.nodes]
    listed = members(cluster, cluster.nodes[1].address)
    assert sorted(m["client_addr"] for m in listed) == addresses
    assert sorted(m["peer_addr"] for m in listed) == sorted(f"{n.host}:12317" for n in cluster.nodes)
    info = cluster.raft_info(cluster.nodes[0])
    assert info["leader_addr"] in addresses, info


def test_members_are_added_removed_and_lead_by_address(make_cluster) -> None:
    cluster = make_cluster(3)
    first = cluster.nodes[0]
    with first.client() as c:
        c.set("before", "joined")
    joiner = cluster.add_node("n3", ["--join", first.address])
    joiner.wait_ready()
    cluster.kvsctl(first.address, "member", "add", joiner.address)
    wait_for(lambda: {m["client_addr"]: m["role"] for m in members(cluster, first.address)}.get(joiner.address)
             == "voter", 30.0, f"{joiner.address} to be promoted to voter")
    with joiner.client() as c:
        assert wait_for(lambda: c.get("before"), 15.0, "the joiner to serve the data") == b"joined"

    cluster.kvsctl(first.address, "leader", "transfer", joiner.address)
    assert cluster.leader(among=[joiner]) is joiner
    wait_for(lambda: cluster.raft_info(first)["leader_addr"] == joiner.address, 15.0,
             f"{first.address} to name {joiner.address} as leader")

    leaving = cluster.nodes[1]
    cluster.kvsctl(joiner.address, "member", "remove", leaving.address)
    wait_for(lambda: leaving.address not in {m["client_addr"] for m in members(cluster, joiner.address)}, 15.0,
             f"{leaving.address} to leave the member list")
    with leaving.client() as c:
        assert wait_for(lambda: _refusal(c), 15.0, "the removed node to refuse clients")
    with first.client() as c:
        assert c.set("after", "removed")


def _refusal(client) -> bool:
    try:
        client.get("before")
    except Exception as exc:  # the refusal is the reply we wait for
        return "removed from the cluster" in str(exc)
    return False


def test_a_node_restarted_at_its_address_keeps_its_data(make_cluster) -> None:
    cluster = make_cluster(3)
    node = cluster.leader()  # the others elect a new leader while it is down
    with node.client() as c:
        c.mset({f"key{i}": f"v{i}" for i in range(100)})
    node.stop()
    with cluster.followers(node)[0].client(socket_timeout=5) as c:
        # A SET repeated is the same SET: retried until the others have a leader.
        wait_for(lambda: c.set("while-down", "1"), 20.0, "a write while the old leader is down")
    node.start()
    assert node.address.endswith(f":{CLIENT_PORT}")
    with node.client() as c:
        assert c.mget([f"key{i}" for i in range(100)]) == [f"v{i}".encode() for i in range(100)]
        assert c.get("while-down") == b"1"
