"""kvsctl without a raftkv node: reply formatting, address parsing, member tables and error lines.

The command-line tests talk to a scripted one-connection RESP server on 127.0.0.1 (see ``scripted``),
so the real client and codec run end to end.
"""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner, Result

from kvsctl.cli import cli, format_member_table, format_reply, parse_address, parse_members
from raftkv.wire.resp import NEED_MORE, Reader, RespError

# -- format_reply ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (None, b"(nil)\n"),
        (1, b"(integer) 1\n"),
        (-42, b"(integer) -42\n"),
        ("OK", b"OK\n"),
        (b"value", b"value\n"),
        (b"", b"\n"),
        (b"two words\xff", b"two words\xff\n"),
        (RespError("ERR nope"), b"(error) ERR nope\n"),
        (True, b"(true)\n"),
        (False, b"(false)\n"),
        (1.5, b"(double) 1.5\n"),
        (3.0, b"(double) 3\n"),
        (float("inf"), b"(double) inf\n"),
        ([], b"(empty array)\n"),
        ({}, b"(empty hash)\n"),
    ],
)
def test_format_scalar(reply: object, expected: bytes) -> None:
    assert format_reply(reply) == expected


def test_format_array_numbers_items() -> None:
    assert format_reply([b"a", None, 7, RespError("ERR x")]) == (
        b"1) a\n2) (nil)\n3) (integer) 7\n4) (error) ERR x\n"
    )


def test_format_array_right_aligns_numbers() -> None:
    lines = format_reply([b"v"] * 10).splitlines()
    assert lines[0] == b" 1) v"
    assert lines[9] == b"10) v"


def test_format_nested_arrays_indent_under_their_number() -> None:
    reply = [[b"a", [b"b", b"c"]], b"d", []]
    assert format_reply(reply) == (
        b"1) 1) a\n"
        b"   2) 1) b\n"
        b"      2) c\n"
        b"2) d\n"
        b"3) (empty array)\n"
    )


def test_format_map() -> None:
    assert format_reply({b"k1": b"v1", b"k2": [1, 2]}) == (
        b"1# k1 => v1\n"
        b"2# k2 => 1) (integer) 1\n"
        b"   2) (integer) 2\n"
    )


# -- parse_address ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:2317", ("127.0.0.1", 2317)),
        ("localhost:1", ("localhost", 1)),
        (" node-a.example:65535 ", ("node-a.example", 65535)),
        ("[::1]:2317", ("::1", 2317)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("127.0.0.1", "expected HOST:PORT"),
        (":2317", "expected HOST:PORT"),
        ("host:", "expected HOST:PORT"),
        ("host:http", "port must be"),
        ("host:0", "port must be"),
        ("host:65536", "port must be"),
        ("::1:2317", "IPv6 host in brackets"),
    ],
)
def test_parse_address_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_address(text)


# -- members ---------------------------------------------------------------------------------------

_LEADER_FLAT = [
    b"id", 1, b"client_addr", b"127.0.0.1:2317", b"peer_addr", b"127.0.0.1:2417",
    b"role", b"voter", b"leader", 1, b"match", 120, b"lag", 0,
]
_LEARNER_MAP = {
    "id": b"12", "client_addr": "127.0.0.1:2318", "peer_addr": "127.0.0.1:2418",
    "role": "learner", "leader": False, "match": b"97", "lag": 23,
}


def test_parse_members_accepts_flat_lists_and_maps() -> None:
    assert parse_members([_LEADER_FLAT, _LEARNER_MAP]) == [
        {"id": 1, "client_addr": "127.0.0.1:2317", "peer_addr": "127.0.0.1:2417",
         "role": "voter", "leader": True, "match": 120, "lag": 0},
        {"id": 12, "client_addr": "127.0.0.1:2318", "peer_addr": "127.0.0.1:2418",
         "role": "learner", "leader": False, "match": 97, "lag": 23},
    ]


def test_parse_members_accepts_a_map_of_members() -> None:
    assert parse_members({b"1": _LEADER_FLAT}) == parse_members([_LEADER_FLAT])


@pytest.mark.parametrize("flag", [True, 1, b"1", b"yes", "true", b"leader"])
def test_parse_members_leader_flag_spellings(flag: object) -> None:
    assert parse_members([[b"id", 1, b"leader", flag]])[0]["leader"] is True


@pytest.mark.parametrize("reply", [b"OK", None, 3, [b"not-a-member"], [[b"odd", 1, b"count"]]])
def test_parse_members_rejects_other_shapes(reply: object) -> None:
    with pytest.raises(ValueError):
        parse_members(reply)


def test_member_table_is_aligned() -> None:
    members = parse_members([_LEADER_FLAT, _LEARNER_MAP])
    assert format_member_table(members) == (
        "ID  CLIENT          PEER            ROLE     LEADER  MATCH  LAG\n"
        " 1  127.0.0.1:2317  127.0.0.1:2417  voter    yes       120    0\n"
        "12  127.0.0.1:2318  127.0.0.1:2418  learner  no         97   23\n"
    )


def test_member_table_shows_missing_and_extra_fields() -> None:
    table = format_member_table([{"id": 3, "state": "probe"}])
    header, row = table.splitlines()
    assert header.split() == ["ID", "CLIENT", "PEER", "ROLE", "LEADER", "MATCH", "LAG", "STATE"]
    assert row.split() == ["3", "-", "-", "-", "-", "-", "-", "probe"]


def test_member_table_empty() -> None:
    assert format_member_table([]) == "(no members)\n"


# -- the command line against a scripted server ----------------------------------------------------


class ScriptedNode:
    """Accepts one connection on 127.0.0.1, reads one command, then sends ``reply`` and waits.

    ``reply=None`` closes the connection instead; ``silent=True`` never answers (to time out).
    """

    def __init__(self, reply: bytes | None, silent: bool = False) -> None:
        self.reply = reply
        self.silent = silent
        self.received: object = None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(10)
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except TimeoutError:
            return
        with conn:
            conn.settimeout(10)
            reader = Reader()
            while (command := reader.gets()) is NEED_MORE:
                data = conn.recv(4096)
                if not data:
                    return
                reader.feed(data)
            self.received = command
            if self.reply is None:
                return
            if not self.silent:
                conn.sendall(self.reply)
            # Hold the connection open until the client hangs up.
            while conn.recv(4096):
                pass

    def close(self) -> None:
        self._listener.close()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()


StartNode = Callable[..., ScriptedNode]


@pytest.fixture
def scripted() -> Iterator[StartNode]:
    nodes: list[ScriptedNode] = []

    def start(reply: bytes | None, silent: bool = False) -> ScriptedNode:
        nodes.append(ScriptedNode(reply, silent))
        return nodes[-1]

    yield start
    for node in nodes:
        node.close()


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    # Clear KVSCTL_ADDRESS so the caller's environment cannot redirect a test.
    return CliRunner().invoke(cli, list(args), env={"KVSCTL_ADDRESS": None, **(env or {})})


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (just released by the OS)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "reply", "sent", "stdout"),
    [
        (["get", "k"], b"$5\r\nhello\r\n", [b"GET", b"k"], b"hello\n"),
        (["GET", "k"], b"$-1\r\n", [b"GET", b"k"], b"(nil)\n"),
        (["Set", "k", "v"], b"+OK\r\n", [b"SET", b"k", b"v"], b"OK\n"),
        (["del", "a", "b"], b":2\r\n", [b"DEL", b"a", b"b"], b"(integer) 2\n"),
        (["member", "add", "127.0.0.1:2418"], b"+OK\r\n",
         [b"RAFT", b"MEMBER", b"ADD", b"127.0.0.1:2418"], b"OK\n"),
        (["MEMBER", "REMOVE", "2"], b"+OK\r\n", [b"RAFT", b"MEMBER", b"REMOVE", b"2"], b"OK\n"),
        (["leader", "transfer", "3"], b"+OK\r\n",
         [b"RAFT", b"LEADER", b"TRANSFER", b"3"], b"OK\n"),
    ],
)
def test_commands_send_argv_and_print_reply(
    scripted: StartNode, args: list[str], reply: bytes, sent: list[bytes], stdout: bytes
) -> None:
    node = scripted(reply)
    result = run("-a", node.address, *args)
    assert (result.exit_code, result.stdout_bytes, result.stderr) == (0, stdout, "")
    assert node.received == sent


def test_address_from_environment(scripted: StartNode) -> None:
    node = scripted(b"+OK\r\n")
    result = run("set", "k", "v", env={"KVSCTL_ADDRESS": node.address})
    assert (result.exit_code, result.stdout) == (0, "OK\n")


def test_error_reply_is_one_line_on_stderr(scripted: StartNode) -> None:
    node = scripted(b"-ERR unknown command 'RAFT'\r\n")
    result = run("-a", node.address, "member", "list")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "(error) ERR unknown command 'RAFT'\n"


def test_member_list_table_and_json(scripted: StartNode) -> None:
    reply = (
        b"*1\r\n*8\r\n$2\r\nid\r\n:1\r\n$4\r\nrole\r\n$5\r\nvoter\r\n"
        b"$6\r\nleader\r\n:1\r\n$3\r\nlag\r\n:0\r\n"
    )
    table = run("-a", scripted(reply).address, "member", "list")
    assert table.exit_code == 0
    assert table.stdout.splitlines()[1].split() == ["1", "-", "-", "voter", "yes", "-", "0"]
    as_json = run("-a", scripted(reply).address, "member", "list", "--json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == [{"id": 1, "role": "voter", "leader": True, "lag": 0}]


def test_member_list_unexpected_reply(scripted: StartNode) -> None:
    result = run("-a", scripted(b"+OK\r\n").address, "member", "list")
    assert result.exit_code == 1
    assert result.stderr == (
        "kvsctl: unexpected reply to RAFT MEMBER LIST: expected a list of members, got str\n"
    )


def test_unreachable_node() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = run("-a", address, "get", "k")
    assert result.exit_code == 1
    assert result.stderr == f"kvsctl: cannot reach {address}: connection refused\n"


def test_bad_address() -> None:
    result = run("-a", "nowhere", "get", "k")
    assert result.exit_code == 1
    assert result.stderr == "kvsctl: bad address 'nowhere': expected HOST:PORT\n"


def test_server_closes_connection(scripted: StartNode) -> None:
    node = scripted(None)
    result = run("-a", node.address, "get", "k")
    assert result.exit_code == 1
    assert result.stderr == f"kvsctl: {node.address} closed the connection\n"


def test_timeout(scripted: StartNode) -> None:
    node = scripted(b"", silent=True)
    result = run("-a", node.address, "--timeout", "0.2", "get", "k")
    assert result.exit_code == 1
    assert result.stderr == f"kvsctl: {node.address} did not answer within 0.2s\n"


def test_malformed_reply(scripted: StartNode) -> None:
    node = scripted(b"?what\r\n")
    result = run("-a", node.address, "get", "k")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"kvsctl: {node.address} sent malformed RESP: ")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["get"], "kvsctl: missing argument 'KEY' (see 'kvsctl get --help')\n"),
        (["frobnicate"], "kvsctl: no such command 'frobnicate' (see 'kvsctl --help')\n"),
        (["--bogus", "get", "k"], "kvsctl: no such option '--bogus' (see 'kvsctl --help')\n"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], line: str) -> None:
    result = CliRunner().invoke(cli, args, prog_name="kvsctl")
    assert (result.exit_code, result.stderr) == (2, line)


@pytest.mark.parametrize(
    "args",
    [[], ["--help"], ["GET", "--help"], ["member", "--help"], ["member", "list", "--help"],
     ["leader", "transfer", "--help"], ["-a", "not-an-address", "del", "--help"]],
)
def test_help_everywhere(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args, prog_name="kvsctl")
    # A bare group prints its help to stderr and exits 2, as click does; asking for help exits 0.
    assert "Usage: kvsctl" in result.output
    assert result.exit_code == (2 if not args else 0)
