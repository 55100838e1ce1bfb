"""Compare raftkv with a durable redis-server, measured by redis-benchmark in the same run.

Both servers run on free 127.0.0.1 ports with their data in a fresh temporary directory; redis is made
as durable as raftkv (append-only file, fsync on every write, no RDB snapshots) so the ratio compares
like with like. Results go to stdout and to ``benchmarks/results/<UTC timestamp>.{json,md}`` plus
``results/latest.md``. Both servers are always stopped by pid, also on Ctrl-C or SIGTERM.

This is a script, not a test: the test suite never imports or runs it.

    python benchmarks/bench.py [--requests 100000] [--clients 50] [--pipeline 1,16] [--tests set,get]
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# redis-benchmark's --csv columns (redis 7), after "test".
METRICS = ("rps", "avg_latency_ms", "min_latency_ms", "p50_latency_ms", "p95_latency_ms",
           "p99_latency_ms", "max_latency_ms")


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

    def wait_ready(self, deadline: float) -> None:
        """Return once the port accepts a connection and answers PING."""
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with status {self.proc.returncode}"
                                 f" while starting:\n{self.log_tail()}")
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


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_benchmark(server: Server, args: argparse.Namespace, pipeline: int,
                  deadline: float) -> dict[str, dict[str, float]]:
    """One redis-benchmark run; returns {test name: {metric: value}}."""
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port), "-t", args.tests,
            "-n", str(args.requests), "-c", str(args.clients), "-d", str(args.data_size), "--csv"]
    if pipeline > 1:
        argv += ["-P", str(pipeline)]
    print(f"bench: {server.name}, pipeline {pipeline} ...", file=sys.stderr, flush=True)
    timeout_s = deadline - time.monotonic()
    if timeout_s <= 0:
        raise BenchError(f"out of time (--max-seconds {args.max_seconds:g}) before {server.name}")
    try:
        # redis-benchmark retries forever when a server goes away, so the timeout is essential.
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BenchError(f"redis-benchmark against {server.name} (pipeline {pipeline}) did not "
                         f"finish within the --max-seconds budget") from None
    if done.returncode != 0:
        raise BenchError(f"redis-benchmark against {server.name} failed ({done.returncode}): "
                         f"{done.stderr.strip() or done.stdout.strip()}")
    return parse_csv(done.stdout)


def parse_csv(text: str) -> dict[str, dict[str, float]]:
    """Parse redis-benchmark --csv output; raises BenchError if the columns are not redis 7's."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or any(name not in rows[0] for name in ("test", *METRICS)):
        raise BenchError(f"unexpected redis-benchmark output (redis 7 --csv expected):\n{text}")
    return {row["test"]: {name: float(row[name]) for name in METRICS} for row in rows}


def compare(results: dict[tuple[str, int], dict[str, dict[str, float]]],
            pipelines: list[int]) -> list[dict[str, Any]]:
    """One row per (test, pipeline): both servers' numbers and raftkv's throughput ratio to redis."""
    rows = []
    for pipeline in pipelines:
        raftkv, redis = results[("raftkv", pipeline)], results[("redis", pipeline)]
        for test in raftkv:
            if test not in redis:
                continue
            rps_ratio = raftkv[test]["rps"] / redis[test]["rps"] if redis[test]["rps"] else None
            rows.append({"test": test, "pipeline": pipeline, "raftkv": raftkv[test],
                         "redis": redis[test], "ratio": rps_ratio})
    return rows


def render_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table whose columns are also aligned for reading in a terminal."""
    headers = ["test", "pipeline", "raftkv ops/s", "redis ops/s", "ratio", "raftkv p50 ms",
               "raftkv p99 ms", "redis p50 ms", "redis p99 ms"]
    body = [[row["test"], str(row["pipeline"]), f"{row['raftkv']['rps']:,.0f}",
             f"{row['redis']['rps']:,.0f}",
             "-" if row["ratio"] is None else f"{row['ratio']:.2f}",
             f"{row['raftkv']['p50_latency_ms']:.3f}", f"{row['raftkv']['p99_latency_ms']:.3f}",
             f"{row['redis']['p50_latency_ms']:.3f}", f"{row['redis']['p99_latency_ms']:.3f}"]
            for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(headers)]

    def line(cells: list[str], left: bool = False) -> str:
        padded = [c.ljust(w) if left or i == 0 else c.rjust(w)
                  for i, (c, w) in enumerate(zip(cells, widths))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ("-" if i == 0 else ":") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers, left=True), rule, *(line(r) for r in body)]) + "\n"


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, cwd=ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() or "unknown"


def write_results(report: dict[str, Any], table: str, stamp: str) -> list[Path]:
    """Write <stamp>.json, <stamp>.md and latest.md, each through a .tmp file and a rename."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    options = ", ".join(f"{k}={v}" for k, v in report["options"].items())
    markdown = (f"# raftkv vs redis-server, {report['started_utc']}\n\n"
                f"- raftkv commit: {report['commit']}\n- {report['redis_version']}\n"
                f"- machine: {report['machine']}, {report['cpus']} CPUs\n- options: {options}\n"
                f"- redis: {shlex.join(report['redis_argv'])}\n\n{table}")
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


def check_tools() -> None:
    missing = [tool for tool in ("redis-server", "redis-benchmark") if shutil.which(tool) is None]
    if missing:
        raise BenchError(f"{' and '.join(missing)} not found; install them with: "
                         "apt-get install redis-server redis-tools")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000, help="requests per test (-n)")
    parser.add_argument("--clients", type=int, default=50, help="parallel connections (-c)")
    parser.add_argument("--pipeline", default="1,16",
                        help="comma-separated pipeline depths (-P), one run each")
    parser.add_argument("--tests", default="set,get", help="redis-benchmark tests (-t)")
    parser.add_argument("--data-size", type=int, default=3, help="value size in bytes (-d)")
    parser.add_argument("--workers", type=int, default=4, help="raftkv worker processes")
    parser.add_argument("--nodes", type=int, choices=(1, 3), default=1,
                        help="raftkv cluster size (only 1 for now)")
    parser.add_argument("--max-seconds", type=float, default=1800.0,
                        help="time budget for all benchmark runs together")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="where the temporary data directories go (a real disk: fsync matters)")
    args = parser.parse_args(argv)
    try:
        args.pipelines = sorted({int(p) for p in args.pipeline.split(",") if p.strip()})
    except ValueError:
        parser.error(f"--pipeline takes comma-separated integers, not {args.pipeline!r}")
    if not args.pipelines or min(args.pipelines) < 1:
        parser.error("--pipeline depths must be at least 1")
    return args


def run(args: argparse.Namespace) -> None:
    if args.nodes != 1:
        raise BenchError(f"--nodes {args.nodes} is not supported yet: the benchmark runs a single "
                         "node until the cluster lands; use --nodes 1")
    check_tools()
    started = datetime.now(timezone.utc)
    deadline = time.monotonic() + args.max_seconds
    with tempfile.TemporaryDirectory(prefix="raftkv-bench-", dir=args.data_root) as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "raftkv").mkdir()
        (tmp / "redis").mkdir()
        raftkv_port, redis_port = free_port(), free_port()
        servers = [
            Server("raftkv", raftkv_port,
                   [sys.executable, "-m", "raftkv.cli", "--port", str(raftkv_port),
                    "--data-dir", str(tmp / "raftkv"), "--workers", str(args.workers)],
                   tmp / "raftkv.log"),
            Server("redis", redis_port,
                   ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                    "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                    "--dir", str(tmp / "redis")],
                   tmp / "redis.log"),
        ]
        results = {}
        try:
            for server in servers:
                server.start(cwd=ROOT)
            for server in servers:
                server.wait_ready(time.monotonic() + READY_TIMEOUT_S)
            for pipeline in args.pipelines:
                for server in servers:
                    results[(server.name, pipeline)] = run_benchmark(server, args, pipeline, deadline)
        finally:
            with _signals_ignored():
                for server in servers:
                    server.stop()
    rows = compare(results, args.pipelines)
    table = render_table(rows)
    print(table, end="")
    report = {
        "started_utc": started.isoformat(timespec="seconds"),
        "commit": _version(["git", "describe", "--always", "--dirty"]),
        "redis_version": _version(["redis-server", "--version"]),
        "machine": f"{platform.system()} {platform.machine()} Python {platform.python_version()}",
        "cpus": os.cpu_count(),
        "options": {"requests": args.requests, "clients": args.clients, "pipelines": args.pipelines,
                    "tests": args.tests, "data_size": args.data_size, "workers": args.workers,
                    "nodes": args.nodes},
        "raftkv_argv": servers[0].argv,
        "redis_argv": servers[1].argv,
        "rows": rows,
    }
    for path in write_results(report, table, started.strftime("%Y%m%dT%H%M%SZ")):
        print(f"bench: wrote {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, through the finally that stops the servers.
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
