"""``kvsctl cluster move-slots`` and ``rebalance``: moving slots between groups while clients write, step
by step through ``RAFT SLOTS ...`` writes on the two groups (:mod:`raftkv.sharding.moves`). The logic
only; ``ask(address, *argv)`` does the I/O, ``progress(line)`` reports.

Every step is idempotent and each group refuses a step out of order, so a move that stopped anywhere (a
crash of this coordinator, of a node, an unreachable group) is finished by running the same command
again: it starts from what the groups' replicated state says (a slot already migrating is moved again,
a batch exported and not released is sent again and imported once, a map installed on some groups is
installed on the others).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kvsctl.cluster import Ask, ClusterFailure, current_map, first_answer, group_state, install
from raftkv.client import RespError
from raftkv.sharding.migration import Migration
from raftkv.sharding.slot_map import Group, SlotMap, with_slots_moved
from raftkv.sharding.slot_ranges import SlotSpecError, format_slots, parse_slots

Progress = Callable[[str], None]
BATCH_KEYS = 100  # keys per EXPORT: one log entry on each group carries them


def parse_slot_spec(spec: str) -> list[int]:
    try:
        return parse_slots(spec)
    except SlotSpecError as exc:
        raise ClusterFailure(str(exc)) from None


def _group(slot_map: SlotMap, name: str) -> Group:
    for group in slot_map.groups:
        if group.name == name:
            return group
    raise ClusterFailure(f"no group is named {name!r}: the groups are {', '.join(g.name for g in slot_map.groups)}")


def _write(ask: Ask, group: Group, *argv: str | bytes) -> Any:
    """One move step on ``group`` (any member: a follower forwards it to its leader)."""
    try:
        reply = first_answer(ask, group.members, "RAFT", "SLOTS", *argv)
    except ClusterFailure as exc:
        raise ClusterFailure(f"group {group.name} cannot be reached: {exc}") from None
    if isinstance(reply, RespError):
        raise ClusterFailure(f"group {group.name}: {reply.message}")
    return reply


def _reachable(ask: Ask, group: Group) -> Migration:
    """The group's moves, as one of its members says (failing at once if none answers)."""
    try:
        return group_state(ask, group.members)[2]
    except ClusterFailure as exc:
        raise ClusterFailure(f"group {group.name} cannot be reached: {exc}") from None


def choose_slots(slot_map: SlotMap, source: str, count: int) -> list[int]:
    """``count`` slots of ``source`` to move: its last ones (its ranges shrink from the top)."""
    owned = [s for start, end in _group(slot_map, source).ranges for s in range(start, end + 1)]
    if count < 1 or count > len(owned):
        raise ClusterFailure(f"group {source} owns {len(owned)} slots: cannot move {count}")
    return owned[len(owned) - count:]


def move_slots(ask: Ask, address: str, source: str, target: str, slots: list[int] | None = None,
               count: int | None = None, progress: Progress = lambda line: None,
               batch_keys: int = BATCH_KEYS) -> SlotMap:
    """Move ``slots`` (or ``count`` of them) of group ``source`` to group ``target`` with their keys,
    finishing any move from ``source`` to ``target`` that stopped half way; returns the map installed."""
    slot_map = current_map(ask, address)
    src, dst = _group(slot_map, source), _group(slot_map, target)
    if source == target:
        raise ClusterFailure("the source and target groups are the same")
    src_moves = _reachable(ask, src)
    _reachable(ask, dst)
    names = [g.name for g in slot_map.groups]
    owner_name = [names[o] if o >= 0 else "" for o in slot_map.owners()]
    resumed = sorted(s for s, t in src_moves.migrating.items() if t == target and owner_name[s] == source)
    if resumed:
        progress(f"resuming the move of slots {format_slots(resumed)} from {source} to {target}")
    if slots is None:
        # Run again after a stop, --count N finishes that move rather than starting on N more slots.
        if resumed or _behind(ask, slot_map, _install_order(slot_map, src, dst)):
            slots = resumed
        else:
            slots = choose_slots(slot_map, source, count or 0)
    for slot in slots:
        if owner_name[slot] not in (source, target):
            raise ClusterFailure(f"slot {slot} is not owned by group {source}")
    pending = sorted({s for s in slots if owner_name[s] == source} | set(resumed))
    done = [s for s in slots if owner_name[s] == target]
    if done:
        progress(f"slots {format_slots(done)} are {target}'s already")
    if pending:
        _copy(ask, src, dst, pending, progress, batch_keys)
        slot_map = with_slots_moved(slot_map, pending, target)
    _install_everywhere(ask, slot_map, src, dst, progress)
    return slot_map


def _copy(ask: Ask, src: Group, dst: Group, slots: list[int], progress: Progress, batch_keys: int) -> None:
    spec = format_slots(slots)
    progress(f"moving {len(slots)} slots {spec} from {src.name} to {dst.name}")
    _write(ask, dst, "IMPORTING", src.name, spec)
    _write(ask, src, "MIGRATING", dst.name, spec)
    moved = 0
    while True:
        batch = _write(ask, src, "EXPORT", dst.name, str(batch_keys))
        if not batch:
            break
        batch_id, items = str(batch[0]), [x if isinstance(x, bytes) else str(x) for x in batch[1:]]
        _write(ask, dst, "IMPORT", src.name, batch_id, *items)
        _write(ask, src, "RELEASE", dst.name, batch_id)
        moved += len(items) // 3
        progress(f"  {moved} keys copied to {dst.name}")


def _install_order(slot_map: SlotMap, src: Group, dst: Group) -> list[Group]:
    """The source first (it lets go of the slots once they are empty), then the target (which takes
    them only as they are imported), then the others."""
    return [src, dst, *(g for g in slot_map.groups if g.name not in (src.name, dst.name))]


def _behind(ask: Ask, slot_map: SlotMap, groups: list[Group]) -> list[Group]:
    """Those of ``groups`` whose map is older than ``slot_map``."""
    behind = []
    for group in groups:
        installed, _, _ = group_state(ask, group.members)
        if installed is None or installed.epoch < slot_map.epoch:
            behind.append(group)
    return behind


def _install_everywhere(ask: Ask, slot_map: SlotMap, src: Group, dst: Group, progress: Progress) -> None:
    """The map on every group that has an older one, in :func:`_install_order`."""
    behind = _behind(ask, slot_map, _install_order(slot_map, src, dst))
    if behind:
        progress(f"installing the map of epoch {slot_map.epoch} on {', '.join(g.name for g in behind)}")
        install(ask, slot_map, tuple(behind))


def plan_rebalance(slot_map: SlotMap) -> list[tuple[str, str, list[int]]]:
    """Moves (source, target, slots) after which the groups own counts of the assigned slots differing
    by at most one, moving as few as possible: the groups that own most keep the extra ones, and each
    group that gives, gives its last slots."""
    groups = sorted(slot_map.groups, key=lambda g: -g.slot_count)
    total = sum(g.slot_count for g in groups)
    quota = {g.name: total // len(groups) + (1 if i < total % len(groups) else 0) for i, g in enumerate(groups)}
    spare = {g.name: [s for a, b in g.ranges for s in range(a, b + 1)][quota[g.name]:] for g in groups}
    moves = []
    for taker in groups:
        need = quota[taker.name] - taker.slot_count
        for giver in groups:
            if need <= 0:
                break
            given, spare[giver.name] = spare[giver.name][:need], spare[giver.name][need:]
            if given:
                moves.append((giver.name, taker.name, given))
                need -= len(given)
    return moves


def rebalance(ask: Ask, address: str, progress: Progress = lambda line: None,
              batch_keys: int = BATCH_KEYS) -> SlotMap:
    """Finish the moves that stopped half way, then move slots until the groups own even counts."""
    slot_map = current_map(ask, address)
    for group in slot_map.groups:
        _, _, moves = group_state(ask, group.members)
        for target in sorted(set(moves.migrating.values())):
            slot_map = move_slots(ask, address, group.name, target, [], progress=progress, batch_keys=batch_keys)
    plan = plan_rebalance(slot_map)
    if not plan:
        progress("the groups' slot counts already differ by at most one")
    for source, target, slots in plan:
        slot_map = move_slots(ask, address, source, target, slots, progress=progress, batch_keys=batch_keys)
    return slot_map
