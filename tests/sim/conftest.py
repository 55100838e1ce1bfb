"""Options of the seeded simulation: ``--sim-seeds N`` seeds per cluster size, or ``--seed S`` for one.

The options are registered when pytest is pointed at tests/sim (or a file in it); a bare ``pytest`` run
from the repository root doesn't load this file early enough to register them, and then the defaults
apply.
"""
from __future__ import annotations

import pytest

DEFAULT_SEEDS_PER_SIZE = 150  # x 2 cluster sizes = 300 seeds in the CI run
CLUSTER_SIZES = (3, 5)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sim", "seeded Raft simulation")
    group.addoption(
        "--sim-seeds",
        type=int,
        default=None,
        help=f"seeds to run per cluster size {CLUSTER_SIZES} (default {DEFAULT_SEEDS_PER_SIZE})",
    )
    group.addoption("--sim-first-seed", type=int, default=0, help="first seed of the range (default 0)")
    group.addoption("--seed", type=int, default=None, help="run this one seed (for each cluster size)")


def _option(config: pytest.Config, name: str) -> int | None:
    try:
        return config.getoption(name)
    except ValueError:
        return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sim_case" not in metafunc.fixturenames:
        return
    config = metafunc.config
    seed = _option(config, "--seed")
    if seed is not None:
        seeds = [seed]
    else:
        count = _option(config, "--sim-seeds") or DEFAULT_SEEDS_PER_SIZE
        first = _option(config, "--sim-first-seed") or 0
        seeds = list(range(first, first + count))
    cases = [(size, seed) for size in CLUSTER_SIZES for seed in seeds]
    metafunc.parametrize("sim_case", cases, ids=[f"n{size}-seed{seed}" for size, seed in cases])
