"""``--advertise-client``: a node binds one address and gives the cluster another, where clients reach it
(here a forwarder on a second address of its host, standing for a proxy or a NAT)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.netns.conftest import CLIENT_PORT, NsCluster, ns_client

pytestmark = [pytest.mark.netns, pytest.mark.integration]


def test_the_cluster_knows_nodes_by_their_advertised_client_addresses(make_cluster) -> None:
    cluster: NsCluster = make_cluster(3, advertised=True)
    advertised = sorted(f"{h.alias}:{CLIENT_PORT}" for h in cluster.hosts)
    assert sorted(n.address for n in cluster.nodes) == advertised
    for node in cluster.nodes:
        listed = json.loads(cluster.kvsctl(node.address, "member", "list", "--json"))
        assert sorted(m["client_addr"] for m in listed) == advertised
        assert cluster.raft_info(node)["leader_addr"] in advertised
    # The bound address serves too; only the advertised one is given to others.
    first = cluster.nodes[0]
    with ns_client(cluster.client_netns, f"{first.host}:{CLIENT_PORT}") as c:
        assert c.set("bound", "yes")

    # A follower relays an admin command to the leader at the leader's advertised address.
    leader = cluster.leader()
    follower, target = cluster.followers(leader)
    cluster.kvsctl(follower.address, "leader", "transfer", target.address)
    assert cluster.leader(among=[target]) is target
    with target.client() as c:
        assert c.get("bound") == b"yes"


def test_a_start_error_names_the_advertised_address(make_cluster, tmp_path) -> None:
    cluster: NsCluster = make_cluster(1, advertised=True)
    host = cluster.hosts[0]
    stray = f"{host.alias}:{CLIENT_PORT + 1}"
    done = subprocess.run(
        ["ip", "netns", "exec", host.netns, sys.executable, "-m", "raftkv.server_cli", "--host", host.ip,
         "--port", str(CLIENT_PORT + 1), "--advertise-client", stray, "--no-protected-mode",
         "--initial-cluster", cluster.nodes[0].address, "--data-dir", str(tmp_path / "stray")],
        capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert f"this node's address {stray} is not in --initial-cluster" in done.stderr, done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "raftkv.server_cli", "--advertise-client", "nowhere", "--data-dir",
         str(tmp_path / "bad")], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "bad address 'nowhere': expected host:port" in done.stderr, done.stderr
