"""raftkv under faults: concurrent clients and a seeded nemesis, then a linearizability check.

Each run starts a cluster with a proxy on every peer link, runs clients while the nemesis kills,
pauses, crashes and partitions nodes (and, in the membership runs, removes, re-adds, replaces and adds
members and moves leadership), heals everything, waits until every node accepts a write again, reads
every key through every node and checks the whole history, final reads included, so a lost
acknowledged write shows up as a violation. ``RAFTKV_FAULT_SEED`` reruns one seed;
``RAFTKV_SOAK_SECONDS`` lengthens the faulty phase.
"""
from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
from typing import cast

import pytest

from raftkv.wire.resp import encode_command
from tests.fault.checker import check
from tests.fault.conftest import FaultCluster
from tests.fault.history import MEMBERSHIP_ERRORS, History, Outcome, Workload, connect
from tests.fault.membership import MEMBERSHIP_KINDS
from tests.fault.nemesis import Fault, FaultLog, Nemesis, schedule
from tests.fault.proxy import HOST, LinkMode, PeerProxy, parse_handshake
from tests.integration.conftest import Cluster, Node, free_port, wait_for

pytestmark = pytest.mark.fault

KEYS = [f"k{i}" for i in range(5)]
FAULT_SECONDS = 25.0 + float(os.environ.get("RAFTKV_SOAK_SECONDS", "0"))
RECOVERY_TIMEOUT_S = 30.0
MIN_ACKNOWLEDGED_WRITES = 50
SPARES = 2  # slots for nodes that membership changes add
SNAPSHOT_ENTRIES = 2000  # in membership runs, so that a node added late catches up from a snapshot


def seeds(defaults: list[int]) -> list[int]:
    chosen = os.environ.get("RAFTKV_FAULT_SEED")
    return [int(chosen)] if chosen else defaults


@pytest.mark.integration
@pytest.mark.parametrize("seed", seeds([1, 2]))
def test_three_nodes_stay_linearizable_under_faults(make_fault_cluster, seed: int) -> None:
    run(make_fault_cluster(3), seed, clients=4)


@pytest.mark.integration
@pytest.mark.parametrize("seed", seeds([3, 4]))
def test_five_nodes_stay_linearizable_under_faults(make_fault_cluster, seed: int) -> None:
    run(make_fault_cluster(5), seed, clients=5)


@pytest.mark.integration
@pytest.mark.parametrize("nodes,seed", [pytest.param(3, seed, id=f"3-nodes-seed-{seed}") for seed in seeds([5])]
                         + [pytest.param(5, seed, id=f"5-nodes-seed-{seed}") for seed in seeds([6])])
def test_membership_changes_under_faults_stay_linearizable(make_fault_cluster, nodes: int, seed: int) -> None:
    """The nemesis also changes the membership: members removed and added again with their data,
    replaced by wiped nodes, added while a node that joined later leads, leadership moved. Once healed,
    every node that should be a voter must be one; after the checks, the cluster restarted from its
    data dirs must have them all as voters again and serve writes."""
    cluster = make_fault_cluster(nodes, spares=SPARES, extra_args=("--snapshot-entries", str(SNAPSHOT_ENTRIES)))
    run(cluster, seed, clients=nodes + 1, membership=True)


def test_a_membership_schedule_comes_from_the_seed_and_mixes_every_change_with_faults() -> None:
    for seed, nodes in ((5, 3), (6, 5)):  # the CI seeds of the membership runs
        plan = schedule(seed, nodes, 25.0, spares=SPARES)
        assert plan == schedule(seed, nodes, 25.0, spares=SPARES)
        assert {f.kind for f in plan} >= set(MEMBERSHIP_KINDS)
        assert any(not f.changes_members for f in plan)
        assert all(sorted(f.order) == list(range(nodes + SPARES)) for f in plan)
    assert not any(f.changes_members for seed in (1, 2, 3, 4) for f in schedule(seed, 3, 600.0))


@pytest.mark.integration
def test_independent_nodes_posing_as_one_cluster_are_caught(make_node) -> None:
    """The suite can fail: three single-node clusters serving one set of clients are not one register
    per key, and the checker must say so."""
    nodes = [make_node() for _ in range(3)]
    history = History()
    workload = Workload([node.address for node in nodes], KEYS, 3, history, seed=0)
    workload.start()
    try:
        wait_for(lambda: len(history.ops) >= 600, 60.0, "600 operations")
    finally:
        workload.stop()
    report = check(history.ops)
    assert not report.linearizable
    violations = [k.violation for k in report.keys if k.violation is not None]
    assert violations
    assert "cannot be linearized" in violations[0].describe(history.start_ns)


def test_a_proxy_cuts_each_link_on_its_own_and_heals() -> None:
    with contextlib.ExitStack() as sockets:
        target = sockets.enter_context(socket.create_server((HOST, 0)))
        target.settimeout(5.0)
        proxy = PeerProxy("n0", free_port(), target.getsockname()[1], {7: "n7", 8: "n8"})
        sockets.callback(proxy.close)
        a, a_in = proxied(sockets, proxy, target, 7)
        b, b_in = proxied(sockets, proxy, target, 8)
        a.sendall(b"one")
        assert receive(a_in, 3) == b"one"

        proxy.set_mode("n7", LinkMode.BLACKHOLE)
        a.sendall(b"lost")
        b.sendall(b"two")
        assert receive(b_in, 3) == b"two"  # the other link still forwards
        proxy.heal()
        assert a_in.recv(100) == b""  # healing closed the blackholed stream; "lost" never came
        assert a.recv(100) == b""

        proxy.set_mode("n8", LinkMode.DROP)
        assert b_in.recv(100) == b""
        refused = sockets.enter_context(socket.create_connection((HOST, proxy.listen_port), timeout=5.0))
        refused.sendall(handshake(8))
        assert refused.recv(100) == b""
        again, again_in = proxied(sockets, proxy, target, 7)  # a new n7 connection is not affected
        again.sendall(b"three")
        assert receive(again_in, 5) == b"three"


def test_a_handshake_names_its_sender_once_complete() -> None:
    record = handshake(1234)
    assert parse_handshake(record + b"more") == 1234
    assert all(parse_handshake(record[:i]) is None for i in range(len(record)))
    with pytest.raises(ValueError):
        parse_handshake(b"GET / HTTP/1.1\r\n")


def handshake(node_id: int) -> bytes:
    return encode_command([b"H", b"", b"%d" % node_id])


def proxied(sockets: contextlib.ExitStack, proxy: PeerProxy, target: socket.socket,
            node_id: int) -> tuple[socket.socket, socket.socket]:
    """A connection from node ``node_id`` through ``proxy``, and its far end, past the handshake; both
    are closed with ``sockets``."""
    sender = sockets.enter_context(socket.create_connection((HOST, proxy.listen_port), timeout=5.0))
    sender.sendall(handshake(node_id))
    far = sockets.enter_context(target.accept()[0])
    far.settimeout(5.0)
    assert receive(far, len(handshake(node_id))) == handshake(node_id)
    return sender, far


def receive(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def run(cluster: FaultCluster, seed: int, clients: int, membership: bool = False) -> None:
    """With ``membership``, the schedule also changes the members (using the cluster's spare slots);
    after healing, every node that should be a voter must become one before the final checks, and
    after them the cluster is restarted from its data dirs and checked again."""
    history = History()
    log = FaultLog(history.start_ns)
    spares = len(cluster.slots) - cluster.founders if membership else 0
    plan = schedule(seed, cluster.founders, FAULT_SECONDS, spares=spares)
    log.log(f"seed {seed}: {len(plan)} faults planned over {FAULT_SECONDS:.0f}s; nodes "
            + ", ".join(f"{slot.name}={slot.address}" for slot in cluster.slots[:cluster.founders])
            + ("; spare slots " + ", ".join(slot.name for slot in cluster.slots[cluster.founders:]) if spares else ""))
    workload = Workload(cluster.addresses, KEYS, clients, history, seed,
                        expected_errors=MEMBERSHIP_ERRORS if membership else ())
    nemesis = Nemesis(cluster, log, on_new_address=workload.add_address)
    context = (f"seed {seed} (rerun with RAFTKV_FAULT_SEED={seed}); server logs: "
               + ", ".join(str(p) for p in cluster.log_paths())
               + (" and those of the nodes added later, beside them" if membership else "")
               + f" (copied to {cluster.kept_dir} on failure)")
    print(context)
    workload.start()
    try:
        try:
            play(nemesis, plan)
            if membership:
                converge(nemesis, workload, history, log, context)
            log.log("healed; waiting for every node to accept a write")
            wait_recovered(cluster)
            log.log("recovered")
        finally:
            workload.stop()
        Cluster(members(cluster)).wait_caught_up()
        finals = final_reads(cluster, history)
    finally:
        save(cluster, history, log)
        print(f"faults:\n{log.describe()}")

    report = check(history.ops)
    assert report.linearizable, f"{context}\n{report.describe(history.start_ns)}\nfaults:\n{log.describe()}"
    assert len({tuple(values) for values in finals.values()}) == 1, f"{context}\nnodes disagree: {finals}"
    assert not workload.unexpected_errors, f"{context}\nunexpected replies: {workload.unexpected_errors}"
    acknowledged = sum(1 for op in history.ops if op.completed and op.kind != "get")
    assert acknowledged >= MIN_ACKNOWLEDGED_WRITES, f"{context}\nonly {acknowledged} writes acknowledged"
    assert nemesis.played > 0
    unknown = sum(1 for op in history.ops if not op.completed)
    print(f"seed {seed}: {len(history.ops)} operations ({acknowledged} acknowledged writes, {unknown} of "
          f"unknown outcome) under {nemesis.played} faults in {FAULT_SECONDS:.0f}s: linearizable, "
          f"{len(finals)} nodes agree")
    if membership:
        print(f"membership changes (completed/played): {nemesis.members.summary()}")
        try:
            nemesis.members.restart_from_data_dirs(probe)
        except AssertionError as exc:
            raise AssertionError(f"{context}\n{exc}\nfaults:\n{log.describe()}") from None
        finally:
            save(cluster, history, log)
        print("restarted from their data dirs, every expected node is a voter again and accepts a write")


def members(cluster: FaultCluster) -> list[Node]:
    """The nodes now in the cluster's slots."""
    return [node for node in cluster.nodes if node is not None]


def converge(nemesis: Nemesis, workload: Workload, history: History, log: FaultLog, context: str) -> None:
    """Wait for every expected voter (see ``MemberChanges.converge``). If that fails, the history so far
    is still checked, so that a violation is not hidden behind the membership failure."""
    try:
        nemesis.members.converge()
    except AssertionError as exc:
        workload.stop()
        report = check(history.ops)
        verdict = ("linearizable" if report.linearizable
                   else f"NOT linearizable:\n{report.describe(history.start_ns)}")
        raise AssertionError(f"{context}\n{exc}\nmembership changes (completed/played): "
                             f"{nemesis.members.summary()}\nthe history until then ({len(history.ops)} "
                             f"operations) is {verdict}\nfaults:\n{log.describe()}") from None


def play(nemesis: Nemesis, plan: list[Fault]) -> None:
    """Run the schedule for FAULT_SECONDS, then heal whatever is still in force."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def target() -> None:
        try:
            nemesis.play(plan, stop)
        except BaseException as exc:  # re-raised below, in the test's thread
            failures.append(exc)

    thread = threading.Thread(target=target, name="nemesis", daemon=True)
    thread.start()
    try:
        thread.join(FAULT_SECONDS)  # the schedule's own length
    finally:
        stop.set()
        thread.join(90.0)  # a membership change finishes its current step (a node's start: 30 s at most)
        nemesis.heal()
    assert not thread.is_alive(), "the nemesis did not stop"
    if failures:
        raise failures[0]


def wait_recovered(cluster: FaultCluster) -> None:
    """Every node accepts a write (on a key the workload does not use) within RECOVERY_TIMEOUT_S."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    for name, node in zip(cluster.names, cluster.nodes):
        if node is None:
            continue
        wait_for(functools.partial(probe, node.address, name), max(0.0, deadline - time.monotonic()),
                 f"{name} to accept a write after healing")


def probe(address: str, value: str) -> bool:
    with connect(address, 5.0) as client:
        return bool(client.set("probe", value))


def final_reads(cluster: FaultCluster, history: History) -> dict[str, list[str | None]]:
    """Every key read through every node, recorded as operations of the history."""
    values: dict[str, list[str | None]] = {}
    for name, node in zip(cluster.names, cluster.nodes):
        if node is None:
            continue
        values[name] = []
        for key in KEYS:
            read = wait_for(functools.partial(timed_get, node.address, key), 20.0, f"a read of {key} through {name}")
            call_ns, value, return_ns = cast(tuple[int, bytes | None, int], read)
            text = None if value is None else value.decode()
            history.record(f"final-{name}", node.address, "get", key, None, call_ns, return_ns, Outcome.OK, text)
            values[name].append(text)
    return values


def timed_get(address: str, key: str) -> tuple[int, bytes | None, int]:
    """(invocation time, value, completion time) of one GET."""
    with connect(address, 5.0) as client:
        call_ns = time.monotonic_ns()
        value = client.get(key)
        return call_ns, value, time.monotonic_ns()


def save(cluster: FaultCluster, history: History, log: FaultLog) -> None:
    """The history and the fault log, beside the server logs, for reading after a failure."""
    lines = [f"{history.ms(op.call_ns):>10} {history.ms(op.return_ns):>10} {op.client:<9} {op.node:<16} {op.text()}"
             for op in sorted(history.ops, key=lambda op: op.call_ns)]
    (cluster.tmp_path / "history.txt").write_text("\n".join(lines) + "\n")
    (cluster.tmp_path / "faults.txt").write_text(log.describe() + "\n")
