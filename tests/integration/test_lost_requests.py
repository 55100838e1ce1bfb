"""Requests a follower relays to the leader that the leader never serves: a lost read-index request is
asked again, and a write the leader does not take is answered TRYAGAIN at once, on real processes whose
peer links run through fault-injecting proxies (tests/fault/proxy.py)."""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

import pytest
import redis
from redis.exceptions import TryAgainError

from raftkv.wire.members import bootstrap_id
from tests.fault.conftest import FaultCluster, keep_on_failure, make_fault_cluster  # noqa: F401 (fixtures)
from tests.fault.proxy import LinkMode
from tests.integration.conftest import Cluster, Node, wait_for

pytestmark = pytest.mark.integration

REQUEST_TIMEOUT_S = 2.0  # the default client deadline of a read
COMMIT_TIMEOUT_S = 5.0  # the default wait for a proposed write


def _match(progress: object) -> int:
    """A leader's ``member_<id>`` INFO field, ``match=M,next=N`` (redis-py may have split it already)."""
    if isinstance(progress, dict):
        return int(progress["match"])
    return int(dict(kv.split("=") for kv in str(progress).split(","))["match"])


def wait_until_cut_off(cluster: Cluster, leader: Node, peer: Node) -> None:
    """Wait until the leader stops hearing ``peer`` acknowledge its log: the cut in front of it is in
    force. Several probe writes in a row must stay unacknowledged by ``peer`` (one could just be late)."""
    peer_field = f"member_{bootstrap_id(peer.address)}"
    counter = itertools.count()
    behind = [0]
    with leader.client(protocol=2) as c:
        def cut_off() -> bool:
            c.set("probe", next(counter))
            info = cluster.raft_info(leader)
            behind[0] = behind[0] + 1 if _match(info[peer_field]) < info["commit_index"] else 0
            return behind[0] >= 3

        wait_for(cut_off, 10.0, f"the leader to stop hearing {peer.address}")


def name_of(fc: FaultCluster, node: Node) -> str:
    return fc.names[fc.nodes.index(node)]


def run_in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Start ``call`` on a thread; its result (or the exception it raised) lands in the list."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(call())
        except Exception as exc:  # handed to the test thread
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_lost_read_index_request_is_asked_again(make_fault_cluster) -> None:  # noqa: F811
    fc: FaultCluster = make_fault_cluster(3, workers=1)
    cluster = Cluster(fc.nodes)
    leader = cluster.leader()
    follower = cluster.followers(leader)[0]
    with leader.client(protocol=2) as c:
        assert c.set("k", "v")
    cluster.wait_caught_up()

    # Everything the follower sends the leader vanishes from now on: its read-index request too.
    fc.network.cut(name_of(fc, follower), name_of(fc, leader), LinkMode.BLACKHOLE)
    wait_until_cut_off(cluster, leader, follower)
    with follower.client(protocol=2) as stats:
        base = stats.info("stats")["total_commands_processed"]
        polls = itertools.count(1)
        reader, result = run_in_thread(lambda: follower.client(protocol=2).get("k"))
        # The follower has taken the GET (and sent its request into the cut) once the counter moved
        # past our own INFO polls.
        wait_for(lambda: stats.info("stats")["total_commands_processed"] - base - next(polls) >= 1, 5.0,
                 "the follower to take the read")
    fc.network.heal()
    healed_at = time.monotonic()
    reader.join(REQUEST_TIMEOUT_S + 5.0)
    answered_s = time.monotonic() - healed_at
    # Without asking again, nothing answers the read until its deadline, when it fails (CLUSTERDOWN).
    assert result == [b"v"], result
    assert answered_s < REQUEST_TIMEOUT_S / 2, f"answered {answered_s:.2f}s after the link healed"


def test_a_write_forwarded_during_a_leadership_transfer_gets_tryagain_at_once(make_fault_cluster) -> None:  # noqa: F811
    fc: FaultCluster = make_fault_cluster(3, workers=1)
    cluster = Cluster(fc.nodes)
    leader = cluster.leader()
    target, via = cluster.followers(leader)
    # The target hears nothing from the leader, so the transfer to it stays in progress (an election
    # timeout, after which the leader gives it up; thesis §3.10).
    fc.network.cut(name_of(fc, leader), name_of(fc, target), LinkMode.BLACKHOLE)
    wait_until_cut_off(cluster, leader, target)
    transfer, transfer_result = run_in_thread(
        lambda: leader.client(protocol=2).execute_command("RAFT", "LEADER", "TRANSFER", target.address))

    acknowledged: list[int] = []
    refused: tuple[int, float, redis.ResponseError] | None = None
    with via.client(protocol=2) as c:
        deadline = time.monotonic() + 3 * COMMIT_TIMEOUT_S
        for i in itertools.count():
            if time.monotonic() > deadline:
                break
            started = time.monotonic()
            try:
                assert c.set(f"w{i}", i)
            except redis.ResponseError as exc:
                refused = (i, time.monotonic() - started, exc)
                break
            acknowledged.append(i)
    assert refused is not None, "no write was refused while the transfer was in progress"
    i, took_s, error = refused
    assert isinstance(error, TryAgainError), repr(error)
    # Without the leader handing the write back, its client waits out the whole commit timeout.
    assert took_s < COMMIT_TIMEOUT_S / 5, f"TRYAGAIN after {took_s:.2f}s: {error}"

    fc.network.heal()
    transfer.join(30.0)
    assert transfer_result, "the transfer command did not answer"
    cluster.wait_caught_up()
    for node in cluster.nodes:
        with node.client(protocol=2) as c:
            values = c.mget([f"w{j}" for j in acknowledged]) if acknowledged else []
            assert values == [str(j).encode() for j in acknowledged], node.address
            assert c.get(f"w{i}") is None, "a write answered 'not applied' was applied"
