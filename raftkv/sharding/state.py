"""A node's view of the sharded deployment: the slot map its group's log installed, which group it is in,
and where the other groups' leaders are.

The map changes only by applying ``RAFT SLOTS SET <epoch> <json>`` from the log (:meth:`apply_entry`), so
every node of a group agrees on it at each index; it is kept in the data dir when applied and in snapshots,
so it survives restarts. :meth:`route` is the per-command check; the loop calls it only while a map is
installed (``routes`` is True), so an unsharded node pays nothing for it.

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
from raftkv.kv.table import Command
from raftkv.node.disk import DiskStorage
from raftkv.sharding import slot_map
from raftkv.sharding.command_keys import command_keys
from raftkv.sharding.slot_map import UNOWNED, SlotMap, SlotMapError
from raftkv.sharding.slots import CROSSSLOT, keys_slot

log = logging.getLogger("raftkv.sharding")

_META = "slot_map"
CROSSSLOT_ERROR = RespError("CROSSSLOT Keys in request don't hash to the same slot")
DISABLED = err("This instance has cluster support disabled")


def node_id(client_addr: str) -> str:
    """A node's 40-hex id in CLUSTER replies: the same on every node, derived from its client address."""
    return hashlib.sha1(b"raftkv-node:" + client_addr.encode()).hexdigest()


class ShardState:
    def __init__(self, disk: DiskStorage, my_addr: str, own_leader: Callable[[], str],
                 own_members: Callable[[], Iterable[str]], own_voters: Callable[[], tuple[str, ...]]) -> None:
        """``my_addr`` is this node's client address (how the map names it); ``own_leader`` gives its
        group's leader's client address as Raft knows it ("" if none); ``own_members`` the client
        addresses of every member of its Raft group as of the applied log, ``own_voters`` those of its
        voters."""
        self._disk = disk
        self.my_addr = my_addr
        self._own_leader = own_leader
        self._own_members = own_members
        self.own_voters = own_voters
        self.map: SlotMap | None = None
        self.my_group: int | None = None
        self._owner: list[int] = []
        # Written by the poller thread, one assignment each (atomic under the GIL), by group name:
        self.leaders: dict[str, str] = {}  # other groups' leaders
        self.members: dict[str, tuple[str, ...]] = {}  # other groups' members, from their own maps
        saved = disk.get_meta(_META)
        if saved:
            self._install(slot_map.decode(saved))

    @property
    def routes(self) -> bool:
        return self.map is not None

    @property
    def encoded(self) -> bytes:
        """The map as stored (b"" if none), for snapshots."""
        return self.map.encode() if self.map is not None else b""

    def restore(self, blob: bytes) -> None:
        """Take the map of a snapshot (b"": none): a snapshot's is at least as new as the log before it."""
        if blob:
            self._install(slot_map.decode(blob))
            self._disk.put_meta(_META, blob)

    def apply_entry(self, argv: list[bytes]) -> object:
        """Apply a committed ``RAFT SLOTS SET <epoch> <json>``: the same outcome on every node of the group."""
        try:
            new = slot_map.decode(argv[4], int(argv[3]))
        except (SlotMapError, ValueError) as exc:
            return err(str(exc))
        old = self.map
        if old is not None and new.epoch <= old.epoch:
            return err(f"stale slot map: epoch {new.epoch} is not above the installed {old.epoch}")
        me = self._our_group(new)
        if me is None:
            return err(f"the slot map names no member of this node's group ({self.my_addr})")
        if old is not None:
            taken = slot_map.takes_over(old, new, new.groups[me].name)
            if taken is not None:
                return err(f"slot {taken} belongs to another group: a slot changes owner only by a move")
        blob = new.encode()
        self._install(new)
        self._disk.put_meta(_META, blob)
        log.info("slot map epoch %d installed: group %s owns %d slots", new.epoch, new.groups[me].name,
                 new.groups[me].slot_count)
        return "OK"

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

    def route(self, argv: list[bytes], cmd: Command) -> RespError | None:
        """Why this node does not serve ``argv`` (MOVED to the owner, CROSSSLOT), or None."""
        keys = command_keys(argv, cmd)
        if not keys:
            return None
        slot = keys_slot(keys)
        if slot == CROSSSLOT:
            return CROSSSLOT_ERROR
        owner = self._owner[slot]
        if owner == self.my_group:
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

    def address_of(self, group: int) -> str:
        """Where clients should go for ``group``: its leader if known, else its first member."""
        assert self.map is not None
        members = self.members_of(group)
        leader = self._own_leader() if group == self.my_group else self.leaders.get(self.map.groups[group].name, "")
        return leader if leader in members else members[0]

