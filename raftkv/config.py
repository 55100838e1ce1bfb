"""Node configuration, set at start and shared by the supervisor, the workers and the Raft process.

A NodeConfig is frozen; CONFIG SET gives the Raft process and the workers a new one
(:mod:`raftkv.runtime_config`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from raftkv.wire.members import Member


@dataclass(frozen=True)
class NodeConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 2317
    workers: int = 4
    log_level: str = "info"
    # Raft timing: an election timeout is drawn from [election_ticks, 2 * election_ticks) ticks.
    tick_ms: int = 100
    election_ticks: int = 10
    heartbeat_ticks: int = 1
    # How long a client waits for a leader (or a read index) before a retryable error.
    request_timeout_s: float = 2.0
    # How long an accepted write may take to commit before its outcome is reported unknown.
    commit_timeout_s: float = 5.0
    # Client protocol limits, as Redis's proto-max-bulk-len and client-query-buffer-limit.
    max_bulk_len: int = 512 * 1024 * 1024
    max_multibulk_len: int = 1024 * 1024
    max_inline_len: int = 64 * 1024
    # A client whose unread replies pass this is disconnected (Redis: client-output-buffer-limit).
    max_output_bytes: int = 64 * 1024 * 1024
    # A connection with this many commands awaiting replies is not read until some are answered.
    max_in_flight: int = 1024
    maxclients: int = 10000
    # A snapshot is taken once the log has this many entries past the last one; the log is then
    # compacted up to catch_up_entries before it, so a briefly lagging follower still gets entries.
    snapshot_entries: int = 10000
    # Below this much free space in the data dir's file system, writes are refused (reads go on), so
    # that LevelDB never fails a write half way; they resume once space returns.
    min_free_disk_bytes: int = 64 * 1024 * 1024
    catch_up_entries: int = 1000
    # The cluster to bootstrap when the data dir holds none; this node is the member with our address.
    initial_cluster: tuple[Member, ...] = field(default=())
    peer_host: str = "127.0.0.1"
    peer_port: int = 12317  # where this node listens for peers
    advertised_peer_host: str = "127.0.0.1"
    advertised_peer_port: int = 12317  # where peers reach it (they differ behind a proxy)
    # The client address this node gives others (member list, its entry in --initial-cluster) when it
    # differs from host:port, the one it binds (a proxy or a NAT stands between); "" when they agree.
    advertised_client: str = ""
    join: str | None = None  # start empty and wait to be added (the address of a member, for messages)
    cluster_secret: bytes = b""  # peers must present it (the transport's handshake)
    requirepass: bytes = b""  # clients must AUTH with it when set, as Redis's requirepass
    # --force-new-cluster: a token naming this run of raftkv-server ("" without the flag). The data dir
    # is rewritten once per token, not again when the supervisor restarts the Raft process.
    force_new_cluster: str = ""
    metrics_addr: tuple[str, int] | None = None  # where the Raft process serves /metrics, /health, /readyz
    # TLS, as redis-server's options of the same names: tls_port 0 serves no TLS client port (and port 0
    # no plain one); tls_replication puts the peer links under TLS, both ends presenting certificates.
    tls_port: int = 0
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_ca_cert_file: Path | None = None
    tls_auth_clients: str = "yes"  # yes, optional or no: whether a TLS client must present a certificate
    tls_replication: bool = False
    # The slow log keeps commands that took at least this many µs (-1: none), its newest slowlog_max_len.
    slowlog_log_slower_than_us: int = 10000
    slowlog_max_len: int = 128
    # LATENCY records events that took at least this many ms (0: the monitor is off, as in Redis).
    latency_monitor_threshold_ms: int = 0
    config_file: Path | None = None  # the --config TOML file the node started with, for CONFIG REWRITE

    @property
    def address(self) -> str:
        """This node's client address as the cluster knows it: the plain port, or the TLS one without it."""
        return self.advertised_client or f"{self.host}:{self.port or self.tls_port}"
