"""Who is in the cluster: node ids and their client and peer addresses.

The Raft core knows members by id only; this table, kept in the data dir and changed through the log,
says where they are. A member of the initial cluster gets an id derived from its client address (so every
node computes the same ids from the same ``--initial-cluster`` list); ids are never addresses themselves.

:class:`Cluster` is this node's view of it: its own identity and the member table, read from the data dir
at start and changed only as configuration changes (or a snapshot, or joining) apply. This module does no
network I/O; the caller tells the transport about new peer addresses.
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from raftkv.raft.types import ConfState

if TYPE_CHECKING:
    from raftkv.config import NodeConfig
    from raftkv.node.disk import DiskStorage

log = logging.getLogger("raftkv.node.cluster")

PEER_PORT_OFFSET = 10000  # as Redis Cluster's bus port


@dataclass(frozen=True)
class Member:
    id: int
    client_addr: str
    peer_addr: str


class MembershipError(ValueError):
    """A cluster specification that cannot be used; the message is one line."""


def bootstrap_id(client_addr: str) -> int:
    digest = hashlib.sha256(b"raftkv-member:" + client_addr.encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1) or 1


def split_addr(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise MembershipError(f"bad address {addr!r}: expected host:port")
    return host, int(port)


def default_peer_addr(client_addr: str) -> str:
    host, port = split_addr(client_addr)
    if port + PEER_PORT_OFFSET > 65535:
        raise MembershipError(f"no default peer port for {client_addr}: give it as {client_addr}@host:port")
    return f"{host}:{port + PEER_PORT_OFFSET}"


def parse_member(spec: str) -> Member:
    """``host:port`` (peer port = port + 10000) or ``host:port@peer_host:peer_port``."""
    client_addr, _, peer_addr = spec.strip().partition("@")
    split_addr(client_addr)
    if peer_addr:
        split_addr(peer_addr)
    else:
        peer_addr = default_peer_addr(client_addr)
    return Member(bootstrap_id(client_addr), client_addr, peer_addr)


def parse_initial_cluster(spec: str) -> list[Member]:
    members = [parse_member(part) for part in spec.split(",") if part.strip()]
    if not members:
        raise MembershipError("--initial-cluster is empty")
    seen: set[str] = set()
    for m in members:
        if m.client_addr in seen:
            raise MembershipError(f"{m.client_addr} appears twice in --initial-cluster")
        seen.add(m.client_addr)
    return members


def encode_members(members: dict[int, Member]) -> bytes:
    return json.dumps([asdict(m) for m in members.values()]).encode()


def decode_members(raw: bytes) -> dict[int, Member]:
    return {m["id"]: Member(**m) for m in json.loads(raw)}


def cluster_id_of(founders: tuple[Member, ...] | list[Member]) -> str:
    """The id every founding member computes alike from the same initial cluster."""
    addrs = ",".join(sorted(m.client_addr for m in founders))
    return hashlib.sha256(b"raftkv-cluster:" + addrs.encode()).hexdigest()[:16]


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
