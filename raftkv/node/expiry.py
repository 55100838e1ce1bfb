"""The leader's expiry sweep: keys whose time has passed are deleted through the log.

Applying never reads a clock (every node must delete a key at the same point of the log), so the leader
proposes an ``expired`` entry naming a batch of keys its clock says are due, one entry in flight at a
time. Owns no clock and no Raft state: the caller passes the times, the RawNode and whether we lead.
"""
from __future__ import annotations

from collections.abc import Callable

from raftkv.kv.state_machine import StateMachine
from raftkv.raft.rawnode import RawNode
from raftkv.wire import proposal

SWEEP_KEYS = 200  # keys deleted by one sweep entry


class ExpirySweeper:
    def __init__(self, node_id: int, new_request_id: Callable[[], int], commit_timeout_s: float) -> None:
        self._node_id = node_id
        self._new_request_id = new_request_id
        self.commit_timeout_s = commit_timeout_s
        self._request_id = 0  # the sweep in flight, if any
        self._deadline = 0.0  # after this a lost sweep is given up and another one proposed

    def sweep(self, node: RawNode, sm: StateMachine, now: float, now_ms: int) -> None:
        """On the leader's tick: propose the deletion of due keys, unless a sweep is still in flight."""
        if self._request_id and now < self._deadline:
            return
        keys = sm.expired_keys(now_ms, SWEEP_KEYS)
        if not keys:
            return
        rid = self._new_request_id()
        if node.propose([proposal.encode(self._node_id, rid, now_ms, [b"expired", *keys])]):
            self._request_id = rid
            self._deadline = now + self.commit_timeout_s

    def applied(self, request_id: int) -> None:
        """An entry of ours that nobody waited for was applied: if it is the sweep, the next may go."""
        if request_id == self._request_id:
            self._request_id = 0
