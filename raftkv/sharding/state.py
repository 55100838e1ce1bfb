"""A node's view of the sharded deployment: the slot map its group's log installed, which group it is in,
the slots it is moving (:mod:`raftkv.sharding.migration`), and where the other groups' leaders are.

The map and the moves change only by applying ``RAFT SLOTS ...`` entries from the log
(:meth:`apply_entry`), so every node of a group agrees on them at each index. They travel in snapshots
and are rebuilt from the log after a restart, never read back from elsewhere: a command is routed again
when it is applied (writes) or served (reads), and that decision must be the one of its own index, which
a copy newer than the replayed key space would not give.

:meth:`route` is the per-command check, at arrival and again at execution; the loop and the applier call
it only while a map is installed (``routes`` is True), so an unsharded node pays nothing for it.

Which group is ours is decided by our Raft group's members, not by this node's address alone: a node
added to the group after the map was written is not named in it yet, but a member it shares the group
with is, and every node of the group decides the same way at the same index (the member table is
replicated too). The members clients are sent to are, for our own group, its voters now (the map's
list catches up through :mod:`raftkv.sharding.member_sync`), and for the others the list each group's
own map gives itself, as the leader poller last read it.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable

from raftkv.errors import RespError, err
from raftkv.kv.state_machine import StateMachine
from raftkv.kv.table import TABLE, Command
from raftkv.sharding import migration, moves, slot_map
from raftkv.sharding.command_keys import command_keys, entry_keys
from raftkv.sharding.migration import Migration
from raftkv.sharding.slot_map import UNOWNED, SlotMap, SlotMapError
from raftkv.sharding.slots import CROSSSLOT, keys_slot

log = logging.getLogger("raftkv.sharding")

CROSSSLOT_ERROR = RespError("CROSSSLOT Keys in request don't hash to the same slot")
DISABLED = err("This instance has cluster support disabled")
_ASKING = TABLE[b"asking"]


def node_id(client_addr: str) -> str:
    """A node's 40-hex id in CLUSTER replies: the same on every node, derived from its client address."""
    return hashlib.sha1(b"raftkv-node:" + client_addr.encode()).hexdigest()


class ShardState:
    def __init__(self, my_addr: str, own_leader: Callable[[], str], own_members: Callable[[], Iterable[str]],
                 own_voters: Callable[[], tuple[str, ...]]) -> None:
        """``my_addr`` is this node's client address (how the map names it); ``own_leader`` gives its
        group's leader's client address as Raft knows it ("" if none); ``own_members`` the client
        addresses of every member of its Raft group as of the applied log, ``own_voters`` those of its
        voters."""
        self.my_addr = my_addr
        self._own_leader = own_leader
        self._own_members = own_members
        self.own_voters = own_voters
        self.map: SlotMap | None = None
        self.my_group: int | None = None
        self._owner: list[int] = []
        self.migration = Migration()
        self._buffered: set[bytes] = set()  # the keys of the outgoing batches
        # Written by the poller thread, one assignment each (atomic under the GIL), by group name:
        self.leaders: dict[str, str] = {}  # other groups' leaders
        self.members: dict[str, tuple[str, ...]] = {}  # other groups' members, from their own maps
        self.reroutes = 0  # entries applied that may send commands elsewhere (a map, MIGRATING)

    @property
    def routes(self) -> bool:
        return self.map is not None

    @property
    def encoded(self) -> bytes:
        """The map, and after a newline the moves if any (b"" if no map), for snapshots."""
        if self.map is None:
            return b""
        moving = b"" if self.migration.idle else b"\n" + self.migration.encode()
        return self.map.encode() + moving

    def restore(self, blob: bytes) -> None:
        """Take the state of a snapshot (b"": none), which replaces ours."""
        map_blob, _, moves_blob = blob.partition(b"\n")
        self.map = self.my_group = None
        self._owner = []
        if map_blob:
            self._install(slot_map.decode(map_blob))
        self.migration = migration.decode(moves_blob) if moves_blob else Migration()
        self._buffered = self.migration.buffered()

    def apply_entry(self, argv: list[bytes], sm: StateMachine, now_ms: int) -> object:
        """Apply a committed ``RAFT SLOTS <sub> ...``: the same outcome on every node of the group."""
        sub = argv[2]
        if sub == b"SET":
            reply = self._apply_map(argv, sm)
        elif self.map is None or self.my_group is None:
            return err("this group has no slot map: run kvsctl cluster create first")
        else:
            reply = moves.HANDLERS[sub][1](self.migration, self.map, self.map.groups[self.my_group].name, sm,
                                           now_ms, argv[3:])
            self._buffered = self.migration.buffered()
        if reply == "OK" and sub in (b"SET", b"MIGRATING"):
            self.reroutes += 1
        return reply

    def _apply_map(self, argv: list[bytes], sm: StateMachine) -> object:
        try:
            new = slot_map.decode(argv[4], int(argv[3]))
        except (SlotMapError, ValueError) as exc:
            return err(str(exc))
        old = self.map
        if old is not None and new.epoch <= old.epoch:
            return err(slot_map.stale(new.epoch, old.epoch))
        me = self._our_group(new)
        if me is None:
            return err(f"the slot map names no member of this node's group ({self.my_addr})")
        name = new.groups[me].name
        if old is not None:
            taken = slot_map.takes_over(old, new, name, self.migration.importing)
            if taken is not None:
                return err(f"slot {taken} belongs to another group: a slot changes owner only by a move")
            refusal = moves.refuse_giving_away(self.migration, slot_map.gives_away(old, new, name), sm)
            if refusal is not None:
                return refusal
        self._install(new)
        self._forget_finished_moves(new, name)
        log.info("slot map epoch %d installed: group %s owns %d slots", new.epoch, name, new.groups[me].slot_count)
        return "OK"

    def _forget_finished_moves(self, new: SlotMap, me: str) -> None:
        """A slot stops migrating once the map no longer gives it to us, and stops importing once it does
        (or gives it to a group other than its source)."""
        names = [g.name for g in new.groups]
        mig = self.migration

        def owner_name(slot: int) -> str:
            return names[self._owner[slot]] if self._owner[slot] != UNOWNED else ""

        mig.migrating = {s: t for s, t in mig.migrating.items() if owner_name(s) == me}
        mig.importing = {s: g for s, g in mig.importing.items() if owner_name(s) == g}

    def _install(self, new: SlotMap) -> None:
        self.map = new
        self.my_group = self._our_group(new)
        self._owner = new.owners()

    def _our_group(self, slot_map: SlotMap) -> int | None:
        found = slot_map.group_of(self.my_addr)
        if found is None:
            found = next((g for g in map(slot_map.group_of, self._own_members()) if g is not None), None)
        return found

    def membership_changed(self) -> None:
        """Our group's members changed (a membership change was applied): find our group again (a node
        added since the map was written finds it now)."""
        if self.map is not None:
            self.my_group = self._our_group(self.map)

    # -- routing --------------------------------------------------------------------------------

    def route(self, argv: list[bytes], cmd: Command, sm: StateMachine, now_ms: int) -> RespError | None:
        """Why this node does not serve ``argv`` now (MOVED to the owner, ASK to a slot's target,
        TRYAGAIN while its keys move, CROSSSLOT), or None. ``cmd`` is ASKING for a command its
        connection sent after ASKING (``ASKING <argv>``)."""
        return self._route_keys(command_keys(argv, cmd), cmd is _ASKING, sm, now_ms)

    def route_entry(self, argv: list[bytes], sm: StateMachine, now_ms: int) -> tuple[list[bytes], RespError | None]:
        """:meth:`route` for a command as it is applied or served: the argv to run (without its ASKING
        mark) and why not to run it, if so."""
        asked = argv[0] == b"ASKING"
        if asked:
            argv = argv[1:]
        return argv, self._route_keys(entry_keys(argv), asked, sm, now_ms)

    def _route_keys(self, keys: list[bytes], asked: bool, sm: StateMachine, now_ms: int) -> RespError | None:
        if not keys:
            return None
        slot = keys_slot(keys)
        if slot == CROSSSLOT:
            return CROSSSLOT_ERROR
        owner = self._owner[slot]
        if owner == self.my_group:
            target = self.migration.migrating.get(slot) if self.migration.migrating else None
            return None if target is None else self._while_migrating(slot, target, keys, sm, now_ms)
        if asked and slot in self.migration.importing:
            return None
        if owner == UNOWNED:
            return RespError(f"CLUSTERDOWN Hash slot {slot} not served")
        return RespError(f"MOVED {slot} {self.address_of(owner)}")

    def members_of(self, group: int) -> tuple[str, ...]:
        """``group``'s members as clients should know them: our own group's voters, another group's
        list as its own map gives it (else as ours does)."""
        assert self.map is not None
        g = self.map.groups[group]
        if group == self.my_group:
            return self.own_voters() or g.members
        return self.members.get(g.name) or g.members

    def _while_migrating(self, slot: int, target: str, keys: list[bytes], sm: StateMachine,
                         now_ms: int) -> RespError | None:
        """Redis's rule at a slot's source: served if every key is here, ASK if none is, else TRYAGAIN;
        a key of an outgoing batch is neither here nor surely there yet: TRYAGAIN."""
        if self._buffered and not self._buffered.isdisjoint(keys):
            return RespError(f"TRYAGAIN Key being moved during rehashing of slot {slot}")
        here = sum(sm.value(key, now_ms) is not None for key in keys)
        if here == len(keys):
            return None
        if here:
            return RespError("TRYAGAIN Multiple keys request during rehashing of slot")
        assert self.map is not None
        return RespError(f"ASK {slot} {self.address_of([g.name for g in self.map.groups].index(target))}")

    def address_of(self, group: int) -> str:
        """Where clients should go for ``group``: its leader if known, else its first member."""
        assert self.map is not None
        members = self.members_of(group)
        leader = self._own_leader() if group == self.my_group else self.leaders.get(self.map.groups[group].name, "")
        return leader if leader in members else members[0]
