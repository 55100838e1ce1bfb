"""Applying the entries of a slot move, on every node of a group at the same index with the same outcome
(the entry's time, the key space's sorted order, no clock and no I/O). A move of slots from a source
group S to a target group T, each step an entry of one group's own log (docs/scaling.md):

- ``RAFT SLOTS IMPORTING <source> <slots>`` on T: T will serve those slots (still S's in its map) to a
  command preceded by ASKING, and may take them from S in a later map;
- ``RAFT SLOTS MIGRATING <target> <slots>`` on S: S serves a command of those slots only if its keys
  are all here, answers ASK to T if none is, TRYAGAIN if some are;
- ``RAFT SLOTS EXPORT <target> <count>`` on S: up to ``count`` keys of the slots migrating to T leave the
  key space for an outgoing batch (kept until released, so a resumed move gets the same batch again);
  the reply is the batch: its id, then each key, DUMP payload and expiry (absolute ms, 0: none);
- ``RAFT SLOTS IMPORT <source> <id> <key> <payload> <expiry> ...`` on T: the batch's keys restored
  (RESTORE REPLACE ABSTTL), once: a batch whose id is not above the last one imported from S is skipped;
- ``RAFT SLOTS RELEASE <target> <id>`` on S: the batch is dropped (T holds its keys now).

Each handler takes the group's :class:`Migration` (changed in place), its map, its own name, the state
machine, the entry's time and the entry's arguments after the subcommand, and returns the reply.
"""
from __future__ import annotations

from collections.abc import Callable

from raftkv.errors import RespError, err
from raftkv.kv.args import parse_int
from raftkv.kv.commands import dump
from raftkv.kv.state_machine import StateMachine
from raftkv.sharding.migration import Batch, Migration, Moved
from raftkv.sharding.slot_map import UNOWNED, SlotMap
from raftkv.sharding.slot_ranges import SlotSpecError, parse_slots
from raftkv.sharding.slots import key_slot

Handler = Callable[[Migration, SlotMap, str, StateMachine, int, list[bytes]], object]


def _slots(spec: bytes) -> list[int] | RespError:
    try:
        return parse_slots(spec.decode())
    except (SlotSpecError, UnicodeDecodeError) as exc:
        return err(str(exc))


def _group_named(slot_map: SlotMap, name: str) -> int | None:
    return next((i for i, g in enumerate(slot_map.groups) if g.name == name), None)


def importing(mig: Migration, slot_map: SlotMap, me: str, sm: StateMachine, now_ms: int,
              args: list[bytes]) -> object:
    source, slots = args[0].decode(), _slots(args[1])
    if isinstance(slots, RespError):
        return slots
    owner, names = slot_map.owners(), [g.name for g in slot_map.groups]
    for slot in slots:
        if owner[slot] == UNOWNED or names[owner[slot]] != source or source == me:
            return err(f"slot {slot} is not group {source}'s in this group's map: it cannot be imported from it")
    mig.importing.update(dict.fromkeys(slots, source))
    return "OK"


def migrating(mig: Migration, slot_map: SlotMap, me: str, sm: StateMachine, now_ms: int,
              args: list[bytes]) -> object:
    target, slots = args[0].decode(), _slots(args[1])
    if isinstance(slots, RespError):
        return slots
    if target == me or _group_named(slot_map, target) is None:
        return err(f"no other group is named {target!r} in this group's map")
    owner, mine = slot_map.owners(), _group_named(slot_map, me)
    for slot in slots:
        if owner[slot] != mine:
            return err(f"slot {slot} is not this group's: it cannot be migrated")
        if mig.migrating.get(slot, target) != target:
            return err(f"slot {slot} is already migrating to group {mig.migrating[slot]}")
    mig.migrating.update(dict.fromkeys(slots, target))
    return "OK"


def export(mig: Migration, slot_map: SlotMap, me: str, sm: StateMachine, now_ms: int,
           args: list[bytes]) -> object:
    target, count = args[0].decode(), parse_int(args[1])
    if count is None or count < 1:
        return err("value is not an integer or out of range")
    batch = mig.outgoing.get(target)
    if batch is None:
        moving = {slot for slot, t in mig.migrating.items() if t == target}
        if not moving:
            return err(f"no slot of this group is migrating to group {target}")
        batch = _take_batch(sm, moving, count, now_ms)
        if batch is None:
            return []
        mig.outgoing[target] = batch
    reply: list[object] = [batch.id]
    for m in batch.keys:
        reply += (m.key, m.payload, m.expire_at_ms)
    return reply


def _take_batch(sm: StateMachine, slots: set[int], count: int, now_ms: int) -> Batch | None:
    """Up to ``count`` live keys of ``slots``, in key order, out of the key space; the expired keys met
    on the way are deleted (the slot must end up empty, and they are nobody's)."""
    taken: list[Moved] = []
    expired: list[bytes] = []
    for key in sm.data:
        if len(taken) >= count:
            break
        if key_slot(key) not in slots:
            continue
        value = sm.value(key, now_ms)
        if value is None:
            expired.append(key)
        else:
            taken.append(Moved(key, dump.encode(value), sm.expires.get(key, 0)))
    for key in expired + [m.key for m in taken]:
        sm.delete(key)
    return Batch(sm.applied_index, tuple(taken)) if taken else None


def import_(mig: Migration, slot_map: SlotMap, me: str, sm: StateMachine, now_ms: int,
            args: list[bytes]) -> object:
    source, batch_id = args[0].decode(), parse_int(args[1])
    if batch_id is None:
        return err("value is not an integer or out of range")
    if batch_id <= mig.imported.get(source, 0):
        return "OK"  # imported already: a resumed move sends it again
    triples = [args[i:i + 3] for i in range(2, len(args), 3)]
    for key, payload, _expiry in triples:
        if mig.importing.get(key_slot(key)) != source:
            return err(f"slot {key_slot(key)} is not being imported from group {source}")
        if isinstance(dump.decode(payload), RespError):
            return err(f"bad payload for key {key!r}")
    for key, payload, expiry in triples:
        sm.execute([b"RESTORE", key, expiry, payload, b"REPLACE", b"ABSTTL"], now_ms)
    mig.imported[source] = batch_id
    return "OK"


def release(mig: Migration, slot_map: SlotMap, me: str, sm: StateMachine, now_ms: int,
            args: list[bytes]) -> object:
    target = args[0].decode()
    batch = mig.outgoing.get(target)
    if batch is not None and args[1] == b"%d" % batch.id:
        del mig.outgoing[target]
    elif batch is not None:
        return err(f"the outgoing batch to group {target} is {batch.id}, not {args[1].decode()}")
    return "OK"


def refuse_giving_away(mig: Migration, given: dict[int, str], sm: StateMachine) -> RespError | None:
    """Why a new map may not give this group's slots ``given`` (slot -> new owner) away: each must be
    migrating to its new owner, with no key left here and no unreleased batch to it."""
    for slot, to in given.items():
        if mig.migrating.get(slot) != to:
            return err(f"slot {slot} is not migrating to group {to}: a slot changes owner only by a move")
        if to in mig.outgoing:
            return err(f"slot {slot}: a batch of keys to group {to} is not released yet")
    if given and any(key_slot(key) in given for key in sm.data):
        return err("a slot given away still holds keys here: export them first")
    return None


HANDLERS: dict[bytes, tuple[int, Handler]] = {  # subcommand -> (arguments after it, or -n: at least n)
    b"IMPORTING": (2, importing), b"MIGRATING": (2, migrating), b"EXPORT": (2, export),
    b"IMPORT": (-2, import_), b"RELEASE": (2, release),
}
