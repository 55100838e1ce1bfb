"""Fixtures of tests/netns: real raftkv nodes, each in its own network namespace with its own address.

Every test gets a fresh :class:`~tests.netns.net.Net` (a bridge in its own namespace) with a host
``client`` from whose namespace the test's redis-py clients, kvsctl and redis-benchmark connect, and a
host per node. Nodes listen on the same ports everywhere (clients 2317, peers 12317), since each has its
own address. With ``forwarded=True`` a node's peers reach it through a forwarder in its namespace
(``tests/netns/forwarder.py``) that adds latency, jitter and loss: the node advertises 12317, where the
forwarder listens, and binds 12318.

Root only: the whole directory is skipped with the reason otherwise. Teardown stops the nodes and
forwarders by pid, then deletes the namespaces (and so their links), on failure too; namespaces left by
a killed run are deleted when the next run starts.
"""
from __future__ import annotations

import select
import socket
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.connection import Connection, ConnectionPool
from redis.retry import Retry

from tests.fault.history import Client, History, Workload
from tests.integration.conftest import STOP_TIMEOUT_S, Cluster, Node
from tests.netns.net import Host, Net, enter, inside, netns_unavailable, remove_stale

CLIENT_PORT = 2317
PEER_PORT = 12317
FORWARDED_PEER_PORT = 12318  # where a node listens when a forwarder takes PEER_PORT
FORWARDER = Path(__file__).with_name("forwarder.py")
KVSCTL = Path(sys.executable).with_name("kvsctl")
_COMMAND_TIMEOUT_S = 30.0
_FORWARDER_READY_S = 10.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "netns: runs nodes in network namespaces of their own (root only)")


@pytest.fixture(scope="session", autouse=True)
def _netns_available() -> None:
    reason = netns_unavailable()
    if reason is not None:
        pytest.skip(reason)
    stale = remove_stale()
    if stale:
        print(f"removed namespaces left by killed runs: {', '.join(stale)}")


class NsConnection(Connection):
    """A redis-py connection whose socket is created in a network namespace."""

    def __init__(self, *, netns: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.netns = netns

    def _connect(self) -> socket.socket:
        with inside(self.netns):
            return super()._connect()


def ns_client(netns: str, address: str, protocol: int = 3, **kwargs: Any) -> redis.Redis:
    """A redis-py client that connects from ``netns``; no silent retries (a retried write could apply
    twice and hide what a test checks)."""
    host, _, port = address.rpartition(":")
    kwargs.setdefault("socket_timeout", 15)
    kwargs.setdefault("socket_connect_timeout", 5)
    kwargs.setdefault("retry", Retry(NoBackoff(), 0))
    pool = ConnectionPool(connection_class=NsConnection, netns=netns, host=host, port=int(port),
                          protocol=protocol, **kwargs)
    return redis.Redis(connection_pool=pool)


@dataclass
class NsNode(Node):
    """A raftkv-server run in ``netns``; its clients connect from ``client_netns`` to ``client_address``
    (its --host:--port unless it advertises another)."""

    netns: str = ""
    client_netns: str = ""
    client_address: str = ""

    @property
    def address(self) -> str:
        return self.client_address or f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *super().command()]

    def client(self, protocol: int = 3, **kwargs: Any) -> redis.Redis:
        return ns_client(self.client_netns, self.address, protocol, **kwargs)


@dataclass
class Forwarder:
    """One forwarder process (see forwarder.py) in ``netns``, relaying ``listen`` to ``to``."""

    netns: str
    listen: str
    to: str
    flags: tuple[str, ...] = ()
    proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns, sys.executable, str(FORWARDER), "--listen", self.listen,
             "--to", self.to, "--seed", str(zlib.crc32(self.listen.encode())), *self.flags],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], _FORWARDER_READY_S)
        if not ready or self.proc.stdout.readline().strip() != "ready":
            self.stop()
            raise AssertionError(f"the forwarder {self.listen} -> {self.to} in {self.netns} did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT_S)
            assert self.proc.stdout is not None
            self.proc.stdout.close()
            self.proc = None


def shaping(delay_ms: float = 0, jitter_ms: float = 0, loss: float = 0) -> tuple[str, ...]:
    return ("--delay-ms", str(delay_ms), "--jitter-ms", str(jitter_ms), "--loss", str(loss))


@dataclass
class NsCluster(Cluster):
    net: Net
    client_host: Host  # where the tests' clients connect from
    hosts: list[Host]  # the founders'
    add_node: Callable[[str, list[str]], NsNode]  # (name, args): one more node, on a new host, not waited for
    forwarders: list[Forwarder] = field(default_factory=list)  # those on the peer links

    @property
    def client_netns(self) -> str:
        return self.client_host.netns

    def host_of(self, node: Node) -> Host:
        return next(h for h in self.net.hosts.values() if h.ip == node.host)

    def run_in_client_ns(self, *argv: str, timeout_s: float = _COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.client_netns, *argv], capture_output=True, text=True,
                              timeout=timeout_s)

    def kvsctl(self, address: str, *argv: str) -> str:
        """kvsctl's output; fails the test with its stderr when it exits non-zero."""
        done = self.run_in_client_ns(str(KVSCTL), "-a", address, *argv)
        assert done.returncode == 0, f"kvsctl -a {address} {' '.join(argv)}: {done.stderr.strip()}"
        return done.stdout

    def shape(self, flags: tuple[str, ...]) -> None:
        """Restart every forwarder with ``flags`` (see :func:`shaping`); peers reconnect on their own."""
        for forwarder in self.forwarders:
            forwarder.stop()
            forwarder.flags = flags
            forwarder.start()

    def workload(self, history: History, clients: int, seed: int, keys: tuple[str, ...]) -> Workload:
        """tests/fault's recording clients on every node, connecting from the client namespace."""
        return NsWorkload(self.client_netns, [n.address for n in self.nodes], keys, clients, history, seed)


class NsWorkload(Workload):
    """A :class:`Workload` whose client threads each move into ``netns`` first."""

    def __init__(self, netns: str, addresses: list[str], keys: tuple[str, ...], clients: int, history: History,
                 seed: int) -> None:
        super().__init__(addresses, keys, clients, history, seed)
        self.netns = netns

    def _run(self, client: Client) -> None:
        enter(self.netns)  # this thread only, for the rest of its life: its sockets are made there
        super()._run(client)


@pytest.fixture
def make_cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., NsCluster]]:
    """``make(n, forwarded=False, flags=(), workers=1, advertised=False, extra_args=())`` starts n nodes
    from one --initial-cluster list, each in its own namespace, and waits for them to serve. With
    ``advertised`` each node binds its own address but advertises (``--advertise-client``) its host's
    alias, where a forwarder relays to it."""
    nets: list[Net] = []
    nodes: list[NsNode] = []
    forwarders: list[Forwarder] = []

    def make(n: int, forwarded: bool = False, flags: tuple[str, ...] = (), workers: int = 1,
             advertised: bool = False, extra_args: tuple[str, ...] = ()) -> NsCluster:
        net = Net()
        nets.append(net)
        client_host = net.add_host("client")
        hosts = [net.add_host(f"n{i}", alias=advertised) for i in range(n)]
        client_addrs = [f"{h.alias if advertised else h.ip}:{CLIENT_PORT}" for h in hosts]
        spec = ",".join(f"{a}@{h.ip}:{PEER_PORT}" for a, h in zip(client_addrs, hosts))
        listen_port = FORWARDED_PEER_PORT if forwarded else PEER_PORT

        def forward(host: Host, listen: str, to: str, flags: tuple[str, ...]) -> Forwarder:
            forwarder = Forwarder(host.netns, listen, to, flags)
            forwarders.append(forwarder)
            forwarder.start()
            return forwarder

        def new_node(host: Host, args: list[str], client_address: str = "") -> NsNode:
            node = NsNode(data_dir=tmp_path / f"data-{host.netns}", log_path=tmp_path / f"{host.netns}.log",
                          port=CLIENT_PORT, workers=workers, host=host.ip, netns=host.netns,
                          client_netns=client_host.netns, client_address=client_address,
                          extra_args=["--no-protected-mode", *args, *extra_args])
            nodes.append(node)
            return node

        founders: list[Node] = []
        for host, address in zip(hosts, client_addrs):
            args = ["--peer-port", str(listen_port), "--initial-cluster", spec]
            founders.append(new_node(host, [*args, "--advertise-client", address] if advertised else args,
                                     address if advertised else ""))

        def add_node(name: str, args: list[str]) -> NsNode:
            node = new_node(net.add_host(name), ["--peer-port", str(PEER_PORT), *args])
            node.start(wait=False)
            cluster.nodes.append(node)
            return node

        cluster = NsCluster(founders, net, client_host, hosts, add_node)
        for host, address in zip(hosts, client_addrs):
            if forwarded:
                cluster.forwarders.append(
                    forward(host, f"{host.ip}:{PEER_PORT}", f"{host.ip}:{FORWARDED_PEER_PORT}", flags))
            if advertised:  # clients reach the node only through its alias, as through a proxy or NAT
                forward(host, address, f"{host.ip}:{CLIENT_PORT}", ())

        for node in cluster.nodes:
            node.start(wait=False)
        for node in cluster.nodes:
            node.wait_ready()
        return cluster

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    try:
        for node in nodes:
            node.stop()
            if failed:
                print(f"----- log of raftkv-server on {node.address} ({node.netns}) -----\n{node.log()}")
        for forwarder in forwarders:
            forwarder.stop()
    finally:
        for net in nets:
            net.close()
