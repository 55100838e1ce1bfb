"""WAIT under Raft and INFO memory, through real nodes."""
from __future__ import annotations

import pytest

from tests.integration.conftest import Cluster, Node, assert_cases_match_redis
from tests.redis_server import redis_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

CASES: dict[str, list[tuple[object, ...]]] = {
    "a lone node has no other voters": [("SET", "k", "v"), ("WAIT", "0", "0"), ("WAIT", "1", "10")],
    "errors": [("WAIT", "x", "0"), ("WAIT", "0", "x"), ("WAIT", "0", "-1"), ("WAIT", "0")],
}


@pytest.mark.parametrize("protocol", [2, 3])
def test_wait_on_one_node_matches_redis_without_replicas(shared_node: Node, redis_server, protocol: int) -> None:
    assert_cases_match_redis(shared_node.port, redis_server, CASES, protocol)


def test_wait_counts_the_other_voters_holding_the_writes(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    with leader.client(protocol=2) as c:
        c.set("k", "v")
        assert c.wait(2, 1000) == 2  # both followers have acknowledged every committed write
    follower = next(n for n in cluster.nodes if n is not leader)
    with follower.client(protocol=2) as c:
        c.set("k2", "v")
        assert c.wait(2, 1000) == 1  # a follower knows the majority the commit proves


def test_info_memory_reports_the_key_space_s_growth(shared_node: Node) -> None:
    c = shared_node.client(protocol=2)
    before = c.info("memory")
    assert before["maxmemory_policy"] == "noeviction" and before["used_memory"] > 0
    assert before["used_memory_human"].endswith(("B", "K", "M", "G"))
    c.flushall()
    pipe = c.pipeline(transaction=False)
    for i in range(20_000):
        pipe.set(f"mem:{i}", "x" * 100)
    pipe.execute()
    after = c.info("memory")
    assert after["used_memory_dataset"] >= before["used_memory_dataset"] + 20_000 * 100
    assert after["keys_bytes_avg"] >= 100
    c.flushall()
