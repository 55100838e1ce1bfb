"""``kvsctl``: a command-line client for one raftkv node.

Replies are printed the way redis-cli prints them to a terminal, except that bulk strings are written raw
(unquoted), so a script can use ``$(kvsctl get k)``. An error reply goes to stderr as ``(error) ...`` with
exit status 1. Every other failure (bad address, unreachable node, timeout, closed connection, usage
error) is one ``kvsctl: ...`` line on stderr and a non-zero exit status, never a traceback.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click
from click.exceptions import NoArgsIsHelpError

from kvsctl.client import Client, ClientError, RespError

DEFAULT_ADDRESS = "127.0.0.1:2317"

# Member fields in table order; a server may send more, which get columns after these.
MEMBER_FIELDS = ("id", "client_addr", "peer_addr", "role", "leader", "match", "lag")
_MEMBER_HEADERS = {"client_addr": "CLIENT", "peer_addr": "PEER"}
_NUMERIC_FIELDS = frozenset({"id", "match", "lag"})


class Failure(click.ClickException):
    """A failure reported as one ``kvsctl: <message>`` line on stderr."""

    def show(self, file: Any = None) -> None:
        click.echo(f"kvsctl: {self.format_message()}", err=True)


class UsageFailure(Failure):
    """A mistake on the command line: exit status 2, as click gives it."""

    exit_code = 2


class ErrorReply(click.ClickException):
    """The node answered with an error: printed as redis-cli prints it, exit status 1."""

    def __init__(self, error: RespError) -> None:
        super().__init__(error.message)

    def show(self, file: Any = None) -> None:
        click.echo(f"(error) {_one_line(self.message)}", err=True)


def parse_address(text: str) -> tuple[str, int]:
    """Split ``host:port`` (or ``[ipv6]:port``) into its parts; raise ValueError with the reason."""
    host, sep, port_text = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"bad address {text!r}: write an IPv6 host in brackets, [::1]:2317")
    if not sep or not host or not port_text:
        raise ValueError(f"bad address {text!r}: expected HOST:PORT")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad address {text!r}: port must be a number from 1 to 65535")
    return host, int(port_text)


# -- formatting replies ----------------------------------------------------------------------------


def format_reply(value: Any) -> bytes:
    """Render a decoded reply as redis-cli does on a terminal, with bulk strings left raw."""
    return _format(value, b"")


def _format(value: Any, indent: bytes) -> bytes:
    # bool before int: True is an int to Python, but a RESP3 boolean is not an integer reply.
    if value is None:
        return b"(nil)\n"
    if isinstance(value, bool):
        return b"(true)\n" if value else b"(false)\n"
    if isinstance(value, int):
        return b"(integer) %d\n" % value
    if isinstance(value, float):
        text = repr(value)
        return b"(double) " + (text[:-2] if text.endswith(".0") else text).encode() + b"\n"
    if isinstance(value, bytes):
        return value + b"\n"
    if isinstance(value, str):
        return value.encode() + b"\n"
    if isinstance(value, RespError):
        return b"(error) " + value.message.encode() + b"\n"
    if isinstance(value, dict):
        return _format_aggregate(list(value.items()), b"#", indent) if value else b"(empty hash)\n"
    if isinstance(value, (list, tuple)):
        return _format_aggregate(list(value), b")", indent) if value else b"(empty array)\n"
    raise TypeError(f"cannot format a reply of type {type(value).__name__}")


def _format_aggregate(items: list[Any], marker: bytes, indent: bytes) -> bytes:
    """Number the items ``1) `` (maps: ``1# key => value``), nesting under the number's width."""
    width = len(str(len(items)))
    inner = indent + b" " * (width + 2)
    out = []
    for number, item in enumerate(items, 1):
        # The first line continues whatever the parent already wrote on its own line.
        out.append(b"%s%*d%s " % (indent if number > 1 else b"", width, number, marker))
        if marker == b"#":
            key, val = item
            out.append(_format(key, inner)[:-1] + b" => " + _format(val, inner))
        else:
            out.append(_format(item, inner))
    return b"".join(out)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- members -------------------------------------------------------------------------------------


def parse_members(reply: Any) -> list[dict[str, Any]]:
    """Turn a ``RAFT MEMBER LIST`` reply into plain dicts (str keys; str, int or bool values).

    Each member may be a map or a flat ``[key, value, ...]`` list; the reply itself may be a list of
    members or a map whose values are members. Raises ValueError for anything else.
    """
    if isinstance(reply, dict):
        reply = list(reply.values())
    if not isinstance(reply, list):
        raise ValueError(f"expected a list of members, got {_kind(reply)}")
    return [_parse_member(raw) for raw in reply]


def _parse_member(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list) and len(raw) % 2 == 0:
        pairs = list(zip(raw[::2], raw[1::2]))
    else:
        raise ValueError(f"expected a member as a map or key/value list, got {_kind(raw)}")
    member: dict[str, Any] = {}
    for key, value in pairs:
        name = _text(key).lower().replace("-", "_")
        member[name] = _member_value(name, value)
    return member


def _member_value(name: str, value: Any) -> Any:
    if isinstance(value, (bytes, str)):
        value = _text(value)
        if name in _NUMERIC_FIELDS and value.lstrip("-").isdigit():
            return int(value)
    if name == "leader":
        return value in (True, 1, "1", "yes", "true", "leader")
    return value


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _kind(value: Any) -> str:
    return "nil" if value is None else type(value).__name__


def format_member_table(members: list[dict[str, Any]]) -> str:
    """An aligned table, one member a row; the known fields first, then any others the server sent."""
    if not members:
        return "(no members)\n"
    extra = [name for m in members for name in m if name not in MEMBER_FIELDS]
    columns = list(MEMBER_FIELDS) + list(dict.fromkeys(extra))
    headers = [_MEMBER_HEADERS.get(c, c.upper()) for c in columns]
    rows = [[_cell(m.get(c)) for c in columns] for m in members]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    right = [all(isinstance(m.get(c), int) and not isinstance(m.get(c), bool) for m in members)
             for c in columns]

    def line(cells: list[str]) -> str:
        padded = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)]
        return "  ".join(padded).rstrip() + "\n"

    return line(headers) + "".join(line(row) for row in rows)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# -- the command line ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Global options, kept raw so that ``--help`` works whatever they hold."""

    address: str
    timeout: float
    password: str | None


@contextmanager
def _one_line_usage() -> Iterator[None]:
    """Re-raise click's usage errors as one line; a bare group still prints its help."""
    try:
        yield
    except NoArgsIsHelpError:
        raise
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "kvsctl"
        message = exc.format_message().rstrip(".")
        raise UsageFailure(f"{message[:1].lower()}{message[1:]} (see '{where} --help')") from None


class _Cli(click.Group):
    """The top-level group: usage errors anywhere below it become one ``kvsctl:`` line."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with _one_line_usage():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        # Subcommands parse their own arguments inside this call.
        with _one_line_usage():
            return super().invoke(ctx)


def _execute(*argv: bytes | str) -> Any:
    """Run one command on the node named by the global options; failures become one line."""
    settings = click.get_current_context().find_object(Settings)
    assert settings is not None  # set by the top-level group
    try:
        host, port = parse_address(settings.address)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    try:
        with Client(host, port, settings.timeout) as client:
            if settings.password:
                reply = client.execute(b"AUTH", _arg(settings.password))
                if isinstance(reply, RespError):
                    return reply
            return client.execute(*argv)
    except ClientError as exc:
        raise Failure(str(exc)) from None


def _print_reply(reply: Any) -> None:
    if isinstance(reply, RespError):
        raise ErrorReply(reply)
    click.echo(format_reply(reply), nl=False)


def _arg(text: str) -> bytes:
    # The bytes the shell passed, even when they are not valid UTF-8.
    return os.fsencode(text)


@click.group(
    cls=_Cli,
    context_settings={"token_normalize_func": str.lower, "help_option_names": ["-h", "--help"]},
)
@click.option(
    "-a", "--address", envvar="KVSCTL_ADDRESS", default=DEFAULT_ADDRESS, show_default=True,
    help="The node's client address, HOST:PORT (env KVSCTL_ADDRESS).",
)
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
    help="Seconds to wait for the connection and for each reply.",
)
@click.option(
    "--password", envvar="KVSCTL_PASSWORD", default=None,
    help="Password of a node started with --requirepass (env KVSCTL_PASSWORD keeps it off the command line).",
)
@click.pass_context
def cli(ctx: click.Context, address: str, timeout: float, password: str | None) -> None:
    """Talk to a raftkv node: read and write keys, manage cluster membership.

    Command names are case-insensitive: `kvsctl GET k` is `kvsctl get k`.
    """
    ctx.obj = Settings(address, timeout, password)


@cli.command()
@click.argument("key")
def get(key: str) -> None:
    """Print the value of KEY, or (nil) if it does not exist."""
    _print_reply(_execute("GET", _arg(key)))


@cli.command("set")
@click.argument("key")
@click.argument("value")
def set_(key: str, value: str) -> None:
    """Set KEY to VALUE."""
    _print_reply(_execute("SET", _arg(key), _arg(value)))


@cli.command("del")
@click.argument("keys", metavar="KEY...", nargs=-1, required=True)
def delete(keys: tuple[str, ...]) -> None:
    """Delete the KEYs; print how many existed."""
    _print_reply(_execute("DEL", *map(_arg, keys)))


@cli.group()
def member() -> None:
    """Add, remove and list the cluster's members."""


@member.command("add")
@click.argument("addr")
@click.argument("peer_addr", required=False)
def member_add(addr: str, peer_addr: str | None) -> None:
    """Add the node whose client address is ADDR to the cluster; it joins as a learner until it has
    caught up. PEER_ADDR is the node's peer address, needed when it is not the default (ADDR's host,
    its port + 10000). A node removed before may be added back with its data dir."""
    extra = [_arg(peer_addr)] if peer_addr else []
    _print_reply(_execute("RAFT", "MEMBER", "ADD", _arg(addr), *extra))


@member.command("remove")
@click.argument("member_ref", metavar="ADDR|ID")
def member_remove(member_ref: str) -> None:
    """Remove a member, named by its address or its node id."""
    _print_reply(_execute("RAFT", "MEMBER", "REMOVE", _arg(member_ref)))


@member.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def member_list(as_json: bool) -> None:
    """List the members: id, addresses, role, leader, match index and lag."""
    reply = _execute("RAFT", "MEMBER", "LIST")
    if isinstance(reply, RespError):
        raise ErrorReply(reply)
    try:
        members = parse_members(reply)
    except ValueError as exc:
        raise Failure(f"unexpected reply to RAFT MEMBER LIST: {exc}") from None
    if as_json:
        click.echo(json.dumps(members, indent=2))
    else:
        click.echo(format_member_table(members), nl=False)


@cli.group()
def leader() -> None:
    """Move the cluster's leadership."""


@leader.command("transfer")
@click.argument("member_ref", metavar="ADDR|ID")
def leader_transfer(member_ref: str) -> None:
    """Hand leadership to a member, named by its address or its node id."""
    _print_reply(_execute("RAFT", "LEADER", "TRANSFER", _arg(member_ref)))


def main() -> None:
    """The ``kvsctl`` console script; exits with the command's status."""
    cli.main(prog_name="kvsctl")
