"""SimNetwork: messages in flight between simulated Raft nodes, in virtual ticks.

A heap keyed by (deliver_tick, seq) holds every message; ``seq`` breaks ties in send order, so delivery
is a pure function of the seed. Faults, all drawn from the network's own ``random.Random``: loss,
duplication, random delay (which reorders), and partitions as a set of blocked directed links (a
symmetric split blocks both directions, an asymmetric one only some). A link blocked at delivery time
drops the message.
"""
from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from raftkv.raft.types import Message


@dataclass
class LinkFaults:
    loss: float = 0.0  # probability that a message is dropped
    duplicate: float = 0.0  # probability that a message is delivered twice
    min_delay_ticks: int = 1
    max_delay_ticks: int = 1


class SimNetwork:
    def __init__(self, rng: random.Random, faults: LinkFaults) -> None:
        self._rng = rng
        self.faults = faults
        self._heap: list[tuple[int, int, Message]] = []
        self._seq = 0
        self.blocked: set[tuple[int, int]] = set()  # (src, dst) links that drop everything

    def send(self, m: Message, now: int) -> bool:
        """Queue ``m``; returns False if it was dropped at once."""
        if (m.src, m.dst) in self.blocked:
            return False
        faults = self.faults
        rng = self._rng
        if faults.loss and rng.random() < faults.loss:
            return False
        copies = 2 if faults.duplicate and rng.random() < faults.duplicate else 1
        for _ in range(copies):
            # A copy, as if serialized: the receiver never shares a Message object with the sender.
            copy = replace(m, entries=list(m.entries))
            delay = rng.randint(faults.min_delay_ticks, faults.max_delay_ticks)
            heapq.heappush(self._heap, (now + delay, self._seq, copy))
            self._seq += 1
        return True

    def due(self, now: int) -> Iterator[Message]:
        """Pop the messages whose delivery tick has come, in (tick, seq) order."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            m = heapq.heappop(heap)[2]
            if (m.src, m.dst) not in self.blocked:
                yield m

    def split(self, side: Iterable[int], everyone: Iterable[int]) -> None:
        """Symmetric partition: ``side`` and the rest can't talk in either direction."""
        side = set(side)
        for a in side:
            for b in everyone:
                if b not in side:
                    self.blocked.add((a, b))
                    self.blocked.add((b, a))

    def block(self, links: Iterable[tuple[int, int]]) -> None:
        """Asymmetric partition: only the given directions are cut."""
        self.blocked.update(links)

    def heal(self) -> None:
        self.blocked.clear()

    def __len__(self) -> int:
        return len(self._heap)
