"""DiskStorage on a real LevelDB in tmp_path: what is saved is what a reopen finds."""
from __future__ import annotations

import pytest

from raftkv.node.disk import DiskStorage, StorageError
from raftkv.raft.types import ConfState, Entry, EntryKind, HardState


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


def test_a_damaged_log_is_refused_naming_the_data_dir(tmp_path) -> None:
    import plyvel

    disk = DiskStorage(tmp_path)
    disk.save(None, entries(1, 5, 1), sync=True)
    disk.close()
    db = plyvel.DB(str(tmp_path))
    db.delete(b"l/" + (3).to_bytes(8, "big"))
    db.close()
    disk = DiskStorage(tmp_path)
    with pytest.raises(StorageError, match=rf"^data dir {tmp_path} is corrupted: log entry 3 is missing"):
        disk.entries()
    disk.close()
    db = plyvel.DB(str(tmp_path))
    db.put(b"l/" + (3).to_bytes(8, "big"), b"\x01")  # too short to hold a term and a kind
    db.close()
    disk = DiskStorage(tmp_path)
    with pytest.raises(StorageError, match="does not decode"):
        disk.entries()
    disk.close()
