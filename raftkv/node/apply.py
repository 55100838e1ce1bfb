"""Applying committed entries, in log order, on this node's state machine and member table.

- A NORMAL entry runs on the state machine with the time its proposer put in it; if this node proposed
  it and a client still waits under its request id, that client gets the result (etcd
  ``apply/apply.go``: only registered waiters are answered).
- A NORMAL entry of ``RAFT SLOTS ...`` installs a slot map or takes a step of a slot move
  (:mod:`raftkv.sharding.state`) instead; while sharded, every other command is routed again first.
- A CONF_CHANGE entry takes effect now (thesis §4.1: a server uses a configuration once it is in its
  log; the core does so when applied): the core's configuration, the member table and the peers change
  together, and the admin commands waiting on it are answered.

Never reads a clock nor does I/O of its own beyond what its collaborators do (the member table and a
removal, or an addition back, are recorded in the data dir).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from raftkv.kv.state_machine import StateMachine
from raftkv.node.cluster import Cluster
from raftkv.node.disk import DiskStorage
from raftkv.node.sequencer import Pending
from raftkv.raft.rawnode import RawNode, decode_conf_change
from raftkv.raft.types import ConfChange, ConfChangeType, Entry, EntryKind, SnapshotMeta
from raftkv.sharding.state import ShardState
from raftkv.wire import proposal
from raftkv.wire.members import Member
from raftkv.wire.resp import decode_command

log = logging.getLogger("raftkv.node.apply")


class ConfChangeListener(Protocol):
    """Who is told about applied membership changes (the admin commands)."""

    def tell_removed(self, member: Member, index: int) -> None: ...

    def on_applied(self, origin: int, request_id: int, change: ConfChange) -> None: ...


class Applier:
    def __init__(self, cluster: Cluster, disk: DiskStorage, waiters: dict[int, Pending],
                 answer: Callable[[Pending, object], None], unanswered: Callable[[int], None],
                 peers_changed: Callable[[], None], is_leader: Callable[[], bool],
                 listener: ConfChangeListener, blocking: Callable[[Pending, object], None],
                 shards: ShardState) -> None:
        """``waiters`` maps request ids of our own entries to their clients; ``answer`` replies, but for
        blocking pops, whose replies go to ``blocking`` (which answers or parks their clients);
        ``unanswered(request_id)`` is told of our own entries nobody waits for (the expiry sweep);
        ``peers_changed`` is called when the member table or our removal changes the peers; ``shards``
        applies the ``RAFT SLOTS`` entries (the slot map, the moves), keeps them in snapshots and routes
        commands again as they are applied."""
        self.sm = StateMachine()
        self.applied_term = 0
        self.cluster = cluster
        self._disk = disk
        self._waiters = waiters
        self._answer = answer
        self._unanswered = unanswered
        self._peers_changed = peers_changed
        self._is_leader = is_leader
        self._listener = listener
        self._blocking = blocking
        self.shards = shards

    @property
    def applied_index(self) -> int:
        return self.sm.applied_index

    def apply(self, node: RawNode, entries: list[Entry]) -> None:
        sm = self.sm
        waiters = self._waiters
        me = self.cluster.node_id
        for entry in entries:
            sm.applied_index = entry.index  # before executing: it versions the keys the entry changes
            self.applied_term = entry.term
            if entry.kind == EntryKind.NORMAL:
                origin, rid, now_ms = proposal.decode_head(entry.data)
                waiter = waiters.pop(rid, None) if origin == me else None
                if waiter is None:
                    if origin == me:
                        self._unanswered(rid)
                    self._run(decode_command(entry.data, proposal.HEAD_SIZE), now_ms)
                elif waiter.cmd.blocks:
                    sm.watch_changes()  # from this entry on: a later one may fill what it waits on
                    self._blocking(waiter, self._run(waiter.argv, now_ms))
                else:
                    self._answer(waiter, self._run(waiter.argv, now_ms))
            elif entry.kind == EntryKind.CONF_CHANGE:
                self._apply_conf_change(node, entry.index, decode_conf_change(entry.data))

    def _run(self, argv: list[bytes], now_ms: int) -> object:
        """One command entry's outcome. While sharded, a command is routed again here, at its index: the
        moves and maps applied since it arrived may have sent its slot elsewhere (it then changes nothing
        and its client gets the redirection)."""
        if argv[0] == b"RAFT":
            return self.shards.apply_entry(argv, self.sm, now_ms)
        if self.shards.map is not None:  # sharded (the one test an unsharded node makes)
            argv, refusal = self.shards.route_entry(argv, self.sm, now_ms)
            if refusal is not None:
                return refusal
        return self.sm.execute(argv, now_ms)

    def _apply_conf_change(self, node: RawNode, index: int, change: ConfChange) -> None:
        cluster = self.cluster
        cluster.conf_state = node.apply_conf_change(change)
        origin, rid, member = proposal.decode_context(change.context)
        if change.type == ConfChangeType.ADD_LEARNER and member is not None:
            cluster.added(self._disk, member)  # also a node removed before, which then serves again
        elif change.type == ConfChangeType.REMOVE:
            gone = cluster.gone(self._disk, change.node_id, index)
            if gone is not None:
                log.info("member %d (%s) removed", gone.id, gone.client_addr)
                if self._is_leader():
                    self._listener.tell_removed(gone, index)
        self._peers_changed()
        self.shards.membership_changed()
        log.info("membership: voters %s, learners %s", list(cluster.conf_state.voters),
                 list(cluster.conf_state.learners))
        self._listener.on_applied(origin, rid, change)

    def install(self, sm: StateMachine, meta: SnapshotMeta, members: dict[int, Member], slot_map: bytes) -> None:
        """Take the state of a snapshot (at start, or received from the leader)."""
        self.sm = sm
        self.shards.restore(slot_map)
        self.applied_term = meta.term
        self.cluster.install(self._disk, meta.conf_state, members)
        self._peers_changed()
