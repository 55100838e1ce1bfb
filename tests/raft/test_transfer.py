"""Leadership transfer (thesis §3.10): catch the target up, send TIMEOUT_NOW, refuse proposals meanwhile,
give up after an election timeout."""
from __future__ import annotations

from raftkv.raft.types import MessageType, Role
from tests.raft.network import Network


def test_3_10_transfer_to_an_up_to_date_follower() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.nodes[1].propose([b"a"])
    net.stabilize()
    net.nodes[1].transfer_leadership(2)
    net.stabilize()
    assert net.leaders() == [2]
    assert net.term(2) == 2 and net.role(1) == Role.FOLLOWER
    # The vote requests carried the transfer context, so the leader lease did not block them.
    assert net.delivered[(MessageType.TIMEOUT_NOW, 1, 2)] == 1


def test_3_10_transfer_catches_a_lagging_target_up_first() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    net.nodes[1].propose([b"a", b"b"])
    net.stabilize()
    net.heal()
    net.nodes[1].transfer_leadership(3)
    net.stabilize()
    assert net.leaders() == [3]
    assert net.applied_data(3) == [b"a", b"b"]


def test_3_10_proposals_are_refused_during_a_transfer_and_it_aborts_after_a_timeout() -> None:
    net = Network([1, 2, 3], election_ticks=10)
    net.elect(1)
    net.isolate(3)
    net.nodes[1].transfer_leadership(3)
    net.stabilize()
    assert net.nodes[1].propose([b"x"]) is False
    for _ in range(10):
        net.tick(1)
        net.stabilize()
    assert net.role(1) == Role.LEADER
    assert net.nodes[1].propose([b"x"]) is True


def test_3_10_transfer_to_a_learner_or_self_is_ignored() -> None:
    net = Network([1, 2], learners=[3])
    net.elect(1)
    net.nodes[1].transfer_leadership(3)
    net.nodes[1].transfer_leadership(1)
    assert net.nodes[1].propose([b"x"]) is True
    net.stabilize()
    assert net.leaders() == [1]
