"""Compare raftkv with a durable redis-server, measured by redis-benchmark in the same run.

raftkv runs as one node or as a cluster of 3 or 5 (``--nodes``); every server runs on free 127.0.0.1
ports with its data in a fresh temporary directory. Redis is made as durable as raftkv (append-only
file, fsync on every write, no RDB snapshots) so the ratio compares like with like. A cluster is
measured twice per test: all clients on the leader, and the clients spread evenly over every node.
With ``--scan-keys N`` (the default 1,000,000; 0 skips it) both servers are then loaded with N keys and
read back by a full ``SCAN 0 COUNT 1000`` pass from redis-py.

Results go to stdout and to ``benchmarks/results/<UTC timestamp>.{json,md}`` plus ``results/latest.md``.
Every server is always stopped by pid, also on Ctrl-C or SIGTERM.

This is a script, not a test: the test suite never imports or runs it.

    python benchmarks/bench.py [--nodes 1] [--requests 100000] [--clients 50] [--pipeline 1,16]
                               [--tests set,get,mset,incr] [--scan-keys 1000000]
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# redis-benchmark's --csv columns (redis 7), after "test".
METRICS = ("rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms", "p95_latency_ms",
           "p99_latency_ms", "max_latency_ms")
# Ports are picked below Linux's default ephemeral range (32768 up), so that the nodes' connections to
# each other cannot take one before the server meant to listen on it binds it.
PORT_RANGE = (20000, 32000)
SCAN_COUNT = 1000
SINGLE, LEADER, ALL_NODES = "1 node", "leader", "all nodes"
ELECTION_NOTE = ("\n\\* the Raft term rose during this run, so there was an election (a starved node "
                 "missed heartbeats): its numbers are suspect.\n")


class BenchError(Exception):
    """A failure that ends the run with one ``bench: ...`` line."""


@dataclass
class Server:
    """A server process we started; ``log`` holds its stdout and stderr."""

    name: str
    port: int
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, cwd: Path) -> None:
        with self.log.open("wb") as log:
            # A session of its own: Ctrl-C in the terminal reaches only us, and we stop the server
            # (and any children it spawned, via its process group) in a known order.
            self.proc = subprocess.Popen(
                self.argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_running(self) -> None:
        """Raise BenchError, with the end of its log, if the server has exited."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} exited with status {self.proc.returncode}:\n"
                             f"{self.log_tail()}")

    def wait_ready(self, deadline: float) -> None:
        """Return once the port accepts a connection and answers PING."""
        while time.monotonic() < deadline:
            self.check_running()
            if _answers_ping(self.port):
                return
            time.sleep(0.05)
        raise BenchError(f"{self.name} did not answer PING within {READY_TIMEOUT_S:g}s:\n"
                         f"{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM, wait, then SIGKILL whatever is left of its process group (children included)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                print(f"bench: {self.name} ignored SIGTERM for {STOP_TIMEOUT_S:g}s; killing it",
                      file=sys.stderr)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the group is already empty: a clean stop
        self.proc.wait(timeout=STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def _signals_ignored() -> Iterator[None]:
    """Hold off Ctrl-C and SIGTERM so that a second one cannot cut the servers' shutdown short."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports on 127.0.0.1 that nothing listens on right now."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randrange(*PORT_RANGE)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    return ports


def raft_info(port: int) -> dict[str, Any]:
    """The ``INFO raft`` section of the node on ``port``."""
    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=5.0) as client:
        info: dict[str, Any] = client.info("raft")
        return info


def wait_settled(nodes: list[Server], timeout_s: float = READY_TIMEOUT_S) -> tuple[Server, int]:
    """The leader and its term, once every node names it and has applied all it has committed."""
    deadline = time.monotonic() + timeout_s
    infos: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        for node in nodes:
            node.check_running()
        try:
            infos = [raft_info(node.port) for node in nodes]
        except redis.RedisError:
            time.sleep(0.05)
            continue
        leaders = [node for node, info in zip(nodes, infos) if info["role"] == "leader"]
        if len(leaders) == 1:
            leader_info = infos[nodes.index(leaders[0])]
            if all(info["leader_addr"] == f"127.0.0.1:{leaders[0].port}"
                   and info["applied_index"] == leader_info["commit_index"] for info in infos):
                return leaders[0], leader_info["term"]
        time.sleep(0.05)
    states = "; ".join(f"{node.name}: role={info.get('role')} leader={info.get('leader_addr')} "
                       f"applied={info.get('applied_index')}" for node, info in zip(nodes, infos))
    raise BenchError(f"raftkv did not settle on one leader within {timeout_s:g}s ({states})")


def split(total: int, parts: int) -> list[int]:
    """``total`` shared out over ``parts`` as evenly as whole numbers allow."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def run_benchmark(name: str, ports: list[int], test: str, args: argparse.Namespace, pipeline: int,
                  deadline: float) -> dict[str, dict[str, Any]]:
    """One redis-benchmark per port, all at once, sharing ``--clients`` and ``--requests`` evenly.

    Returns {test label: metrics}: the throughputs summed and, for each latency column, the worst of
    the ports; with more than one port the separate results are kept under ``per_port``.
    """
    print(f"bench: {test}, pipeline {pipeline}, {name} ...", file=sys.stderr, flush=True)
    procs: list[subprocess.Popen[str]] = []
    try:
        for port, clients, requests in zip(ports, split(args.clients, len(ports)),
                                           split(args.requests, len(ports))):
            argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", test,
                    "-n", str(requests), "-c", str(clients), "-d", str(args.data_size), "--csv"]
            if pipeline > 1:
                argv += ["-P", str(pipeline)]
            procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        outputs = []
        for port, proc in zip(ports, procs):
            # redis-benchmark retries forever when a server goes away, so the timeout is essential.
            stdout, stderr = proc.communicate(timeout=_remaining(deadline, args, name))
            if proc.returncode != 0:
                raise BenchError(f"redis-benchmark against {name} failed ({proc.returncode}): "
                                 f"{stderr.strip() or stdout.strip()}")
            outputs.append({test_name: {**metrics, "port": port}
                            for test_name, metrics in parse_csv(stdout).items()})
    except subprocess.TimeoutExpired:
        raise BenchError(f"redis-benchmark {test} against {name} (pipeline {pipeline}) did not "
                         f"finish within the --max-seconds budget") from None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return {test_name: combine([output[test_name] for output in outputs]) for test_name in outputs[0]}


def combine(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Concurrent runs as one: throughputs summed, each latency column the worst of them."""
    if len(parts) == 1:
        return parts[0]
    combined: dict[str, Any] = {name: max(part[name] for part in parts) for name in METRICS}
    combined["rps"] = sum(part["rps"] for part in parts)
    combined["per_port"] = parts
    return combined


def _remaining(deadline: float, args: argparse.Namespace, what: str) -> float:
    timeout_s = deadline - time.monotonic()
    if timeout_s <= 0:
        raise BenchError(f"out of time (--max-seconds {args.max_seconds:g}) before {what}")
    return timeout_s


def parse_csv(text: str) -> dict[str, dict[str, float]]:
    """Parse redis-benchmark --csv output; raises BenchError if the columns are not redis 7's."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or any(name not in rows[0] for name in ("test", *METRICS)):
        raise BenchError(f"unexpected redis-benchmark output (redis 7 --csv expected):\n{text}")
    return {row["test"]: {name: float(row[name]) for name in METRICS} for row in rows}


def compare(results: dict[tuple[str, int], dict[str, dict[str, Any]]], pipelines: list[int],
            modes: list[str]) -> list[dict[str, Any]]:
    """One row per (pipeline, test, mode): both servers' numbers and raftkv's throughput ratio."""
    rows = []
    for pipeline in pipelines:
        baseline = results[("redis", pipeline)]
        for test, redis_metrics in baseline.items():
            for mode in modes:
                raftkv_metrics = results[(mode, pipeline)].get(test)
                if raftkv_metrics is None:
                    continue
                ratio = raftkv_metrics["rps"] / redis_metrics["rps"] if redis_metrics["rps"] else None
                rows.append({"test": test, "pipeline": pipeline, "mode": mode,
                             "raftkv": raftkv_metrics, "redis": redis_metrics, "ratio": ratio})
    return rows


def scan_phase(raftkv_port: int, redis_port: int, args: argparse.Namespace,
               deadline: float) -> dict[str, Any]:
    """Load ``--scan-keys`` keys into each server with ``redis-cli --pipe``, then time one full SCAN
    pass over its key space from redis-py; returns both servers' numbers and raftkv's ratios."""
    payload = set_commands(args.scan_keys, b"x" * args.data_size)
    measured: dict[str, Any] = {}
    for name, port in (("raftkv", raftkv_port), ("redis", redis_port)):
        load_s = load_keys(name, port, payload, args, deadline)
        print(f"bench: SCAN pass over {name} ...", file=sys.stderr, flush=True)
        scanned, scan_s = full_scan(port)
        if scanned < args.scan_keys:
            raise BenchError(f"a full SCAN of {name} returned {scanned:,} keys; "
                             f"{args.scan_keys:,} were loaded")
        measured[name] = {"load_s": load_s, "load_keys_per_s": args.scan_keys / load_s,
                          "scanned_keys": scanned, "scan_s": scan_s, "scan_keys_per_s": scanned / scan_s}
    raftkv, baseline = measured["raftkv"], measured["redis"]
    return {"keys": args.scan_keys, "count": SCAN_COUNT, **measured,
            "load_ratio": raftkv["load_keys_per_s"] / baseline["load_keys_per_s"],
            "scan_ratio": raftkv["scan_keys_per_s"] / baseline["scan_keys_per_s"]}


def set_commands(count: int, value: bytes) -> bytes:
    """``SET scan:<i> value`` for i below ``count``, encoded as RESP for ``redis-cli --pipe``."""
    return b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value)
                    for key in (b"scan:%d" % i for i in range(count)))


def load_keys(name: str, port: int, payload: bytes, args: argparse.Namespace, deadline: float) -> float:
    """Send ``payload`` (SET commands) through ``redis-cli --pipe``; returns the seconds it took."""
    print(f"bench: loading {args.scan_keys:,} keys into {name} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    try:
        done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "--pipe"], input=payload,
                              capture_output=True, timeout=_remaining(deadline, args, f"loading {name}"))
    except subprocess.TimeoutExpired:
        raise BenchError(f"loading {name} did not finish within the --max-seconds budget") from None
    elapsed = time.perf_counter() - started
    summary = f"errors: 0, replies: {args.scan_keys}".encode()
    if done.returncode != 0 or summary not in done.stdout:
        raise BenchError(f"redis-cli --pipe into {name} failed ({done.returncode}): "
                         f"{(done.stderr or done.stdout).decode(errors='replace').strip()}")
    return elapsed


def full_scan(port: int) -> tuple[int, float]:
    """``SCAN 0 COUNT 1000`` until the cursor is 0 again; returns (keys returned, seconds)."""
    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=60.0) as client:
        client.ping()  # connect before the clock starts
        started = time.perf_counter()
        cursor, keys = client.scan(0, count=SCAN_COUNT)
        scanned = len(keys)
        while cursor:
            cursor, keys = client.scan(cursor, count=SCAN_COUNT)
            scanned += len(keys)
        return scanned, time.perf_counter() - started


def render_table(headers: list[str], body: list[list[str]], text_columns: int = 1) -> str:
    """A Markdown table whose columns are also aligned for reading in a terminal: the first
    ``text_columns`` to the left, the numbers after them to the right."""
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(headers)]

    def line(cells: list[str], left: bool = False) -> str:
        padded = [c.ljust(w) if left or i < text_columns else c.rjust(w)
                  for i, (c, w) in enumerate(zip(cells, widths))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ("-" if i < text_columns else ":")
                          for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers, left=True), rule, *(line(r) for r in body)]) + "\n"


def benchmark_table(rows: list[dict[str, Any]]) -> str:
    """The redis-benchmark rows: throughput of each server, the ratio, p50 and p99 latency."""
    headers = ["test", "raftkv mode", "pipeline", "raftkv ops/s", "redis ops/s", "ratio",
               "raftkv p50 ms", "raftkv p99 ms", "redis p50 ms", "redis p99 ms"]
    body = [[row["test"], row["mode"], str(row["pipeline"]), f"{row['raftkv']['rps']:,.0f}",
             f"{row['redis']['rps']:,.0f}", _ratio(row["ratio"], row["raftkv"]["elections"]),
             f"{row['raftkv']['p50_latency_ms']:.3f}", f"{row['raftkv']['p99_latency_ms']:.3f}",
             f"{row['redis']['p50_latency_ms']:.3f}", f"{row['redis']['p99_latency_ms']:.3f}"]
            for row in rows]
    table = render_table(headers, body, text_columns=2)
    return table + ELECTION_NOTE if any(row["raftkv"]["elections"] for row in rows) else table


def scan_table(scan: dict[str, Any]) -> str:
    """Loading the keys and the full SCAN pass: keys/s of each server, the ratio, seconds of each."""
    headers = ["phase", "raftkv keys/s", "redis keys/s", "ratio", "raftkv s", "redis s"]
    raftkv, baseline = scan["raftkv"], scan["redis"]
    body = [[title, f"{raftkv[phase + '_keys_per_s']:,.0f}", f"{baseline[phase + '_keys_per_s']:,.0f}",
             _ratio(scan[phase + "_ratio"], raftkv["elections"]), f"{raftkv[phase + '_s']:.2f}",
             f"{baseline[phase + '_s']:.2f}"]
            for phase, title in (("load", f"load {scan['keys']:,} keys (redis-cli --pipe)"),
                                 ("scan", f"SCAN 0 COUNT {scan['count']} full pass"))]
    table = render_table(headers, body)
    return table + ELECTION_NOTE if raftkv["elections"] else table


def _ratio(ratio: float | None, elections: int) -> str:
    """The ratio as shown in a table, marked when Raft held an election while it was measured."""
    text = "-" if ratio is None else f"{ratio:.2f}"
    return text + "*" if elections else text


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def _nodes(count: int) -> str:
    return "1 node" if count == 1 else f"{count} nodes"


def write_results(report: dict[str, Any], tables: str, stamp: str) -> list[Path]:
    """Write <stamp>.json, <stamp>.md and latest.md, each through a .tmp file and a rename."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    options = ", ".join(f"{k}={v}" for k, v in report["options"].items())
    load = report["load_average"]
    terms = report["raft_term"]
    markdown = (f"# raftkv vs redis-server, {report['started_utc']}\n\n"
                f"- raftkv commit: {report['commit']}\n- {report['redis_version']}\n"
                f"- machine: {report['machine']}, {report['cpus']} CPUs\n- options: {options}\n"
                f"- raftkv: {_nodes(report['options']['nodes'])}, {report['options']['workers']} workers "
                f"each; Raft term {terms['start']} at the start, {terms['end']} at the end\n"
                f"- load average (1 min) before / after: {load['before']:.2f} / {load['after']:.2f}\n"
                f"- redis: {shlex.join(report['redis_argv'])}\n\n{tables}")
    outputs = {f"{stamp}.json": json.dumps(report, indent=2) + "\n", f"{stamp}.md": markdown,
               "latest.md": markdown}
    paths = []
    for name, text in outputs.items():
        path = RESULTS_DIR / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        paths.append(path)
    return paths


def check_tools(args: argparse.Namespace) -> None:
    tools = ("redis-server", "redis-benchmark", *(("redis-cli",) if args.scan_keys else ()))
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise BenchError(f"{' and '.join(missing)} not found; install them with: "
                         "apt-get install redis-server redis-tools")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000, help="requests per test (-n)")
    parser.add_argument("--clients", type=int, default=50, help="parallel connections (-c)")
    parser.add_argument("--pipeline", default="1,16",
                        help="comma-separated pipeline depths (-P), one run each")
    parser.add_argument("--tests", default="set,get,mset,incr",
                        help="comma-separated redis-benchmark tests (-t), one run each")
    parser.add_argument("--data-size", type=int, default=3, help="value size in bytes (-d)")
    parser.add_argument("--workers", type=int, default=4, help="raftkv worker processes per node")
    parser.add_argument("--nodes", type=int, choices=(1, 3, 5), default=1, help="raftkv cluster size")
    parser.add_argument("--scan-keys", type=int, default=1_000_000,
                        help="keys to load into each server for the full SCAN pass; 0 skips it")
    parser.add_argument("--max-seconds", type=float, default=1800.0,
                        help="time budget for all benchmark runs and loads together")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="where the temporary data directories go (a real disk: fsync matters)")
    args = parser.parse_args(argv)
    try:
        args.pipelines = sorted({int(p) for p in args.pipeline.split(",") if p.strip()})
    except ValueError:
        parser.error(f"--pipeline takes comma-separated integers, not {args.pipeline!r}")
    if not args.pipelines or min(args.pipelines) < 1:
        parser.error("--pipeline depths must be at least 1")
    args.test_list = [t.strip() for t in args.tests.split(",") if t.strip()]
    if not args.test_list:
        parser.error("--tests names at least one redis-benchmark test")
    if min(args.clients, args.requests) < args.nodes:
        parser.error("--clients and --requests must be at least --nodes: every node gets its share")
    if args.scan_keys < 0:
        parser.error("--scan-keys must be 0 or more")
    return args


def cluster_servers(args: argparse.Namespace, tmp: Path) -> list[Server]:
    """The raftkv nodes, not started yet: one cluster on free ports, each with its own data dir."""
    ports = free_ports(2 * args.nodes)
    client_ports, peer_ports = ports[:args.nodes], ports[args.nodes:]
    initial_cluster = ",".join(f"127.0.0.1:{port}@127.0.0.1:{peer}"
                               for port, peer in zip(client_ports, peer_ports))
    nodes = []
    for i, (port, peer) in enumerate(zip(client_ports, peer_ports), start=1):
        name = "raftkv" if args.nodes == 1 else f"raftkv-{i}"
        data_dir = tmp / name
        data_dir.mkdir()
        nodes.append(Server(name, port,
                            [sys.executable, "-m", "raftkv.server_cli", "--host", "127.0.0.1", "--port", str(port),
                             "--peer-port", str(peer), "--initial-cluster", initial_cluster,
                             "--data-dir", str(data_dir), "--workers", str(args.workers)],
                            tmp / f"{name}.log"))
    return nodes


def redis_server(tmp: Path) -> Server:
    """redis-server, not started yet, as durable as raftkv: every write fsynced before its reply."""
    (tmp / "redis").mkdir()
    port = free_ports(1)[0]
    return Server("redis", port,
                  ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--appendonly", "yes",
                   "--appendfsync", "always", "--save", "", "--dir", str(tmp / "redis")],
                  tmp / "redis.log")


def run(args: argparse.Namespace) -> None:
    check_tools(args)
    started = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    deadline = time.monotonic() + args.max_seconds
    modes = [SINGLE] if args.nodes == 1 else [LEADER, ALL_NODES]
    results: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    scan = None
    with tempfile.TemporaryDirectory(prefix="raftkv-bench-", dir=args.data_root) as tmp_name:
        tmp = Path(tmp_name)
        nodes = cluster_servers(args, tmp)
        baseline = redis_server(tmp)
        servers = [*nodes, baseline]
        try:
            for server in servers:
                server.start(cwd=ROOT)
            for server in servers:
                server.wait_ready(time.monotonic() + READY_TIMEOUT_S)
            first_term = wait_settled(nodes)[1]
            for pipeline in args.pipelines:
                for test in args.test_list:
                    for mode in modes:
                        # Each run starts from a quiet cluster: followers done applying the last one.
                        leader, term = wait_settled(nodes)
                        ports = [node.port for node in nodes] if mode == ALL_NODES else [leader.port]
                        measured = run_benchmark(f"raftkv ({mode})", ports, test, args, pipeline, deadline)
                        elections = wait_settled(nodes)[1] - term
                        for metrics in measured.values():
                            metrics["elections"] = elections
                        results.setdefault((mode, pipeline), {}).update(measured)
                    results.setdefault(("redis", pipeline), {}).update(
                        run_benchmark("redis", [baseline.port], test, args, pipeline, deadline))
            if args.scan_keys:
                leader, term = wait_settled(nodes)
                scan = scan_phase(leader.port, baseline.port, args, deadline)
                scan["raftkv"]["elections"] = wait_settled(nodes)[1] - term
            last_term = wait_settled(nodes)[1]
        finally:
            with _signals_ignored():
                for server in servers:
                    server.stop()
    rows = compare(results, args.pipelines, modes)
    tables = benchmark_table(rows) + (f"\n{scan_table(scan)}" if scan else "")
    print(tables, end="")
    report = {
        "started_utc": started.isoformat(timespec="seconds"),
        "commit": _version(["git", "describe", "--always", "--dirty"]),
        "redis_version": _version(["redis-server", "--version"]),
        "machine": f"{platform.system()} {platform.machine()} Python {platform.python_version()}",
        "cpus": os.cpu_count(),
        "load_average": {"before": load_before, "after": os.getloadavg()[0]},
        "options": {"requests": args.requests, "clients": args.clients, "pipelines": args.pipelines,
                    "tests": args.tests, "data_size": args.data_size, "workers": args.workers,
                    "nodes": args.nodes, "scan_keys": args.scan_keys},
        "raft_term": {"start": first_term, "end": last_term},
        "raftkv_argv": [node.argv for node in nodes],
        "redis_argv": baseline.argv,
        "rows": rows,
        "scan": scan,
    }
    for path in write_results(report, tables, started.strftime("%Y%m%dT%H%M%SZ")):
        print(f"bench: wrote {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, through the finally that stops the servers; Ctrl-C does so also
    # when the script was started with SIGINT ignored (as a background job of a non-interactive shell).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        run(args)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
