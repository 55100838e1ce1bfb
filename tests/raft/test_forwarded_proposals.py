"""Forwarded proposals the leader does not append are handed back to their proposer (PROPOSE_DROPPED), so
that it can answer its clients at once instead of at its commit timeout: during a leadership transfer
(thesis §3.10), at a node that is no longer leader (Raft §5.1: the proposer's idea of the leader was
stale), over the uncommitted limit, and for the part of a batch that breaks one-change-at-a-time
(thesis §4.1). An entry handed back was never appended anywhere, so it can never commit."""
from __future__ import annotations

from raftkv.raft.types import Entry, EntryKind, Message, MessageType, Role
from tests.raft.network import Network


def test_3_10_a_proposal_forwarded_during_a_transfer_comes_back_and_never_commits() -> None:
    net = Network([1, 2, 3], election_ticks=10)
    net.elect(1)
    net.isolate(3)  # the TIMEOUT_NOW is lost: the transfer stays in progress
    net.nodes[1].transfer_leadership(3)
    assert net.nodes[2].propose([b"x", b"y"])
    net.stabilize()
    assert net.dropped[2] == [b"x", b"y"]
    assert net.delivered[(MessageType.PROPOSE_DROPPED, 1, 2)] == 1
    for _ in range(10):  # the transfer is given up after an election timeout
        net.tick(1)
        net.stabilize()
    net.heal()
    net.tick_all(2)
    assert net.role(1) == Role.LEADER
    assert all(b"x" not in [d for _i, _t, d in net.log(n)] for n in (1, 2, 3))


def test_5_1_a_proposal_reaching_a_former_leader_comes_back_to_its_proposer() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.cut |= {(2, 3), (3, 2)}  # 3 will not hear of the new leader
    net.nodes[1].transfer_leadership(2)
    net.stabilize()
    assert net.leaders() == [2] and net.status(3).leader == 1
    assert net.nodes[3].propose([b"stale"])
    net.stabilize()
    assert net.dropped[3] == [b"stale"]
    assert net.term(3) == 1  # the answer carries no term: it neither deposes nor promotes anyone
    net.heal()
    net.tick_all(2)
    assert all(b"stale" not in net.applied_data(n) for n in (1, 2, 3))


def test_a_forwarded_batch_over_the_uncommitted_limit_comes_back_whole() -> None:
    net = Network([1, 2, 3], max_uncommitted_entries=3)
    net.elect(1)
    net.isolate(3)
    net.filter = lambda m: m.type != MessageType.APPEND_RESP  # nothing commits: the uncommitted tail grows
    assert net.nodes[1].propose([b"a", b"b"])
    net.stabilize()
    assert net.nodes[2].propose([b"c", b"d"])
    net.stabilize()
    assert net.dropped[2] == [b"c", b"d"]


def test_4_1_only_the_second_membership_change_of_a_forwarded_batch_comes_back() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    first = Entry(0, 0, EntryKind.CONF_CHANGE, b"first")
    second = Entry(0, 0, EntryKind.CONF_CHANGE, b"second")
    normal = Entry(0, 0, EntryKind.NORMAL, b"n")
    net.nodes[1].step(Message(MessageType.PROPOSE, 2, 1, entries=[first, second, normal]))
    rd = net.nodes[1].ready()
    back = [m for m in rd.messages if m.type == MessageType.PROPOSE_DROPPED]
    assert [(m.dst, m.entries) for m in back] == [(2, [second])]
    assert [(e.kind, e.data) for e in rd.entries] == [(EntryKind.CONF_CHANGE, b"first"), (EntryKind.NORMAL, b"n")]


def test_nothing_comes_back_when_everything_was_appended_or_the_sender_is_no_member() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    assert net.nodes[2].propose([b"ok"])
    net.stabilize()
    assert net.applied_data(2) == [b"ok"] and net.dropped[2] == []
    net.nodes[2].step(Message(MessageType.PROPOSE, 9, 2, entries=[Entry(0, 0, EntryKind.NORMAL, b"x")]))
    assert net.nodes[2].ready().messages == []


def test_dropped_proposals_reach_the_driver_once_whatever_the_role() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    back = Message(MessageType.PROPOSE_DROPPED, 2, 1, entries=[Entry(0, 0, EntryKind.NORMAL, b"z")])
    net.nodes[1].step(back)
    assert net.nodes[1].has_ready()
    rd = net.nodes[1].ready()
    assert [e.data for e in rd.dropped_proposals] == [b"z"]
    net.nodes[1].advance(rd)
    assert net.nodes[1].ready().dropped_proposals == []
