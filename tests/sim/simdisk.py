"""SimDisk: one simulated node's disk, with the node's sync policy and power loss.

It is the MemoryStorage the core reads, plus what a real disk adds: a write may sit in the OS's cache
until a synced write flushes it (LevelDB's log is sequential, so a synced write makes every earlier
write durable too). The policy is the node's own, :func:`raftkv.raft.ready.needs_sync` (which
raftkv/node/loop.py ``persist`` calls): a Ready's write is synced when it holds entries, a snapshot, a
new term or vote, or committed entries with a membership change; a write that only moves the commit
index otherwise is not. A process crash (kill -9) keeps unsynced writes, the OS still has them; a power loss
(:meth:`lose_unsynced`) loses them all, and the node restarts from the last synced state.
"""
from __future__ import annotations

from raftkv.raft.log_storage import MemoryStorage
from raftkv.raft.ready import hard_state_to_save, needs_sync
from raftkv.raft.types import ConfState, Ready, Snapshot


class SimDisk(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        # What survives a power loss, while some write is not synced yet (None when everything is).
        self._durable: MemoryStorage | None = None
        self.synced_writes = 0
        self.unsynced_writes = 0
        self.lost_writes = 0  # unsynced writes lost to power losses, over the disk's life
        self._pending = 0  # unsynced writes since the last synced one

    def save(self, rd: Ready) -> bool:
        """Write ``rd``'s hard state, snapshot and entries as the node does; returns whether synced."""
        stored = self.initial_state()[0]
        hard = hard_state_to_save(rd, stored)
        if hard is None and not rd.entries and rd.snapshot is None:
            return False
        synced = needs_sync(rd, stored)
        if not synced and self._durable is None:
            self._durable = self._copy()
        if rd.snapshot is not None:
            self.apply_snapshot(rd.snapshot)
        self.append(rd.entries)
        if hard is not None:
            self.set_hard_state(hard)
        if synced:
            self._durable = None
            self._pending = 0
            self.synced_writes += 1
        else:
            self._pending += 1
            self.unsynced_writes += 1
        return synced

    def take_snapshot(self, index: int, conf_state: ConfState, data: bytes, compact_to: int) -> Snapshot:
        """The driver's own snapshot at applied ``index`` and compaction of the log up to ``compact_to``
        (0: none), written durably (a snapshot file is synced before the log is compacted). It does not
        make pending unsynced writes durable: the durable image gets the same change."""
        snapshot = self.create_snapshot(index, conf_state, data)
        if compact_to:
            self.compact(compact_to)
        durable = self._durable
        if durable is None:
            return snapshot
        if index > durable.last_index():
            # A leader applies entries its followers committed before its own copy was synced: the
            # synced snapshot file then covers more than the durable log, which it replaces.
            durable.apply_snapshot(snapshot)
        else:
            durable.create_snapshot(index, conf_state, data)
            if compact_to:
                durable.compact(compact_to)
        return snapshot

    def sync(self) -> None:
        """A synced write of nothing new (the leader's deferred sync): every earlier write is durable."""
        if self._durable is not None:
            self._durable = None
            self._pending = 0
            self.synced_writes += 1

    def pending_unsynced(self) -> bool:
        return self._durable is not None

    def lose_unsynced(self) -> int:
        """Power loss: drop every write since the last synced one. Returns how many were lost."""
        durable = self._durable
        if durable is None:
            return 0
        self._hard_state = durable._hard_state
        self._snapshot = durable._snapshot
        self._entries = durable._entries
        self._durable = None
        lost, self._pending = self._pending, 0
        self.lost_writes += lost
        return lost

    def _copy(self) -> MemoryStorage:
        copy = MemoryStorage()
        copy._hard_state = self._hard_state
        copy._snapshot = self._snapshot
        copy._entries = list(self._entries)
        return copy
