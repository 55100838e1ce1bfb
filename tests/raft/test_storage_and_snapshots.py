"""MemoryStorage semantics, restart from storage (Raft figure 2: persistent state), and catching a
follower up with a snapshot once the entries it needs were compacted (Raft §7)."""
from __future__ import annotations

import random

import pytest

from raftkv.raft.log_storage import Compacted, MemoryStorage, RaftError, SnapshotOutOfDate, Unavailable
from raftkv.raft.rawnode import RawNode
from raftkv.raft.settings import RaftConfig
from raftkv.raft.types import ConfState, Entry, HardState, MessageType, Role
from tests.raft.network import Network


def filled(last: int) -> MemoryStorage:
    storage = MemoryStorage()
    storage.append([Entry(i, 1 + i // 4, data=b"%d" % i) for i in range(1, last + 1)])
    return storage


def test_memory_storage_bounds_and_dummy_entry() -> None:
    storage = filled(10)
    assert (storage.first_index(), storage.last_index()) == (1, 10)
    assert storage.term(0) == 0
    storage.compact(4)
    assert (storage.first_index(), storage.last_index()) == (5, 10)
    assert storage.term(4) == 2  # kept by the dummy entry
    with pytest.raises(Compacted):
        storage.term(3)
    with pytest.raises(Compacted):
        storage.entries(4, 6)
    with pytest.raises(Unavailable):
        storage.term(11)
    with pytest.raises(Unavailable):
        storage.entries(9, 12)
    assert [e.index for e in storage.entries(5, 11)] == [5, 6, 7, 8, 9, 10]
    with pytest.raises(Compacted):
        storage.compact(4)


def test_memory_storage_entries_respect_max_bytes_but_return_at_least_one() -> None:
    storage = filled(10)
    assert len(storage.entries(1, 11, max_bytes=0)) == 1
    assert len(storage.entries(1, 11, max_bytes=2 * (16 + 1))) == 2


def test_memory_storage_append_truncates_a_conflicting_suffix() -> None:
    storage = filled(10)
    storage.append([Entry(6, 9), Entry(7, 9)])
    assert storage.last_index() == 7 and storage.term(6) == 9
    storage.compact(5)
    storage.append([Entry(4, 9), Entry(5, 9), Entry(6, 10)])  # the compacted part is skipped
    assert storage.first_index() == 6 and storage.term(6) == 10
    with pytest.raises(RaftError):
        storage.append([Entry(9, 10)])  # a gap


def test_memory_storage_snapshots() -> None:
    storage = filled(10)
    snap = storage.create_snapshot(6, ConfState(voters=(1, 2)), b"state")
    assert (snap.meta.index, snap.meta.term, snap.data) == (6, 2, b"state")
    assert storage.snapshot() is snap
    with pytest.raises(SnapshotOutOfDate):
        storage.create_snapshot(6, ConfState(), b"")
    other = MemoryStorage()
    other.append([Entry(1, 1)])
    other.apply_snapshot(snap)
    assert (other.first_index(), other.last_index(), other.term(6)) == (7, 6, 2)
    assert other.initial_state()[1] == ConfState(voters=(1, 2))


def test_restart_of_a_three_node_cluster_keeps_term_vote_and_log() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.nodes[1].propose([b"a", b"b"])
    net.stabilize()
    before = {n: (net.term(n), net.status(n).vote, net.log(n)) for n in net.nodes}
    for n in list(net.nodes):
        net.start(n)
    after = {n: (net.term(n), net.status(n).vote, net.log(n)) for n in net.nodes}
    assert after == before
    net.stabilize()
    assert all(net.applied_data(n) == [b"a", b"b"] for n in net.nodes)  # replayed from the log
    net.tick_all(30)
    assert len(net.leaders()) == 1


def test_restart_rejects_a_hard_state_commit_past_the_log() -> None:
    storage = filled(3)
    storage.set_conf_state(ConfState(voters=(1,)))
    storage.set_hard_state(HardState(term=1, vote=1, commit=5))
    with pytest.raises(RaftError):
        RawNode(RaftConfig(id=1), storage, random.Random(0))


def compacting_cluster() -> Network:
    """Node 3 misses many entries which the leader then folds into a snapshot."""
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    for i in range(20):
        net.nodes[1].propose([b"v%d" % i])
    net.stabilize()
    storage = net.storages[1]
    applied = net.status(1).applied
    storage.create_snapshot(applied, ConfState(voters=(1, 2, 3)), b"snapshot@%d" % applied)
    storage.compact(applied)
    return net


def test_7_lagging_follower_is_caught_up_with_a_snapshot() -> None:
    net = compacting_cluster()
    net.heal()
    net.nodes[1].propose([b"after"])
    net.tick_all(2)
    assert net.delivered[(MessageType.SNAPSHOT, 1, 3)] == 1
    storage = net.storages[3]
    assert storage.snapshot().data == b"snapshot@21"
    assert storage.first_index() == 22
    assert net.log(3) == net.log(1)[-1:]
    assert net.applied_data(3) == [b"after"]  # entries after the snapshot are applied normally
    assert net.status(1).progress[3].state == "replicate"


def test_7_follower_ready_carries_the_snapshot_and_no_committed_entries() -> None:
    net = compacting_cluster()
    net.heal()
    delivered = []
    net.filter = lambda m: not (m.type == MessageType.SNAPSHOT and not delivered.append(m))
    net.tick_all(2)
    (message,) = delivered
    follower = net.start(3)
    follower.step(message)
    rd = follower.ready()
    assert rd.snapshot is message.snapshot
    assert rd.committed_entries == [] and rd.entries == []
    assert rd.hard_state is not None and rd.hard_state.commit == 21
    (reply,) = rd.messages
    assert (reply.type, reply.index, reply.reject) == (MessageType.APPEND_RESP, 21, False)
    net.storages[3].apply_snapshot(rd.snapshot)
    follower.advance(rd)
    assert follower.status().applied == 21


def test_7_failed_snapshot_is_retried_after_report_snapshot() -> None:
    net = compacting_cluster()
    net.heal()
    net.filter = lambda m: m.type != MessageType.SNAPSHOT
    net.tick_all(2)
    assert net.status(1).progress[3].state == "snapshot"
    net.nodes[1].report_snapshot(3, ok=False)
    assert net.status(1).progress[3].state == "probe"
    net.filter = None
    net.tick_all(2)
    assert net.storages[3].snapshot().meta.index == 21
    assert net.role(3) == Role.FOLLOWER and net.log(3) == net.log(1)
