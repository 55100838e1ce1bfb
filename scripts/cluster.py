"""Run a local raftkv cluster in the foreground: ``make cluster``.

Starts ``--nodes`` nodes on 127.0.0.1, client ports ``--base-port`` upwards, peer ports 10000 above
them, data in ``data/<client port>`` of the repository, all given the same ``--initial-cluster``.
Every node's log lines are printed prefixed by its client port. Ctrl-C (or SIGTERM) stops the cluster:
SIGTERM to each node's supervisor, a wait, then SIGKILL of whatever is left of a node's process group.
When one node exits on its own, the others are stopped as well.

    python scripts/cluster.py [--nodes 3] [--base-port 2317] [--workers 2]
"""
from __future__ import annotations

import argparse
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_ROOT = ROOT / "data"
HOST = "127.0.0.1"
PEER_PORT_OFFSET = 10000
# A node's supervisor gives its own children 10 s to stop; this leaves it room to do so.
STOP_TIMEOUT_S = 15.0


@dataclass
class Node:
    """One raftkv-server process (the supervisor) and the output it has not printed yet."""

    port: int
    peer_port: int
    data_dir: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    partial: bytes = b""

    @property
    def member(self) -> str:
        """This node's entry in ``--initial-cluster``."""
        return f"{HOST}:{self.port}@{HOST}:{self.peer_port}"

    def start(self, initial_cluster: str, workers: int) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "raftkv.server_cli", "--host", HOST, "--port", str(self.port),
                "--peer-port", str(self.peer_port), "--data-dir", str(self.data_dir),
                "--workers", str(workers), "--initial-cluster", initial_cluster]
        # A session of its own: Ctrl-C reaches only this script, which stops the nodes itself.
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)

    def pump(self) -> bool:
        """Print the complete lines the node has written so far; False once its output is closed."""
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            try:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
            except BlockingIOError:
                return True
            if not chunk:
                self._emit(self.partial)
                self.partial = b""
                return False
            *lines, self.partial = (self.partial + chunk).split(b"\n")
            for line in lines:
                self._emit(line)

    def _emit(self, line: bytes) -> None:
        if line:
            sys.stdout.buffer.write(b"%d | %s\n" % (self.port, line))
            sys.stdout.flush()

    def running(self) -> bool:
        """Whether the supervisor is still running. One that has exited is left unreaped (a zombie), so
        that its pid, which is also its process group's id, cannot be reused before ``stop`` is done."""
        assert self.proc is not None
        return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None

    def send_signal(self, signum: int) -> None:
        """Signal the supervisor while it runs; once it has exited, whatever is left of its group."""
        assert self.proc is not None
        try:
            if self.running():
                os.kill(self.proc.pid, signum)
            else:
                os.killpg(self.proc.pid, signum)
        except ProcessLookupError:
            pass  # nothing left to signal


def follow(nodes: list[Node]) -> Node:
    """Print the nodes' output until one of them exits; returns that node."""
    with selectors.DefaultSelector() as selector:
        for node in nodes:
            assert node.proc is not None and node.proc.stdout is not None
            selector.register(node.proc.stdout, selectors.EVENT_READ, node)
        while True:
            for key, _ in selector.select(timeout=1.0):
                if not key.data.pump():
                    selector.unregister(key.fileobj)
            for node in nodes:
                if not node.running():
                    node.pump()
                    return node


def stop(nodes: list[Node]) -> None:
    """SIGTERM each node, print their last lines while they stop, then SIGKILL what is left of each
    node's process group (children of a supervisor that died, or a supervisor past the deadline)."""
    started = [node for node in nodes if node.proc is not None]
    for node in started:
        node.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while any(node.running() for node in started) and time.monotonic() < deadline:
        for node in started:
            node.pump()
        time.sleep(0.05)
    for node in started:
        assert node.proc is not None
        if node.running():
            print(f"cluster: node {node.port} did not stop within {STOP_TIMEOUT_S:g}s; killing it",
                  file=sys.stderr)
        try:
            os.killpg(node.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the group is already empty: a clean stop
        node.proc.wait()
        node.pump()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=3, help="number of nodes")
    parser.add_argument("--base-port", type=int, default=2317,
                        help="client port of the first node; the others follow it")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per node")
    args = parser.parse_args(argv)
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")
    if not 1 <= args.base_port <= 65535 - PEER_PORT_OFFSET - args.nodes + 1:
        parser.error(f"--base-port leaves no room for {args.nodes} client and peer ports")
    return args


def run_in_foreground(nodes: list[Node], start: Callable[[], str],
                      failures: tuple[type[Exception], ...] = ()) -> int:
    """Start the nodes with ``start`` (which says what runs), print their output until one of them exits,
    stop them all on Ctrl-C, SIGTERM, a node exiting or one of ``failures`` raised while starting; the
    script's exit status."""
    # Ctrl-C and SIGTERM unwind through the finally that stops the nodes, also when this script was
    # started with SIGINT ignored (as a background job of a non-interactive shell is).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        print(f"cluster: {start()}; Ctrl-C stops them", file=sys.stderr)
        exited = follow(nodes)
        print(f"cluster: node {exited.port} exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cluster: stopping", file=sys.stderr)
        return 130
    except failures as exc:
        print(f"cluster: {exc}; stopping", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the nodes' shutdown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stop(nodes)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    nodes = [Node(port, port + PEER_PORT_OFFSET, DATA_ROOT / str(port))
             for port in range(args.base_port, args.base_port + args.nodes)]

    def start() -> str:
        initial_cluster = ",".join(node.member for node in nodes)
        for node in nodes:
            node.start(initial_cluster, args.workers)
        return (f"{args.nodes} nodes on {HOST} ports {nodes[0].port}-{nodes[-1].port}, data in {DATA_ROOT}/<port>; "
                f"try: redis-cli -p {nodes[0].port} INFO raft")
    return run_in_foreground(nodes, start)


if __name__ == "__main__":
    sys.exit(main())
