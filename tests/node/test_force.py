"""--force-new-cluster's rewrite of a data dir, in-process: which changes it appends, what it commits,
that it runs once per run of the server, and what it refuses."""
from __future__ import annotations

from pathlib import Path

import pytest

from raftkv.node.cluster import found
from raftkv.node.disk import DiskStorage, StorageError
from raftkv.node.force import force_new_cluster
from raftkv.raft.rawnode import decode_conf_change, encode_conf_change
from raftkv.raft.types import ConfChange, ConfChangeType, Entry, EntryKind, HardState
from raftkv.wire import proposal
from raftkv.wire.members import Member

MEMBERS = {i: Member(i, f"127.0.0.1:{7000 + i}", f"127.0.0.1:{17000 + i}") for i in (1, 2, 3)}


def data_dir(tmp_path: Path, node_id: int = 1) -> DiskStorage:
    """Founded by 1, 2 and 3, then 4 added as a learner; committed through 3 of its 5 entries."""
    disk = DiskStorage(tmp_path / "data")
    found(disk, node_id, "c1", MEMBERS)
    add = encode_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 4, proposal.encode_context(1, 9, None)))
    entries = [Entry(1, 1, EntryKind.NORMAL, b""), Entry(2, 2, EntryKind.CONF_CHANGE, add),
               *(Entry(i, 2, EntryKind.NORMAL, proposal.encode(1, i, 0, [b"SET", b"k", b"v"])) for i in (3, 4, 5))]
    disk.save(HardState(2, 1, 3), entries, sync=True)
    return disk


def appended(disk: DiskStorage) -> list[tuple[ConfChangeType, int]]:
    return [(c.type, c.node_id) for c in (decode_conf_change(e.data) for e in disk.entries() if e.index > 5)]


def test_every_other_member_is_removed_and_the_whole_log_committed(tmp_path: Path) -> None:
    disk = data_dir(tmp_path)
    force_new_cluster(disk, tmp_path / "data" / "snapshots", "run-1")
    assert appended(disk) == [(ConfChangeType.REMOVE, 2), (ConfChangeType.REMOVE, 3), (ConfChangeType.REMOVE, 4)]
    assert disk.hard_state() == HardState(2, 1, 8)  # the entries past the old commit index are kept
    assert [e.term for e in disk.entries()[5:]] == [2, 2, 2]


def test_a_learner_is_promoted_first(tmp_path: Path) -> None:
    disk = data_dir(tmp_path, node_id=4)
    force_new_cluster(disk, tmp_path / "data" / "snapshots", "run-1")
    assert appended(disk) == [(ConfChangeType.PROMOTE, 4), *((ConfChangeType.REMOVE, i) for i in (1, 2, 3))]


def test_once_per_run(tmp_path: Path) -> None:
    disk = data_dir(tmp_path)
    snapshots = tmp_path / "data" / "snapshots"
    force_new_cluster(disk, snapshots, "run-1")
    # Members added since (the Raft process restarted by the supervisor must not remove them)...
    add = encode_conf_change(ConfChange(ConfChangeType.ADD_LEARNER, 5, proposal.encode_context(1, 10, None)))
    disk.save(HardState(3, 1, 9), [Entry(9, 3, EntryKind.CONF_CHANGE, add)], sync=True)
    force_new_cluster(disk, snapshots, "run-1")
    assert disk.last_index == 9
    # ...but a new run with the flag forces again.
    force_new_cluster(disk, snapshots, "run-2")
    assert appended(disk)[-1] == (ConfChangeType.REMOVE, 5) and disk.hard_state().commit == 10


@pytest.mark.parametrize("case", ["no cluster", "removed", "not a member"])
def test_refusals(tmp_path: Path, case: str) -> None:
    if case == "no cluster":
        disk = DiskStorage(tmp_path / "data")
    else:
        disk = data_dir(tmp_path, node_id=1 if case == "removed" else 9)
        if case == "removed":
            disk.put_meta("removed", b"1")
    with pytest.raises(StorageError, match="--force-new-cluster: ") as info:
        force_new_cluster(disk, tmp_path / "data" / "snapshots", "run-1")
    assert "\n" not in str(info.value)
    assert disk.last_index in (0, 5)
