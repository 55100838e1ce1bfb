"""Medians of several bench.py runs, and a before/after table of two sets of runs.

One run on a shared machine says little (its speed swings between runs); the performance targets are
read from medians of three runs, alternated between the builds compared. Give the ``.json`` reports
bench.py wrote for one build, and with ``--against`` those of the build it is compared with:

    python benchmarks/medians.py results/A1.json results/A2.json results/A3.json
    python benchmarks/medians.py NEW1.json NEW2.json NEW3.json --against OLD1.json OLD2.json OLD3.json

Each column is the median of its own values over the runs (ops/s, the same-run ratio to redis-server,
CPU µs per operation summed over the cluster and by process kind), and the bulk load's keys/s and
ratio. Markdown goes to stdout. The runs of one table must share their options (nodes, clients,
requests, workers). A script, not a test: the test suite only checks its arithmetic.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# The options two runs must share to be compared row by row.
_SHARED = ("nodes", "clients", "requests", "workers", "data_size")

Report = dict[str, Any]
RowKey = tuple[str, int, str]


class MediansError(Exception):
    """A report that is missing, unreadable or not comparable; the message is one line."""


def load(paths: Iterable[Path]) -> list[Report]:
    reports = []
    for path in paths:
        try:
            report = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise MediansError(f"cannot read {path}: {exc}") from None
        if not report.get("rows"):
            raise MediansError(f"{path} has no benchmark rows (a --sustained run?)")
        reports.append(report)
    check_comparable(reports)
    return reports


def check_comparable(reports: list[Report]) -> None:
    """MediansError unless every report was run with the same shared options."""
    options = {tuple(r["options"].get(name) for name in _SHARED) for r in reports}
    if len(options) > 1:
        raise MediansError(f"the runs differ in their options ({', '.join(_SHARED)}): {sorted(options)}")


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def medians(reports: list[Report]) -> dict[RowKey, dict[str, Any]]:
    """Per (test, pipeline, clients on): the median of each figure over the runs that have that row."""
    by_row: dict[RowKey, list[Report]] = {}
    for report in reports:
        for row in report["rows"]:
            by_row.setdefault((row["test"], row["pipeline"], row["mode"]), []).append(row)
    out: dict[RowKey, dict[str, Any]] = {}
    for key, rows in by_row.items():
        cpus = [row["raftkv"].get("cpu") or {} for row in rows]
        kinds = sorted({kind for cpu in cpus for kind in cpu.get("kinds_us_per_op", {})})
        out[key] = {
            "runs": [row["raftkv"]["rps"] for row in rows],
            "rps": _median([row["raftkv"]["rps"] for row in rows]),
            "ratio": _median([row["ratio"] for row in rows]),
            "cpu_us": _median([cpu["total_us_per_op"] for cpu in cpus if "total_us_per_op" in cpu]),
            "kinds_us": {kind: _median([cpu["kinds_us_per_op"][kind] for cpu in cpus
                                        if kind in cpu.get("kinds_us_per_op", {})]) for kind in kinds},
        }
    return out


def bulk_medians(reports: list[Report]) -> dict[str, float | None]:
    scans = [r["scan"] for r in reports if r.get("scan")]
    return {"keys_per_s": _median([s["raftkv"]["load_keys_per_s"] for s in scans]),
            "ratio": _median([s["load_ratio"] for s in scans])}


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _kinds(kinds: dict[str, float | None]) -> str:
    return ", ".join(f"{kind} {_num(us, 1)}" for kind, us in kinds.items() if us)


def table(reports: list[Report]) -> str:
    rows = medians(reports)
    commits = " / ".join(str(r.get("commit", "?")) for r in reports)
    lines = [f"Medians of {len(reports)} runs ({commits}), {reports[0]['options']['nodes']} node(s)", "",
             "| test | -P | clients on | ops/s | ratio | CPU µs/op | by process kind | runs (ops/s) |",
             "|---|---:|---|---:|---:|---:|---|---|"]
    for (test, pipeline, mode), m in rows.items():
        runs = " / ".join(_num(rps) for rps in m["runs"])
        lines.append(f"| {test} | {pipeline} | {mode} | {_num(m['rps'])} | {_num(m['ratio'], 2)} | "
                     f"{_num(m['cpu_us'], 1)} | {_kinds(m['kinds_us'])} | {runs} |")
    bulk = bulk_medians(reports)
    if bulk["keys_per_s"] is not None:
        lines += ["", f"Bulk load: {_num(bulk['keys_per_s'])} keys/s, ratio {_num(bulk['ratio'], 2)}"]
    return "\n".join(lines) + "\n"


def comparison(after: list[Report], before: list[Report]) -> str:
    new, old = medians(after), medians(before)
    lines = [f"Medians: {len(before)} runs before ({' / '.join(str(r.get('commit', '?')) for r in before)}), "
             f"{len(after)} after ({' / '.join(str(r.get('commit', '?')) for r in after)})", "",
             "| test | -P | clients on | ops/s before | after | ratio before | after | CPU µs/op before | after |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for key in [k for k in old if k in new] + [k for k in new if k not in old]:
        b, a = old.get(key, {}), new.get(key, {})
        test, pipeline, mode = key
        lines.append(f"| {test} | {pipeline} | {mode} | {_num(b.get('rps'))} | {_num(a.get('rps'))} | "
                     f"{_num(b.get('ratio'), 2)} | {_num(a.get('ratio'), 2)} | {_num(b.get('cpu_us'), 1)} | "
                     f"{_num(a.get('cpu_us'), 1)} |")
    bb, ba = bulk_medians(before), bulk_medians(after)
    if bb["keys_per_s"] is not None or ba["keys_per_s"] is not None:
        lines += ["", f"Bulk load: {_num(bb['keys_per_s'])} -> {_num(ba['keys_per_s'])} keys/s, ratio "
                      f"{_num(bb['ratio'], 2)} -> {_num(ba['ratio'], 2)}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="bench.py .json reports of one build")
    parser.add_argument("--against", nargs="+", type=Path, default=[],
                        help="the .json reports of the build compared with (before)")
    args = parser.parse_args(argv)
    try:
        after = load(args.runs)
        if args.against:
            before = load(args.against)
            check_comparable(after + before)  # the two sets must be comparable too
            sys.stdout.write(comparison(after, before))
        else:
            sys.stdout.write(table(after))
    except MediansError as exc:
        print(f"medians.py: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
