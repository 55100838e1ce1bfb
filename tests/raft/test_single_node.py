"""The single-voter path the node driver depends on: campaign, propose, ready/advance, read_index, restart."""
from __future__ import annotations

import random
import time

from raftkv.raft.log_storage import MemoryStorage
from raftkv.raft.rawnode import RawNode
from raftkv.raft.settings import RaftConfig
from raftkv.raft.types import ConfState, EntryKind, HardState, PeerProgress, ReadState, Ready, Role


def make_node(storage: MemoryStorage | None = None, applied: int = 0) -> tuple[RawNode, MemoryStorage]:
    if storage is None:
        storage = MemoryStorage()
        storage.set_conf_state(ConfState(voters=(1,)))
    return RawNode(RaftConfig(id=1), storage, random.Random(7), applied), storage


def persist(storage: MemoryStorage, rd: Ready) -> None:
    if rd.snapshot is not None:
        storage.apply_snapshot(rd.snapshot)
    storage.append(rd.entries)
    if rd.hard_state is not None:
        storage.set_hard_state(rd.hard_state)


def drain(node: RawNode, storage: MemoryStorage) -> list[Ready]:
    readies = []
    while node.has_ready():
        rd = node.ready()
        persist(storage, rd)
        readies.append(rd)
        node.advance(rd)
    return readies


def test_campaign_makes_single_voter_leader_with_noop() -> None:
    node, storage = make_node()
    node.campaign()
    assert node.status().role == Role.LEADER
    rd = node.ready()
    assert rd.soft_state is not None and rd.soft_state.leader == 1 and rd.soft_state.role == Role.LEADER
    assert rd.hard_state == HardState(term=1, vote=1, commit=0)
    assert [(e.index, e.term, e.kind) for e in rd.entries] == [(1, 1, EntryKind.NOOP)]
    assert rd.committed_entries == [] and rd.messages == []
    persist(storage, rd)
    node.advance(rd)
    # Only now, with the no-op on disk, does the single voter count it as replicated.
    assert node.has_ready()
    rd = node.ready()
    assert rd.hard_state == HardState(term=1, vote=1, commit=1)
    assert [e.index for e in rd.committed_entries] == [1]
    persist(storage, rd)
    node.advance(rd)
    assert not node.has_ready()
    assert node.status().applied == 1


def test_propose_batch_commits_in_order_after_advance() -> None:
    node, storage = make_node()
    node.campaign()
    drain(node, storage)
    datas = [b"cmd%d" % i for i in range(50)]
    assert node.propose(datas)
    rd = node.ready()
    assert [e.data for e in rd.entries] == datas
    assert [e.index for e in rd.entries] == list(range(2, 52))
    assert rd.committed_entries == []  # not persisted yet
    persist(storage, rd)
    node.advance(rd)
    assert node.has_ready()
    rd = node.ready()
    assert [e.data for e in rd.committed_entries] == datas
    assert rd.hard_state is not None and rd.hard_state.commit == 51
    persist(storage, rd)
    node.advance(rd)
    assert not node.has_ready()
    status = node.status()
    assert (status.commit, status.applied, status.last_index) == (51, 51, 51)
    assert status.progress[1] == PeerProgress(match=51, next=52, state="replicate", learner=False)


def test_propose_without_leader_is_dropped() -> None:
    node, _ = make_node()
    assert node.propose([b"x"]) is False


def test_read_index_waits_for_commit_in_term_then_answers_at_once() -> None:
    node, storage = make_node()
    node.campaign()
    node.read_index(b"early")  # the no-op is not committed yet: deferred (thesis §6.4)
    rd = node.ready()
    assert rd.read_states == []
    persist(storage, rd)
    node.advance(rd)
    readies = drain(node, storage)
    assert [rs for rd in readies for rs in rd.read_states] == [ReadState(1, b"early")]
    node.propose([b"a", b"b"])
    drain(node, storage)
    node.read_index(b"now")
    rd = node.ready()
    assert rd.read_states == [ReadState(3, b"now")]
    assert rd.messages == []


def test_restart_from_memory_storage_keeps_term_vote_and_log() -> None:
    node, storage = make_node()
    node.campaign()
    drain(node, storage)
    node.propose([b"a", b"b", b"c"])
    drain(node, storage)
    before = node.status()
    restarted, _ = make_node(storage, applied=2)
    after = restarted.status()
    assert (after.term, after.vote, after.commit, after.last_index) == (
        before.term,
        before.vote,
        before.commit,
        before.last_index,
    )
    assert after.role == Role.FOLLOWER
    # Entries after ``applied`` are handed out again for the state machine to catch up.
    rd = restarted.ready()
    assert [e.data for e in rd.committed_entries] == [b"b", b"c"]
    persist(storage, rd)
    restarted.advance(rd)
    restarted.campaign()
    drain(restarted, storage)
    status = restarted.status()
    assert status.role == Role.LEADER and status.term == before.term + 1
    assert status.commit == before.last_index + 1  # the new term's no-op


def test_single_node_fast_path_cost_per_entry() -> None:
    node, storage = make_node()
    node.campaign()
    drain(node, storage)
    datas = [b"x" * 32] * 50
    rounds = 400
    started = time.perf_counter()
    for _ in range(rounds):
        assert node.propose(datas)
        rd = node.ready()
        storage.append(rd.entries)
        node.advance(rd)
        rd = node.ready()
        assert len(rd.committed_entries) == 50
        node.advance(rd)
    per_entry_s = (time.perf_counter() - started) / (rounds * 50)
    # A few microseconds per entry is the budget; allow slack for slow CI machines.
    assert per_entry_s < 20e-6, per_entry_s
