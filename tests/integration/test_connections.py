"""Node-wide connection commands on real nodes through redis-py: CLIENT LIST/KILL/NO-EVICT over every
worker, MONITOR, and READONLY reads on a follower."""
from __future__ import annotations

import os
import signal

import pytest
import redis

from tests.integration.conftest import Node, _comm, is_alive, wait_for


def _spread(node: Node, count: int = 2) -> list[redis.Redis]:
    """Single-connection clients until ``count`` workers hold some (the kernel picks who accepts)."""
    clients: list[redis.Redis] = []
    while len({int(c.client_info()["worker"]) for c in clients}) < count:
        assert len(clients) < 300, "300 connections all went to one worker"
        clients.append(node.client(protocol=2, single_connection_client=True))
    return clients


def _on_other_worker(clients: list[redis.Redis], than: redis.Redis) -> redis.Redis:
    mine = than.client_info()["worker"]
    return next(c for c in clients if c.client_info()["worker"] != mine)


def _gone(c: redis.Redis) -> bool:
    """The server closed this connection (redis-py would reconnect on the next command: ask its socket)."""
    conn = c.connection
    assert conn is not None and conn._sock is not None
    return conn._sock.recv(1) == b""


def test_client_list_shows_the_connections_of_every_worker(make_node) -> None:
    node = make_node(workers=3)
    clients = _spread(node, 2)
    asker = clients[0]
    listing = asker.client_list()
    ids = {int(c.client_id()) for c in clients}
    assert ids <= {int(entry["id"]) for entry in listing}
    assert len({entry["worker"] for entry in listing}) >= 2
    assert [int(e["id"]) for e in listing] == sorted(int(e["id"]) for e in listing)
    other = _on_other_worker(clients, asker)
    chosen = asker.client_list(client_id=[other.client_id(), asker.client_id()])
    assert sorted(int(e["id"]) for e in chosen) == sorted([other.client_id(), asker.client_id()])
    assert asker.client_list(_type="normal") and asker.client_list(_type="pubsub") == []
    with pytest.raises(redis.ResponseError, match="Unknown client type 'bogus'"):
        asker.execute_command("CLIENT", "LIST", "TYPE", "bogus")
    with pytest.raises(redis.ResponseError, match="Invalid client ID"):
        asker.execute_command("CLIENT", "LIST", "ID", "x")
    info = other.client_info()
    assert info["flags"] == "N" and info["user"] == "default" and info["multi"] == -1


def test_client_kill_reaches_a_connection_on_another_worker(make_node) -> None:
    node = make_node(workers=2)
    clients = _spread(node, 2)
    killer = clients[0]
    by_id = _on_other_worker(clients, killer)
    killed_id = by_id.client_id()
    assert killer.client_kill_filter(_id=killed_id) == 1
    wait_for(lambda: _gone(by_id), 10, "the killed connection to close")

    by_addr = next(c for c in _spread(node, 2) if c.client_info()["worker"] != killer.client_info()["worker"])
    addr = by_addr.client_info()["addr"]
    assert killer.execute_command("CLIENT", "KILL", addr) == b"OK"  # the old form
    wait_for(lambda: _gone(by_addr), 10, "the connection killed by address to close")
    with pytest.raises(redis.ResponseError, match="No such client"):
        killer.execute_command("CLIENT", "KILL", addr)
    assert killer.client_kill_filter(_id=killed_id) == 0

    # LADDR matches every connection to this node; SKIPME yes (the default) spares the caller.
    survivors = _spread(node, 2)
    others = len(killer.client_list()) - 1
    assert killer.client_kill_filter(laddr=node.address) == others
    assert killer.ping()
    for c in survivors:
        wait_for(lambda c=c: _gone(c), 10, "every other connection to close")
    with pytest.raises(redis.ResponseError, match="client-id should be greater than 0"):
        killer.execute_command("CLIENT", "KILL", "ID", "0")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        killer.execute_command("CLIENT", "KILL", "SKIPME", "maybe")

    # SKIPME no kills the caller too, after its reply.
    assert killer.client_kill_filter(_id=killer.client_id(), skipme=False) == 1
    wait_for(lambda: _gone(killer), 10, "the caller to be closed after its reply")


def test_client_no_evict_is_accepted_and_shown_in_flags(node: Node) -> None:
    c = node.client(protocol=2, single_connection_client=True)
    assert c.execute_command("CLIENT", "NO-EVICT", "on") == b"OK"
    assert c.client_info()["flags"] == "e"
    assert c.execute_command("CLIENT", "NO-EVICT", "off") == b"OK"
    assert c.client_info()["flags"] == "N"
    with pytest.raises(redis.ResponseError, match="syntax error"):
        c.execute_command("CLIENT", "NO-EVICT", "maybe")


def test_monitor_sees_the_commands_of_every_worker(make_node) -> None:
    node = make_node(workers=3)
    clients = _spread(node, 3)
    ports = {str(c.client_info()["addr"]).rsplit(":", 1)[1] for c in clients}
    with node.client(protocol=2).monitor() as monitor:
        for i, c in enumerate(clients):
            c.set(f"mon:{i}", f'v "{i}"\n')
        seen: dict[str, dict] = {}
        while len(seen) < len(clients):
            event = monitor.next_command()
            if event["command"].startswith("SET mon:"):
                seen[event["command"].split()[1]] = event
        assert {e["client_port"] for e in seen.values()} == ports
        assert seen["mon:0"]["command"] == 'SET mon:0 v "0"\\n'
        assert seen["mon:0"]["db"] == 0 and seen["mon:0"]["client_type"] == "tcp"
        assert any(e["client_address"] == "127.0.0.1" for e in seen.values())
        # Passwords are redacted and administrative commands are not shown, as in Redis.
        clients[0].client_list()
        with pytest.raises(redis.AuthenticationError):
            clients[0].execute_command("AUTH", "nobody", "secret-word")
        clients[0].execute_command("ECHO", "last")
        rest = []
        while not rest or rest[-1] != "ECHO last":
            rest.append(monitor.next_command()["command"])
        assert "AUTH (redacted) (redacted)" in rest and "CLIENT LIST" not in rest


def test_monitoring_stops_when_the_monitor_disconnects(make_node) -> None:
    node = make_node(workers=2)
    watcher = node.client(protocol=2, single_connection_client=True)
    with node.client(protocol=2).monitor() as monitor:
        watcher.set("a", "1")
        assert monitor.next_command()["command"] == "SET a 1"
    wait_for(lambda: "flags=O" not in str(watcher.execute_command("CLIENT", "LIST")), 10,
             "the monitor to be gone")
    assert watcher.set("b", "2") and watcher.get("b") == b"2"


def test_a_restarted_worker_feeds_a_monitor_already_running(make_node) -> None:
    node = make_node(workers=2)
    r = node.client(protocol=2)
    monitor_worker = int(r.client_info()["worker"])  # the pool's connection, which MONITOR then takes
    with r.monitor() as monitor:
        victim_pid = next(p for p in node.worker_pids() if _comm(p) == f"raftkv-worker{1 - monitor_worker}")
        os.kill(victim_pid, signal.SIGKILL)
        wait_for(lambda: not is_alive(victim_pid), 10, "the worker to die")
        wait_for(lambda: len(node.worker_pids()) == 2, 10, "the worker to be restarted")
        for i in range(20):  # some of them reach the new worker
            with node.client(protocol=2) as c:
                c.set(f"after:{i}", "x")
        shown = set()
        while len(shown) < 20:
            command = monitor.next_command()["command"]
            if command.startswith("SET after:"):
                shown.add(command)


def test_readonly_reads_on_a_follower_are_served_from_its_own_state(make_cluster) -> None:
    cluster = make_cluster(3)
    leader = cluster.leader()
    follower, other = cluster.followers(leader)
    with leader.client(protocol=2) as c:
        assert c.set("earlier", "1")
    stale = follower.client(protocol=2, single_connection_client=True, socket_timeout=10)
    assert stale.execute_command("READONLY") is True  # redis-py reads its +OK as True
    assert "r" in stale.client_info()["flags"]
    wait_for(lambda: stale.get("earlier") == b"1", 10, "the follower to apply the write")
    # Its own writes are forwarded to the leader and answered once applied here: it reads them back.
    assert stale.set("mine", "2") and stale.get("mine") == b"2"
    assert stale.get("never written") is None and stale.lpos("mine-list", "x") is None  # null replies too
    assert stale.info("commandstats")["cmdstat_lpos"]["calls"] == 1  # counted under its own name

    # Alone, the follower has no leader: a default connection is refused rather than answered stale,
    # a READONLY one is answered from what the follower has applied.
    leader.kill_all()
    other.kill_all()
    default = follower.client(protocol=2, socket_timeout=10)
    with pytest.raises(redis.ResponseError, match="no leader|could not be confirmed"):
        default.get("earlier")
    assert stale.get("earlier") == b"1" and stale.mget("earlier", "mine") == [b"1", b"2"]
    assert stale.execute_command("READWRITE") is True
    with pytest.raises(redis.ResponseError, match="no leader|could not be confirmed"):
        stale.get("earlier")
