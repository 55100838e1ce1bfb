"""Power loss: the simulated disk keeps only synced writes, with the node's sync policy (a Ready's write
is synced when it holds entries, a snapshot, a new term/vote, or commits a membership change; any other
commit-index-only write is not). Raft needs only term, vote and log on stable storage (figure 2); the
commit index may be lost and relearned, so every safety check must hold when crashes lose it, except
that a configuration a node has acted on must not roll back."""
from __future__ import annotations

from collections import Counter

import pytest

from raftkv.raft.rawnode import encode_conf_change
from raftkv.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Ready,
    Snapshot,
    SnapshotMeta,
)
from tests.sim.simdisk import SimDisk
from tests.sim.simulator import simulate


def test_a_commit_only_write_is_unsynced_and_lost_on_power_loss() -> None:
    disk = SimDisk()
    assert disk.save(Ready(hard_state=HardState(1, 1, 0), entries=[Entry(1, 1), Entry(2, 1)]))
    assert not disk.save(Ready(hard_state=HardState(1, 1, 2)))  # the commit index moved, nothing else
    assert disk.pending_unsynced()
    assert disk.lose_unsynced() == 1
    assert disk.initial_state()[0] == HardState(1, 1, 0)
    assert disk.last_index() == 2  # the synced entries survive


def test_a_synced_write_makes_earlier_unsynced_ones_durable() -> None:
    disk = SimDisk()
    disk.save(Ready(hard_state=HardState(1, 0, 0)))
    assert not disk.save(Ready(hard_state=HardState(1, 0, 0)))
    assert disk.save(Ready(hard_state=HardState(2, 3, 0)))  # a new term and vote: synced
    assert not disk.save(Ready(hard_state=HardState(2, 3, 0)))  # same term and vote: not synced
    disk.save(Ready(entries=[Entry(1, 2)]))  # entries: synced, and everything before with them
    assert not disk.pending_unsynced()
    assert disk.lose_unsynced() == 0
    assert disk.initial_state()[0] == HardState(2, 3, 0)


def test_a_write_that_commits_a_membership_change_is_synced() -> None:
    disk = SimDisk()
    change = Entry(2, 1, EntryKind.CONF_CHANGE, encode_conf_change(ConfChange(ConfChangeType.PROMOTE, 4)))
    disk.save(Ready(hard_state=HardState(1, 1, 0), entries=[Entry(1, 1), change]))
    assert not disk.save(Ready(hard_state=HardState(1, 1, 1), committed_entries=[Entry(1, 1)]))
    assert disk.save(Ready(hard_state=HardState(1, 1, 2), committed_entries=[change]))
    assert disk.lose_unsynced() == 0 and disk.initial_state()[0].commit == 2


def test_applying_a_membership_change_committed_by_an_earlier_unsynced_write_syncs_that_commit() -> None:
    # The commit index covering the change was written on its own, unsynced, and the change is applied
    # by a later Ready that brings no hard state: applying it must not depend on how that write went.
    disk = SimDisk()
    change = Entry(2, 1, EntryKind.CONF_CHANGE, encode_conf_change(ConfChange(ConfChangeType.PROMOTE, 4)))
    disk.save(Ready(hard_state=HardState(1, 1, 0), entries=[Entry(1, 1), change]))
    assert not disk.save(Ready(hard_state=HardState(1, 1, 2)))
    assert disk.save(Ready(committed_entries=[Entry(1, 1), change]))
    assert disk.lose_unsynced() == 0 and disk.initial_state()[0].commit == 2


def test_a_received_snapshot_is_synced_and_a_local_one_survives_losing_the_commit_index() -> None:
    disk = SimDisk()
    snapshot = Snapshot(SnapshotMeta(5, 2, ConfState(voters=(1, 2, 3))), b"s")
    assert disk.save(Ready(hard_state=HardState(2, 0, 5), snapshot=snapshot))
    disk.save(Ready(entries=[Entry(6, 2), Entry(7, 2)]))
    disk.save(Ready(hard_state=HardState(2, 0, 7)))
    disk.take_snapshot(7, ConfState(voters=(1, 2, 3)), b"t", compact_to=6)
    disk.lose_unsynced()
    assert disk.initial_state()[0].commit == 5  # behind the snapshot: the driver must start from 7
    assert disk.snapshot().meta.index == 7 and disk.first_index() == 7


@pytest.mark.sim
@pytest.mark.parametrize("node_count", [3, 5])
def test_safety_holds_when_every_crash_is_a_power_loss(node_count: int) -> None:
    lost = power_losses = early = 0
    for seed in range(12):
        sim = simulate(
            seed,
            node_count,
            power_loss=1.0,
            crash_per_tick=0.04,
            crash_after_early_send=0.05,
            crash_after_persist=0.01,
            crash_after_apply=0.01,
        )
        lost += sim.lost_writes
        power_losses += sim.power_losses
        early += sim.crashes["after the early send, before persisting"]
    # The runs did exercise what they claim to.
    assert power_losses > 50 and lost > 0 and early > 0, (power_losses, lost, early)


@pytest.mark.sim
@pytest.mark.parametrize("node_count", [3, 5])
def test_safety_holds_when_leaders_leave_their_entries_unsynced(node_count: int) -> None:
    """Leaders write their entries unsynced while their followers commit them, and sync only what is
    left uncommitted after a delay: power losses then take entries from a leader's log that the
    cluster committed, and every safety property must still hold."""
    unsynced = deferred = lost = 0
    for seed in range(12):
        sim = simulate(seed, node_count, power_loss=1.0, crash_per_tick=0.03, own_sync_delay_ticks=10)
        unsynced += sim.unsynced_entry_writes
        deferred += sim.deferred_syncs
        lost += sim.lost_writes
    assert unsynced > 100 and deferred > 10 and lost > 0, (unsynced, deferred, lost)


@pytest.mark.sim
@pytest.mark.parametrize("node_count", [3, 5])
def test_membership_changes_survive_power_losses(node_count: int) -> None:
    """Learners added and promoted, voters removed, while every crash is a power loss: every safety
    property holds, and no node restarts with a configuration older than one it acted on."""
    power_losses = 0
    changes: Counter[str] = Counter()
    for seed in range(20):
        sim = simulate(
            seed,
            node_count,
            power_loss=1.0,
            crash_per_tick=0.05,
            crash_after_persist=0.01,
            crash_after_apply=0.03,
            conf_change_per_tick=0.3,
            restart_after_ticks=(1, 5),
        )
        power_losses += sim.power_losses
        changes += sim.conf_changes
    assert power_losses > 100 and min(changes[t] for t in ("ADD_LEARNER", "PROMOTE", "REMOVE")) > 20, (
        power_losses, changes)
