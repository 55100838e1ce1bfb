"""Real raftkv-server processes on free 127.0.0.1 ports, stopped by pid after each test."""
from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.redis_server import RedisConnection, RedisServer

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0


_handed_out: set[int] = set()


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on, below the kernel's ephemeral range (so outgoing
    connections do not take it before the server binds it), never the same one twice per run."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(20000, 32000)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port on 127.0.0.1")


def wait_for(condition: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.02) -> object:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except Exception as exc:  # the condition's own failures are retried until the deadline
            last_error = exc
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} (last error: {last_error!r})")


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def is_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class Node:
    """One raftkv-server (supervisor + Raft process + workers) run by a test."""

    data_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    workers: int = 2
    host: str = "127.0.0.1"
    extra_args: list[str] = field(default_factory=list)
    # redis-py's ssl_* options when clients reach the node over TLS on ``port`` (plain port 0); the
    # certificate options themselves go in extra_args.
    tls: dict[str, object] | None = None
    proc: subprocess.Popen | None = None
    _known_pids: set[int] = field(default_factory=set)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def peer_address(self) -> str:
        return f"{self.host}:{self.extra_args[self.extra_args.index('--peer-port') + 1]}"

    def __post_init__(self) -> None:
        if "--peer-port" not in self.extra_args and "--initial-cluster" not in self.extra_args:
            # The default (port + 10000) may fall in the kernel's ephemeral range, where outgoing
            # connections take ports: give every node a port known to be free.
            self.extra_args = [*self.extra_args, "--peer-port", str(free_port())]

    def command(self) -> list[str]:
        ports = ["--port", str(self.port)] if self.tls is None else ["--port", "0", "--tls-port", str(self.port)]
        return [sys.executable, "-m", "raftkv.server_cli", "--host", self.host, *ports,
                "--workers", str(self.workers), "--data-dir", str(self.data_dir), *self.extra_args]

    def start(self, wait: bool = True) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        self._known_pids.add(self.proc.pid)
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"raftkv-server exited with {self.proc.returncode}:\n{self.log()}")
            with self.client(protocol=2) as c:
                if "--join" in self.extra_args and not self.log().count("joined cluster"):
                    try:
                        c.get("__ready__")
                    except redis.ResponseError as exc:
                        return "waiting to join" in str(exc)  # up, waiting to be added
                # A linearizable read needs a leader and an applied log, and writes nothing; a keyless one
                # is served by a sharded node too, whatever slots it owns.
                c.dbsize()
                return True

        try:
            wait_for(ready, START_TIMEOUT_S, f"raftkv-server on {self.address}")
        except AssertionError as exc:
            if "exited with" in str(exc):
                raise
            raise AssertionError(f"{exc}\n{self.log()}") from None
        self.pids  # noqa: B018 (remember the children, so a test's kill -9 of the supervisor still cleans them)

    @property
    def supervisor_pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def child_pids(self) -> list[int]:
        return children_of(self.supervisor_pid)

    @property
    def pids(self) -> list[int]:
        pids = [self.supervisor_pid, *self.child_pids]
        self._known_pids.update(pids)
        return pids

    def raft_pid(self) -> int:
        pids = [p for p in self.child_pids if _comm(p) == "raftkv-raft"]
        assert len(pids) == 1, f"raft processes of {self.supervisor_pid}: {pids}"
        return pids[0]

    def worker_pids(self) -> list[int]:
        return [p for p in self.child_pids if _comm(p).startswith("raftkv-worker")]

    def client(self, protocol: int = 3, **kwargs: object) -> redis.Redis:
        kwargs.setdefault("socket_timeout", 15)
        # No silent retries: a retried write could apply twice and hide what a test checks.
        kwargs.setdefault("retry", Retry(NoBackoff(), 0))
        if self.tls is not None:
            kwargs = {"ssl": True, **self.tls, **kwargs}
        return redis.Redis(host=self.host, port=self.port, protocol=protocol, **kwargs)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM the supervisor and wait; whatever is left of the node is then killed by pid."""
        if self.proc is None:
            return None
        self.pids  # noqa: B018 (the property records the children)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                pass
        self.kill_all()
        return self.proc.returncode

    def kill_all(self) -> None:
        """kill -9 every process of the node we know of (the whole node crashing at once)."""
        if self.proc is None:
            return
        self.pids  # noqa: B018 (the property records the children)
        for pid in self._known_pids:
            if is_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc.wait(STOP_TIMEOUT_S)
        wait_for(lambda: not any(is_alive(p) for p in self._known_pids), STOP_TIMEOUT_S,
                 "the node's processes to exit")
        self._known_pids.clear()

    def signal_all(self, sig: signal.Signals) -> None:
        """Send ``sig`` to every process of the node (SIGSTOP/SIGCONT pause and resume all of it)."""
        for pid in self.pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass  # a child that exited since it was listed

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


@pytest.fixture
def make_node(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Node]]:
    """Factory for nodes; every node made is stopped at the end of the test (logs printed on failure)."""
    nodes: list[Node] = []

    def make(start: bool = True, **kwargs: object) -> Node:
        n = len(nodes)
        node = Node(data_dir=tmp_path / f"data{n}", log_path=tmp_path / f"node{n}.log", **kwargs)
        nodes.append(node)
        if start:
            node.start()
        return node

    yield make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for node in nodes:
        node.stop()
        if failed:
            print(f"----- log of raftkv-server on {node.address} -----\n{node.log()}")


@pytest.fixture
def node(make_node: Callable[..., Node]) -> Node:
    return make_node()


@pytest.fixture(scope="module")
def shared_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One node for a whole module whose tests do not disturb each other's keys."""
    base = tmp_path_factory.mktemp("shared-node")
    node = Node(data_dir=base / "data", log_path=base / "node.log")
    node.start()
    yield node
    node.stop()


def assert_cases_match_redis(port: int, reference: RedisServer, cases: dict[str, list[tuple[object, ...]]],
                             protocol: int = 2) -> None:
    """Replay each named case (from FLUSHALL on) on the node at ``port`` and on a real redis-server:
    every reply must be the same bytes."""
    ours, theirs = RedisConnection(port), reference.connect()
    try:
        if protocol == 3:
            for conn in (ours, theirs):
                conn.call([b"HELLO", b"3"])
        for name, commands in cases.items():
            for conn in (ours, theirs):
                conn.call([b"FLUSHALL"])
            for command in commands:
                argv = [a if isinstance(a, bytes) else str(a).encode() for a in command]
                assert ours.call(argv)[0] == theirs.call(argv)[0], (name, command)
    finally:
        ours.close()
        theirs.close()


@dataclass
class Cluster:
    nodes: list[Node]

    def raft_info(self, node: Node) -> dict:
        with node.client(protocol=2, socket_timeout=5) as c:
            return c.info("raft")

    def leader(self, timeout_s: float = 15.0, among: list[Node] | None = None) -> Node:
        """The node a majority of the reachable ones name as leader, once one exists."""
        candidates = among or self.nodes

        def find() -> Node | None:
            for n in candidates:
                try:
                    info = self.raft_info(n)
                except redis.RedisError:
                    continue
                if info["role"] == "leader":
                    return n
            return None

        return wait_for(find, timeout_s, "a leader")

    def followers(self, leader: Node) -> list[Node]:
        return [n for n in self.nodes if n is not leader]

    def wait_caught_up(self, timeout_s: float = 30.0) -> None:
        """Every node has applied everything the leader has committed."""
        leader = self.leader()
        commit = self.raft_info(leader)["commit_index"]
        for n in self.nodes:
            wait_for(lambda n=n: self.raft_info(n)["applied_index"] >= commit, timeout_s,
                     f"{n.address} to apply up to {commit}")


@pytest.fixture
def make_cluster(make_node: Callable[..., Node]) -> Callable[..., Cluster]:
    """Start n real nodes forming one cluster from a shared --initial-cluster list."""

    def make(n: int = 3, workers: int = 1, extra_args: list[str] | None = None,
             tls: dict[str, object] | None = None) -> Cluster:
        ports = [(free_port(), free_port()) for _ in range(n)]
        spec = ",".join(f"127.0.0.1:{p}@127.0.0.1:{pp}" for p, pp in ports)
        nodes = [
            make_node(start=False, port=p, workers=workers, tls=tls,
                      extra_args=["--peer-port", str(pp), "--initial-cluster", spec, *(extra_args or [])])
            for p, pp in ports
        ]
        for node in nodes:
            node.start(wait=False)
        for node in nodes:
            node.wait_ready()
        return Cluster(nodes)

    return make
