"""``kvsctl endpoint status|health``: what each node says of itself in ``INFO``, one row per endpoint.

Every endpoint is asked on its own connection, all at once, so one that does not answer costs one timeout,
not one per endpoint. Nothing here is sent to a node but ``AUTH`` and ``INFO``. A row always has
``endpoint`` and ``error`` (None, or one line naming the endpoint).
"""
from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kvsctl.output import format_table, kind, text
from raftkv.client import Address, Client, ClientError, RespError, format_address, parse_address

_SECTIONS = (b"server", b"persistence", b"raft", b"keyspace")

STATUS_COLUMNS = (
    ("endpoint", "ENDPOINT"), ("id", "ID"), ("version", "VERSION"), ("role", "ROLE"), ("leader", "LEADER"),
    ("term", "TERM"), ("commit_index", "COMMIT"), ("applied_index", "APPLIED"), ("last_log_index", "LAST"),
    ("lag", "LAG"), ("log_entries", "LOG ENTRIES"), ("snapshot_size", "SNAPSHOT BYTES"), ("keys", "KEYS"),
    ("error", "ERROR"),
)
HEALTH_COLUMNS = (("endpoint", "ENDPOINT"), ("healthy", "HEALTHY"), ("took", "TOOK"), ("error", "ERROR"))

# INFO fields copied into a status row under the same name.
_STATUS_FIELDS = (
    "role", "membership", "term", "commit_index", "applied_index", "last_log_index", "log_first_index",
    "log_entries", "snapshot_index", "snapshot_size", "data_dir",
)


def parse_info(reply: bytes | str) -> dict[str, Any]:
    """INFO's ``field:value`` lines as one dict over all sections; decimal values become ints."""
    fields: dict[str, Any] = {}
    for line in text(reply).splitlines():
        name, sep, value = line.partition(":")
        if sep and not line.startswith("#"):
            fields[name] = int(value) if value.lstrip("-").isdigit() else value
    return fields


def fetch_info(address: Address, timeout: float, password: bytes | None,
               tls: ssl.SSLContext | None = None) -> dict[str, Any]:
    """One node's INFO fields. Raises ClientError when it cannot be talked to or refuses INFO."""
    with Client(*address, timeout=timeout, tls=tls) as client:
        refusal = client.auth(password) if password else None
        if refusal is not None:
            raise ClientError(f"{client.address} refused AUTH: {refusal.message}")
        reply = client.execute(b"INFO", *_SECTIONS)
    if isinstance(reply, RespError):
        raise ClientError(f"{client.address} refused INFO: {reply.message}")
    if not isinstance(reply, bytes):
        raise ClientError(f"{client.address} answered INFO with {kind(reply)}")
    return parse_info(reply)


def status_row(endpoint: str, info: dict[str, Any]) -> dict[str, Any]:
    """What ``endpoint status`` shows of one node, from its INFO; ``lag`` is filled in by :func:`add_lag`."""
    row: dict[str, Any] = {"endpoint": endpoint, "id": info.get("node_id"), "version": info.get("raftkv_version")}
    row["leader_id"] = info.get("leader_id") or None  # 0: no leader known
    row["leader_addr"] = info.get("leader_addr") or None
    row.update({name: info.get(name) for name in _STATUS_FIELDS})
    row["keys"] = _keys(info.get("db0"))
    row["lag"] = None
    row["error"] = None
    return row


def _keys(db0: Any) -> int:
    # The keyspace line, ``keys=3,expires=0,avg_ttl=0``, is missing when there are no keys.
    for part in text(db0 or "").split(","):
        name, _, value = part.partition("=")
        if name == "keys" and value.isdigit():
            return int(value)
    return 0


def add_lag(rows: list[dict[str, Any]], leader_commit: int | None) -> None:
    """How many entries each node still has to apply to reach what the leader has committed."""
    for row in rows:
        if leader_commit is not None and row["error"] is None:
            row["lag"] = max(0, leader_commit - row["applied_index"])


def leader_commit(rows: list[dict[str, Any]], ask: Callable[[Address], dict[str, Any]]) -> int | None:
    """The commit index of the newest term's leader: from its own row, else asked of the address the
    endpoints name (``ask``); None when there is no leader or it does not answer."""
    known = sorted((r for r in rows if r["error"] is None), key=lambda r: r["term"], reverse=True)
    for row in known:
        if row["role"] == "leader":
            return int(row["commit_index"])
    named = next((r["leader_addr"] for r in known if r["leader_addr"]), None)
    if named is None:
        return None
    try:
        return int(ask(parse_address(named))["commit_index"])
    except (ClientError, ValueError, KeyError):
        return None


def collect_status(addresses: Sequence[Address], timeout: float, password: bytes | None,
                   tls: ssl.SSLContext | None = None) -> list[dict[str, Any]]:
    """A status row per address, in order, with each node's lag behind the leader."""

    def ask(address: Address) -> dict[str, Any]:
        return fetch_info(address, timeout, password, tls)

    def one(address: Address) -> dict[str, Any]:
        endpoint = format_address(*address)
        try:
            return status_row(endpoint, ask(address))
        except ClientError as exc:
            return {"endpoint": endpoint, "error": str(exc)}

    rows = _each(addresses, one)
    add_lag(rows, leader_commit(rows, ask))
    return rows


def health_error(endpoint: str, info: dict[str, Any]) -> str | None:
    """Why a node that answered INFO is not healthy, or None: it must have a leader and be a member."""
    membership = info.get("membership")
    if membership == "removed":
        return f"{endpoint} was removed from the cluster"
    if membership == "joining":
        return f"{endpoint} is waiting to join a cluster"
    if not info.get("leader_id"):
        return f"{endpoint} has no leader"
    return None


def collect_health(addresses: Sequence[Address], timeout: float, password: bytes | None,
                   tls: ssl.SSLContext | None = None) -> list[dict[str, Any]]:
    """A health row per address, in order: healthy, how long INFO took (``took_ms``), and why not."""

    def one(address: Address) -> dict[str, Any]:
        endpoint = format_address(*address)
        started = time.monotonic()
        try:
            error = health_error(endpoint, fetch_info(address, timeout, password, tls))
        except ClientError as exc:
            error = str(exc)
        took_ms = round((time.monotonic() - started) * 1000, 3)
        return {"endpoint": endpoint, "healthy": error is None, "took_ms": took_ms, "error": error}

    return _each(addresses, one)


def _each(addresses: Sequence[Address], one: Callable[[Address], dict[str, Any]]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=len(addresses)) as pool:
        return list(pool.map(one, addresses))


def format_status_table(rows: list[dict[str, Any]]) -> str:
    """The status rows as a table; the leader is shown by address, or by id when its address is unknown."""
    shown = [{**row, "leader": row.get("leader_addr") or row.get("leader_id")} for row in rows]
    return format_table(shown, STATUS_COLUMNS)


def format_health_table(rows: list[dict[str, Any]]) -> str:
    """The health rows as a table, the time taken in milliseconds."""
    shown = [{**row, "took": f"{row['took_ms']:.1f}ms"} for row in rows]
    return format_table(shown, HEALTH_COLUMNS)
