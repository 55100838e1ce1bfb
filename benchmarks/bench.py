"""Compare raftkv with a durable redis-server, measured by redis-benchmark in the same run.

raftkv runs as one node or as a cluster of 3 or 5 (``--nodes``); every server runs on free 127.0.0.1
ports with its data in a fresh temporary directory. Redis is made as durable as raftkv (append-only
file, fsync on every write, no RDB snapshots) so the ratio compares like with like. A cluster is
measured twice per test: all clients on the leader, and the clients spread evenly over every node.
With ``--scan-keys N`` (the default 1,000,000; 0 skips it) both servers are then loaded with N keys and
read back by a full ``SCAN 0 COUNT 1000`` pass from redis-py. Every run also reports each server's CPU
µs per operation, summed over its processes and by process kind, read from /proc. ``--sustained N``
replaces all that with N SETs over 100,000 keys, reported second by second and checked against bounds.

Results go to stdout and to ``benchmarks/results/<UTC timestamp>.{json,md}`` plus ``results/latest.md``,
and a plot to ``<UTC timestamp>.png`` when matplotlib is installed (``pip install -e '.[bench]'``).
Every server is always stopped by pid, also on Ctrl-C or SIGTERM.

This is a script, not a test: the test suite never imports or runs it.

    python benchmarks/bench.py [--nodes 1] [--requests 100000] [--clients 50] [--pipeline 1,16]
                               [--tests set,get,mset,incr] [--scan-keys 1000000] [--sustained N]
"""
from __future__ import annotations

import argparse
import bisect
import csv
import io
import json
import os
import platform
import random
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kvsctl.endpoints import parse_info
from raftkv.client import Client, ClientError, RespError

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
CLK_TCK = os.sysconf("SC_CLK_TCK")
# --sustained: SETs over this many distinct keys (redis-benchmark -r), as in the performance issue.
SUSTAINED_KEYSPACE = 100_000
# redis-benchmark without --csv/-q prints a progress line every 250 ms (each ends with a carriage
# return): the throughput and mean latency since the previous one.
PROGRESS_RE = re.compile(rb"rps=([0-9.]+) \(overall: [0-9.]+\) avg_msec=(-?nan|[0-9.]+)")
DONE_RE = re.compile(rb"requests completed in")
SUMMARY_RE = re.compile(rb"throughput summary: ([0-9.]+) requests per second")
LATENCY_SUMMARY_RE = re.compile(rb"avg\s+min\s+p50\s+p95\s+p99\s+max\s*\n\s*([0-9.]+(?:[ \t]+[0-9.]+){5})")
# The bounds of the sustained run (issue 10): last quarter vs first, worst second vs median, p99 vs p50.
QUARTER_BOUND, SECOND_BOUND, P99_BOUND = 0.9, 0.3, 5.0
# The order of the process kinds in the CPU tables; a cluster splits workers and Raft by role.
CPU_KINDS = ("supervisor", "workers", "workers (leader)", "workers (followers)", "raft", "raft (leader)",
             "raft (followers)", "other", "redis-server")
RAFTKV_CHILD_KINDS = (("raftkv-raft", "raft"), ("raftkv-worker", "workers"))
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
    # CPU accounting: the kind of the process we started, and of its children by the prefix of their
    # name (/proc/<pid>/comm); a child no prefix names is "other", or root_kind when there are none.
    # A deeper descendant (a snapshot child of the Raft process) counts as its ancestor's kind.
    root_kind: str = "supervisor"
    child_kinds: tuple[tuple[str, str], ...] = RAFTKV_CHILD_KINDS
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

    def cpu_ticks(self, stats: dict[int, tuple[int, str, int]]) -> dict[str, int]:
        """CPU ticks so far of every process in the server's tree, summed by kind (see root_kind)."""
        if self.proc is None or self.proc.pid not in stats:
            return {}
        children: dict[int, list[int]] = defaultdict(list)
        for pid, (ppid, _comm, _ticks) in stats.items():
            children[ppid].append(pid)
        ticks: dict[str, int] = defaultdict(int)
        ticks[self.root_kind] += stats[self.proc.pid][2]
        for child in children[self.proc.pid]:
            comm = stats[child][1]
            kind = next((k for prefix, k in self.child_kinds if comm.startswith(prefix)),
                        "other" if self.child_kinds else self.root_kind)
            stack = [child]
            while stack:
                pid = stack.pop()
                ticks[kind] += stats[pid][2]
                stack.extend(children[pid])
        return dict(ticks)

    def log_tail(self, lines: int = 20) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _answers_ping(port: int) -> bool:
    try:
        with Client("127.0.0.1", port, timeout=1.0) as client:
            return client.execute(b"PING") == "PONG"
    except ClientError:
        return False


def proc_stats() -> dict[int, tuple[int, str, int]]:
    """Every process's (ppid, name, CPU clock ticks) from /proc/<pid>/stat.

    The ticks are utime + stime + cutime + cstime: a child that ended and was reaped between two
    readings (a snapshot or AOF-rewrite fork) moves its time into its parent's cutime/cstime, so the
    difference of two readings summed over a process tree still counts it.
    """
    stats = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            data = Path("/proc", entry.name, "stat").read_bytes()
        except OSError:
            continue  # it ended while we looked
        close = data.rindex(b")")  # the name may itself hold spaces and parentheses
        fields = data[close + 2:].split()  # fields[0] is field 3 of proc(5), "state"
        stats[int(entry.name)] = (int(fields[1]), data[data.index(b"(") + 1:close].decode(errors="replace"),
                                  sum(int(f) for f in fields[11:15]))
    return stats


@dataclass
class CpuReading:
    """The CPU ticks of each watched server's processes by kind, and redis-benchmark's CPU seconds
    (our reaped children: every redis-benchmark and redis-cli, never the servers, reaped only at stop)."""

    servers: dict[str, dict[str, int]]
    clients_s: float

    @classmethod
    def take(cls, watched: list[Server]) -> CpuReading:
        stats = proc_stats()
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls({server.name: server.cpu_ticks(stats) for server in watched},
                   usage.ru_utime + usage.ru_stime)


def cpu_per_op(before: CpuReading, after: CpuReading, ops: int, roles: dict[str, str]) -> dict[str, Any]:
    """µs of CPU per operation between two readings: in total, by process kind, per server.

    ``roles`` names a cluster node's role (leader, follower): workers and Raft are then reported
    separately for the leader and the followers (summed over the followers); supervisors are summed.
    """
    per_server: dict[str, dict[str, Any]] = {}
    kinds: dict[str, float] = defaultdict(float)
    for name, ticks in after.servers.items():
        used = {kind: (n - before.servers.get(name, {}).get(kind, 0)) / CLK_TCK * 1e6 / ops
                for kind, n in ticks.items()}
        role = roles.get(name)
        per_server[name] = {**({"role": role} if role else {}), **used}
        for kind, us in used.items():
            label = kind
            if role and kind in ("workers", "raft"):
                label = f"{kind} ({'leader' if role == 'leader' else 'followers'})"
            kinds[label] += us
    ordered = {kind: kinds[kind] for kind in sorted(kinds, key=_kind_order)}
    return {"ops": ops, "clock_ticks_per_s": CLK_TCK, "total_us_per_op": sum(kinds.values()),
            "kinds_us_per_op": ordered, "per_server": per_server,
            "redis_benchmark_us_per_op": (after.clients_s - before.clients_s) * 1e6 / ops}


def _kind_order(kind: str) -> int:
    return CPU_KINDS.index(kind) if kind in CPU_KINDS else len(CPU_KINDS)


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
    with Client("127.0.0.1", port, timeout=5.0) as client:
        reply = client.execute(b"INFO", b"raft")
    if isinstance(reply, RespError):
        raise ClientError(f"127.0.0.1:{port} refused INFO: {reply.message}")
    return parse_info(reply)


def wait_settled(nodes: list[Server], timeout_s: float = READY_TIMEOUT_S) -> tuple[Server, int]:
    """The leader and its term, once every node names it and has applied all it has committed."""
    deadline = time.monotonic() + timeout_s
    infos: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        for node in nodes:
            node.check_running()
        try:
            infos = [raft_info(node.port) for node in nodes]
        except ClientError:
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


def node_roles(nodes: list[Server], leader: Server) -> dict[str, str]:
    """Each node's role, for the CPU breakdown; empty for one node (it is simply "raft", "workers")."""
    if len(nodes) == 1:
        return {}
    return {node.name: "leader" if node is leader else "follower" for node in nodes}


def split(total: int, parts: int) -> list[int]:
    """``total`` shared out over ``parts`` as evenly as whole numbers allow."""
    return [total // parts + (i < total % parts) for i in range(parts)]


def run_benchmark(name: str, ports: list[int], test: str, args: argparse.Namespace, pipeline: int,
                  deadline: float, watched: list[Server], roles: dict[str, str]) -> dict[str, dict[str, Any]]:
    """One redis-benchmark per port, all at once, sharing ``--clients`` and ``--requests`` evenly.

    Returns {test label: metrics}: the throughputs summed and, for each latency column, the worst of
    the ports; with more than one port the separate results are kept under ``per_port``. ``cpu`` holds
    the CPU per operation of the ``watched`` servers' processes over the run (see cpu_per_op).
    """
    print(f"bench: {test}, pipeline {pipeline}, {name} ...", file=sys.stderr, flush=True)
    procs: list[subprocess.Popen[str]] = []
    before = CpuReading.take(watched)
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
        cpu = cpu_per_op(before, CpuReading.take(watched), args.requests, roles)
    except subprocess.TimeoutExpired:
        raise BenchError(f"redis-benchmark {test} against {name} (pipeline {pipeline}) did not "
                         f"finish within the --max-seconds budget") from None
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return {test_name: {**combine([output[test_name] for output in outputs]), "cpu": cpu}
            for test_name in outputs[0]}


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


def run_sustained(name: str, port: int, args: argparse.Namespace, pipeline: int, deadline: float,
                  watched: list[Server], roles: dict[str, str]) -> dict[str, Any]:
    """``--sustained`` SETs over SUSTAINED_KEYSPACE distinct keys, from one redis-benchmark whose
    progress lines are timestamped as they arrive; returns its summary metrics (METRICS), the CPU per
    operation, and the throughput per second and per decile of the requests (sustained_series)."""
    print(f"bench: sustained, {args.sustained:,} SETs, {name} ...", file=sys.stderr, flush=True)
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "set", "-r", str(SUSTAINED_KEYSPACE),
            "-n", str(args.sustained), "-c", str(args.clients), "-d", str(args.data_size)]
    if pipeline > 1:
        argv += ["-P", str(pipeline)]
    samples: list[tuple[float, float, float | None]] = []
    chunks: list[bytes] = []
    done_at: list[float] = []
    before = CpuReading.take(watched)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    reader = threading.Thread(target=_read_progress, args=(proc.stdout, samples, chunks, done_at), daemon=True)
    reader.start()
    try:
        proc.wait(timeout=_remaining(deadline, args, name))
    except subprocess.TimeoutExpired:
        raise BenchError(f"the sustained run against {name} did not finish within the --max-seconds "
                         "budget") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    cpu = cpu_per_op(before, CpuReading.take(watched), args.sustained, roles)
    output = b"".join(chunks)
    throughput, latencies = SUMMARY_RE.search(output), LATENCY_SUMMARY_RE.search(output)
    if proc.returncode != 0 or throughput is None or latencies is None:
        tail = output.replace(b"\r", b"\n").decode(errors="replace").strip().splitlines()[-10:]
        raise BenchError(f"redis-benchmark (sustained) against {name} failed ({proc.returncode}):\n"
                         + "\n".join(tail))
    avg, low, p50, p95, p99, high = (float(v) for v in latencies[1].split())
    metrics = {"rps": float(throughput[1]), "avg_latency_ms": avg, "min_latency_ms": low, "p50_latency_ms": p50,
               "p95_latency_ms": p95, "p99_latency_ms": p99, "max_latency_ms": high, "port": port}
    end = done_at[0] if done_at else (samples[-1][0] if samples else time.monotonic())
    series = sustained_series(samples, end, args.sustained)
    return {**metrics, "cpu": cpu, **series, "checks": sustained_checks(metrics, series)}


def _read_progress(stream: io.BufferedReader, samples: list[tuple[float, float, float | None]],
                   chunks: list[bytes], done_at: list[float]) -> None:
    """Collect redis-benchmark's output; each progress line as (arrival time, ops/s, mean ms)."""
    pending = b""
    while data := stream.read1(65536):
        now = time.monotonic()
        chunks.append(data)
        *lines, pending = re.split(rb"[\r\n]", pending + data)
        for line in lines:
            if match := PROGRESS_RE.search(line):
                samples.append((now, float(match[1]), None if b"nan" in match[2] else float(match[2])))
            elif not done_at and DONE_RE.search(line):
                done_at.append(now)


def sustained_series(samples: list[tuple[float, float, float | None]], end: float, requests: int
                     ) -> dict[str, Any]:
    """Throughput per second, per decile and per quarter of the requests, from the progress samples.

    The requests done by each sample's time are its ops/s times the time since the previous sample,
    summed (the run's end, when redis-benchmark reports all ``requests`` done, is the last point);
    each second's throughput is the difference of that curve, interpolated, at its two ends. The
    clock starts at the sample before the first one with any requests: the time before is connecting.
    Only whole seconds count; the last part-second is left out.
    """
    first = next((i for i, sample in enumerate(samples) if sample[1] > 0), None)
    if first is None:
        raise BenchError("redis-benchmark printed no progress with requests done")
    start = samples[first - 1][0] if first else samples[first][0] - 0.25
    times, done = [start], [0.0]
    for at, rps, _latency in samples[first:]:
        done.append(min(done[-1] + rps * (at - times[-1]), requests))
        times.append(at)
    if end > times[-1]:
        times.append(end)
        done.append(float(requests))
    duration = times[-1] - start
    seconds = [_interp(times, done, start + k + 1) - _interp(times, done, start + k) for k in range(int(duration))]
    latency = []
    for k in range(len(seconds)):
        in_second = [ms for at, _rps, ms in samples if start + k < at <= start + k + 1 and ms is not None]
        latency.append(in_second[-1] if in_second else None)

    def per_part(parts: int) -> list[float]:
        edges = [_time_at(times, done, requests * i / parts) for i in range(parts + 1)]
        return [requests / parts / (b - a) if b > a else 0.0 for a, b in zip(edges, edges[1:])]

    worst = min(range(len(seconds)), key=seconds.__getitem__) if seconds else None
    return {"duration_s": duration, "counted_requests": done[-1], "seconds_ops": seconds,
            "seconds_avg_latency_ms": latency, "deciles_ops": per_part(10), "quarters_ops": per_part(4),
            "median_second_ops": statistics.median(seconds) if seconds else None,
            "worst_second": None if worst is None else
            {"second": worst, "ops": seconds[worst], "avg_latency_ms": latency[worst]}}


def _interp(xs: list[float], ys: list[float], x: float) -> float:
    """ys at x, linear between the points (xs increasing), held beyond the ends."""
    i = bisect.bisect_right(xs, x)
    if i == 0:
        return ys[0]
    if i == len(xs):
        return ys[-1]
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y1 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def _time_at(times: list[float], done: list[float], count: float) -> float:
    """The first time at which ``done`` (non-decreasing) reaches ``count``, linear between points."""
    i = bisect.bisect_left(done, count)
    if i == 0:
        return times[0]
    if i == len(done):
        return times[-1]
    c0, c1, t0, t1 = done[i - 1], done[i], times[i - 1], times[i]
    return t1 if c1 == c0 else t0 + (t1 - t0) * (count - c0) / (c1 - c0)


def sustained_checks(metrics: dict[str, Any], series: dict[str, Any]) -> list[dict[str, Any]]:
    """The sustained run's bounds, each {check, ok (None: not measurable), detail}."""
    first, last = series["quarters_ops"][0], series["quarters_ops"][-1]
    median, worst = series["median_second_ops"], series["worst_second"]
    p50, p99 = metrics["p50_latency_ms"], metrics["p99_latency_ms"]
    checks = [{"check": f"last quarter >= {QUARTER_BOUND}x first quarter", "ok": last >= QUARTER_BOUND * first,
               "detail": f"{last:,.0f} vs {first:,.0f} ops/s ({last / first if first else 0:.2f}x)"}]
    if worst is None or not median:
        checks.append({"check": f"no second below {SECOND_BOUND}x the median second", "ok": None,
                       "detail": "the run lasted less than a whole second"})
    else:
        checks.append({"check": f"no second below {SECOND_BOUND}x the median second",
                       "ok": worst["ops"] >= SECOND_BOUND * median,
                       "detail": f"worst {worst['ops']:,.0f} ops/s (second {worst['second'] + 1}), median "
                                 f"{median:,.0f} ops/s ({worst['ops'] / median:.2f}x)"})
    checks.append({"check": f"p99 <= {P99_BOUND:g}x p50", "ok": p99 <= P99_BOUND * p50,
                   "detail": f"p99 {p99:.3f} ms, p50 {p50:.3f} ms ({p99 / p50 if p50 else 0:.1f}x)"})
    return checks


def sustained_phase(nodes: list[Server], baseline: Server, mode: str, args: argparse.Namespace,
                    deadline: float) -> dict[str, Any]:
    """The --sustained run against the leader, then the same against redis."""
    pipeline = args.pipelines[0]
    leader, term = wait_settled(nodes)
    raftkv = run_sustained(f"raftkv ({mode})", leader.port, args, pipeline, deadline, nodes,
                           node_roles(nodes, leader))
    raftkv["elections"] = wait_settled(nodes, timeout_s=120.0)[1] - term
    reference = run_sustained("redis", baseline.port, args, pipeline, deadline, [baseline], {})
    return {"requests": args.sustained, "keyspace": SUSTAINED_KEYSPACE, "pipeline": pipeline, "mode": mode,
            "raftkv": raftkv, "redis": reference,
            "ratio": raftkv["rps"] / reference["rps"] if reference["rps"] else None}


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
    with Client("127.0.0.1", port, timeout=60.0) as client:
        client.execute(b"PING")  # connect before the clock starts
        started = time.perf_counter()
        cursor, scanned = b"0", 0
        while True:
            cursor, keys = client.execute(b"SCAN", cursor, b"COUNT", SCAN_COUNT)
            scanned += len(keys)
            if cursor == b"0":
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
    """The redis-benchmark rows: throughput of each server, the ratio, CPU µs per operation of each
    (all of its processes), p50 and p99 latency."""
    headers = ["test", "raftkv mode", "pipeline", "raftkv ops/s", "redis ops/s", "ratio",
               "raftkv CPU µs/op", "redis CPU µs/op",
               "raftkv p50 ms", "raftkv p99 ms", "redis p50 ms", "redis p99 ms"]
    body = [[row["test"], row["mode"], str(row["pipeline"]), f"{row['raftkv']['rps']:,.0f}",
             f"{row['redis']['rps']:,.0f}", _ratio(row["ratio"], row["raftkv"]["elections"]),
             f"{row['raftkv']['cpu']['total_us_per_op']:.1f}", f"{row['redis']['cpu']['total_us_per_op']:.1f}",
             f"{row['raftkv']['p50_latency_ms']:.3f}", f"{row['raftkv']['p99_latency_ms']:.3f}",
             f"{row['redis']['p50_latency_ms']:.3f}", f"{row['redis']['p99_latency_ms']:.3f}"]
            for row in rows]
    table = render_table(headers, body, text_columns=2)
    return table + ELECTION_NOTE if any(row["raftkv"]["elections"] for row in rows) else table


def cpu_table(rows: list[dict[str, Any]]) -> str:
    """CPU µs per operation by process kind: raftkv's (total, then each kind), redis-server's, and
    redis-benchmark's own (the client, counted in neither server's total) in the raftkv run."""
    kinds = sorted({kind for row in rows for kind in row["raftkv"]["cpu"]["kinds_us_per_op"]}, key=_kind_order)
    headers = ["test", "raftkv mode", "pipeline", "raftkv total", *kinds, "redis-server",
               "client (raftkv run)", "client (redis run)"]
    body = []
    for row in rows:
        cpu, redis_cpu = row["raftkv"]["cpu"], row["redis"]["cpu"]
        body.append([row["test"], row["mode"], str(row["pipeline"]), f"{cpu['total_us_per_op']:.1f}",
                     *(f"{cpu['kinds_us_per_op'].get(kind, 0.0):.1f}" for kind in kinds),
                     f"{redis_cpu['total_us_per_op']:.1f}", f"{cpu['redis_benchmark_us_per_op']:.1f}",
                     f"{redis_cpu['redis_benchmark_us_per_op']:.1f}"])
    note = ("\nCPU µs per operation, from /proc/<pid>/stat (utime+stime, and cutime+cstime for reaped "
            f"children such as snapshot forks) before and after each run, {CLK_TCK} ticks/s, for every "
            "process of each server's tree. Columns marked (followers) sum over the followers; "
            "supervisor sums over the nodes. The client columns are redis-benchmark's own CPU.\n")
    return render_table(headers, body, text_columns=2) + note


def sustained_tables(sustained: dict[str, Any]) -> str:
    """The sustained run: summary of each server, throughput per decile, CPU by kind, and the checks."""
    raftkv, reference = sustained["raftkv"], sustained["redis"]
    title = (f"Sustained: {sustained['requests']:,} SETs over {sustained['keyspace']:,} distinct keys, "
             f"pipeline {sustained['pipeline']}, raftkv {sustained['mode']}\n\n")
    headers = ["server", "ops/s", "ratio", "CPU µs/op", "p50 ms", "p99 ms", "max ms", "median second ops/s",
               "worst second ops/s", "worst second", "seconds"]
    body = []
    for name, measured in (("raftkv", raftkv), ("redis", reference)):
        worst = measured["worst_second"]
        ratio = _ratio(sustained["ratio"], raftkv["elections"]) if name == "raftkv" else ""
        median = measured["median_second_ops"]
        body.append([name, f"{measured['rps']:,.0f}", ratio, f"{measured['cpu']['total_us_per_op']:.1f}",
                     f"{measured['p50_latency_ms']:.3f}", f"{measured['p99_latency_ms']:.3f}",
                     f"{measured['max_latency_ms']:.3f}", "-" if median is None else f"{median:,.0f}",
                     "-" if worst is None else f"{worst['ops']:,.0f}",
                     "-" if worst is None else str(worst["second"] + 1), f"{measured['duration_s']:.1f}"])
    summary = render_table(headers, body)
    deciles = render_table(["ops/s per tenth of the requests", *(str(i) for i in range(1, 11))],
                           [[name, *(f"{ops:,.0f}" for ops in measured["deciles_ops"])]
                            for name, measured in (("raftkv", raftkv), ("redis", reference))])
    row = {"test": "SET (sustained)", "mode": sustained["mode"], "pipeline": sustained["pipeline"],
           "raftkv": raftkv, "redis": reference}
    checks = "".join(f"{_verdict(check['ok'])} {name}: {check['check']}: {check['detail']}\n"
                     for name, measured in (("raftkv", raftkv), ("redis (reference)", reference))
                     for check in measured["checks"])
    table = f"{title}{summary}\n{deciles}\n{cpu_table([row])}\n```\n{checks}```\n"
    return table + ELECTION_NOTE if raftkv["elections"] else table


def _verdict(ok: bool | None) -> str:
    return "N/A " if ok is None else "PASS" if ok else "FAIL"


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


NOISE_NOTE = ("ops/s and latencies move with whatever else runs on the machine (see the load average); "
              "CPU µs per operation, summed over every process of each server, moves much less and is the "
              "figure to compare between runs.\n\n")
COLORS = {SINGLE: "tab:blue", LEADER: "tab:blue", ALL_NODES: "tab:cyan", "redis": "tab:red"}
LATENCY_MARKERS = (("p50_latency_ms", "o", "p50"), ("p95_latency_ms", "^", "p95"), ("p99_latency_ms", "s", "p99"))


def write_plot(report: dict[str, Any], path: Path) -> str | None:
    """A PNG of raftkv beside redis-server: throughput, latency percentiles and CPU per operation of
    each test (or, for --sustained, throughput and latency second by second). Returns a one-line
    note instead when matplotlib is not installed (pip install -e '.[bench]')."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no plot: matplotlib is not installed (pip install -e '.[bench]')"
    options = report["options"]
    title = (f"raftkv ({_nodes(options['nodes'])}, {options['workers']} workers) vs redis-server AOF always, "
             f"{report['started_utc']}, -c {options['clients']} -d {options['data_size']}, "
             f"load {report['load_average']['before']:.1f}/{report['load_average']['after']:.1f}")
    if report["sustained"]:
        fig = _plot_sustained(plt, report["sustained"])
    else:
        fig = _plot_tests(plt, report["rows"])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    tmp.replace(path)
    return None


def _plot_tests(plt: Any, rows: list[dict[str, Any]]) -> Any:
    groups = list(dict.fromkeys((row["test"], row["pipeline"]) for row in rows))
    modes = list(dict.fromkeys(row["mode"] for row in rows))
    series = [*modes, "redis"]
    width = 0.8 / len(series)
    fig, (ops_ax, lat_ax, cpu_ax) = plt.subplots(3, 1, figsize=(max(8, 1.6 * len(groups) * len(series)), 11))
    cpu_kinds = sorted({k for row in rows for k in row["raftkv"]["cpu"]["kinds_us_per_op"]}, key=_kind_order)
    # Red is redis-server's in every panel; raftkv's process kinds take the other colours.
    palette = [c for c in plt.get_cmap("tab10").colors if c != plt.get_cmap("tab10").colors[3]]
    kind_colors = {**dict(zip(cpu_kinds, palette)), "redis-server": COLORS["redis"]}
    for g, (test, pipeline) in enumerate(groups):
        for s_i, name in enumerate(series):
            x = g + (s_i - (len(series) - 1) / 2) * width
            row = next(r for r in rows if (r["test"], r["pipeline"]) == (test, pipeline)
                       and (name == "redis" or r["mode"] == name))
            measured = row["redis"] if name == "redis" else row["raftkv"]
            label = ("redis-server" if name == "redis" else f"raftkv {name}") if g == 0 else None
            ops_ax.bar(x, measured["rps"], width, color=COLORS.get(name, "tab:blue"), label=label)
            if name != "redis" and row["ratio"] is not None:
                ops_ax.annotate(f"{row['ratio']:.2f}x", (x, measured["rps"]), ha="center", va="bottom",
                                fontsize=8)
            lat = [measured[key] for key, _marker, _name in LATENCY_MARKERS]
            lat_ax.plot([x, x], [lat[0], lat[-1]], color=COLORS.get(name, "tab:blue"), linewidth=1)
            for (_key, marker, pname), value in zip(LATENCY_MARKERS, lat):
                lat_ax.plot(x, value, marker, color=COLORS.get(name, "tab:blue"),
                            label=f"{pname} ({'redis-server' if name == 'redis' else 'raftkv ' + name})"
                            if g == 0 else None)
            cpu = measured["cpu"]
            kinds = {"redis-server": cpu["total_us_per_op"]} if name == "redis" else cpu["kinds_us_per_op"]
            bottom = 0.0
            for kind, us in kinds.items():
                cpu_ax.bar(x, us, width, bottom=bottom, color=kind_colors.get(kind, "grey"),
                           label=kind if g == 0 and kind not in cpu_ax.get_legend_handles_labels()[1] else None)
                bottom += us
            cpu_ax.annotate(f"{bottom:.0f}", (x, bottom), ha="center", va="bottom", fontsize=8)
    ticks = [f"{test}\nP{pipeline}" for test, pipeline in groups]
    for ax in (ops_ax, lat_ax, cpu_ax):
        ax.set_xticks(range(len(groups)), ticks, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    ops_ax.set_ylabel("ops/s")
    ops_ax.set_title("throughput (label: raftkv ÷ redis)", fontsize=9)
    ops_ax.legend(fontsize=8)
    lat_ax.set_yscale("log")
    lat_ax.set_ylabel("latency ms (log)")
    lat_ax.set_title("latency percentiles p50 ● p95 ▲ p99 ■ (colours as above)", fontsize=9)
    cpu_ax.set_ylabel("CPU µs per op")
    cpu_ax.set_title("CPU per operation by process kind (bars in the order of the throughput panel)", fontsize=9)
    cpu_ax.legend(fontsize=7, ncol=4)
    return fig


def _plot_sustained(plt: Any, sustained: dict[str, Any]) -> Any:
    fig, (ops_ax, lat_ax, pct_ax) = plt.subplots(3, 1, figsize=(10, 10))
    for name, label in (("raftkv", f"raftkv {sustained['mode']}"), ("redis", "redis-server")):
        measured = sustained[name]
        color = COLORS["redis" if name == "redis" else sustained["mode"]]
        seconds = range(1, len(measured["seconds_ops"]) + 1)
        ops_ax.plot(seconds, measured["seconds_ops"], color=color, label=label)
        if measured["median_second_ops"]:
            ops_ax.axhline(measured["median_second_ops"] * SECOND_BOUND, color=color, linestyle=":", linewidth=1,
                           label=f"{SECOND_BOUND}x {name}'s median second")
        latency = [(k, ms) for k, ms in zip(seconds, measured["seconds_avg_latency_ms"]) if ms is not None]
        lat_ax.plot([k for k, _ in latency], [ms for _, ms in latency], color=color, label=label)
        offset = -0.2 if name == "raftkv" else 0.2
        keys = ["p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "max_latency_ms"]
        pct_ax.bar([i + offset for i in range(len(keys))], [measured[k] for k in keys], 0.4, color=color,
                   label=label)
    ops_ax.set_xlabel("second")
    ops_ax.set_ylabel("ops/s")
    ops_ax.set_title(f"{sustained['requests']:,} SETs over {sustained['keyspace']:,} keys: throughput per second",
                     fontsize=9)
    ops_ax.set_ylim(bottom=0)
    ops_ax.legend(fontsize=8)
    lat_ax.set_xlabel("second")
    lat_ax.set_yscale("log")
    lat_ax.set_ylabel("mean latency ms (log)")
    lat_ax.set_title("mean latency per second", fontsize=9)
    lat_ax.legend(fontsize=8)
    pct_ax.set_xticks(range(4), ["p50", "p95", "p99", "max"])
    pct_ax.set_yscale("log")
    pct_ax.set_ylabel("latency ms (log)")
    pct_ax.set_title("latency percentiles over the whole run", fontsize=9)
    pct_ax.legend(fontsize=8)
    for ax in (ops_ax, lat_ax, pct_ax):
        ax.grid(alpha=0.3)
    return fig


def write_results(report: dict[str, Any], tables: str, stamp: str) -> list[Path]:
    """Write <stamp>.png (unless matplotlib is missing), <stamp>.json, <stamp>.md and latest.md, each
    through a .tmp file and a rename."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    plot = RESULTS_DIR / f"{stamp}.png"
    skipped = write_plot(report, plot)
    if skipped:
        print(f"bench: {skipped}", file=sys.stderr)
    figure = f"_{skipped}_\n" if skipped else f"![raftkv beside redis-server]({plot.name})\n"
    options = ", ".join(f"{k}={v}" for k, v in report["options"].items())
    load = report["load_average"]
    terms = report["raft_term"]
    markdown = (f"# raftkv vs redis-server, {report['started_utc']}\n\n"
                f"- raftkv commit: {report['commit']}\n- {report['redis_version']}\n"
                f"- machine: {report['machine']}, {report['cpus']} CPUs\n- options: {options}\n"
                f"- raftkv: {_nodes(report['options']['nodes'])}, {report['options']['workers']} workers "
                f"each; Raft term {terms['start']} at the start, {terms['end']} at the end\n"
                f"- load average (1 min) before / after: {load['before']:.2f} / {load['after']:.2f}\n"
                f"- redis: {shlex.join(report['redis_argv'])}\n\n{NOISE_NOTE}{tables}\n{figure}")
    outputs = {f"{stamp}.json": json.dumps(report, indent=2) + "\n", f"{stamp}.md": markdown,
               "latest.md": markdown}
    paths = []
    for name, text in outputs.items():
        path = RESULTS_DIR / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(path)
        paths.append(path)
    return ([] if skipped else [plot]) + paths


def check_tools(args: argparse.Namespace) -> None:
    tools = ("redis-server", "redis-benchmark", *(("redis-cli",) if args.scan_keys else ()))
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise BenchError(f"{' and '.join(missing)} not found; install them with: "
                         "apt-get install redis-server redis-tools")


# redis-benchmark's tests of lists, sets, hashes and sorted sets (lrange also runs LPUSH to fill its list).
DATA_TYPE_TESTS = ("lpush", "rpush", "lpop", "rpop", "sadd", "hset", "spop", "zadd", "zpopmin", "lrange")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000, help="requests per test (-n)")
    parser.add_argument("--clients", type=int, default=50, help="parallel connections (-c)")
    parser.add_argument("--pipeline", default="1,16",
                        help="comma-separated pipeline depths (-P), one run each")
    parser.add_argument("--tests", default="set,get,mset,incr",
                        help="comma-separated redis-benchmark tests (-t), one run each; 'types' stands for "
                             f"the data-type tests {','.join(DATA_TYPE_TESTS)}")
    parser.add_argument("--data-size", type=int, default=3, help="value size in bytes (-d)")
    parser.add_argument("--workers", type=int, default=4, help="raftkv worker processes per node")
    parser.add_argument("--nodes", type=int, choices=(1, 3, 5), default=1, help="raftkv cluster size")
    parser.add_argument("--scan-keys", type=int, default=1_000_000,
                        help="keys to load into each server for the full SCAN pass; 0 skips it")
    parser.add_argument("--max-seconds", type=float, default=1800.0,
                        help="time budget for all benchmark runs and loads together")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="where the temporary data directories go (a real disk: fsync matters)")
    parser.add_argument("--sustained", type=int, default=0, metavar="N",
                        help=f"instead of the tests: N SETs over {SUSTAINED_KEYSPACE:,} distinct keys, "
                             "throughput per second and per decile, and the bounds checked")
    args = parser.parse_args(argv)
    try:
        args.pipelines = sorted({int(p) for p in args.pipeline.split(",") if p.strip()})
    except ValueError:
        parser.error(f"--pipeline takes comma-separated integers, not {args.pipeline!r}")
    if not args.pipelines or min(args.pipelines) < 1:
        parser.error("--pipeline depths must be at least 1")
    args.test_list = [name for t in args.tests.split(",") if t.strip()
                      for name in (DATA_TYPE_TESTS if t.strip() == "types" else (t.strip(),))]
    if not args.test_list:
        parser.error("--tests names at least one redis-benchmark test")
    if min(args.clients, args.requests) < args.nodes:
        parser.error("--clients and --requests must be at least --nodes: every node gets its share")
    if args.scan_keys < 0:
        parser.error("--scan-keys must be 0 or more")
    if args.sustained < 0:
        parser.error("--sustained must be 0 or more")
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
                  tmp / "redis.log", root_kind="redis-server", child_kinds=())


def run(args: argparse.Namespace) -> None:
    check_tools(args)
    started = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    deadline = time.monotonic() + args.max_seconds
    modes = [SINGLE] if args.nodes == 1 else [LEADER, ALL_NODES]
    results: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    scan = sustained = None
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
            if args.sustained:
                sustained = sustained_phase(nodes, baseline, modes[0], args, deadline)
            for pipeline in [] if args.sustained else args.pipelines:
                for test in args.test_list:
                    for mode in modes:
                        # Each run starts from a quiet cluster: followers done applying the last one.
                        leader, term = wait_settled(nodes)
                        ports = [node.port for node in nodes] if mode == ALL_NODES else [leader.port]
                        measured = run_benchmark(f"raftkv ({mode})", ports, test, args, pipeline, deadline,
                                                 nodes, node_roles(nodes, leader))
                        elections = wait_settled(nodes)[1] - term
                        for metrics in measured.values():
                            metrics["elections"] = elections
                        results.setdefault((mode, pipeline), {}).update(measured)
                    results.setdefault(("redis", pipeline), {}).update(
                        run_benchmark("redis", [baseline.port], test, args, pipeline, deadline, [baseline], {}))
            if args.scan_keys and not args.sustained:
                leader, term = wait_settled(nodes)
                scan = scan_phase(leader.port, baseline.port, args, deadline)
                scan["raftkv"]["elections"] = wait_settled(nodes)[1] - term
            last_term = wait_settled(nodes)[1]
        finally:
            with _signals_ignored():
                for server in servers:
                    server.stop()
    rows = [] if args.sustained else compare(results, args.pipelines, modes)
    if sustained:
        tables = sustained_tables(sustained)
    else:
        tables = benchmark_table(rows) + f"\n{cpu_table(rows)}" + (f"\n{scan_table(scan)}" if scan else "")
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
                    "nodes": args.nodes, "scan_keys": 0 if args.sustained else args.scan_keys,
                    "sustained": args.sustained},
        "raft_term": {"start": first_term, "end": last_term},
        "raftkv_argv": [node.argv for node in nodes],
        "redis_argv": baseline.argv,
        "rows": rows,
        "scan": scan,
        "sustained": sustained,
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
