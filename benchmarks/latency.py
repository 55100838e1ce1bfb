"""SET throughput of a raftkv cluster whose hosts are far apart: each node in a network namespace of its
own (tests/netns's harness), peer links direct, then through forwarders adding nothing, then adding a
delay one way (default 10 ms ± 5 ms), measured with ``redis-benchmark -t set -c 50`` (or ``CLIENTS``) against the leader
from the client namespace. Pipelined replication should hide the round trips: the delayed figure is
reported as a ratio of the direct one.

Root only, not part of the test suite (figures are not tests). Run it with pytest, which brings the
harness's fixtures::

    [NODES=5] [DELAY_MS=10] [JITTER_MS=5] [REQUESTS=20000] [CLIENTS=50] \
        .venv/bin/python -m pytest benchmarks/latency.py -p tests.netns.conftest -s

It prints a table and writes it to ``benchmarks/results/latency-<time>.md``.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from tests.netns.conftest import NsCluster, shaping

RESULTS = Path(__file__).with_name("results")
_BENCHMARK_TIMEOUT_S = 300.0


def set_throughput(cluster: NsCluster, requests: int, clients: int) -> float:
    leader = cluster.leader()
    done = cluster.run_in_client_ns(
        "redis-benchmark", "-h", leader.host, "-p", str(leader.port), "-t", "set", "-c", str(clients),
        "-n", str(requests), "-q", timeout_s=_BENCHMARK_TIMEOUT_S)
    found = re.search(r"SET: ([0-9.]+) requests per second", done.stdout.replace("\r", "\n"))
    if done.returncode != 0 or not found:
        raise RuntimeError(f"redis-benchmark failed: {done.stderr or done.stdout[-500:]}")
    return float(found.group(1))


def test_set_throughput_with_latency_between_hosts(make_cluster) -> None:
    nodes, requests = int(os.environ.get("NODES", "5")), int(os.environ.get("REQUESTS", "20000"))
    clients = int(os.environ.get("CLIENTS", "50"))
    delay, jitter = float(os.environ.get("DELAY_MS", "10")), float(os.environ.get("JITTER_MS", "5"))
    figures = {"direct peer links": set_throughput(make_cluster(nodes, workers=2), requests, clients)}
    forwarded = make_cluster(nodes, workers=2, forwarded=True, flags=shaping())
    figures["through forwarders, 0 ms"] = set_throughput(forwarded, requests, clients)
    forwarded.shape(shaping(delay_ms=delay, jitter_ms=jitter))
    name = f"through forwarders, {delay:g} ms ± {jitter:g} ms one way"
    figures[name] = set_throughput(forwarded, requests, clients)
    base = figures["direct peer links"]
    when = time.gmtime()
    lines = [f"# {nodes}-node SET throughput with latency between hosts, {time.strftime('%Y-%m-%dT%H:%M:%SZ', when)}",
             "", f"redis-benchmark -t set -c {clients} -n {requests} against the leader, from the client namespace.",
             "", "| peer links | SET ops/s | ratio to direct |", "|---|---:|---:|"]
    lines += [f"| {label} | {rate:,.0f} | {rate / base:.2f} |" for label, rate in figures.items()]
    table = "\n".join(lines) + "\n"
    print("\n" + table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"latency-{time.strftime('%Y%m%dT%H%M%SZ', when)}.md").write_text(table)
