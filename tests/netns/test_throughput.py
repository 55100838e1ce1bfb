"""SET throughput of a 3-node cluster over namespaces, measured and reported, never asserted on: with
direct peer links, through forwarders adding nothing, and through forwarders adding 10 ms one way
(``redis-benchmark -t set -c 50 -n 20000`` against the leader, from the client namespace)."""
from __future__ import annotations

import re
import shutil

import pytest

from tests.netns.conftest import NsCluster, shaping

pytestmark = [pytest.mark.netns, pytest.mark.integration]

REQUESTS = 20000
_BENCHMARK_TIMEOUT_S = 120.0


def set_throughput(cluster: NsCluster) -> float:
    """Requests per second of redis-benchmark's SET test against the leader."""
    leader = cluster.leader()
    done = cluster.run_in_client_ns(
        "redis-benchmark", "-h", leader.host, "-p", str(leader.port), "-t", "set", "-c", "50", "-n", str(REQUESTS),
        "-q", timeout_s=_BENCHMARK_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    found = re.search(r"SET: ([0-9.]+) requests per second", done.stdout.replace("\r", "\n"))
    assert found, done.stdout
    return float(found.group(1))


@pytest.mark.skipif(shutil.which("redis-benchmark") is None, reason="redis-benchmark is not installed")
def test_set_throughput_with_and_without_latency(make_cluster, record_property, capsys) -> None:
    figures = {"direct peer links": set_throughput(make_cluster(3, workers=2))}
    forwarded = make_cluster(3, workers=2, forwarded=True, flags=shaping())
    figures["through forwarders, 0 ms"] = set_throughput(forwarded)
    forwarded.shape(shaping(delay_ms=10))
    figures["through forwarders, 10 ms one way"] = set_throughput(forwarded)
    with capsys.disabled():
        print(f"\n3-node SET throughput (redis-benchmark -t set -c 50 -n {REQUESTS}, requests per second):")
        for name, rate in figures.items():
            print(f"  {name:<36} {rate:>10.0f}")
            record_property(name, rate)
