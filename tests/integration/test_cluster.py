"""Three real nodes: any node serves any client, writes survive a dead leader, no read goes back in time."""
from __future__ import annotations

import os
import signal
import time

import pytest
import redis

from tests.integration.conftest import Cluster, wait_for

pytestmark = pytest.mark.integration


def write_keys(node, prefix: str, n: int) -> None:
    pipe = node.client(protocol=2).pipeline(transaction=False)
    for i in range(n):
        pipe.set(f"{prefix}:{i}", f"{prefix}-{i}")
    assert all(pipe.execute())


def read_keys(node, prefix: str, n: int) -> list[bytes | None]:
    pipe = node.client(protocol=2).pipeline(transaction=False)
    for i in range(n):
        pipe.get(f"{prefix}:{i}")
    return pipe.execute()


def expected(prefix: str, n: int) -> list[bytes]:
    return [f"{prefix}-{i}".encode() for i in range(n)]


def test_every_node_serves_reads_and_writes(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    for i, node in enumerate(cluster.nodes):
        write_keys(node, f"via{i}", 200)
    for node in cluster.nodes:
        for i in range(3):
            # A read on any node sees every write acknowledged before it started (ReadIndex).
            assert read_keys(node, f"via{i}", 200) == expected(f"via{i}", 200)
    infos = [cluster.raft_info(n) for n in cluster.nodes]
    assert sorted(i["role"] for i in infos) == ["follower", "follower", "leader"]
    assert {i["leader_addr"] for i in infos} == {leader.address}
    assert all(i["members"] == 3 for i in infos)
    leader_info = cluster.raft_info(leader)
    assert sum(1 for k in leader_info if k.startswith("member_")) == 3


def test_write_then_read_on_another_node_is_never_stale(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    a, b, c = (n.client(protocol=2) for n in cluster.nodes)
    for i in range(100):
        writer, reader = [(a, b), (b, c), (c, a)][i % 3]
        assert writer.set("counter", i)
        assert reader.get("counter") == str(i).encode()


def test_a_pipelined_connection_on_a_follower_keeps_its_order(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    follower = cluster.followers(cluster.leader())[0]
    pipe = follower.client(protocol=3).pipeline(transaction=False)
    for i in range(200):
        pipe.set("k", i)
        pipe.get("k")
    replies = pipe.execute()
    assert replies[1::2] == [str(i).encode() for i in range(200)]


def test_killing_the_leaders_raft_process_loses_no_acknowledged_write(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    survivor = cluster.followers(leader)[0]
    write_keys(leader, "before", 500)
    os.kill(leader.raft_pid(), signal.SIGKILL)
    killed_at = time.monotonic()
    old_term = cluster.raft_info(survivor)["term"]

    def new_leader() -> bool:
        return any(cluster.raft_info(n)["term"] > old_term and cluster.raft_info(n)["role"] == "leader"
                   for n in cluster.followers(leader))

    wait_for(new_leader, 10, "a new leader among the survivors", interval_s=0.05)
    assert time.monotonic() - killed_at < 3.0  # default timeouts: an election timeout of 1-2 s
    with survivor.client(protocol=2, socket_timeout=10) as c:
        wait_for(lambda: c.set("after", "1"), 20, "the new leader to accept writes")
    cluster.wait_caught_up()
    for node in cluster.nodes:
        assert read_keys(node, "before", 500) == expected("before", 500)


def test_a_paused_leader_serves_no_stale_read_after_it_resumes(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    old = cluster.leader()
    old_client = old.client(protocol=2, socket_timeout=20)
    assert old_client.set("x", "old")
    others = cluster.followers(old)
    old.signal_all(signal.SIGSTOP)
    try:
        new = cluster.leader(among=others)
        assert new is not old
        assert new.client(protocol=2).set("x", "new")
    finally:
        old.signal_all(signal.SIGCONT)
    # The old leader still believes it leads until it hears the new term; its read must not be stale.
    assert old_client.get("x") == b"new"
    cluster.wait_caught_up()
    assert cluster.raft_info(old)["role"] == "follower"


def test_a_restarted_node_catches_up(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    lagging = cluster.followers(leader)[0]
    lagging.stop()
    write_keys(leader, "while-down", 1000)
    lagging.start(wait=False)
    lagging.wait_ready()
    cluster.wait_caught_up()
    assert read_keys(lagging, "while-down", 1000) == expected("while-down", 1000)


def test_a_minority_answers_with_a_retryable_error_not_a_hang(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    alone = cluster.nodes[0]
    c = alone.client(protocol=2, socket_timeout=10)
    assert c.set("k", "v")
    paused = cluster.nodes[1:]
    for n in paused:
        n.signal_all(signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 15
        errors = []
        while time.monotonic() < deadline and len(errors) < 2:
            started = time.monotonic()
            try:
                c.set("k", "v2")
            except redis.ResponseError as exc:
                errors.append((str(exc), time.monotonic() - started))
        assert errors, "writes kept succeeding without a majority"
        for text, took in errors:
            assert text.startswith(("no leader", "the write was not committed")), text
            assert took < 8
        with pytest.raises(redis.ResponseError, match="no leader"):
            c.get("k")
    finally:
        for n in paused:
            n.signal_all(signal.SIGCONT)
    wait_for(lambda: c.get("k") in (b"v", b"v2"), 20, "the cluster to serve again")
