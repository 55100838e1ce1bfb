"""Snapshots and log compaction on real nodes: restart from one, catch up through one, join through one."""
from __future__ import annotations

import pytest

from tests.integration.conftest import Cluster, wait_for
from tests.integration.test_membership import Writer, all_acked_everywhere, raft

pytestmark = pytest.mark.integration

SNAPSHOT_EVERY = ["--snapshot-entries", "200"]


def digest(node) -> bytes:
    with node.client(protocol=2) as c:
        return c.execute_command("DEBUG", "DIGEST")


def fill(node, n: int, prefix: str = "k") -> None:
    pipe = node.client(protocol=2).pipeline(transaction=False)
    for i in range(n):
        pipe.set(f"{prefix}:{i % 700}", i)
        if i % 5 == 0:
            pipe.pexpireat(f"{prefix}:{i % 700}", 4102444800000 + i)
        if i % 11 == 0:
            pipe.delete(f"{prefix}:{(i * 7) % 700}")
    pipe.execute()


def test_restart_from_snapshot_and_tail_gives_the_same_map(make_node) -> None:
    node = make_node(extra_args=SNAPSHOT_EVERY)
    fill(node, 1500)
    c = node.client(protocol=2)
    wait_for(lambda: c.info("persistence")["snapshot_index"] > 0, 20, "a snapshot")
    info = c.info("persistence")
    assert info["log_first_index"] > 1, "the log was not compacted"
    before = digest(node)
    node.stop()
    node.start()
    assert digest(node) == before
    assert node.client(protocol=2).info("persistence")["snapshot_index"] >= info["snapshot_index"]


def test_a_node_that_was_down_during_compaction_catches_up_through_a_snapshot(make_cluster) -> None:
    cluster: Cluster = make_cluster(3, extra_args=SNAPSHOT_EVERY)
    leader = cluster.leader()
    lagging = cluster.followers(leader)[0]
    lagging.stop()
    fill(leader, 3000)
    wait_for(lambda: leader.client(protocol=2).info("persistence")["log_first_index"] > 1000, 20,
             "the leader to compact past what the stopped node has")
    lagging.start(wait=False)
    lagging.wait_ready()
    cluster.wait_caught_up()
    assert "installed snapshot" in lagging.log()
    assert len({digest(n) for n in cluster.nodes}) == 1


def test_a_new_learner_joins_through_a_snapshot_while_writes_go_on(make_node) -> None:
    first = make_node(workers=1, extra_args=SNAPSHOT_EVERY)
    fill(first, 2000)
    wait_for(lambda: first.client(protocol=2).info("persistence")["log_first_index"] > 1, 20, "compaction")
    joiner = make_node(workers=1, extra_args=["--join", first.address, *SNAPSHOT_EVERY])
    with Writer([first]) as writer:
        writer.wait_for_progress()
        assert raft(first, "MEMBER", "ADD", joiner.address, joiner.peer_address) == b"OK"
        writer.nodes.append(joiner)
        writer.wait_for_progress()
    all_acked_everywhere([first, joiner], writer.acked)
    assert "installed snapshot" in joiner.log()
    assert digest(first) == digest(joiner)


def test_a_lagging_node_catches_up_through_snapshots_while_leadership_moves(make_cluster) -> None:
    """Snapshot streams cut by leadership changes: the lagging node ends with the leaders' map, and no
    Raft process dies (a stale or half-sent snapshot once killed it on its next compaction)."""
    cluster: Cluster = make_cluster(3, extra_args=SNAPSHOT_EVERY)
    leader = cluster.leader()
    lagging = cluster.followers(leader)[0]
    lagging.stop()
    fill(leader, 3000)
    wait_for(lambda: leader.client(protocol=2).info("persistence")["log_first_index"] > 1000, 20,
             "the leader to compact past what the stopped node has")
    lagging.start(wait=False)
    others = [n for n in cluster.nodes if n is not lagging]
    for round_ in range(4):  # move leadership between the two others while the lagging node catches up
        current = cluster.leader(among=others)
        target = next(n for n in others if n is not current)
        assert raft(current, "LEADER", "TRANSFER", target.address) == b"OK"
        fill(target, 400, prefix=f"r{round_}")
    lagging.wait_ready()
    cluster.wait_caught_up()
    assert "installed snapshot" in lagging.log()
    assert len({digest(n) for n in cluster.nodes}) == 1
    for n in cluster.nodes:
        assert "raft process (pid" not in n.log(), n.log()[-3000:]
        assert "Traceback" not in n.log(), n.log()[-3000:]
