"""Hashes and sets through real nodes: redis-py in RESP2 and RESP3, Redis's bytes, transactions, expiry,
a restart from a snapshot, and a 3-node cluster whose nodes end with the same DEBUG DIGEST."""
from __future__ import annotations

import pytest
import redis

from tests.integration.conftest import Cluster, Node, assert_cases_match_redis, wait_for
from tests.kv.test_differential_types import HASH_CASES, SET_CASES
from tests.redis_server import redis_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def digest(node: Node) -> bytes:
    with node.client(protocol=2) as c:
        return c.execute_command("DEBUG", "DIGEST")


@pytest.mark.parametrize("protocol", [2, 3])
def test_hand_written_cases_match_redis_byte_for_byte(shared_node: Node, redis_server, protocol: int) -> None:
    assert_cases_match_redis(shared_node.port, redis_server, {**HASH_CASES, **SET_CASES}, protocol)


@pytest.mark.parametrize("protocol", [2, 3])
def test_hashes_through_redis_py(shared_node: Node, protocol: int) -> None:
    c = shared_node.client(protocol=protocol)
    key = f"user:{protocol}"
    c.delete(key)
    assert c.hset(key, mapping={"name": "ann", "visits": "1"}) == 2
    assert c.hset(key, "name", "bob") == 0
    assert c.hget(key, "name") == b"bob"
    assert c.hgetall(key) == {b"name": b"bob", b"visits": b"1"}
    assert c.hincrby(key, "visits", 4) == 5
    assert c.hincrbyfloat(key, "score", "0.1") == 0.1
    assert c.hmget(key, ["name", "nope"]) == [b"bob", None]
    assert c.hkeys(key) == [b"name", b"visits", b"score"] and c.hlen(key) == 3
    assert c.hexists(key, "score") and c.hstrlen(key, "name") == 3
    assert c.hsetnx(key, "name", "x") == 0
    assert c.hrandfield(key) in (b"name", b"visits", b"score")
    picked = c.hrandfield(key, 2, withvalues=True)
    assert len(picked) == (4 if protocol == 2 else 2)
    assert dict(c.hscan_iter(key)) == {b"name": b"bob", b"visits": b"5", b"score": b"0.1"}
    assert c.type(key) == b"hash" and c.object("encoding", key) == b"smalldict"
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        c.get(key)
    assert c.hdel(key, "name", "visits", "score") == 3 and c.exists(key) == 0


@pytest.mark.parametrize("protocol", [2, 3])
def test_sets_through_redis_py(shared_node: Node, protocol: int) -> None:
    c = shared_node.client(protocol=protocol)
    a, b, d = (f"{name}:{protocol}" for name in "abd")
    c.delete(a, b, d)
    assert c.sadd(a, "1", "2", "3", "x") == 4 and c.sadd(b, "2", "x", "y") == 3
    assert c.smembers(a) == {b"1", b"2", b"3", b"x"}
    assert c.sinter(a, b) == {b"2", b"x"} and c.sunion(a, b) == {b"1", b"2", b"3", b"x", b"y"}
    assert c.sdiff(a, b) == {b"1", b"3"} and c.sintercard(2, [a, b]) == 2
    assert c.sismember(a, "x") and c.smismember(a, ["x", "nope"]) == [1, 0]
    assert c.sinterstore(d, [a, b]) == 2 and c.smembers(d) == {b"2", b"x"}
    assert c.smove(a, d, "1") and c.scard(d) == 3
    popped = c.spop(a, 2)
    assert len(popped) == 2 and c.scard(a) == 1
    assert c.srandmember(b) in {b"2", b"x", b"y"} and len(c.srandmember(b, -5)) == 5
    assert set(c.sscan_iter(b)) == {b"2", b"x", b"y"}
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        c.hget(b, "f")
    assert c.type(b) == b"set" and c.object("encoding", b) == b"sortedset"


def test_transactions_watch_and_expiry_cover_hashes_and_sets(shared_node: Node) -> None:
    a, other = shared_node.client(protocol=3), shared_node.client(protocol=2)
    a.delete("tx:h", "tx:s")
    pipe = a.pipeline(transaction=True)
    pipe.hset("tx:h", "f", "1").hincrby("tx:h", "f", 2).sadd("tx:s", "m1", "m2").spop("tx:s").scard("tx:s")
    replies = pipe.execute()
    assert replies[:3] == [1, 3, 2] and replies[3] in (b"m1", b"m2") and replies[4] == 1
    with a.pipeline(transaction=True) as watched:
        watched.watch("tx:h")
        other.hset("tx:h", "g", "changed")
        watched.multi()
        watched.hset("tx:h", "f", "from-a")
        with pytest.raises(redis.WatchError):
            watched.execute()
    assert a.hget("tx:h", "f") == b"3"
    assert a.pexpire("tx:h", 200) and a.pttl("tx:h") > 0
    wait_for(lambda: a.exists("tx:h") == 0, 10, "the hash to expire")
    assert a.type("tx:h") == b"none"


def test_restart_from_a_snapshot_keeps_every_type(make_node) -> None:
    node = make_node(extra_args=["--snapshot-entries", "100"])
    c = node.client(protocol=2)
    pipe = c.pipeline(transaction=False)
    for i in range(400):
        pipe.hset(f"h:{i % 50}", f"f{i}", i)
        pipe.sadd(f"s:{i % 30}", i, f"m{i}")
        if i % 7 == 0:
            pipe.spop(f"s:{i % 30}")
        if i % 13 == 0:
            pipe.pexpireat(f"h:{i % 50}", 4102444800000 + i)
    pipe.execute()
    c.hset("big", mapping={f"f{i}": "v" * (i % 70) for i in range(300)})
    wait_for(lambda: c.info("persistence")["snapshot_index"] > 0, 20, "a snapshot")
    before = digest(node), c.hgetall("h:3"), c.smembers("s:4"), c.pexpiretime("h:0")
    node.stop()
    node.start()
    c = node.client(protocol=2)
    assert (digest(node), c.hgetall("h:3"), c.smembers("s:4"), c.pexpiretime("h:0")) == before
    assert c.object("encoding", "big") == b"sorteddict" and c.hlen("big") == 300


def test_every_node_of_a_cluster_pops_the_same_members(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    follower = cluster.followers(leader)[0]
    writers = [leader.client(protocol=2), follower.client(protocol=3)]
    for i in range(60):
        c = writers[i % 2]
        c.sadd("pool", *[f"m{i}-{j}" for j in range(5)])
        c.spop("pool", 2)
        c.spop("pool")
        c.hset("h", f"f{i % 9}", i)
        c.hincrbyfloat("h", "total", "0.5")
        c.sunionstore("copy", ["pool", "copy"])
        c.srem("copy", f"m{i // 2}-1")
    cluster.wait_caught_up()
    digests = {digest(n) for n in cluster.nodes}
    assert len(digests) == 1, digests
    members = {frozenset(n.client(protocol=2).smembers("pool")) for n in cluster.nodes}
    assert len(members) == 1
