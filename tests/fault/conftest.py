"""Fixtures of the fault suite: real raftkv clusters whose every peer link runs through a proxy."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from raftkv.wire.members import bootstrap_id
from tests.fault.proxy import HOST, Network, PeerProxy
from tests.integration.conftest import Node, free_port, make_node  # noqa: F401 (a fixture, made visible here)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fault: runs a real cluster under injected faults and checks its history is linearizable")


@dataclass
class FaultCluster:
    """Nodes named n0, n1, ...; node i's peers reach it through ``network.proxies[names[i]]``."""

    nodes: list[Node]
    names: list[str]
    network: Network
    tmp_path: Path
    kept_dir: Path  # where tmp_path is copied if the test fails

    @property
    def addresses(self) -> list[str]:
        return [node.address for node in self.nodes]

    def log_paths(self) -> list[Path]:
        return [node.log_path for node in self.nodes]


@pytest.fixture
def keep_on_failure(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A directory outside pytest's temp tree (which keeps only the last few runs of any session on the
    machine) that receives a copy of ``tmp_path`` (logs, history, data dirs) if the test fails, and is
    removed otherwise. Requested before ``make_node``, it is torn down after the nodes have stopped."""
    kept = Path(tempfile.mkdtemp(prefix=f"raftkv-{request.node.name}-"))
    yield kept
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shutil.copytree(tmp_path, kept, dirs_exist_ok=True)
        print(f"logs, history and data dirs of this run are kept in {kept}")
    else:
        kept.rmdir()


@pytest.fixture
def make_fault_cluster(keep_on_failure: Path, request: pytest.FixtureRequest,
                       tmp_path: Path) -> Iterator[Callable[..., FaultCluster]]:
    """Start ``n`` nodes from one --initial-cluster list in which each node's advertised peer port is a
    proxy's and its --peer-port the one the proxy forwards to. Proxies are closed after the test (the
    nodes are stopped by ``make_node``)."""
    new_node: Callable[..., Node] = request.getfixturevalue("make_node")
    networks: list[Network] = []

    def make(n: int, workers: int = 2) -> FaultCluster:
        client_ports = [free_port() for _ in range(n)]
        advertised = [free_port() for _ in range(n)]
        listening = [free_port() for _ in range(n)]
        names = [f"n{i}" for i in range(n)]
        spec = ",".join(f"{HOST}:{c}@{HOST}:{a}" for c, a in zip(client_ports, advertised, strict=True))
        by_id = {bootstrap_id(f"{HOST}:{c}"): name for c, name in zip(client_ports, names, strict=True)}
        network = Network({name: PeerProxy(name, advertised[i], listening[i], by_id) for i, name in enumerate(names)})
        networks.append(network)
        nodes = [new_node(start=False, port=client_ports[i], workers=workers,
                           extra_args=["--peer-port", str(listening[i]), "--initial-cluster", spec])
                 for i in range(n)]
        for node in nodes:
            node.start(wait=False)
        for node in nodes:
            node.wait_ready()
        return FaultCluster(nodes, names, network, tmp_path, keep_on_failure)

    yield make
    for network in networks:
        network.close()
