"""A leader that defers its commit notices (``RaftConfig.defer_commit_notices``, as the Raft process
runs) tells a new commit index with the next batch's APPEND, and on its own only when its driver asks
(:class:`raftkv.raft.ready.CommitNotice`): the followers then apply later, never wrongly."""
from __future__ import annotations

from raftkv.raft.ready import CommitNotice
from raftkv.raft.types import MessageType
from tests.raft.network import Network


def _cluster(defer: bool) -> Network:
    net = Network([1, 2, 3], pre_vote=False, defer_commit_notices=defer)
    net.elect(1)
    net.stabilize()
    if defer:  # the no-op's commit, so that nothing is owed to begin with
        net.nodes[1].notify_commit()
        net.stabilize()
    return net


def _appends_from_leader(net: Network) -> int:
    return sum(n for (kind, src, _dst), n in net.delivered.items() if kind == MessageType.APPEND and src == 1)


def test_without_deferral_the_followers_are_told_the_commit_at_once() -> None:
    net = _cluster(defer=False)
    net.nodes[1].propose([b"x"])
    net.stabilize()
    assert all(net.applied_data(n)[-1] == b"x" for n in (1, 2, 3))
    assert net.nodes[1].untold_commit() == 0


def test_a_deferred_commit_notice_waits_for_the_driver() -> None:
    net = _cluster(defer=True)
    leader = net.nodes[1]
    leader.propose([b"x"])
    net.stabilize()
    commit = net.status(1).commit
    assert net.applied_data(1)[-1] == b"x"  # the leader commits and applies on the acknowledgements
    assert all(net.status(n).commit < commit for n in (2, 3))  # the followers were not told
    owed = leader.untold_commit()
    assert owed
    appends = _appends_from_leader(net)
    leader.notify_commit()
    net.stabilize()
    assert _appends_from_leader(net) == appends + 2
    assert all(net.status(n).commit == commit and net.applied_data(n)[-1] == b"x" for n in (2, 3))
    assert leader.untold_commit() == 0


def test_the_next_batch_carries_the_commit_index() -> None:
    net = _cluster(defer=True)
    leader = net.nodes[1]
    leader.propose([b"x"])
    net.stabilize()
    first = leader.untold_commit()
    assert first
    leader.propose([b"y"])  # its APPENDs carry the commit of x
    assert leader.untold_commit() == 0
    net.stabilize()  # y commits in turn, and is owed
    assert all(net.applied_data(n)[-1] == b"x" for n in (2, 3))
    assert leader.untold_commit() not in (0, first)


def test_the_notice_goes_after_the_delay_unless_a_batch_carried_it() -> None:
    net = _cluster(defer=True)
    leader = net.nodes[1]
    notice = CommitNotice(2.0)
    assert not notice.due(leader, 1.0) and notice.due_at == float("inf")  # nothing owed
    leader.propose([b"x"])
    net.stabilize()
    assert not notice.due(leader, 10.0) and notice.due_at == 12.0
    leader.propose([b"y"])  # carried by the APPENDs of y
    assert not notice.due(leader, 11.0) and notice.due_at == float("inf")
    net.stabilize()  # y committed: owed again, from now on
    assert not notice.due(leader, 11.5) and notice.due_at == 13.5
    assert not notice.due(leader, 13.4)
    assert notice.due(leader, 13.5)
    leader.notify_commit()
    net.stabilize()
    assert not notice.due(leader, 14.0) and all(net.applied_data(n)[-1] == b"y" for n in (2, 3))


def test_a_follower_is_never_told_more_than_it_holds() -> None:
    net = _cluster(defer=True)
    leader = net.nodes[1]
    net.isolate(3)
    leader.propose([b"x"])
    net.stabilize()
    leader.notify_commit()
    net.stabilize()
    assert net.applied_data(2)[-1] == b"x"
    assert b"x" not in net.applied_data(3)
    assert leader.untold_commit() == 0  # 3 holds nothing committed since it was told: owed nothing


def test_a_follower_whose_forwarded_write_committed_is_told_at_once() -> None:
    # Its client waits for it to apply the entry: a deferred notice would add the whole delay to every
    # write sent through a follower when no batch follows.
    net = _cluster(defer=True)
    leader = net.nodes[1]
    net.nodes[2].propose([b"via-2"])  # forwarded to the leader
    net.stabilize()
    commit = net.status(1).commit
    assert net.status(2).commit == commit and net.applied_data(2)[-1] == b"via-2"
    assert net.status(3).commit < commit  # nobody waits on 3: its notice is still deferred
    assert leader.untold_commit()
    net.nodes[2].propose([b"again"])  # told again for each forwarded batch
    net.stabilize()
    assert net.applied_data(2)[-1] == b"again"
