"""The node's CONFIG parameters: their names, their values as CONFIG GET shows them, and the ones CONFIG SET
may change while the node runs.

Pure: it reads and derives :class:`~raftkv.config.NodeConfig` values, never holds one. The Raft process
answers CONFIG (:mod:`raftkv.node.config_command`) and sends each accepted change to every worker, which
applies it with :func:`parse_changes` and :func:`apply` too; both sides thus agree on what a name means.
A settable parameter's name is also its key in the ``--config`` TOML file (CONFIG REWRITE writes them).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from raftkv.config import NodeConfig
from raftkv.errors import RespError, err
from raftkv.kv.args import INT64_MAX, parse_int


@dataclass(frozen=True, slots=True)
class Setting:
    """A parameter CONFIG SET may change: an integer in [low, high], or a string when ``low`` is None.
    A NodeConfig field in seconds is set in milliseconds (``ms``)."""

    name: str
    field: str
    low: int | None = None
    high: int = INT64_MAX
    ms: bool = False

    def show(self, config: NodeConfig) -> str:
        value = getattr(config, self.field)
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return str(round(value * 1000) if self.ms else value)

    def parse(self, raw: bytes) -> object:
        """The field's value for ``raw``; ValueError says why there is none (Redis's texts)."""
        if self.low is None:
            return raw
        n = parse_int(raw)
        if n is None:
            raise ValueError("argument couldn't be parsed into an integer")
        if not self.low <= n <= self.high:
            raise ValueError(f"argument must be between {self.low} and {self.high} inclusive")
        return n / 1000 if self.ms else n


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("maxclients", "maxclients", 1, (1 << 32) - 1),
    Setting("requirepass", "requirepass"),
    Setting("snapshot-entries", "snapshot_entries", 1),
    Setting("slowlog-log-slower-than", "slowlog_log_slower_than_us", -1),
    Setting("slowlog-max-len", "slowlog_max_len", 0),
    Setting("latency-monitor-threshold", "latency_monitor_threshold_ms", 0),
    Setting("request-timeout-ms", "request_timeout_s", 1, ms=True),
    Setting("commit-timeout-ms", "commit_timeout_s", 1, ms=True),
)}


def _fixed(config: NodeConfig) -> dict[str, str]:
    """The parameters CONFIG GET shows and CONFIG SET refuses (start-up options, or Redis's that have one
    value here)."""
    return {
        # Every write is synced to the Raft log before it is answered: the equivalent of an
        # append-only file with fsync always, and no RDB snapshots.
        "appendonly": "yes",
        "appendfsync": "always",
        "save": "",
        "bind": config.host,
        "port": str(config.port),
        "databases": "1",
        "dir": str(config.data_dir),
        "maxmemory": "0",
        "maxmemory-policy": "noeviction",
        "proto-max-bulk-len": str(config.max_bulk_len),
        "timeout": "0",
        "cluster-enabled": "no",
        "tls-port": str(config.tls_port),
        "tls-cert-file": str(config.tls_cert_file or ""),
        "tls-key-file": str(config.tls_key_file or ""),
        "tls-ca-cert-file": str(config.tls_ca_cert_file or ""),
        "tls-auth-clients": config.tls_auth_clients,
        "tls-replication": "yes" if config.tls_replication else "no",
    }


def defaults() -> NodeConfig:
    """The defaults (with a placeholder data dir), to tell the settings an operator changed."""
    return NodeConfig(data_dir=Path("."))


_IMMUTABLE = frozenset(_fixed(defaults()))


def values(config: NodeConfig) -> dict[str, str]:
    """Every parameter CONFIG GET answers, by name."""
    return {**_fixed(config), **{name: s.show(config) for name, s in SETTINGS.items()}}


def parse_changes(pairs: list[bytes]) -> dict[str, object] | RespError:
    """CONFIG SET's ``name value [name value ...]`` as NodeConfig field -> value, or the error that refuses
    them all (Redis 7 sets several parameters all or none)."""
    changes: dict[str, object] = {}
    for raw_name, raw in zip(pairs[::2], pairs[1::2]):
        given = raw_name.decode("utf-8", "replace")  # errors name the parameter as it was given, as Redis's
        setting = SETTINGS.get(given.lower())
        if setting is None:
            if given.lower() in _IMMUTABLE:
                return _failed(given, "can't set immutable config")
            return err(f"Unknown option or number of arguments for CONFIG SET - '{given}'")
        if setting.field in changes:
            return _failed(given, "duplicate parameter")
        try:
            changes[setting.field] = setting.parse(raw)
        except ValueError as exc:
            return _failed(given, str(exc))
    return changes


def _failed(given: str, why: str) -> RespError:
    return err(f"CONFIG SET failed (possibly related to argument '{given}') - {why}")


def apply(config: NodeConfig, changes: dict[str, object]) -> NodeConfig:
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]



def changed_pairs(before: NodeConfig, after: NodeConfig) -> list[bytes]:
    """CONFIG SET's ``name value ...`` that makes ``before`` into ``after`` (for a worker that starts
    again with the start-up config while the Raft process runs with changed values)."""
    pairs: list[bytes] = []
    for name, s in SETTINGS.items():
        if s.show(after) != s.show(before):
            pairs += [name.encode(), s.show(after).encode()]
    return pairs
