"""DiskStorage on a real LevelDB in tmp_path: what is saved is what a reopen finds, and the driver syncs
what must survive a power loss."""
from __future__ import annotations

import os

import pytest

from raftkv.node.disk import MAX_RUN, DiskStorage, StorageError
from raftkv.raft.rawnode import encode_conf_change
from raftkv.raft.types import ConfChange, ConfChangeType, ConfState, Entry, EntryKind, HardState, Message, MessageType
from raftkv.wire import proposal
from raftkv.wire.entries import pack_entries
from raftkv.wire.members import Member
from tests.node.test_snapshot_streams import Node


def entries(first: int, last: int, term: int) -> list[Entry]:
    return [Entry(i, term, EntryKind.NORMAL, b"cmd%d" % i) for i in range(first, last + 1)]


def test_a_fresh_dir_is_empty(tmp_path) -> None:
    disk = DiskStorage(tmp_path / "d")
    assert disk.hard_state() == HardState()
    assert disk.conf_state() is None
    assert disk.entries() == [] and disk.last_index == 0
    disk.close()


def test_entries_hard_state_and_meta_survive_reopen(tmp_path) -> None:
    disk = DiskStorage(tmp_path)
    disk.save(HardState(term=2, vote=7, commit=3), entries(1, 5, 2), sync=True)
    disk.set_conf_state(ConfState(voters=(7, 9), learners=(11,)))
    disk.put_meta("node_id", b"7")
    disk.close()
    disk = DiskStorage(tmp_path)
    assert disk.hard_state() == HardState(term=2, vote=7, commit=3)
    assert disk.conf_state() == ConfState(voters=(7, 9), learners=(11,))
    assert disk.get_meta("node_id") == b"7"
    assert disk.entries() == entries(1, 5, 2)
    assert disk.last_index == 5
    disk.close()


def test_a_conflicting_suffix_is_replaced(tmp_path) -> None:
    disk = DiskStorage(tmp_path)
    disk.save(None, entries(1, 10, 1), sync=True)
    disk.save(None, entries(4, 6, 2), sync=True)  # a new leader overwrote 4.. and the old tail is gone
    assert disk.entries() == entries(1, 3, 1) + entries(4, 6, 2)
    assert disk.last_index == 6
    disk.close()
    disk = DiskStorage(tmp_path)
    assert disk.last_index == 6 and len(disk.entries()) == 6
    disk.close()


def test_log_order_is_numeric_across_byte_boundaries(tmp_path) -> None:
    disk = DiskStorage(tmp_path)
    disk.save(None, entries(1, 300, 1), sync=False)
    assert [e.index for e in disk.entries()] == list(range(1, 301))
    disk.close()


def test_a_locked_dir_is_refused_with_one_line(tmp_path) -> None:
    disk = DiskStorage(tmp_path)
    with pytest.raises(StorageError, match=r"^data dir .* is in use by another raftkv-server$"):
        DiskStorage(tmp_path)
    disk.close()


def test_a_corrupted_dir_is_refused(tmp_path) -> None:
    disk = DiskStorage(tmp_path)
    disk.save(None, entries(1, 3, 1), sync=True)
    disk.close()
    (tmp_path / "CURRENT").write_bytes(b"MANIFEST-999999\n")
    with pytest.raises(StorageError, match=str(tmp_path)):
        DiskStorage(tmp_path)


def _run_key(first: int) -> bytes:
    return b"r/" + first.to_bytes(8, "big")


def _raw_db(path):
    import plyvel
    return plyvel.DB(str(path), create_if_missing=True)


def test_each_save_is_one_run_and_a_long_one_is_cut_at_max_run(tmp_path) -> None:
    disk = DiskStorage(tmp_path)
    disk.save(None, entries(1, 3, 1), sync=True)
    disk.save(None, entries(4, 4 + 2 * MAX_RUN, 1), sync=True)  # a follower catching up
    disk.close()
    db = _raw_db(tmp_path)
    assert [key for key, _ in db.iterator(prefix=b"r/")] == [
        _run_key(1), _run_key(4), _run_key(4 + MAX_RUN), _run_key(4 + 2 * MAX_RUN)]
    assert list(db.iterator(prefix=b"l/")) == []
    db.close()
    disk = DiskStorage(tmp_path)
    assert disk.entries() == entries(1, 4 + 2 * MAX_RUN, 1)
    assert (disk.first_index, disk.last_index) == (1, 4 + 2 * MAX_RUN)
    disk.close()


def test_a_conflicting_suffix_inside_a_run_keeps_the_run_s_head(tmp_path) -> None:
    disk = DiskStorage(tmp_path)
    for first in (1, 11, 21):
        disk.save(None, entries(first, first + 9, 1), sync=True)
    disk.save(None, entries(15, 16, 2), sync=True)  # cuts the run 11..20 and drops 21..30
    assert disk.entries() == entries(1, 14, 1) + entries(15, 16, 2) and disk.last_index == 16
    disk.save(None, entries(11, 12, 3), sync=True)  # at a run's first index: the whole run goes
    assert disk.entries() == entries(1, 10, 1) + entries(11, 12, 3)
    disk.close()
    disk = DiskStorage(tmp_path)
    assert disk.entries() == entries(1, 10, 1) + entries(11, 12, 3) and disk.last_index == 12
    disk.close()


def test_a_damaged_log_is_refused_naming_the_data_dir(tmp_path) -> None:
    disk = DiskStorage(tmp_path)
    for first in (1, 3, 4):
        disk.save(None, entries(first, first + (first == 1), 1), sync=True)  # runs 1..2, 3, 4..5
    disk.close()
    db = _raw_db(tmp_path)
    db.delete(_run_key(3))
    db.close()
    disk = DiskStorage(tmp_path)
    with pytest.raises(StorageError, match=rf"^data dir {tmp_path} is corrupted: log entry 3 is missing "
                                           r"\(the next is 4\)$"):
        disk.entries()
    disk.close()
    db = _raw_db(tmp_path)
    db.put(_run_key(3), b"\x01")  # too short to hold an entry
    db.close()
    disk = DiskStorage(tmp_path)
    with pytest.raises(StorageError, match="the log run from entry 3 does not decode"):
        disk.entries()
    disk.close()
    db = _raw_db(tmp_path)
    db.put(_run_key(3), pack_entries(entries(7, 7, 1)))  # an entry under another index's key
    db.close()
    disk = DiskStorage(tmp_path)
    with pytest.raises(StorageError, match="from entry 3 does not decode .its entries do not follow on"):
        disk.entries()
    disk.close()


def test_a_damaged_table_is_refused_at_open_naming_the_data_dir(tmp_path) -> None:
    disk = DiskStorage(tmp_path)
    for first in range(1, 2000, 10):
        disk.save(None, [Entry(i, 1, EntryKind.NORMAL, os.urandom(50)) for i in range(first, first + 10)],
                  sync=False)
    disk.close()
    db = _raw_db(tmp_path)
    db.compact_range()  # the runs into a table file
    db.close()
    (table,) = tmp_path.glob("*.ldb")
    raw = bytearray(table.read_bytes())
    middle = len(raw) // 2
    raw[middle:middle + 64] = bytes(b ^ 0xFF for b in raw[middle:middle + 64])
    table.write_bytes(raw)
    for _attempt in range(2):  # the failed open let go of the dir: not "in use" the second time
        with pytest.raises(StorageError, match=rf"^data dir {tmp_path} is corrupted: "):
            DiskStorage(tmp_path)


def test_a_data_dir_with_one_key_per_entry_is_rewritten_as_runs(tmp_path) -> None:
    db = _raw_db(tmp_path)  # the layout of earlier releases: b"l/" + index -> term, kind, data
    for e in entries(1, 5, 2):
        db.put(b"l/" + e.index.to_bytes(8, "big"), e.term.to_bytes(8, "big") + bytes([e.kind]) + e.data)
    db.close()
    disk = DiskStorage(tmp_path)
    assert disk.entries() == entries(1, 5, 2) and (disk.first_index, disk.last_index) == (1, 5)
    disk.save(None, entries(6, 6, 2), sync=True)
    disk.close()
    db = _raw_db(tmp_path)
    assert list(db.iterator(prefix=b"l/")) == []
    db.close()
    assert DiskStorage(tmp_path).entries() == entries(1, 6, 2)


def test_a_rewrite_cut_short_between_its_two_writes_is_done_again(tmp_path) -> None:
    disk = DiskStorage(tmp_path)
    disk.save(None, entries(1, 5, 2), sync=True)  # the runs were saved, the entry keys not yet deleted
    disk.close()
    db = _raw_db(tmp_path)
    for e in entries(1, 5, 2):
        db.put(b"l/" + e.index.to_bytes(8, "big"), e.term.to_bytes(8, "big") + bytes([e.kind]) + e.data)
    db.close()
    disk = DiskStorage(tmp_path)
    assert disk.entries() == entries(1, 5, 2) and (disk.first_index, disk.last_index) == (1, 5)
    disk.close()
    db = _raw_db(tmp_path)
    assert list(db.iterator(prefix=b"l/")) == [] and len(list(db.iterator(prefix=b"r/"))) == 1
    db.close()


def test_a_damaged_log_of_one_key_per_entry_is_refused(tmp_path) -> None:
    db = _raw_db(tmp_path)
    for index in (1, 2, 4):
        db.put(b"l/" + index.to_bytes(8, "big"), (1).to_bytes(8, "big") + b"\x00cmd")
    db.close()
    with pytest.raises(StorageError, match=rf"^data dir {tmp_path} is corrupted: log entry 3 is missing"):
        DiskStorage(tmp_path)


def test_compaction_deletes_whole_runs_in_slices_from_the_first_live_index(tmp_path) -> None:
    disk = DiskStorage(tmp_path)
    for first in range(1, 100, 10):
        disk.save(None, entries(first, first + 9, 1), sync=True)
    assert (disk.first_index, disk.last_index) == (1, 100)
    assert disk.delete_log_through(50, limit=20) is False  # 1..20 gone, more to do
    assert disk.first_index == 21
    assert disk.delete_log_through(50, limit=20) is False
    assert disk.delete_log_through(50, limit=20) is True  # 41..50: done
    assert disk.first_index == 51 and disk.entries() == entries(51, 100, 1)
    assert disk.delete_log_through(30) is True  # already gone: nothing to do
    assert disk.delete_log_through(55) is True  # inside the run 51..60: its tail stays, as a run
    assert disk.first_index == 56 and disk.entries() == entries(56, 100, 1)
    disk.save(None, entries(101, 110, 2), sync=True)
    disk.close()
    db = _raw_db(tmp_path)
    assert [key for key, _ in db.iterator(prefix=b"r/")][:2] == [_run_key(56), _run_key(61)]
    db.close()
    disk = DiskStorage(tmp_path)  # the bounds are found again at open
    assert (disk.first_index, disk.last_index) == (56, 110)
    assert disk.entries() == entries(56, 100, 1) + entries(101, 110, 2)
    disk.close()


def _record_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files os.fsync is called on from now on (it still syncs them)."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def test_a_synced_write_after_unsynced_entries_syncs_the_logs_leveldb_switched_from(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    # LevelDB closes a full log unsynced and syncs only the current one on a synced write: a log it
    # switched from is still there until its memtable is in a synced table. One is planted here (lower
    # numbers than any LevelDB made: it sees them as obsolete), since when LevelDB switches is its own.
    disk = DiskStorage(tmp_path)
    synced = _record_fsyncs(monkeypatch)
    disk.save(None, entries(1, 3, 1), sync=False)  # a leader's entries its followers commit alone
    (tmp_path / "000000.log").write_bytes(b"")
    disk.save(HardState(term=1, vote=0, commit=3), [], sync=True)  # its deferred sync
    assert synced == ["000000.log"]
    disk.save(HardState(term=1, vote=0, commit=3), [], sync=True)  # nothing unsynced since
    disk.save(HardState(term=1, vote=0, commit=4), entries(4, 4, 1), sync=True)  # synced in its own write
    disk.save(HardState(term=1, vote=0, commit=4), [], sync=False)  # a commit index alone may be lost
    disk.save(HardState(term=1, vote=0, commit=4), [], sync=True)
    assert synced == ["000000.log"]
    disk.close()
    assert DiskStorage(tmp_path).entries() == entries(1, 4, 1)


def test_only_the_logs_older_than_the_current_one_are_synced(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = DiskStorage(tmp_path / "db")
    synced = _record_fsyncs(monkeypatch)
    current = max((p for p in (tmp_path / "db").iterdir() if p.suffix == ".log"), key=lambda p: int(p.stem))
    for name in ("000000.log", "0.log"):
        (tmp_path / "db" / name).write_bytes(b"")
    disk.save(None, entries(1, 1, 1), sync=False)
    disk.save(None, [], sync=True)
    assert sorted(synced) == ["0.log", "000000.log"] and current.name not in synced
    disk.close()


def test_deleting_the_whole_log_leaves_it_empty_until_the_next_entries(tmp_path) -> None:
    disk = DiskStorage(tmp_path)
    disk.save(None, entries(1, 10, 1), sync=True)
    assert disk.delete_log_through(disk.last_index) is True  # a snapshot was installed
    assert (disk.first_index, disk.last_index) == (0, 0) and disk.entries() == []
    disk.save(None, entries(501, 502, 3), sync=True)  # the log goes on after the snapshot
    disk.save(None, entries(503, 503, 3), sync=True)
    assert (disk.first_index, disk.last_index) == (501, 503)
    assert disk.delete_log_through(1000, limit=2) is False and disk.first_index == 503
    assert disk.delete_log_through(1000, limit=2) is True and (disk.first_index, disk.last_index) == (0, 0)
    disk.close()


class SyncRecordingDisk(DiskStorage):
    """A real DiskStorage that also records, per save, whether it was synced."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.saves: list[tuple[HardState | None, int, bool]] = []

    def save(self, hard_state: HardState | None, entries: list[Entry], sync: bool) -> None:
        self.saves.append((hard_state, len(entries), sync))
        super().save(hard_state, entries, sync)


def test_a_commit_of_a_membership_change_is_synced_before_it_is_applied(tmp_path) -> None:
    follower = Node(tmp_path, 2, {}, SyncRecordingDisk)
    disk = follower.disk
    assert isinstance(disk, SyncRecordingDisk)
    learner = Member(4, "127.0.0.1:7004", "127.0.0.1:17004")
    change = ConfChange(ConfChangeType.ADD_LEARNER, 4, proposal.encode_context(9, 1, learner))
    log = [Entry(i, 2, EntryKind.NORMAL, proposal.encode(9, i, 0, [b"SET", b"k", b"v"])) for i in (1, 2)]
    log.append(Entry(3, 2, EntryKind.CONF_CHANGE, encode_conf_change(change)))
    follower.step(Message(MessageType.APPEND, 1, 2, 2, log_term=0, index=0, entries=log))
    assert disk.saves[-1][1:] == (3, True)  # entries: synced
    follower.step(Message(MessageType.HEARTBEAT, 1, 2, 2, commit=2))
    assert disk.saves[-1] == (HardState(2, 0, 2), 0, False)  # the commit index only: not synced
    follower.step(Message(MessageType.HEARTBEAT, 1, 2, 2, commit=3))
    # It commits the membership change, which applies right after this write: synced.
    assert disk.saves[-1] == (HardState(2, 0, 3), 0, True)
    assert follower.driver.cluster.conf_state.learners == (4,)
    follower.close()
