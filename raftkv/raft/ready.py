"""The one routine that works off a node's Ready: the Raft process's loop, the test network and the
seeded simulation all call :func:`handle_ready`, so what the tests prove is what the node does.

For each Ready, in this order:

1. a leader's appends and heartbeats, when the Ready also holds new entries: a leader may replicate
   entries while it writes them (thesis §10.2.1). The core counts the leader's own log towards
   commitment only up to what ``advance`` reports as synced, so sending early promises nothing that
   is not on disk;
2. ``persist``: hard state, snapshot and entries in one write, synced as :func:`needs_sync` says
   (it tells whether it was; the core counts a leader's own copy only of what a synced write covers);
3. every other message (votes, append responses, ...), which promise what is now on disk;
4. ``apply``: the soft state, committed entries, read states and dropped proposals;
5. ``RawNode.advance``.

A handler that raises (a crash in the simulation, a failed disk write in the node) leaves the Ready
un-advanced: nothing after the failure happened.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

from raftkv.raft.rawnode import RawNode
from raftkv.raft.types import EntryKind, HardState, Message, MessageType, Ready

# Messages only a leader sends, that carry no promise about the sender's own disk.
LEADER_MESSAGES = frozenset((MessageType.APPEND, MessageType.HEARTBEAT))


class ReadyHandler(Protocol):
    def send(self, messages: list[Message]) -> None:
        """Hand ``messages`` to the network (never empty)."""

    def persist(self, rd: Ready) -> bool:
        """Write ``rd.hard_state``, ``rd.snapshot`` and ``rd.entries``, visible to the core's storage, in
        one write synced as :func:`needs_sync` says; returns whether it was synced (a synced write
        makes every earlier one durable too)."""

    def apply(self, rd: Ready) -> None:
        """Take ``rd.soft_state``, apply ``rd.committed_entries``, serve ``rd.read_states`` and answer
        whoever waits on ``rd.dropped_proposals``."""


def needs_sync(rd: Ready, stored: HardState) -> bool:
    """Whether persisting ``rd`` (over the hard state ``stored`` on disk) must be a synced write.

    Entries, a snapshot, or a new term or vote: Raft figure 2, persistent state is stable before
    responding to RPCs. A leader's entries need no sync when ``rd.may_defer_sync`` (its followers
    commit them without its copy, which it counts only once synced), and a node that wrote some that
    way and is no longer leader syncs before it answers anyone (``rd.must_sync_log``).
    A write that only moves the commit index need not be (the commit index can be
    relearned), except when the entries it commits hold a membership change: a configuration takes
    effect when applied, right after this write, and a power loss must not restart the node with an
    older configuration than the one it acted on (with promotions in flight, two leaders of one term
    could otherwise win with quorums that do not overlap)."""
    hard = rd.hard_state
    return (
        (bool(rd.entries) and not rd.may_defer_sync)
        or rd.must_sync_log
        or rd.snapshot is not None
        or (hard is not None and (hard.term != stored.term or hard.vote != stored.vote))
        or _applies_conf_change(rd)
    )


def hard_state_to_save(rd: Ready, stored: HardState) -> HardState | None:
    """The hard state persisting ``rd`` writes: its own, or the stored one again when ``rd`` applies a
    membership change but brings no hard state. The commit index that covers the change then came in
    an earlier Ready (committed entries are handed out only once persisted here), and writing it again
    in the synced write :func:`needs_sync` asks for makes it durable before the change is applied,
    however that earlier write was made."""
    if rd.hard_state is None and (rd.must_sync_log or _applies_conf_change(rd)):
        return stored
    return rd.hard_state


def _applies_conf_change(rd: Ready) -> bool:
    return any(entry.kind == EntryKind.CONF_CHANGE for entry in rd.committed_entries)


def split_messages(rd: Ready) -> tuple[list[Message], list[Message]]:
    """The messages that may leave before the write (step 1), and those that must wait for it (step 3)."""
    if not rd.entries:
        return [], rd.messages
    early = [m for m in rd.messages if m.type in LEADER_MESSAGES]
    if not early:
        return [], rd.messages
    return early, [m for m in rd.messages if m.type not in LEADER_MESSAGES]


def handle_ready(node: RawNode, handler: ReadyHandler, max_rounds: int = 0) -> bool:
    """Work off ``node``'s Ready until it has none (or ``max_rounds`` of them, if set); returns whether
    there was one."""
    rounds = 0
    while node.has_ready():
        rd = node.ready()
        early, late = split_messages(rd)
        if early:
            handler.send(early)
        synced = handler.persist(rd)
        if late:
            handler.send(late)
        handler.apply(rd)
        node.advance(rd, synced)
        rounds += 1
        if rounds == max_rounds:
            break
    return rounds > 0


class _Delay:
    """Fires ``delay`` after a nonzero mark is first seen, unless the mark changes (or goes) meanwhile,
    or at once when ``hold`` says waiting is no longer worth it. Each driver passes its own clock."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._watched = 0  # the mark watched, 0 if none
        self.due_at = math.inf  # when it fires if unchanged

    def _expired(self, mark: int, now: float, hold: Callable[[], bool]) -> bool:
        if mark != self._watched:  # none, or the one watched went: the new one waits its turn
            self._watched, self.due_at = mark, now + self.delay if mark else math.inf
        if not mark or (now < self.due_at and hold()):
            return False
        self._watched, self.due_at = 0, math.inf
        return True


def _always() -> bool:
    return True


class DeferredSync(_Delay):
    """When a leader syncs, itself, the entries it wrote unsynced (``Ready.may_defer_sync``): the oldest
    one still uncommitted ``delay`` after it was first seen so (a follower is slow or gone), or at once
    when the followers can no longer commit without the leader. The Raft process's loop and the seeded
    simulation both ask :meth:`due` once per turn, each with its own clock."""

    def due(self, node: RawNode, now: float) -> bool:
        """Whether to sync now; the caller then syncs and calls ``node.log_synced()``."""
        return self._expired(node.oldest_unsynced_uncommitted(), now, node.may_defer_sync)


class CommitNotice(_Delay):
    """When a leader that defers its commit notices (``RaftConfig.defer_commit_notices``) sends them:
    ``delay`` after a follower was first owed one. Under load the next batch's APPEND carries the commit
    index before that, which saves each follower a message, an answer and a loop turn per batch; idle,
    a follower applies at most ``delay`` later. A follower whose forwarded proposals committed is told at
    once, by the core: its clients wait. The loop and the simulation ask :meth:`due` once per
    turn."""

    def due(self, node: RawNode, now: float) -> bool:
        """Whether to tell the followers now; the caller then calls ``node.notify_commit()``."""
        return self._expired(node.untold_commit(), now, _always)
