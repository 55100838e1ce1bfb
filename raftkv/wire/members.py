"""Cluster members as values: a node's id and its client and peer addresses, how they are written in
``--initial-cluster``, and the JSON of a member table (in the data dir, in snapshots and in the
conf-change entries that add members). Pure: no I/O.

A member of the initial cluster gets an id derived from its client address, so every node computes the
same ids from the same ``--initial-cluster`` list; ids are never addresses themselves.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

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


def split_addr(addr: str, form: str = "host:port") -> tuple[str, int]:
    """The one address parser: ``host:port`` or ``[ipv6]:port`` into (host without brackets, port).
    ``form`` is how the expected syntax is named in the error (kvsctl writes it in capitals)."""
    host, sep, port = addr.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise MembershipError(f"bad address {addr!r}: write an IPv6 host in brackets, [::1]:2317")
    if not sep or not host or not port:
        raise MembershipError(f"bad address {addr!r}: expected {form}")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise MembershipError(f"bad address {addr!r}: port must be a number from 1 to 65535")
    return host, int(port)


def format_address(host: str, port: int) -> str:
    """``host:port``, with IPv6 hosts in brackets so that the result parses back."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def default_peer_addr(client_addr: str) -> str:
    host, port = split_addr(client_addr)
    if port + PEER_PORT_OFFSET > 65535:
        raise MembershipError(f"no default peer port for {client_addr}: give it as {client_addr}@host:port")
    return format_address(host, port + PEER_PORT_OFFSET)


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
