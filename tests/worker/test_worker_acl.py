"""The worker's half of ACL-lite, in-process: AUTH and HELLO against the user table the Raft process sends,
NOPERM for what a user may not run, the ACL subcommands it answers, and what it forwards to the log."""
from __future__ import annotations

import hashlib
import pathlib
from collections.abc import Iterator

import pytest

from raftkv import acl
from raftkv.config import NodeConfig
from raftkv.worker.local import WorkerInfo
from raftkv.worker.permissions import users_changed
from raftkv.worker.session import Session
from tests.worker.test_local import Client

PASSWORD = b"s3cret"


def table(*users: acl.User) -> bytes:
    return acl.encode_users({u.name: u for u in users})


READER = acl.User(b"reader", True, False, (hashlib.sha256(b"r3ad").hexdigest(),), True, ("+@all", "-@write"))


@pytest.fixture
def info() -> Iterator[WorkerInfo]:
    info = WorkerInfo(0, NodeConfig(data_dir=pathlib.Path("unused"), requirepass=PASSWORD), {})
    users_changed(info.acl, info.sessions, table(READER), lambda s: None)
    yield info


@pytest.fixture
def client(info: WorkerInfo) -> Iterator[Client]:
    c = Client(info, 1)
    yield c
    c.close()


def test_a_read_only_user_logs_in_and_is_refused_writes(client: Client) -> None:
    assert client.call(b"AUTH", b"reader", b"wrong").startswith(b"-WRONGPASS")
    assert client.call(b"AUTH", b"reader", b"r3ad") == b"+OK\r\n"
    assert client.call(b"ACL", b"WHOAMI") == b"$6\r\nreader\r\n"
    assert client.call(b"GET", b"k") == [b"GET", b"k"]  # forwarded
    assert client.call(b"SET", b"k", b"v") == (
        b"-NOPERM User reader has no permissions to run the 'set' command\r\n")
    assert "user=reader " in client.call(b"CLIENT", b"INFO").decode()  # type: ignore[union-attr]


def test_hello_auth_logs_in_as_a_user(client: Client) -> None:
    reply = client.call(b"HELLO", b"3", b"AUTH", b"reader", b"r3ad")
    assert isinstance(reply, bytes) and reply.startswith(b"%")
    assert client.session.user == b"reader" and client.session.limits is not None


def test_the_default_user_has_no_limits(client: Client) -> None:
    assert client.call(b"AUTH", PASSWORD) == b"+OK\r\n"
    assert client.session.limits is None
    assert client.call(b"SET", b"k", b"v") == [b"SET", b"k", b"v"]


def test_a_refused_command_inside_multi_dooms_the_exec(client: Client) -> None:
    client.call(b"AUTH", b"reader", b"r3ad")
    assert client.call(b"MULTI") == b"+OK\r\n"
    assert client.call(b"SET", b"k", b"v").startswith(b"-NOPERM")  # type: ignore[union-attr]
    assert client.session.multi_failed


def test_setuser_is_forwarded_with_hashed_passwords(client: Client) -> None:
    client.call(b"AUTH", PASSWORD)
    forwarded = client.call(b"ACL", b"SETUSER", b"app", b"on", b">pw", b"~*", b"+@all")
    assert forwarded == [b"ACL", b"SETUSER", b"app", b"on", b"#" + hashlib.sha256(b"pw").hexdigest().encode(),
                         b"~*", b"+@all"]
    assert client.call(b"ACL", b"DELUSER", b"app") == [b"ACL", b"DELUSER", b"app"]


def test_the_acl_reads_answer_from_the_table(client: Client) -> None:
    client.call(b"AUTH", PASSWORD)
    assert client.call(b"ACL", b"USERS") == b"*2\r\n$7\r\ndefault\r\n$6\r\nreader\r\n"
    assert client.call(b"ACL", b"GETUSER", b"nobody") == b"$-1\r\n"
    assert client.call(b"ACL", b"LIST").startswith(b"*2\r\n")  # type: ignore[union-attr]
    assert client.call(b"ACL", b"GETUSER") == b"-ERR wrong number of arguments for 'acl|getuser' command\r\n"
    assert client.call(b"ACL", b"NOPE") == b"-ERR unknown subcommand 'NOPE'. Try ACL HELP.\r\n"


def test_a_new_table_changes_open_sessions_and_closes_those_of_deleted_users(info: WorkerInfo) -> None:
    a, b = Client(info, 1), Client(info, 2)
    try:
        a.call(b"AUTH", b"reader", b"r3ad")
        b.call(b"AUTH", PASSWORD)
        closed: list[Session] = []
        users_changed(info.acl, info.sessions, table(acl.User(b"reader", True, True, (), True, ("+@all",))),
                      closed.append)
        assert a.session.limits is None and not closed
        users_changed(info.acl, info.sessions, table(), closed.append)
        assert closed == [a.session]
    finally:
        a.close()
        b.close()


def test_client_kill_user_knows_the_users_of_the_table(client: Client) -> None:
    client.call(b"AUTH", PASSWORD)
    assert client.call(b"CLIENT", b"KILL", b"USER", b"reader") == [b"CLIENT", b"KILL", b"USER", b"reader"]
    assert client.call(b"CLIENT", b"KILL", b"USER", b"nobody") == b"-ERR No such user 'nobody'\r\n"
