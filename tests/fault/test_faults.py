"""raftkv under faults: concurrent clients and a seeded nemesis, then a linearizability check.

Each run starts a cluster with a proxy on every peer link, runs clients while the nemesis kills,
pauses, crashes and partitions nodes (and, in one test, members are added and removed meanwhile), heals
everything, waits until every node accepts a write again,
reads every key through every node and checks the whole history, final reads included, so a lost
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
from collections.abc import Callable
from typing import cast

import pytest

from raftkv.wire.resp import encode_command
from tests.fault.checker import check
from tests.fault.conftest import FaultCluster
from tests.fault.history import History, Outcome, Workload, connect
from tests.fault.nemesis import Fault, FaultLog, Nemesis, schedule
from tests.fault.proxy import HOST, LinkMode, PeerProxy, parse_handshake
from tests.integration.conftest import Cluster, free_port, wait_for

pytestmark = pytest.mark.fault

KEYS = [f"k{i}" for i in range(5)]
FAULT_SECONDS = 25.0 + float(os.environ.get("RAFTKV_SOAK_SECONDS", "0"))
RECOVERY_TIMEOUT_S = 30.0
MIN_ACKNOWLEDGED_WRITES = 50


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
@pytest.mark.parametrize("seed", seeds([5]))
def test_membership_changes_under_faults_stay_linearizable(make_fault_cluster, make_node, seed: int) -> None:
    """While the nemesis works on the three founders, a fourth node keeps being added (as a learner,
    then promoted) and removed again, each time a fresh one."""
    cluster = make_fault_cluster(3)
    run(cluster, seed, clients=4, during=functools.partial(change_members, cluster, make_node))


def change_members(cluster: FaultCluster, make_node, log: FaultLog, stop: threading.Event) -> None:
    """Add a fresh node, wait for it to become a voter, remove it; again until stopped. Membership
    commands are retried through any founder: faults make some of them fail or time out."""
    while not stop.is_set():
        joiner = make_node(workers=1, extra_args=["--join", cluster.nodes[0].address])
        if not member_command(cluster, log, stop, "ADD", joiner.address, joiner.peer_address):
            return
        log.log(f"member add {joiner.address}: done")
        wait_for(lambda joiner=joiner: stop.is_set() or _is_voter(cluster, joiner.address), 60,
                 "the new member's promotion")
        if not member_command(cluster, log, stop, "REMOVE", joiner.address):
            return
        log.log(f"member remove {joiner.address}: done")
        joiner.stop()


def member_command(cluster: FaultCluster, log: FaultLog, stop: threading.Event, verb: str, address: str,
                   *more: str) -> bool:
    """Run RAFT MEMBER <verb> <address> [<more>] through the founders until it is applied; False if stopped
    first."""
    import redis

    attempt = 0
    while not stop.is_set():
        node = cluster.nodes[attempt % len(cluster.nodes)]
        attempt += 1
        try:
            with node.client(protocol=2, socket_timeout=40) as c:
                c.execute_command("RAFT", "MEMBER", verb, address, *more)
            return True
        except redis.ResponseError as exc:
            done = (verb == "ADD" and "already a member" in str(exc)) or (
                verb == "REMOVE" and "no member" in str(exc))
            if done:  # an earlier attempt was applied after all
                return True
            log.log(f"member {verb.lower()} {address}: {exc}; retrying")
        except (redis.RedisError, OSError) as exc:
            log.log(f"member {verb.lower()} {address}: {type(exc).__name__}; retrying")
        stop.wait(0.5)
    return False


def _is_voter(cluster: FaultCluster, address: str) -> bool:
    for node in cluster.nodes:
        try:
            with node.client(protocol=3, socket_timeout=5) as c:
                members = c.execute_command("RAFT", "MEMBER", "LIST")
        except Exception:  # a node paused or killed by the nemesis: ask another
            continue
        return any(m[b"client_addr"] == address.encode() and m[b"role"] == b"voter" for m in members)
    return False


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
    announced = encode_command([b"H", b"", b"1234", b"127.0.0.1:1", b"127.0.0.1:2"])
    assert parse_handshake(announced) == 1234
    assert all(parse_handshake(announced[:i]) is None for i in range(len(announced)))
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


def run(cluster: FaultCluster, seed: int, clients: int,
        during: Callable[[FaultLog, threading.Event], None] | None = None) -> None:
    """``during``, if given, runs on its own thread alongside the nemesis until the faults stop."""
    history = History()
    log = FaultLog(history.start_ns)
    plan = schedule(seed, len(cluster.nodes), FAULT_SECONDS)
    log.log(f"seed {seed}: {len(plan)} faults planned over {FAULT_SECONDS:.0f}s; nodes "
            + ", ".join(f"{name}={node.address}" for name, node in zip(cluster.names, cluster.nodes, strict=True)))
    nemesis = Nemesis(cluster.nodes, cluster.names, cluster.network, log)
    workload = Workload(cluster.addresses, KEYS, clients, history, seed)
    context = (f"seed {seed} (rerun with RAFTKV_FAULT_SEED={seed}); server logs: "
               + ", ".join(str(p) for p in cluster.log_paths()) + f" (copied to {cluster.kept_dir} on failure)")
    print(context)
    workload.start()
    stop_during = threading.Event()
    side_errors: list[BaseException] = []

    def side_run() -> None:
        try:
            assert during is not None
            during(log, stop_during)
        except BaseException as exc:  # reported by the test, not lost with the thread
            side_errors.append(exc)

    side = threading.Thread(target=side_run, daemon=True) if during else None
    if side is not None:
        side.start()
    try:
        try:
            play(nemesis, plan)
            stop_during.set()
            if side is not None:
                side.join(120)
            log.log("healed; waiting for every node to accept a write")
            wait_recovered(cluster)
            log.log("recovered")
        finally:
            workload.stop()
        Cluster(cluster.nodes).wait_caught_up()
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
    assert not side_errors, f"{context}\nthe side task failed: {side_errors[0]!r}"
    unknown = sum(1 for op in history.ops if not op.completed)
    print(f"seed {seed}: {len(history.ops)} operations ({acknowledged} acknowledged writes, {unknown} of "
          f"unknown outcome) under {nemesis.played} faults in {FAULT_SECONDS:.0f}s: linearizable, "
          f"{len(cluster.nodes)} nodes agree")


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
        thread.join(60.0)
        nemesis.heal()
    assert not thread.is_alive(), "the nemesis did not stop"
    if failures:
        raise failures[0]


def wait_recovered(cluster: FaultCluster) -> None:
    """Every node accepts a write (on a key the workload does not use) within RECOVERY_TIMEOUT_S."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    for name, node in zip(cluster.names, cluster.nodes, strict=True):
        wait_for(functools.partial(probe, node.address, name), max(0.0, deadline - time.monotonic()),
                 f"{name} to accept a write after healing")


def probe(address: str, value: str) -> bool:
    with connect(address, 5.0) as client:
        return bool(client.set("probe", value))


def final_reads(cluster: FaultCluster, history: History) -> dict[str, list[str | None]]:
    """Every key read through every node, recorded as operations of the history."""
    values: dict[str, list[str | None]] = {}
    for name, node in zip(cluster.names, cluster.nodes, strict=True):
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
