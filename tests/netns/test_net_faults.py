"""Network faults between namespaces while tests/fault's clients record a history: a node cut off (its
link down), minority/majority splits (blackhole routes) and latency with jitter and loss (forwarders).
After healing, every node must accept a write, then every key is read through every node; the whole
history, final reads included, must be linearizable, so an acknowledged write that was lost or a stale
read fails the test."""
from __future__ import annotations

import functools
import time
from typing import cast

import pytest

from tests.fault.checker import check
from tests.fault.history import History, Outcome
from tests.integration.conftest import wait_for
from tests.netns.conftest import NsCluster, shaping

pytestmark = [pytest.mark.netns, pytest.mark.integration]

KEYS = ("k0", "k1", "k2", "k3", "k4")
HOLD_S = 3.0  # how long each fault lasts: longer than an election timeout (1-2 s)
RECOVERY_TIMEOUT_S = 30.0


def test_a_node_cut_off_and_splits_lose_no_acknowledged_write(make_cluster) -> None:
    cluster = make_cluster(5)
    history = History()
    workload = cluster.workload(history, clients=6, seed=1, keys=KEYS)
    faults: list[str] = []
    workload.start()
    try:
        leader = cluster.leader()
        faults.append(f"link of the leader {leader.address} down")
        cluster.net.set_link(cluster.host_of(leader), False)
        others = [n for n in cluster.nodes if n is not leader]
        assert cluster.leader(among=others) is not leader  # the rest elect another and go on
        hold(workload)
        cluster.net.heal()

        leader = cluster.leader()
        minority = [leader, next(n for n in cluster.nodes if n is not leader)]
        majority = [n for n in cluster.nodes if n not in minority]
        faults.append(f"split: the leader's minority {[n.address for n in minority]} from the majority")
        cluster.net.split([cluster.host_of(n) for n in minority], [cluster.host_of(n) for n in majority])
        assert cluster.leader(among=majority) in majority
        hold(workload)
        cluster.net.heal()

        leader = cluster.leader()
        others = [n for n in cluster.nodes if n is not leader]
        faults.append(f"split: the leader {leader.address} alone from the others")
        cluster.net.split([cluster.host_of(leader)], [cluster.host_of(n) for n in others])
        assert cluster.leader(among=others) in others
        hold(workload)
        cluster.net.heal()
        recover(cluster)
    finally:
        workload.stop()
        cluster.net.heal()
    verify(cluster, history, workload, faults)


def test_latency_jitter_and_loss_between_hosts_lose_no_acknowledged_write(make_cluster) -> None:
    # 10 ms ± 5 ms one way on every peer link, and 2 % of chunks held one RTO (see forwarder.py).
    cluster = make_cluster(3, forwarded=True, flags=shaping(10, 5, 0.02))
    history = History()
    workload = cluster.workload(history, clients=4, seed=2, keys=KEYS)
    faults = ["10 ms ± 5 ms, 2 % loss on every peer link throughout"]
    workload.start()
    try:
        hold(workload)
        leader = cluster.leader()
        faults.append(f"split under latency: the leader {leader.address} alone")
        cluster.net.split([cluster.host_of(leader)], [cluster.host_of(n) for n in cluster.nodes if n is not leader])
        hold(workload)
        cluster.net.heal()
        recover(cluster)
    finally:
        workload.stop()
        cluster.net.heal()
    verify(cluster, history, workload, faults)


def hold(workload) -> None:
    """Let the clients run for HOLD_S (the fault's duration; the clients are what is waited on)."""
    workload.stop_event.wait(HOLD_S)
    assert not workload.stop_event.is_set()


def recover(cluster: NsCluster) -> None:
    """Every node accepts a write (on a key the clients do not use)."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    for node in cluster.nodes:
        wait_for(functools.partial(probe, node), max(0.0, deadline - time.monotonic()),
                 f"{node.address} to accept a write after healing")


def probe(node) -> bool:
    with node.client(protocol=2, socket_timeout=5) as c:
        return bool(c.set("probe", node.address))


def verify(cluster: NsCluster, history: History, workload, faults: list[str]) -> None:
    """Every node applies everything, every key is read through every node into the history, and the
    history is checked."""
    cluster.wait_caught_up()
    finals: dict[str, list[str | None]] = {}
    for node in cluster.nodes:
        finals[node.address] = []
        for key in KEYS:
            call_ns, value, return_ns = cast(tuple[int, bytes | None, int], wait_for(
                functools.partial(timed_get, node, key), 20.0, f"a read of {key} through {node.address}"))
            text = None if value is None else value.decode()
            history.record(f"final-{node.host}", node.address, "get", key, None, call_ns, return_ns, Outcome.OK, text)
            finals[node.address].append(text)
    context = "faults: " + "; ".join(faults)
    report = check(history.ops)
    assert report.linearizable, f"{context}\n{report.describe(history.start_ns)}"
    assert len({tuple(v) for v in finals.values()}) == 1, f"{context}\nnodes disagree: {finals}"
    assert not workload.unexpected_errors, f"{context}\nunexpected replies: {workload.unexpected_errors}"
    acknowledged = sum(1 for op in history.ops if op.completed and op.kind != "get")
    assert acknowledged >= 50, f"{context}\nonly {acknowledged} writes acknowledged"
    print(f"{context}: {len(history.ops)} operations, {acknowledged} acknowledged writes, linearizable")


def timed_get(node, key: str) -> tuple[int, bytes | None, int]:
    with node.client(protocol=2, socket_timeout=5) as c:
        call_ns = time.monotonic_ns()
        value = c.get(key)
        return call_ns, value, time.monotonic_ns()
