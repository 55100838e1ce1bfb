"""A leader whose replicating followers make a majority without it writes its entries unsynced (thesis
§10.2.1: its own write is not needed for commitment); it counts its own copy only once a synced write
covers it, and a node that stops being leader syncs what it left unsynced before it answers anyone.

Here every node reports its writes synced exactly as :func:`raftkv.raft.ready.needs_sync` says, as the
Raft process does; the power-loss simulation (tests/sim) checks the same policy under crashes."""
from __future__ import annotations

from raftkv.raft.ready import DeferredSync, handle_ready, hard_state_to_save, needs_sync
from raftkv.raft.types import MessageType, Ready, Role
from tests.raft.network import Network, _NodeIO


class _SyncPolicyIO(_NodeIO):
    def persist(self, rd: Ready) -> bool:
        stored = self.net.storages[self.node_id].initial_state()[0]
        super().persist(rd)
        return needs_sync(rd, stored)


class _PolicyNetwork(Network):
    def process(self, node_id: int) -> bool:
        return handle_ready(self.nodes[node_id], _SyncPolicyIO(self, node_id))


def _cluster(voters: list[int], **config: object) -> _PolicyNetwork:
    net = _PolicyNetwork(voters, pre_vote=False, **config)
    net.elect(1)
    net.nodes[1].propose([b"warm-up"])  # the followers answer: they are replicating from here on
    net.stabilize()
    return net


def test_a_leader_with_replicating_followers_writes_its_entries_unsynced() -> None:
    net = _cluster([1, 2, 3])
    leader = net.nodes[1]
    leader.propose([b"x"])
    assert leader.has_ready()
    rd = leader.ready()
    assert rd.entries and rd.may_defer_sync
    assert not needs_sync(rd, net.storages[1].initial_state()[0])


def test_the_followers_commit_an_entry_without_the_leaders_copy() -> None:
    net = _cluster([1, 2, 3])
    leader = net.nodes[1]
    leader.propose([b"x"])
    net.stabilize()
    assert all(net.applied_data(n)[-1] == b"x" for n in (1, 2, 3))  # committed by followers 2 and 3
    assert leader.oldest_unsynced_uncommitted() == 0  # committed: nothing left to sync for


def test_an_unsynced_copy_is_not_counted_until_it_is_synced() -> None:
    net = _cluster([1, 2, 3])
    leader = net.nodes[1]
    net.isolate(3)  # only follower 2 answers: leader + 2 is a majority only with the leader's copy
    commit = net.status(1).commit
    leader.propose([b"x"])
    net.stabilize()
    assert net.status(1).commit == commit, "an unsynced copy counted towards commitment"
    oldest = leader.oldest_unsynced_uncommitted()
    assert oldest == commit + 1
    leader.log_synced()  # the driver's deferred sync
    net.stabilize()
    assert net.status(1).commit == oldest
    assert net.applied_data(1)[-1] == b"x"
    assert leader.oldest_unsynced_uncommitted() == 0


def test_a_follower_that_stops_answering_ends_the_deferral() -> None:
    net = _cluster([1, 2, 3])
    leader = net.nodes[1]
    assert leader.may_defer_sync()
    leader.report_unreachable(3)  # probing again: no longer counted on to commit
    assert not leader.may_defer_sync()
    leader.propose([b"x"])
    rd = leader.ready()
    assert rd.entries and not rd.may_defer_sync
    assert needs_sync(rd, net.storages[1].initial_state()[0])


def test_one_or_two_voters_never_defer() -> None:
    for voters in ([1], [1, 2]):
        net = _cluster(voters)
        leader = net.nodes[1]
        leader.propose([b"x"])
        rd = leader.ready()
        assert rd.entries and not rd.may_defer_sync, voters


def test_a_leader_that_steps_down_syncs_its_log_before_answering() -> None:
    net = _cluster([1, 2, 3], check_quorum=True)
    leader = net.nodes[1]
    leader.propose([b"x"])
    net.isolate(1)
    net.stabilize()  # written unsynced, never acknowledged
    assert leader.oldest_unsynced_uncommitted()
    stored = net.storages[1].initial_state()[0]
    for _ in range(2 * 10):  # check-quorum: a leader that hears from nobody steps down, same term
        leader.tick()
        if leader.status().role != Role.LEADER:
            break
    assert leader.status().role == Role.FOLLOWER
    assert leader.has_ready()
    rd = leader.ready()
    assert rd.must_sync_log and needs_sync(rd, stored)
    assert hard_state_to_save(rd, stored) == stored  # something to write, synced, though nothing changed
    assert not any(m.type == MessageType.APPEND_RESP for m in rd.messages)


def test_an_entry_left_uncommitted_is_synced_after_the_delay_or_once_the_followers_cannot_commit() -> None:
    net = _cluster([1, 2, 3])
    leader = net.nodes[1]
    net.isolate(3)
    leader.propose([b"x"])
    net.stabilize()
    deferred = DeferredSync(2.0)
    assert not deferred.due(leader, 10.0) and deferred.due_at == 12.0  # first seen: it waits
    assert not deferred.due(leader, 11.9)
    assert deferred.due(leader, 12.0) and deferred.due_at == float("inf")
    leader.log_synced()
    net.stabilize()
    assert not deferred.due(leader, 13.0)  # committed: nothing to wait for
    leader.propose([b"y"])
    net.stabilize()
    assert not deferred.due(leader, 20.0)
    leader.report_unreachable(3)  # follower 2 alone cannot commit: sync at once
    assert deferred.due(leader, 20.1)
