"""Seeds of the simulation: ``--sim-seeds N`` per cluster size, or ``--seed S`` for one (the options are
registered in tests/conftest.py, which pytest loads before collecting)."""
from __future__ import annotations

import pytest

DEFAULT_SEEDS_PER_SIZE = 150  # x 2 cluster sizes = 300 seeds in the CI run
CLUSTER_SIZES = (3, 5)


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
