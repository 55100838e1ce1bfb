"""The Raft process's disk: log entries, hard state and node metadata in one LevelDB.

Only the Raft process opens the data directory (LevelDB's LOCK file enforces it). Keys are prefixed by
kind; log keys are ``b"l/"`` + the index as 8-byte big-endian, so a range scan reads the log in order and
a suffix or prefix deletes with one iterator. Every :meth:`DiskStorage.save` is one ``WriteBatch``; the
caller says whether it is synced (:func:`raftkv.raft.ready.needs_sync`: entries, a new term/vote, or a
commit index that commits a membership change must be durable before anything depends on them; a
leader's entries its followers commit without it may wait for a later synced write).

A synced write makes the earlier unsynced ones durable too, LevelDB's log being written in order, but
only within one log file: when its memtable fills, LevelDB closes the log without a sync and starts a
new one, and a later synced write syncs only the new file. Until that memtable is flushed to a table
(which LevelDB syncs before it deletes the old log), the writes in the old log live in the page cache
alone; so a synced write after unsynced entries also syncs every older log still present.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import plyvel

from raftkv.raft.types import ConfState, Entry, EntryKind, HardState

_LOG = b"l/"
_LOG_END = b"l0"  # the byte after b"/" bounds the log prefix
_HARD_STATE = b"hs"
_CONF_STATE = b"cs"
_META = b"m/"

_HS = struct.Struct(">QQQ")
_ENTRY_HEAD = struct.Struct(">QB")
_INDEX = struct.Struct(">Q")
_LOG_KEY = struct.Struct(">2sQ")  # _LOG + _INDEX in one pack


class StorageError(Exception):
    """The data directory cannot be used; the message is one line naming it and the cause."""


def _log_key(index: int) -> bytes:
    return _LOG_KEY.pack(_LOG, index)


def decode_entry(index: int, raw: bytes) -> Entry:
    term, kind = _ENTRY_HEAD.unpack_from(raw)
    return Entry(index, term, EntryKind(kind), raw[_ENTRY_HEAD.size:])


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
            raise StorageError(f"data dir {self.path} is corrupted: {exc}") from None
        self._first_index, self._last_index = self._read_log_bounds()
        self._unsynced_entries = False  # entries were written without a sync since the last synced write

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
        """Every log entry on disk, in index order; a StorageError if the log is damaged (an entry that
        does not decode, or a gap), rather than a node that silently starts without some of it."""
        entries: list[Entry] = []
        try:
            for key, value in self._db.iterator(start=_LOG, stop=_LOG_END):
                index = _INDEX.unpack_from(key, len(_LOG))[0]
                if entries and index != entries[-1].index + 1:
                    raise StorageError(f"data dir {self.path} is corrupted: log entry {entries[-1].index + 1} "
                                       f"is missing (the next is {index})")
                entries.append(decode_entry(index, value))
        except plyvel.CorruptionError as exc:
            raise StorageError(f"data dir {self.path} is corrupted: {exc}") from None
        except (struct.error, ValueError) as exc:
            raise StorageError(f"data dir {self.path} is corrupted: log entry after "
                               f"{entries[-1].index if entries else 0} does not decode ({exc})") from None
        return entries

    @property
    def first_index(self) -> int:
        """The first entry still on disk (0 with an empty log)."""
        return self._first_index

    @property
    def last_index(self) -> int:
        return self._last_index

    def _read_log_bounds(self) -> tuple[int, int]:
        """Read once, at open: afterwards the bounds are kept, never found again by iterating, since an
        iterator from the start of the log walks the tombstones every compaction leaves behind."""
        bounds = []
        for reverse in (False, True):
            with self._db.iterator(start=_LOG, stop=_LOG_END, reverse=reverse, include_value=False) as it:
                bounds.append(next((_INDEX.unpack_from(key, len(_LOG))[0] for key in it), 0))
        return bounds[0], bounds[1]

    def delete_log_through(self, index: int, limit: int | None = None) -> bool:
        """Drop the log up to and including ``index`` (covered by a snapshot), at most ``limit`` entries
        per call so that a long log goes in slices; True once nothing up to ``index`` is left. Deletes by
        key from the first live index on: LevelDB reclaims the range in its own compactions."""
        first = self._first_index
        if not first or first > index:
            return True
        target = min(index, self._last_index)
        stop = target if limit is None else min(target, first + limit - 1)
        with self._db.write_batch() as batch:
            for i in range(first, stop + 1):
                batch.delete(_log_key(i))
        if stop == self._last_index:
            self._first_index = self._last_index = 0
        else:
            self._first_index = stop + 1
        return stop == target

    def save(self, hard_state: HardState | None, entries: list[Entry], sync: bool) -> None:
        """Write ``hard_state`` and ``entries`` in one batch. Entries replace any suffix of the log from
        their first index on (a follower's conflicting tail, Raft §5.3)."""
        batch = self._db.write_batch(sync=sync)
        if entries:
            first = entries[0].index
            key, head, put = _LOG_KEY.pack, _ENTRY_HEAD.pack, batch.put
            for index in range(first, self._last_index + 1):
                batch.delete(key(_LOG, index))
            for entry in entries:
                put(key(_LOG, entry.index), head(entry.term, entry.kind) + entry.data)
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
            self._last_index = entries[-1].index
            if not self._first_index or first < self._first_index:
                self._first_index = first

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
