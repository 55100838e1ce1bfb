"""Applying committed entries in the Raft process, in-process: a real single-voter RawNode over
MemoryStorage, a real StateMachine and a LevelDB on tmp_path; the only thing missing is the loop."""
from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from raftkv.kv.state_machine import StateMachine
from raftkv.kv.table import TABLE
from raftkv.node.apply import Applier
from raftkv.node.cluster import Cluster
from raftkv.node.disk import DiskStorage
from raftkv.node.expiry import ExpirySweeper
from raftkv.node.inflight import InFlight
from raftkv.node.sequencer import Pending, Sequencer, client_key
from raftkv.raft.log_storage import MemoryStorage
from raftkv.raft.rawnode import RawNode, encode_conf_change
from raftkv.raft.ready import handle_ready
from raftkv.raft.settings import RaftConfig
from raftkv.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryKind,
    Message,
    Ready,
    Role,
    SnapshotMeta,
)
from raftkv.sharding.state import ShardState
from raftkv.wire import proposal
from raftkv.wire.members import Member

ME = 1


class Listener:
    def __init__(self) -> None:
        self.applied: list[tuple[int, int, ConfChange]] = []
        self.told: list[tuple[Member, int]] = []

    def tell_removed(self, member: Member, index: int) -> None:
        self.told.append((member, index))

    def on_applied(self, origin: int, request_id: int, change: ConfChange) -> None:
        self.applied.append((origin, request_id, change))


class OneNode:
    """What the loop wires together for applying, minus sockets: the ReadyHandler is this object."""

    def __init__(self, data_dir: Path, voters: tuple[int, ...] = (ME,)) -> None:
        self.disk = DiskStorage(data_dir)
        me = Member(ME, "127.0.0.1:7001", "127.0.0.1:17001")
        self.cluster = Cluster(ME, "c1", me, {ME: me}, ConfState(voters=voters))
        self.replies: list[tuple[int, object]] = []
        self.unanswered: list[int] = []
        self.peer_updates = 0
        self.listener = Listener()
        self._rid = 1000
        self.sequencer = Sequencer(lambda to, v: self.replies.append((to.seq, v)), lambda to, argv: None,
                                   lambda: None, 2.0)
        self.inflight = InFlight(ME, self.new_request_id, self.sequencer.done, 5.0, 0.2)
        self.sweeper = ExpirySweeper(ME, self.new_request_id, commit_timeout_s=5.0)
        self.applier = Applier(self.cluster, self.disk, self.inflight.waiters, self.sequencer.done,
                               self._unanswered, self._peers_changed, lambda: self.is_leader,
                               self.listener, self.sequencer.done,
                               ShardState(me.client_addr, lambda: "", lambda: (me.client_addr,), tuple))
        self.mem = MemoryStorage()
        self.mem.set_conf_state(self.cluster.conf_state)
        self.node = RawNode(RaftConfig(id=ME), self.mem, random.Random(0))
        self.is_leader = False
        if voters == (ME,):
            self.node.campaign()
            self.process()
            self.is_leader = True
        self.sequencer.open(0, 1)
        self.client = self.sequencer.clients[client_key(0, 1)]

    def new_request_id(self) -> int:
        self._rid += 1
        return self._rid

    def _unanswered(self, request_id: int) -> None:
        self.unanswered.append(request_id)
        self.sweeper.applied(request_id)

    def _peers_changed(self) -> None:
        self.peer_updates += 1

    # the ReadyHandler
    def send(self, messages: list[Message]) -> None:
        pass  # nobody else is there

    def persist(self, rd: Ready) -> bool:
        if rd.hard_state is not None:
            self.mem.set_hard_state(rd.hard_state)
        if rd.entries:
            self.mem.append(rd.entries)
        return True  # memory storage: every write is as durable as it gets

    def apply(self, rd: Ready) -> None:
        self.applier.apply(self.node, rd.committed_entries)

    def process(self) -> None:
        handle_ready(self.node, self)

    def write(self, seq: int, *argv: bytes, now_ms: int = 1_000) -> Pending:
        p = Pending(self.client, seq, 2, list(argv), TABLE[argv[0].lower()], 10.0)
        self.client.writes_out += 1
        self.inflight.propose(self.node, [p], 0.0, now_ms)
        return p


@pytest.fixture
def one(tmp_path: Path) -> Iterator[OneNode]:
    node = OneNode(tmp_path / "db")
    yield node
    node.disk.close()


def test_our_write_answers_its_waiter_with_the_result(one: OneNode) -> None:
    p = one.write(1, b"SET", b"k", b"v")
    one.write(2, b"INCR", b"n")
    one.write(3, b"INCR", b"n")
    one.process()
    assert one.replies == [(1, "OK"), (2, 1), (3, 2)]
    assert one.applier.sm.data[b"k"] == b"v"
    assert one.inflight.waiters == {} and p.request_id not in one.unanswered
    assert one.applier.applied_index == one.node.status().commit


def test_an_entry_of_another_node_is_applied_without_answering(one: OneNode) -> None:
    waiting = one.write(1, b"SET", b"mine", b"1")
    # Same request id, other origin: it must not answer our client.
    theirs = proposal.encode(2, waiting.request_id, 1_000, [b"SET", b"theirs", b"2"])
    index = one.node.status().last_index
    # Apply theirs first, as a follower would have received it.
    one.applier.apply(one.node, [Entry(index + 1, one.node.status().term, EntryKind.NORMAL, theirs)])
    assert one.replies == [] and waiting.request_id in one.inflight.waiters
    assert one.applier.sm.data[b"theirs"] == b"2"
    assert one.unanswered == []


def test_our_entry_nobody_waits_for_is_reported(one: OneNode) -> None:
    p = one.write(1, b"SET", b"k", b"v")
    del one.inflight.waiters[p.request_id]  # its client gave up (timed out)
    one.process()
    assert one.replies == [] and one.unanswered == [p.request_id]
    assert one.applier.sm.data[b"k"] == b"v"  # applied all the same


def test_the_time_in_the_entry_is_the_time_applying_uses(one: OneNode) -> None:
    one.write(1, b"SET", b"k", b"v", b"PX", b"100", now_ms=5_000)
    one.process()
    assert one.applier.sm.expires[b"k"] == 5_100


def test_the_expiry_sweep_deletes_due_keys_through_the_log(one: OneNode) -> None:
    sweeper = one.sweeper
    one.write(1, b"SET", b"short", b"v", b"PX", b"100", now_ms=1_000)
    one.write(2, b"SET", b"long", b"v", b"PX", b"100000", now_ms=1_000)
    one.process()
    sweeper.sweep(one.node, one.applier.sm, now=0.0, now_ms=1_050)
    assert not one.node.has_ready()  # nothing due yet: nothing proposed
    sweeper.sweep(one.node, one.applier.sm, now=0.0, now_ms=2_000)
    last = one.node.status().last_index
    sweeper.sweep(one.node, one.applier.sm, now=1.0, now_ms=2_000)  # one sweep in flight at a time
    assert one.node.status().last_index == last
    one.process()
    assert b"short" not in one.applier.sm.data and b"long" in one.applier.sm.data
    sweeper.sweep(one.node, one.applier.sm, now=1.0, now_ms=2_000)
    assert one.node.status().last_index == last  # the sweep applied, and nothing else is due


def test_a_lost_sweep_is_proposed_again_after_the_commit_timeout(one: OneNode) -> None:
    sweeper = one.sweeper
    one.write(1, b"SET", b"k", b"v", b"PX", b"1", now_ms=1_000)
    one.process()
    sweeper.sweep(one.node, one.applier.sm, now=0.0, now_ms=2_000)
    last = one.node.status().last_index
    sweeper.sweep(one.node, one.applier.sm, now=4.9, now_ms=2_000)
    assert one.node.status().last_index == last
    sweeper.sweep(one.node, one.applier.sm, now=5.0, now_ms=2_000)
    assert one.node.status().last_index == last + 1


def test_adding_a_learner_takes_its_addresses_from_the_entry(one: OneNode) -> None:
    new = Member(2, "127.0.0.1:7002", "127.0.0.1:17002")
    change = ConfChange(ConfChangeType.ADD_LEARNER, 2, proposal.encode_context(ME, 77, new))
    assert one.node.propose_conf_change(change)
    updates = one.peer_updates
    one.process()
    assert one.cluster.members[2] == new
    assert one.cluster.conf_state == ConfState(voters=(ME,), learners=(2,))
    assert one.peer_updates == updates + 1
    assert one.listener.applied == [(ME, 77, change)]


def test_removing_another_member_while_leading_tells_it(one: OneNode) -> None:
    new = Member(2, "127.0.0.1:7002", "127.0.0.1:17002")
    assert one.node.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 2,
                                                   proposal.encode_context(ME, 1, new)))
    one.process()
    assert one.node.propose_conf_change(ConfChange(ConfChangeType.REMOVE, 2, proposal.encode_context(ME, 2, None)))
    one.process()
    index = one.node.status().last_index
    assert 2 not in one.cluster.members and one.cluster.removed_members == {2: (new, index)}
    assert one.listener.told == [(new, index)]
    assert one.cluster.peer_addrs() == {2: "127.0.0.1:17002"}  # the address book keeps it
    assert not one.cluster.removed


def test_our_own_removal_is_recorded_in_the_data_dir(tmp_path: Path) -> None:
    node = OneNode(tmp_path / "db", voters=(ME, 2))  # a follower: entries come from the leader
    try:
        change = ConfChange(ConfChangeType.REMOVE, ME, proposal.encode_context(2, 5, None))
        node.applier.apply(node.node, [Entry(1, 1, EntryKind.CONF_CHANGE, encode_conf_change(change))])
        assert node.cluster.removed and node.disk.get_meta("removed") == b"1"
        assert node.cluster.conf_state.voters == (2,)
        assert node.cluster.membership == "removed"
        assert node.listener.told == [] and node.listener.applied == [(2, 5, change)]
        assert node.node.status().role == Role.FOLLOWER
    finally:
        node.disk.close()


def test_installing_a_snapshot_replaces_state_and_members(one: OneNode) -> None:
    sm = StateMachine()
    sm.applied_index = 40
    members = {ME: Member(ME, "10.0.0.1:7001", "10.0.0.1:17001"), 3: Member(3, "10.0.0.3:7001", "10.0.0.3:17001")}
    one.applier.install(sm, SnapshotMeta(40, 6, ConfState(voters=(ME, 3))), members, b"")
    assert one.applier.sm is sm and one.applier.applied_term == 6 and one.applier.applied_index == 40
    assert one.cluster.members == members and one.cluster.me.client_addr == "10.0.0.1:7001"
    assert one.cluster.conf_state.voters == (ME, 3)
