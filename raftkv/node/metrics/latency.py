"""Latency histograms the Raft loop fills and INFO and /metrics read: fixed buckets, plain counters.

The loop alone observes durations, and a report carries a copy (:meth:`Latency.copy`) that the HTTP
threads may read while the loop goes on.
"""
from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from raftkv.node.sequencer import Pending

# Upper bounds in seconds, from a page-cache write to a disk that stalls.
BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Latency:
    """A histogram observed and copied on one thread (the loop's)."""

    __slots__ = ("counts", "count", "sum_s")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS_S) + 1)  # per bucket, not cumulative; the last is +Inf
        self.count = 0
        self.sum_s = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS_S, seconds)] += 1
        self.count += 1
        self.sum_s += seconds

    def copy(self) -> Latency:
        other = Latency()
        other.counts = self.counts.copy()
        other.count = self.count
        other.sum_s = self.sum_s
        return other

    @property
    def avg_us(self) -> int:
        return int(self.sum_s / self.count * 1e6) if self.count else 0


class Observes(Protocol):
    def observe(self, seconds: float) -> None: ...


def timed_write(write: Callable[[], None], synced: bool, latency: Observes) -> None:
    """Run ``write`` (a log batch's), observing its duration in ``latency`` when it syncs."""
    if not synced:
        write()
        return
    started = time.perf_counter()
    write()
    latency.observe(time.perf_counter() - started)


def timing_writes(answer: Callable[[Pending, object], None], latency: Latency) -> Callable[[Pending, object], None]:
    """``answer`` for applied writes of our own that also observes how long each took: start (the
    ``perf_counter_ns`` the sequencer's observer stamped) to apply is the commit latency its client saw
    (including any wait for a leader before it was proposed)."""
    def answer_timed(p: Pending, value: object) -> None:
        latency.observe((time.perf_counter_ns() - p.started_ns) / 1e9)
        answer(p, value)
    return answer_timed
