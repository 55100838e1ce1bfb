"""Membership changes on real nodes while a writer runs: every acknowledged write survives them."""
from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import threading

import pytest
import redis

from raftkv.node.transport import peer_call
from raftkv.wire.members import cluster_id_of, parse_member
from raftkv.wire.resp import encode_command
from tests.integration.conftest import Cluster, Node, free_port, wait_for

pytestmark = pytest.mark.integration


class Writer:
    """Writes unique keys through the cluster's nodes until stopped; remembers which were acknowledged."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = list(nodes)
        self.acked: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._rng = random.Random(7)

    def __enter__(self) -> Writer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            node = self._rng.choice(self.nodes)
            try:
                with node.client(protocol=2, socket_timeout=10) as c:
                    for _ in range(20):
                        key = f"w:{i}"
                        i += 1
                        if c.set(key, key):
                            self.acked.append(key)
            except (redis.RedisError, OSError):
                continue  # a node being removed, restarted or without a leader: try another

    def wait_for_progress(self, count: int = 50) -> None:
        target = len(self.acked) + count
        wait_for(lambda: len(self.acked) >= target, 30, f"{count} more acknowledged writes")


def members(node: Node) -> list[dict]:
    with node.client(protocol=3) as c:
        return [{(k.decode() if isinstance(k, bytes) else k): v for k, v in m.items()}
                for m in c.execute_command("RAFT", "MEMBER", "LIST")]


def voters(node: Node) -> set[str]:
    return {m["client_addr"].decode() for m in members(node) if m["role"] == b"voter"}


def raft(node: Node, *args: str) -> object:
    with node.client(protocol=2, socket_timeout=40) as c:
        return c.execute_command("RAFT", *args)


def joining_node(make_node, to: Node, *extra: str) -> Node:
    # The member's peer address too: the tests' nodes do not use the default one (port + 10000).
    return make_node(workers=1, extra_args=["--join", f"{to.address}@{to.peer_address}", *extra], start=True)


def add(via: Node, node: Node) -> object:
    """RAFT MEMBER ADD with the node's peer address (the tests' nodes do not use the default one)."""
    return raft(via, "MEMBER", "ADD", node.address, node.peer_address)


def serves_reads(node: Node) -> bool:
    with node.client(protocol=2, socket_timeout=5) as c:
        c.get("__probe__")
    return True


def all_acked_everywhere(nodes: list[Node], acked: list[str]) -> None:
    assert acked, "the writer made no progress"
    cluster = Cluster(nodes)
    cluster.wait_caught_up()
    for node in nodes:
        pipe = node.client(protocol=2).pipeline(transaction=False)
        for key in acked:
            pipe.get(key)
        values = pipe.execute()
        missing = [k for k, v in zip(acked, values) if v != k.encode()]
        assert not missing, f"{node.address} lost {len(missing)} acknowledged writes, e.g. {missing[:5]}"


def test_grow_from_one_to_three_while_writing(make_node) -> None:
    first = make_node(workers=1)
    b, c = joining_node(make_node, first), joining_node(make_node, first)
    with b.client(protocol=2) as waiting:
        with pytest.raises(redis.ResponseError, match="waiting to join a cluster"):
            waiting.get("x")
    with Writer([first]) as writer:
        writer.wait_for_progress()
        kvsctl = subprocess.run([sys.executable, "-m", "kvsctl", "-a", first.address, "member", "add", b.address,
                                 b.peer_address], capture_output=True, text=True, timeout=60)
        assert kvsctl.returncode == 0 and kvsctl.stdout.strip() == "OK", kvsctl.stderr
        writer.nodes.append(b)
        writer.wait_for_progress()
        assert add(b, c) == b"OK"  # through a follower: relayed to the leader
        writer.nodes.append(c)
        wait_for(lambda: voters(first) == {first.address, b.address, c.address}, 30, "both learners promoted")
        writer.wait_for_progress()
    listing = subprocess.run([sys.executable, "-m", "kvsctl", "-a", c.address, "member", "list", "--json"],
                             capture_output=True, text=True, timeout=30)
    assert listing.returncode == 0, listing.stderr
    assert {m["client_addr"] for m in json.loads(listing.stdout)} == {first.address, b.address, c.address}
    all_acked_everywhere([first, b, c], writer.acked)


def test_shrink_to_two_and_grow_back_while_writing(make_cluster, make_node) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    gone = cluster.followers(leader)[0]
    with Writer([n for n in cluster.nodes if n is not gone]) as writer:
        writer.wait_for_progress()
        assert raft(leader, "MEMBER", "REMOVE", gone.address) == b"OK"
        assert voters(leader) == {n.address for n in cluster.nodes if n is not gone}
        with gone.client(protocol=2) as c:
            wait_for(lambda: _refused(c), 10, "the removed node to refuse clients")
        writer.wait_for_progress()
        fresh = joining_node(make_node, leader)
        assert add(leader, fresh) == b"OK"
        writer.nodes.append(fresh)
        wait_for(lambda: fresh.address in voters(leader), 30, "the new node promoted")
        writer.wait_for_progress()
    all_acked_everywhere([n for n in cluster.nodes if n is not gone] + [fresh], writer.acked)


def _refused(c: redis.Redis) -> bool:
    try:
        c.get("k")
    except redis.ResponseError as exc:
        return "removed from the cluster" in str(exc)
    return False


def test_replace_a_killed_node(make_cluster, make_node) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    dead = cluster.followers(leader)[0]
    alive = [n for n in cluster.nodes if n is not dead]
    with Writer(alive) as writer:
        writer.wait_for_progress()
        dead.kill_all()
        writer.wait_for_progress()
        assert raft(alive[0], "MEMBER", "REMOVE", dead.address) == b"OK"
        replacement = joining_node(make_node, leader)
        assert add(alive[1], replacement) == b"OK"
        writer.nodes.append(replacement)
        wait_for(lambda: voters(leader) == {n.address for n in alive + [replacement]}, 30, "the replacement")
        writer.wait_for_progress()
    all_acked_everywhere(alive + [replacement], writer.acked)


def test_remove_the_leader_hands_leadership_over(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    rest = cluster.followers(leader)
    with Writer(rest) as writer:
        writer.wait_for_progress()
        assert raft(rest[0], "MEMBER", "REMOVE", leader.address) == b"OK"
        new = cluster.leader(among=rest)
        assert voters(new) == {n.address for n in rest}
        writer.wait_for_progress()
    with leader.client(protocol=2) as c:
        wait_for(lambda: _refused(c), 10, "the removed leader to refuse clients")
    leader.stop()
    leader.start(wait=False)
    with leader.client(protocol=2) as c:
        wait_for(lambda: _refused(c), 30, "the removed node to stay out after a restart")
    all_acked_everywhere(rest, writer.acked)


def test_membership_mistakes_get_clear_errors(make_node) -> None:
    solo = make_node(workers=1)
    other = make_node(workers=1)
    cases = [
        (("MEMBER", "ADD", solo.address), f"{solo.address} is already a member of this cluster"),
        (("MEMBER", "REMOVE", "127.0.0.1:1"), "no member 127.0.0.1:1 in this cluster"),
        (("MEMBER", "REMOVE", solo.address), "cannot remove the last voter of the cluster"),
        (("MEMBER", "ADD", other.address, other.peer_address), f"{other.address} belongs to another cluster"),
        (("MEMBER", "ADD", f"127.0.0.1:{free_port()}"), "cannot reach"),
        (("MEMBER", "ADD", "nonsense"), "bad address"),
        (("LEADER", "TRANSFER", "42"), "no member 42 in this cluster"),
        (("MEMBER", "FROB"), "unknown subcommand"),
    ]
    for args, message in cases:
        with pytest.raises(redis.ResponseError) as exc:
            raft(solo, *args)
        assert message in str(exc.value), (args, str(exc.value))
    assert voters(solo) == {solo.address}


def test_leader_transfer_through_kvsctl(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    target = cluster.followers(leader)[1]
    result = subprocess.run([sys.executable, "-m", "kvsctl", "-a", leader.address, "leader", "transfer",
                             target.address], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "OK", result.stderr
    assert cluster.leader() is target


def test_remove_and_add_back_the_same_node_with_its_data(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    again = cluster.followers(leader)[0]
    others = [n for n in cluster.nodes if n is not again]
    everyone = {n.address for n in cluster.nodes}
    with Writer(others) as writer:
        writer.wait_for_progress()
        for cycle in range(3):
            assert raft(others[cycle % 2], "MEMBER", "REMOVE", again.address) == b"OK"
            with again.client(protocol=2) as c:
                wait_for(lambda: _refused(c), 10, "the removed node to refuse clients")
            assert voters(others[0]) == everyone - {again.address}
            if cycle == 1:  # removed and restarted: it comes back up still removed
                again.stop()
                again.start(wait=False)
                with again.client(protocol=2) as c:
                    wait_for(lambda: _refused(c), 30, "the restarted removed node to refuse clients")
            writer.wait_for_progress()
            assert add(others[cycle % 2], again) == b"OK"
            wait_for(lambda: voters(others[0]) == everyone, 30, f"the re-added node promoted (cycle {cycle})")
            wait_for(lambda: serves_reads(again), 30, "the re-added node to serve reads")
            writer.wait_for_progress()
    assert {m["client_addr"].decode() for m in members(again)} == everyone
    all_acked_everywhere(cluster.nodes, writer.acked)


def test_a_node_joins_while_a_later_member_leads(make_cluster, make_node) -> None:
    cluster: Cluster = make_cluster(3)
    a, b, c = cluster.nodes
    d = joining_node(make_node, a)
    assert add(a, d) == b"OK"
    wait_for(lambda: d.address in voters(a), 30, "the fourth node promoted")
    assert raft(a, "LEADER", "TRANSFER", d.address) == b"OK"
    # Right after the transfer d's first entry may not be applied yet: the node waits for it.
    assert raft(d, "MEMBER", "REMOVE", a.address) == b"OK"
    assert raft(d, "MEMBER", "REMOVE", b.address) == b"OK"
    with Writer([c, d]) as writer:
        writer.wait_for_progress()
        e = joining_node(make_node, c)
        assert add(c, e) == b"OK"
        wait_for(lambda: voters(d) == {c.address, d.address, e.address}, 30, "the joiner promoted")
        writer.nodes.append(e)
        writer.wait_for_progress()
    all_acked_everywhere([c, d, e], writer.acked)


def test_a_long_down_member_comes_back_after_membership_changed(make_cluster, make_node) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    down = cluster.followers(leader)[0]
    down.stop()
    up = [n for n in cluster.nodes if n is not down]
    with Writer(up) as writer:
        writer.wait_for_progress()
        d = joining_node(make_node, up[0])
        assert add(up[0], d) == b"OK"
        wait_for(lambda: d.address in voters(up[0]), 30, "the new node promoted")
        assert raft(up[0], "LEADER", "TRANSFER", d.address) == b"OK"
        writer.wait_for_progress()
        down.start(wait=False)  # it never heard of d, which now leads
        wait_for(lambda: serves_reads(down), 30, "the returning member to serve reads")
        writer.wait_for_progress()
    all_acked_everywhere(up + [d, down], writer.acked)


def test_kvsctl_member_add_with_a_peer_address(make_node) -> None:
    first = make_node(workers=1)
    joiner = joining_node(make_node, first)
    usage = subprocess.run([sys.executable, "-m", "kvsctl", "member", "add", "--help"],
                           capture_output=True, text=True, timeout=30)
    assert "PEER_ADDR" in usage.stdout and "10000" in usage.stdout, usage.stdout
    result = subprocess.run([sys.executable, "-m", "kvsctl", "-a", first.address, "member", "add", joiner.address,
                             joiner.peer_address], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "OK", result.stderr
    wait_for(lambda: voters(first) == {first.address, joiner.address}, 30, "the joiner promoted")
    assert {m["peer_addr"].decode() for m in members(first)} == {first.peer_address, joiner.peer_address}


def test_peer_only_verbs_are_refused_on_client_connections(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    target = cluster.followers(leader)[0]
    cluster_id = cluster_id_of([parse_member(f"{n.address}@{n.peer_address}") for n in cluster.nodes])
    node_id = str(cluster.raft_info(target)["node_id"])
    before = {(m["id"], m["role"]) for m in members(leader)}
    for args in (("REMOVED", cluster_id, node_id), ("BOOTSTRAP", cluster_id, node_id, "[]"), ("IDENTITY",)):
        with pytest.raises(redis.ResponseError, match="unknown subcommand"):
            raft(target, *args)
    assert serves_reads(target)
    assert {(m["id"], m["role"]) for m in members(leader)} == before


def test_peer_admin_requests_need_the_cluster_secret(make_node) -> None:
    node = make_node(workers=1, extra_args=["--cluster-secret", "s3cret"])
    host, port = node.peer_address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(encode_command([b"H", b"wrong", b"7"]) + encode_command([b"A", b"RAFT", b"IDENTITY"]))
        assert sock.recv(1 << 16) == b""  # refused: closed without an answer
    identity = peer_call(node.peer_address, [b"RAFT", b"IDENTITY"], b"s3cret", 7)
    assert isinstance(identity, dict) and identity[b"client_addr"] == node.address.encode()


def test_a_node_with_the_cluster_secret_adds_itself_with_join(make_node) -> None:
    secret = ["--cluster-secret", "s3cret"]
    first = make_node(workers=1, extra_args=secret)
    with Writer([first]) as writer:
        writer.wait_for_progress()
        b = joining_node(make_node, first, *secret)
        writer.nodes.append(b)
        # No kvsctl: b asks first, which adds it as a learner; it is promoted once caught up.
        wait_for(lambda: voters(first) == {first.address, b.address}, 30, "the joiner added and promoted")
        writer.wait_for_progress()
        c = joining_node(make_node, b, *secret)  # through a follower, which relays to the leader
        wait_for(lambda: voters(first) == {first.address, b.address, c.address}, 30, "the second joiner")
        writer.nodes.append(c)
        writer.wait_for_progress()
    assert "asks to join the cluster; adding it" in first.log()
    assert "asked" in b.log() and "waiting for the leader's log" in b.log()
    all_acked_everywhere([first, b, c], writer.acked)


def test_join_with_a_wrong_or_missing_secret_is_refused_and_keeps_waiting(make_node) -> None:
    first = make_node(workers=1, extra_args=["--cluster-secret", "s3cret"])
    wrong = joining_node(make_node, first, "--cluster-secret", "guess")
    missing = joining_node(make_node, first)
    wait_for(lambda: "refused to add this node: the cluster secret does not match" in wrong.log(), 30,
             "the refusal to be logged")
    assert "wrong cluster secret" in first.log()
    assert "no --cluster-secret: not asking" in missing.log()
    for node in (wrong, missing):
        with node.client(protocol=2) as c:
            with pytest.raises(redis.ResponseError, match="waiting to join a cluster"):
                c.get("x")
            assert c.client_list()  # a waiting node still lists its own connections
    assert voters(first) == {first.address} and len(members(first)) == 1
    assert wrong.log().count("refused to add this node") == 1  # asked again, logged once
