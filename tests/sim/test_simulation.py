"""The seeded simulation (see simulator.py): safety under faults, then liveness after healing."""
from __future__ import annotations

import pytest

from tests.sim.simulator import run_seed, simulate


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


@pytest.mark.sim
@pytest.mark.parametrize("node_count", [3, 5])
def test_deferred_commit_notices_keep_safety_and_liveness(node_count: int) -> None:
    """Leaders that tell a commit index on its own only a tick after it was owed, as the node's leaders
    do (here with heartbeats, which carry it too, only every 4 ticks): every safety property holds under
    faults and every node converges once healed."""
    notices = 0
    for seed in range(12):
        notices += simulate(seed, node_count, commit_notice_delay_ticks=1, heartbeat_ticks=4).commit_notices
    assert notices > 30, notices
