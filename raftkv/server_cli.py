"""``raftkv-server``: start one node (a supervisor, its Raft process and its workers)."""
from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import click

from raftkv.config import NodeConfig
from raftkv.wire.members import Member, MembershipError, parse_initial_cluster, split_addr


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address clients connect to.")
@click.option("--port", default=2317, show_default=True, type=click.IntRange(1, 65535), help="Client port.")
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
@click.option("--join", default=None, metavar="ADDR",
              help="Start empty and wait to be added to the cluster that ADDR belongs to "
                   "(then run `kvsctl -a ADDR member add` with this node's address).")
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Worker processes serving client connections.")
@click.option("--data-dir", default="./data", show_default=True, type=click.Path(path_type=Path),
              help="Where the Raft log lives (LevelDB).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
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
              help="Take a snapshot (and compact the log) every this many applied entries.")
@click.option("--min-free-disk", default=64 * 1024 * 1024, show_default=True, type=click.IntRange(0),
              help="Refuse writes while the data dir's file system has less than this many bytes free.")
@click.option("--client-output-limit", default=64 * 1024 * 1024, show_default=True, type=click.IntRange(1),
              help="Unread reply bytes after which a client is disconnected.")
@click.version_option(package_name="raftkv")
def main(host: str, port: int, peer_port: int | None, initial_cluster: str | None, advertise_peer: str | None,
         join: str | None,
         workers: int, data_dir: Path, log_level: str, tick_ms: int,
         election_ticks: int, max_bulk_len: int, requirepass: str | None, cluster_secret: str | None,
         protected_mode: bool, maxclients: int, snapshot_entries: int, min_free_disk: int,
         client_output_limit: int) -> None:
    """Serve a Redis-protocol key-value store whose every write goes through a Raft log."""
    from raftkv.process import StartError, setup_logging
    from raftkv.supervisor.supervisor import Supervisor
    from raftkv.wire.resp import require_compiled

    try:
        require_compiled()
    except RuntimeError as exc:
        _fail(str(exc))
    setup_logging(log_level, "supervisor")
    if advertise_peer is not None and initial_cluster is not None:
        _fail("give this node's peer address in --initial-cluster (host:port@peerhost:peerport), "
              "not with --advertise-peer")
    try:
        members, me = _cluster(host, port, peer_port, advertise_peer, initial_cluster)
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
    config = NodeConfig(data_dir=data_dir, host=host, port=port, workers=workers, log_level=log_level,
                        initial_cluster=tuple(members), peer_host=peer_host, peer_port=peer_port,
                        advertised_peer_host=peer_host, advertised_peer_port=advertised_peer_port, join=join,
                        tick_ms=tick_ms, election_ticks=election_ticks, max_bulk_len=max_bulk_len,
                        max_output_bytes=client_output_limit, maxclients=maxclients,
                        snapshot_entries=snapshot_entries, catch_up_entries=min(1000, snapshot_entries),
                        min_free_disk_bytes=min_free_disk,
                        requirepass=(requirepass or "").encode(), cluster_secret=(cluster_secret or "").encode())
    try:
        sys.exit(Supervisor(config).run())
    except StartError as exc:
        _fail(str(exc))


def _cluster(host: str, port: int, peer_port: int | None, advertise_peer: str | None,
             spec: str | None) -> tuple[list[Member], Member]:
    """The initial cluster and this node's entry in it (found by its client address)."""
    address = f"{host}:{port}"
    if spec is None:
        peer = advertise_peer or (f"{host}:{peer_port}" if peer_port else None)
        spec = f"{address}@{peer}" if peer else address
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


def _fail(message: str) -> None:
    click.echo(f"raftkv-server: {message}", err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
