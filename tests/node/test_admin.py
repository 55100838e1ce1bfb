"""RAFT ... decisions that need no network, on a real single-voter RawNode: refusals, resolving members by
address or id, routing, and waiting for a change to apply. Also the byte format of a change's context."""
from __future__ import annotations

import random
import struct
import time
from collections.abc import Iterator

import pytest

from raftkv.errors import RespError
from raftkv.node.admin import Admin
from raftkv.node.backup import SnapshotSaves
from raftkv.node.cluster import Cluster
from raftkv.node.sequencer import Client, ReplyTo
from raftkv.raft.log_storage import MemoryStorage
from raftkv.raft.rawnode import RawNode, decode_conf_change
from raftkv.raft.ready import handle_ready
from raftkv.raft.settings import RaftConfig
from raftkv.raft.types import ConfState, EntryKind, Message, Ready, Role, SoftState
from raftkv.wire import proposal
from raftkv.wire.members import Member
from tests.node.test_backup import FakeSnapshots

ME = Member(1, "127.0.0.1:7001", "127.0.0.1:17001")
LEARNER = Member(2, "127.0.0.1:7002", "127.0.0.1:17002")


class Leader:
    """A one-voter cluster whose leader answers RAFT commands; Ready is worked off by this object."""

    def __init__(self, learners: tuple[Member, ...] = ()) -> None:
        members = {ME.id: ME, **{m.id: m for m in learners}}
        conf = ConfState(voters=(ME.id,), learners=tuple(m.id for m in learners))
        self.cluster = Cluster(ME.id, "c1", ME, members, conf)
        self.mem = MemoryStorage()
        self.mem.set_conf_state(conf)
        self.node = RawNode(RaftConfig(id=ME.id), self.mem, random.Random(0))
        self.soft = SoftState()
        self.replies: list[tuple[int, object]] = []
        self.joined: list[tuple[str, bytes, bytes, bytes]] = []
        self.told_removed: list[tuple[str, bytes, int]] = []
        self._rid = 0
        reply = lambda to, value: self.replies.append((to.seq, value))  # noqa: E731
        self.snapshots = FakeSnapshots()
        self.admin = Admin(self.cluster, lambda: self.node, lambda: self.soft, reply, self._new_request_id,
                           lambda: [b"1", b"[]"], self._join, self._learn_removed, b"", b"", 1.0,
                           SnapshotSaves(lambda: self.snapshots, lambda: self.node.status(), reply))
        self.node.campaign()
        self.process()
        self.to = ReplyTo(Client(0, 1), 1, 3)

    def _new_request_id(self) -> int:
        self._rid += 1
        return self._rid

    def _join(self, cluster_id: str, voters: bytes, founders: bytes, book: bytes) -> object:
        self.joined.append((cluster_id, voters, founders, book))
        return "OK"

    def _learn_removed(self, cluster_id: str, node_id: bytes, index: int) -> object:
        self.told_removed.append((cluster_id, node_id, index))
        return "OK"

    def command(self, *argv: bytes) -> object | None:
        return self.admin.command(self.to, list(argv))

    # the ReadyHandler
    def send(self, messages: list[Message]) -> None:
        pass

    def persist(self, rd: Ready) -> bool:
        if rd.hard_state is not None:
            self.mem.set_hard_state(rd.hard_state)
        self.mem.append(rd.entries)
        return True  # memory storage: every write is as durable as it gets

    def apply(self, rd: Ready) -> None:
        if rd.soft_state is not None:
            self.soft = rd.soft_state
        for entry in rd.committed_entries:
            if entry.kind == EntryKind.CONF_CHANGE:
                change = decode_conf_change(entry.data)
                self.cluster.conf_state = self.node.apply_conf_change(change)
                origin, rid, _member = proposal.decode_context(change.context)
                self.admin.on_applied(origin, rid, change)

    def process(self) -> None:
        handle_ready(self.node, self)


@pytest.fixture
def leader() -> Iterator[Leader]:
    node = Leader(learners=(LEARNER,))
    assert node.soft.role == Role.LEADER
    yield node
    node.admin.close()


def error_text(reply: object) -> str:
    assert isinstance(reply, RespError), reply
    return reply.message


@pytest.mark.parametrize("target", [ME.client_addr, str(ME.id)])
def test_the_last_voter_cannot_be_removed(leader: Leader, target: str) -> None:
    reply = leader.command(b"RAFT", b"MEMBER", b"REMOVE", target.encode())
    assert error_text(reply).endswith("cannot remove the last voter of the cluster")
    assert not leader.node.has_ready()  # nothing proposed


@pytest.mark.parametrize("target", [ME.client_addr, str(ME.id)])
def test_a_transfer_to_ourselves_is_done_at_once(leader: Leader, target: str) -> None:
    assert leader.command(b"RAFT", b"LEADER", b"TRANSFER", target.encode()) == "OK"


def test_an_unknown_member_is_named_in_the_error(leader: Leader) -> None:
    for sub in ([b"MEMBER", b"REMOVE"], [b"LEADER", b"TRANSFER"]):
        reply = leader.command(b"RAFT", *sub, b"127.0.0.1:9999")
        assert "no member 127.0.0.1:9999 in this cluster" in error_text(reply)


def test_a_learner_cannot_become_leader(leader: Leader) -> None:
    reply = leader.command(b"RAFT", b"LEADER", b"TRANSFER", str(LEARNER.id).encode())
    assert error_text(reply).endswith(f"{LEARNER.client_addr} is not a voter")


@pytest.mark.parametrize("address, expected", [
    (b"nonsense", "bad address 'nonsense': expected host:port"),
    (ME.client_addr.encode(), f"{ME.client_addr} is already a member of this cluster"),
])
def test_member_add_refuses_without_calling_anyone(leader: Leader, address: bytes, expected: str) -> None:
    assert error_text(leader.command(b"RAFT", b"MEMBER", b"ADD", address)).endswith(expected)


@pytest.mark.parametrize("argv, expected", [
    ([b"RAFT", b"MEMBER", b"ADD"], "wrong number of arguments for 'raft|member|add' command"),
    ([b"RAFT", b"MEMBER", b"LIST", b"x"], "wrong number of arguments for 'raft|member|list' command"),
    ([b"RAFT", b"NOPE"], "unknown subcommand"),
])
def test_malformed_commands_are_refused(leader: Leader, argv: list[bytes], expected: str) -> None:
    assert expected in error_text(leader.command(*argv))


def test_removing_a_learner_answers_once_the_change_applies(leader: Leader) -> None:
    assert leader.command(b"RAFT", b"MEMBER", b"REMOVE", LEARNER.client_addr.encode()) is None
    # One change at a time: a second one waits while the first is pending ...
    assert leader.command(b"RAFT", b"MEMBER", b"REMOVE", str(LEARNER.id).encode()) is None
    leader.admin.tick(time.monotonic())
    assert leader.replies == []
    leader.process()
    assert leader.replies == [(1, "OK")]
    assert leader.cluster.conf_state == ConfState(voters=(ME.id,))
    # ... and runs once it applied: here there is nothing left to remove.
    leader.admin.tick(time.monotonic())
    ((_seq, reply),) = leader.replies[1:]
    assert error_text(reply).endswith(f"no member {LEARNER.id} in this cluster")


def test_a_learner_checked_while_another_change_is_in_progress_waits_for_it(leader: Leader) -> None:
    # What MEMBER ADD does once the new node's identity came back from its peer port (a background
    # call): the promotion of the learner added just before may not be applied yet.
    newcomer = Member(3, "127.0.0.1:7003", "127.0.0.1:17003")
    assert leader.command(b"RAFT", b"MEMBER", b"REMOVE", LEARNER.client_addr.encode()) is None
    leader.admin._add_learner(leader.to, newcomer)
    leader.admin.tick(time.monotonic())
    assert leader.replies == []  # waiting, not refused
    leader.process()  # the removal applies
    leader.admin.tick(time.monotonic())  # the learner is proposed
    leader.process()
    assert [reply for _seq, reply in leader.replies] == ["OK", "OK"]
    assert leader.cluster.conf_state == ConfState(voters=(ME.id,), learners=(newcomer.id,))


def test_a_change_still_waiting_after_two_election_timeouts_is_refused(leader: Leader) -> None:
    assert leader.command(b"RAFT", b"MEMBER", b"REMOVE", LEARNER.client_addr.encode()) is None
    assert leader.command(b"RAFT", b"MEMBER", b"REMOVE", str(LEARNER.id).encode()) is None
    leader.admin.tick(time.monotonic() + 2.1)  # two election timeouts of 1 s
    errors = [error_text(reply) for _seq, reply in leader.replies]
    assert any("another membership change is in progress" in e for e in errors)


def test_a_change_not_applied_in_time_is_answered_tryagain(leader: Leader) -> None:
    assert leader.command(b"RAFT", b"MEMBER", b"REMOVE", LEARNER.client_addr.encode()) is None
    leader.admin.tick(time.monotonic() + 60)
    ((seq, reply),) = leader.replies
    assert seq == 1 and error_text(reply).startswith("TRYAGAIN")


def test_member_list(leader: Leader) -> None:
    rows = leader.command(b"RAFT", b"MEMBER", b"LIST")
    assert rows == [
        {b"id": 1, b"client_addr": b"127.0.0.1:7001", b"peer_addr": b"127.0.0.1:17001", b"role": b"voter",
         b"leader": 1, b"match": leader.node.status().last_index, b"lag": 0},
        {b"id": 2, b"client_addr": b"127.0.0.1:7002", b"peer_addr": b"127.0.0.1:17002", b"role": b"learner",
         b"leader": 0, b"match": 0, b"lag": leader.node.status().last_index},
    ]


def test_identity_bootstrap_and_removed_are_answered_on_any_node(leader: Leader) -> None:
    leader.soft = SoftState(leader=0, role=Role.FOLLOWER)  # no leader: these need none
    peer = leader.admin.peer_command
    assert peer([b"RAFT", b"IDENTITY"]) == {
        b"id": 1, b"client_addr": b"127.0.0.1:7001", b"peer_addr": b"127.0.0.1:17001", b"cluster_id": b"c1"}
    assert peer([b"RAFT", b"BOOTSTRAP", b"c9", b"5", b"[]", b"[]"]) == "OK"
    assert peer([b"RAFT", b"REMOVED", b"c1", b"1", b"9"]) == "OK"
    assert leader.joined == [("c9", b"5", b"[]", b"[]")] and leader.told_removed == [("c1", b"1", 9)]
    assert error_text(peer([b"RAFT", b"REMOVED", b"c1", b"1"])).startswith("ERR unknown peer request")


@pytest.mark.parametrize("argv", [[b"RAFT", b"IDENTITY"], [b"RAFT", b"BOOTSTRAP", b"c9", b"5", b"[]", b"[]"],
                                  [b"RAFT", b"REMOVED", b"c1", b"1", b"9"], [b"RAFT", b"REMOVED", b"c1", b"1"]])
def test_peer_only_verbs_are_unknown_on_a_client_connection(leader: Leader, argv: list[bytes]) -> None:
    assert error_text(leader.command(*argv)).startswith("ERR unknown subcommand")
    assert leader.joined == [] and leader.told_removed == []


def test_member_add_takes_an_optional_peer_address(leader: Leader) -> None:
    assert error_text(leader.command(b"RAFT", b"MEMBER", b"ADD", b"127.0.0.1:7009", b"nonsense")).startswith(
        "ERR bad address 'nonsense'")
    assert error_text(leader.command(b"RAFT", b"MEMBER", b"ADD", b"1.2.3.4:5", b"6.7.8.9:10", b"x")).startswith(
        "ERR wrong number of arguments")
    assert error_text(leader.command(b"RAFT", b"MEMBER", b"ADD", b"127.0.0.1:60000")).startswith(
        "ERR no default peer port for 127.0.0.1:60000")


def test_a_follower_without_a_leader_refuses_changes(leader: Leader) -> None:
    leader.soft = SoftState(leader=0, role=Role.FOLLOWER)
    reply = leader.command(b"RAFT", b"MEMBER", b"LIST")
    assert error_text(reply) == "CLUSTERDOWN no leader"


def test_resolve_by_address_or_id() -> None:
    cluster = Cluster(ME.id, "c1", ME, {ME.id: ME, LEARNER.id: LEARNER}, ConfState(voters=(1,), learners=(2,)))
    assert cluster.resolve("127.0.0.1:7002") is LEARNER
    assert cluster.resolve("2") is LEARNER
    assert cluster.resolve("127.0.0.1:17002") is None  # a peer address names nobody
    assert cluster.resolve("3") is None


def test_context_byte_format() -> None:
    """The context is in every conf-change entry ever written: its format must not change."""
    assert proposal.encode_context(7, 9, None) == struct.pack(">QQQ", 7, 9, 0)
    raw = proposal.encode_context(7, 9, LEARNER)
    assert raw == struct.pack(">QQQ", 7, 9, 0) + \
        b'{"id": 2, "client_addr": "127.0.0.1:7002", "peer_addr": "127.0.0.1:17002"}'
    assert proposal.decode_context(raw) == (7, 9, LEARNER)
    assert proposal.decode_context(proposal.encode_context(7, 9, None)) == (7, 9, None)


def test_snapshot_save_is_for_the_leader_and_chunks_for_any_node(leader: Leader) -> None:
    leader.soft = SoftState(leader=ME.id, role=Role.FOLLOWER)
    refused = leader.command(b"RAFT", b"SNAPSHOT", b"SAVE")
    assert isinstance(refused, RespError) and f"from the leader at {ME.client_addr}" in refused.message
    unknown = leader.command(b"RAFT", b"SNAPSHOT", b"CHUNK", b"nope", b"0")
    assert isinstance(unknown, RespError) and "no such snapshot download" in unknown.message
    for argv in ([b"RAFT", b"SNAPSHOT"], [b"RAFT", b"SNAPSHOT", b"SAVE", b"x"], [b"RAFT", b"SNAPSHOT", b"LOAD"]):
        answer = leader.command(*argv)
        assert isinstance(answer, RespError) and "RAFT SNAPSHOT SAVE" in answer.message
