"""Single-server membership changes (thesis §4.1-§4.2): learners catch up without voting, then are
promoted; removal; one change at a time. A change takes effect when its entry is applied."""
from __future__ import annotations

from raftkv.raft.rawnode import decode_conf_change, encode_conf_change
from raftkv.raft.types import ConfChange, ConfChangeType, ConfState, MessageType, Role
from tests.raft.network import Network

FOUNDERS = ConfState(voters=(1, 2, 3))


def change(net: Network, leader: int, change_type: ConfChangeType, node_id: int) -> None:
    assert net.nodes[leader].propose_conf_change(ConfChange(change_type, node_id, b"addr"))
    net.stabilize()


def test_conf_change_codec_round_trip() -> None:
    cc = ConfChange(ConfChangeType.PROMOTE, 2**40 + 7, b"\x00host:1234")
    assert decode_conf_change(encode_conf_change(cc)) == cc


def test_4_2_1_learner_catches_up_but_does_not_count_for_the_majority() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.nodes[1].propose([b"a"])
    net.stabilize()
    # A joining node starts from the founders' membership (or a snapshot) and learns the rest from the log.
    net.add_node(4, FOUNDERS)
    change(net, 1, ConfChangeType.ADD_LEARNER, 4)
    assert net.status(1).progress[4].learner is True
    assert net.applied_data(4) == [b"a"]
    assert net.log(4) == net.log(1)
    net.isolate(2)
    net.isolate(3)
    net.nodes[1].propose([b"b"])
    net.stabilize()
    assert net.log(4)[-1][2] == b"b"
    assert net.status(1).commit < net.status(1).last_index  # 1 + learner is no majority of 3
    net.heal()
    net.tick_all(1)
    assert net.applied_data(4) == [b"a", b"b"]


def test_4_2_learner_promoted_to_voter_then_counts() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.add_node(4, FOUNDERS)
    change(net, 1, ConfChangeType.ADD_LEARNER, 4)
    change(net, 1, ConfChangeType.PROMOTE, 4)
    assert net.status(1).progress[4].learner is False
    # Four voters: 1, 2 and 4 are a majority without 3.
    net.isolate(3)
    net.nodes[1].propose([b"c"])
    net.stabilize()
    assert net.applied_data(1) == [b"c"] and net.applied_data(4) == [b"c"]
    # The promoted node may now lead.
    net.heal()
    net.nodes[1].transfer_leadership(4)
    net.stabilize()
    assert net.leaders() == [4]


def test_4_1_removed_voter_no_longer_counts() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    change(net, 1, ConfChangeType.REMOVE, 3)
    assert 3 not in net.status(1).progress
    net.isolate(3)
    net.nodes[1].propose([b"d"])
    net.stabilize()
    assert net.applied_data(1) == [b"d"] and net.applied_data(2) == [b"d"]


def test_4_2_2_leader_removing_itself_steps_down() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    change(net, 1, ConfChangeType.REMOVE, 1)
    assert net.role(1) == Role.FOLLOWER
    net.isolate(1)
    net.tick_all(40)
    assert len(net.leaders()) == 1 and net.leaders()[0] in (2, 3)


def test_4_1_only_one_change_pending_at_a_time() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.add_node(4, FOUNDERS)
    net.add_node(5, FOUNDERS)
    node = net.nodes[1]
    assert node.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4))
    assert not node.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 5))
    net.stabilize()
    assert node.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 5))


def test_new_leader_waits_for_its_noop_before_a_change() -> None:
    net = Network([1, 2, 3])
    net.filter = lambda m: m.type != MessageType.APPEND_RESP
    net.elect(1)
    assert not net.nodes[1].propose_conf_change(ConfChange(ConfChangeType.REMOVE, 3))
    net.filter = None
    net.tick_all(1)
    assert net.nodes[1].propose_conf_change(ConfChange(ConfChangeType.REMOVE, 3))


def test_invalid_changes_are_refused_or_ignored() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    node = net.nodes[1]
    assert not node.propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 2))  # already a voter
    assert not node.propose_conf_change(ConfChange(ConfChangeType.PROMOTE, 9))  # not a learner
    assert not node.propose_conf_change(ConfChange(ConfChangeType.REMOVE, 9))  # not a member
    # Applying one anyway (e.g. proposed through an older leader) leaves the membership unchanged.
    assert node.apply_conf_change(ConfChange(ConfChangeType.PROMOTE, 9)) == FOUNDERS


def test_follower_forwards_a_conf_change_to_the_leader() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.add_node(4, FOUNDERS)
    assert net.nodes[2].propose_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4))
    net.stabilize()
    assert net.status(1).progress[4].learner is True
