"""benchmarks/medians.py: the medians and the before/after table of bench.py reports."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("medians", Path(__file__).parent.parent / "benchmarks" / "medians.py")
assert _SPEC is not None and _SPEC.loader is not None
medians = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(medians)

OPTIONS = {"nodes": 3, "clients": 50, "requests": 100000, "workers": 4, "data_size": 3}


def _row(test: str, rps: float, ratio: float, cpu: float, leader_raft: float) -> dict[str, object]:
    return {"test": test, "pipeline": 1, "mode": "leader", "ratio": ratio,
            "raftkv": {"rps": rps, "cpu": {"total_us_per_op": cpu,
                                           "kinds_us_per_op": {"raft (leader)": leader_raft, "supervisor": 0.0}}}}


def _report(tmp_path: Path, name: str, commit: str, sets: tuple[float, float, float],
            bulk: float | None = None, **options: object) -> Path:
    rps, ratio, cpu = sets
    report = {"commit": commit, "options": {**OPTIONS, **options},
              "rows": [_row("SET", rps, ratio, cpu, cpu / 3), _row("GET", 2 * rps, ratio, cpu / 2, cpu / 4)],
              "scan": None if bulk is None else {"raftkv": {"load_keys_per_s": bulk}, "load_ratio": bulk / 100000}}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(report))
    return path


def test_each_column_is_the_median_of_its_own_values(tmp_path: Path) -> None:
    paths = [_report(tmp_path, "a", "c1", (10000, 0.2, 90.0), bulk=30000),
             _report(tmp_path, "b", "c1", (30000, 0.3, 60.0), bulk=40000),
             _report(tmp_path, "c", "c1", (20000, 0.5, 70.0), bulk=10000)]
    m = medians.medians(medians.load(paths))
    assert m[("SET", 1, "leader")] == {"runs": [10000, 30000, 20000], "rps": 20000, "ratio": 0.3, "cpu_us": 70.0,
                                       "kinds_us": {"raft (leader)": 70.0 / 3, "supervisor": 0.0}}
    assert m[("GET", 1, "leader")]["rps"] == 40000
    assert medians.bulk_medians(medians.load(paths)) == {"keys_per_s": 30000, "ratio": 0.3}
    text = medians.table(medians.load(paths))
    assert "| SET | 1 | leader | 20,000 | 0.30 | 70.0 | raft (leader) 23.3 | 10,000 / 30,000 / 20,000 |" in text
    assert "Bulk load: 30,000 keys/s, ratio 0.30" in text


def test_the_comparison_puts_each_builds_medians_side_by_side(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = [_report(tmp_path, f"old{i}", "old", (rps, 0.2, 80.0)) for i, rps in enumerate((9000, 11000, 10000))]
    new = [_report(tmp_path, f"new{i}", "new", (rps, 0.25, 70.0)) for i, rps in enumerate((12000, 13000, 14000))]
    assert medians.main([*map(str, new), "--against", *map(str, old)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Medians: 3 runs before (old / old / old), 3 after (new / new / new)")
    assert "| SET | 1 | leader | 10,000 | 13,000 | 0.20 | 0.25 | 80.0 | 70.0 |" in out


def test_runs_with_other_options_or_unreadable_reports_are_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    three = _report(tmp_path, "three", "c", (10000, 0.2, 80.0))
    one = _report(tmp_path, "one", "c", (10000, 0.2, 80.0), nodes=1)
    assert medians.main([str(three), "--against", str(one)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("medians.py: the runs differ in their options") and err.count("\n") == 1
    assert medians.main([str(tmp_path / "missing.json")]) == 2
    assert capsys.readouterr().err.startswith(f"medians.py: cannot read {tmp_path / 'missing.json'}")
    sustained = tmp_path / "sustained.json"
    sustained.write_text(json.dumps({"options": OPTIONS, "rows": []}))
    assert medians.main([str(sustained)]) == 2
    assert "has no benchmark rows" in capsys.readouterr().err
