"""Who is in the cluster: node ids and their client and peer addresses.

The Raft core knows members by id only. Who is a member comes from the applied ConfState; where a node is
comes from an address book (:mod:`raftkv.wire.members` values) that only grows: conf-change entries that
add a member, snapshots, the table a joiner is handed and the addresses peers announce in their handshake
all write to it, and it is kept in the data dir whenever it changes, so that replaying an old removal, or
restarting before the log is replayed, never loses the address of a node that is (again) a member.

:class:`Cluster` is this node's view: its own identity, the book, the ConfState and whether it was
removed. This module does no network I/O; the caller tells the transport about new peer addresses.
A new cluster's identity is written by :func:`found` (first start, ``kvsctl snapshot restore``);
``--force-new-cluster`` rewrites the data dir first (:mod:`raftkv.node.force`).
"""
from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from raftkv.errors import err
from raftkv.node.force import force_new_cluster
from raftkv.node.snapshots.snapshot_file import SNAPSHOT_DIR
from raftkv.raft.types import ConfState
from raftkv.wire.members import Member, cluster_id_of, decode_members, encode_members

if TYPE_CHECKING:
    from raftkv.config import NodeConfig
    from raftkv.node.disk import DiskStorage

log = logging.getLogger("raftkv.node.cluster")

@dataclass
class Cluster:
    """This node's identity and its cluster's members as of the applied log."""

    node_id: int
    cluster_id: str  # "" while waiting to join
    me: Member
    addresses: dict[int, Member]  # every node this one has heard of; grows only
    conf_state: ConfState
    removed: bool = False  # this node was removed: it serves no clients and must not campaign
    # Members removed while we were in the cluster, with the index of their removal: if they still send
    # us messages, we tell them (until they are added back).
    removed_members: dict[int, tuple[Member, int]] = field(default_factory=dict)

    @classmethod
    def open(cls, config: NodeConfig, disk: DiskStorage) -> Cluster:
        """From the data dir, or created on first start (a data dir that already holds a cluster ignores
        ``--initial-cluster``); rewritten first to hold this node alone under ``--force-new-cluster``."""
        if config.force_new_cluster:
            force_new_cluster(disk, config.data_dir / SNAPSHOT_DIR, config.force_new_cluster)
        node_id, cluster_id, founders = _identity(config, disk)
        book = dict(founders)
        saved = disk.get_meta("addresses")
        if saved is not None:
            book.update(decode_members(saved))
        me = book.get(node_id) or Member(
            node_id, config.address, f"{config.advertised_peer_host}:{config.advertised_peer_port}")
        return cls(node_id, cluster_id, me, book, disk.conf_state() or ConfState(),
                   disk.get_meta("removed") == b"1")

    @property
    def members(self) -> dict[int, Member]:
        """The members of the applied configuration whose address we know."""
        ids = (*self.conf_state.voters, *self.conf_state.learners)
        return {i: self.addresses[i] for i in ids if i in self.addresses}

    @property
    def membership(self) -> str:
        """What this node is in its own view: voter, learner, removed or joining."""
        if self.removed:
            return "removed"
        if not self.cluster_id:
            return "joining"
        return "learner" if self.node_id in self.conf_state.learners else "voter"

    @property
    def awaiting_addition(self) -> bool:
        """Not in the applied configuration (a node started with ``--join``, until the entry that adds it
        applies here), and not removed either."""
        return not self.removed and self.node_id not in (*self.conf_state.voters, *self.conf_state.learners)

    @property
    def single_voter(self) -> bool:
        """A one-voter cluster of which we are the voter: it elects itself at once."""
        return self.conf_state.voters == (self.node_id,) and not self.removed

    def peer_addrs(self) -> dict[int, str]:
        """What the transport may connect to: everyone in the book, also once we are removed (a removed
        node must still answer a leader that adds it back)."""
        return {m.id: m.peer_addr for m in self.addresses.values() if m.id != self.node_id}

    def resolve(self, target: str) -> Member | None:
        """The member named by its client address or its id."""
        for member in self.members.values():
            if target in (member.client_addr, str(member.id)):
                return member
        return None

    def learn(self, disk: DiskStorage, members: Iterable[Member]) -> bool:
        """Write addresses into the book (persisted when it changes); True if it changed."""
        changed = False
        for member in members:
            if self.addresses.get(member.id) != member:
                self.addresses[member.id] = member
                changed = True
        if changed:
            disk.put_meta("addresses", encode_members(self.addresses))
            self.me = self.addresses.get(self.node_id, self.me)
        return changed

    def introduce(self, disk: DiskStorage, member: Member) -> bool:
        """An address a peer announced: taken only for a node the book does not know (the log's word on
        an address wins)."""
        return member.id not in self.addresses and self.learn(disk, [member])

    def added(self, disk: DiskStorage, member: Member) -> None:
        """An applied conf change adds ``member`` as a learner: a new node, or one removed before."""
        self.learn(disk, [member])
        self.removed_members.pop(member.id, None)
        if member.id == self.node_id:
            self.set_removed(disk, False)

    def gone(self, disk: DiskStorage, node_id: int, index: int) -> Member | None:
        """An applied conf change at ``index`` removes ``node_id``; the member removed, if another node."""
        if node_id == self.node_id:
            self.set_removed(disk, True)
            return None
        member = self.addresses.get(node_id)
        if member is not None:
            self.removed_members[node_id] = (member, index)
        return member

    def install(self, disk: DiskStorage, conf_state: ConfState, members: dict[int, Member]) -> None:
        """Take the membership of a snapshot."""
        self.conf_state = conf_state
        self.learn(disk, members.values())
        for node_id in (*conf_state.voters, *conf_state.learners):
            self.removed_members.pop(node_id, None)
        if self.node_id in conf_state.voters or self.node_id in conf_state.learners:
            self.set_removed(disk, False)

    def learn_removed(self, disk: DiskStorage, cluster_id: str, node_id: bytes, index: int,
                      applied_index: int) -> object:
        """RAFT REMOVED: a member tells us we were removed at ``index`` (we may never apply it ourselves).
        Once we applied past it our own log says what we are (perhaps added back since)."""
        if cluster_id != self.cluster_id or node_id != b"%d" % self.node_id:
            return err("not this node")
        if applied_index >= index:
            return err(f"this node has applied past index {index}")
        self.set_removed(disk, True)
        return "OK"

    def set_removed(self, disk: DiskStorage, removed: bool) -> None:
        if removed == self.removed:
            return
        self.removed = removed
        disk.put_meta("removed", b"1" if removed else b"0")
        if removed:
            log.warning("this node was removed from the cluster; it serves no more clients")
        else:
            log.info("this node was added back to the cluster")

    def join(self, disk: DiskStorage, cluster_id: str, voters: bytes, founders: bytes, book: bytes) -> None:
        """RAFT BOOTSTRAP's data-dir work: take the founding membership the leader sends, so that the log
        replays from its start as on any member, and its current address book, so that we can answer
        whoever leads now."""
        conf = ConfState(voters=tuple(int(v) for v in voters.split(b",") if v))
        disk.set_conf_state(conf)
        disk.put_meta("members", founders)
        self.learn(disk, [*decode_members(founders).values(), *decode_members(book).values()])
        disk.put_meta("cluster_id", cluster_id.encode())
        self.cluster_id, self.conf_state = cluster_id, conf


def founders(disk: DiskStorage) -> list[bytes]:
    """What a joining node needs to replay the log from its start (see RAFT BOOTSTRAP): the founding
    voters and member table, as the data dir keeps them."""
    conf = disk.conf_state() or ConfState()
    return [b",".join(b"%d" % v for v in conf.voters), disk.get_meta("members") or b"[]"]


def _identity(config: NodeConfig, disk: DiskStorage) -> tuple[int, str, dict[int, Member]]:
    """This node's id, its cluster's id and the founding member table."""
    raw = disk.get_meta("members")
    if raw is not None:
        return int(disk.get_meta("node_id") or b"0"), (disk.get_meta("cluster_id") or b"").decode(), \
            decode_members(raw)
    if config.join:
        node_id = int(disk.get_meta("node_id") or b"0")
        if not node_id:
            node_id = random.SystemRandom().randrange(1, 1 << 63)
            disk.put_meta("node_id", b"%d" % node_id)
        return node_id, "", {}
    members = {m.id: m for m in config.initial_cluster}
    me = next(m for m in config.initial_cluster if m.client_addr == config.address)
    cluster_id = cluster_id_of(config.initial_cluster)
    found(disk, me.id, cluster_id, members)
    return me.id, cluster_id, members


def found(disk: DiskStorage, node_id: int, cluster_id: str, members: dict[int, Member]) -> None:
    """Write a new cluster into an empty data dir: this node's id, the cluster's id, and ``members`` as
    the founding voters (on first start, and for ``kvsctl snapshot restore``)."""
    disk.set_conf_state(ConfState(voters=tuple(members)))
    disk.put_meta("node_id", b"%d" % node_id)
    disk.put_meta("cluster_id", cluster_id.encode())
    disk.put_meta("members", encode_members(members))
