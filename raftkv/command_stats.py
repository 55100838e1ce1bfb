"""INFO commandstats, errorstats and latencystats: per-command counts, times and error prefixes.

Every command the Raft process runs, from any worker, is counted here under Redis's name for it
(``config|set`` for a subcommand): its calls, total µs, calls refused before running (``rejected_calls``)
and those that answered an error (``failed_calls``), and a histogram of its durations for the
percentiles. Each error reply also counts under its prefix (``errorstat_ERR``). CONFIG RESETSTAT clears
it all. Recording a call is a few dict operations: it runs once per command on the loop.

A worker counts the commands it answers itself in a CommandStats of its own and sends what it counted
to the Raft process (:meth:`CommandStats.take` -> a pipe record -> :meth:`CommandStats.merge`).
"""
from __future__ import annotations

import math
from collections import defaultdict

from raftkv.errors import RespError
from raftkv.kv.table import Command

_PERCENTILES = (("p50", 50.0), ("p99", 99.0), ("p99.9", 99.9))
_EXACT_BITS = 7  # durations keep their 7 leading bits: under 1% error, as HdrHistogram's 2 digits
_EXACT_LIMIT = 1 << _EXACT_BITS  # shorter durations are kept exactly


class _Calls:
    __slots__ = ("calls", "usec", "rejected", "failed", "histogram")

    def __init__(self) -> None:
        self.calls = 0
        self.usec = 0
        self.rejected = 0
        self.failed = 0
        self.histogram: defaultdict[int, int] = defaultdict(int)  # duration bucket (its lowest µs) -> calls


def stat_name(cmd: Command, argv: list[bytes]) -> str:
    """Redis's name for a call in its statistics: ``config|set`` for a container's subcommand."""
    if cmd.subcommands and len(argv) > 1:
        sub = argv[1].lower().decode("utf-8", "replace")
        if sub in cmd.subcommands:
            return f"{cmd.name}|{sub}"
    return cmd.name


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
        c = self._commands.get(name) or self._of(name)
        c.calls += 1
        c.usec += usec
        if usec >= _EXACT_LIMIT:
            shift = usec.bit_length() - _EXACT_BITS
            usec = usec >> shift << shift
        c.histogram[usec] += 1
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

    # -- from a worker to the Raft process -------------------------------------------------------

    @property
    def counted(self) -> bool:
        return bool(self._commands or self._errors)

    def take(self) -> list[bytes]:
        """What was counted since the last take, as fields of a pipe record, and forget it:
        ``[commands, (name, calls, usec, failed, "low=n,...")*, (prefix, count)*]``."""
        fields = [b"%d" % len(self._commands)]
        for name, c in self._commands.items():
            fields += [name.encode(), b"%d" % c.calls, b"%d" % c.usec, b"%d" % c.failed,
                       ",".join(f"{low}={n}" for low, n in c.histogram.items()).encode()]
        for prefix, n in self._errors.items():
            fields += [prefix.encode(), b"%d" % n]
        self.reset()
        return fields

    def merge(self, fields: list[bytes]) -> None:
        """Add what :meth:`take` gave in another process."""
        commands = int(fields[0])
        end = 1 + 5 * commands
        for i in range(1, end, 5):
            c = self._of(fields[i].decode())
            c.calls += int(fields[i + 1])
            c.usec += int(fields[i + 2])
            c.failed += int(fields[i + 3])
            for bucket in filter(None, fields[i + 4].split(b",")):
                low, n = bucket.split(b"=")
                c.histogram[int(low)] += int(n)
        for i in range(end, len(fields), 2):
            prefix = fields[i].decode()
            self._errors[prefix] = self._errors.get(prefix, 0) + int(fields[i + 1])

    # -- INFO sections and metrics ----------------------------------------------------------------

    def totals(self) -> dict[str, tuple[int, int, int, int]]:
        """Per command: (calls, µs, rejected, failed), a copy for a report read by another thread."""
        return {name: (c.calls, c.usec, c.rejected, c.failed) for name, c in self._commands.items()}

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
    if low < _EXACT_LIMIT:
        return low
    return low + (1 << (low.bit_length() - _EXACT_BITS)) - 1
