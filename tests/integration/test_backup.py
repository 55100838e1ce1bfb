"""Backup and disaster recovery on real processes: `kvsctl snapshot save` from a 3-node cluster, restored
into a new one-node cluster and into a real redis-server, and `raftkv-server --force-new-cluster`."""
from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.conftest import Cluster, Node, free_port, wait_for
from tests.integration.test_kvsctl import kvsctl
from tests.redis_server import RedisServer

pytestmark = pytest.mark.integration

TTL_TOLERANCE_MS = 10_000  # time between reading the source and the copy, with slow test machines
_PIPE_TIMEOUT_S = 60


def populate(c: redis.Redis) -> None:
    """Keys of every type, small and large layouts, some with TTLs, in one pipeline."""
    p = c.pipeline(transaction=False)
    p.set(b"s:plain", b"value")
    p.set(b"s:binary", bytes(range(256)))
    p.set(b"s:ttl", b"expiring", px=900_000)
    p.hset(b"h:small", mapping={b"f1": b"1", b"f2": b"2"})
    p.hset(b"h:big", mapping={b"field%d" % i: b"x" * 70 for i in range(200)})
    p.pexpire(b"h:big", 800_000)
    p.rpush(b"l:list", *[b"e%d" % i for i in range(1500)])
    p.rpush(b"l:ttl", b"a", b"b", b"a")
    p.pexpire(b"l:ttl", 700_000)
    p.sadd(b"set:ints", *range(-5, 600))
    p.sadd(b"set:words", b"apple", b"pear", b"fig")
    p.zadd(b"z:scores", {b"m%d" % i: i / 7 for i in range(1200)})
    p.zadd(b"z:odd", {b"neg": float("-inf"), b"pos": float("inf"), b"tie-a": 1.5, b"tie-b": 1.5, b"big": 1e300})
    p.pexpire(b"z:odd", 600_000)
    for i in range(300):
        p.set(b"k:%d" % i, b"%d" % i)
    p.execute()


def contents(c: redis.Redis) -> dict[bytes, tuple[str, Any, int]]:
    """Every key: its type, its value (in Redis's order) and its PTTL (-1: none)."""
    out: dict[bytes, tuple[str, Any, int]] = {}
    for key in c.scan_iter(count=1000):
        kind = c.type(key).decode()
        if kind == "string":
            value: Any = c.get(key)
        elif kind == "hash":
            value = sorted(c.hgetall(key).items())
        elif kind == "list":
            value = c.lrange(key, 0, -1)
        elif kind == "set":
            value = sorted(c.smembers(key))
        else:
            value = c.zrange(key, 0, -1, withscores=True)
        out[key] = (kind, value, c.pttl(key))
    return out


def assert_same(expected: dict[bytes, tuple[str, Any, int]], actual: dict[bytes, tuple[str, Any, int]]) -> None:
    assert sorted(actual) == sorted(expected)
    for key, (kind, value, ttl) in expected.items():
        got_kind, got_value, got_ttl = actual[key]
        assert (got_kind, got_value) == (kind, value), key
        assert (ttl == -1) == (got_ttl == -1) and abs(got_ttl - ttl) < TTL_TOLERANCE_MS, (key, ttl, got_ttl)


def digest(node: Node) -> bytes:
    with node.client(protocol=2) as c:
        return c.execute_command("DEBUG", "DIGEST")


def ok(*args: str) -> subprocess.CompletedProcess[str]:
    result = kvsctl(*args)
    assert result.returncode == 0, result.stderr
    return result


def test_save_from_a_cluster_restore_a_new_cluster_and_load_redis(
        make_cluster: Callable[..., Cluster], make_node: Callable[..., Node], tmp_path: Path) -> None:
    cluster = make_cluster(3)
    leader = cluster.leader()
    with leader.client(protocol=2) as c:
        populate(c)
    cluster.wait_caught_up()
    follower = cluster.followers(leader)[0]
    backup = tmp_path / "backup.snap"

    commit = cluster.raft_info(leader)["commit_index"]

    # Asked through a follower, the save is served by the leader, at its commit index or later.
    saved = ok("--endpoints", follower.address, "snapshot", "save", str(backup))
    assert saved.stdout.startswith(f"Snapshot saved at {backup}: index ") and saved.stderr == ""
    assert int(saved.stdout.split("index ")[1].split(",")[0]) >= commit
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".backup")] == []  # no temp file left
    with leader.client(protocol=2) as c:
        source = contents(c)
    source_digest = digest(leader)

    # A new one-node cluster from the file.
    restored = make_node(start=False, extra_args=["--peer-port", str(free_port())])
    done = ok("snapshot", "restore", str(backup), "--data-dir", str(restored.data_dir),
              "--client-address", restored.address, "--peer-address", restored.peer_address)
    assert f"into {restored.data_dir}: node " in done.stdout
    again = kvsctl("snapshot", "restore", str(backup), "--data-dir", str(restored.data_dir))
    assert again.returncode == 1 and again.stderr == f"kvsctl: data dir {restored.data_dir} is not empty: " \
                                                     "restore into a new directory\n"
    restored.start()
    assert Cluster([restored]).raft_info(restored)["role"] == "leader"
    assert digest(restored) == source_digest
    with restored.client(protocol=2) as c:
        assert_same(source, contents(c))
        assert c.set(b"after-restore", b"1")
    with leader.client(protocol=2) as c:
        assert c.get(b"after-restore") is None  # another cluster
    grow(make_node, restored)

    # The same file as RESP commands, piped into a real Redis.
    dump = tmp_path / "dump.resp"
    ok("snapshot", "restore", str(backup), "--format", "resp", "--output", str(dump))
    server = RedisServer()
    try:
        server.start()
        with dump.open("rb") as f:
            piped = subprocess.run(["redis-cli", "-p", str(server.port), "--pipe"], stdin=f, capture_output=True,
                                   text=True, timeout=_PIPE_TIMEOUT_S)
        assert piped.returncode == 0 and "errors: 0" in piped.stdout, piped.stdout + piped.stderr
        with redis.Redis(port=server.port, protocol=2) as c:
            assert_same(source, contents(c))
    finally:
        server.cleanup()


def grow(make_node: Callable[..., Node], seed: Node) -> Node:
    """Add a fresh node to the cluster ``seed`` leads; it catches up and serves every key."""
    fresh = make_node(extra_args=["--join", seed.address])
    ok("-a", seed.address, "member", "add", fresh.address, fresh.peer_address)
    wait_for(lambda: digest(fresh) == digest(seed), 60, f"{fresh.address} to catch up with {seed.address}")
    return fresh


def test_force_new_cluster_restarts_a_lone_survivor(make_cluster: Callable[..., Cluster],
                                                     make_node: Callable[..., Node]) -> None:
    cluster = make_cluster(3, extra_args=["--snapshot-entries", "100"])
    leader = cluster.leader()
    with leader.client(protocol=2) as c:
        populate(c)
        for i in range(250):  # past a snapshot: the survivor restarts from one plus its log
            c.set(b"more:%d" % i, b"%d" % i)
    cluster.wait_caught_up()
    with leader.client(protocol=2) as c:
        source = contents(c)
    survivor, *lost = cluster.nodes
    for node in lost:
        node.kill_all()  # gone for good
    survivor.stop()

    survivor.extra_args = [*survivor.extra_args, "--force-new-cluster"]
    survivor.start()
    assert "is now its cluster's only voter" in survivor.log()
    assert Cluster([survivor]).raft_info(survivor)["role"] == "leader"
    with survivor.client(protocol=2) as c:
        assert_same(source, contents(c))
        assert c.set(b"after-force", b"1")
    members = ok("-a", survivor.address, "member", "list", "--json").stdout
    assert survivor.address in members and not any(node.address in members for node in lost)
    fresh = grow(make_node, survivor)
    with fresh.client(protocol=2) as c:
        assert c.get(b"after-force") == b"1"

    # The supervisor restarting the Raft process does not force again: the member added stays.
    raft_pid = survivor.raft_pid()
    os.kill(raft_pid, signal.SIGKILL)
    wait_for(lambda: survivor.raft_pid() != raft_pid, 30, "the supervisor to restart the Raft process")
    survivor.wait_ready()
    assert fresh.address in ok("-a", survivor.address, "member", "list", "--json").stdout
    assert survivor.log().count("is now its cluster's only voter") == 1


def test_save_needs_the_password_and_reads_a_file_of_many_chunks(make_node: Callable[..., Node],
                                                                 tmp_path: Path) -> None:
    node = make_node(extra_args=["--requirepass", "s3cret"], start=False)
    node.start(wait=False)
    wait_for(lambda: node.client(protocol=2, password="s3cret").get("__ready__") is None, 30, "the node")
    with node.client(protocol=2, password="s3cret") as c:
        p = c.pipeline(transaction=False)
        for i in range(40_000):
            p.set(b"key:%d" % i, b"v" * 100)
        p.execute()
    backup = tmp_path / "backup.snap"
    refused = kvsctl("-a", node.address, "snapshot", "save", str(backup))
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == f"kvsctl: {node.address} refused INFO: NOAUTH Authentication required.\n"
    assert not backup.exists()
    nowhere = tmp_path / "absent" / "backup.snap"
    unwritable = kvsctl("-a", node.address, "--password", "s3cret", "snapshot", "save", str(nowhere))
    assert (unwritable.returncode, unwritable.stderr) == (1, f"kvsctl: cannot write {nowhere}: No such file or "
                                                             "directory\n")
    saved = ok("-a", node.address, "--password", "s3cret", "snapshot", "save", str(backup))
    size = int(saved.stdout.rsplit(", ", 1)[1].split()[0])
    assert size > 4 << 20 and backup.stat().st_size == size  # several 1 MiB chunks
    dump = ok("snapshot", "restore", str(backup), "--format", "resp").stdout
    assert dump.count("\n$3\nSET\n") == 40_000  # (text mode: the CRLFs read as newlines)


def test_force_new_cluster_refuses_a_data_dir_without_a_cluster(make_node: Callable[..., Node]) -> None:
    node = make_node(start=False, extra_args=["--force-new-cluster"])
    result = subprocess.run(node.command(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.endswith(f"raftkv-server: --force-new-cluster: data dir {node.data_dir} holds no cluster "
                                  "to restart\n") and result.stderr.count("\n") == 1
