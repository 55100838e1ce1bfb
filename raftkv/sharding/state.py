"""A node's view of the sharded deployment: the slot map its group's log installed, which group it is in,
and where the other groups' leaders are.

The map changes only by applying ``RAFT SLOTS SET <epoch> <json>`` from the log (:meth:`apply_entry`), so
every node of a group agrees on it at each index; it is kept in the data dir when applied and in snapshots,
so it survives restarts. :meth:`route` is the per-command check; the loop calls it only while a map is
installed (``routes`` is True), so an unsharded node pays nothing for it.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

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
    def __init__(self, disk: DiskStorage, my_addr: str, own_leader: Callable[[], str]) -> None:
        """``my_addr`` is this node's client address (how the map names it); ``own_leader`` gives its
        group's leader's client address as Raft knows it ("" if none)."""
        self._disk = disk
        self.my_addr = my_addr
        self._own_leader = own_leader
        self.map: SlotMap | None = None
        self.my_group: int | None = None
        self._owner: list[int] = []
        self.leaders: dict[str, str] = {}  # other groups' leaders, by group name (written by the poller)
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
        me = new.group_of(self.my_addr)
        if me is None:
            return err(f"the slot map does not name this node ({self.my_addr}) in any group")
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
        self.my_group = new.group_of(self.my_addr)
        self._owner = new.owners()

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

    def address_of(self, group: int) -> str:
        """Where clients should go for ``group``: its leader if known, else its first member."""
        assert self.map is not None
        g = self.map.groups[group]
        leader = self._own_leader() if group == self.my_group else self.leaders.get(g.name, "")
        return leader if leader in g.members else g.members[0]

