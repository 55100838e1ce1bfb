"""Blocking pops through real nodes: served in the order clients blocked, each element once, timeouts,
CLIENT UNBLOCK, closed waiters, MULTI, replies byte for byte against redis-server, and a 3-node cluster
with waiters on every node across a leader change."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis

from tests.integration.conftest import Cluster, Node, assert_cases_match_redis, wait_for
from tests.redis_server import redis_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

# Replies that do not wait: data is there, or the arguments are wrong (timeouts of 0.01 s where they
# would wait, so that the reference server times out at once too).
CASES: dict[str, list[tuple[object, ...]]] = {
    "lists": [("RPUSH", "a", "1", "2", "3"), ("BLPOP", "none", "a", "0"), ("BRPOP", "a", "none", "1.5"),
              ("BLMOVE", "a", "b", "LEFT", "RIGHT", "0"), ("BRPOPLPUSH", "b", "a", "0"),
              ("BLMPOP", "0", "2", "none", "a", "RIGHT", "COUNT", "5"), ("EXISTS", "a"),
              ("BLPOP", "a", "0.01"), ("BLMOVE", "a", "b", "LEFT", "LEFT", "0.01"),
              ("BLMPOP", "0.01", "1", "a", "LEFT")],
    "sorted sets": [("ZADD", "z", "1", "a", "2.5", "b", "3", "c"), ("BZPOPMIN", "none", "z", "0"),
                    ("BZPOPMAX", "z", "0"), ("BZMPOP", "0", "1", "z", "MIN", "COUNT", "9"),
                    ("BZPOPMIN", "z", "0.01"), ("BZMPOP", "0.01", "1", "z", "MAX")],
    "errors": [("SET", "s", "x"), ("BLPOP", "s", "0"), ("BLPOP", "none", "s", "0"), ("BZPOPMIN", "s", "0"),
               ("BLPOP", "a", "-1"), ("BLPOP", "a", "soon"), ("BLPOP", "a"), ("BLMOVE", "a", "b", "UP", "LEFT", "0"),
               ("BLMOVE", "s", "b", "LEFT", "LEFT", "0"), ("BLMPOP", "0", "0", "a", "LEFT"),
               ("BLMPOP", "0", "1", "a", "MIDDLE"), ("BZMPOP", "x", "1", "z", "MIN"), ("BLPOP", "s", "-1"),
               ("RPUSH", "l", "v"), ("BLMOVE", "l", "s", "LEFT", "LEFT", "0"), ("LLEN", "l"),
               ("CLIENT", "UNBLOCK", "abc"), ("CLIENT", "UNBLOCK", "1", "LATER"), ("CLIENT", "UNBLOCK", "99999")],
    "inside MULTI a blocking pop answers at once": [
        ("MULTI",), ("BLPOP", "empty", "0"), ("RPUSH", "q", "x"), ("BRPOP", "q", "0"), ("BZPOPMIN", "zz", "0"),
        ("BLMOVE", "empty", "q", "LEFT", "LEFT", "0"), ("EXEC",)],
}


@pytest.mark.parametrize("protocol", [2, 3])
def test_replies_match_redis_byte_for_byte(shared_node: Node, redis_server, protocol: int) -> None:
    assert_cases_match_redis(shared_node.port, redis_server, CASES, protocol)


def blocked_count(node: Node) -> int:
    with node.client(protocol=2) as c:
        return int(c.info("clients")["blocked_clients"])


class Waiter(threading.Thread):
    """One client blocked in a call on its own connection; ``result`` once it returns."""

    def __init__(self, node: Node, call: Callable[[redis.Redis], object], protocol: int = 2) -> None:
        super().__init__(daemon=True)
        self.client = node.client(protocol=protocol, socket_timeout=30)
        self.client_id = self.client.client_id()
        self.call = call
        self.result: object = None
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            self.result = self.call(self.client)
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            self.error = exc

    def outcome(self) -> object:
        self.join(30)
        assert not self.is_alive(), "the blocked call never returned"
        if self.error is not None:
            raise self.error
        return self.result


def block(node: Node, call: Callable[[redis.Redis], object], protocol: int = 2,
          also_blocked: int = 0) -> Waiter:
    """Start ``call`` and wait until the node counts it as blocked (``also_blocked`` others already are)."""
    waiter = Waiter(node, call, protocol)
    waiter.start()
    wait_for(lambda: blocked_count(node) == also_blocked + 1, 10, "the client to block")
    return waiter


@pytest.mark.parametrize("protocol", [2, 3])
def test_clients_are_served_in_the_order_they_blocked(shared_node: Node, protocol: int) -> None:
    c = shared_node.client(protocol=protocol)
    c.delete("jobs")
    waiters = [block(shared_node, lambda r: r.blpop(["other", "jobs"], 0), protocol, also_blocked=i)
               for i in range(3)]
    assert c.rpush("jobs", "j1", "j2") == 2
    assert waiters[0].outcome() == (b"jobs", b"j1") if protocol == 2 else [b"jobs", b"j1"]
    assert waiters[1].outcome() in ((b"jobs", b"j2"), [b"jobs", b"j2"])
    wait_for(lambda: blocked_count(shared_node) == 1, 10, "two clients served")
    c.lpush("other", "o1")
    assert waiters[2].outcome() in ((b"other", b"o1"), [b"other", b"o1"])
    assert c.exists("jobs", "other") == 0


def test_every_blocking_pop_is_served_by_the_write_that_fills_its_key(shared_node: Node) -> None:
    c = shared_node.client(protocol=3)
    c.delete("src", "dst", "z", "zm")
    move = block(shared_node, lambda r: r.blmove("src", "dst", 0, "LEFT", "RIGHT"))
    rpl = block(shared_node, lambda r: r.brpoplpush("src", "dst", 0), also_blocked=1)
    mpop = block(shared_node, lambda r: r.blmpop(0, 1, "src", direction="RIGHT", count=5), also_blocked=2)
    bz = block(shared_node, lambda r: r.bzpopmax("z", 0), protocol=3, also_blocked=3)
    bzm = block(shared_node, lambda r: r.bzmpop(0, 1, ["zm"], min=True, count=2), protocol=3, also_blocked=4)
    c.rpush("src", "a", "b", "c", "d")
    assert move.outcome() == b"a" and rpl.outcome() == b"d" and mpop.outcome() == [b"src", [b"c", b"b"]]
    assert c.lrange("dst", 0, -1) == [b"d", b"a"]
    c.zadd("z", {"m": 2.5, "n": 1})
    assert bz.outcome() == [b"z", b"m", 2.5]
    c.zadd("zm", {"x": 1, "y": 2, "w": 3})
    assert bzm.outcome() == [b"zm", [[b"x", 1.0], [b"y", 2.0]]]


def test_a_timeout_answers_null_after_the_timeout(shared_node: Node) -> None:
    c = shared_node.client(protocol=2)
    started = time.monotonic()
    assert c.blpop(["never"], 0.3) is None
    assert time.monotonic() - started >= 0.3
    assert c.bzpopmin("never", 0.2) is None
    c.rpush("never", "late")  # nobody waits any more: the element stays
    assert c.lpop("never") == b"late"


def test_client_unblock_answers_the_timeout_reply_or_an_error(shared_node: Node) -> None:
    c = shared_node.client(protocol=2)
    quiet = block(shared_node, lambda r: r.brpop(["nothing"], 0))
    assert c.client_unblock(quiet.client_id) == 1
    assert quiet.outcome() is None
    loud = block(shared_node, lambda r: r.blpop(["nothing"], 0))
    assert c.execute_command("CLIENT", "UNBLOCK", loud.client_id, "ERROR") == 1
    with pytest.raises(redis.ResponseError, match="UNBLOCKED client unblocked via CLIENT UNBLOCK"):
        loud.outcome()
    assert c.client_unblock(quiet.client_id) == 0  # not blocked any more


def test_a_closed_waiter_takes_nothing(shared_node: Node) -> None:
    c = shared_node.client(protocol=2)
    c.delete("box")
    gone = block(shared_node, lambda r: r.blpop(["box"], 0))
    stays = block(shared_node, lambda r: r.blpop(["box"], 0), also_blocked=1)
    gone.client.connection_pool.disconnect()
    wait_for(lambda: blocked_count(shared_node) == 1, 10, "the closed waiter to be dropped")
    c.rpush("box", "first", "second")
    assert stays.outcome() == (b"box", b"first")
    assert c.lrange("box", 0, -1) == [b"second"]


def test_a_blocked_client_s_later_commands_wait_for_it(shared_node: Node) -> None:
    """As in Redis, a connection blocked in BLPOP runs nothing else until it is served."""
    c = shared_node.client(protocol=2)
    c.delete("gate", "after")
    pipelined = block(shared_node, lambda r: r.pipeline(transaction=False).blpop(["gate"], 0).set("after", "1")
                      .execute())
    assert c.get("after") is None
    c.rpush("gate", "open")
    assert pipelined.outcome() == [(b"gate", b"open"), True]


def test_a_cluster_serves_waiters_of_every_node_once_each_across_a_leader_change(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    waiters = [block(node, lambda r: r.blpop(["work"], 0)) for node in cluster.nodes]
    followers = [n for n in cluster.nodes if n is not leader]
    with leader.client(protocol=2) as c:
        assert c.execute_command("RAFT", "LEADER", "TRANSFER", followers[0].address) == b"OK"
    wait_for(lambda: cluster.leader() is followers[0], 15, "the transfer")
    items = [f"item{i}".encode() for i in range(3)]
    with followers[1].client(protocol=2) as c:
        c.rpush("work", *items)
    served = sorted(w.outcome()[1] for w in waiters)
    assert served == items  # every element to exactly one waiter
    cluster.wait_caught_up()
    for node in cluster.nodes:
        with node.client(protocol=2) as c:
            assert c.exists("work") == 0


def test_a_push_pipelined_before_a_blocking_pop_serves_it_and_later_commands_still_wait(shared_node: Node) -> None:
    c = shared_node.client(protocol=2)
    c.delete("p", "q", "after")
    pipe = c.pipeline(transaction=False)
    replies = pipe.rpush("p", "x").blpop(["p"], 0).blpop(["q"], 0.2).set("after", "1").execute()
    assert replies == [1, (b"p", b"x"), None, True]


def test_concurrent_consumers_on_every_node_get_each_pushed_element_exactly_once(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    items = [f"{p}:{i}".encode() for p in range(3) for i in range(100)]
    got: list[bytes] = []
    lock = threading.Lock()

    def consume(node: Node) -> None:
        with node.client(protocol=2, socket_timeout=30) as c:
            while True:
                popped = c.blpop(["q1", "q2"], 2)
                if popped is None:
                    return  # nothing came for 2 s: the producers are done
                with lock:
                    got.append(popped[1])

    def produce(node: Node, p: int) -> None:
        with node.client(protocol=2) as c:
            for i in range(100):
                c.rpush(f"q{1 + i % 2}", f"{p}:{i}")

    consumers = [threading.Thread(target=consume, args=(cluster.nodes[i % 3],)) for i in range(6)]
    producers = [threading.Thread(target=produce, args=(cluster.nodes[p], p)) for p in range(3)]
    for t in consumers + producers:
        t.start()
    for t in consumers + producers:
        t.join(60)
        assert not t.is_alive()
    assert sorted(got) == sorted(items)
