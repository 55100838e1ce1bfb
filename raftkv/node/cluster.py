"""Who is in the cluster: node ids and their client and peer addresses.

The Raft core knows members by id only; this table (:mod:`raftkv.wire.members`), kept in the data dir
and changed through the log, says where they are.

:class:`Cluster` is this node's view of it: its own identity and the member table, read from the data dir
at start and changed only as configuration changes (or a snapshot, or joining) apply. This module does no
network I/O; the caller tells the transport about new peer addresses.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
    members: dict[int, Member]
    conf_state: ConfState
    removed: bool = False  # this node was removed: it serves no clients and must not campaign
    # Members removed while we were in the cluster: if they still send us messages, we tell them.
    removed_members: dict[int, Member] = field(default_factory=dict)

    @classmethod
    def open(cls, config: NodeConfig, disk: DiskStorage) -> Cluster:
        """From the data dir, or created on first start (a data dir that already holds a cluster ignores
        ``--initial-cluster``)."""
        node_id, cluster_id, founders = _identity(config, disk)
        me = founders.get(node_id) or Member(
            node_id, config.address, f"{config.advertised_peer_host}:{config.advertised_peer_port}")
        return cls(node_id, cluster_id, me, dict(founders), disk.conf_state() or ConfState(),
                   disk.get_meta("removed") is not None)

    @property
    def single_voter(self) -> bool:
        """A one-voter cluster of which we are the voter: it elects itself at once."""
        return self.conf_state.voters == (self.node_id,) and not self.removed

    def peer_addrs(self) -> dict[int, str]:
        """What the transport should connect to: nobody, once we are removed."""
        return {} if self.removed else {m.id: m.peer_addr for m in self.members.values()}

    def resolve(self, target: str) -> Member | None:
        """The member named by its client address or its id."""
        for member in self.members.values():
            if target in (member.client_addr, str(member.id)):
                return member
        return None

    def install(self, conf_state: ConfState, members: dict[int, Member]) -> None:
        """Take the membership of a snapshot."""
        self.conf_state = conf_state
        self.members = members
        if self.node_id in members:
            self.me = members[self.node_id]

    def mark_removed(self, disk: DiskStorage) -> None:
        if not self.removed:
            self.removed = True
            disk.put_meta("removed", b"1")
            log.warning("this node was removed from the cluster; it serves no more clients")

    def join(self, disk: DiskStorage, cluster_id: str, voters: bytes, members: bytes) -> None:
        """RAFT BOOTSTRAP's data-dir work: take the founding membership the leader sends, so that the log
        replays from its start as on any member."""
        conf = ConfState(voters=tuple(int(v) for v in voters.split(b",") if v))
        disk.set_conf_state(conf)
        disk.put_meta("members", members)
        disk.put_meta("cluster_id", cluster_id.encode())
        self.cluster_id, self.conf_state = cluster_id, conf
        self.members = dict(decode_members(members))


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
    disk.set_conf_state(ConfState(voters=tuple(members)))
    disk.put_meta("node_id", b"%d" % me.id)
    disk.put_meta("cluster_id", cluster_id.encode())
    disk.put_meta("members", encode_members(members))
    return me.id, cluster_id, members
