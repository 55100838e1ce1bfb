"""Client commands handed to the Raft core and not answered yet, and the bounds on how long they wait.

- Writes get a request id unique across restarts and become one NORMAL entry each; the entry's applier
  answers them through :attr:`InFlight.waiters`. With no leader known they are retried each loop turn
  until their client's deadline (then ``CLUSTERDOWN``); once proposed, an entry that is not applied
  within the commit timeout is answered ``TRYAGAIN``: it may still apply later, so the outcome is unknown.
- Reads of one batch share one ReadIndex round (Raft thesis §6.4); they are served once the applied
  index reaches the index the leader confirmed. A round is asked again of a new leader.

Owns no clock: the caller passes the times. Answers leave through the ``answer`` callable.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable

from raftkv.errors import CLUSTERDOWN, TRYAGAIN, RespError
from raftkv.node.sequencer import Pending
from raftkv.raft.rawnode import RawNode
from raftkv.raft.types import ReadState
from raftkv.wire import proposal

NO_LEADER = RespError(f"{CLUSTERDOWN} no leader")
_UNKNOWN_OUTCOME = RespError(f"{TRYAGAIN} the write was not committed in time; it may or may not be applied")


class InFlight:
    def __init__(self, node_id: int, new_request_id: Callable[[], int],
                 answer: Callable[[Pending, object], None], commit_timeout_s: float) -> None:
        self._node_id = node_id
        self._new_request_id = new_request_id
        self._answer = answer
        self._commit_timeout_s = commit_timeout_s
        self.waiters: dict[int, Pending] = {}  # request id -> write awaiting apply
        self._write_deadlines: deque[tuple[float, int]] = deque()
        self._unproposed: deque[Pending] = deque()  # no leader yet: retried until their deadline
        self._read_rounds: dict[bytes, tuple[list[Pending], float]] = {}
        self._reads_after_apply: deque[tuple[int, list[Pending]]] = deque()
        self._next_read_ctx = 0

    def propose(self, node: RawNode, batch: list[Pending], now: float, now_ms: int) -> None:
        """Make ``batch`` entries (stamped with the leader's time ``now_ms``) and propose them; they
        queue behind any batch still waiting for a leader, so that order is kept."""
        commit_deadline = now + self._commit_timeout_s
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

    def read(self, node: RawNode, batch: list[Pending]) -> None:
        """Start one ReadIndex round for ``batch``; it gives up at the deadline of its first read."""
        ctx = b"%d" % self._next_read_ctx
        self._next_read_ctx += 1
        self._read_rounds[ctx] = (batch, batch[0].deadline)
        node.read_index(ctx)

    def reask_reads(self, node: RawNode) -> None:
        """A new leader: a round asked of the previous one will never be answered."""
        for ctx in self._read_rounds:
            node.read_index(ctx)

    def read_states(self, read_states: list[ReadState]) -> None:
        for rs in read_states:
            round_ = self._read_rounds.pop(rs.context, None)
            if round_ is not None:
                self._reads_after_apply.append((rs.index, round_[0]))

    def reads_ready(self, applied_index: int) -> list[Pending]:
        """The reads whose read index is applied, in round order: serve them now."""
        pending = self._reads_after_apply
        ready: list[Pending] = []
        while pending and pending[0][0] <= applied_index:
            ready += pending.popleft()[1]
        return ready

    def expire(self, now: float) -> None:
        """Answer what waited too long."""
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
        for ctx in [c for c, (_b, deadline) in self._read_rounds.items() if deadline <= now]:
            batch, _deadline = self._read_rounds.pop(ctx)
            for p in batch:
                self._answer(p, NO_LEADER)
