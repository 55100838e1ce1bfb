"""Fixtures of the fault suite: real raftkv clusters whose every peer link runs through a proxy."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from raftkv.wire.members import bootstrap_id
from tests.fault.proxy import HOST, Network, PeerProxy
from tests.integration.conftest import Node, free_port, make_node  # noqa: F401 (a fixture, made visible here)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fault: runs a real cluster under injected faults and checks its history is linearizable")


@dataclass
class JoiningNode(Node):
    """A node started with ``--join`` that advertises ``advertised_peer_port`` (its proxy's) while it
    listens on its ``--peer-port``."""

    advertised_peer_port: int = 0

    def command(self) -> list[str]:
        return [*super().command(), "--advertise-peer", f"{self.host}:{self.advertised_peer_port}"]


@dataclass
class Slot:
    """A place for one node: its name, client port, the port its proxy listens on (what its peers dial)
    and the peer port the node itself listens on. The founders' slots come first, then the spares: slots
    that nodes added later take. A spare's client and peer ports are chosen when its first node starts
    (0 until then): a port chosen long before would be free for others meanwhile."""

    name: str
    client_port: int
    advertised_peer_port: int
    peer_port: int

    @property
    def address(self) -> str:
        return f"{HOST}:{self.client_port}"


@dataclass
class FaultCluster:
    """Nodes named n0, n1, ...; node i's peers reach it through ``network.proxies[names[i]]``.

    ``nodes[i]`` is the node now in slot i: None for a spare not used yet, a new node once the one
    before was replaced. ``spawn`` starts a fresh node in a slot."""

    nodes: list[Node | None]
    slots: list[Slot]
    founders: int
    network: Network
    tmp_path: Path
    kept_dir: Path  # where tmp_path is copied if the test fails
    spawn: Callable[[int, str], Node] = field(repr=False)  # (slot, a member's address to --join)
    started: list[Node] = field(default_factory=list)  # every node run so far, replaced ones included

    @property
    def names(self) -> list[str]:
        return [slot.name for slot in self.slots]

    @property
    def addresses(self) -> list[str]:
        return [node.address for node in self.nodes if node is not None]

    def log_paths(self) -> list[Path]:
        return [node.log_path for node in self.started]


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
    proxy's and its --peer-port the one the proxy forwards to; ``spares`` more slots (ports and a proxy
    each) wait for nodes added later; ``extra_args`` go to every node's command line. Nodes started by
    ``spawn`` are stopped after the test, then the proxies are closed (the founders are stopped by
    ``make_node``)."""
    new_node: Callable[..., Node] = request.getfixturevalue("make_node")
    networks: list[Network] = []
    spawned: list[Node] = []

    def make(n: int, workers: int = 2, spares: int = 0, extra_args: tuple[str, ...] = ()) -> FaultCluster:
        slots = [Slot(f"n{i}", free_port(), free_port(), free_port()) for i in range(n)]
        slots += [Slot(f"n{i}", 0, free_port(), 0) for i in range(n, n + spares)]
        spec = ",".join(f"{HOST}:{s.client_port}@{HOST}:{s.advertised_peer_port}" for s in slots[:n])
        by_id = {bootstrap_id(s.address): s.name for s in slots[:n]}
        network = Network({s.name: PeerProxy(s.name, s.advertised_peer_port, s.peer_port, by_id) for s in slots})
        networks.append(network)
        nodes: list[Node | None] = [
            new_node(start=False, port=s.client_port, workers=workers,
                     extra_args=["--peer-port", str(s.peer_port), "--initial-cluster", spec, *extra_args])
            for s in slots[:n]]
        nodes += [None] * spares
        cluster: FaultCluster

        def spawn(i: int, join: str) -> Node:
            """A fresh node for slot i, with a new empty data dir, started with ``--join join``; its
            peers reach it through the slot's proxy. Not waited for: it answers once it listens."""
            slot = slots[i]
            if not slot.client_port:
                slot.client_port, slot.peer_port = free_port(), free_port()
                network.proxies[slot.name].target_port = slot.peer_port
            generation = sum(1 for node in cluster.started if node.port == slot.client_port)
            data_dir = tmp_path / f"data-{slot.name}.{generation}"
            assert not data_dir.exists(), data_dir
            node = JoiningNode(data_dir=data_dir, log_path=tmp_path / f"{slot.name}.{generation}.log",
                               port=slot.client_port, workers=1, advertised_peer_port=slot.advertised_peer_port,
                               extra_args=["--peer-port", str(slot.peer_port), "--join", join, *extra_args])
            spawned.append(node)
            cluster.nodes[i] = node
            cluster.started.append(node)
            node.start(wait=False)
            return node

        cluster = FaultCluster(nodes, slots, n, network, tmp_path, keep_on_failure, spawn,
                               [node for node in nodes if node is not None])
        for node in cluster.started:
            node.start(wait=False)
        for node in cluster.started:
            node.wait_ready()
        return cluster

    yield make
    for node in spawned:
        node.stop()
    for network in networks:
        network.close()
