"""The seeded simulation (see simulator.py): safety under faults, then liveness after healing."""
from __future__ import annotations

import pytest

from tests.sim.simulator import run_seed


@pytest.mark.sim
def test_safety_then_liveness(sim_case: tuple[int, int]) -> None:
    node_count, seed = sim_case
    run_seed(seed, node_count)


@pytest.mark.sim
@pytest.mark.parametrize("node_count, seed", [(3, 11), (5, 12)])
def test_same_seed_gives_the_same_trace(node_count: int, seed: int) -> None:
    first = run_seed(seed, node_count)
    assert run_seed(seed, node_count) == first
    assert run_seed(seed + 1, node_count) != first
