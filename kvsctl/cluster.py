"""``kvsctl cluster ...``: creating a sharded deployment, adding a group, and its status, through
``RAFT SLOTS GET|SET`` on the groups' nodes (moving slots: :mod:`kvsctl.resharding`). The logic only;
``ask(address, *argv)`` does the I/O (one command to one node; it raises ClientError when the node cannot
be reached).

A map is installed on a group by sending it to any one member (a follower forwards the write to its
leader); it is accepted only above the group's current epoch, so a second ``create`` is refused.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kvsctl.output import format_table
from raftkv.client import ClientError, RespError
from raftkv.sharding import migration
from raftkv.sharding.migration import Migration
from raftkv.sharding.slot_map import Group, SlotMap, SlotMapError, decode, even_ranges, stale
from raftkv.sharding.slot_ranges import format_slots

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


def first_answer(ask: Ask, members: tuple[str, ...], *argv: str | bytes) -> Any:
    """The reply of the first member that answers (an error reply included)."""
    reasons = []
    for addr in members:
        try:
            return ask(addr, *argv)
        except ClientError as exc:
            reasons.append(str(exc))
    raise ClusterFailure("; ".join(reasons))


def group_state(ask: Ask, members: tuple[str, ...]) -> tuple[SlotMap | None, str, Migration]:
    """What the first member of a group that answers says of it: its map (None: none), its leader
    ("" if unknown) and its slot moves."""
    reply = first_answer(ask, members, "RAFT", "SLOTS", "GET")
    if isinstance(reply, RespError):
        raise ClusterFailure(f"{members[0]}: {reply.message}")
    epoch, blob, leader, moves = reply
    return ((decode(blob) if epoch else None), (leader.decode() if isinstance(leader, bytes) else str(leader)),
            migration.decode(moves) if moves else Migration())


def _slots_get(ask: Ask, members: tuple[str, ...]) -> tuple[SlotMap | None, str]:
    slot_map, leader, _ = group_state(ask, members)
    return slot_map, leader


def install(ask: Ask, slot_map: SlotMap, groups: tuple[Group, ...] | None = None) -> None:
    """Install ``slot_map`` on ``groups`` (default: all of its groups), in that order. A group that has
    it already (the member that said otherwise was behind) is left as it is; one that installed another
    map of that epoch meanwhile (its leader listing its new members) stops the command."""
    blob = slot_map.encode()
    for group in slot_map.groups if groups is None else groups:
        reply = first_answer(ask, group.members, "RAFT", "SLOTS", "SET", str(slot_map.epoch), blob)
        if not isinstance(reply, RespError):
            continue
        if reply.message != "ERR " + stale(slot_map.epoch, slot_map.epoch):
            raise ClusterFailure(f"group {group.name}: {reply.message}")
        # The member that answered has applied that epoch: its map says which one it is.
        if _slots_get(ask, group.members)[0] != slot_map:
            raise ClusterFailure(f"group {group.name} installed another map of epoch {slot_map.epoch} meanwhile: "
                                 "run the command again")


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
    for name, members in groups:
        found = _slots_get(ask, members)[0]
        if found is not None and found != slot_map:
            raise ClusterFailure(f"group {name} already has a slot map: use cluster add-group")
    install(ask, slot_map)  # a group that holds it already (a create that stopped half-way) keeps it
    return slot_map


def current_map(ask: Ask, address: str) -> SlotMap:
    """The newest map among the groups the map of ``address`` names, each group listed with the members
    its own map gives it (a group's leader keeps its own entry up to date, not the other groups')."""
    first, _ = _slots_get(ask, (address,))
    if first is None:
        raise ClusterFailure(f"{address} has no slot map: run cluster create first")
    newest, own = first, dict[str, tuple[str, ...]]()
    for group in first.groups:
        try:
            found, _ = _slots_get(ask, group.members)
        except ClusterFailure:
            continue
        if found is None:
            continue
        own.update((g.name, g.members) for g in found.groups if g.name == group.name)
        if found.epoch > newest.epoch:
            newest = found
    return SlotMap(newest.epoch, tuple(Group(g.name, own.get(g.name, g.members), g.ranges) for g in newest.groups))


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
    install(ask, new)
    return new


def status(ask: Ask, address: str) -> list[dict[str, Any]]:
    """One row per group: name, leader, members, slot ranges, slot count, keys (from its DBSIZE), and
    the slots it is migrating or importing."""
    slot_map = current_map(ask, address)
    rows = []
    for group in slot_map.groups:
        try:
            _, leader, moves = group_state(ask, group.members)
            keys = first_answer(ask, (leader,) if leader else group.members, "DBSIZE")
        except ClusterFailure:
            leader, keys, moves = "", None, Migration()
        rows.append({"group": group.name, "leader": leader or "-", "members": list(group.members),
                     "slots": " ".join(f"{a}-{b}" for a, b in group.ranges) or "-",
                     "slot_count": group.slot_count, "keys": keys if isinstance(keys, int) else None,
                     "migrating": _moving(moves.migrating, "->"), "importing": _moving(moves.importing, "<-"),
                     "epoch": slot_map.epoch})
    return rows


def _moving(slots: dict[int, str], arrow: str) -> str:
    """``100-200->b 7->c``: the slots moving, by the other group (``-`` for none)."""
    by_group: dict[str, list[int]] = {}
    for slot, name in sorted(slots.items()):
        by_group.setdefault(name, []).append(slot)
    return " ".join(f"{format_slots(s)}{arrow}{name}" for name, s in by_group.items()) or "-"


def format_status_table(rows: list[dict[str, Any]]) -> str:
    shown = [{**row, "members": ",".join(row["members"])} for row in rows]
    return format_table(shown, [("group", "GROUP"), ("leader", "LEADER"), ("slots", "SLOTS"),
                                ("slot_count", "COUNT"), ("keys", "KEYS"), ("migrating", "MIGRATING"),
                                ("importing", "IMPORTING"), ("members", "MEMBERS"), ("epoch", "EPOCH")])
