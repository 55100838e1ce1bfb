"""The slot map as a value: an epoch and, for each shard group, its name, its members' client addresses
and the slot ranges it owns. Pure: no I/O.

It travels and is stored as JSON (``RAFT SLOTS SET <epoch> <json>``, snapshots). A map is
valid when every slot it names is in 0..16383 and owned by at most one group; slots nobody owns are
refused by every node.

Why no two groups ever accept writes for one slot: each node routes by its own group's map, which changes
only through that group's log, and only to a map of a higher epoch. A new map may not give a group a slot
that its current map gives another group (:func:`takes_over`): a slot can only be given to a group that
did not know an owner for it (creation, an empty slot, a new group), or to the group importing it from
the owner its map knows (a move, :mod:`raftkv.sharding.moves`). So at any index of a group's log the
slots it serves are slots no other group's map gave it, and handing a slot over needs its source to let
go first, in the source's own log.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from raftkv.sharding.slot_ranges import to_ranges
from raftkv.sharding.slots_pure import SLOTS
from raftkv.wire.members import MembershipError, split_addr

UNOWNED = -1


class SlotMapError(ValueError):
    """A slot map that cannot be installed; the message is one line."""


@dataclass(frozen=True)
class Group:
    name: str
    members: tuple[str, ...]  # client addresses, host:port
    ranges: tuple[tuple[int, int], ...]  # inclusive, sorted

    @property
    def slot_count(self) -> int:
        return sum(end - start + 1 for start, end in self.ranges)


@dataclass(frozen=True)
class SlotMap:
    epoch: int
    groups: tuple[Group, ...]

    def owners(self) -> list[int]:
        """The index in ``groups`` of every slot's owner (UNOWNED if none)."""
        owner = [UNOWNED] * SLOTS
        for i, group in enumerate(self.groups):
            for start, end in group.ranges:
                for slot in range(start, end + 1):
                    owner[slot] = i
        return owner

    def group_of(self, client_addr: str) -> int | None:
        """The index of the group that lists ``client_addr`` among its members."""
        for i, group in enumerate(self.groups):
            if client_addr in group.members:
                return i
        return None

    def encode(self) -> bytes:
        return json.dumps({"epoch": self.epoch, "groups": [
            {"name": g.name, "members": list(g.members), "slots": [list(r) for r in g.ranges]}
            for g in self.groups]}, separators=(",", ":")).encode()


def stale(epoch: int, installed: int) -> str:
    """Why a map of ``epoch`` is refused where one of ``installed`` (not below it) is."""
    return f"stale slot map: epoch {epoch} is not above the installed {installed}"


def decode(blob: bytes, epoch: int | None = None) -> SlotMap:
    """Parse and check a map; ``epoch`` (from RAFT SLOTS SET) overrides the one in the JSON."""
    try:
        raw = json.loads(blob)
        groups = tuple(Group(str(g["name"]), tuple(str(m) for m in g["members"]),
                             tuple(sorted((int(a), int(b)) for a, b in g["slots"])))
                       for g in raw["groups"])
        slot_map = SlotMap(int(raw["epoch"] if epoch is None else epoch), groups)
    except (ValueError, KeyError, TypeError) as exc:
        raise SlotMapError(f"malformed slot map: {exc}") from None
    _check(slot_map)
    return slot_map


def _check(slot_map: SlotMap) -> None:
    if slot_map.epoch < 1:
        raise SlotMapError("the slot map's epoch must be positive")
    names, seen, taken = set(), set(), [False] * SLOTS
    for group in slot_map.groups:
        if not group.name or group.name in names:
            raise SlotMapError(f"group names must be unique and non-empty: {group.name!r}")
        names.add(group.name)
        if not group.members:
            raise SlotMapError(f"group {group.name} has no members")
        for addr in group.members:
            try:
                split_addr(addr)
            except MembershipError as exc:
                raise SlotMapError(str(exc)) from None
            if addr in seen:
                raise SlotMapError(f"{addr} is a member of two groups")
            seen.add(addr)
        for start, end in group.ranges:
            if not 0 <= start <= end < SLOTS:
                raise SlotMapError(f"bad slot range {start}-{end}")
            for slot in range(start, end + 1):
                if taken[slot]:
                    raise SlotMapError(f"slot {slot} is given to two groups")
                taken[slot] = True


def takes_over(old: SlotMap, new: SlotMap, group_name: str, importing: dict[int, str]) -> int | None:
    """A slot that ``new`` gives ``group_name`` while ``old`` gives it to another group, if any, except
    a slot the group is importing from that other group (``importing``: slot -> source group name)."""
    old_owner, new_owner = old.owners(), new.owners()
    old_names = [g.name for g in old.groups]
    new_names = [g.name for g in new.groups]
    for slot in range(SLOTS):
        n, o = new_owner[slot], old_owner[slot]
        if (n != UNOWNED and new_names[n] == group_name and o != UNOWNED and old_names[o] != group_name
                and importing.get(slot) != old_names[o]):
            return slot
    return None


def with_members(slot_map: SlotMap, group: int, members: tuple[str, ...]) -> SlotMap | None:
    """``slot_map`` at the next epoch with ``members`` as the member list of ``group`` (those it lists
    already keep their order, the others follow), or None if it lists exactly those (or none is given)."""
    old = slot_map.groups[group]
    if not members or set(old.members) == set(members):
        return None
    listed = tuple(a for a in old.members if a in members) + tuple(a for a in members if a not in old.members)
    groups = tuple(Group(g.name, listed, g.ranges) if i == group else g for i, g in enumerate(slot_map.groups))
    return SlotMap(slot_map.epoch + 1, groups)
def gives_away(old: SlotMap, new: SlotMap, group_name: str) -> dict[int, str]:
    """The slots ``old`` gives ``group_name`` and ``new`` gives another group: slot -> that group's name."""
    old_owner, new_owner = old.owners(), new.owners()
    old_names = [g.name for g in old.groups]
    new_names = [g.name for g in new.groups]
    return {slot: new_names[n] for slot, (o, n) in enumerate(zip(old_owner, new_owner))
            if o != UNOWNED and old_names[o] == group_name and n != UNOWNED and new_names[n] != group_name}


def with_slots_moved(slot_map: SlotMap, slots: list[int], target: str) -> SlotMap:
    """The next epoch's map: ``slots`` given to the group named ``target``, the others unchanged."""
    owner = slot_map.owners()
    to = [g.name for g in slot_map.groups].index(target)
    for slot in slots:
        owner[slot] = to
    groups = tuple(Group(g.name, g.members, tuple(to_ranges([s for s in range(SLOTS) if owner[s] == i])))
                   for i, g in enumerate(slot_map.groups))
    return SlotMap(slot_map.epoch + 1, tuple(groups))


def even_ranges(group_count: int) -> list[tuple[int, int]]:
    """The slots cut into ``group_count`` contiguous ranges whose sizes differ by at most one."""
    ranges, start = [], 0
    for i in range(group_count):
        size = SLOTS // group_count + (1 if i < SLOTS % group_count else 0)
        ranges.append((start, start + size - 1))
        start += size
    return ranges

