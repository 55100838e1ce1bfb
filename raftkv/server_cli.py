"""``raftkv-server``: start one node (a supervisor, its Raft process and its workers)."""
from __future__ import annotations

import difflib
import ipaddress
import logging
import secrets
import sys
import tomllib
from pathlib import Path
from typing import NoReturn

import click

from raftkv.config import NodeConfig
from raftkv.process import LOG_FORMATS
from raftkv.tls import AUTH_CLIENTS
from raftkv.wire.members import (
    Member,
    MembershipError,
    default_peer_addr,
    parse_initial_cluster,
    parse_member,
    split_addr,
)


def _load_config_file(ctx: click.Context, _param: click.Parameter, path: Path | None) -> None:
    """Read the TOML file into click's default_map: its values then rank below flags and environment
    variables, above the defaults, and go through the options' own types and ranges."""
    if path is None:
        return
    ctx.meta[_CONFIG_FILE] = path.absolute()  # CONFIG REWRITE writes it back
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        _fail(f"cannot read config file {path}: {exc.strerror}")
    except tomllib.TOMLDecodeError as exc:
        _fail(f"{path}: {exc}")
    options = {_file_key(o): o for o in ctx.command.params if isinstance(o, click.Option) and o.expose_value}
    defaults: dict[str, object] = {}
    for key, value in data.items():
        option = options.get(key)
        if option is None:
            close = difflib.get_close_matches(key, options, n=1)
            _fail(f"{path}: unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        # Stricter than click, which would take "4321", 43.21 or true for an integer: in a typed file
        # a value of another type is a mistake.
        expected = bool if option.is_flag else int if isinstance(option.type, click.types.IntParamType) else str
        if type(value) is not expected:
            _fail(f"{path}: {key}: expected {_TOML_TYPES[expected]}, got {_TOML_TYPES.get(type(value), 'a date')}")
        try:
            defaults[option.name] = option.type_cast_value(ctx, value)
        except click.BadParameter as exc:
            _fail(f"{path}: {key}: {exc.message}")
    ctx.default_map = {**(ctx.default_map or {}), **defaults}


_CONFIG_FILE = "raftkv.config_file"
_TOML_TYPES = {bool: "a boolean", int: "an integer", str: "a string", float: "a float", list: "an array",
               dict: "a table"}


def _file_key(option: click.Option) -> str:
    """An option's key in the config file: its long name without the dashes (the positive one of a flag)."""
    return next(o for o in option.opts if o.startswith("--")).removeprefix("--")


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", type=click.Path(path_type=Path), is_eager=True, expose_value=False,
              callback=_load_config_file, metavar="FILE",
              help="TOML file of options, keyed by the long option names without dashes (maxclients = 4321, "
                   "initial-cluster = \"...\", protected-mode = false); flags and environment variables "
                   "override it. Given before --help, the defaults shown are the file's.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address clients connect to.")
@click.option("--port", default=2317, show_default=True, type=click.IntRange(0, 65535),
              help="Client port (0: none, with --tls-port).")
@click.option("--peer-port", default=None, type=click.IntRange(1, 65535),
              help="Port to listen on for Raft traffic between nodes  [default: this node's peer port in "
                   "--initial-cluster, else port + 10000]")
@click.option("--initial-cluster", default=None, metavar="ADDR,ADDR,...",
              help="Client addresses (host:port or host:port@peerhost:peerport) of the cluster to create on "
                   "first start; ignored once the data dir holds a cluster  [default: this node alone]")
@click.option("--advertise-peer", default=None, metavar="HOST:PORT",
              help="Address peers reach this node at when it differs from --peer-port (a proxy stands "
                   "between); for a node without --initial-cluster, which gives it as host:port@peer  "
                   "[default: host:peer-port]")
@click.option("--advertise-client", default=None, metavar="HOST:PORT",
              help="Client address this node gives others (member list, its entry in --initial-cluster) "
                   "when clients reach it elsewhere than --host:--port (a proxy or NAT stands between)  "
                   "[default: host:port]")
@click.option("--join", default=None, metavar="ADDR",
              help="Start empty and wait to be added to the cluster that member ADDR (host:port, or "
                   "host:port@peerhost:peerport when its peer port is not port + 10000) belongs to. With "
                   "--cluster-secret the node asks ADDR to add it; without, run `kvsctl -a ADDR member add` "
                   "with this node's address.")
@click.option("--force-new-cluster", is_flag=True, default=False,
              help="Restart the one survivor of a cluster that lost its majority for good as a one-node "
                   "cluster with all its data (other members removed, same cluster id); then add fresh "
                   "nodes. Never start the removed members again with their data. Drop the flag once it runs.")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes serving client connections.")
@click.option("--data-dir", default="./data", show_default=True, type=click.Path(path_type=Path),
              help="Where the Raft log lives (LevelDB).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
@click.option("--log-format", default="text", show_default=True, type=click.Choice(LOG_FORMATS),
              help="text lines, or json: one object per line (time, level, process, pid, logger, message).")
@click.option("--tick-ms", default=100, show_default=True, type=click.IntRange(1, 10000),
              help="Length of one Raft tick.")
@click.option("--election-ticks", default=10, show_default=True, type=click.IntRange(2, 1000),
              help="Minimum election timeout in ticks (randomized up to twice that).")
@click.option("--max-bulk-len", default=512 * 1024 * 1024, show_default=True, type=click.IntRange(1),
              help="Largest bulk string a client may send (Redis proto-max-bulk-len).")
@click.option("--requirepass", envvar="RAFTKV_REQUIREPASS", default=None,
              help="Password clients must AUTH with (env RAFTKV_REQUIREPASS keeps it off the command line).")
@click.option("--cluster-secret", envvar="RAFTKV_CLUSTER_SECRET", default=None,
              help="Secret every peer connection must present; the same on every node "
                   "(env RAFTKV_CLUSTER_SECRET).")
@click.option("--protected-mode/--no-protected-mode", default=True, show_default=True,
              help="Refuse to listen on a non-loopback address without --requirepass.")
@click.option("--maxclients", default=10000, show_default=True, type=click.IntRange(1),
              help="Most client connections the node accepts at once.")
@click.option("--snapshot-entries", default=10000, show_default=True, type=click.IntRange(1),
              help="Take a snapshot (and compact the log) once this many entries were applied since the "
                   "last one (at least as many as the keys, times 1 to 1.5 drawn by each node).")
@click.option("--min-free-disk", default=64 * 1024 * 1024, show_default=True, type=click.IntRange(0),
              help="Refuse writes while the data dir's file system has less than this many bytes free.")
@click.option("--client-output-limit", default=64 * 1024 * 1024, show_default=True, type=click.IntRange(1),
              help="Unread reply bytes after which a client is disconnected.")
@click.option("--request-timeout-ms", default=2000, show_default=True, type=click.IntRange(1),
              help="How long a command waits for a leader (or a read index) before a retryable error.")
@click.option("--commit-timeout-ms", default=5000, show_default=True, type=click.IntRange(1),
              help="How long an accepted write may take to commit before its outcome is reported unknown.")
@click.option("--slowlog-log-slower-than", default=10000, show_default=True, type=click.IntRange(-1),
              help="SLOWLOG keeps commands that took at least this many microseconds (-1: none).")
@click.option("--slowlog-max-len", default=128, show_default=True, type=click.IntRange(0),
              help="SLOWLOG keeps this many of the newest slow commands.")
@click.option("--latency-monitor-threshold", default=0, show_default=True, type=click.IntRange(0),
              help="LATENCY records events that took at least this many milliseconds (0: off).")
@click.option("--metrics-addr", envvar="RAFTKV_METRICS_ADDR", default=None, metavar="HOST:PORT",
              help="Serve Prometheus /metrics, /health and /readyz over HTTP here (no authentication; "
                   "env RAFTKV_METRICS_ADDR)  [default: not served]")
@click.option("--tls-port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="TLS client port, beside --port or instead of it (--port 0); 0: none.")
@click.option("--tls-cert-file", default=None, type=click.Path(path_type=Path), metavar="FILE",
              help="This node's certificate (PEM), for the TLS client port and the peer links.")
@click.option("--tls-key-file", default=None, type=click.Path(path_type=Path), metavar="FILE",
              help="The private key of --tls-cert-file (PEM).")
@click.option("--tls-ca-cert-file", default=None, type=click.Path(path_type=Path), metavar="FILE",
              help="The CA certificates (PEM) that client and peer certificates must be signed by.")
@click.option("--tls-auth-clients", default="yes", show_default=True, type=click.Choice(AUTH_CLIENTS),
              help="Whether a TLS client must present a certificate of the CA (optional: checked if given).")
@click.option("--tls-replication", default="no", show_default=True, type=click.Choice(["yes", "no"]),
              help="Put the links between nodes under TLS: both ends present certificates of the CA, and the "
                   "cluster secret never crosses a plaintext link. The same on every node.")
@click.version_option(package_name="raftkv")
def main(host: str, port: int, peer_port: int | None, initial_cluster: str | None, advertise_peer: str | None,
         advertise_client: str | None, join: str | None, force_new_cluster: bool,
         workers: int, data_dir: Path, log_level: str, log_format: str, tick_ms: int,
         election_ticks: int, max_bulk_len: int, requirepass: str | None, cluster_secret: str | None,
         protected_mode: bool, maxclients: int, snapshot_entries: int, min_free_disk: int,
         client_output_limit: int, request_timeout_ms: int, commit_timeout_ms: int, slowlog_log_slower_than: int,
         slowlog_max_len: int, latency_monitor_threshold: int, metrics_addr: str | None, tls_port: int,
         tls_cert_file: Path | None, tls_key_file: Path | None, tls_ca_cert_file: Path | None,
         tls_auth_clients: str, tls_replication: str) -> None:
    """Serve a Redis-protocol key-value store whose every write goes through a Raft log."""
    from raftkv.process import StartError, setup_logging
    from raftkv.supervisor.supervisor import Supervisor
    from raftkv.wire.resp import require_compiled

    try:
        require_compiled()
    except RuntimeError as exc:
        _fail(str(exc))
    if advertise_peer is not None and initial_cluster is not None:
        _fail("give this node's peer address in --initial-cluster (host:port@peerhost:peerport), "
              "not with --advertise-peer")
    if not port and not tls_port:
        _fail("--port 0 serves no plain clients: give a --tls-port")
    if (tls_port or tls_replication == "yes") and (tls_cert_file is None or tls_key_file is None):
        _fail("TLS (--tls-port, --tls-replication yes) needs --tls-cert-file and --tls-key-file")
    if tls_ca_cert_file is None and (tls_replication == "yes" or (tls_port and (not port or tls_auth_clients != "no"))):
        # Without a plain port, nodes relay membership commands to the leader's TLS port as clients.
        _fail("checking certificates (--tls-replication yes, --tls-auth-clients yes|optional, --port 0) "
              "needs --tls-ca-cert-file")
    client_port = port or tls_port
    try:
        if advertise_client is not None:
            split_addr(advertise_client)
        members, me = _cluster(advertise_client or f"{host}:{client_port}", host, client_port, peer_port,
                               advertise_peer, initial_cluster)
    except MembershipError as exc:
        _fail(str(exc))
    # Peers reach us at the address the cluster list gives; --peer-port may differ from it when
    # something (a proxy, a NAT) stands between, as etcd's listen vs advertise peer URLs.
    peer_host, advertised_peer_port = split_addr(me.peer_addr)
    peer_port = peer_port or advertised_peer_port
    if protected_mode and not requirepass and not _is_loopback(host):
        _fail(f"refusing to serve clients on {host} without --requirepass "
              "(give a password, or --no-protected-mode to accept unauthenticated clients from the network)")
    if join is not None and initial_cluster is not None:
        _fail("--join and --initial-cluster exclude each other: a joining node takes the cluster's list")
    if force_new_cluster and join is not None:
        _fail("--force-new-cluster restarts a node of a cluster; it excludes --join")
    try:
        if join is not None:
            parse_member(join)
    except MembershipError as exc:
        _fail(f"--join: {exc}")
    try:
        metrics = split_addr(metrics_addr) if metrics_addr is not None else None
    except MembershipError as exc:
        _fail(f"--metrics-addr: {exc}")
    config = NodeConfig(data_dir=data_dir, host=host, port=port, workers=workers, log_level=log_level,
                        initial_cluster=tuple(members), peer_host=peer_host, peer_port=peer_port,
                        advertised_peer_host=peer_host, advertised_peer_port=advertised_peer_port,
                        advertised_client=advertise_client or "", join=join,
                        tick_ms=tick_ms, election_ticks=election_ticks, max_bulk_len=max_bulk_len,
                        max_output_bytes=client_output_limit, maxclients=maxclients,
                        snapshot_entries=snapshot_entries, catch_up_entries=min(1000, snapshot_entries),
                        min_free_disk_bytes=min_free_disk, metrics_addr=metrics,
                        requirepass=(requirepass or "").encode(), cluster_secret=(cluster_secret or "").encode(),
                        force_new_cluster=secrets.token_hex(8) if force_new_cluster else "",
                        request_timeout_s=request_timeout_ms / 1000, commit_timeout_s=commit_timeout_ms / 1000,
                        slowlog_log_slower_than_us=slowlog_log_slower_than, slowlog_max_len=slowlog_max_len,
                        latency_monitor_threshold_ms=latency_monitor_threshold,
                        config_file=click.get_current_context().meta.get(_CONFIG_FILE),
                        tls_port=tls_port, tls_cert_file=tls_cert_file, tls_key_file=tls_key_file,
                        tls_ca_cert_file=tls_ca_cert_file, tls_auth_clients=tls_auth_clients,
                        tls_replication=tls_replication == "yes")
    # Logging starts with the node: the argument errors above are plain lines, as click's own are.
    setup_logging(log_level, "supervisor", log_format)
    try:
        sys.exit(Supervisor(config).run())
    except StartError as exc:
        if log_format == "json":
            logging.getLogger("raftkv.server_cli").error("%s", exc)
            sys.exit(1)
        _fail(str(exc))


def _cluster(address: str, host: str, port: int, peer_port: int | None, advertise_peer: str | None,
             spec: str | None) -> tuple[list[Member], Member]:
    """The initial cluster and this node's entry in it, found by its (advertised) client ``address``;
    without a list, the peer address defaults from the bound ``host:port``, not the advertised one."""
    if spec is None:
        peer = advertise_peer or (f"{host}:{peer_port}" if peer_port else default_peer_addr(f"{host}:{port}"))
        spec = f"{address}@{peer}"
    members = parse_initial_cluster(spec)
    me = next((m for m in members if m.client_addr == address), None)
    if me is None:
        raise MembershipError(f"this node's address {address} is not in --initial-cluster")
    return members, me


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _fail(message: str) -> NoReturn:
    click.echo(f"raftkv-server: {message}", err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
