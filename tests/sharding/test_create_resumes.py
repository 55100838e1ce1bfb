"""``kvsctl cluster create`` stopped half-way (a group unreachable) is finished by running it again."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from kvsctl.cluster import ClusterFailure, create, current_map
from tests.integration.conftest import Cluster
from tests.sharding.conftest import ask

pytestmark = pytest.mark.integration


def test_create_run_again_installs_the_map_on_the_groups_it_missed(make_cluster: Callable[..., Cluster]) -> None:
    first = make_cluster(1).nodes[0]
    group = make_cluster(3)
    group.leader()
    second, *others = group.nodes
    specs = [first.address, ",".join(n.address for n in group.nodes)]
    for node in others:
        node.stop()  # g2 answers, but cannot commit the map: no majority
    with pytest.raises(ClusterFailure, match="group g2: "):
        create(ask, specs)
    assert current_map(ask, first.address).epoch == 1  # installed on the group it could write
    for node in others:
        node.start()
    group.leader()
    finished = create(ask, specs)
    assert current_map(ask, second.address) == finished == current_map(ask, first.address)
    assert create(ask, specs) == finished  # and once more: nothing left to install
    with pytest.raises(ClusterFailure, match="group g1 already has a slot map"):
        create(ask, [first.address])  # another deployment over the same group
