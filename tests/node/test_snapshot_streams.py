"""Snapshot streams on a real Raft process's driver, in-process: the real Driver (its Snapshotter on a
tmp_path directory, LevelDB DiskStorage, RawNode over MemoryStorage) and, for peers, real Transports on
loopback sockets. A received snapshot counts only once the core accepts it; a stream belongs to one
(leader, term)."""
from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from raftkv.config import NodeConfig
from raftkv.kv.state_machine import StateMachine
from raftkv.node.disk import DiskStorage
from raftkv.node.loop import Driver
from raftkv.node.snapshots.snapshot_file import iter_chunks, latest_snapshot, write_snapshot
from raftkv.raft.ready import handle_ready
from raftkv.raft.types import ConfState, Entry, EntryKind, Message, MessageType, Role, Snapshot, SnapshotMeta
from raftkv.wire import proposal
from raftkv.wire.members import Member, encode_members
from raftkv.wire.raft_messages import encode_message
from tests.node.test_transport import Side

VOTERS = ConfState(voters=(1, 2, 3))
CHUNK = 4096


class Node:
    """One real Driver, its peers at the given addresses; nothing runs its loop but the test."""

    def __init__(self, tmp_path: Path, node_id: int, peer_addrs: dict[int, str],
                 disk_type: type[DiskStorage] = DiskStorage) -> None:
        self.members = {i: Member(i, f"127.0.0.1:{7000 + i}", peer_addrs.get(i, "127.0.0.1:1"))
                        for i in VOTERS.voters}
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        config = NodeConfig(data_dir=tmp_path / f"n{node_id}", port=7000 + node_id,
                            initial_cluster=tuple(self.members.values()), snapshot_entries=10,
                            catch_up_entries=2, min_free_disk_bytes=0)
        self.disk = disk_type(config.data_dir)
        self.driver = Driver(config, self.disk, {}, self.listener)
        self.dir = config.data_dir / "snapshots"

    def step(self, msg: Message) -> None:
        self.driver.node.step(msg)
        self.ready()

    def ready(self) -> None:
        handle_ready(self.driver.node, self.driver)

    def close(self) -> None:
        self.driver.close()
        self.disk.close()


def entries(first: int, last: int, term: int) -> list[Entry]:
    return [Entry(i, term, EntryKind.NORMAL, proposal.encode(9, i, 0, [b"SET", b"k%d" % i, b"v"]))
            for i in range(first, last + 1)]


def snapshot_file(directory: Path, index: int, term: int, members: dict[int, Member]) -> Path:
    """A leader's snapshot file at ``index``: keys written by entries 1..index."""
    sm = StateMachine()
    for i in range(1, index + 1):
        sm.applied_index = i
        sm.execute([b"SET", b"k%d" % i, b"x" * 200], 0)
    return write_snapshot(directory, sm, SnapshotMeta(index, term, VOTERS), encode_members(members))


def chunks(path: Path, src: int, dst: int, term: int) -> list[list[bytes]]:
    """The chunk records a leader of ``term`` streams for ``path`` (as Snapshotter.pump sends them)."""
    raw = list(iter_chunks(path, CHUNK))
    size = sum(len(c) for c in raw)
    meta = latest_snapshot(path.parent)
    assert meta is not None
    closing = encode_message(Message(MessageType.SNAPSHOT, src, dst, term, snapshot=Snapshot(meta.meta, b"")))
    records, offset = [], 0
    for chunk in raw:
        end = offset + len(chunk)
        records.append([b"%d" % term, b"%d" % offset, b"%d" % size, chunk, closing if end == size else b""])
        offset = end
    assert len(records) > 2, "the tests need streams of several chunks"
    return records


def append(node: Node, after: int, last: int) -> None:
    """The leader of term 2 appends entries after..last to ``node`` and commits them."""
    node.step(Message(MessageType.APPEND, 1, 2, 2, log_term=2, index=after, entries=entries(after + 1, last, 2),
                      commit=last))


def receive(node: Node, src: int, records: list[list[bytes]]) -> None:
    for fields in records:
        node.driver.snapshotter.on_chunk(src, fields)


def wait_for_child(node: Node) -> None:
    """Reap a background snapshot as the loop's ticks do (which is where compaction runs)."""
    snapshotter = node.driver.snapshotter
    deadline = time.monotonic() + 10
    while snapshotter.in_progress:
        assert time.monotonic() < deadline
        time.sleep(0.01)
        snapshotter.tick()


def snapshot_files(node: Node) -> list[str]:
    return sorted(p.name for p in node.dir.iterdir())


@pytest.fixture
def follower(tmp_path: Path) -> Iterator[Node]:
    node = Node(tmp_path, 2, {})
    yield node
    node.close()


def test_a_late_stale_snapshot_is_dropped_and_the_next_compaction_works(tmp_path, follower) -> None:
    leader_dir = tmp_path / "leader"
    members = follower.members
    receive(follower, 1, chunks(snapshot_file(leader_dir / "a", 100, 2, members), 1, 2, 2))
    follower.ready()
    assert follower.driver.applier.applied_index == 100
    # The same leader's earlier stream to us, at 60, finishes late: the core has no use for it.
    receive(follower, 1, chunks(snapshot_file(leader_dir / "b", 60, 2, members), 1, 2, 2))
    follower.ready()
    assert follower.driver.node.pending_snapshot() is None
    snapshotter = follower.driver.snapshotter
    snapshotter.maybe_take()  # before the fix: a snapshot at 100 "past" the stale latest 60 ...
    wait_for_child(follower)  # ... whose compaction raised SnapshotOutOfDate and killed the process
    latest = snapshotter.latest
    assert latest is not None and latest.meta.index == 100
    restart_source = latest_snapshot(follower.dir)
    assert restart_source is not None and restart_source.meta.index == 100
    assert snapshot_files(follower) == [latest.path.name]
    # Compaction still works from there on (the next snapshot waits for as many entries as its 100 keys).
    append(follower, 100, 215)
    assert follower.driver.applier.applied_index == 215
    wait_for_child(follower)
    assert follower.driver.mem.snapshot().meta.index == 215 and snapshotter.latest.meta.index == 215


def test_the_next_snapshot_waits_for_as_many_entries_as_the_state_has_keys(tmp_path, follower) -> None:
    receive(follower, 1, chunks(snapshot_file(tmp_path / "leader", 100, 2, follower.members), 1, 2, 2))
    follower.ready()
    snapshotter = follower.driver.snapshotter
    # 99 entries past a snapshot of 100 keys: more than snapshot_entries (10), fewer than the keys.
    append(follower, 100, 199)
    assert not snapshotter.in_progress and snapshotter.latest.meta.index == 100
    append(follower, 199, 200)
    wait_for_child(follower)
    assert snapshotter.latest.meta.index == 200


def test_each_snapshot_stretches_the_next_interval_by_the_nodes_own_draw(tmp_path, follower, monkeypatch) -> None:
    monkeypatch.setattr("raftkv.node.snapshots.snapshotter.random.random", lambda: 0.5)  # a stretch of 1.25
    receive(follower, 1, chunks(snapshot_file(tmp_path / "leader", 100, 2, follower.members), 1, 2, 2))
    follower.ready()
    snapshotter = follower.driver.snapshotter
    append(follower, 100, 200)
    wait_for_child(follower)
    assert snapshotter.latest.meta.index == 200  # taken here: 200 keys, the next after 200 * 1.25 entries
    append(follower, 200, 449)
    assert not snapshotter.in_progress and snapshotter.latest.meta.index == 200
    append(follower, 449, 450)
    wait_for_child(follower)
    assert snapshotter.latest.meta.index == 450


def test_two_streams_finishing_in_one_turn_install_the_one_the_core_took(tmp_path, follower) -> None:
    members = follower.members
    newer = chunks(snapshot_file(tmp_path / "a", 100, 2, members), 1, 2, 2)
    older = chunks(snapshot_file(tmp_path / "b", 50, 2, members), 1, 2, 2)
    receive(follower, 1, newer)
    receive(follower, 1, older)  # in the same loop turn: no Ready in between
    follower.ready()  # before the fix: RuntimeError, the core installs 100, which was "not received"
    assert follower.driver.applier.applied_index == 100
    assert snapshot_files(follower) == [f"{100:020d}-{2:020d}.snap"]


def test_a_newer_snapshot_before_the_ready_replaces_the_first_and_only_it_is_kept(tmp_path, follower) -> None:
    members = follower.members
    receive(follower, 1, chunks(snapshot_file(tmp_path / "a", 100, 2, members), 1, 2, 2))
    receive(follower, 3, chunks(snapshot_file(tmp_path / "b", 150, 3, members), 3, 2, 3))
    follower.ready()
    assert follower.driver.applier.applied_index == 150
    assert follower.driver.node.status().term == 3
    assert snapshot_files(follower) == [f"{150:020d}-{3:020d}.snap"]


def test_chunks_of_an_older_term_or_of_a_replaced_stream_are_dropped(tmp_path, follower) -> None:
    members = follower.members
    old = chunks(snapshot_file(tmp_path / "a", 120, 2, members), 1, 2, 2)
    new = chunks(snapshot_file(tmp_path / "b", 100, 3, members), 3, 2, 3)
    receive(follower, 1, old[:1])
    receive(follower, 3, new[:1])  # a new leader of term 3 starts its stream: it replaces term 2's
    receive(follower, 1, old[1:])  # the deposed leader's stream goes on, and is dropped
    follower.ready()
    assert follower.driver.snapshotter.latest is None and follower.driver.applier.applied_index == 0
    receive(follower, 3, new[1:])
    follower.ready()
    assert follower.driver.applier.applied_index == 100
    receive(follower, 1, old)  # a whole stream of an older term than ours: dropped, chunk by chunk
    follower.ready()
    assert follower.driver.applier.applied_index == 100
    restart_source = latest_snapshot(follower.dir)
    assert restart_source is not None and restart_source.meta.index == 100
    assert snapshot_files(follower) == [f"{100:020d}-{3:020d}.snap"]


class Cluster:
    """Node 1 as a real Driver, its peers 2 and 3 as real Transports on loopback."""

    def __init__(self, tmp_path: Path) -> None:
        self.peers = {2: Side(2, b""), 3: Side(3, b"")}
        self.node = Node(tmp_path, 1, {i: side.addr for i, side in self.peers.items()})
        self.peers[2].t.set_peers({1: "127.0.0.1:1"})

    def elect(self) -> None:
        """Node 1 wins an election with node 2's votes."""
        node = self.node
        raw = node.driver.node
        raw.campaign()
        node.ready()
        term = raw.status().term + 1
        node.step(Message(MessageType.PRE_VOTE_RESP, 2, 1, term))
        node.step(Message(MessageType.VOTE_RESP, 2, 1, term))
        assert raw.status().role == Role.LEADER

    def chunks_at(self, peer: int, timeout_s: float = 0.5) -> list[tuple[int, list[bytes]]]:
        """The chunk records ``peer`` receives within ``timeout_s``."""
        side = self.peers[peer]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.node.driver.transport.flush()
            for key, _mask in self.node.driver._sel.select(0.005):
                key.data(key.fileobj)
            side.poll()
        return side.chunks

    def close(self) -> None:
        self.node.close()
        for side in self.peers.values():
            side.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    yield c
    c.close()


def needs_snapshot(cluster: Cluster) -> None:
    """Node 3 answers the new leader's probe with an empty log: only a snapshot can catch it up."""
    status = cluster.node.driver.node.status()
    probed = status.progress[3].next - 1
    cluster.node.step(Message(MessageType.APPEND_RESP, 3, 1, status.term, index=probed, reject=True, reject_hint=0))


def test_a_leader_streams_the_snapshot_the_core_asked_for_never_an_older_file(tmp_path, cluster) -> None:
    node = cluster.node
    members = node.members
    # As a follower, node 1 installs a snapshot at 100 from leader 2, then a stale one at 60 arrives.
    receive(node, 2, chunks(snapshot_file(tmp_path / "a", 100, 2, members), 2, 1, 2))
    node.ready()
    receive(node, 2, chunks(snapshot_file(tmp_path / "b", 60, 2, members), 2, 1, 2))
    node.ready()
    cluster.elect()
    needs_snapshot(cluster)
    node.driver.snapshotter.pump()
    got = cluster.chunks_at(3)
    assert got, "node 3 got no snapshot"
    term = node.driver.node.status().term
    assert all(src == 1 and fields[0] == b"%d" % term for src, fields in got)
    sent = b"".join(fields[3] for _src, fields in got)
    # Before the fix the stale file (60) went out: node 3 would need another snapshot at once, forever.
    assert sent == (node.dir / f"{100:020d}-{2:020d}.snap").read_bytes()


def test_a_leader_that_steps_down_cancels_its_streams(tmp_path, cluster) -> None:
    node = cluster.node
    receive(node, 2, chunks(snapshot_file(tmp_path / "a", 100, 2, node.members), 2, 1, 2))
    node.ready()
    cluster.elect()
    needs_snapshot(cluster)  # the stream is set up; its chunks would go out on the next pump
    term = node.driver.node.status().term
    node.step(Message(MessageType.HEARTBEAT, 2, 1, term + 1))  # a newer leader: node 1 steps down
    assert node.driver.node.status().role == Role.FOLLOWER
    node.driver.snapshotter.pump()
    assert cluster.chunks_at(3) == []  # before the fix the deposed leader's stream went on
    cluster.elect()  # leader again, in a later term: the old term's stream does not come back
    node.driver.snapshotter.pump()
    assert cluster.chunks_at(3) == []
