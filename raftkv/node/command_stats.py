"""INFO commandstats, errorstats and latencystats: per-command counts, times and error prefixes.

Every command the Raft process runs, from any worker, is counted here under Redis's name for it
(``config|set`` for a subcommand): its calls, total µs, calls refused before running (``rejected_calls``)
and those that answered an error (``failed_calls``), and a histogram of its durations for the
percentiles. Each error reply also counts under its prefix (``errorstat_ERR``). CONFIG RESETSTAT clears
it all. Recording a call is a few dict operations: it runs once per command on the loop.
"""
from __future__ import annotations

import math

from raftkv.errors import RespError

_PERCENTILES = (("p50", 50.0), ("p99", 99.0), ("p99.9", 99.9))
_EXACT_BITS = 7  # durations keep their 7 leading bits: under 1% error, as HdrHistogram's 2 digits


class _Calls:
    __slots__ = ("calls", "usec", "rejected", "failed", "histogram")

    def __init__(self) -> None:
        self.calls = 0
        self.usec = 0
        self.rejected = 0
        self.failed = 0
        self.histogram: dict[int, int] = {}  # duration bucket (its lowest µs) -> calls


class CommandStats:
    def __init__(self) -> None:
        self._commands: dict[str, _Calls] = {}
        self._errors: dict[str, int] = {}

    def reset(self) -> None:
        self._commands.clear()
        self._errors.clear()

    def _of(self, name: str) -> _Calls:
        calls = self._commands.get(name)
        if calls is None:
            calls = self._commands[name] = _Calls()
        return calls

    def called(self, name: str, usec: int, value: object) -> None:
        """Command ``name`` ran for ``usec`` and answered ``value``."""
        c = self._of(name)
        c.calls += 1
        c.usec += usec
        if usec >= 1 << _EXACT_BITS:
            shift = usec.bit_length() - _EXACT_BITS
            usec = usec >> shift << shift
        histogram = c.histogram
        histogram[usec] = histogram.get(usec, 0) + 1
        if value.__class__ is RespError:
            c.failed += 1
            self.error(value)

    def rejected(self, name: str, error: RespError) -> None:
        """Command ``name`` was refused before it ran."""
        self._of(name).rejected += 1
        self.error(error)

    def error(self, error: RespError) -> None:
        prefix = error.prefix
        self._errors[prefix] = self._errors.get(prefix, 0) + 1

    # -- INFO sections ----------------------------------------------------------------------------

    def commandstats(self) -> list[tuple[str, object]]:
        return [(f"cmdstat_{name}", f"calls={c.calls},usec={c.usec},"
                 f"usec_per_call={c.usec / c.calls if c.calls else 0:.2f},"
                 f"rejected_calls={c.rejected},failed_calls={c.failed}")
                for name, c in sorted(self._commands.items())]

    def errorstats(self) -> list[tuple[str, object]]:
        return [(f"errorstat_{prefix}", f"count={n}") for prefix, n in sorted(self._errors.items())]

    def latencystats(self) -> list[tuple[str, object]]:
        lines: list[tuple[str, object]] = []
        for name, c in sorted(self._commands.items()):
            if c.histogram:
                values = percentiles(c.histogram, [p for _, p in _PERCENTILES])
                lines.append((f"latency_percentiles_usec_{name}",
                              ",".join(f"{label}={v:.3f}" for (label, _), v in zip(_PERCENTILES, values))))
        return lines


def percentiles(histogram: dict[int, int], wanted: list[float]) -> list[int]:
    """The highest duration of the bucket each percentile of ``histogram`` falls in (as HdrHistogram
    reports a value equivalent to the recorded ones)."""
    total = sum(histogram.values())
    buckets = sorted(histogram.items())
    values = []
    for p in wanted:
        rank = max(1, math.ceil(p / 100 * total - 1e-9))  # the float error of 99.9 / 100 must not round up
        seen = 0
        for low, n in buckets:
            seen += n
            if seen >= rank:
                values.append(_bucket_high(low))
                break
    return values


def _bucket_high(low: int) -> int:
    if low < 1 << _EXACT_BITS:
        return low
    return low + (1 << (low.bit_length() - _EXACT_BITS)) - 1
