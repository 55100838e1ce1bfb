"""The member table's decisions, on a LevelDB in tmp_path: membership follows the ConfState while the
address book only grows and is kept in the data dir; a removed node that is added back (by a conf change
or a snapshot) serves again, also after a restart, and others stop treating it as removed."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from raftkv.config import NodeConfig
from raftkv.node.cluster import Cluster
from raftkv.node.disk import DiskStorage
from raftkv.raft.types import ConfState
from raftkv.wire.members import Member, encode_members

A = Member(1, "127.0.0.1:7001", "127.0.0.1:17001")
B = Member(2, "127.0.0.1:7002", "127.0.0.1:17002")
C = Member(3, "127.0.0.1:7003", "127.0.0.1:17003")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[DiskStorage]:
    d = DiskStorage(tmp_path / "db")
    yield d
    d.close()


def founded(disk: DiskStorage) -> Cluster:
    """Node A of the founding cluster A, B."""
    config = NodeConfig(host="127.0.0.1", port=7001, data_dir=disk.path, initial_cluster=(A, B))
    return Cluster.open(config, disk)


def reopened(disk: DiskStorage) -> Cluster:
    return Cluster.open(NodeConfig(host="127.0.0.1", port=7001, data_dir=disk.path), disk)


def test_a_member_added_after_the_founders_is_known_after_a_restart(disk: DiskStorage) -> None:
    cluster = founded(disk)
    founders_id = cluster.node_id
    cluster.added(disk, C)
    again = reopened(disk)
    assert again.node_id == founders_id
    assert again.peer_addrs() == {m.id: m.peer_addr for m in (B, C) if m.id != founders_id}


def test_replaying_a_removal_keeps_the_address_of_a_member_added_back(disk: DiskStorage) -> None:
    cluster = founded(disk)
    cluster.added(disk, C)
    cluster.conf_state = ConfState(voters=(A.id, B.id))
    assert cluster.gone(disk, C.id, 12) == C
    assert cluster.removed_members == {C.id: (C, 12)} and C.id not in cluster.members
    assert cluster.peer_addrs()[C.id] == C.peer_addr  # the book keeps it
    cluster.added(disk, C)
    cluster.conf_state = ConfState(voters=(A.id, B.id), learners=(C.id,))
    assert cluster.removed_members == {}  # no longer told it was removed
    assert cluster.members[C.id] == C


def test_a_removed_node_added_back_serves_again_also_after_a_restart(disk: DiskStorage) -> None:
    cluster = founded(disk)
    assert cluster.gone(disk, cluster.node_id, 7) is None
    assert cluster.removed and reopened(disk).removed
    assert cluster.peer_addrs() == {B.id: B.peer_addr}  # still reachable: it must answer a re-add
    cluster.added(disk, cluster.me)
    assert not cluster.removed and not reopened(disk).removed


def test_a_snapshot_whose_configuration_has_us_clears_the_removal(disk: DiskStorage) -> None:
    cluster = founded(disk)
    cluster.set_removed(disk, True)
    cluster.install(disk, ConfState(voters=(B.id,)), {B.id: B})
    assert cluster.removed  # not in this one
    cluster.install(disk, ConfState(voters=(B.id,), learners=(A.id,)), {A.id: A, B.id: B})
    assert not cluster.removed and cluster.membership == "learner"


def test_an_announced_address_never_overrides_the_logs(disk: DiskStorage) -> None:
    cluster = founded(disk)
    assert not cluster.introduce(disk, Member(B.id, "10.0.0.9:1", "10.0.0.9:2"))
    assert cluster.introduce(disk, C)
    assert cluster.peer_addrs() == {B.id: B.peer_addr, C.id: C.peer_addr}
    assert C.id not in cluster.members  # known, but not a member


def test_a_joiner_takes_the_founders_to_replay_and_the_current_book(tmp_path: Path) -> None:
    disk = DiskStorage(tmp_path / "joiner")
    try:
        config = NodeConfig(host="127.0.0.1", port=7009, data_dir=disk.path, join="127.0.0.1:7001")
        cluster = Cluster.open(config, disk)
        assert cluster.membership == "joining"
        cluster.join(disk, "c1", b"1,2", encode_members({A.id: A, B.id: B}), encode_members({B.id: B, C.id: C}))
        assert cluster.conf_state == ConfState(voters=(A.id, B.id))
        assert cluster.peer_addrs() == {A.id: A.peer_addr, B.id: B.peer_addr, C.id: C.peer_addr}
        assert reopened(disk).peer_addrs() == cluster.peer_addrs()
    finally:
        disk.close()


def test_being_told_of_a_removal_counts_only_ahead_of_our_log(disk: DiskStorage) -> None:
    cluster = founded(disk)
    me = b"%d" % cluster.node_id
    assert "not this node" in str(cluster.learn_removed(disk, "other", me, 9, 3))
    assert "applied past index 9" in str(cluster.learn_removed(disk, cluster.cluster_id, me, 9, 9))
    assert not cluster.removed  # e.g. added back since: a late message must not undo it
    assert cluster.learn_removed(disk, cluster.cluster_id, me, 9, 8) == "OK" and cluster.removed
