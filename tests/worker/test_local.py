"""The worker's own logic in-process: the command gate, LOCAL handlers and MULTI queueing, on real
sessions (over a socketpair, which the session holds but never reads), and the order replies are placed in.
"""
from __future__ import annotations

import ast
import pathlib
import socket
from collections.abc import Iterator

import pytest

import raftkv.worker
from raftkv.config import NodeConfig
from raftkv.kv.table import LOCAL, TABLE
from raftkv.wire.resp import encode_command
from raftkv.worker.local import LOCAL_HANDLERS, WorkerInfo, dispatch
from raftkv.worker.session import Session

PASSWORD = b"s3cret"


class Client:
    """One session of a worker with the given config, fed commands as the worker's loop feeds them."""

    def __init__(self, info: WorkerInfo, conn_id: int) -> None:
        self.info = info
        self.sock, self.peer = socket.socketpair()
        self.session = Session(self.sock, conn_id, conn_id * info.config.workers + info.worker_id,
                               f"127.0.0.1:{5000 + conn_id}", info.config)
        info.sessions[conn_id] = self.session  # type: ignore[index]  (the worker's own dict)
        self.forwarded: list[tuple[int, list[bytes]]] = []
        # Stand in for the Raft process: answer a forwarded command at once, with no bytes.
        self.raft_answers = True

    def call(self, *argv: bytes) -> bytes | list[bytes]:
        """The reply bytes written for one command, or the argv it forwards to the Raft process."""
        session = self.session
        written = len(session.out)
        forward = dispatch(session, self.info, list(argv))
        if forward is not None:
            assert len(session.out) == written  # nothing answered for it here
            seq = session.take_seq()
            self.forwarded.append((seq, forward))
            if self.raft_answers:
                session.deliver(seq, b"")
            return forward
        reply = bytes(session.out[written:])
        assert reply, "a command answered in the worker gets its reply at once"
        return reply

    def close(self) -> None:
        self.sock.close()
        self.peer.close()


@pytest.fixture
def worker() -> Iterator[WorkerInfo]:
    yield WorkerInfo(1, NodeConfig(data_dir=pathlib.Path("unused"), workers=2), {})


@pytest.fixture
def secured() -> Iterator[WorkerInfo]:
    yield WorkerInfo(0, NodeConfig(data_dir=pathlib.Path("unused"), requirepass=PASSWORD), {})


@pytest.fixture
def client(worker: WorkerInfo) -> Iterator[Client]:
    c = Client(worker, 1)
    yield c
    c.close()


@pytest.fixture
def locked(secured: WorkerInfo) -> Iterator[Client]:
    c = Client(secured, 1)
    yield c
    c.close()


# -- the gate ---------------------------------------------------------------------------------------

def test_data_commands_are_forwarded_as_sent(client: Client) -> None:
    assert client.call(b"SET", b"k", b"v") == [b"SET", b"k", b"v"]
    assert client.call(b"get", b"k") == [b"get", b"k"]
    assert client.call(b"INFO") == [b"INFO"]
    assert [seq for seq, _argv in client.forwarded] == [0, 1, 2]


def test_unknown_commands_and_bad_arity_are_answered_in_the_worker(client: Client) -> None:
    assert client.call(b"NOPE", b"x") == b"-ERR unknown command 'NOPE', with args beginning with: 'x' \r\n"
    assert client.call(b"GET") == b"-ERR wrong number of arguments for 'get' command\r\n"
    assert client.call(b"PING", b"a", b"b") == b"-ERR wrong number of arguments for 'ping' command\r\n"


def test_without_auth_only_no_auth_commands_run(locked: Client) -> None:
    assert locked.call(b"GET", b"k") == b"-NOAUTH Authentication required.\r\n"
    assert locked.call(b"PING") == b"-NOAUTH Authentication required.\r\n"
    assert locked.call(b"MULTI") == b"-NOAUTH Authentication required.\r\n"
    # An unknown command is refused as unknown, as Redis does, even before AUTH.
    assert locked.call(b"NOPE").startswith(b"-ERR unknown command 'NOPE'")
    assert locked.call(b"AUTH", b"wrong") == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    assert locked.call(b"AUTH", b"other", PASSWORD) == (
        b"-WRONGPASS invalid username-password pair or user is disabled.\r\n")
    assert not locked.session.authenticated
    assert locked.call(b"AUTH", PASSWORD) == b"+OK\r\n"
    assert locked.call(b"GET", b"k") == [b"GET", b"k"]


def test_auth_with_user_and_quit_before_auth(locked: Client) -> None:
    assert locked.call(b"AUTH", b"default", PASSWORD) == b"+OK\r\n"
    assert locked.session.authenticated
    other = Client(locked.info, 2)
    try:
        assert other.call(b"QUIT") == b"+OK\r\n"
        assert other.session.close_after == 0
    finally:
        other.close()


def test_auth_without_requirepass(client: Client) -> None:
    assert client.call(b"AUTH", b"pw") == (
        b"-ERR AUTH <password> called without any password configured for the default user. "
        b"Are you sure your configuration is correct?\r\n")
    assert client.call(b"AUTH", b"default", b"anything") == b"+OK\r\n"  # the default user is nopass
    assert client.call(b"AUTH", b"someone", b"anything").startswith(b"-WRONGPASS")
    assert client.call(b"AUTH", b"a", b"b", b"c") == b"-ERR syntax error\r\n"


def test_no_auth_is_the_table_flag_of_auth_hello_and_quit() -> None:
    assert {name for name, cmd in TABLE.items() if cmd.no_auth} == {b"auth", b"hello", b"quit"}


def test_every_local_command_has_a_handler_and_every_handler_a_command() -> None:
    local = {name.decode() for name, cmd in TABLE.items() if cmd.where is LOCAL}
    assert local <= set(LOCAL_HANDLERS)
    # The others are data commands whose worker half is a check or a rewrite (EXEC, WATCH, ACL).
    assert {name for name in LOCAL_HANDLERS if name not in local} == {"exec", "watch", "acl"}


# -- HELLO ------------------------------------------------------------------------------------------

def test_hello_3_switches_the_protocol(client: Client) -> None:
    assert client.call(b"CLIENT", b"GETNAME") == b"$-1\r\n"
    reply = client.call(b"HELLO", b"3")
    assert isinstance(reply, bytes) and reply.startswith(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n")
    assert b"$7\r\nversion\r\n$5\r\n7.2.0\r\n" in reply
    assert b"$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:3\r\n" in reply  # client id: conn 1 * 2 workers + worker 1
    assert client.session.proto == 3
    assert client.call(b"CLIENT", b"GETNAME") == b"_\r\n"
    assert client.call(b"GET", b"k") == [b"GET", b"k"]
    assert client.call(b"HELLO", b"2").startswith(b"*14\r\n")
    assert client.session.proto == 2


def test_hello_refusals_leave_the_session_as_it_was(client: Client) -> None:
    assert client.call(b"HELLO", b"4") == b"-NOPROTO unsupported protocol version\r\n"
    assert client.call(b"HELLO", b"x") == b"-ERR Protocol version is not an integer or out of range\r\n"
    assert client.call(b"HELLO", b"3", b"SETNAME", b"a b") == (
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n")
    assert client.call(b"HELLO", b"3", b"BOGUS") == b"-ERR Syntax error in HELLO option 'BOGUS'\r\n"
    assert client.session.proto == 2 and client.session.name == b""


def test_hello_authenticates_and_names(locked: Client) -> None:
    assert locked.call(b"HELLO", b"3").startswith(b"-NOAUTH HELLO must be called with the client already")
    assert locked.call(b"HELLO", b"3", b"AUTH", b"default", b"nope").startswith(b"-WRONGPASS")
    assert locked.session.proto == 2 and not locked.session.authenticated
    assert locked.call(b"HELLO", b"3", b"AUTH", b"default", PASSWORD, b"SETNAME", b"app").startswith(b"%7\r\n")
    assert locked.session.authenticated and locked.session.proto == 3 and locked.session.name == b"app"


# -- CLIENT, SELECT, CONFIG, COMMAND ----------------------------------------------------------------

def test_client_setname_validation(client: Client) -> None:
    for bad in (b"a b", b"new\nline", b"\x7f", b"caf\xc3\xa9"):
        assert client.call(b"CLIENT", b"SETNAME", bad) == (
            b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n"), bad
    assert client.call(b"CLIENT", b"SETNAME") == b"-ERR wrong number of arguments for 'client|setname' command\r\n"
    # Set here, then told to the Raft process (for its slow log), which answers OK.
    assert client.call(b"CLIENT", b"SETNAME", b"worker-test") == [b"CLIENT", b"SETNAME", b"worker-test"]
    assert client.call(b"CLIENT", b"GETNAME") == b"$11\r\nworker-test\r\n"
    assert client.call(b"CLIENT", b"SETNAME", b"") == [b"CLIENT", b"SETNAME", b""]  # an empty name clears it
    assert client.call(b"CLIENT", b"GETNAME") == b"$-1\r\n"
    assert client.call(b"CLIENT", b"NOPE") == b"-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n"


def test_client_list_and_kill_go_to_the_node_once_their_filters_are_checked(client: Client) -> None:
    # The node's connections are in every worker: the Raft process asks them all (test_node_requests.py).
    for argv in ([b"CLIENT", b"LIST"], [b"CLIENT", b"LIST", b"ID", b"3", b"5"], [b"CLIENT", b"KILL", b"1.2.3.4:5"],
                 [b"CLIENT", b"KILL", b"ID", b"3", b"SKIPME", b"no"]):
        assert client.call(*argv) == argv
    refusals = {
        (b"LIST", b"TYPE", b"bogus"): b"-ERR Unknown client type 'bogus'\r\n",
        (b"LIST", b"ID", b"x"): b"-ERR Invalid client ID\r\n",
        (b"LIST", b"TYPE", b"normal", b"ID", b"3"): b"-ERR syntax error\r\n",
        (b"KILL", b"ID", b"0"): b"-ERR client-id should be greater than 0\r\n",
        (b"KILL", b"ID", b"x"): b"-ERR client-id should be greater than 0\r\n",
        (b"KILL", b"USER", b"nobody"): b"-ERR No such user 'nobody'\r\n",
        (b"KILL", b"SKIPME", b"maybe"): b"-ERR syntax error\r\n",
        (b"KILL", b"ADDR"): None,  # the old form, with "ADDR" for an address: the node says No such client
        (b"KILL", b"foo", b"bar"): b"-ERR syntax error\r\n",
        (b"KILL",): b"-ERR wrong number of arguments for 'client|kill' command\r\n",
    }
    for args, reply in refusals.items():
        assert client.call(b"CLIENT", *args) == (reply or [b"CLIENT", *args]), args


def test_client_info_flags(client: Client) -> None:
    assert b" flags=N " in client.call(b"CLIENT", b"INFO")  # type: ignore[operator]
    assert client.call(b"CLIENT", b"NO-EVICT", b"on") == b"+OK\r\n"
    assert client.call(b"READONLY") == b"+OK\r\n"
    assert b" flags=re " in client.call(b"CLIENT", b"INFO")  # type: ignore[operator]
    assert client.call(b"CLIENT", b"NO-EVICT", b"maybe") == b"-ERR syntax error\r\n"


def test_readonly_connections_send_reads_to_be_served_without_a_read_index(client: Client) -> None:
    assert client.call(b"GET", b"k") == [b"GET", b"k"]
    assert client.call(b"READONLY") == b"+OK\r\n"
    assert client.call(b"GET", b"k") == [b"READONLY", b"GET", b"k"]
    assert client.call(b"SET", b"k", b"v") == [b"SET", b"k", b"v"]  # writes go through the log as ever
    assert client.call(b"WATCH", b"k") == [b"WATCH", b"k"]  # WATCH reads its versions linearizably
    assert client.call(b"READWRITE") == b"+OK\r\n"
    assert client.call(b"GET", b"k") == [b"GET", b"k"]


def test_asking_marks_the_next_command_only(client: Client) -> None:
    assert client.call(b"ASKING") == b"+OK\r\n"
    assert client.call(b"SET", b"k", b"v") == [b"ASKING", b"SET", b"k", b"v"]
    assert client.call(b"GET", b"k") == [b"GET", b"k"]  # one command, as in Redis
    assert client.call(b"ASKING") == b"+OK\r\n" and client.call(b"PING") == b"+PONG\r\n"
    assert client.call(b"GET", b"k") == [b"GET", b"k"]  # a local command used it up
    assert client.call(b"READONLY") == b"+OK\r\n" and client.call(b"ASKING") == b"+OK\r\n"
    assert client.call(b"GET", b"k") == [b"ASKING", b"GET", b"k"]  # confirmed where the slot is imported
    assert client.call(b"ASKING") == b"+OK\r\n" and client.call(b"MULTI") == b"+OK\r\n"
    assert client.call(b"SET", b"k", b"v") == b"+QUEUED\r\n"
    assert client.call(b"EXEC") == [b"EXEC", encode_command([b"SET", b"k", b"v"])]  # unmarked


def test_select_config_and_command(client: Client) -> None:
    assert client.call(b"SELECT", b"0") == b"+OK\r\n"
    assert client.call(b"SELECT", b"1") == b"-ERR DB index is out of range\r\n"
    assert client.call(b"SELECT", b"x") == b"-ERR value is not an integer or out of range\r\n"
    # The Raft process owns the configuration: the worker checks CONFIG's arity and forwards it.
    assert client.call(b"CONFIG", b"GET", b"port") == [b"CONFIG", b"GET", b"port"]
    assert client.call(b"CONFIG", b"SET", b"maxclients", b"5") == [b"CONFIG", b"SET", b"maxclients", b"5"]
    for argv, sub in (([b"SET", b"maxclients"], b"set"), ([b"GET"], b"get"), ([b"REWRITE", b"x"], b"rewrite")):
        assert client.call(b"CONFIG", *argv) == b"-ERR wrong number of arguments for 'config|%s' command\r\n" % sub
    assert client.call(b"CONFIG", b"NOPE") == b"-ERR unknown subcommand 'NOPE'. Try CONFIG HELP.\r\n"
    assert client.call(b"COMMAND", b"COUNT") == b":%d\r\n" % len(TABLE)
    hello = client.call(b"COMMAND", b"INFO", b"hello")
    assert isinstance(hello, bytes) and b"+no_auth\r\n" in hello


# -- MULTI ------------------------------------------------------------------------------------------

def test_multi_queues_data_commands_and_exec_forwards_them(client: Client) -> None:
    assert client.call(b"MULTI") == b"+OK\r\n"
    assert client.call(b"SET", b"a", b"1") == b"+QUEUED\r\n"
    assert client.call(b"GET", b"a") == b"+QUEUED\r\n"
    assert client.call(b"MULTI") == b"-ERR MULTI calls can not be nested\r\n"
    assert client.call(b"WATCH", b"a") == b"-ERR WATCH inside MULTI is not allowed\r\n"
    assert client.call(b"EXEC") == [b"EXEC", encode_command([b"SET", b"a", b"1"]), encode_command([b"GET", b"a"])]
    assert client.session.multi is None
    assert client.call(b"EXEC") == b"-ERR EXEC without MULTI\r\n"
    assert client.call(b"DISCARD") == b"-ERR DISCARD without MULTI\r\n"


def test_a_refused_command_dooms_the_exec(client: Client) -> None:
    assert client.call(b"MULTI") == b"+OK\r\n"
    assert client.call(b"SET", b"a") == b"-ERR wrong number of arguments for 'set' command\r\n"
    assert client.call(b"NOPE").startswith(b"-ERR unknown command")
    assert client.call(b"SET", b"a", b"1") == b"+QUEUED\r\n"
    assert client.call(b"EXEC") == [b"UNWATCH", b"EXECABORT Transaction discarded because of previous errors."]


def test_commands_the_worker_answers_are_not_allowed_inside_multi(client: Client) -> None:
    for argv in ([b"PING"], [b"CLIENT", b"ID"], [b"INFO"], [b"UNWATCH"]):
        assert client.call(b"MULTI") == b"+OK\r\n"
        assert client.call(*argv) == b"-ERR Command not allowed inside a transaction\r\n", argv
        assert client.session.multi_failed
        assert client.call(b"DISCARD") == [b"UNWATCH"]


def test_watch_and_quit_run_at_once(client: Client) -> None:
    assert client.call(b"WATCH", b"a", b"b") == [b"WATCH", b"a", b"b"]
    assert client.call(b"MULTI") == b"+OK\r\n"
    assert client.call(b"QUIT") == b"+OK\r\n"
    assert client.session.close_after == client.session.next_seq - 1


def test_runs_in_multi_is_the_table_flag_of_the_transaction_commands_and_quit() -> None:
    assert {name for name, cmd in TABLE.items() if cmd.runs_in_multi} == {
        b"multi", b"exec", b"discard", b"watch", b"quit"}


# -- the session's reply order ----------------------------------------------------------------------

def test_replies_are_placed_in_the_order_the_commands_came(client: Client) -> None:
    session = client.session
    client.raft_answers = False
    for argv in ([b"GET", b"a"], [b"GET", b"b"], [b"GET", b"c"]):
        client.call(*argv)
    assert dispatch(session, client.info, [b"PING"]) is None  # answered, but waits behind the three
    assert not session.deliver(2, b"$1\r\nc\r\n")
    assert not session.deliver(1, b"$1\r\nb\r\n")
    assert session.out == b""
    assert session.deliver(0, b"$1\r\na\r\n")
    assert session.out == b"$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n+PONG\r\n"
    assert session.next_out == session.next_seq == 4 and not session.early


# -- imports ----------------------------------------------------------------------------------------

def _imports(module: str) -> set[str]:
    path = pathlib.Path(raftkv.worker.__file__).parent / f"{module}.py"
    return {node.module for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and node.module}


def test_worker_modules_import_in_one_direction() -> None:
    assert not {m for name in ("session", "client_filters") for m in _imports(name) if m.startswith("raftkv.worker")}
    assert {m for m in _imports("permissions") if m.startswith("raftkv.worker")} == {"raftkv.worker.session"}
    assert {m for m in _imports("local") if m.startswith("raftkv.worker")} == {
        "raftkv.worker.permissions", "raftkv.worker.session", "raftkv.worker.client_filters"}
    assert "raftkv.worker.server" not in {m for name in ("monitor", "node_requests") for m in _imports(name)}
    assert "raftkv.worker.worker_process" not in _imports("server")
    assert not {m for name in ("session", "local", "server", "client_filters", "monitor", "node_requests")
                for m in _imports(name) if m.startswith("raftkv.node")}
