"""LogWriter: a leader's log batches written in order in the background, on a real LevelDB."""
from __future__ import annotations

import selectors
import threading
from pathlib import Path

import pytest

from raftkv.node.disk import DiskStorage
from raftkv.node.log_writer import GroupCommit, LogWriter
from raftkv.raft.types import Entry, EntryKind, HardState


def entries(first: int, last: int, term: int = 1) -> list[Entry]:
    return [Entry(i, term, EntryKind.NORMAL, b"e%d" % i) for i in range(first, last + 1)]


def wait_for_done(sel: selectors.BaseSelector, writer: LogWriter[list[Entry]] | GroupCommit,
                  count: int) -> list[list[Entry]]:
    """The tokens of ``count`` writes, taken as the loop does: when the writer's wakeup fires."""
    done: list[list[Entry]] = []
    while len(done) < count:
        assert sel.select(5.0), "the writer never woke the loop"
        writer.wakeup.drain()
        done += writer.take_done()
    return done


def test_batches_land_in_the_order_they_were_prepared_and_wake_the_loop(tmp_path: Path) -> None:
    disk = DiskStorage(tmp_path / "d")
    writer: LogWriter[list[Entry]] = LogWriter()
    sel = selectors.DefaultSelector()
    sel.register(writer.wakeup, selectors.EVENT_READ)
    try:
        batches = [entries(1, 5), entries(6, 6), entries(4, 8, term=2)]  # the last replaces 4..6
        for batch in batches:
            writer.submit(disk.prepare(HardState(2, 0, 0), batch, sync=True).write, batch)
        assert wait_for_done(sel, writer, len(batches)) == batches
        assert writer.idle
        assert [(e.index, e.term) for e in disk.entries()] == [(1, 1), (2, 1), (3, 1)] + [(i, 2) for i in range(4, 9)]
        assert disk.last_index == 8
    finally:
        sel.close()
        writer.close()
        disk.close()


def test_drain_waits_for_every_write(tmp_path: Path) -> None:
    disk = DiskStorage(tmp_path / "d")
    writer: LogWriter[int] = LogWriter()
    release = threading.Event()
    try:
        writer.submit(lambda: release.wait(5.0), 0)
        for i in range(1, 4):
            writer.submit(disk.prepare(None, entries(i, i), sync=True).write, i)
        assert not writer.idle
        threading.Timer(0.05, release.set).start()
        assert writer.drain() == [0, 1, 2, 3]
        assert disk.last_index == 3 and len(disk.entries()) == 3
    finally:
        writer.close()
        disk.close()


def test_a_failed_write_is_raised_on_the_loops_thread_and_stops_the_writer() -> None:
    writer: LogWriter[int] = LogWriter()
    ran: list[int] = []

    def fail() -> None:
        raise OSError(28, "No space left on device")

    try:
        writer.submit(fail, 1)
        writer.submit(lambda: ran.append(2), 2)
        with pytest.raises(OSError, match="No space left"):
            writer.drain()
        assert ran == []  # nothing is written after a write that failed
    finally:
        writer.close()


def test_close_writes_what_is_queued(tmp_path: Path) -> None:
    disk = DiskStorage(tmp_path / "d")
    writer: LogWriter[int] = LogWriter()
    for i in range(1, 51):
        writer.submit(disk.prepare(None, entries(i, i), sync=False).write, i)
    writer.close()
    try:
        assert len(disk.entries()) == 50
    finally:
        disk.close()


def test_group_commit_writes_what_comes_during_a_sync_as_one_synced_batch(tmp_path: Path) -> None:
    disk = DiskStorage(tmp_path / "d")
    release = threading.Event()
    written: list[bool] = []  # the sync flag of each batch handed to the thread

    def timed(write, synced: bool):  # type: ignore[no-untyped-def]
        def slow_first() -> None:
            if len(written) == 1:
                release.wait(5.0)  # the first batch's sync takes until the test says
            write()
        return slow_first

    group = GroupCommit(disk.prepare, timed, written.append)
    sel = selectors.DefaultSelector()
    sel.register(group.wakeup, selectors.EVENT_READ)
    try:
        group.add(HardState(1, 0, 0), entries(1, 2))
        group.add(None, entries(3, 3))
        group.add(HardState(1, 0, 2), [])  # a commit index alone joins the waiting batch
        group.add(None, entries(4, 6))
        assert written == [True], "a second write started while the first synced"
        release.set()
        done = wait_for_done(sel, group, 2)
        assert [[e.index for e in batch] for batch in done] == [[1, 2], [3, 4, 5, 6]]
        assert written == [True, True]
        assert [e.index for e in disk.entries()] == [1, 2, 3, 4, 5, 6]
        assert disk.hard_state() == HardState(1, 0, 2)
        group.add(HardState(1, 0, 6), [])
        assert group.drain() == [[]] and written == [True, True, False]  # no entries: no sync
        assert disk.hard_state() == HardState(1, 0, 6)
        group.add(None, [])  # a leader's Ready with messages only: nothing to write
        assert written == [True, True, False] and not group.writer.busy
    finally:
        sel.close()
        group.close()
        disk.close()


def test_group_commit_close_writes_what_waits(tmp_path: Path) -> None:
    disk = DiskStorage(tmp_path / "d")
    release = threading.Event()

    def timed(write, synced: bool):  # type: ignore[no-untyped-def]
        def held() -> None:
            release.wait(5.0)
            write()
        return held

    group = GroupCommit(disk.prepare, timed, lambda synced: None)
    group.add(None, entries(1, 1))
    group.add(None, entries(2, 3))  # waits behind the held write
    threading.Timer(0.05, release.set).start()
    group.close()
    try:
        assert [e.index for e in disk.entries()] == [1, 2, 3]
    finally:
        disk.close()
