"""A leader's pending linearizable reads (ReadIndex, thesis §6.4), grouped into heartbeat rounds.

A read is recorded with the commit index at the time it arrives. It is confirmed once a majority of
voters acknowledged a heartbeat round sent *after* it was recorded: then no other leader could have
committed anything newer at that moment. Reads waiting for the next round all share it, and an
acknowledged round confirms every earlier round too. Rounds are numbered by the leader; the number
travels in the heartbeat's ``context`` and comes back in the response.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field


@dataclass(slots=True)
class ReadRequest:
    index: int  # the leader's commit index when the read arrived
    requester: int  # the node that asked (the leader itself for a local read)
    context: bytes


@dataclass(slots=True)
class _Round:
    number: int
    requests: list[ReadRequest]
    acks: set[int] = field(default_factory=set)


def round_context(number: int) -> bytes:
    return number.to_bytes(8, "big")


class ReadOnly:
    def __init__(self) -> None:
        self._waiting: list[ReadRequest] = []  # recorded, no round sent yet
        self._rounds: deque[_Round] = deque()  # sent, not yet confirmed, oldest first
        self._next_number = 1

    def add(self, request: ReadRequest) -> None:
        self._waiting.append(request)

    def has_waiting(self) -> bool:
        return bool(self._waiting)

    def heartbeat_context(self, self_id: int) -> bytes:
        """The context for the heartbeat about to be broadcast: a new round for the waiting reads, or the
        newest unconfirmed round again (its first heartbeats or their answers may have been lost)."""
        if self._waiting:
            read_round = _Round(self._next_number, self._waiting, {self_id})
            self._next_number += 1
            self._waiting = []
            self._rounds.append(read_round)
        if not self._rounds:
            return b""
        return round_context(self._rounds[-1].number)

    def acknowledge(
        self, context: bytes, from_id: int, has_quorum: Callable[[Collection[int]], bool]
    ) -> list[ReadRequest]:
        """Record ``from_id``'s answer to the round in ``context``; return the reads now confirmed (in
        arrival order), or [] if none."""
        if len(context) != 8 or not self._rounds:
            return []
        position = int.from_bytes(context, "big") - self._rounds[0].number
        if not 0 <= position < len(self._rounds):
            return []
        read_round = self._rounds[position]
        read_round.acks.add(from_id)
        if not has_quorum(read_round.acks):
            return []
        confirmed: list[ReadRequest] = []
        for _ in range(position + 1):
            confirmed.extend(self._rounds.popleft().requests)
        return confirmed
