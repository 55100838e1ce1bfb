"""``kvsctl cluster ...``: creating a sharded deployment, adding a group, and its status, through
``RAFT SLOTS GET|SET`` on the groups' nodes. The logic only; ``ask(address, *argv)`` does the I/O (one
command to one node; it raises ClientError when the node cannot be reached).

A map is installed on a group by sending it to any one member (a follower forwards the write to its
leader); it is accepted only above the group's current epoch, so a second ``create`` is refused.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kvsctl.output import format_table
from raftkv.client import ClientError, RespError
from raftkv.sharding.slot_map import Group, SlotMap, SlotMapError, decode, even_ranges

Ask = Callable[..., Any]


class ClusterFailure(Exception):
    """Why a cluster command could not be carried out; one line."""


def parse_group_spec(spec: str, default_name: str) -> tuple[str, tuple[str, ...]]:
    """``[NAME=]ADDR,ADDR,...`` -> (name, client addresses)."""
    name, sep, addrs = spec.partition("=")
    if not sep:
        name, addrs = default_name, spec
    members = tuple(a.strip() for a in addrs.split(",") if a.strip())
    if not members:
        raise ClusterFailure(f"group {spec!r} names no member")
    return name, members


def _first_answer(ask: Ask, members: tuple[str, ...], *argv: str | bytes) -> Any:
    """The reply of the first member that answers (an error reply included)."""
    reasons = []
    for addr in members:
        try:
            return ask(addr, *argv)
        except ClientError as exc:
            reasons.append(str(exc))
    raise ClusterFailure("; ".join(reasons))


def _slots_get(ask: Ask, members: tuple[str, ...]) -> tuple[SlotMap | None, str]:
    reply = _first_answer(ask, members, "RAFT", "SLOTS", "GET")
    if isinstance(reply, RespError):
        raise ClusterFailure(f"{members[0]}: {reply.message}")
    epoch, blob, leader = reply
    return (decode(blob) if epoch else None), (leader.decode() if isinstance(leader, bytes) else str(leader))


def _install(ask: Ask, slot_map: SlotMap, already: frozenset[str] = frozenset()) -> None:
    """Install ``slot_map`` on every group but those named in ``already``."""
    blob = slot_map.encode()
    for group in slot_map.groups:
        if group.name in already:
            continue
        reply = _first_answer(ask, group.members, "RAFT", "SLOTS", "SET", str(slot_map.epoch), blob)
        if isinstance(reply, RespError):
            raise ClusterFailure(f"group {group.name}: {reply.message}")


def create(ask: Ask, specs: list[str]) -> SlotMap:
    """Give the 16384 slots evenly, in contiguous ranges, to the groups of ``specs`` (epoch 1).

    Resumable: the same command run again after it stopped half-way (a group unreachable) leaves the
    groups that already hold this very map as they are and installs it on the others; a group holding
    any other map is refused."""
    groups = [parse_group_spec(spec, f"g{i + 1}") for i, spec in enumerate(specs)]
    ranges = even_ranges(len(groups))
    try:
        slot_map = SlotMap(1, tuple(Group(name, members, (r,)) for (name, members), r in zip(groups, ranges)))
        decode(slot_map.encode())  # the checks every node makes
    except SlotMapError as exc:
        raise ClusterFailure(str(exc)) from None
    already = set()
    for name, members in groups:
        found = _slots_get(ask, members)[0]
        if found == slot_map:
            already.add(name)
        elif found is not None:
            raise ClusterFailure(f"group {name} already has a slot map: use cluster add-group")
    _install(ask, slot_map, frozenset(already))
    return slot_map


def current_map(ask: Ask, address: str) -> SlotMap:
    """The newest map among the groups the map of ``address`` names."""
    first, _ = _slots_get(ask, (address,))
    if first is None:
        raise ClusterFailure(f"{address} has no slot map: run cluster create first")
    newest = first
    for group in first.groups:
        try:
            found, _ = _slots_get(ask, group.members)
        except ClusterFailure:
            continue
        if found is not None and found.epoch > newest.epoch:
            newest = found
    return newest


def add_group(ask: Ask, address: str, spec: str) -> SlotMap:
    """Add a group owning no slots yet, with the next epoch, on every group (the new one included)."""
    old = current_map(ask, address)
    name, members = parse_group_spec(spec, f"g{len(old.groups) + 1}")
    if _slots_get(ask, members)[0] is not None:
        raise ClusterFailure(f"group {name} already has a slot map")
    try:
        new = SlotMap(old.epoch + 1, (*old.groups, Group(name, members, ())))
        decode(new.encode())
    except SlotMapError as exc:
        raise ClusterFailure(str(exc)) from None
    _install(ask, new)
    return new


def status(ask: Ask, address: str) -> list[dict[str, Any]]:
    """One row per group: name, leader, members, slot ranges, slot count, keys (from its DBSIZE)."""
    slot_map = current_map(ask, address)
    rows = []
    for group in slot_map.groups:
        try:
            _, leader = _slots_get(ask, group.members)
            keys = _first_answer(ask, (leader,) if leader else group.members, "DBSIZE")
        except ClusterFailure:
            leader, keys = "", None
        rows.append({"group": group.name, "leader": leader or "-", "members": list(group.members),
                     "slots": " ".join(f"{a}-{b}" for a, b in group.ranges) or "-",
                     "slot_count": group.slot_count, "keys": keys if isinstance(keys, int) else None,
                     "epoch": slot_map.epoch})
    return rows


def format_status_table(rows: list[dict[str, Any]]) -> str:
    shown = [{**row, "members": ",".join(row["members"])} for row in rows]
    return format_table(shown, [("group", "GROUP"), ("leader", "LEADER"), ("slots", "SLOTS"),
                                ("slot_count", "COUNT"), ("keys", "KEYS"), ("members", "MEMBERS"),
                                ("epoch", "EPOCH")])

