"""The kvsctl command line against scripted servers (see ``tests/kvsctl/scripted.py``): the argv each
command sends, how replies and failures are printed, and moving on past endpoints that are down."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from kvsctl.cli import cli
from tests.kvsctl.scripted import StartNode, dead_address, run


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
    address = dead_address()
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


# -- several endpoints -----------------------------------------------------------------------------


def test_moves_on_past_dead_endpoints(scripted: StartNode) -> None:
    node = scripted(b"+OK\r\n")
    result = run("--endpoints", f"{dead_address()},{dead_address()},{node.address}", "set", "k", "v")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "OK\n", "")
    assert node.received == [b"SET", b"k", b"v"]


def test_endpoints_from_environment(scripted: StartNode) -> None:
    node = scripted(b"$1\r\nv\r\n")
    result = run("get", "k", env={"KVSCTL_ENDPOINTS": f"{dead_address()},{node.address}"})
    assert (result.exit_code, result.stdout) == (0, "v\n")


def test_address_flag_beats_endpoints_from_environment(scripted: StartNode) -> None:
    node = scripted(b"+OK\r\n")
    result = run("-a", node.address, "set", "k", "v", env={"KVSCTL_ENDPOINTS": dead_address()})
    assert (result.exit_code, result.stdout) == (0, "OK\n")


def test_a_sent_command_is_not_sent_again(scripted: StartNode) -> None:
    # The first node takes the write and hangs up before answering: the second must never see it.
    first, second = scripted(None), scripted(b"+OK\r\n")
    result = run("--endpoints", f"{first.address},{second.address}", "set", "k", "v")
    assert result.exit_code == 1
    assert result.stderr == f"kvsctl: {first.address} closed the connection\n"
    assert first.received == [b"SET", b"k", b"v"]
    second.close()
    assert second.received is None


def test_a_timeout_after_sending_is_not_retried(scripted: StartNode) -> None:
    first, second = scripted(b"", silent=True), scripted(b"+OK\r\n")
    result = run("--timeout", "0.2", "--endpoints", f"{first.address},{second.address}", "del", "k")
    assert result.stderr == f"kvsctl: {first.address} did not answer within 0.2s\n"
    second.close()
    assert second.received is None


def test_all_endpoints_down_is_one_line() -> None:
    a, b = dead_address(), dead_address()
    result = run("--endpoints", f"{a},{b}", "get", "k")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"kvsctl: cannot reach any endpoint: {a}: connection refused; {b}: connection refused\n"
    )


@pytest.mark.parametrize("endpoints", ["", " , ", "127.0.0.1:1,nowhere"])
def test_bad_endpoints(endpoints: str) -> None:
    result = run("--endpoints", endpoints, "get", "k")
    assert result.exit_code == 1
    assert result.stderr.startswith("kvsctl: ")
    assert result.stderr.count("\n") == 1


def test_address_and_endpoints_together_is_a_usage_error() -> None:
    result = run("-a", "127.0.0.1:1", "--endpoints", "127.0.0.1:2", "get", "k")
    assert (result.exit_code, result.stderr) == (
        2, "kvsctl: give -a or --endpoints, not both (see 'kvsctl --help')\n"
    )


def test_member_list_write_out_json(scripted: StartNode) -> None:
    reply = b"*1\r\n*4\r\n$2\r\nid\r\n:7\r\n$4\r\nrole\r\n$7\r\nlearner\r\n"
    result = run("--endpoints", f"{dead_address()},{scripted(reply).address}", "member", "list", "-w", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [{"id": 7, "role": "learner"}]
