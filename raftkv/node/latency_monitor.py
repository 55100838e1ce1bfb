"""LATENCY: events that took at least ``latency-monitor-threshold`` ms, per event, as Redis's latency.c.

Events of a node: ``command`` (a client command, from its start in the Raft process to its reply),
``fsync`` (the synced write of a log batch) and ``snapshot`` (a child writing a snapshot). Each event
keeps its last 160 samples, one per second (the largest of that second), and its all-time maximum. A
threshold of 0 turns the monitor off. Samples come from the Raft loop, which also answers LATENCY.
"""
from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING

from raftkv.kv.table import unknown_subcommand, wrong_arity

if TYPE_CHECKING:
    from raftkv.node.metrics.latency import Observes

_SAMPLES = 160

_HELP = [
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HELP",
    "    Prints this help.",
]


class _Event:
    __slots__ = ("samples", "max_ms")

    def __init__(self) -> None:
        self.samples: deque[list[int]] = deque(maxlen=_SAMPLES)  # [unix time, ms], oldest first
        self.max_ms = 0


class LatencyMonitor:
    def __init__(self, threshold_ms: int) -> None:
        self.threshold_ms = threshold_ms
        self._events: dict[str, _Event] = {}

    def add_if_slow(self, event: str, ms: int) -> None:
        """Record ``ms`` for ``event`` if the monitor is on and it reaches the threshold."""
        if not self.threshold_ms or ms < self.threshold_ms:
            return
        unix_s = int(time.time())
        e = self._events.get(event)
        if e is None:
            e = self._events[event] = _Event()
        e.max_ms = max(e.max_ms, ms)
        if e.samples and e.samples[-1][0] == unix_s:
            e.samples[-1][1] = max(e.samples[-1][1], ms)
        else:
            e.samples.append([unix_s, ms])

    def command(self, argv: list[bytes]) -> object:
        """LATENCY LATEST | HISTORY event | RESET [event ...] | HELP."""
        sub = argv[1].lower()
        n = len(argv)
        if sub == b"latest" and n == 2:
            return [[name.encode(), *e.samples[-1], e.max_ms] for name, e in self._events.items()]
        if sub == b"history" and n == 3:
            e = self._events.get(argv[2].decode("utf-8", "replace"))
            return [list(s) for s in e.samples] if e else []
        if sub == b"reset":
            names = [a.decode("utf-8", "replace") for a in argv[2:]] or list(self._events)
            return sum(self._events.pop(name, None) is not None for name in names)
        if sub == b"help" and n == 2:
            return _HELP
        if sub in (b"latest", b"history", b"help"):
            return wrong_arity(f"latency|{sub.decode()}")
        return unknown_subcommand(argv)


class Tapped:
    """A histogram's ``observe`` that also offers each duration to the monitor as ``event``."""

    def __init__(self, histogram: Observes, monitor: LatencyMonitor, event: str) -> None:
        self._histogram = histogram
        self._monitor = monitor
        self._event = event

    def observe(self, seconds: float) -> None:
        self._histogram.observe(seconds)
        self._monitor.add_if_slow(self._event, int(seconds * 1000))
