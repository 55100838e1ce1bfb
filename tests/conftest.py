"""Shared pytest hooks: remember each test's outcome so fixtures can dump server logs on failure."""
from __future__ import annotations

import pytest


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def pytest_addoption(parser: pytest.Parser) -> None:
    from tests.sim.conftest import CLUSTER_SIZES, DEFAULT_SEEDS_PER_SIZE

    group = parser.getgroup("sim", "seeded Raft simulation")
    group.addoption("--sim-seeds", type=int, default=None,
                    help=f"seeds to run per cluster size {CLUSTER_SIZES} (default {DEFAULT_SEEDS_PER_SIZE})")
    group.addoption("--sim-first-seed", type=int, default=0, help="first seed of the range (default 0)")
    group.addoption("--seed", type=int, default=None, help="run this one seed (for each cluster size)")
    parser.getgroup("raft", "Raft core tests").addoption(
        "--rewrite", action="store_true", default=False,
        help="regenerate the expected outputs of tests/raft/testdata/*.txt instead of comparing them")
