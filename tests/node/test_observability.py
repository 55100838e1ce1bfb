"""The Raft process's command statistics, slow log, latency monitor and CONFIG, in-process."""
from __future__ import annotations

from pathlib import Path

import pytest

from raftkv.command_stats import CommandStats, percentiles, stat_name
from raftkv.config import NodeConfig
from raftkv.errors import RespError
from raftkv.kv.table import TABLE
from raftkv.node.config_command import ConfigCommand
from raftkv.node.config_rewrite import rewrite
from raftkv.node.latency_monitor import LatencyMonitor
from raftkv.node.observer import CommandObserver
from raftkv.node.sequencer import Client, Pending, ReplyTo, Sequencer
from raftkv.node.slowlog import SlowLog, redacted, shown_args
from raftkv.runtime_config import changed_pairs, parse_changes

# -- INFO commandstats, errorstats, latencystats -----------------------------------------------------


def test_calls_failures_rejections_and_errors_are_counted_by_name() -> None:
    stats = CommandStats()
    stats.called("set", 10, "OK")
    stats.called("set", 30, "OK")
    stats.called("lpush", 5, RespError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    stats.rejected("set", RespError("ERR this node was removed from the cluster"))
    assert dict(stats.commandstats()) == {
        "cmdstat_lpush": "calls=1,usec=5,usec_per_call=5.00,rejected_calls=0,failed_calls=1",
        "cmdstat_set": "calls=2,usec=40,usec_per_call=20.00,rejected_calls=1,failed_calls=0",
    }
    assert stats.errorstats() == [("errorstat_ERR", "count=1"), ("errorstat_WRONGTYPE", "count=1")]
    assert dict(stats.latencystats())["latency_percentiles_usec_set"] == "p50=10.000,p99=30.000,p99.9=30.000"
    stats.reset()
    assert stats.commandstats() == stats.errorstats() == stats.latencystats() == []


def test_percentiles_keep_seven_leading_bits() -> None:
    assert percentiles({5: 98, 100: 2}, [50.0, 99.0, 99.9]) == [5, 100, 100]
    stats = CommandStats()
    for usec in (1000, 1001, 1007, 1008):  # 1000..1007 share a bucket of 8 µs
        stats.called("get", usec, b"")
    assert percentiles(stats._commands["get"].histogram, [50.0, 100.0]) == [1007, 1015]
    assert percentiles({1: 999, 2: 1}, [99.9]) == [1]  # 99.9% of 1000 is the 999th, not the 1000th


def test_a_subcommand_counts_under_its_container() -> None:
    assert stat_name(TABLE[b"config"], [b"CONFIG", b"SET", b"a", b"b"]) == "config|set"
    assert stat_name(TABLE[b"config"], [b"CONFIG", b"NOPE"]) == "config"
    assert stat_name(TABLE[b"get"], [b"GET", b"k"]) == "get"


# -- the observer through the sequencer ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.ns = 0


def observed(config: NodeConfig) -> tuple[Sequencer, CommandObserver, list[object]]:
    replies: list[object] = []
    observer = CommandObserver(config)
    seq = Sequencer(lambda to, v: replies.append(v), lambda to, argv: None, lambda: None, 2.0, observer)
    seq.begin_turn(0.0)
    seq.open(0, 1, b"127.0.0.1:5000")
    return seq, observer, replies


def test_a_slow_command_is_logged_with_its_client_and_a_fast_one_is_not() -> None:
    seq, observer, _ = observed(NodeConfig(data_dir=Path("."), slowlog_log_slower_than_us=0))
    client = next(iter(seq.clients.values()))
    seq.submit(client, 0, 2, [b"SET", b"k", b"v"], TABLE[b"set"])
    (p,) = seq.take_writes()
    assert p.started_ns > 0
    seq.done(p, "OK")
    (entry,) = observer.slowlog.command([b"SLOWLOG", b"GET"])  # type: ignore[misc]
    assert entry[0] == 0 and entry[3:] == [[b"SET", b"k", b"v"], b"127.0.0.1:5000", b""]
    assert dict(observer.stats.commandstats())["cmdstat_set"].startswith("calls=1,")
    observer.configure(NodeConfig(data_dir=Path("."), slowlog_log_slower_than_us=-1))
    seq.submit(client, 1, 2, [b"GET", b"k"], TABLE[b"get"])
    (p,) = seq.take_reads()
    seq.done(p, b"v")
    assert len(observer.slowlog) == 1


def test_a_refused_write_counts_as_rejected() -> None:
    observer = CommandObserver(NodeConfig(data_dir=Path(".")))
    refusal = RespError("ERR disk full")
    seq = Sequencer(lambda to, v: None, lambda to, argv: None, lambda: refusal, 2.0, observer)
    seq.open(0, 1)
    seq.submit(next(iter(seq.clients.values())), 0, 2, [b"SET", b"k", b"v"], TABLE[b"set"])
    assert dict(observer.stats.commandstats())["cmdstat_set"].endswith("rejected_calls=1,failed_calls=0")
    assert observer.stats.errorstats() == [("errorstat_ERR", "count=1")]


# -- SLOWLOG --------------------------------------------------------------------------------------


def test_arguments_are_cut_as_redis_cuts_them() -> None:
    assert shown_args([b"a"] * 32) == [b"a"] * 32
    assert shown_args([b"a"] * 33) == [b"a"] * 31 + [b"... (2 more arguments)"]
    assert shown_args([b"x" * 128, b"y" * 130]) == [b"x" * 128, b"y" * 128 + b"... (2 more bytes)"]
    assert redacted([b"config", b"set", b"REQUIREPASS", b"pw", b"maxclients", b"3"]) == [
        b"config", b"set", b"REQUIREPASS", b"(redacted)", b"maxclients", b"3"]


def test_slowlog_get_len_reset_and_max_len() -> None:
    log = SlowLog(3)
    for i in range(5):
        log.add(1000 + i, i, [b"GET", b"%d" % i], b"a:1", b"n")
    assert log.command([b"SLOWLOG", b"LEN"]) == 3
    got = log.command([b"SLOWLOG", b"GET", b"2"])
    assert [e[0] for e in got] == [4, 3]  # type: ignore[attr-defined]
    assert log.command([b"slowlog", b"get", b"-1"]) == log.command([b"slowlog", b"get"])
    assert log.command([b"SLOWLOG", b"GET", b"-2"]) == RespError("ERR count should be greater than or equal to -1")
    log.set_max_len(1)
    assert [e[0] for e in log.command([b"SLOWLOG", b"GET"])] == [4]  # type: ignore[attr-defined]
    assert log.command([b"SLOWLOG", b"RESET"]) == "OK" and len(log) == 0
    assert log.command([b"SLOWLOG", b"LEN", b"x"]) == RespError(
        "ERR wrong number of arguments for 'slowlog|len' command")
    assert log.command([b"SLOWLOG", b"NOPE"]) == RespError("ERR unknown subcommand 'NOPE'. Try SLOWLOG HELP.")


# -- LATENCY --------------------------------------------------------------------------------------


def test_latency_keeps_one_sample_a_second_and_the_maximum() -> None:
    monitor = LatencyMonitor(0)
    monitor.add_if_slow("command", 500)
    assert monitor.command([b"LATENCY", b"LATEST"]) == []  # off
    monitor.threshold_ms = 10
    monitor.add_if_slow("command", 9)
    monitor.add_if_slow("command", 12)
    monitor.add_if_slow("command", 30)
    monitor.add_if_slow("fsync", 11)
    latest = monitor.command([b"LATENCY", b"LATEST"])
    assert [(e[0], e[2], e[3]) for e in latest] in (  # type: ignore[attr-defined]
        [(b"command", 30, 30), (b"fsync", 11, 11)],
        [(b"command", 12, 30), (b"fsync", 11, 11)],  # the second turned between the two samples
    )
    history = monitor.command([b"LATENCY", b"HISTORY", b"command"])
    assert max(ms for _t, ms in history) == 30  # type: ignore[attr-defined]
    assert monitor.command([b"LATENCY", b"HISTORY", b"snapshot"]) == []
    assert monitor.command([b"LATENCY", b"RESET", b"fsync", b"snapshot"]) == 1
    assert monitor.command([b"LATENCY", b"RESET"]) == 1
    assert monitor.command([b"LATENCY", b"LATEST"]) == []
    assert monitor.command([b"LATENCY", b"DOCTOR"]) == RespError("ERR unknown subcommand 'DOCTOR'. Try LATENCY HELP.")


# -- CONFIG ---------------------------------------------------------------------------------------


def test_config_set_is_all_or_nothing_with_redis_errors() -> None:
    assert parse_changes([b"maxclients", b"5", b"Request-Timeout-Ms", b"1500"]) == {
        "maxclients": 5, "request_timeout_s": 1.5}
    assert parse_changes([b"maxclients", b"5", b"maxclients", b"6"]) == RespError(
        "ERR CONFIG SET failed (possibly related to argument 'maxclients') - duplicate parameter")
    assert parse_changes([b"maxclients", b"x"]) == RespError(
        "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an "
        "integer")
    assert parse_changes([b"slowlog-log-slower-than", b"-2"]) == RespError(
        "ERR CONFIG SET failed (possibly related to argument 'slowlog-log-slower-than') - argument must be "
        "between -1 and 9223372036854775807 inclusive")
    assert parse_changes([b"maxclients", b"1_000"]) == parse_changes([b"maxclients", b" 1"]) == RespError(
        "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't be parsed into an "
        "integer")
    assert parse_changes([b"port", b"1"]) == RespError(
        "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config")
    assert parse_changes([b"nope", b"1"]) == RespError(
        "ERR Unknown option or number of arguments for CONFIG SET - 'nope'")


def test_config_command_changes_the_config_and_says_what_changed(tmp_path: Path) -> None:
    changed: list[tuple[NodeConfig, list[bytes]]] = []
    start = NodeConfig(data_dir=tmp_path)
    command = ConfigCommand(start, lambda c, pairs: changed.append((c, pairs)), lambda: None)
    assert command.command([b"CONFIG", b"SET", b"maxclients", b"7", b"requirepass", b"pw"]) == "OK"
    assert command.config.maxclients == 7 and command.config.requirepass == b"pw"
    assert changed == [(command.config, [b"maxclients", b"7", b"requirepass", b"pw"])]
    assert command.command([b"CONFIG", b"GET", b"max*s", b"requirepass"]) == {
        b"maxclients": b"7", b"requirepass": b"pw"}
    assert command.command([b"CONFIG", b"SET", b"maxclients", b"0"]) != "OK" and len(changed) == 1
    assert changed_pairs(start, command.config) == [b"maxclients", b"7", b"requirepass", b"pw"]
    assert command.command([b"CONFIG", b"REWRITE"]) == RespError("ERR The server is running without a config file")


def test_rewrite_keeps_other_lines_and_appends_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "raftkv.toml"
    path.write_text('# mine\nsnapshot-entries = 777 # old comment\nworkers = 2\n')
    path.chmod(0o600)
    config = NodeConfig(data_dir=tmp_path, snapshot_entries=50, latency_monitor_threshold_ms=5,
                        requirepass="p\"w\\ü".encode(), commit_timeout_s=2.5)
    rewrite(path, config)
    assert path.read_text() == (
        '# mine\nsnapshot-entries = 50\nworkers = 2\nrequirepass = "p\\"w\\\\ü"\nlatency-monitor-threshold = 5\n'
        'commit-timeout-ms = 2500\n')
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(OSError):
        rewrite(tmp_path / "missing.toml", config)


def test_a_pending_started_without_an_observer_has_no_time() -> None:
    seq = Sequencer(lambda to, v: None, lambda to, argv: None, lambda: None, 2.0)
    seq.open(0, 1)
    seq.submit(next(iter(seq.clients.values())), 0, 2, [b"GET", b"k"], TABLE[b"get"])
    (p,) = seq.take_reads()
    assert isinstance(p, Pending) and p.started_ns == 0 and isinstance(p, ReplyTo)
    assert isinstance(p.client, Client) and p.client.addr == b""
