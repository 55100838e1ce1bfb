"""--metrics-addr on real nodes: /metrics agrees with INFO raft, /readyz follows the leader, /health the loop,
and a busy address stops the start with one line."""
from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import Cluster, Node, free_port, wait_for
from tests.integration.test_node import run_server

pytestmark = pytest.mark.integration


def metrics_node(make_node: Callable[..., Node], **kwargs: object) -> tuple[Node, str]:
    port = free_port()
    node = make_node(**kwargs, extra_args=[*kwargs.pop("extra_args", []), "--metrics-addr", f"127.0.0.1:{port}"])
    return node, f"http://127.0.0.1:{port}"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(base: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    status, text = get(base + "/metrics")
    assert status == 200
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def test_metrics_agree_with_info_raft(make_node) -> None:
    node, base = metrics_node(make_node)
    with node.client(protocol=2) as c:
        for i in range(5):
            c.set(f"k{i}", "v")
        info = c.info("raft")

        def agree() -> bool:  # the report is published once per tick: wait for the one after the writes
            m = scrape(base)
            (labels,) = m["raftkv_raft_node_info"]
            return (m["raftkv_raft_term"][()] == info["term"]
                    and m["raftkv_raft_commit_index"][()] == info["commit_index"]
                    and m["raftkv_raft_applied_index"][()] == info["applied_index"]
                    and m["raftkv_raft_last_log_index"][()] == info["last_log_index"]
                    and m["raftkv_raft_role"][(("role", info["role"]),)] == 1
                    and dict(labels)["node_id"] == str(info["node_id"])
                    and dict(labels)["leader_id"] == str(info["leader_id"])
                    and m["raftkv_raft_proposals_total"][()] >= 5
                    and m["raftkv_write_commit_seconds_count"][()] >= 5
                    and m["raftkv_log_sync_seconds_count"][()] >= 1)

        wait_for(agree, 10, "/metrics to show what INFO raft shows")
        assert c.info("raft") == info  # nothing moved meanwhile: the comparison was with one state
    assert get(base + "/health") == (200, "ok\n")
    assert get(base + "/readyz") == (200, "ok\n")


def test_metrics_count_commands_by_name_as_info_commandstats(make_node) -> None:
    node, base = metrics_node(make_node)
    with node.client(protocol=2) as c:
        for i in range(3):
            c.set(f"k{i}", "v")
        c.get("k0")
        with pytest.raises(redis.ResponseError):
            c.execute_command("INCR", "k0")  # not an integer: a failed call

        def agree() -> bool:
            stats = c.info("commandstats")
            m = scrape(base)
            calls, failed = m.get("raftkv_command_calls_total", {}), m.get("raftkv_command_failed_calls_total", {})
            return all(calls.get((("command", name),)) == stats[f"cmdstat_{name}"]["calls"]
                       and failed.get((("command", name),)) == stats[f"cmdstat_{name}"]["failed_calls"]
                       for name in ("set", "get", "incr"))

        wait_for(agree, 10, "/metrics to count commands as INFO commandstats does")


def test_readyz_fails_on_a_survivor_without_leader(make_cluster) -> None:
    ports = [free_port() for _ in range(3)]
    cluster: Cluster = make_cluster(3)
    # make_cluster takes one argument list for all nodes: give each its own metrics port by restarting it.
    for node, port in zip(cluster.nodes, ports):
        node.stop()
        node.extra_args += ["--metrics-addr", f"127.0.0.1:{port}"]
    for node in cluster.nodes:
        node.start(wait=False)
    for node in cluster.nodes:
        node.wait_ready()
    leader = cluster.leader()
    survivor = cluster.followers(leader)[0]
    base = f"http://127.0.0.1:{ports[cluster.nodes.index(survivor)]}"
    wait_for(lambda: get(base + "/readyz") == (200, "ok\n"), 10, "the survivor to be ready")
    for node in cluster.nodes:
        if node is not survivor:
            node.stop()
    wait_for(lambda: get(base + "/readyz") == (503, "no leader\n"), 30, "/readyz to fail without a leader")
    assert get(base + "/health") == (200, "ok\n")  # the loop goes on; only the cluster is gone
    assert cluster.raft_info(survivor)["leader_id"] == 0
    with survivor.client(protocol=2) as c:
        assert c.ping()  # why a load balancer must not check PING


def test_readyz_fails_while_waiting_to_join(make_node, tmp_path) -> None:
    port = free_port()
    config = tmp_path / "raftkv.toml"
    config.write_text(f'metrics-addr = "127.0.0.1:{port}"\n')  # the config file's key, as the flag
    make_node(extra_args=["--join", f"127.0.0.1:{free_port()}", "--config", str(config)])
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: get(base + "/readyz") == (503, "joining\n"), 10, "/readyz to say the node is joining")
    assert get(base + "/health") == (200, "ok\n")


def test_a_busy_metrics_address_stops_the_start_with_one_line(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_server(["--port", str(free_port()), "--data-dir", str(tmp_path / "d"), "--workers", "1",
                             "--metrics-addr", f"127.0.0.1:{port}"])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"raftkv-server: cannot serve metrics on 127.0.0.1:{port}: address already in use")
    assert "Traceback" not in result.stderr


def test_a_bad_metrics_address_is_refused(tmp_path) -> None:
    result = run_server(["--port", str(free_port()), "--data-dir", str(tmp_path / "d"), "--metrics-addr", "nowhere"])
    assert result.returncode == 1
    assert result.stderr == "raftkv-server: --metrics-addr: bad address 'nowhere': expected host:port\n"
