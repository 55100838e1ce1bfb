"""The ``kvsctl`` console script against a real one-node raftkv server (the ``node`` fixture), also named
behind endpoints that are down."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KVSCTL_TIMEOUT_S = 30


def kvsctl(*args: str, address: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m kvsctl`` from the repository, bounded by a timeout."""
    env = {k: v for k, v in os.environ.items() if k not in ("KVSCTL_ADDRESS", "KVSCTL_ENDPOINTS")}
    if address is not None:
        env["KVSCTL_ADDRESS"] = address
    return subprocess.run(
        [sys.executable, "-m", "kvsctl", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=KVSCTL_TIMEOUT_S,
    )


def test_set_get_del(node: Any) -> None:
    a = ("-a", node.address)
    assert kvsctl(*a, "set", "greeting", "hello world").stdout == "OK\n"
    assert kvsctl(*a, "get", "greeting").stdout == "hello world\n"
    assert kvsctl(*a, "del", "greeting", "absent").stdout == "(integer) 1\n"
    result = kvsctl(*a, "get", "greeting")
    assert (result.returncode, result.stdout, result.stderr) == (0, "(nil)\n", "")
    assert kvsctl(*a, "del", "greeting").stdout == "(integer) 0\n"


def test_names_are_case_insensitive(node: Any) -> None:
    assert kvsctl("-a", node.address, "SET", "k", "v").stdout == "OK\n"
    assert kvsctl("-a", node.address, "Get", "k").stdout == "v\n"
    assert kvsctl("--ADDRESS", node.address, "DEL", "k").stdout == "(integer) 1\n"


def test_sees_and_makes_the_same_writes_as_redis_clients(node: Any) -> None:
    client = node.client()
    try:
        client.set(b"from-redis", b"1")
        assert kvsctl("get", "from-redis", address=node.address).stdout == "1\n"
        assert kvsctl("set", "from-kvsctl", "2", address=node.address).returncode == 0
        assert client.get(b"from-kvsctl") == b"2"
    finally:
        client.close()


def dead_address() -> str:
    """An address of 127.0.0.1 that nothing listens on: its port was just released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


def test_unreachable_address() -> None:
    address = dead_address()
    result = kvsctl("-a", address, "get", "k")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"kvsctl: cannot reach {address}: connection refused\n"


def test_member_list(node: Any) -> None:
    result = kvsctl("-a", node.address, "member", "list")
    if result.returncode == 0:
        # The server knows RAFT MEMBER LIST: one member, this node, the leader.
        header, *rows = result.stdout.splitlines()
        assert header.split()[:2] == ["ID", "CLIENT"]
        assert len(rows) == 1 and node.address in rows[0]
    else:
        # Not implemented yet: the server's error, as one line.
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr.startswith("(error) ")
        assert result.stderr.count("\n") == 1


def test_every_command_moves_on_past_a_dead_endpoint(node: Any) -> None:
    e = ("--endpoints", f"{dead_address()},{node.address}")
    assert kvsctl(*e, "set", "failover", "1").stdout == "OK\n"
    assert kvsctl(*e, "get", "failover").stdout == "1\n"
    assert kvsctl(*e, "del", "failover").stdout == "(integer) 1\n"
    listing = kvsctl(*e, "member", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    [me] = json.loads(listing.stdout)
    assert (me["client_addr"], me["leader"]) == (node.address, True)
    with node.client(protocol=2) as client:
        assert me["id"] == client.info("raft")["node_id"]


def test_all_endpoints_down() -> None:
    a, b = dead_address(), dead_address()
    result = kvsctl("--endpoints", f"{a},{b}", "set", "k", "v")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"kvsctl: cannot reach any endpoint: {a}: connection refused; {b}: connection refused\n"
