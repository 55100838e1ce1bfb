"""Static settings of one Raft node. Time is counted in ticks; the driver decides how long a tick is."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RaftConfig:
    """``election_ticks`` is the base election timeout: a follower campaigns after a random timeout in
    [election_ticks, 2 * election_ticks) without hearing from a leader (Raft §5.2). A leader sends a
    heartbeat every ``heartbeat_ticks``; Raft §5.6 wants heartbeat_ticks well below election_ticks."""

    id: int
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    pre_vote: bool = True  # thesis §9.6: no term bump unless a pre-vote round wins
    check_quorum: bool = True  # thesis §6.2: a leader cut off from a majority steps down
    max_inflight_msgs: int = 256  # appends in flight per follower in the replicate state
    max_append_bytes: int = 1 << 20  # payload size of one APPEND (at least one entry is always sent)
    max_uncommitted_entries: int = 100_000  # a leader refuses proposals beyond this many uncommitted
    # A leader tells followers a commit index that no APPEND carried only when its driver calls
    # notify_commit (raftkv.raft.ready.CommitNotice), so that the next batch's APPEND usually carries it.
    defer_commit_notices: bool = False

    def __post_init__(self) -> None:
        if self.id <= 0:
            raise ValueError("node id must be a positive int")
        if self.heartbeat_ticks < 1:
            raise ValueError("heartbeat_ticks must be >= 1")
        if self.election_ticks <= self.heartbeat_ticks:
            raise ValueError("election_ticks must be greater than heartbeat_ticks")
        if self.max_inflight_msgs < 1:
            raise ValueError("max_inflight_msgs must be >= 1")
        if self.max_append_bytes < 1 or self.max_uncommitted_entries < 1:
            raise ValueError("size limits must be positive")
