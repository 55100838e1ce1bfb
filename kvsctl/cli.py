"""``kvsctl``: a command-line client for a raftkv cluster.

Replies are printed the way redis-cli prints them to a terminal, except that bulk strings are written raw
(unquoted), so a script can use ``$(kvsctl get k)``. An error reply goes to stderr as ``(error) ...`` with
exit status 1. Every other failure (bad address, unreachable nodes, timeout, closed connection, usage
error) is one ``kvsctl: ...`` line on stderr and a non-zero exit status, never a traceback.

A command goes to the first of the endpoints that accepts a connection; ``endpoint status|health`` ask
every endpoint, and ``snapshot save`` goes on from there to the leader. ``snapshot restore`` is offline
(:mod:`kvsctl.snapshot`).
"""
from __future__ import annotations

import json
import os
import ssl
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource
from click.exceptions import NoArgsIsHelpError

from kvsctl.cluster import ClusterFailure
from kvsctl.cluster import add_group as cluster_add
from kvsctl.cluster import create as cluster_create_map
from kvsctl.cluster import format_status_table as format_cluster_table
from kvsctl.cluster import status as cluster_status
from kvsctl.endpoints import collect_health, collect_status, format_health_table, format_status_table
from kvsctl.members import format_member_table, parse_members
from kvsctl.output import format_reply
from kvsctl.resharding import move_slots as cluster_move
from kvsctl.resharding import parse_slot_spec
from kvsctl.resharding import rebalance as cluster_rebalance_map
from raftkv.client import Address, Client, ClientError, RespError, connect_any, format_address, parse_endpoints
from raftkv.tls import TLSConfigError, client_context
from raftkv.wire.members import MembershipError, default_peer_addr, split_addr

DEFAULT_ADDRESS = "127.0.0.1:2317"

_Command = TypeVar("_Command", bound=Callable[..., Any])


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
        click.echo(f"(error) {' '.join(self.message.split())}", err=True)


@dataclass(frozen=True)
class Settings:
    """Global options, kept raw so that ``--help`` works whatever they hold."""

    endpoints: str
    timeout: float
    password: str | None
    both_given: bool  # -a and --endpoints both on the command line
    tls: bool = False
    cacert: Path | None = None
    cert: Path | None = None
    key: Path | None = None


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


def _settings() -> Settings:
    settings = click.get_current_context().find_object(Settings)
    assert settings is not None  # set by the top-level group
    return settings


def _addresses(settings: Settings) -> list[Address]:
    if settings.both_given:
        raise UsageFailure("give -a or --endpoints, not both (see 'kvsctl --help')")
    try:
        return parse_endpoints(settings.endpoints)
    except ValueError as exc:
        raise Failure(str(exc)) from None


def _password(settings: Settings) -> bytes | None:
    return _arg(settings.password) if settings.password else None


def _tls(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of --tls (with --cacert, --cert, --key), or None for plain connections."""
    if not settings.tls:
        if settings.cacert or settings.cert or settings.key:
            raise UsageFailure("--cacert, --cert and --key go with --tls (see 'kvsctl --help')")
        return None
    if settings.key is not None and settings.cert is None:
        raise UsageFailure("--key goes with --cert (see 'kvsctl --help')")
    try:
        return client_context(settings.cacert, settings.cert, settings.key)
    except TLSConfigError as exc:
        raise Failure(str(exc)) from None


def _execute(*argv: bytes | str) -> Any:
    """Run one command on the first endpoint that accepts a connection; failures become one line."""
    settings = _settings()
    addresses = _addresses(settings)
    password = _password(settings)
    tls = _tls(settings)
    try:
        with connect_any(addresses, settings.timeout, tls) as client:
            refusal = client.auth(password) if password else None
            return refusal if refusal is not None else client.execute(*argv)
    except ClientError as exc:
        raise Failure(str(exc)) from None


def _print_reply(reply: Any) -> None:
    if isinstance(reply, RespError):
        raise ErrorReply(reply)
    click.echo(format_reply(reply), nl=False)


def _arg(text: str) -> bytes:
    # The bytes the shell passed, even when they are not valid UTF-8.
    return os.fsencode(text)


def _output_options(command: _Command) -> _Command:
    """``-w table|json`` and ``--json`` (the same as ``-w json``), for every command that prints a table."""
    command = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table (-w json).")(command)
    return click.option(
        "-w", "--write-out", type=click.Choice(["table", "json"]), default="table", show_default=True,
        help="Output format.",
    )(command)


def _print_rows(rows: list[dict[str, Any]], table: Callable[[list[dict[str, Any]]], str], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(table(rows), nl=False)


@click.group(
    cls=_Cli,
    context_settings={"token_normalize_func": str.lower, "help_option_names": ["-h", "--help"]},
)
@click.option(
    "-a", "--address", envvar="KVSCTL_ADDRESS", default=DEFAULT_ADDRESS, show_default=True,
    help="One node's client address, HOST:PORT or [IPv6]:PORT (env KVSCTL_ADDRESS).",
)
@click.option(
    "--endpoints", envvar="KVSCTL_ENDPOINTS", default=None, metavar="ADDR,ADDR,...",
    help="Client addresses of several nodes: a command goes to the first that accepts a connection, "
         "endpoint status|health ask them all (env KVSCTL_ENDPOINTS).",
)
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
    help="Seconds to wait for each connection and for each reply.",
)
@click.option(
    "--password", envvar="KVSCTL_PASSWORD", default=None,
    help="Password of a node started with --requirepass (env KVSCTL_PASSWORD keeps it off the command line).",
)
@click.option("--tls", is_flag=True, help="Connect over TLS, verifying the node against --cacert (as redis-cli --tls).")
@click.option("--cacert", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CA certificate file to verify the nodes with  [default: the system's CAs]")
@click.option("--cert", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Client certificate to present (a node with tls-auth-clients yes asks for one).")
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Private key of --cert  [default: in the --cert file]")
@click.pass_context
def cli(ctx: click.Context, address: str, endpoints: str | None, timeout: float, password: str | None,
        tls: bool, cacert: Path | None, cert: Path | None, key: Path | None) -> None:
    """Talk to a raftkv cluster: read and write keys, manage membership, check the nodes, shard the keys
    over several clusters and move slots between them online.

    Command names are case-insensitive: `kvsctl GET k` is `kvsctl get k`.
    """
    typed = {name for name in ("address", "endpoints") if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE}
    # A flag beats the environment; --endpoints (flag or env) beats -a's default.
    chosen = endpoints if endpoints is not None and "address" not in typed else address
    ctx.obj = Settings(chosen, timeout, password, both_given=len(typed) == 2,
                       tls=tls, cacert=cacert, cert=cert, key=key)


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
@_output_options
def member_list(write_out: str, as_json: bool) -> None:
    """List the members: id, addresses, role, leader, match index and lag."""
    reply = _execute("RAFT", "MEMBER", "LIST")
    if isinstance(reply, RespError):
        raise ErrorReply(reply)
    try:
        members = parse_members(reply)
    except ValueError as exc:
        raise Failure(f"unexpected reply to RAFT MEMBER LIST: {exc}") from None
    _print_rows(members, format_member_table, as_json or write_out == "json")


@cli.group()
def leader() -> None:
    """Move the cluster's leadership."""


@leader.command("transfer")
@click.argument("member_ref", metavar="ADDR|ID")
def leader_transfer(member_ref: str) -> None:
    """Hand leadership to a member, named by its address or its node id."""
    _print_reply(_execute("RAFT", "LEADER", "TRANSFER", _arg(member_ref)))


@cli.group()
def cluster() -> None:
    """Shard the key space over several groups (Redis Cluster's 16384 slots): create, add-group, status,
    move-slots, rebalance."""


def _ask_node(address: str, *argv: bytes | str) -> Any:
    """One command to the node at ``address`` (ClientError if it cannot be reached)."""
    settings = _settings()
    password, tls = _password(settings), _tls(settings)
    try:
        host, port = parse_endpoints(address)[0]
    except ValueError as exc:
        raise Failure(str(exc)) from None
    with Client(host, port, settings.timeout, tls) as client:
        refusal = client.auth(password) if password else None
        return refusal if refusal is not None else client.execute(*argv)


def _cluster_rows(rows_of: Callable[[], list[dict[str, Any]]], as_json: bool) -> None:
    try:
        rows = rows_of()
    except ClusterFailure as exc:
        raise Failure(str(exc)) from None
    _print_rows(rows, format_cluster_table, as_json)


@cluster.command("create")
@click.argument("group_specs", nargs=-1, required=True, metavar="[NAME=]ADDR,ADDR,... ...")
@_output_options
def cluster_create(group_specs: tuple[str, ...], write_out: str, as_json: bool) -> None:
    """Make one sharded deployment of the given groups (each a running raftkv cluster, named by its
    members' client addresses): the 16384 slots are shared evenly among them, and the map is installed
    on every group. Groups are named g1, g2, ... unless given as NAME=ADDR,..."""
    def rows() -> list[dict[str, Any]]:
        slot_map = cluster_create_map(_ask_node, list(group_specs))
        return cluster_status(_ask_node, slot_map.groups[0].members[0])
    _cluster_rows(rows, as_json or write_out == "json")


@cluster.command("add-group")
@click.argument("group_spec", metavar="[NAME=]ADDR,ADDR,...")
@_output_options
def cluster_add_group(group_spec: str, write_out: str, as_json: bool) -> None:
    """Add a group (a running raftkv cluster) to the deployment -a names; it owns no slots yet."""
    address = _addresses(_settings())[0]

    def rows() -> list[dict[str, Any]]:
        cluster_add(_ask_node, format_address(*address), group_spec)
        return cluster_status(_ask_node, format_address(*address))
    _cluster_rows(rows, as_json or write_out == "json")


@cluster.command("status")
@_output_options
def cluster_status_command(write_out: str, as_json: bool) -> None:
    """Per group: its leader, slot ranges, slot count, keys, slots migrating and importing, members and
    the map's epoch."""
    address = _addresses(_settings())[0]
    _cluster_rows(lambda: cluster_status(_ask_node, format_address(*address)), as_json or write_out == "json")


@cluster.command("move-slots")
@click.argument("source", metavar="FROM-GROUP")
@click.argument("target", metavar="TO-GROUP")
@click.argument("slot_spec", metavar="[SLOTS]", required=False)
@click.option("--count", type=int, default=None, help="Move this many slots of FROM-GROUP (its last ones).")
def cluster_move_slots(source: str, target: str, slot_spec: str | None, count: int | None) -> None:
    """Move SLOTS (like 100-200,305) of group FROM-GROUP, or --count N of them, to group TO-GROUP with
    their keys, while clients keep going (they see -ASK and -TRYAGAIN during the move, -MOVED after).
    Run the same command again to finish a move that stopped half way."""
    if (slot_spec is None) == (count is None):
        raise UsageFailure("give either SLOTS or --count N (see 'kvsctl cluster move-slots --help')")
    address = format_address(*_addresses(_settings())[0])
    try:
        slots = parse_slot_spec(slot_spec) if slot_spec is not None else None
        cluster_move(_ask_node, address, source, target, slots, count, progress=click.echo)
    except ClusterFailure as exc:
        raise Failure(str(exc)) from None
    click.echo("done")


@cluster.command("rebalance")
def cluster_rebalance() -> None:
    """Move slots (with their keys, online) until every group owns as many as the others, give or take
    one: e.g. to give a group made by add-group its share. Finishes any move that stopped half way first."""
    address = format_address(*_addresses(_settings())[0])
    try:
        cluster_rebalance_map(_ask_node, address, progress=click.echo)
    except ClusterFailure as exc:
        raise Failure(str(exc)) from None
    click.echo("done")


@cli.group()
def endpoint() -> None:
    """Check every endpoint: its Raft status, or whether it is healthy."""


@endpoint.command("status")
@_output_options
def endpoint_status(write_out: str, as_json: bool) -> None:
    """Per endpoint, from its INFO: id, version, role, leader, term, commit, applied and last log index, lag
    (entries still to apply to reach the leader's commit index), log entries, snapshot bytes, keys.
    Exit status 1 if an endpoint did not answer."""
    settings = _settings()
    rows = collect_status(_addresses(settings), settings.timeout, _password(settings), _tls(settings))
    _print_rows(rows, format_status_table, as_json or write_out == "json")
    failed = sum(row["error"] is not None for row in rows)
    if failed:
        raise Failure(f"no status from {failed} of {len(rows)} endpoints")


@endpoint.command("health")
@_output_options
def endpoint_health(write_out: str, as_json: bool) -> None:
    """Per endpoint: healthy (answers INFO, knows a leader, is a member), how long it took, and why not.
    Exit status 1 if an endpoint is unhealthy."""
    settings = _settings()
    rows = collect_health(_addresses(settings), settings.timeout, _password(settings), _tls(settings))
    _print_rows(rows, format_health_table, as_json or write_out == "json")
    unhealthy = sum(not row["healthy"] for row in rows)
    if unhealthy:
        raise Failure(f"{unhealthy} of {len(rows)} endpoints unhealthy")


@cli.group()
def snapshot() -> None:
    """Save a consistent snapshot of the cluster; restore one into a new cluster or into Redis."""


@snapshot.command("save")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--wait", type=click.FloatRange(min=0, min_open=True), default=600.0, show_default=True,
              help="Seconds to wait for the leader to write a fresh snapshot.")
def snapshot_save(file: Path, wait: float) -> None:
    """Save a consistent snapshot from the leader into FILE.

    The snapshot is at the leader's commit index or later (every write acknowledged before the command
    started is in it), in the node's snapshot format, checksum verified, written atomically. Progress
    goes to stderr on a terminal; one summary line to stdout."""
    from kvsctl.snapshot import SnapshotFailure, ask_save, atomic_file, connect_to, download, leader_of

    settings = _settings()
    password = _password(settings)
    tls = _tls(settings)
    try:
        with connect_any(_addresses(settings), settings.timeout, tls) as first:
            refusal = first.auth(password) if password else None
            if refusal is not None:
                raise ErrorReply(refusal)
            with (leader_of(first, lambda addr: connect_to(addr, settings.timeout, password, tls)) as client,
                  atomic_file(file) as (out, temp)):
                offer = ask_save(client, wait)
                with click.progressbar(length=offer.size, label="Saving snapshot", file=sys.stderr,
                                       hidden=not sys.stderr.isatty()) as bar:
                    saved = download(client, offer, out, temp, bar.update)
    except (ClientError, SnapshotFailure) as exc:
        raise Failure(str(exc)) from None
    click.echo(f"Snapshot saved at {file}: index {saved.meta.index}, term {saved.meta.term}, {saved.size} bytes")


@snapshot.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "output_format", type=click.Choice(["data-dir", "resp"]), default="data-dir",
              show_default=True, help="A data dir for raftkv-server, or RESP commands for redis-cli --pipe.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="The new data dir (absent or empty), for --format data-dir.")
@click.option("--client-address", "address", default=DEFAULT_ADDRESS, show_default=True, metavar="HOST:PORT",
              help="The client address the restored node will serve (start raftkv-server on it).")
@click.option("--peer-address", default=None, metavar="HOST:PORT",
              help="Its peer address  [default: HOST:PORT+10000]")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the RESP commands to this file (atomically) instead of stdout, for --format resp.")
def snapshot_restore(file: Path, output_format: str, data_dir: Path | None, address: str,
                     peer_address: str | None, output: Path | None) -> None:
    """Restore a snapshot FILE offline, into a new cluster or into Redis.

    Either a data dir from which `raftkv-server --data-dir DIR` starts a NEW one-node cluster (new
    cluster id, keys and TTLs of the snapshot; grow it with `member add`), or the RESP commands that
    load the keys into Redis: `kvsctl snapshot restore FILE --format resp | redis-cli --pipe`."""
    # The node's storage and state machine load only for these commands: every other one starts faster.
    from kvsctl.resp_dump import write_resp
    from kvsctl.snapshot import SnapshotFailure, atomic_file
    from raftkv.node.disk import StorageError
    from raftkv.node.restore import RestoreError, restore_data_dir
    from raftkv.node.snapshots.snapshot_file import SnapshotError, load_snapshot

    if output_format == "data-dir" and (data_dir is None or output is not None):
        raise UsageFailure("--format data-dir needs --data-dir and takes no --output "
                           "(see 'kvsctl snapshot restore --help')")
    if output_format == "resp" and data_dir is not None:
        raise UsageFailure("--format resp writes RESP commands, not a data dir: give --output or none")
    try:
        if data_dir is not None:
            split_addr(address)
            restored = restore_data_dir(file, data_dir, address, peer_address or default_peer_addr(address))
            host, port = split_addr(restored.member.client_addr)
            click.echo(f"Restored index {restored.meta.index} ({restored.keys} keys) into {data_dir}: node "
                       f"{restored.member.id} of new cluster {restored.cluster_id}; start it with "
                       f"raftkv-server --data-dir {data_dir} --host {host} --port {port} "
                       f"--peer-port {split_addr(restored.member.peer_addr)[1]}")
            return
        _meta, _members, sm = load_snapshot(file)
        now_ms = int(time.time() * 1000)
        if output is None:
            write_resp(sm, sys.stdout.buffer, now_ms)
        else:
            with atomic_file(output) as (out, _temp):
                write_resp(sm, out, now_ms)
    except (SnapshotError, StorageError, RestoreError, MembershipError, SnapshotFailure) as exc:
        raise Failure(str(exc)) from None


def main() -> None:
    """The ``kvsctl`` console script; exits with the command's status."""
    cli.main(prog_name="kvsctl")
