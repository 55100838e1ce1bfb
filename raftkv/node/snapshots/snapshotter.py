"""When and how the Raft process takes, sends, receives and installs snapshots.

- Taking: once the log has grown ``snapshot_entries`` past the last snapshot, and by at least as many
  entries as the state had keys when that snapshot was taken, a forked child writes the state machine
  (:func:`~raftkv.node.snapshots.snapshot_file.fork_snapshot`). Writing costs in proportion to the keys,
  so that cost is spread over at least as many entries (Redis's ``auto-aof-rewrite-percentage 100``, in
  entries), times a stretch of 1 to 1.5 each node draws anew after each snapshot, so that the nodes do
  not all fork at the same index; also at once (:meth:`Snapshotter.take`) when a backup needs a fresher
  file than the latest (:mod:`raftkv.node.backup`). The loop reaps the child on a tick, then compacts the log up to
  ``catch_up_entries`` before the snapshot, so a briefly lagging follower still gets entries.
- Sending: a SNAPSHOT message from the core carries only the snapshot's metadata; the file streams to the
  follower in chunks, a few per loop turn while that peer's send buffer is small, so the leader never
  stalls. Every chunk carries the sender's term and the last one the original message. A stream belongs
  to one (leader, term): a reconnect in the middle, or this node no longer leading in that term, abandons
  it and tells the core (``report_snapshot``), which tries again later. A file older than the snapshot
  the core asked for is never sent: the follower would need another one at once.
- Receiving: chunks go to one :class:`~raftkv.node.snapshots.snapshot_file.SnapshotReceiver` at a time;
  chunks of a term older than ours, or of a stream a newer one replaced, are dropped. Once the file
  verifies, it is loaded and the original message is stepped into the core. The file keeps its temporary
  name until the core's Ready installs it: one the core turns down (no news, a stale term, replaced by a
  newer one before its Ready) is deleted and never becomes ``latest`` nor the next start's snapshot.
- Compacting: the log is compacted only at a snapshot newer than the one the core's storage holds.

It works on the narrow things it needs (the directory, the disk, the core's log storage, the transport,
the current RawNode, and the applied state through :class:`AppliedState`), never on the loop.
"""
from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from raftkv.kv.state_machine import StateMachine
from raftkv.node.cluster import Cluster
from raftkv.node.disk import DiskStorage
from raftkv.node.snapshots import node_state
from raftkv.node.snapshots.snapshot_file import (
    SnapshotError,
    SnapshotFile,
    SnapshotReceiver,
    discard,
    file_name,
    fork_snapshot,
    iter_chunks,
    latest_snapshot,
    load_snapshot,
    prune,
    put_in_place,
)
from raftkv.node.transport import Transport
from raftkv.raft.log_storage import MemoryStorage
from raftkv.raft.rawnode import RawNode
from raftkv.raft.types import Message, Role, Snapshot, SnapshotMeta
from raftkv.sharding.state import ShardState
from raftkv.wire.members import Member, decode_members, encode_members
from raftkv.wire.raft_messages import decode_message, encode_message
from raftkv.wire.resp import ProtocolError, decode_command

log = logging.getLogger("raftkv.node.snapshots.snapshot_file")

_STREAM_BACKLOG_BYTES = 4 << 20  # queue more chunks for a peer only below this much unsent data
_CHUNK_BYTES = 1 << 20
_DELETE_PER_TICK = 20_000  # compacted log entries deleted from LevelDB per tick, not all at once


@dataclass
class _Stream:
    msg: Message
    chunks: Iterator[bytes]
    size: int
    offset: int
    generation: int


@dataclass
class _Receiving:
    src: int
    term: int
    receiver: SnapshotReceiver


@dataclass
class Installed:
    """A received snapshot the core accepted, loaded and waiting for its Ready to install it; its file
    is still under a temporary name."""

    file: SnapshotFile
    sm: StateMachine


class AppliedState(Protocol):
    """The applied state a snapshot captures and replaces (:class:`raftkv.node.apply.Applier`)."""

    sm: StateMachine
    applied_term: int
    cluster: Cluster
    shards: ShardState

    def install(self, sm: StateMachine, meta: SnapshotMeta, members: dict[int, Member], slot_map: bytes) -> None: ...


class Snapshotter:
    def __init__(self, directory: Path, snapshot_entries: int, catch_up_entries: int, disk: DiskStorage,
                 mem: MemoryStorage, transport: Transport, node: Callable[[], RawNode],
                 state: AppliedState) -> None:
        """``node`` returns the current RawNode (joining a cluster replaces it)."""
        self.directory = directory
        self.directory.mkdir(exist_ok=True)
        self.snapshot_entries = snapshot_entries
        self._catch_up_entries = catch_up_entries
        self._disk = disk
        self._mem = mem
        self._transport = transport
        self._node = node
        self._state = state
        self.latest: SnapshotFile | None = latest_snapshot(self.directory)
        self.last_duration_s = 0.0
        self.taken = 0  # snapshots this process wrote (for INFO and /metrics)
        self._child: tuple[int, SnapshotMeta, bytes, float] | None = None  # pid, meta, members, start
        self._streams: dict[int, _Stream] = {}
        self._receiving: _Receiving | None = None
        self.incoming: Installed | None = None
        self._delete_through = 0  # compacted log entries still on disk up to here
        self._keys_at_latest = 0  # keys in the state when the latest snapshot was taken
        self._stretch = 1.0  # the next interval is this many times the usual one (drawn in take)

    @property
    def in_progress(self) -> bool:
        return self._child is not None

    def restore(self) -> tuple[SnapshotMeta, bytes, StateMachine] | None:
        """At start: the newest valid snapshot, loaded, or None."""
        if self.latest is None:
            return None
        restored = load_snapshot(self.latest.path)
        self._delete_through = restored[0].index  # what a crash left of the compacted log
        self._keys_at_latest = len(restored[2].data)
        return restored

    # -- taking -----------------------------------------------------------------------------------

    def maybe_take(self) -> None:
        """Start a snapshot if the log has grown enough since the last one (after applying, and on
        ticks: entries applied while a child was writing must not wait for the next write)."""
        base = self.latest.meta.index if self.latest else 0
        if self._state.sm.applied_index - base >= max(self.snapshot_entries, self._keys_at_latest) * self._stretch:
            self.take()

    def take(self) -> bool:
        """Start a snapshot of the applied state now (RAFT SNAPSHOT SAVE asks for one); False while a
        child is already writing one."""
        if self._child is not None:
            return False
        state = self._state
        sm = state.sm
        self._keys_at_latest = len(sm.data)
        # Each node draws how much longer than the interval its next one waits: nodes that took one at
        # the same index drift apart, so a follower's snapshot (a fork, a child on the CPUs, a log
        # compaction) mostly falls while the other followers make the majority without it.
        self._stretch = 1.0 + random.random() / 2
        meta = SnapshotMeta(sm.applied_index, state.applied_term, state.cluster.conf_state)
        members = node_state.pack(encode_members(state.cluster.members), state.shards.encoded)
        pid = fork_snapshot(self.directory, sm, meta, members)
        self._child = (pid, meta, members, time.monotonic())
        log.info("writing a snapshot at index %d in child %d", meta.index, pid)
        return True

    def tick(self) -> None:
        if self._delete_through and self._disk.delete_log_through(self._delete_through, _DELETE_PER_TICK):
            self._delete_through = 0
        if self._child is None:
            self.maybe_take()
            return
        pid, meta, members, started = self._child
        done, status = os.waitpid(pid, os.WNOHANG)
        if not done:
            return
        self._child = None
        self.last_duration_s = time.monotonic() - started
        if os.waitstatus_to_exitcode(status) != 0:
            log.error("snapshot child %d failed (exit status %d); the previous snapshot stays", pid, status)
            return
        if meta.index <= self._mem.snapshot().meta.index:
            return  # a newer snapshot was installed from the leader meanwhile
        # The child exits 0 only after the file is synced and renamed into place: no need to read it all
        # again on the loop to verify its checksum.
        path = self.directory / file_name(meta)
        latest = SnapshotFile(path, meta, members, path.stat().st_size)
        self.latest = latest
        self.taken += 1
        self._compact(meta)
        prune(self.directory)
        log.info("snapshot at index %d written in %.2fs (%d bytes)", meta.index, self.last_duration_s,
                 latest.size)

    def _compact(self, meta: SnapshotMeta) -> None:
        mem = self._mem
        if meta.index <= mem.snapshot().meta.index:
            return  # a snapshot installed meanwhile covers it: never compact behind the core's snapshot
        mem.create_snapshot(meta.index, meta.conf_state, b"")
        upto = meta.index - self._catch_up_entries
        if upto > mem.first_index():
            mem.compact(upto)
            self._delete_through = upto  # deleted from disk over the next ticks

    def close(self) -> None:
        if self._child is not None:
            os.waitpid(self._child[0], 0)  # let the write finish: it is the next start's snapshot
            self._child = None
        if self._receiving is not None:
            self._receiving.receiver.abort()
        if self.incoming is not None:
            discard(self.incoming.file)

    # -- sending ----------------------------------------------------------------------------------

    def send(self, msg: Message) -> None:
        """A SNAPSHOT message from the core: stream the latest snapshot file to ``msg.dst``."""
        latest = self.latest
        asked = msg.snapshot.meta.index if msg.snapshot is not None else 0
        if latest is None or latest.meta.index < asked:
            log.warning("no snapshot file at index %d or later to send to %d", asked, msg.dst)
            self._node().report_snapshot(msg.dst, False)
            return
        # A stream already going to this peer is dropped without a report: the core asked anew, so its
        # progress already moved on from that one.
        generation = self._transport.backlog(msg.dst)[1]
        self._streams[msg.dst] = _Stream(msg, iter_chunks(latest.path, _CHUNK_BYTES), latest.size, 0, generation)
        log.info("sending snapshot %d (%d bytes) to %d", latest.meta.index, latest.size, msg.dst)

    def pump(self) -> None:
        """Queue the next chunks of every stream whose peer has room for them."""
        if not self._streams:
            return
        transport = self._transport
        status = self._node().status()
        for dst, stream in list(self._streams.items()):
            backlog, generation = transport.backlog(dst)
            if status.role != Role.LEADER or status.term != stream.msg.term:
                self._end_stream(dst, ok=False)  # a stream belongs to one (leader, term)
                continue
            if generation != stream.generation:
                self._end_stream(dst, ok=False)
                continue
            term = b"%d" % stream.msg.term
            while backlog < _STREAM_BACKLOG_BYTES:
                chunk = next(stream.chunks, None)
                if chunk is None:
                    self._end_stream(dst, ok=True)
                    break
                end = stream.offset + len(chunk)
                final = encode_message(stream.msg) if end == stream.size else b""
                if not transport.send_chunk(dst, [term, b"%d" % stream.offset, b"%d" % stream.size, chunk, final]):
                    self._end_stream(dst, ok=False)
                    break
                stream.offset = end
                backlog += len(chunk)
        transport.flush()

    def _end_stream(self, dst: int, ok: bool) -> None:
        self._streams.pop(dst)
        self._node().report_snapshot(dst, ok)
        if not ok:
            log.warning("snapshot stream to %d interrupted; it will be retried", dst)

    # -- receiving --------------------------------------------------------------------------------

    def on_chunk(self, src: int, fields: list[bytes]) -> None:
        try:
            term, offset, size, chunk, final = int(fields[0]), int(fields[1]), int(fields[2]), fields[3], fields[4]
        except (IndexError, ValueError):
            log.warning("malformed snapshot chunk from %d", src)
            return
        node = self._node()
        receiving = self._receiving
        if term < node.status().term:
            if receiving is not None and (receiving.src, receiving.term) == (src, term):
                self._stop_receiving()  # its sender is no longer leader
            return
        if offset == 0:
            if receiving is not None:
                if receiving.term > term:
                    return  # a stream of a newer term is under way
                self._stop_receiving()
            receiving = self._receiving = _Receiving(src, term, SnapshotReceiver(self.directory))
        elif receiving is None or (receiving.src, receiving.term) != (src, term):
            return  # the start of this stream was lost, or a newer one replaced it
        try:
            receiving.receiver.write(offset, chunk)
            if offset + len(chunk) < size:
                return
            self._receiving = None
            received = receiving.receiver.finish()
        except SnapshotError as exc:
            self._receiving = None
            receiving.receiver.abort()
            log.warning("dropped a snapshot from %d: %s", src, exc)
            return
        try:
            meta, _members, sm = load_snapshot(received.path)
            msg = decode_message(decode_command(final))
        except (SnapshotError, ProtocolError, ValueError, IndexError, KeyError) as exc:
            discard(received)
            log.warning("dropped a snapshot from %d: %s", src, exc)
            return
        msg.snapshot = Snapshot(meta, b"")
        node.step(msg)
        if node.pending_snapshot() != meta:
            discard(received)  # the core turned it down (no news to it, or a stale term)
            log.info("snapshot %d from %d not needed; dropped", meta.index, src)
            return
        if self.incoming is not None:
            discard(self.incoming.file)  # the core replaced it by this newer one before its Ready
        self.incoming = Installed(received, sm)
        log.info("received snapshot %d (%d bytes) from %d", meta.index, received.size, src)

    def _stop_receiving(self) -> None:
        if self._receiving is not None:
            self._receiving.receiver.abort()
            self._receiving = None

    def install(self, snapshot: Snapshot) -> None:
        """The core accepted a snapshot (a Ready carries it): make its file durable as the latest
        snapshot, then replace the state and the log."""
        incoming, self.incoming = self.incoming, None
        if incoming is None or incoming.file.meta != snapshot.meta:
            raise RuntimeError(f"the core installs snapshot {snapshot.meta.index}, which was not received")
        # In place (and synced) before the log goes: a crash in between restarts from this snapshot.
        self.latest = latest = put_in_place(incoming.file)
        self._mem.apply_snapshot(Snapshot(snapshot.meta, b""))
        self._disk.delete_log_through(self._disk.last_index)
        self._delete_through = 0
        members, slot_map = node_state.unpack(latest.members)
        self._state.install(incoming.sm, snapshot.meta, decode_members(members), slot_map)
        self._keys_at_latest = len(incoming.sm.data)
        prune(self.directory)
        log.info("installed snapshot at index %d", snapshot.meta.index)
