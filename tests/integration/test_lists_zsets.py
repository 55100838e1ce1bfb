"""Lists and sorted sets through real nodes: Redis's bytes, redis-py in both protocols, a 3-node cluster."""
from __future__ import annotations

import pytest

from tests.integration.conftest import Cluster, Node, assert_cases_match_redis
from tests.kv.test_differential_lists_zsets import CASES
from tests.redis_server import redis_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def test_hand_written_cases_match_redis_byte_for_byte(shared_node: Node, redis_server) -> None:
    assert_cases_match_redis(shared_node.port, redis_server, CASES)


def _pairs(reply: list) -> list[tuple[bytes, float]]:
    """WITHSCORES pairs as redis-py gives them in either protocol (tuples or lists), scores rounded."""
    return [(member, round(score, 9)) for member, score in reply]


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_reads_lists_and_sorted_sets(shared_node: Node, protocol: int) -> None:
    c = shared_node.client(protocol=protocol)
    c.flushall()
    assert c.rpush("q", "a", "b", "c") == 3
    assert c.lpush("q", "z") == 4
    assert c.lrange("q", 0, -1) == [b"z", b"a", b"b", b"c"]
    assert c.lpop("q", 2) == [b"z", b"a"]
    assert c.lmove("q", "r", "RIGHT", "LEFT") == b"c"
    assert c.lmpop(2, "nothing", "q", direction="LEFT") == [b"q", [b"b"]]
    assert c.exists("q") == 0
    assert c.zadd("board", {"ann": 1.5, "bob": 3, "cy": 2}) == 3
    assert c.zscore("board", "ann") == 1.5
    assert c.zincrby("board", 0.1, "ann") == pytest.approx(1.6)
    assert _pairs(c.zrange("board", 0, -1, withscores=True)) == [(b"ann", 1.6), (b"cy", 2.0), (b"bob", 3.0)]
    assert c.zrange("board", "(2", "+inf", byscore=True) == [b"bob"]
    assert c.zrevrank("board", "ann") == 2
    assert _pairs(c.zpopmin("board", 1)) == [(b"ann", 1.6)]
    assert c.zmscore("board", ["bob", "nobody"]) == [3.0, None]
    assert _pairs(c.zunion(["board", "board"], withscores=True)) == [(b"cy", 4.0), (b"bob", 6.0)]
    pipe = c.pipeline(transaction=True)
    pipe.rpush("t", "x").zadd("tz", {"m": 1}).lrange("t", 0, -1).zrange("tz", 0, -1, withscores=True)
    replies = pipe.execute()
    assert replies[:3] == [1, 1, [b"x"]] and _pairs(replies[3]) == [(b"m", 1.0)]


def test_every_node_of_a_cluster_holds_the_same_lists_and_sorted_sets(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    for i, member in enumerate(cluster.nodes):
        c = member.client(protocol=2 + i % 2)  # followers forward the writes
        c.rpush("jobs", *[f"{i}:{j}" for j in range(50)])
        c.zadd("scores", {f"{i}:{j}": j * 0.1 for j in range(50)})
        c.lpop("jobs", 3)
        c.zpopmax("scores", 2)
        c.ltrim("jobs", 0, 100)
    cluster.wait_caught_up()
    digests = {n.client(protocol=2).execute_command("DEBUG", "DIGEST") for n in cluster.nodes}
    assert len(digests) == 1
    for n in cluster.nodes:
        c = n.client(protocol=2)
        assert c.llen("jobs") == 101 and c.zcard("scores") == 144
