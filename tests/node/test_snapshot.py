"""Snapshot files on a real disk (tmp_path): what is written is what loads, and damage is never trusted."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from raftkv.kv import state_machine
from raftkv.kv.state_machine import StateMachine
from raftkv.node.snapshots.snapshot_file import (
    SnapshotError,
    SnapshotReceiver,
    discard,
    fork_snapshot,
    iter_chunks,
    latest_snapshot,
    load_snapshot,
    prune,
    put_in_place,
    write_snapshot,
)
from raftkv.raft.types import ConfState, SnapshotMeta

META = SnapshotMeta(index=40, term=3, conf_state=ConfState(voters=(1, 2, 3), learners=(7,)))
MEMBERS = b"1=10.0.0.1:7001,2=10.0.0.2:7001,3=10.0.0.3:7001,7=10.0.0.7:7001"
NOW = 10_000


def apply(sm: StateMachine, now_ms: int, *args: bytes | str | int) -> object:
    """Applies one command as the driver does: one entry, its index set first."""
    sm.applied_index += 1
    return sm.execute([a if isinstance(a, bytes) else str(a).encode() for a in args], now_ms)


def sample() -> StateMachine:
    """Values, expiry times, versions and tombstones, after a FLUSHDB raised the version floor."""
    sm = StateMachine()
    apply(sm, 0, "SET", "old", "v")
    apply(sm, 0, "FLUSHDB")
    apply(sm, 0, "SET", "plain", "1")
    apply(sm, 0, "SET", b"bin\x00key", b"\x00\xff value")
    apply(sm, 0, "SET", "empty", "")
    apply(sm, 0, "SET", "ttl", "2", "PX", 60_000)
    apply(sm, 0, "SET", "due", "3", "PXAT", NOW - 1)  # expired at NOW, not yet deleted
    apply(sm, 0, "SET", "kept", "4", "EX", 100)
    apply(sm, 0, "PERSIST", "kept")
    apply(sm, 0, "SET", "deleted", "5")
    apply(sm, 0, "DEL", "deleted")
    apply(sm, 0, "SET", "lapsed", "6", "PXAT", 500)
    apply(sm, 1000, "SET", "lapsed", "7", "NX")  # deletes the expired key first: a ~version tombstone
    apply(sm, 0, "SET", "counter", "10")
    apply(sm, 0, "INCRBY", "counter", "5")
    apply(sm, 0, "EXPIRE", "counter", "300")
    return sm


KEYS = [b"plain", b"bin\x00key", b"empty", b"ttl", b"due", b"kept", b"deleted", b"lapsed", b"counter", b"old",
        b"never"]


def observe(sm: StateMachine) -> list[object]:
    """What clients can see of `sm` at NOW, key by key, and its whole-state digest."""
    seen: list[object] = [sm.digest(), sm.applied_index, sm.execute([b"DBSIZE"], NOW),
                          sm.expired_keys(NOW, 10), sm.keyspace_info(NOW)]
    for key in KEYS:
        seen += [sm.execute([b"GET", key], NOW), sm.execute([b"PTTL", key], NOW), sm.key_version(key, NOW),
                 sm.key_version(key)]
    return seen


def snapshot_of(directory: Path, sm: StateMachine, index: int, term: int = 1) -> Path:
    return write_snapshot(directory, sm, SnapshotMeta(index, term, META.conf_state), MEMBERS)


def test_a_state_machine_loads_equal_and_answers_the_same_from_then_on(tmp_path) -> None:
    sm = sample()
    path = write_snapshot(tmp_path, sm, META, MEMBERS)
    assert path == tmp_path / f"{40:020d}-{3:020d}.snap"
    meta, members, loaded = load_snapshot(path)
    assert (meta, members) == (META, MEMBERS)
    assert observe(loaded) == observe(sm)
    assert loaded._deadlines == sm._deadlines
    later_commands = [(NOW, "SET", "new", "v", "PX", 50), (NOW, "DEL", "plain"), (NOW, "GETDEL", "due"),
                      (NOW, "EXPIRE", "ttl", "1"), (NOW, "INCR", "counter"),
                      (NOW + 2000, "SET", "ttl", "x", "NX"), (NOW, "FLUSHDB"), (NOW, "SET", "plain", "again")]
    for later in later_commands:
        assert apply(loaded, *later) == apply(sm, *later), later
        assert observe(loaded) == observe(sm), later


def test_tombstones_keep_their_order_of_deletion(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(state_machine, "MAX_TOMBSTONES", 3)
    sm = StateMachine()
    for key in ["x", "y", "z", "x"]:  # x is deleted last, so y is now the oldest tombstone
        apply(sm, 0, "SET", key, "v")
        apply(sm, 0, "DEL", key)
    _meta, _members, loaded = load_snapshot(write_snapshot(tmp_path, sm, META, MEMBERS))
    for target in (sm, loaded):
        apply(target, 0, "SET", "w", "v")
        apply(target, 0, "DEL", "w")  # drops the oldest tombstone
    assert list(loaded._tombstones) == list(sm._tombstones) == [b"z", b"x", b"w"]
    assert loaded.digest() == sm.digest()


def test_an_empty_state_machine_round_trips(tmp_path) -> None:
    _meta, _members, loaded = load_snapshot(write_snapshot(tmp_path, StateMachine(), SnapshotMeta(), b""))
    assert loaded.digest() == StateMachine().digest() and len(loaded.data) == 0


def test_200k_keys_round_trip_in_a_few_seconds(tmp_path) -> None:
    sm = StateMachine()
    for i in range(200_000):
        sm.applied_index = i + 1
        sm.put(b"key:%07d" % i, b"value %d" % i * 3)
        if i % 7 == 0:
            sm.set_expiry(b"key:%07d" % i, NOW + i, 0)
    started = time.monotonic()
    path = write_snapshot(tmp_path, sm, META, MEMBERS)
    _meta, _members, loaded = load_snapshot(path)
    assert time.monotonic() - started < 3
    assert loaded.digest() == sm.digest()
    assert loaded.expired_keys(NOW + 70, 100) == sm.expired_keys(NOW + 70, 100) == [
        b"key:%07d" % i for i in range(0, 71, 7)]


def test_latest_snapshot_passes_over_truncated_damaged_and_temporary_files(tmp_path) -> None:
    assert latest_snapshot(tmp_path / "missing") is None
    sm = sample()
    oldest, middle, newest = (snapshot_of(tmp_path, sm, index) for index in (10, 20, 30))
    latest = latest_snapshot(tmp_path)
    assert latest is not None and latest.path == newest and latest.members == MEMBERS
    assert latest.meta == SnapshotMeta(30, 1, META.conf_state) and latest.size == newest.stat().st_size

    (tmp_path / f".tmp-{os.getpid()}-abc").write_bytes(newest.read_bytes())  # complete but never renamed
    (tmp_path / newest.name).write_bytes(newest.read_bytes()[:-100])  # a crash mid-write of a copy
    assert latest_snapshot(tmp_path).path == middle

    raw = bytearray(middle.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    middle.write_bytes(raw)
    assert latest_snapshot(tmp_path).path == oldest

    (tmp_path / f"{50:020d}-{1:020d}.snap").write_bytes(oldest.read_bytes())  # its header says index 10
    assert latest_snapshot(tmp_path).path == oldest


def test_load_snapshot_names_the_damaged_file_in_one_line(tmp_path) -> None:
    path = snapshot_of(tmp_path, sample(), 10)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x80
    path.write_bytes(raw)
    with pytest.raises(SnapshotError, match=rf"^snapshot {re.escape(str(path))} fails its checksum [^\n]*$"):
        load_snapshot(path)
    path.write_bytes(b"")
    with pytest.raises(SnapshotError, match=r"is truncated"):
        load_snapshot(path)


def test_prune_keeps_the_newest_and_live_writers_temporary_files(tmp_path) -> None:
    sm = sample()
    paths = [snapshot_of(tmp_path, sm, index) for index in (5, 10, 15, 20)]
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    (tmp_path / f".tmp-{pid}-left").write_bytes(b"a crashed writer's")
    receiving = SnapshotReceiver(tmp_path)
    prune(tmp_path, keep=2)
    left = sorted(tmp_path.iterdir())
    assert left[-2:] == paths[2:] and len(left) == 3 and left[0].name.startswith(f".tmp-{os.getpid()}-")
    receiving.write(0, paths[3].read_bytes())
    assert put_in_place(receiving.finish()).path == paths[3]  # its temporary file survived the prune
    prune(tmp_path, keep=1)
    assert list(tmp_path.iterdir()) == [paths[3]]
    prune(tmp_path / "missing")
    prune(tmp_path, keep=0)
    assert list(tmp_path.iterdir()) == []


def test_fork_snapshot_writes_the_map_as_it_was_while_the_parent_changes_it(tmp_path) -> None:
    sm = sample()
    for i in range(50_000):
        sm.put(b"k%d" % i, b"v%d" % i)
    expected = sm.digest()
    foreground = write_snapshot(tmp_path / "fg", sm, META, MEMBERS)
    pid = fork_snapshot(tmp_path / "bg", sm, META, MEMBERS)
    for i in range(50_000):
        sm.put(b"k%d" % i, b"changed")
    apply(sm, 0, "FLUSHDB")
    assert os.waitpid(pid, 0) == (pid, 0)
    background = latest_snapshot(tmp_path / "bg")
    assert background is not None and background.path.name == foreground.name
    assert background.path.read_bytes() == foreground.read_bytes()
    assert load_snapshot(background.path)[2].digest() == expected
    assert [p.name for p in (tmp_path / "bg").iterdir()] == [foreground.name]


def test_a_failed_fork_snapshot_exits_1_with_one_line(tmp_path, capfd) -> None:
    blocked = tmp_path / "file"
    blocked.write_bytes(b"not a directory")
    pid = fork_snapshot(blocked, sample(), META, MEMBERS)
    assert os.waitpid(pid, 0) == (pid, 1 << 8)
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "background snapshot" in err and str(blocked) in err


def test_a_snapshot_sent_in_chunks_arrives_whole(tmp_path) -> None:
    sm = sample()
    for i in range(5_000):
        sm.put(b"k%d" % i, b"v%d" % i)
    sent = write_snapshot(tmp_path / "leader", sm, META, MEMBERS)
    receiver = SnapshotReceiver(tmp_path / "follower")
    offset = 0
    for chunk in iter_chunks(sent, chunk_bytes=4096):
        receiver.write(offset, chunk)
        offset += len(chunk)
    received = receiver.finish()
    assert latest_snapshot(tmp_path / "follower") is None  # not a snapshot of ours until put in place
    assert load_snapshot(received.path)[2].digest() == sm.digest()
    received = put_in_place(received)
    assert received.path == tmp_path / "follower" / sent.name
    assert (received.meta, received.members, received.size) == (META, MEMBERS, sent.stat().st_size)
    assert received.path.read_bytes() == sent.read_bytes()
    assert load_snapshot(received.path)[2].digest() == sm.digest()
    assert latest_snapshot(tmp_path / "follower") == received


def test_a_chunk_at_the_wrong_offset_is_refused(tmp_path) -> None:
    chunks = list(iter_chunks(write_snapshot(tmp_path / "leader", sample(), META, MEMBERS), chunk_bytes=64))
    receiver = SnapshotReceiver(tmp_path / "follower")
    receiver.write(0, chunks[0])
    for offset in (0, 63, 65, 1000):
        with pytest.raises(SnapshotError, match=rf"at offset {offset}, expected 64$"):
            receiver.write(offset, chunks[1])
    receiver.abort()
    assert list((tmp_path / "follower").iterdir()) == []


def test_a_damaged_or_short_transfer_is_not_put_in_place(tmp_path) -> None:
    chunks = list(iter_chunks(write_snapshot(tmp_path / "leader", sample(), META, MEMBERS), chunk_bytes=64))
    for damaged in (chunks[:-1], chunks[:3] + [bytes(64)] + chunks[4:]):
        receiver = SnapshotReceiver(tmp_path / "follower")
        offset = 0
        for chunk in damaged:
            receiver.write(offset, chunk)
            offset += len(chunk)
        with pytest.raises(SnapshotError, match="fails its checksum"):
            receiver.finish()
        assert list((tmp_path / "follower").iterdir()) == []


def test_a_received_file_the_core_turned_down_is_discarded(tmp_path) -> None:
    sent = write_snapshot(tmp_path / "leader", sample(), META, MEMBERS)
    receiver = SnapshotReceiver(tmp_path / "follower")
    receiver.write(0, sent.read_bytes())
    discard(receiver.finish())
    assert list((tmp_path / "follower").iterdir()) == []
