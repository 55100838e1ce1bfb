"""``endpoint status|health`` without a node: INFO parsing, rows, lag, tables; and the commands against
scripted servers answering INFO."""
from __future__ import annotations

import json
from typing import Any

import pytest

from kvsctl.endpoints import (
    add_lag,
    format_health_table,
    format_status_table,
    health_error,
    leader_commit,
    parse_info,
    status_row,
)
from raftkv.client import ClientError
from tests.kvsctl.scripted import StartNode, dead_address, run

_INFO = (
    "# Server\r\nredis_version:7.2.0\r\nraftkv_version:0.1.0\r\n\r\n"
    "# Persistence\r\nlog_first_index:1\r\nlog_last_index:9\r\nlog_entries:9\r\nsnapshot_index:0\r\n"
    "snapshot_size:0\r\ndata_dir:/d/n1\r\n\r\n"
    "# Raft\r\nnode_id:11\r\nrole:follower\r\nterm:3\r\nleader_id:22\r\nleader_addr:127.0.0.1:2318\r\n"
    "members:3\r\nmembership:voter\r\ncommit_index:9\r\napplied_index:8\r\nlast_log_index:9\r\n"
    "snapshot_index:0\r\n\r\n"
    "# Keyspace\r\ndb0:keys=4,expires=1,avg_ttl=0\r\n"
)


def info(**changes: Any) -> dict[str, Any]:
    return {**parse_info(_INFO.encode()), **changes}


def test_parse_info_flattens_sections_and_reads_numbers() -> None:
    fields = parse_info(_INFO.encode())
    assert fields["node_id"] == 11 and fields["term"] == 3
    assert fields["leader_addr"] == "127.0.0.1:2318"
    assert fields["data_dir"] == "/d/n1"
    assert "# Raft" not in fields and "" not in fields


def test_status_row() -> None:
    assert status_row("127.0.0.1:2317", info()) == {
        "endpoint": "127.0.0.1:2317", "id": 11, "version": "0.1.0", "leader_id": 22,
        "leader_addr": "127.0.0.1:2318", "role": "follower", "membership": "voter", "term": 3,
        "commit_index": 9, "applied_index": 8, "last_log_index": 9, "log_first_index": 1, "log_entries": 9,
        "snapshot_index": 0, "snapshot_size": 0, "data_dir": "/d/n1", "keys": 4, "lag": None, "error": None,
    }


def test_status_row_without_leader_or_keys() -> None:
    row = status_row("e", {k: v for k, v in info(leader_id=0, leader_addr="").items() if k != "db0"})
    assert (row["leader_id"], row["leader_addr"], row["keys"]) == (None, None, 0)


def _rows() -> list[dict[str, Any]]:
    return [
        status_row("f", info(applied_index=5)),
        {"endpoint": "dead", "error": "cannot reach dead"},
        status_row("l", info(role="leader", node_id=22, commit_index=9, applied_index=9)),
    ]


def test_leader_commit_from_the_leaders_own_row() -> None:
    assert leader_commit(_rows(), ask=lambda a: pytest.fail(f"asked {a}")) == 9


def test_leader_commit_asked_of_the_named_leader() -> None:
    asked = []

    def ask(address: tuple[str, int]) -> dict[str, Any]:
        asked.append(address)
        return {"commit_index": 12}

    assert leader_commit(_rows()[:2], ask) == 12
    assert asked == [("127.0.0.1", 2318)]


def test_leader_commit_unknown() -> None:
    def down(address: tuple[str, int]) -> dict[str, Any]:
        raise ClientError("down")

    assert leader_commit(_rows()[:2], down) is None
    assert leader_commit([status_row("f", info(leader_addr=""))], down) is None


def test_add_lag() -> None:
    rows = _rows()
    add_lag(rows, 9)
    assert [row.get("lag") for row in rows] == [4, None, 0]


def test_status_table() -> None:
    rows = _rows()
    add_lag(rows, 9)
    header, follower, dead, leader = format_status_table(rows).splitlines()
    assert header.split() == ["ENDPOINT", "ID", "VERSION", "ROLE", "LEADER", "TERM", "COMMIT", "APPLIED", "LAST",
                              "LAG", "LOG", "ENTRIES", "SNAPSHOT", "BYTES", "KEYS", "ERROR"]
    assert follower.split() == ["f", "11", "0.1.0", "follower", "127.0.0.1:2318", "3", "9", "5", "9", "4", "9",
                                "0", "4", "-"]
    assert dead.split() == ["dead", *["-"] * 12, "cannot", "reach", "dead"]
    assert leader.split()[3:5] == ["leader", "127.0.0.1:2318"]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({}, None),
        ({"leader_id": 0}, "e has no leader"),
        ({"membership": "removed"}, "e was removed from the cluster"),
        ({"membership": "joining", "leader_id": 0}, "e is waiting to join a cluster"),
    ],
)
def test_health_error(changes: dict[str, Any], error: str | None) -> None:
    assert health_error("e", info(**changes)) == error


def test_health_table() -> None:
    rows = [{"endpoint": "a", "healthy": True, "took_ms": 1.25, "error": None},
            {"endpoint": "b", "healthy": False, "took_ms": 0.5, "error": "b has no leader"}]
    assert format_health_table(rows) == (
        "ENDPOINT  HEALTHY  TOOK   ERROR\n"
        "a         yes      1.2ms  -\n"
        "b         no       0.5ms  b has no leader\n"
    )


def _bulk(text: str) -> bytes:
    data = text.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def test_status_command(scripted: StartNode) -> None:
    node = scripted(_bulk(_INFO.replace("role:follower", "role:leader")))
    dead = dead_address()
    result = run("--endpoints", f"{node.address},{dead}", "endpoint", "status", "-w", "json")
    assert result.exit_code == 1
    assert result.stderr == "kvsctl: no status from 1 of 2 endpoints\n"
    ok, down = json.loads(result.stdout)
    assert (ok["endpoint"], ok["role"], ok["lag"], ok["error"]) == (node.address, "leader", 1, None)
    assert down == {"endpoint": dead, "error": f"cannot reach {dead}: connection refused"}
    assert node.received == [b"INFO", b"server", b"persistence", b"raft", b"keyspace"]


def test_health_command(scripted: StartNode) -> None:
    node = scripted(_bulk(_INFO))
    result = run("-a", node.address, "endpoint", "health", "--json")
    assert (result.exit_code, result.stderr) == (0, "")
    [row] = json.loads(result.stdout)
    assert (row["endpoint"], row["healthy"], row["error"]) == (node.address, True, None)
    assert row["took_ms"] >= 0


def test_health_command_unhealthy(scripted: StartNode) -> None:
    refusing = scripted(b"-NOAUTH Authentication required.\r\n")
    result = run("-a", refusing.address, "endpoint", "health")
    assert (result.exit_code, result.stderr) == (1, "kvsctl: 1 of 1 endpoints unhealthy\n")
    assert f"{refusing.address} refused INFO: NOAUTH Authentication required." in result.stdout
