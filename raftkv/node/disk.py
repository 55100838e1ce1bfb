"""The Raft process's disk: log entries, hard state and node metadata in one LevelDB.

Only the Raft process opens the data directory (LevelDB's LOCK file enforces it). Keys are prefixed by
kind. The log is kept in runs: each save's entries are one key, ``b"r/"`` + the run's first index as
8-byte big-endian, whose value is the run packed as :func:`raftkv.wire.entries.pack_entries` packs an
APPEND's entries; so a range scan reads the log in order, and a batch of entries costs one put to write
and one delete to compact, not one per entry (a delete is a tombstone LevelDB writes and compacts like a
put). The runs' first indexes are kept in memory: a conflicting suffix or a compaction finds its runs
without reading the log, and rewrites at most the one run it cuts through. Every
:meth:`DiskStorage.save` is one ``WriteBatch``; the caller says whether it is synced
(:func:`raftkv.raft.ready.needs_sync`: entries, a new term/vote, or a commit index that commits a
membership change must be durable before anything depends on them; a leader's entries its followers
commit without it may wait for a later synced write).

A synced write makes the earlier unsynced ones durable too, LevelDB's log being written in order, but
only within one log file: when its memtable fills, LevelDB closes the log without a sync and starts a
new one, and a later synced write syncs only the new file. Until that memtable is flushed to a table
(which LevelDB syncs before it deletes the old log), the writes in the old log live in the page cache
alone; so a synced write after unsynced entries also syncs every older log still present.
"""
from __future__ import annotations

import os
import struct
from bisect import bisect_left
from pathlib import Path

import plyvel

from raftkv.raft.types import ConfState, Entry, EntryKind, HardState
from raftkv.wire.entries import pack_entries, unpack_entries

_RUN = b"r/"
_RUN_END = b"r0"  # the byte after b"/" bounds the runs' prefix
_ENTRY_KEY = b"l/"  # data dirs of earlier releases: one key per entry, read once and rewritten as runs
_ENTRY_KEY_END = b"l0"
_HARD_STATE = b"hs"
_CONF_STATE = b"cs"
_META = b"m/"

_HS = struct.Struct(">QQQ")
_ENTRY_HEAD = struct.Struct(">QB")
_INDEX = struct.Struct(">Q")
_KEY = struct.Struct(">2sQ")  # a prefix + _INDEX in one pack
# Entries per run at most: what a truncation or a compaction that cuts a run rewrites.
MAX_RUN = 1024


class StorageError(Exception):
    """The data directory cannot be used; the message is one line naming it and the cause."""


def _run_key(first: int) -> bytes:
    return _KEY.pack(_RUN, first)


def _encode_conf_state(cs: ConfState) -> bytes:
    voters = b",".join(str(v).encode() for v in cs.voters)
    learners = b",".join(str(v).encode() for v in cs.learners)
    return voters + b";" + learners


def _decode_conf_state(raw: bytes) -> ConfState:
    voters, learners = raw.split(b";")
    return ConfState(
        voters=tuple(int(v) for v in voters.split(b",") if v),
        learners=tuple(int(v) for v in learners.split(b",") if v),
    )


class DiskStorage:
    """A LevelDB holding one node's Raft log, hard state and metadata."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create data dir {self.path}: {exc.strerror}") from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise StorageError(f"data dir {self.path} is not writable")
        try:
            self._db = plyvel.DB(str(self.path), create_if_missing=True, paranoid_checks=True)
        except plyvel.IOError as exc:
            if "lock" in str(exc).lower():
                raise StorageError(f"data dir {self.path} is in use by another raftkv-server") from None
            raise StorageError(f"cannot open data dir {self.path}: {exc}") from None
        except plyvel.CorruptionError as exc:
            raise self._corrupted(str(exc)) from None
        self._unsynced_entries = False  # entries were written without a sync since the last synced write
        try:
            self._runs, self._last_index = self._read_runs()
            self._rewrite_entry_keys()
        except plyvel.CorruptionError as exc:
            self._db.close()
            raise self._corrupted(str(exc)) from None

    def _corrupted(self, detail: str) -> StorageError:
        return StorageError(f"data dir {self.path} is corrupted: {detail}")

    def close(self) -> None:
        if not self._db.closed:
            self._db.close()

    # -- metadata ---------------------------------------------------------------------------------

    def get_meta(self, name: str) -> bytes | None:
        return self._db.get(_META + name.encode())

    def put_meta(self, name: str, value: bytes) -> None:
        self._db.put(_META + name.encode(), value, sync=True)

    # -- Raft state -------------------------------------------------------------------------------

    def hard_state(self) -> HardState:
        raw = self._db.get(_HARD_STATE)
        return HardState(*_HS.unpack(raw)) if raw else HardState()

    def conf_state(self) -> ConfState | None:
        raw = self._db.get(_CONF_STATE)
        return _decode_conf_state(raw) if raw is not None else None

    def set_conf_state(self, cs: ConfState) -> None:
        self._db.put(_CONF_STATE, _encode_conf_state(cs), sync=True)

    def entries(self) -> list[Entry]:
        """Every log entry on disk, in index order; a StorageError if the log is damaged (a run that
        does not decode, or a gap), rather than a node that silently starts without some of it."""
        entries: list[Entry] = []
        try:
            for key, value in self._db.iterator(start=_RUN, stop=_RUN_END):
                first = _INDEX.unpack_from(key, len(_RUN))[0]
                if entries and first != entries[-1].index + 1:
                    raise self._corrupted(f"log entry {entries[-1].index + 1} is missing (the next is {first})")
                entries += self._decode_run(first, value)
        except plyvel.CorruptionError as exc:
            raise self._corrupted(str(exc)) from None
        return entries

    def _decode_run(self, first: int, value: bytes) -> list[Entry]:
        try:
            run = unpack_entries(value)
        except ValueError as exc:
            raise self._corrupted(f"the log run from entry {first} does not decode ({exc})") from None
        if not run or run[0].index != first or run[-1].index != first + len(run) - 1:
            raise self._corrupted(f"the log run from entry {first} does not decode (its entries do not "
                                  "follow on from it)")
        return run

    def _read_run(self, first: int) -> list[Entry]:
        value = self._db.get(_run_key(first))
        if value is None:
            raise self._corrupted(f"log entry {first} is missing")
        return self._decode_run(first, value)

    @property
    def first_index(self) -> int:
        """The first entry still on disk (0 with an empty log)."""
        return self._runs[0] if self._runs else 0

    @property
    def last_index(self) -> int:
        return self._last_index

    def _read_runs(self) -> tuple[list[int], int]:
        """The runs' first indexes and the last index, read once, at open: afterwards they are kept, not
        found again by iterating, since an iterator from the start of the log walks the tombstones every
        compaction leaves behind."""
        with self._db.iterator(start=_RUN, stop=_RUN_END, include_value=False) as it:
            runs = [_INDEX.unpack_from(key, len(_RUN))[0] for key in it]
        return runs, self._read_run(runs[-1])[-1].index if runs else 0

    def _rewrite_entry_keys(self) -> None:
        """A data dir of an earlier release keeps one key per entry: its log is saved again as runs,
        synced, then its entry keys are deleted. A crash in between leaves both, and the next open does
        the same again (the runs saved again replace themselves, as a conflicting suffix does)."""
        entries: list[Entry] = []
        for key, value in self._db.iterator(start=_ENTRY_KEY, stop=_ENTRY_KEY_END):
            index = _INDEX.unpack_from(key, len(_ENTRY_KEY))[0]
            if entries and index != entries[-1].index + 1:
                raise self._corrupted(f"log entry {entries[-1].index + 1} is missing (the next is {index})")
            try:
                term, kind = _ENTRY_HEAD.unpack_from(value)
                entries.append(Entry(index, term, EntryKind(kind), value[_ENTRY_HEAD.size:]))
            except (struct.error, ValueError) as exc:
                raise self._corrupted(f"log entry {index} does not decode ({exc})") from None
        if entries:
            self.save(None, entries, sync=True)
            with self._db.write_batch(sync=True) as batch:
                for entry in entries:
                    batch.delete(_KEY.pack(_ENTRY_KEY, entry.index))

    def delete_log_through(self, index: int, limit: int | None = None) -> bool:
        """Drop the log up to and including ``index`` (covered by a snapshot), whole runs of at most
        ``limit`` entries per call (at least one run) so that a long log goes in slices; True once
        nothing up to ``index`` is left. A run ``index`` falls inside keeps its tail, as a run of its
        own from ``index + 1``. LevelDB reclaims the deleted keys in its own compactions."""
        runs = self._runs
        if not runs or runs[0] > index:
            return True
        target = min(index, self._last_index)
        deleted = gone = 0
        tail_from = 0
        with self._db.write_batch(transaction=True) as batch:  # nothing is written if a run is damaged
            while gone < len(runs) and runs[gone] <= target:
                first = runs[gone]
                last = runs[gone + 1] - 1 if gone + 1 < len(runs) else self._last_index
                through = min(last, target)
                if limit is not None and deleted and deleted + through - first + 1 > limit:
                    break
                batch.delete(_run_key(first))
                if last > target:
                    tail_from = target + 1
                    batch.put(_run_key(tail_from), pack_entries(self._read_run(first)[tail_from - first:]))
                deleted += through - first + 1
                gone += 1
        runs[:gone] = [tail_from] if tail_from else []
        if not runs:
            self._last_index = 0
        return not runs or runs[0] > target

    def save(self, hard_state: HardState | None, entries: list[Entry], sync: bool) -> None:
        """Write ``hard_state`` and ``entries`` in one batch. Entries replace any suffix of the log from
        their first index on (a follower's conflicting tail, Raft §5.3)."""
        batch = self._db.write_batch(sync=sync)
        runs = self._runs
        if entries:
            first = entries[0].index
            if first <= self._last_index:
                runs = self._cut_from(first, batch)
            new_runs = range(first, entries[-1].index + 1, MAX_RUN)
            for start in new_runs:
                run = entries if len(entries) <= MAX_RUN else entries[start - first:start - first + MAX_RUN]
                batch.put(_run_key(start), pack_entries(run))
        if hard_state is not None:
            batch.put(_HARD_STATE, _HS.pack(hard_state.term, hard_state.vote, hard_state.commit))
        batch.write()
        if sync:
            if self._unsynced_entries:
                self._sync_switched_logs()
                self._unsynced_entries = False
        elif entries:
            self._unsynced_entries = True
        if entries:
            runs += new_runs
            self._runs = runs
            self._last_index = entries[-1].index

    def _cut_from(self, first: int, batch: plyvel._plyvel.WriteBatch) -> list[int]:
        """Into ``batch``: the deletion of the log from ``first`` on; the runs that are left."""
        runs = self._runs
        keep = bisect_left(runs, first)  # runs[:keep] start before first
        for start in runs[keep:]:
            batch.delete(_run_key(start))
        if keep and (keep == len(runs) or runs[keep] > first):  # first falls inside runs[keep - 1]
            start = runs[keep - 1]
            batch.put(_run_key(start), pack_entries(self._read_run(start)[:first - start]))
        return runs[:keep]

    def _sync_switched_logs(self) -> None:
        """Sync the LevelDB logs older than the current one (see the module docstring): usually there is
        none; one whose memtable is being flushed while the node writes fast."""
        logs = sorted((int(name[:-4]), name) for name in os.listdir(self.path)
                      if name.endswith(".log") and name[:-4].isdigit())
        for _number, name in logs[:-1]:  # the newest is the current log, which the synced write synced
            try:
                fd = os.open(self.path / name, os.O_RDONLY)
            except FileNotFoundError:
                continue  # flushed into a synced table and deleted meanwhile
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
