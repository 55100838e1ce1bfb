"""Redis compatibility through real nodes: byte-for-byte replies, transactions, expiry, redis-cli."""
from __future__ import annotations

import shutil
import subprocess
import threading

import pytest
import redis

from tests.integration.conftest import Cluster, Node, assert_cases_match_redis, wait_for
from tests.kv.test_differential import CASES
from tests.redis_server import RedisConnection, redis_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def test_hand_written_cases_match_redis_byte_for_byte(shared_node: Node, redis_server) -> None:
    assert_cases_match_redis(shared_node.port, redis_server, CASES)


@pytest.mark.parametrize("protocol", [2, 3])
def test_multi_exec_and_its_errors(shared_node: Node, protocol: int) -> None:
    c = shared_node.client(protocol=protocol)
    pipe = c.pipeline(transaction=True)
    pipe.set("t:a", 1).incr("t:a").get("t:a").mset({"t:b": "x", "t:c": "y"}).mget("t:b", "t:c")
    assert pipe.execute() == [True, 2, b"2", True, [b"x", b"y"]]
    raw = RedisConnection(shared_node.port)
    try:
        for command, reply in [
            ([b"MULTI"], b"+OK\r\n"),
            ([b"MULTI"], b"-ERR MULTI calls can not be nested\r\n"),
            ([b"GETX", b"t:a"], b"-ERR unknown command 'GETX', with args beginning with: 't:a' \r\n"),
            ([b"SET", b"t:a", b"doomed"], b"+QUEUED\r\n"),
            ([b"EXEC"], b"-EXECABORT Transaction discarded because of previous errors.\r\n"),
            ([b"EXEC"], b"-ERR EXEC without MULTI\r\n"),
            ([b"DISCARD"], b"-ERR DISCARD without MULTI\r\n"),
            ([b"MULTI"], b"+OK\r\n"),
            ([b"WATCH", b"t:a"], b"-ERR WATCH inside MULTI is not allowed\r\n"),
            ([b"SET", b"t:a", b"discarded"], b"+QUEUED\r\n"),
            ([b"DISCARD"], b"+OK\r\n"),
            ([b"MULTI"], b"+OK\r\n"),
            ([b"EXEC"], b"*0\r\n"),
            ([b"GET", b"t:a"], b"$1\r\n2\r\n"),
        ]:
            assert raw.call(command)[0] == reply, command
    finally:
        raw.close()


def test_watch_aborts_exec_when_the_key_changed(shared_node: Node) -> None:
    a, b = shared_node.client(protocol=3), shared_node.client(protocol=2)
    a.set("w:k", "1")
    with a.pipeline(transaction=True) as pipe:
        pipe.watch("w:k")
        assert pipe.get("w:k") == b"1"
        b.set("w:k", "changed")
        pipe.multi()
        pipe.set("w:k", "from-a")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert a.get("w:k") == b"changed"
    with a.pipeline(transaction=True) as pipe:
        pipe.watch("w:k")
        pipe.multi()
        pipe.set("w:k", "from-a")
        assert pipe.execute() == [True]
    assert b.get("w:k") == b"from-a"


def test_raw_watch_pipelined_with_exec(shared_node: Node) -> None:
    """WATCH, MULTI and EXEC sent in one write still check the watched version."""
    conn = RedisConnection(shared_node.port)
    try:
        conn.call([b"SET", b"rw", b"0"])
        conn._sock.sendall(b"WATCH rw\r\nMULTI\r\nINCR rw\r\nEXEC\r\n")
        data = b""
        while not data.endswith(b"*1\r\n:1\r\n"):
            chunk = conn._sock.recv(4096)
            assert chunk
            data += chunk
        assert data == b"+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n:1\r\n"
    finally:
        conn.close()


def test_keys_expire_and_the_leader_deletes_them(shared_node: Node) -> None:
    c = shared_node.client(protocol=2)
    c.set("e:short", "v", px=300)
    c.set("e:long", "v", ex=1000)
    assert 0 < c.pttl("e:short") <= 300
    wait_for(lambda: c.get("e:short") is None, 5, "the key to expire")
    assert c.exists("e:short") == 0 and c.ttl("e:short") == -2
    # The expiry sweep removes it from the map through the log: INFO counts only e:long with a TTL.
    wait_for(lambda: c.info("keyspace")["db0"]["expires"] == 1, 5, "the sweep to delete the key")
    assert c.ttl("e:long") > 990


def test_redis_cli_works_interactively_and_with_pipe(shared_node: Node, tmp_path) -> None:
    cli = shutil.which("redis-cli")
    assert cli, "redis-cli is not installed: run `apt-get install redis-tools` (.ci/run installs it)"
    port = str(shared_node.port)
    run = lambda *args, **kw: subprocess.run([cli, "-p", port, *args], capture_output=True,  # noqa: E731
                                             text=True, timeout=30, **kw)
    assert run("SET", "cli:k", "hello").stdout.strip() == "OK"
    assert run("GET", "cli:k").stdout.strip() == "hello"
    assert run("INCR", "cli:n").stdout.strip() == "1"
    assert run("--no-raw", "GET", "cli:missing").stdout.strip() == "(nil)"
    # A session fed on standard input, as a person at the prompt would type it.
    session = run(input="SET cli:s 1\nINCRBY cli:s 41\nGET cli:s\n")
    assert session.stdout.split() == ["OK", "42", "42"]
    lines = "".join(f"SET cli:mass:{i} {i}\r\n" for i in range(5000))
    mass = run("--pipe", input=lines)
    assert mass.returncode == 0, mass.stderr
    assert "errors: 0, replies: 5000" in mass.stdout
    c = shared_node.client(protocol=2)
    assert c.get("cli:mass:4999") == b"4999"


def test_expired_key_stays_expired_across_a_leader_change(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    leader = cluster.leader()
    c = leader.client(protocol=2)
    c.set("exp:k", "v", px=500)
    c.set("exp:keep", "v")
    wait_for(lambda: c.get("exp:k") is None, 5, "the key to expire on the leader")
    leader.stop()
    survivors = cluster.followers(leader)
    new = cluster.leader(among=survivors)
    for node in survivors:
        nc = node.client(protocol=2)
        assert nc.get("exp:k") is None and nc.exists("exp:k") == 0
        assert nc.get("exp:keep") == b"v"
    wait_for(lambda: new.client(protocol=2).info("keyspace")["db0"]["expires"] == 0, 10, "the sweep")


def test_multi_exec_is_atomic_on_every_node_under_concurrent_writers(make_cluster) -> None:
    cluster: Cluster = make_cluster(3)
    stop = threading.Event()
    failures: list[str] = []

    def writer(node: Node) -> None:
        c = node.client(protocol=2)
        for _ in range(60):
            pipe = c.pipeline(transaction=True)
            pipe.incr("atomic:a").incr("atomic:b")
            a, b = pipe.execute()
            if a != b:
                failures.append(f"EXEC replies {a} != {b}")

    def reader(node: Node) -> None:
        c = node.client(protocol=2)
        while not stop.is_set():
            a, b = c.mget("atomic:a", "atomic:b")
            if a != b:
                failures.append(f"read a torn transaction on {node.address}: {a} != {b}")

    writers = [threading.Thread(target=writer, args=(n,)) for n in cluster.nodes]
    readers = [threading.Thread(target=reader, args=(n,)) for n in cluster.nodes]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join(120)
    stop.set()
    for t in readers:
        t.join(30)
    assert not failures, failures[:5]
    cluster.wait_caught_up()
    digests = {n.client(protocol=2).execute_command("DEBUG", "DIGEST") for n in cluster.nodes}
    assert len(digests) == 1
    assert cluster.nodes[0].client(protocol=2).get("atomic:a") == b"180"
