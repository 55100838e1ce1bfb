"""RaftLog: one node's log as the core sees it — the persisted prefix in storage plus an unstable tail.

The unstable tail holds entries (and at most one snapshot) that a Ready handed to the driver but that
``advance`` has not yet confirmed as persisted. ``committed`` and
``applied`` live here too. This module never sends messages and never changes term or vote; the core
decides, the log only keeps the entries.
"""
from __future__ import annotations

from raftkv.raft.log_storage import Compacted, LogStorage, RaftError, StorageError, Unavailable, limit_bytes
from raftkv.raft.types import Entry, EntryKind, Snapshot


class RaftLog:
    """Invariants: applied <= committed <= last_index(); entries at or below ``committed`` never change
    (Raft §5.3: a committed entry is never overwritten)."""

    def __init__(self, storage: LogStorage) -> None:
        self.storage = storage
        self._unstable: list[Entry] = []
        self._unstable_offset = storage.last_index() + 1  # index of _unstable[0]
        self.pending_snapshot: Snapshot | None = None  # received, not yet persisted
        self.committed = storage.first_index() - 1
        self.applied = storage.first_index() - 1

    # --- bounds and terms

    def first_index(self) -> int:
        if self.pending_snapshot is not None:
            return self.pending_snapshot.meta.index + 1
        return self.storage.first_index()

    def last_index(self) -> int:
        if self._unstable:
            return self._unstable_offset + len(self._unstable) - 1
        if self.pending_snapshot is not None:
            return self.pending_snapshot.meta.index
        return self.storage.last_index()

    def persisted_index(self) -> int:
        """The last index known to be on disk and part of this log (0 while a snapshot is pending)."""
        if self.pending_snapshot is not None:
            return 0
        return self._unstable_offset - 1

    def term(self, index: int) -> int:
        """Term at ``index``; raises Compacted / Unavailable outside [first_index() - 1, last_index()]."""
        position = index - self._unstable_offset
        if 0 <= position < len(self._unstable):
            return self._unstable[position].term
        snapshot = self.pending_snapshot
        if snapshot is not None:
            if index == snapshot.meta.index:
                return snapshot.meta.term
            if index < snapshot.meta.index:
                raise Compacted(f"term of {index} precedes the pending snapshot")
        if index > self.last_index():
            raise Unavailable(f"no entry {index}, last is {self.last_index()}")
        return self.storage.term(index)

    def term_or_zero(self, index: int) -> int:
        try:
            return self.term(index)
        except StorageError:
            return 0

    def last_term(self) -> int:
        return self.term(self.last_index())

    def match_term(self, index: int, term: int) -> bool:
        try:
            return self.term(index) == term
        except StorageError:
            return False

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Raft §5.4.1: a candidate's log is at least as up-to-date as ours if its last term is later, or
        the same with an index at least as large."""
        our_term = self.last_term()
        return last_term > our_term or (last_term == our_term and last_index >= self.last_index())

    # --- reading entries

    def entries_from(self, lo: int, max_bytes: int | None) -> list[Entry]:
        return self.slice(lo, self.last_index() + 1, max_bytes)

    def slice(self, lo: int, hi: int, max_bytes: int | None = None) -> list[Entry]:
        """Entries [lo, hi), cut to ``max_bytes`` (at least one). Raises Compacted below first_index()."""
        if lo >= hi:
            return []
        if lo < self.first_index():
            raise Compacted(f"entry {lo} is compacted")
        if hi > self.last_index() + 1:
            raise Unavailable(f"entries up to {hi - 1} requested, last is {self.last_index()}")
        offset = self._unstable_offset
        if hi <= offset:
            return self.storage.entries(lo, hi, max_bytes)
        if lo >= offset:
            return limit_bytes(self._unstable[lo - offset : hi - offset], max_bytes)
        stable = self.storage.entries(lo, offset, max_bytes)
        if len(stable) < offset - lo:
            return stable
        return limit_bytes(stable + self._unstable[: hi - offset], max_bytes)

    # --- appending

    def append(self, entries: list[Entry]) -> None:
        """Append ``entries``, which must start at or before last_index() + 1; any existing entries from
        ``entries[0].index`` on are replaced. Only uncommitted entries may be replaced."""
        if not entries:
            return
        after = entries[0].index
        if after <= self.committed:
            raise RaftError(f"cannot overwrite committed entry {after} (commit {self.committed})")
        unstable_end = self._unstable_offset + len(self._unstable)
        if after == unstable_end:
            self._unstable.extend(entries)
        elif after <= self._unstable_offset:
            # The conflict reaches into the persisted part: the tail replaces it when next persisted.
            self._unstable_offset = after
            self._unstable = list(entries)
        elif after < unstable_end:
            del self._unstable[after - self._unstable_offset :]
            self._unstable.extend(entries)
        else:
            raise RaftError(f"gap in log: appending {after} after {self.last_index()}")

    def maybe_append(self, prev_index: int, prev_term: int, commit: int, entries: list[Entry]) -> int | None:
        """A follower's side of AppendEntries (Raft figure 2, receiver rules 2-5). Returns the index of the
        last entry the leader sent (now known to match), or None if the log doesn't contain
        (prev_index, prev_term)."""
        if not self.match_term(prev_index, prev_term):
            return None
        last_new = prev_index + len(entries)
        conflict = self._find_conflict(entries)
        if conflict:
            if conflict <= self.committed:
                raise RaftError(f"entry {conflict} conflicts with a committed entry (commit {self.committed})")
            self.append(entries[conflict - prev_index - 1 :])
        self.commit_to(min(commit, last_new))
        return last_new

    def _find_conflict(self, entries: list[Entry]) -> int:
        """Index of the first entry that is new or whose term differs from ours; 0 if all match. Entries
        that match are skipped, never rewritten: a delayed duplicate APPEND must not truncate entries a
        later one added (Raft §5.3, receiver rule 3 only deletes on a real conflict)."""
        last = self.last_index()
        for entry in entries:
            if entry.index > last or not self.match_term(entry.index, entry.term):
                return entry.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest index <= ``index`` whose term is <= ``term``, with that term (0 if unknown). Both
        sides of a rejected append use it to skip a whole conflicting term per round trip (Raft §5.3,
        the optimisation at the end of the section)."""
        while index > 0:
            try:
                entry_term = self.term(index)
            except StorageError:
                return index, 0
            if entry_term <= term:
                return index, entry_term
            index -= 1
        return 0, 0

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the whole log by ``snapshot`` (to be persisted through the next Ready)."""
        self.pending_snapshot = snapshot
        self._unstable = []
        self._unstable_offset = snapshot.meta.index + 1
        self.committed = snapshot.meta.index

    # --- commit and apply

    def commit_to(self, index: int) -> None:
        if index <= self.committed:
            return
        if index > self.last_index():
            raise RaftError(f"commit {index} is past the last entry {self.last_index()}")
        self.committed = index

    def applied_to(self, index: int) -> None:
        if index > self.committed:
            raise RaftError(f"applied {index} is past commit {self.committed}")
        if index > self.applied:
            self.applied = index

    def _committed_bound(self) -> int:
        """Committed entries are handed out only once persisted here, never from the unstable tail."""
        return min(self.committed, self._unstable_offset - 1)

    def has_next_committed(self) -> bool:
        if self.pending_snapshot is not None:
            return False
        return self._committed_bound() > max(self.applied, self.first_index() - 1)

    def next_committed(self) -> list[Entry]:
        if self.pending_snapshot is not None:
            return []
        lo = max(self.applied + 1, self.first_index())
        return self.slice(lo, self._committed_bound() + 1)

    def has_unapplied_conf_change(self) -> bool:
        """Whether a committed membership change awaits applying: until it is applied this node's view
        of the membership may be stale, so it must not campaign."""
        lo = max(self.applied + 1, self.first_index())
        hi = min(self.committed, self.last_index()) + 1
        return any(entry.kind == EntryKind.CONF_CHANGE for entry in self.slice(lo, hi))

    # --- persistence

    def unstable_entries(self) -> list[Entry]:
        """The entries to persist next: the unstable tail."""
        return list(self._unstable)

    def has_unstable(self) -> bool:
        return bool(self._unstable) or self.pending_snapshot is not None

    def stable_to(self, index: int, term: int) -> None:
        """The driver persisted entries up to (index, term). Ignored if that entry was since replaced."""
        position = index - self._unstable_offset
        if 0 <= position < len(self._unstable) and self._unstable[position].term == term:
            del self._unstable[: position + 1]
            self._unstable_offset = index + 1

    def stable_snapshot_to(self, index: int) -> None:
        if self.pending_snapshot is not None and self.pending_snapshot.meta.index == index:
            self.pending_snapshot = None
            if index > self.applied:
                self.applied = index
