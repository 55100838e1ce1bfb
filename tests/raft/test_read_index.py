"""Linearizable reads with ReadIndex (thesis §6.4): leader, follower, batching, and the rules that keep
a read from returning stale data."""
from __future__ import annotations

from raftkv.raft.types import Message, MessageType, ReadState
from tests.raft.network import Network


def test_6_4_leader_read_index_after_a_heartbeat_round() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.nodes[1].propose([b"a"])
    net.stabilize()
    net.nodes[1].read_index(b"r1")
    rd = net.nodes[1].ready()
    assert rd.read_states == []  # not before a majority confirmed leadership
    assert {m.type for m in rd.messages} == {MessageType.HEARTBEAT}
    net.queue.extend(rd.messages)
    net.nodes[1].advance(rd)
    net.stabilize()
    assert net.read_states[1] == [ReadState(2, b"r1")]


def test_6_4_many_reads_share_one_heartbeat_round() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    for i in range(5):
        net.nodes[1].read_index(b"r%d" % i)
    net.delivered.clear()
    net.stabilize()
    assert net.read_states[1] == [ReadState(1, b"r%d" % i) for i in range(5)]
    assert net.delivered[(MessageType.HEARTBEAT, 1, 2)] == 1
    assert net.delivered[(MessageType.HEARTBEAT, 1, 3)] == 1


def test_6_4_follower_read_goes_through_the_leader() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.nodes[1].propose([b"a", b"b"])
    net.stabilize()
    net.nodes[3].read_index(b"f")
    net.stabilize()
    assert net.read_states[3] == [ReadState(3, b"f")]
    assert net.read_states[1] == []
    assert net.delivered[(MessageType.READ_INDEX, 3, 1)] == 1


def test_6_4_contexts_of_different_followers_do_not_collide() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.nodes[2].read_index(b"same")
    net.nodes[3].read_index(b"same")
    net.stabilize()
    assert net.read_states[2] == [ReadState(1, b"same")]
    assert net.read_states[3] == [ReadState(1, b"same")]


def test_6_4_read_is_deferred_until_the_leader_commits_in_its_term() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.nodes[1].propose([b"a"])
    net.stabilize()
    # Leadership moves to 2, whose no-op cannot be acknowledged yet.
    net.filter = lambda m: m.type != MessageType.APPEND_RESP
    net.nodes[1].transfer_leadership(2)
    net.stabilize()
    assert net.status(2).role.name == "LEADER" and net.term(2) == 2
    net.nodes[2].read_index(b"early")
    net.nodes[3].read_index(b"early-follower")
    net.tick_all(3)
    assert net.read_states[2] == [] and net.read_states[3] == []
    net.filter = None
    net.tick_all(2)
    # Answered only after the term-2 no-op (index 3) committed, and at least at that index.
    assert net.read_states[2] == [ReadState(3, b"early")]
    assert net.read_states[3] == [ReadState(3, b"early-follower")]


def test_6_4_leader_cut_off_from_the_majority_serves_no_read() -> None:
    net = Network([1, 2, 3], check_quorum=False)
    net.elect(1)
    net.isolate(1)
    net.nodes[1].read_index(b"stale")
    net.tick_all(20)
    assert net.read_states[1] == []


def test_6_4_read_without_leader_is_dropped() -> None:
    net = Network([1, 2, 3])
    net.nodes[2].read_index(b"nobody")
    net.stabilize()
    assert net.read_states[2] == [] and not net.delivered


def test_6_4_lost_round_is_retried_by_the_next_heartbeat() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.filter = lambda m: m.type != MessageType.HEARTBEAT_RESP
    net.nodes[1].read_index(b"r")
    net.stabilize()
    assert net.read_states[1] == []
    net.filter = None
    net.tick_all(1)
    assert net.read_states[1] == [ReadState(1, b"r")]


def test_6_4_heartbeat_answer_from_an_old_term_confirms_nothing() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.nodes[1].read_index(b"r")
    rd = net.nodes[1].ready()
    net.nodes[1].advance(rd)
    context = rd.messages[0].context
    net.nodes[1].step(Message(MessageType.HEARTBEAT_RESP, src=2, dst=1, term=0, context=context))
    assert net.nodes[1].ready().read_states == []
