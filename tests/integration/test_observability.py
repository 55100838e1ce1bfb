"""INFO commandstats/errorstats/latencystats, SLOWLOG, LATENCY, LASTSAVE and run-time CONFIG on a real node,
read through redis-py's own parsers (its reply callbacks are written for Redis's formats)."""
from __future__ import annotations

import os
import signal
import time
import tomllib

import pytest
import redis

from tests.integration.conftest import Node, assert_cases_match_redis, wait_for
from tests.redis_server import redis_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def test_commandstats_count_every_workers_commands_and_reset(make_node) -> None:
    node: Node = make_node(workers=2)
    clients = [node.client(protocol=2) for _ in range(4)]  # spread over both workers
    assert clients[0].config_resetstat()  # forget the start's readiness checks
    for i, c in enumerate(clients):
        c.set(f"k{i}", "v")
        c.get(f"k{i}")
    with pytest.raises(redis.ResponseError):
        clients[0].lpush("k0", "x")  # WRONGTYPE: a failed call
    c = clients[0]
    stats = c.info("commandstats")
    assert stats["cmdstat_set"]["calls"] == 4 and stats["cmdstat_get"]["calls"] == 4
    assert stats["cmdstat_lpush"]["failed_calls"] == 1 and stats["cmdstat_lpush"]["rejected_calls"] == 0
    assert stats["cmdstat_set"]["usec"] > 0 and stats["cmdstat_set"]["usec_per_call"] > 0
    assert "cmdstat_info" not in stats  # counted once it has answered, as in Redis
    assert c.info("commandstats")["cmdstat_info"]["calls"] == 1
    assert c.info("errorstats") == {"errorstat_WRONGTYPE": {"count": 1}}
    latency = c.info("latencystats")["latency_percentiles_usec_set"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["p99.9"]
    assert "cmdstat_config|get" not in stats
    for other in clients:
        other.ping()  # answered by the workers, which send their counts to the Raft process
    wait_for(lambda: c.info("commandstats").get("cmdstat_ping", {}).get("calls") == 4, 10, "the workers' counts")
    c.config_get("maxclients")
    assert c.info("commandstats")["cmdstat_config|get"]["calls"] == 1
    assert "cmdstat_set" not in c.info()  # not a default section
    assert c.config_resetstat()
    assert "cmdstat_set" not in c.info("commandstats")
    assert c.info("errorstats") == {}


def test_slowlog_entries_as_redis_gives_them(make_node) -> None:
    node: Node = make_node(workers=1)
    c = node.client(protocol=2)
    assert c.config_get("slowlog-*") == {"slowlog-log-slower-than": "10000", "slowlog-max-len": "128"}
    assert c.config_set("slowlog-log-slower-than", 0)
    c.slowlog_reset()
    c.set("big", b"x" * 200)
    c.rpush("list", *range(40))
    entries = c.slowlog_get(2)
    assert [e["command"] for e in entries] == [
        b"RPUSH list " + b" ".join(b"%d" % i for i in range(29)) + b" ... (11 more arguments)",
        b"SET big " + b"x" * 128 + b"... (72 more bytes)",
    ]
    conn = c.connection_pool.get_connection()
    try:
        addr = "{}:{}".format(*conn._sock.getsockname())
    finally:
        c.connection_pool.release(conn)
    newest = entries[0]
    assert newest["client_address"] == addr.encode() and newest["client_name"] == b""
    assert newest["id"] > entries[1]["id"] and abs(newest["start_time"] - time.time()) < 60
    assert newest["duration"] > 0
    c.client_setname("reporter")
    c.get("named")
    assert c.slowlog_get(1)[0]["client_name"] == b"reporter"
    c.config_set("requirepass", "secret-one")
    c.auth("secret-one")
    assert c.slowlog_get(1)[0]["command"] == b"CONFIG SET requirepass (redacted)"
    assert c.config_set("slowlog-max-len", 2, "slowlog-log-slower-than", -1)
    assert c.slowlog_len() == 2
    c.set("fast", "1")
    assert c.slowlog_len() == 2  # off
    assert c.slowlog_reset() and c.slowlog_len() == 0
    assert c.execute_command("SLOWLOG", "HELP")[0].startswith(b"SLOWLOG <subcommand>")
    with pytest.raises(redis.ResponseError, match="count should be greater than or equal to -1"):
        c.slowlog_get(-2)


def test_latency_monitor_and_lastsave(make_node) -> None:
    node: Node = make_node(workers=1, extra_args=["--snapshot-entries", "10"])
    c = node.client(protocol=2)
    started = c.lastsave()
    assert abs(started.timestamp() - time.time()) < 60
    assert c.latency_latest() == [] and c.config_get("latency-monitor-threshold") == {
        "latency-monitor-threshold": "0"}
    c.set("k", "v")
    assert c.latency_latest() == []  # off by default
    assert c.config_set("latency-monitor-threshold", 1)
    c.rpush("long", *range(50_000))  # one entry of 50,000 elements takes well over 1 ms, on any disk
    assert [e[0] for e in c.latency_latest()] in ([b"command"], [b"command", b"fsync"], [b"fsync", b"command"])
    history = c.latency_history("command")
    assert history and all(ms >= 1 for _t, ms in history)
    # LASTSAVE has a resolution of a second: the snapshot comes in a later one than the start.
    wait_for(lambda: time.time() >= started.timestamp() + 1.2, 5, "the next second")
    for i in range(20):
        c.set(f"s{i}", i)
    wait_for(lambda: c.lastsave() > started, 30, "a snapshot to move LASTSAVE")
    assert c.info("persistence")["snapshots_taken"] >= 1
    wait_for(lambda: c.latency_history("snapshot"), 10, "the snapshot's latency sample")  # a fork takes > 1 ms
    events = {e[0] for e in c.latency_latest()}
    assert {b"command", b"snapshot"} <= events <= {b"command", b"snapshot", b"fsync"}
    assert c.execute_command("LATENCY", "RESET", "command", "nothing") == 1
    assert not any(e[0] == b"command" for e in c.latency_latest())
    assert c.execute_command("LATENCY", "RESET") >= 0 and c.latency_latest() == []


def test_config_set_reaches_every_worker_and_the_raft_process(make_node) -> None:
    node: Node = make_node(workers=2)
    admin = node.client(protocol=2)
    assert admin.config_set("requirepass", "pw", "maxclients", 3) is True
    assert admin.config_get("requirepass") == {"requirepass": "pw"}
    assert admin.info("clients")["maxclients"] == 3
    # New connections on every worker now need the password (each worker is told, not just this one).
    for _ in range(4):
        with pytest.raises(redis.AuthenticationError):
            node.client(protocol=2).ping()
    with pytest.raises(redis.ResponseError, match="duplicate parameter"):
        admin.config_set("maxclients", 4, "maxclients", 5)
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        admin.config_set("port", 1)
    with pytest.raises(redis.ResponseError, match="Unknown option or number of arguments for CONFIG SET - 'nope'"):
        admin.config_set("nope", 1)
    with pytest.raises(redis.ResponseError, match="argument must be between 1 and 4294967295 inclusive"):
        admin.config_set("maxclients", 0)
    assert admin.config_get("maxclients") == {"maxclients": "3"}  # a refused SET changes nothing
    admin.config_set("requirepass", "")
    c = node.client(protocol=2)
    assert c.ping()
    assert admin.config_set("snapshot-entries", 5, "request-timeout-ms", 1500)
    assert admin.config_get("*-timeout-ms") == {"request-timeout-ms": "1500", "commit-timeout-ms": "5000"}
    for i in range(12):
        c.set(f"k{i}", i)
    wait_for(lambda: c.info("persistence")["snapshot_index"] >= 5, 30, "a snapshot after 5 entries")
    with pytest.raises(redis.ResponseError, match="The server is running without a config file"):
        admin.config_rewrite()


def test_config_rewrite_writes_the_file_back(make_node, tmp_path) -> None:
    path = tmp_path / "raftkv.toml"
    path.write_text("# our node\nmaxclients = 100\nlog-format = \"text\"\n")
    node: Node = make_node(start=False, workers=1, extra_args=["--config", str(path)])
    node.start()
    c = node.client(protocol=2)
    c.config_set("maxclients", 200, "slowlog-max-len", 7, "requirepass", 'a "quoted" pass')
    c.auth('a "quoted" pass')
    assert c.config_rewrite()
    text = path.read_text()
    assert text.startswith("# our node\nmaxclients = 200\nlog-format = \"text\"\n")
    assert tomllib.loads(text) == {"maxclients": 200, "log-format": "text", "slowlog-max-len": 7,
                                   "requirepass": 'a "quoted" pass'}
    node.stop()
    node.start(wait=False)  # the file it wrote starts it again with those values
    again = node.client(protocol=2, password='a "quoted" pass')
    wait_for(lambda: again.ping(), 30, "the node")
    assert again.config_get("slowlog-max-len") == {"slowlog-max-len": "7"}


def test_a_worker_takes_maxclients_at_run_time_and_a_restarted_one_the_current_values(make_node) -> None:
    node: Node = make_node(workers=1)
    admin = node.client(protocol=2)
    assert admin.config_set("maxclients", 2)
    second = node.client(protocol=2)
    assert second.ping()
    with pytest.raises(redis.ConnectionError, match="max number of clients reached"):
        node.client(protocol=2).ping()
    assert admin.config_set("requirepass", "after-restart", "maxclients", 10)
    (worker,) = node.worker_pids()
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: node.worker_pids() and node.worker_pids() != [worker], 30, "the worker to be restarted")
    fresh = node.client(protocol=2, password="after-restart")
    wait_for(lambda: fresh.ping(), 30, "the restarted worker")
    with pytest.raises(redis.AuthenticationError):
        node.client(protocol=2).get("k")


# Replies that must be Redis's bytes; every CONFIG SET here fails, so the shared redis-server is unchanged.
_SAME_AS_REDIS = {
    "config errors and help": [
        ("CONFIG", "SET", "maxclients", "abc"), ("CONFIG", "SET", "maxclients", 0), ("CONFIG", "SET", "nope", 1),
        ("CONFIG", "SET", "maxclients", 10, "MAXCLIENTS", 11), ("CONFIG", "SET", "slowlog-log-slower-than", -5),
        ("CONFIG", "SET", "slowlog-max-len", -1), ("CONFIG", "SET", "latency-monitor-threshold", -1),
        ("CONFIG", "SET", "maxclients"), ("CONFIG", "SET", "maxclients", 1, "x"), ("CONFIG", "GET"),
        ("CONFIG", "RESETSTAT", "x"), ("CONFIG", "NOPE"), ("CONFIG", "HELP"), ("CONFIG", "RESETSTAT"),
        ("CONFIG", "GET", "slowlog-max-len"), ("CONFIG", "GET", "slowlog-log-slower-than"),
        ("CONFIG", "GET", "latency-monitor-threshold"),
        ("CONFIG", "GET", "no-such-*"),
    ],
    "slowlog": [
        ("SLOWLOG", "HELP"), ("SLOWLOG", "RESET"), ("SLOWLOG", "LEN"), ("SLOWLOG", "GET"), ("SLOWLOG", "GET", -2),
        ("SLOWLOG", "GET", "abc"), ("SLOWLOG", "LEN", "x"), ("SLOWLOG", "NOPE"), ("SLOWLOG",),
    ],
    "latency": [("LATENCY", "RESET"), ("LATENCY", "LATEST"), ("LATENCY", "HISTORY", "command"),
                ("LATENCY", "RESET", "command"), ("LATENCY", "NOPE"), ("LATENCY", "LATEST", "x"),
                ("LASTSAVE", "x")],
}


def test_replies_match_redis_byte_for_byte(make_node, redis_server) -> None:  # noqa: F811
    node: Node = make_node(workers=1)
    assert_cases_match_redis(node.port, redis_server, _SAME_AS_REDIS)
