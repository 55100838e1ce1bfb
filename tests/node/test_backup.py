"""RAFT SNAPSHOT SAVE/CHUNK on the node, with the snapshotter and the core's status faked: when a save is
answered, when it asks for a fresh snapshot, how the file is read out and when a download ends."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from raftkv.errors import RespError
from raftkv.kv.state_machine import StateMachine
from raftkv.node import backup
from raftkv.node.backup import SnapshotSaves
from raftkv.node.sequencer import Client, ReplyTo
from raftkv.node.snapshots.snapshot_file import SnapshotFile, verify, write_snapshot
from raftkv.raft.types import ConfState, Role, SnapshotMeta, Status


@dataclass
class FakeSnapshots:
    """The snapshotter as SnapshotSaves sees it; ``take`` records the request, ``finish`` plays the child."""

    latest: SnapshotFile | None = None
    in_progress: bool = False
    takes: int = 0
    directory: Path | None = None
    state: StateMachine = field(default_factory=StateMachine)

    def take(self) -> bool:
        if self.in_progress:
            return False
        self.takes += 1
        self.in_progress = True
        return True

    def finish(self, ok: bool = True) -> None:
        self.in_progress = False
        if ok:
            assert self.directory is not None
            meta = SnapshotMeta(self.state.applied_index, 3, ConfState(voters=(1,)))
            self.latest = verify(write_snapshot(self.directory, self.state, meta, b"[]"))


class Saves:
    def __init__(self, tmp_path: Path) -> None:
        self.snapshots = FakeSnapshots(directory=tmp_path)
        self.commit = self.applied = 0
        self.replies: list[object] = []
        self.saves = SnapshotSaves(lambda: self.snapshots, self._status, lambda _to, v: self.replies.append(v))
        self.to = ReplyTo(Client(0, 1), 1, 2)

    def _status(self) -> Status:
        return Status(1, 3, 1, Role.LEADER, 1, self.commit, self.applied, self.commit)

    def at(self, index: int) -> None:
        """The state has committed and applied up to ``index``, holding one key per index."""
        self.commit = self.applied = index
        sm = self.snapshots.state
        sm.applied_index = index
        sm.put(b"k%d" % index, b"v" * 1000)


@pytest.fixture
def saves(tmp_path: Path) -> Saves:
    return Saves(tmp_path)


def download(saves: Saves, reply: object) -> bytes:
    assert isinstance(reply, dict)
    data = b""
    while len(data) < reply[b"size"]:
        chunk = saves.saves.chunk([b"RAFT", b"SNAPSHOT", b"CHUNK", reply[b"id"], b"%d" % len(data)])
        assert isinstance(chunk, bytes) and chunk
        data += chunk
    return data


def test_a_save_behind_the_latest_snapshot_takes_a_fresh_one(saves: Saves) -> None:
    saves.at(5)
    saves.snapshots.finish()  # a snapshot at 5
    saves.at(9)
    saves.saves.save(saves.to)
    assert saves.snapshots.takes == 1 and saves.replies == []
    saves.snapshots.finish()
    saves.saves.tick(0.0)
    [reply] = saves.replies
    assert isinstance(reply, dict) and reply[b"index"] == 9 and reply[b"term"] == 3
    latest = saves.snapshots.latest
    assert latest is not None and download(saves, reply) == latest.path.read_bytes()


def test_a_save_waits_for_the_state_to_apply_its_commit_index(saves: Saves) -> None:
    saves.at(4)
    saves.commit = 6
    saves.saves.save(saves.to)
    assert saves.snapshots.takes == 0  # applied 4 < commit 6: a snapshot now could miss writes
    saves.at(6)
    saves.saves.tick(0.0)
    assert saves.snapshots.takes == 1


def test_an_up_to_date_snapshot_is_sent_as_it_is(saves: Saves) -> None:
    saves.at(7)
    saves.snapshots.finish()
    saves.saves.save(saves.to)
    assert saves.snapshots.takes == 0
    [reply] = saves.replies
    assert isinstance(reply, dict) and reply[b"index"] == 7


def test_a_failed_snapshot_fails_the_save(saves: Saves) -> None:
    saves.at(3)
    saves.saves.save(saves.to)
    saves.snapshots.finish(ok=False)
    saves.saves.tick(0.0)
    [reply] = saves.replies
    assert isinstance(reply, RespError) and "failed" in reply.message


def test_a_download_is_read_in_bounded_chunks_and_ends_with_its_last_byte(saves: Saves, monkeypatch:
                                                                       pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backup, "CHUNK_BYTES", 1000)
    for i in range(1, 20):
        saves.at(i)
    saves.snapshots.finish()
    saves.saves.save(saves.to)
    [reply] = saves.replies
    assert isinstance(reply, dict) and reply[b"size"] > 10_000
    download(saves, reply)
    gone = saves.saves.chunk([b"RAFT", b"SNAPSHOT", b"CHUNK", reply[b"id"], b"0"])
    assert isinstance(gone, RespError) and "no such snapshot download" in gone.message


def test_bad_offsets_and_idle_downloads(saves: Saves) -> None:
    saves.at(2)
    saves.snapshots.finish()
    saves.saves.save(saves.to)
    [reply] = saves.replies
    assert isinstance(reply, dict)
    for offset in (b"-1", b"x", b"%d" % reply[b"size"]):
        answer = saves.saves.chunk([b"RAFT", b"SNAPSHOT", b"CHUNK", reply[b"id"], offset])
        assert isinstance(answer, RespError) and "offset" in answer.message
    saves.saves.tick(float("inf"))
    answer = saves.saves.chunk([b"RAFT", b"SNAPSHOT", b"CHUNK", reply[b"id"], b"0"])
    assert isinstance(answer, RespError) and "idle" in answer.message
