"""/metrics, /health and /readyz of the Raft process, in-process: the collector against a NodeReport built
here (its values must be INFO's), the probes' decisions, the latency buckets, and the HTTP endpoint on
port 0 of 127.0.0.1."""
from __future__ import annotations

import socket
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from raftkv.command_stats import CommandStats
from raftkv.config import NodeConfig
from raftkv.errors import RespError
from raftkv.kv.state_machine import StateMachine
from raftkv.node import info
from raftkv.node.metrics.endpoint import MetricsEndpoint, liveness_problem, readiness_problem
from raftkv.node.metrics.latency import BUCKETS_S, Latency, timed_write
from raftkv.process import StartError
from raftkv.raft.types import HardState, PeerProgress, Role, Status

ME, PEER = 1 << 62, 7


def make_report(**changes: object) -> info.NodeReport:
    stats = info.Stats(connections_received=5, commands_processed=40, log_writes=12, log_syncs=9, proposals=30,
                       leader_changes=2, writes_refused=3)
    for seconds in (0.0002, 0.003, 0.003, 9.0):
        stats.sync_latency.observe(seconds)
    stats.commit_latency.observe(0.004)
    status = Status(ME, 4, ME, Role.LEADER, ME, 95, 95, 100,
                    {ME: PeerProgress(100, 101, "replicate", False), PEER: PeerProgress(80, 81, "replicate", False)})
    report = info.NodeReport(
        config=NodeConfig(data_dir=Path("/nowhere")), started_at=1.5e9, startup_memory=1 << 20,
        connected_clients=6, blocked_clients=2,
        status=status,
        hard_state=HardState(4, ME, 95), role=Role.LEADER, leader_id=ME, leader_addr="127.0.0.1:7001", members=2,
        voters=(ME, PEER),
        membership="voter", applied_index=93, log_first_index=51, log_last_index=100, snapshot_index=50,
        snapshot_size=4096, snapshots_taken=1, snapshot_last_duration_s=0.25, snapshot_in_progress=False,
        stats=stats, disk_free_bytes=1 << 30, disk_full=False)
    return replace(report, **changes)


def scrape(report: info.NodeReport | None) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """name -> labels -> value, as Prometheus would read the endpoint's text."""
    endpoint = MetricsEndpoint("127.0.0.1", 0, 5.0)
    try:
        if report is not None:
            endpoint.publish(report)
        _status, _ctype, body = endpoint.answer("/metrics")
    finally:
        endpoint.close()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def info_fields(report: info.NodeReport) -> dict[str, str]:
    text = info.info(report, StateMachine(), [], 2)
    assert isinstance(text, bytes)
    return dict(line.split(":", 1) for line in text.decode().split("\r\n") if ":" in line)


def test_metrics_take_info_values() -> None:
    report = make_report()
    m, i = scrape(report), info_fields(report)
    assert m["raftkv_raft_term"][()] == int(i["term"]) == 4
    assert m["raftkv_raft_commit_index"][()] == int(i["commit_index"]) == 95
    assert m["raftkv_raft_applied_index"][()] == int(i["applied_index"]) == 93
    assert m["raftkv_raft_last_log_index"][()] == int(i["last_log_index"]) == 100
    assert m["raftkv_raft_leader_changes_total"][()] == int(i["leader_changes"]) == 2
    assert m["raftkv_raft_proposals_total"][()] == int(i["total_proposals"]) == 30
    assert m["raftkv_log_entries"][()] == int(i["log_entries"]) == 50
    assert m["raftkv_snapshots_taken_total"][()] == int(i["snapshots_taken"]) == 1
    assert m["raftkv_snapshot_size_bytes"][()] == int(i["snapshot_size"]) == 4096
    assert m["raftkv_connected_clients"][()] == int(i["connected_clients"]) == 6
    assert m["raftkv_blocked_clients"][()] == int(i["blocked_clients"]) == 2
    assert m["raftkv_commands_processed_total"][()] == int(i["total_commands_processed"]) == 40
    assert m["raftkv_writes_refused_total"][()] == int(i["total_writes_refused"]) == 3
    assert m["raftkv_raft_role"] == {(("role", r.name.lower()),): float(r == Role.LEADER) for r in Role}
    assert i["role"] == "leader"
    (labels,) = m["raftkv_raft_node_info"]
    assert dict(labels)["node_id"] == i["node_id"] == str(ME)  # exact, not rounded through a float
    assert dict(labels)["leader_id"] == i["leader_id"]


def test_commands_are_counted_by_name_as_info_commandstats_counts_them() -> None:
    stats = CommandStats()
    stats.called("set", 120, "OK")
    stats.called("set", 80, RespError("ERR bad"))
    stats.called("config|set", 30, "OK")
    stats.rejected("set", RespError("MISCONF full"))
    m = scrape(make_report(commands=stats.totals()))
    assert m["raftkv_command_calls_total"] == {(("command", "config|set"),): 1, (("command", "set"),): 2}
    assert m["raftkv_command_seconds_total"][(("command", "set"),)] == pytest.approx(200e-6)
    assert m["raftkv_command_rejected_calls_total"][(("command", "set"),)] == 1
    assert m["raftkv_command_failed_calls_total"][(("command", "set"),)] == 1
    line = dict(stats.commandstats())["cmdstat_set"]
    assert line == "calls=2,usec=200,usec_per_call=100.00,rejected_calls=1,failed_calls=1"


def test_peers_match_and_lag_leave_out_this_node() -> None:
    m = scrape(make_report())
    assert m["raftkv_raft_peer_match_index"] == {(("peer", str(PEER)),): 80}
    assert m["raftkv_raft_peer_lag_entries"] == {(("peer", str(PEER)),): 20}


def test_histograms_are_cumulative_with_sum_and_count() -> None:
    m = scrape(make_report())
    buckets = m["raftkv_log_sync_seconds_bucket"]
    assert buckets[(("le", "0.00025"),)] == 1
    assert buckets[(("le", "0.005"),)] == 3
    assert buckets[(("le", "5.0"),)] == 3
    assert buckets[(("le", "+Inf"),)] == 4 == m["raftkv_log_sync_seconds_count"][()]
    assert m["raftkv_log_sync_seconds_sum"][()] == pytest.approx(9.0062)
    assert m["raftkv_write_commit_seconds_count"][()] == 1


def test_nothing_is_reported_before_the_loop_publishes() -> None:
    assert scrape(None) == {}


def test_a_report_keeps_its_stats_while_the_loop_counts_on() -> None:
    stats = info.Stats()
    copy = stats.copy()
    stats.log_syncs += 1
    stats.sync_latency.observe(0.01)
    assert copy.log_syncs == 0 and copy.sync_latency.count == 0 and copy.sync_latency.counts == [0] * 16


def test_latency_buckets_take_their_upper_bound() -> None:
    latency = Latency()
    for seconds in (BUCKETS_S[0], BUCKETS_S[-1], BUCKETS_S[-1] * 2):
        latency.observe(seconds)
    assert latency.counts[0] == 1 and latency.counts[-2] == 1 and latency.counts[-1] == 1
    assert latency.avg_us == int((BUCKETS_S[0] + BUCKETS_S[-1] * 3) / 3 * 1e6)


def test_only_synced_writes_are_timed() -> None:
    latency, calls = Latency(), []

    def write() -> None:
        calls.append(1)

    timed_write(write, False, latency)
    assert calls == [1] and latency.count == 0
    timed_write(write, True, latency)
    assert calls == [1, 1] and latency.count == 1


def test_counted_refusals() -> None:
    stats = info.Stats()
    refusals = iter([None, RespError("MISCONF full"), None])
    refusal = info.counting_refusals(lambda: next(refusals), stats)
    assert [refusal() is None for _ in range(3)] == [True, False, True]
    assert stats.writes_refused == 1


@pytest.mark.parametrize(("changes", "problem"), [
    ({}, None),
    ({"role": Role.FOLLOWER, "leader_id": PEER}, None),
    ({"role": Role.CANDIDATE, "leader_id": 0}, "no leader"),
    ({"membership": "removed"}, "removed"),
    ({"membership": "joining", "leader_id": 0}, "joining"),
])
def test_readiness(changes: dict[str, object], problem: str | None) -> None:
    assert readiness_problem(make_report(**changes)) == problem


def test_liveness_wants_a_recent_report() -> None:
    assert liveness_problem(None, 10.0, 5.0) == "no report yet"
    assert liveness_problem(9.0, 10.0, 5.0) is None
    assert liveness_problem(4.0, 10.0, 5.0) == "no report for 6.0s"


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_endpoint_over_http() -> None:
    endpoint = MetricsEndpoint("127.0.0.1", 0, 5.0)
    host, port = endpoint.address
    base = f"http://{host}:{port}"
    try:
        assert _get(base + "/health") == (503, b"no report yet\n")
        assert _get(base + "/readyz") == (503, b"starting\n")
        endpoint.publish(make_report(leader_id=0))
        assert _get(base + "/health") == (200, b"ok\n")
        assert _get(base + "/readyz") == (503, b"no leader\n")
        endpoint.publish(make_report())
        assert _get(base + "/readyz?verbose") == (200, b"ok\n")
        status, body = _get(base + "/metrics")
        assert status == 200 and b"raftkv_raft_term 4.0" in body
        assert _get(base + "/nothing")[0] == 404
    finally:
        endpoint.close()


def test_a_busy_address_is_a_one_line_start_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StartError, match=rf"^cannot serve metrics on 127\.0\.0\.1:{port}: address already in use$"):
            MetricsEndpoint("127.0.0.1", port, 5.0)
