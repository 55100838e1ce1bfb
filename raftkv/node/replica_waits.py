"""WAIT numreplicas timeout, under Raft.

The connection's earlier writes are applied before WAIT runs (the sequencer sees to it), and each was
answered only once a majority held it. WAIT then counts the other voters that hold every write this
node has applied: on the leader, those whose match index reaches the commit index WAIT started at; on a
follower, which does not see the others' progress, the majority minus itself that the commit proves.
As in Redis it answers once ``numreplicas`` are reached or the timeout (ms, 0: none) has passed, with
the count at that moment; the leader checks its waits after each loop turn, so a timeout is met
within a turn (at most a tick). A node that stops leading answers its waits with their last count.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from raftkv.errors import err
from raftkv.kv.args import NOT_AN_INTEGER, parse_int
from raftkv.node.sequencer import ReplyTo
from raftkv.raft.types import Role, Status


@dataclass(slots=True)
class _Wait:
    to: ReplyTo
    numreplicas: int
    index: int  # the commit index when WAIT ran: every write the connection had applied
    deadline: float | None  # a monotonic time; None waits for as long as it takes
    count: int


def holding(status: Status, voters: tuple[int, ...], index: int) -> int:
    """How many voters other than the leader itself have the log up to ``index``."""
    return sum(1 for node_id, peer in status.progress.items()
               if node_id != status.id and node_id in voters and peer.match >= index)


class ReplicaWaits:
    def __init__(self, reply: Callable[[ReplyTo, object], None]) -> None:
        self._reply = reply
        self._waits: list[_Wait] = []

    def __len__(self) -> int:
        return len(self._waits)

    def start(self, to: ReplyTo, argv: list[bytes], status: Status, voters: tuple[int, ...],
              now: float) -> object:
        """The answer to WAIT now, or None when it waits (answered later through ``reply``)."""
        numreplicas, timeout = parse_int(argv[1]), parse_int(argv[2])
        if numreplicas is None:
            return NOT_AN_INTEGER
        if timeout is None:
            return err("timeout is not an integer or out of range")
        if timeout < 0:
            return err("timeout is negative")
        if status.role != Role.LEADER:
            return len(voters) // 2
        count = holding(status, voters, status.commit)
        if count >= numreplicas:
            return count
        deadline = now + timeout / 1000 if timeout else None
        self._waits.append(_Wait(to, numreplicas, status.commit, deadline, count))
        return None

    def check(self, status: Status, voters: tuple[int, ...], now: float) -> None:
        """Answer the waits that have their replicas, that timed out, or whose node stopped leading; drop
        those whose connection closed."""
        leading = status.role == Role.LEADER
        waiting: list[_Wait] = []
        for w in self._waits:
            if w.to.client.closed:
                continue
            if leading:
                w.count = holding(status, voters, w.index)
            if not leading or w.count >= w.numreplicas or (w.deadline is not None and now >= w.deadline):
                self._reply(w.to, w.count)
            else:
                waiting.append(w)
        self._waits = waiting
