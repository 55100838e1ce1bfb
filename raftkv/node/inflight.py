"""Client commands handed to the Raft core and not answered yet, and the bounds on how long they wait.

- Writes get a request id unique across restarts and become one NORMAL entry each; the entry's applier
  answers them through :attr:`InFlight.waiters`. With no leader known they are retried each loop turn
  until their client's deadline (then ``CLUSTERDOWN``); once proposed, an entry that is not applied
  within the commit timeout is answered ``TRYAGAIN``: it may still apply later, so the outcome is unknown.
  A forwarded entry the leader hands back (it did not append it) is answered ``TRYAGAIN`` at once: it
  can never commit.
- Reads of one batch share one ReadIndex round (Raft thesis §6.4); they are served once the applied
  index reaches the index the leader confirmed. A round is asked again of a new leader, and again every
  re-ask interval while it is unanswered (its READ_INDEX or the answer may have been lost). A round not
  confirmed by its deadline is answered ``TRYAGAIN`` if a leader is known, ``CLUSTERDOWN`` if not.

Owns no clock: the caller passes the times. Answers leave through the ``answer`` callable.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from raftkv.errors import CLUSTERDOWN, TRYAGAIN, RespError
from raftkv.node.sequencer import Pending
from raftkv.raft.rawnode import RawNode
from raftkv.raft.types import Entry, EntryKind, ReadState
from raftkv.wire import proposal

NO_LEADER = RespError(f"{CLUSTERDOWN} no leader")
_UNKNOWN_OUTCOME = RespError(f"{TRYAGAIN} the write was not committed in time; it may or may not be applied")
_NOT_TAKEN = RespError(f"{TRYAGAIN} the leader did not take the write (leadership is moving or the leader "
                       "is overloaded); it was not applied")
_READ_NOT_CONFIRMED = RespError(f"{TRYAGAIN} the read could not be confirmed by the leader in time")


@dataclass(slots=True)
class _ReadRound:
    batch: list[Pending]
    deadline: float  # that of its first read
    reask_at: float


class InFlight:
    def __init__(self, node_id: int, new_request_id: Callable[[], int],
                 answer: Callable[[Pending, object], None], commit_timeout_s: float, read_reask_s: float) -> None:
        self._node_id = node_id
        self._new_request_id = new_request_id
        self._answer = answer
        self.commit_timeout_s = commit_timeout_s
        self._read_reask_s = read_reask_s
        self.waiters: dict[int, Pending] = {}  # request id -> write awaiting apply
        self._write_deadlines: deque[tuple[float, int]] = deque()
        self._unproposed: deque[Pending] = deque()  # no leader yet: retried until their deadline
        self._read_rounds: dict[bytes, _ReadRound] = {}
        self._reads_after_apply: deque[tuple[int, list[Pending]]] = deque()
        self._next_read_ctx = 0

    def propose(self, node: RawNode, batch: list[Pending], now: float, now_ms: int) -> None:
        """Make ``batch`` entries (stamped with the leader's time ``now_ms``) and propose them; they
        queue behind any batch still waiting for a leader, so that order is kept."""
        commit_deadline = now + self.commit_timeout_s
        for p in batch:
            rid = p.request_id = self._new_request_id()
            p.payload = proposal.encode(self._node_id, rid, now_ms, p.argv)
            self.waiters[rid] = p
            self._write_deadlines.append((commit_deadline, rid))
        if self._unproposed or not node.propose([p.payload for p in batch]):
            self._unproposed.extend(batch)

    def retry(self, node: RawNode) -> None:
        """Propose the writes that found no leader, now that one is known."""
        if self._unproposed and node.propose([p.payload for p in self._unproposed]):
            self._unproposed.clear()

    def dropped(self, entries: list[Entry]) -> None:
        """Entries we forwarded that the leader did not append: they can never commit, so say so now."""
        me, waiters = self._node_id, self.waiters
        for entry in entries:
            if entry.kind != EntryKind.NORMAL:
                continue
            origin, rid, _time_ms = proposal.decode_head(entry.data)
            waiter = waiters.pop(rid, None) if origin == me else None
            if waiter is not None:  # popped: a late commit (there can be none) would not answer twice
                self._answer(waiter, _NOT_TAKEN)

    def read(self, node: RawNode, batch: list[Pending], now: float) -> None:
        """Start one ReadIndex round for ``batch``; it gives up at the deadline of its first read."""
        ctx = b"%d" % self._next_read_ctx
        self._next_read_ctx += 1
        self._read_rounds[ctx] = _ReadRound(batch, batch[0].deadline, now + self._read_reask_s)
        node.read_index(ctx)

    def reask_reads(self, node: RawNode, now: float, every: bool = False) -> None:
        """Ask again for the rounds unanswered for the re-ask interval (a READ_INDEX or its answer was
        lost; etcd's server re-sends its ReadIndex the same way), or for ``every`` round when there is
        a new leader: a round asked of the previous one will never be answered. Answers to a round
        asked twice are told apart by its context; the first one serves it."""
        for ctx, round_ in self._read_rounds.items():
            if every or round_.reask_at <= now:
                round_.reask_at = now + self._read_reask_s
                node.read_index(ctx)

    def read_states(self, read_states: list[ReadState]) -> None:
        for rs in read_states:
            round_ = self._read_rounds.pop(rs.context, None)
            if round_ is not None:
                self._reads_after_apply.append((rs.index, round_.batch))

    def reads_ready(self, applied_index: int) -> list[Pending]:
        """The reads whose read index is applied, in round order: serve them now."""
        pending = self._reads_after_apply
        ready: list[Pending] = []
        while pending and pending[0][0] <= applied_index:
            ready += pending.popleft()[1]
        return ready

    def expire(self, now: float, leader_known: bool) -> None:
        """Answer what waited too long; ``leader_known`` tells a read that was not confirmed in time
        from one that had nobody to ask."""
        while self._unproposed and self._unproposed[0].deadline <= now:
            p = self._unproposed.popleft()
            del self.waiters[p.request_id]
            self._answer(p, NO_LEADER)
        deadlines = self._write_deadlines
        while deadlines and deadlines[0][0] <= now:
            _deadline, rid = deadlines.popleft()
            waiter = self.waiters.pop(rid, None)
            if waiter is not None:
                self._answer(waiter, _UNKNOWN_OUTCOME)
        late = [ctx for ctx, round_ in self._read_rounds.items() if round_.deadline <= now]
        reply = _READ_NOT_CONFIRMED if leader_known else NO_LEADER
        for ctx in late:
            for p in self._read_rounds.pop(ctx).batch:
                self._answer(p, reply)
