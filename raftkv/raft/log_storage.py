"""The core's read-only view of the stable log (:class:`LogStorage`) and an in-memory implementation.

The core never writes storage: the driver appends what a Ready hands it, then calls ``advance``.
:class:`MemoryStorage` keeps a dummy entry at the snapshot index (index and term only), so the term of
``first_index() - 1`` stays known after compaction; that is what an APPEND's consistency check needs
for the first entry after a snapshot (Raft §7).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from raftkv.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMeta

ENTRY_OVERHEAD_BYTES = 16  # index, term and kind, counted against max_append_bytes


class RaftError(Exception):
    """A Raft invariant was violated. The process must stop; continuing could lose committed data."""


class StorageError(Exception):
    """A request storage cannot serve; the core recovers from these."""


class Compacted(StorageError):
    """The index lies before the first available entry: it was folded into a snapshot."""


class Unavailable(StorageError):
    """The index lies after the last entry."""


class SnapshotOutOfDate(StorageError):
    """A snapshot no newer than the one already held."""


def limit_bytes(entries: list[Entry], max_bytes: int | None) -> list[Entry]:
    """The longest prefix of ``entries`` within ``max_bytes``, but never fewer than one entry (so that a
    single large entry still moves)."""
    if max_bytes is None or len(entries) <= 1:
        return entries
    total = 0
    for n, entry in enumerate(entries):
        total += ENTRY_OVERHEAD_BYTES + len(entry.data)
        if total > max_bytes and n > 0:
            return entries[:n]
    return entries


class LogStorage(Protocol):
    """What the core reads from stable storage. Entries, terms and indexes are those already persisted."""

    def initial_state(self) -> tuple[HardState, ConfState]:
        """The persisted hard state and the membership to start from."""
        ...

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """Entries [lo, hi), cut to ``max_bytes`` (at least one). Raises Compacted / Unavailable."""
        ...

    def term(self, index: int) -> int:
        """Term of the entry at ``index``, valid for [first_index() - 1, last_index()]."""
        ...

    def first_index(self) -> int:
        """Index of the first entry still available (the snapshot index + 1)."""
        ...

    def last_index(self) -> int:
        ...

    def snapshot(self) -> Snapshot:
        """The most recent snapshot, sent to followers that need compacted entries."""
        ...


class MemoryStorage:
    """A list-backed :class:`LogStorage` with O(1) term lookups. ``_entries[0]`` is the dummy entry at the
    snapshot index; ``_entries[i]`` holds index ``_entries[0].index + i``."""

    def __init__(self) -> None:
        self._hard_state = HardState()
        self._snapshot = Snapshot()
        self._entries: list[Entry] = [Entry(0, 0)]

    # --- LogStorage

    def initial_state(self) -> tuple[HardState, ConfState]:
        """The membership is the snapshot's: a restarted node restores its state machine from the
        snapshot and replays the membership changes after it from the log."""
        return self._hard_state, self._snapshot.meta.conf_state

    def entries(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        offset = self._entries[0].index
        if lo <= offset:
            raise Compacted(f"entry {lo} is compacted (snapshot at {offset})")
        if hi > offset + len(self._entries):
            raise Unavailable(f"entries up to {hi - 1} requested, last is {self.last_index()}")
        return limit_bytes(self._entries[lo - offset : hi - offset], max_bytes)

    def term(self, index: int) -> int:
        offset = self._entries[0].index
        if index < offset:
            raise Compacted(f"term of {index} is compacted (snapshot at {offset})")
        position = index - offset
        if position >= len(self._entries):
            raise Unavailable(f"no entry {index}, last is {self.last_index()}")
        return self._entries[position].term

    def first_index(self) -> int:
        return self._entries[0].index + 1

    def last_index(self) -> int:
        return self._entries[0].index + len(self._entries) - 1

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # --- writes, made by the driver

    def set_hard_state(self, hard_state: HardState) -> None:
        self._hard_state = hard_state

    def set_conf_state(self, conf_state: ConfState) -> None:
        """Set the membership recorded with the current snapshot. A fresh node calls it once with the
        founding membership (a node joining later uses the founders' too, and learns the rest from the
        log or from a snapshot)."""
        self._snapshot = Snapshot(replace(self._snapshot.meta, conf_state=conf_state), self._snapshot.data)

    def append(self, entries: list[Entry]) -> None:
        """Append ``entries``, first dropping any stored entries at or after ``entries[0].index`` (a
        conflicting suffix the leader overwrote, Raft §5.3). Entries before first_index() are ignored."""
        if not entries:
            return
        first = self.first_index()
        if entries[-1].index < first:
            return
        if entries[0].index < first:
            entries = entries[first - entries[0].index :]
        position = entries[0].index - self._entries[0].index
        if position > len(self._entries):
            raise RaftError(f"gap in log: appending {entries[0].index} after {self.last_index()}")
        del self._entries[position:]
        self._entries.extend(entries)

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole log by ``snapshot`` (a follower installing one from its leader)."""
        meta = snapshot.meta
        if meta.index <= self._snapshot.meta.index:
            raise SnapshotOutOfDate(f"snapshot {meta.index} is not newer than {self._snapshot.meta.index}")
        self._snapshot = snapshot
        self._entries = [Entry(meta.index, meta.term)]

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Record a snapshot of the state machine at applied ``index``; ``compact`` may then drop the
        entries it covers."""
        if index <= self._snapshot.meta.index:
            raise SnapshotOutOfDate(f"snapshot {index} is not newer than {self._snapshot.meta.index}")
        if index > self.last_index():
            raise RaftError(f"snapshot index {index} is past the last entry {self.last_index()}")
        self._snapshot = Snapshot(SnapshotMeta(index, self.term(index), conf_state), data)
        return self._snapshot

    def compact(self, index: int) -> None:
        """Drop entries up to and including ``index``; its term stays known through the dummy entry."""
        offset = self._entries[0].index
        if index <= offset:
            raise Compacted(f"already compacted up to {offset}")
        if index > self.last_index():
            raise RaftError(f"compact {index} is past the last entry {self.last_index()}")
        position = index - offset
        dummy = Entry(index, self._entries[position].term)
        del self._entries[:position]
        self._entries[0] = dummy
