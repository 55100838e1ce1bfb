"""What a leader knows about each peer's log (match_index, next_index, Raft figure 2) and how fast it may
send to it; plus the membership (voters, learners) those peers belong to.

A peer is in one of three states, as in etcd/raft's tracker:
  PROBE      we don't know where its log ends: one APPEND at a time, wait for the answer.
  REPLICATE  its log matches ours up to match_index: APPENDs are pipelined, next_index moves
             optimistically, at most ``max_inflight`` unacknowledged at once.
  SNAPSHOT   it needs entries we compacted: a snapshot is on its way, send nothing else.
"""
from __future__ import annotations

from collections import deque
from enum import Enum

from raftkv.raft.quorum import committed_index, has_majority
from raftkv.raft.types import ConfChange, ConfChangeType, ConfState


class ProgressState(Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


class Inflights:
    """Last indexes of the APPENDs sent but not yet acknowledged, oldest first."""

    __slots__ = ("_capacity", "_last_indexes")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._last_indexes: deque[int] = deque()

    def add(self, last_index: int) -> None:
        self._last_indexes.append(last_index)

    def free_through(self, index: int) -> None:
        last_indexes = self._last_indexes
        while last_indexes and last_indexes[0] <= index:
            last_indexes.popleft()

    def full(self) -> bool:
        return len(self._last_indexes) >= self._capacity

    def clear(self) -> None:
        self._last_indexes.clear()

    def __len__(self) -> int:
        return len(self._last_indexes)


class Progress:
    """One peer's replication state as seen by the leader."""

    __slots__ = (
        "match",
        "next",
        "state",
        "paused",
        "pending_snapshot",
        "recent_active",
        "is_learner",
        "sent_commit",
        "inflights",
    )

    def __init__(self, next_index: int, max_inflight: int, is_learner: bool = False) -> None:
        self.match = 0  # highest index known to be replicated on the peer
        self.next = next_index  # index of the next entry to send
        self.state = ProgressState.PROBE
        self.paused = False  # PROBE: a probe is outstanding; REPLICATE: the inflight window is full
        self.pending_snapshot = 0  # index of the snapshot being sent (SNAPSHOT state)
        self.recent_active = False  # heard from within the current election timeout (check-quorum)
        self.is_learner = is_learner
        self.sent_commit = 0  # highest commit index sent to the peer
        self.inflights = Inflights(max_inflight)

    def _enter(self, state: ProgressState) -> None:
        self.state = state
        self.paused = False
        self.pending_snapshot = 0
        self.inflights.clear()

    def become_probe(self) -> None:
        # After a snapshot, the peer holds at least the snapshot's entries.
        floor = self.pending_snapshot if self.state == ProgressState.SNAPSHOT else 0
        self._enter(ProgressState.PROBE)
        self.next = max(self.match + 1, floor + 1)

    def become_replicate(self) -> None:
        self._enter(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._enter(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def is_paused(self) -> bool:
        if self.state == ProgressState.SNAPSHOT:
            return True
        return self.paused

    def sent_append(self, entry_count: int, commit: int) -> None:
        """Account for an APPEND of ``entry_count`` entries starting at ``next``."""
        if self.state == ProgressState.REPLICATE:
            if entry_count:
                self.next += entry_count
                self.inflights.add(self.next - 1)
                self.paused = self.inflights.full()
        elif self.state == ProgressState.PROBE:
            self.paused = True
        if commit > self.sent_commit:
            self.sent_commit = commit

    def maybe_update(self, index: int) -> bool:
        """The peer acknowledged entries up to ``index``; False if that told us nothing new."""
        updated = False
        if self.match < index:
            self.match = index
            updated = True
            if self.state == ProgressState.PROBE:
                self.paused = False
        if self.next < index + 1:
            self.next = index + 1
        return updated

    def acknowledged(self, index: int) -> None:
        """In REPLICATE, an acknowledgement frees the inflight slots up to ``index``."""
        self.inflights.free_through(index)
        self.paused = self.inflights.full()

    def maybe_decrease_to(self, rejected: int, hint: int) -> bool:
        """The peer rejected an APPEND whose previous index was ``rejected`` and suggests probing at
        ``hint`` + 1. Returns False for a stale rejection (one we have already acted on)."""
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, hint + 1), self.match + 1)
        self.paused = False
        return True

    def resume(self) -> None:
        """The peer answered a heartbeat: it is reachable, so a paused probe or a full window (whose
        APPENDs may have been lost) may send once more."""
        self.paused = False


class ProgressTracker:
    """Membership (voters and learners) and a Progress for every member, including this node."""

    def __init__(self, self_id: int, max_inflight: int) -> None:
        self._self_id = self_id
        self._max_inflight = max_inflight
        self.voters: tuple[int, ...] = ()
        self.learners: tuple[int, ...] = ()
        self.progress: dict[int, Progress] = {}

    def conf_state(self) -> ConfState:
        return ConfState(voters=self.voters, learners=self.learners)

    def set_conf_state(self, conf_state: ConfState, next_index: int) -> None:
        """Adopt ``conf_state`` wholesale (at start-up or from a snapshot), forgetting all progress."""
        self.voters = tuple(sorted(conf_state.voters))
        self.learners = tuple(sorted(set(conf_state.learners) - set(conf_state.voters)))
        self.progress = {}
        for node_id in self.voters + self.learners:
            self.progress[node_id] = Progress(next_index, self._max_inflight, node_id in self.learners)

    def is_voter(self, node_id: int) -> bool:
        return node_id in self.voters

    def is_member(self, node_id: int) -> bool:
        return node_id in self.progress

    def add_learner(self, node_id: int, next_index: int) -> bool:
        if node_id in self.progress:
            return False
        progress = Progress(next_index, self._max_inflight, is_learner=True)
        # Counted as active so that check-quorum does not fire before the peer could answer.
        progress.recent_active = True
        self.progress[node_id] = progress
        self.learners = tuple(sorted(self.learners + (node_id,)))
        return True

    def promote(self, node_id: int) -> bool:
        if node_id not in self.learners:
            return False
        self.learners = tuple(n for n in self.learners if n != node_id)
        self.voters = tuple(sorted(self.voters + (node_id,)))
        self.progress[node_id].is_learner = False
        return True

    def apply(self, change: ConfChange, next_index: int) -> bool:
        """One membership change (a new learner starts at ``next_index``); False if it changes nothing."""
        if change.type == ConfChangeType.ADD_LEARNER:
            return self.add_learner(change.node_id, next_index)
        if change.type == ConfChangeType.PROMOTE:
            return self.promote(change.node_id)
        return self.remove(change.node_id)

    def remove(self, node_id: int) -> bool:
        if node_id not in self.progress:
            return False
        self.voters = tuple(n for n in self.voters if n != node_id)
        self.learners = tuple(n for n in self.learners if n != node_id)
        del self.progress[node_id]
        return True

    def reset(self, last_index: int, persisted_index: int) -> None:
        """Fresh progress for a new term: nothing known about peers; our own log known up to what is
        persisted (a leader counts itself only for entries on its own disk)."""
        for node_id, progress in self.progress.items():
            progress.become_probe()
            progress.match = 0
            progress.next = last_index + 1
            progress.sent_commit = 0
            progress.recent_active = False
            if node_id == self._self_id:
                progress.match = persisted_index

    def committed(self) -> int:
        progress = self.progress
        return committed_index([progress[voter].match for voter in self.voters])

    def quorum_active(self) -> bool:
        """Whether a majority of voters (this node included) was heard from recently (thesis §6.2)."""
        active = {n for n, p in self.progress.items() if p.recent_active or n == self._self_id}
        return has_majority(self.voters, active)
