"""``RAFT SNAPSHOT SAVE`` and ``RAFT SNAPSHOT CHUNK``: a consistent snapshot file, read out by a client.

SAVE is answered by the leader (the admin refuses it elsewhere): it notes its commit index, which covers
every write any node has acknowledged, and waits until a snapshot file at that index or later exists.
If the latest one is older, it asks the snapshotter for a fresh one once the state has applied that
far; the file is written by a forked child as every snapshot is, so the loop never stalls on a large
state. The reply is ``{id, size, index, term}``; the file is then open under ``id`` (an open descriptor,
so pruning the file meanwhile does not cut the download short) and ``CHUNK id offset`` returns its next
bytes, at most ``CHUNK_BYTES`` per call, one call per loop turn. The stream closes after its last byte is
read, or after ``IDLE_S`` without a call.

The file is the node's own snapshot format (:mod:`raftkv.node.snapshots.snapshot_file`): the client
verifies its checksum with the same code the node restores with.
"""
from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from raftkv.errors import RespError, err
from raftkv.node.sequencer import ReplyTo
from raftkv.node.snapshots.snapshot_file import SnapshotFile
from raftkv.raft.types import Status

CHUNK_BYTES = 1 << 20
IDLE_S = 60.0
_SAVE_TIMEOUT_S = 600.0


class SnapshotSource(Protocol):
    """What a save needs of the snapshotter (:class:`raftkv.node.snapshots.snapshotter.Snapshotter`)."""

    @property
    def latest(self) -> SnapshotFile | None: ...

    @property
    def in_progress(self) -> bool: ...

    def take(self) -> bool: ...


@dataclass
class _Save:
    to: ReplyTo
    target: int  # the commit index when SAVE arrived: the file must be at least this recent
    deadline: float


@dataclass
class _Stream:
    file: BinaryIO
    size: int
    idle_until: float


class SnapshotSaves:
    def __init__(self, source: Callable[[], SnapshotSource], status: Callable[[], Status],
                 reply: Callable[[ReplyTo, object], None]) -> None:
        """``source`` and ``status`` return the snapshotter and the core's status (looked up when used:
        the loop makes them after this)."""
        self._source = source
        self._status = status
        self._reply = reply
        self._waiting: list[_Save] = []
        self._taken = 0  # index of the snapshot we last asked for
        self._streams: dict[bytes, _Stream] = {}

    def save(self, to: ReplyTo) -> None:
        """SAVE on the leader: answered once a file at the current commit index or later is open."""
        self._waiting.append(_Save(to, self._status().commit, time.monotonic() + _SAVE_TIMEOUT_S))
        self._advance()

    def chunk(self, argv: list[bytes]) -> object:
        """``CHUNK id offset``: the file's bytes from ``offset`` on, at most CHUNK_BYTES of them."""
        stream = self._streams.get(argv[3])
        if stream is None:
            return err("no such snapshot download (it finished, or was idle too long)")
        if not argv[4].isdigit() or int(argv[4]) >= stream.size:
            return err(f"offset must be a number below the snapshot's size ({stream.size})")
        offset = int(argv[4])
        data = os.pread(stream.file.fileno(), CHUNK_BYTES, offset)
        if offset + len(data) >= stream.size:
            self._close(argv[3])
        else:
            stream.idle_until = time.monotonic() + IDLE_S
        return data

    def tick(self, now: float) -> None:
        if self._waiting:
            for save in [s for s in self._waiting if s.deadline <= now]:
                self._waiting.remove(save)
                self._reply(save.to, RespError("TRYAGAIN the snapshot was not written in time"))
            self._advance()
        for stream_id in [i for i, s in self._streams.items() if s.idle_until <= now]:
            self._close(stream_id)

    def close(self) -> None:
        for stream_id in list(self._streams):
            self._close(stream_id)

    def _advance(self) -> None:
        source = self._source()
        latest = source.latest
        have = latest.meta.index if latest is not None else 0
        if latest is not None and any(s.target <= have for s in self._waiting):
            self._answer([s for s in self._waiting if s.target <= have], latest)
            self._waiting = [s for s in self._waiting if s.target > have]
        if not self._waiting or source.in_progress:
            return
        if self._taken > have:  # the child we asked for ended without its file becoming the latest
            waiting, self._waiting, self._taken = self._waiting, [], 0
            for save in waiting:
                self._reply(save.to, err("writing the snapshot failed; see the node's log"))
            return
        applied = self._status().applied
        if applied >= min(s.target for s in self._waiting) and source.take():
            self._taken = applied

    def _answer(self, saves: list[_Save], latest: SnapshotFile) -> None:
        meta = latest.meta
        for save in saves:  # each its own descriptor: one download ending does not end another
            try:
                file = open(latest.path, "rb")
            except OSError as exc:
                self._reply(save.to, err(f"cannot open snapshot {latest.path}: {exc.strerror}"))
                continue
            stream_id = secrets.token_hex(8).encode()
            self._streams[stream_id] = _Stream(file, latest.size, time.monotonic() + IDLE_S)
            self._reply(save.to, {b"id": stream_id, b"size": latest.size, b"index": meta.index,
                                  b"term": meta.term})

    def _close(self, stream_id: bytes) -> None:
        self._streams.pop(stream_id).file.close()
