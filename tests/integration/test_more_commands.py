"""TOUCH, SUBSTR, LCS, TIME, MOVE, SWAPDB, SORT, SORT_RO, DUMP and RESTORE through real nodes: Redis's bytes
in both protocols, redis-py's calls, COMMAND's metadata, and a 3-node cluster applying the writes alike."""
from __future__ import annotations

import time

import pytest

from raftkv.kv.table import TABLE
from tests.integration.conftest import Cluster, Node, assert_cases_match_redis
from tests.kv.test_differential_more_commands import CASES
from tests.redis_server import RedisConnection, redis_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

NEW = ["touch", "substr", "lcs", "time", "move", "swapdb", "sort", "sort_ro", "dump", "restore"]


@pytest.mark.parametrize("protocol", [2, 3])
def test_hand_written_cases_match_redis_byte_for_byte(shared_node: Node, redis_server, protocol: int) -> None:
    # One call per case: each opens new connections, and Redis's accept() then clears the errno that its
    # SORT reads without clearing (tests/kv/test_differential_more_commands.py).
    for name, commands in CASES.items():
        assert_cases_match_redis(shared_node.port, redis_server, {name: commands}, protocol)


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_calls_them(shared_node: Node, protocol: int) -> None:
    c = shared_node.client(protocol=protocol)
    c.flushall()
    c.rpush("ids", 3, 1, 2)
    c.mset({"w_1": 30, "w_2": 10, "w_3": 20, "o_1": "one", "o_2": "two", "o_3": "three"})
    assert c.sort("ids") == [b"1", b"2", b"3"]
    assert c.sort("ids", by="w_*", get=["#", "o_*"]) == [b"2", b"two", b"3", b"three", b"1", b"one"]
    assert c.sort("ids", start=0, num=2, desc=True, store="top") == 2
    assert c.lrange("top", 0, -1) == [b"3", b"2"]
    assert c.sort_ro("ids", by="w_*", alpha=True) == [b"2", b"3", b"1"]
    c.mset({"a": "ohmytext", "b": "mynewtext"})
    assert c.lcs("a", "b") == b"mytext"
    assert c.lcs("a", "b", len=True) == 6
    assert c.touch("a", "b", "nokey") == 2
    assert c.substr("a", 2, 3) == b"my"
    seconds, micros = c.time()
    assert abs(seconds + micros / 1e6 - time.time()) < 5
    payload = c.dump("ids")
    assert c.restore("copy", 0, payload) == b"OK"
    assert c.lrange("copy", 0, -1) == [b"3", b"1", b"2"]
    assert c.object("refcount", "copy") == 1


def test_time_inside_a_transaction_is_the_leader_s_clock(shared_node: Node) -> None:
    c = shared_node.client(protocol=2)
    pipe = c.pipeline(transaction=True)
    pipe.time().set("k", "v").time()
    first, _ok, second = pipe.execute()
    assert first == second  # one entry, one time
    assert abs(first[0] - time.time()) < 5


def test_command_describes_every_new_command_as_redis_does(shared_node: Node, redis_server) -> None:
    ours, theirs = RedisConnection(shared_node.port), redis_server.connect()
    try:
        for name in NEW:
            mine = ours.call([b"COMMAND", b"INFO", name.encode()])[1][0]
            real = theirs.call([b"COMMAND", b"INFO", name.encode()])[1][0]
            assert mine[:6] == real[:6], name  # name, arity, flags, first key, last key, step
            docs = ours.call([b"COMMAND", b"DOCS", name.encode()])[1]
            assert docs[1][1] == TABLE[name.encode()].summary.encode(), name
        count = ours.call([b"COMMAND", b"COUNT"])[1]
        assert count == len(TABLE)
        listed = set(ours.call([b"COMMAND", b"LIST"])[1])
        assert {n.encode() for n in NEW} <= listed
    finally:
        ours.close()
        theirs.close()


def test_every_node_of_a_cluster_applies_sort_store_and_restore_alike(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    for i, member in enumerate(cluster.nodes):
        c = member.client(protocol=2 + i % 2)  # followers forward the writes
        c.sadd(f"s{i}", *range(20))
        c.set(f"w_{i}", i)
        c.sort(f"s{i}", by="nosort", store=f"sorted{i}")
        c.restore(f"copy{i}", 60_000, c.dump(f"s{i}"))
    cluster.wait_caught_up()
    digests = {n.client(protocol=2).execute_command("DEBUG", "DIGEST") for n in cluster.nodes}
    assert len(digests) == 1
    for n in cluster.nodes:
        c = n.client(protocol=2)
        assert c.lrange("sorted2", 0, 2) == [b"0", b"1", b"10"]  # a stored set is sorted ALPHA
        assert c.scard("copy1") == 20 and 0 < c.pttl("copy1") <= 60_000
