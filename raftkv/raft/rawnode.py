"""RawNode: the driver's handle on the Raft core — inputs in, Ready out, advance when done.

The driver loop is ``raftkv.raft.ready.handle_ready``: feed ticks, peer messages and client requests;
when ``has_ready()``, take ``ready()``; if it holds entries, send a leader's APPENDs and HEARTBEATs at
once; persist its hard state, snapshot and entries with one write (mirrored into the MemoryStorage the
core reads); send the other messages; apply its committed entries (calling ``apply_conf_change`` for
membership changes) and serve its read states; then call ``advance(rd)``.

Votes and append acknowledgements leave only after the write, so they never promise anything that
isn't on disk (Raft figure 2, "Persistent state ... updated on stable storage before responding to
RPCs"). A leader's appends may leave before its own write (thesis §10.2.1) because they promise
nothing about the leader's disk: the leader counts its own log towards commitment only up to what
``advance`` (or ``log_synced``) reports as synced, so no entry is committed on the strength of a write
that a crash could still undo. That lets a leader whose followers commit without it skip its own sync
(``Ready.may_defer_sync``).
"""
from __future__ import annotations

import random
import struct

from raftkv.raft.core import Raft
from raftkv.raft.log_storage import LogStorage, RaftError
from raftkv.raft.settings import RaftConfig
from raftkv.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    EntryKind,
    Message,
    Ready,
    SnapshotMeta,
    SoftState,
    Status,
)

_CONF_CHANGE_HEADER = struct.Struct(">BQ")  # type, node id; the context follows


def encode_conf_change(change: ConfChange) -> bytes:
    return _CONF_CHANGE_HEADER.pack(change.type, change.node_id) + change.context


def decode_conf_change(data: bytes) -> ConfChange:
    if len(data) < _CONF_CHANGE_HEADER.size:
        raise RaftError(f"conf change entry too short ({len(data)} bytes)")
    change_type, node_id = _CONF_CHANGE_HEADER.unpack_from(data)
    return ConfChange(ConfChangeType(change_type), node_id, bytes(data[_CONF_CHANGE_HEADER.size :]))


class RawNode:
    def __init__(self, config: RaftConfig, storage: LogStorage, rng: random.Random, applied: int = 0) -> None:
        """Restore term, vote, commit index, membership and log from ``storage``. ``applied`` is the
        index the driver's state machine already reflects (committed entries after it are handed out
        again); it must not exceed what storage shows committed, the hard state's commit or the index
        before the first entry (RaftError). A driver that writes the commit index without a sync may
        find it behind its snapshot after a power loss: it raises the commit index to the snapshot's
        index before starting, since the snapshot proves that much committed."""
        self._raft = Raft(config, storage, rng, applied)
        self._prev_soft = self._raft.soft_state()
        hard = self._raft.hard_state()
        self._prev_term, self._prev_vote, self._prev_commit = hard.term, hard.vote, hard.commit

    # --- inputs

    def tick(self) -> None:
        self._raft.tick()

    def step(self, msg: Message) -> None:
        """A message from a peer. Misaddressed, stale or unknown messages are dropped."""
        if msg.dst != self._raft.id or msg.src == self._raft.id:
            return
        self._raft.step(msg)

    def campaign(self) -> None:
        self._raft.campaign()

    def propose(self, datas: list[bytes]) -> bool:
        """Append one NORMAL entry per item (a leader) or forward them as one PROPOSE (a follower that
        knows its leader). False if dropped: no leader, a transfer in progress, or too much uncommitted.
        Forwarded entries the leader does not append come back in a later Ready's dropped_proposals
        (if the PROPOSE or its answer is lost, nothing comes back: the driver times them out)."""
        return self._raft.propose(EntryKind.NORMAL, datas)

    def propose_conf_change(self, change: ConfChange) -> bool:
        """Propose a single-server membership change. At most one may be pending (appended, not applied)."""
        return self._raft.propose_conf_change(change, encode_conf_change(change))

    def apply_conf_change(self, change: ConfChange) -> ConfState:
        """Called by the driver when a CONF_CHANGE entry is applied; returns the new membership."""
        return self._raft.apply_conf_change(change)

    def read_index(self, context: bytes) -> None:
        """Request a linearizable read; a ReadState carrying ``context`` comes back in a later Ready (or
        never, if leadership was lost: the driver times the read out)."""
        self._raft.read_index(context)

    def transfer_leadership(self, to: int) -> None:
        self._raft.transfer_leadership(to)

    def report_unreachable(self, node_id: int) -> None:
        self._raft.report_unreachable(node_id)

    def report_snapshot(self, node_id: int, ok: bool) -> None:
        self._raft.report_snapshot(node_id, ok)

    # --- outputs

    def _soft_changed(self) -> SoftState | None:
        raft = self._raft
        prev = self._prev_soft
        if prev.leader != raft.leader or prev.role != raft.role:
            return raft.soft_state()
        return None

    def _hard_changed(self) -> bool:
        raft = self._raft
        return (
            raft.term != self._prev_term or raft.vote != self._prev_vote or raft.log.committed != self._prev_commit
        )

    def has_ready(self) -> bool:
        raft = self._raft
        raft.flush()
        log = raft.log
        return bool(
            raft.messages
            or raft.read_states
            or raft.dropped_proposals
            or log.has_unstable()
            or log.has_next_committed()
            or self._hard_changed()
            or self._soft_changed() is not None
            or raft.must_sync_log()
        )

    def ready(self) -> Ready:
        raft = self._raft
        raft.flush()
        log = raft.log
        entries = log.unstable_entries()
        rd = Ready(
            soft_state=self._soft_changed(),
            hard_state=raft.hard_state() if self._hard_changed() else None,
            entries=entries,
            snapshot=log.pending_snapshot,
            committed_entries=log.next_committed(),
            messages=raft.messages,
            read_states=raft.read_states,
            dropped_proposals=raft.dropped_proposals,
            may_defer_sync=bool(entries) and raft.may_defer_sync(),
            must_sync_log=raft.must_sync_log(),
        )
        raft.messages = []
        raft.read_states = []
        raft.dropped_proposals = []
        return rd

    def advance(self, rd: Ready, synced: bool = True) -> None:
        """The driver has persisted (with a sync if ``synced``), sent, applied and served everything in
        ``rd``."""
        raft = self._raft
        log = raft.log
        if rd.soft_state is not None:
            self._prev_soft = rd.soft_state
        if rd.hard_state is not None:
            hard = rd.hard_state
            self._prev_term, self._prev_vote, self._prev_commit = hard.term, hard.vote, hard.commit
        if rd.snapshot is not None:
            log.stable_snapshot_to(rd.snapshot.meta.index)
        if rd.entries:
            last = rd.entries[-1]
            log.stable_to(last.index, last.term)
        if rd.committed_entries:
            log.applied_to(rd.committed_entries[-1].index)
        raft.on_persisted(synced)

    def log_synced(self) -> None:
        """The driver synced everything it wrote so far (the leader's deferred sync)."""
        self._raft.on_persisted(True)

    def oldest_unsynced_uncommitted(self) -> int:
        """The first entry this leader wrote unsynced that is not committed yet, or 0: the driver
        syncs it (and all before) if its followers do not commit it soon enough."""
        return self._raft.oldest_unsynced_uncommitted()

    def may_defer_sync(self) -> bool:
        """Whether this leader's followers can still commit its entries without its own copy."""
        return self._raft.may_defer_sync()

    def untold_commit(self) -> int:
        """Nonzero while this leader owes followers the commit index (a mark that changes as they are
        told); with ``defer_commit_notices`` the driver calls :meth:`notify_commit` if it lasts."""
        return self._raft.untold_commit()

    def notify_commit(self) -> None:
        """Tell the followers the commit index no APPEND carried to them yet."""
        self._raft.notify_commit()

    def status(self) -> Status:
        return self._raft.status()

    def pending_snapshot(self) -> SnapshotMeta | None:
        """The snapshot the core accepted and a Ready will hand out (or has, before ``advance``): the
        driver keeps a received snapshot only if the core took it."""
        pending = self._raft.log.pending_snapshot
        return pending.meta if pending is not None else None
