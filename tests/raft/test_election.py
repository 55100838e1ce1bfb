"""Leader election: Raft §5.2 (election safety), §5.4.1 (election restriction), thesis §9.6 (pre-vote),
§6.2 (check-quorum) and §4.2.3 (ignoring vote requests while a leader is live)."""
from __future__ import annotations

import random

from raftkv.raft.log_storage import MemoryStorage
from raftkv.raft.rawnode import RawNode
from raftkv.raft.settings import RaftConfig
from raftkv.raft.types import ConfState, Entry, HardState, Message, MessageType, Role
from tests.raft.network import Network


def test_5_2_election_safety_at_most_one_leader_per_term() -> None:
    for seed in range(30):
        net = Network([1, 2, 3, 4, 5], seed=seed, pre_vote=False, check_quorum=False)
        rng = random.Random(seed)
        leaders_by_term: dict[int, set[int]] = {}
        for _ in range(200):
            # Everyone ticks; messages are delivered in random batches so elections overlap.
            for node in net.nodes.values():
                node.tick()
            for node_id in net.nodes:
                net.process(node_id)
            rng.shuffle(net.queue)
            keep = len(net.queue) // 2
            queue, net.queue = net.queue[:keep], net.queue[keep:]
            for m in queue:
                net.deliver(m)
            for node_id in net.nodes:
                status = net.status(node_id)
                if status.role == Role.LEADER:
                    leaders_by_term.setdefault(status.term, set()).add(node_id)
        assert leaders_by_term, "no leader was ever elected"
        assert all(len(leaders) == 1 for leaders in leaders_by_term.values()), leaders_by_term


def test_5_2_candidate_wins_with_majority_and_followers_learn_the_leader() -> None:
    net = Network([1, 2, 3])
    net.elect(2)
    assert [net.status(n).leader for n in (1, 2, 3)] == [2, 2, 2]
    assert {net.term(n) for n in (1, 2, 3)} == {1}


def test_5_2_split_vote_is_resolved_by_randomized_timeouts() -> None:
    net = Network([1, 2, 3], pre_vote=False)
    for node_id in (1, 2, 3):
        net.nodes[node_id].campaign()  # three candidates of term 1: nobody can win
    net.stabilize()
    assert net.leaders() == []
    for _ in range(100):
        net.tick_all()
        if net.leaders():
            break
    assert len(net.leaders()) == 1


def make_voter(log_terms: list[int], term: int) -> RawNode:
    storage = MemoryStorage()
    storage.set_conf_state(ConfState(voters=(1, 2, 3)))
    storage.append([Entry(i + 1, t) for i, t in enumerate(log_terms)])
    storage.set_hard_state(HardState(term=term))
    return RawNode(RaftConfig(id=1, pre_vote=False, check_quorum=False), storage, random.Random(1))


def vote_answer(node: RawNode, term: int, last_index: int, last_term: int) -> bool:
    node.step(Message(MessageType.VOTE, src=2, dst=1, term=term, index=last_index, log_term=last_term))
    (reply,) = node.ready().messages
    assert reply.type == MessageType.VOTE_RESP
    return not reply.reject


def test_5_4_1_vote_denied_to_candidate_with_older_last_term() -> None:
    # Longer, but its last entry is from an older term.
    assert not vote_answer(make_voter([1, 2], term=2), term=3, last_index=5, last_term=1)


def test_5_4_1_vote_denied_to_candidate_with_shorter_log_of_same_term() -> None:
    assert not vote_answer(make_voter([1, 2, 2], term=2), term=3, last_index=2, last_term=2)


def test_5_4_1_vote_granted_to_at_least_as_up_to_date_candidate() -> None:
    assert vote_answer(make_voter([1, 2, 2], term=2), term=3, last_index=3, last_term=2)
    assert vote_answer(make_voter([1, 2, 2], term=2), term=3, last_index=1, last_term=3)


def test_5_2_one_vote_per_term() -> None:
    node = make_voter([1], term=1)
    assert vote_answer(node, term=2, last_index=1, last_term=1)
    node.advance(node.ready())
    node.step(Message(MessageType.VOTE, src=3, dst=1, term=2, index=1, log_term=1))
    (reply,) = node.ready().messages
    assert reply.reject


def test_vote_is_persisted_in_the_ready_carrying_the_answer() -> None:
    node = make_voter([1], term=1)
    node.step(Message(MessageType.VOTE, src=2, dst=1, term=2, index=1, log_term=1))
    rd = node.ready()
    assert rd.hard_state == HardState(term=2, vote=2, commit=0)
    assert [m.type for m in rd.messages] == [MessageType.VOTE_RESP]


def test_9_6_pre_vote_keeps_a_partitioned_node_from_disrupting_the_leader() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    for _ in range(50):
        net.tick(3)
        net.stabilize()
    # Pre-votes never win without a majority, so the isolated node's term never moved.
    assert net.term(3) == 1
    assert net.role(3) == Role.PRE_CANDIDATE
    net.heal()
    net.tick_all(5)
    assert net.leaders() == [1]
    assert {net.term(n) for n in (1, 2, 3)} == {1}


def test_without_pre_vote_a_rejoining_node_forces_a_new_term() -> None:
    net = Network([1, 2, 3], pre_vote=False, check_quorum=False)
    net.elect(1)
    net.isolate(3)
    for _ in range(50):
        net.tick(3)
        net.stabilize()
    assert net.term(3) > 1
    net.heal()
    net.tick_all(30)
    assert len(net.leaders()) == 1
    assert net.term(net.leaders()[0]) > 1


def test_6_2_check_quorum_leader_steps_down_without_a_majority() -> None:
    net = Network([1, 2, 3], election_ticks=10)
    net.elect(1)
    net.isolate(1)
    for _ in range(10):
        net.tick(1)
        net.stabilize()
    assert net.role(1) == Role.LEADER  # one election timeout: peers were active in the last one
    for _ in range(10):
        net.tick(1)
        net.stabilize()
    assert net.role(1) == Role.FOLLOWER
    assert net.term(1) == 1


def test_4_2_3_followers_ignore_votes_while_their_leader_is_live() -> None:
    net = Network([1, 2, 3], pre_vote=False)
    net.elect(1)
    # Node 3 campaigns at a higher term, but 2 heard from 1 within the election timeout.
    net.cut.add((1, 3))
    net.cut.add((3, 1))
    net.nodes[3].campaign()
    net.stabilize()
    assert net.role(3) == Role.CANDIDATE
    assert net.term(2) == 1 and net.status(2).leader == 1
    assert net.leaders() == [1]


def test_leader_steps_down_on_a_higher_term() -> None:
    net = Network([1, 2, 3], check_quorum=False)
    net.elect(1)
    net.nodes[1].step(Message(MessageType.APPEND_RESP, src=2, dst=1, term=5))
    assert net.role(1) == Role.FOLLOWER and net.term(1) == 5


def test_learner_never_campaigns() -> None:
    net = Network([1, 2], learners=[3])
    net.elect(1)
    net.isolate(1)
    for _ in range(100):
        net.tick(3)
        net.stabilize()
    assert net.role(3) == Role.FOLLOWER and net.term(3) == 1
