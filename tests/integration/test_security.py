"""Passwords, the cluster secret, protected mode and maxclients on real nodes."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import redis

from raftkv.wire.resp import encode_command
from tests.integration.conftest import Cluster, free_port, wait_for
from tests.integration.test_node import raw, run_server

pytestmark = pytest.mark.integration


def test_requirepass_gates_every_command_but_auth_and_hello(make_node) -> None:
    node = make_node(extra_args=["--requirepass", "s3cret"], start=False)
    node.start(wait=False)
    wait_for(lambda: node.client(protocol=2, password="s3cret").ping(), 30, "the node")
    assert raw(node, b"GET k\r\n") == b"-NOAUTH Authentication required.\r\n"
    assert raw(node, b"PING\r\nAUTH wrong\r\nAUTH s3cret\r\nPING\r\nQUIT\r\n") == (
        b"-NOAUTH Authentication required.\r\n"
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n+PONG\r\n+OK\r\n"
    )
    assert raw(node, b"AUTH nobody s3cret\r\nAUTH default s3cret\r\nQUIT\r\n") == (
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n+OK\r\n"
    )
    assert raw(node, b"HELLO 3\r\n").startswith(b"-NOAUTH HELLO must be called with the client already")
    c = node.client(protocol=3, password="s3cret")  # HELLO 3 AUTH default s3cret
    assert c.set("k", "v") and c.get("k") == b"v"
    with pytest.raises(redis.AuthenticationError):
        node.client(protocol=2, password="nope").ping()
    env = {**os.environ, "KVSCTL_PASSWORD": "s3cret"}
    got = subprocess.run([sys.executable, "-m", "kvsctl", "-a", node.address, "get", "k"], env=env,
                         capture_output=True, text=True, timeout=30)
    assert got.returncode == 0 and got.stdout.strip() == "v", got.stderr
    denied = subprocess.run([sys.executable, "-m", "kvsctl", "-a", node.address, "get", "k"],
                            capture_output=True, text=True, timeout=30)
    assert denied.returncode == 1 and "NOAUTH Authentication required" in denied.stderr


def test_auth_without_a_password_configured(node) -> None:
    assert raw(node, b"AUTH x\r\nAUTH default anything\r\nQUIT\r\n") == (
        b"-ERR AUTH <password> called without any password configured for the default user. "
        b"Are you sure your configuration is correct?\r\n+OK\r\n+OK\r\n"
    )


def test_a_cluster_with_a_secret_refuses_a_peer_without_it(make_cluster) -> None:
    cluster: Cluster = make_cluster(3, extra_args=["--cluster-secret", "shared"])
    leader = cluster.leader()
    assert leader.client(protocol=2).set("k", "v")
    peer_port = int(leader.extra_args[leader.extra_args.index("--peer-port") + 1])
    with socket.create_connection(("127.0.0.1", peer_port), timeout=5) as sock:
        sock.sendall(encode_command([b"H", b"wrong", b"12345"]) + encode_command([b"5", b"1", b"2"]))
        sock.settimeout(5)
        assert sock.recv(100) == b""  # refused: the connection is closed
    wait_for(lambda: "refused peer connection" in leader.log() and "wrong cluster secret" in leader.log(),
             10, "the refusal in the log")
    assert all(n.client(protocol=2).get("k") == b"v" for n in cluster.nodes)


def test_protected_mode_refuses_a_public_address_without_a_password(tmp_path) -> None:
    result = run_server(["--host", "0.0.0.0", "--port", str(free_port()), "--data-dir", str(tmp_path / "d")])
    assert result.returncode == 1
    assert result.stderr.strip().startswith("raftkv-server: refusing to serve clients on 0.0.0.0 without "
                                            "--requirepass")


def test_maxclients(make_node) -> None:
    node = make_node(workers=1, extra_args=["--maxclients", "3"])
    held = [socket.create_connection((node.host, node.port), timeout=5) for _ in range(3)]
    try:
        for sock in held:
            sock.sendall(b"PING\r\n")
            assert sock.recv(100) == b"+PONG\r\n"
        with socket.create_connection((node.host, node.port), timeout=5) as extra:
            assert extra.recv(100) == b"-ERR max number of clients reached\r\n"
    finally:
        for sock in held:
            sock.close()
    wait_for(lambda: node.client(protocol=2).ping(), 10, "a slot to free up")
