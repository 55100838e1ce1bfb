"""ACL-lite on real nodes: users made on one node log in on every node, a read-only user is refused writes
with Redis's NOPERM, and users survive restarts (from the log and from a snapshot)."""
from __future__ import annotations

import os
import signal

import pytest
import redis

from tests.integration.conftest import Cluster, is_alive, wait_for

pytestmark = pytest.mark.integration

def logs_in(node, user: str, password: str) -> bool:
    try:
        with node.client(protocol=2, username=user, password=password) as c:
            return c.ping() is True
    except redis.AuthenticationError:
        return False


def test_users_are_the_same_on_every_node_and_a_reader_cannot_write(make_cluster) -> None:
    cluster: Cluster = make_cluster(3, workers=2)
    leader = cluster.leader()
    follower, other = cluster.followers(leader)
    admin = follower.client(protocol=2)  # the default user: no --requirepass, every permission
    assert admin.execute_command("ACL", "SETUSER", "reader", "on", ">r3ad", "~*", "+@all", "-@write") == b"OK"
    assert admin.set("k", "v")
    for node in cluster.nodes:
        wait_for(lambda n=node: logs_in(n, "reader", "r3ad"), 10, f"reader to log in on {node.address}")
        assert not logs_in(node, "reader", "wrong")
    reader = other.client(protocol=3, username="reader", password="r3ad")
    assert reader.get("k") == b"v"
    with pytest.raises(redis.exceptions.NoPermissionError,
                       match="User reader has no permissions to run the 'set' command"):
        reader.set("k", "w")
    assert reader.acl_whoami() == b"reader"
    assert admin.acl_getuser("reader")["categories"] == ["+@all", "-@write"]
    assert admin.execute_command("ACL", "DELUSER", "reader") == 1
    wait_for(lambda: not logs_in(other, "reader", "r3ad"), 10, "the deleted user to be refused")
    with pytest.raises(redis.ConnectionError):
        reader.get("k")  # its connection was closed


def test_users_survive_a_restart_from_the_log_and_from_a_snapshot(make_node) -> None:
    node = make_node(extra_args=["--snapshot-entries", "50"])
    c = node.client(protocol=2)
    c.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all")
    node.stop()
    node.start()
    assert logs_in(node, "app", "pw")
    c = node.client(protocol=2)
    pipe = c.pipeline(transaction=False)
    for i in range(200):
        pipe.set(f"k{i}", i)
    pipe.execute()
    wait_for(lambda: c.info("persistence")["snapshot_index"] > 0, 20, "a snapshot")
    node.stop()
    node.start()
    assert logs_in(node, "app", "pw") and not logs_in(node, "app", "nope")
    assert node.client(protocol=2).acl_users() == ["app", "default"]


def test_a_restarted_worker_is_sent_the_users(make_node) -> None:
    node = make_node(workers=1)
    node.client(protocol=2).execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all")
    wait_for(lambda: logs_in(node, "app", "pw"), 10, "app to log in")
    (victim,) = node.worker_pids()
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: not is_alive(victim) and len(node.worker_pids()) == 1, 10, "the worker to be restarted")
    wait_for(lambda: logs_in(node, "app", "pw"), 10, "app to log in on the new worker")
    assert not logs_in(node, "app", "nope")


def test_users_and_monitors_outlive_a_config_set(make_node) -> None:
    node = make_node(workers=1)
    admin = node.client(protocol=2)
    admin.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "+@all")
    wait_for(lambda: logs_in(node, "app", "pw"), 10, "app to log in")
    with admin.monitor() as monitor:
        assert admin.config_set("maxclients", 50)  # every worker takes the new value
        with node.client(protocol=2, username="app", password="pw") as app:
            assert app.set("after", "config set")
        commands = []
        while "after" not in commands:
            commands = monitor.next_command()["command"].split()
    assert logs_in(node, "app", "pw")
