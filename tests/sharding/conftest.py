"""A sharded deployment of real nodes: several groups (each one Raft cluster of real nodes on free
127.0.0.1 ports) with a slot map installed by kvsctl's cluster logic."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from kvsctl.cluster import create
from raftkv.client import request
from tests.integration.conftest import Cluster, make_cluster, make_node  # noqa: F401 (fixtures, made visible here)


def ask(address: str, *argv: bytes | str) -> Any:
    """kvsctl's one-command call, as ``kvsctl cluster`` makes it."""
    return request(address, *argv, timeout=10.0)


@dataclass
class Sharded:
    groups: list[Cluster]

    @property
    def nodes(self) -> list:
        return [n for g in self.groups for n in g.nodes]

    def startup_nodes(self) -> list[redis.cluster.ClusterNode]:
        return [redis.cluster.ClusterNode("127.0.0.1", n.port) for n in self.nodes]


@pytest.fixture
def make_sharded(make_cluster: Callable[..., Cluster]) -> Callable[..., Sharded]:  # noqa: F811
    """``make(groups, nodes)``: that many groups of that many nodes each, the slots shared among them."""

    def make(groups: int = 2, nodes: int = 3, workers: int = 1, extra_args: list[str] | None = None) -> Sharded:
        made = Sharded([make_cluster(nodes, workers=workers, extra_args=extra_args) for _ in range(groups)])
        for group in made.groups:
            group.leader()
        create(ask, [",".join(n.address for n in g.nodes) for g in made.groups])
        return made

    return make

