"""``kvsctl snapshot save|restore``: the work behind the commands, without click.

Saving opens a temporary file beside the target (:func:`atomic_file`), asks the leader for a snapshot
(``RAFT SNAPSHOT SAVE``; its commit index covers every acknowledged write), reads the file it offers in
chunks (``RAFT SNAPSHOT CHUNK``), verifies its checksum and header with the node's own snapshot code,
then syncs it and renames it into place: the target is either the whole verified snapshot or untouched.
Restoring is offline: into a new data dir (:mod:`raftkv.node.restore`) or into RESP commands for Redis
(:mod:`kvsctl.resp_dump`).

Failures raise :class:`SnapshotFailure` with one line.
"""
from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from kvsctl.endpoints import parse_info
from kvsctl.output import kind, text
from raftkv.client import Client, RespError, parse_address
from raftkv.node.snapshots.snapshot_file import SnapshotError, SnapshotFile, fsync_dir, verify


class SnapshotFailure(Exception):
    """A save or restore that did not complete; ``str()`` is one line."""


@dataclass(frozen=True)
class Offer:
    """What RAFT SNAPSHOT SAVE answered: the download's id and the file's size, index and term."""

    id: bytes
    size: int
    index: int
    term: int


def leader_of(client: Client, connect: Callable[[str], Client]) -> Client:
    """The leader's client: ``client`` itself if it leads, else one from ``connect(leader address)``
    (``client`` is closed then)."""
    reply = client.execute(b"INFO", b"raft")
    if isinstance(reply, RespError):
        raise SnapshotFailure(f"{client.address} refused INFO: {reply.message}")
    info = parse_info(reply if isinstance(reply, bytes) else b"")
    if info.get("role") == "leader":
        return client
    leader = info.get("leader_addr")
    client.close()
    if not leader:
        raise SnapshotFailure(f"{client.address} knows no leader now; try again")
    return connect(str(leader))


def ask_save(client: Client, wait_s: float) -> Offer:
    """RAFT SNAPSHOT SAVE, waiting up to ``wait_s`` for the node to write a fresh snapshot."""
    timeout, client.timeout = client.timeout, max(client.timeout, wait_s)
    try:
        reply = client.execute(b"RAFT", b"SNAPSHOT", b"SAVE")
    finally:
        client.timeout = timeout
    if isinstance(reply, RespError):
        raise SnapshotFailure(f"{client.address}: {reply.message}")
    fields = _fields(reply)
    try:
        return Offer(fields["id"], int(fields["size"]), int(fields["index"]), int(fields["term"]))
    except (KeyError, TypeError, ValueError):
        raise SnapshotFailure(f"unexpected reply to RAFT SNAPSHOT SAVE from {client.address}") from None


def download(client: Client, offer: Offer, out: BinaryIO, temp: Path, advance: Callable[[int], None]) -> SnapshotFile:
    """Reads the offered file into ``out`` (the file ``temp``, of :func:`atomic_file`) and verifies it,
    calling ``advance(bytes)`` after each chunk."""
    offset = 0
    while offset < offer.size:
        chunk = client.execute(b"RAFT", b"SNAPSHOT", b"CHUNK", offer.id, b"%d" % offset)
        if isinstance(chunk, RespError):
            raise SnapshotFailure(f"{client.address}: {chunk.message}")
        if not isinstance(chunk, bytes) or not chunk:
            raise SnapshotFailure(f"{client.address} sent {kind(chunk)} for a snapshot chunk")
        out.write(chunk)
        offset += len(chunk)
        advance(len(chunk))
    out.flush()
    try:
        saved = verify(temp)
    except SnapshotError as exc:
        raise SnapshotFailure(str(exc).replace(str(temp), f"the file read from {client.address}")) from None
    if (saved.meta.index, saved.meta.term, saved.size) != (offer.index, offer.term, offer.size):
        raise SnapshotFailure(f"the snapshot read from {client.address} is not the one it offered")
    return saved


@contextmanager
def atomic_file(path: Path) -> Iterator[tuple[BinaryIO, Path]]:
    """A temporary file beside ``path`` and its name: synced and renamed to ``path`` when the block
    ends, deleted if it raises."""
    path = Path(path).absolute()
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    except OSError as exc:
        raise SnapshotFailure(f"cannot write {path}: {exc.strerror}") from None
    temp = Path(temp_name)
    try:
        with open(fd, "wb") as out:
            yield out, temp
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        raise SnapshotFailure(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        temp.unlink(missing_ok=True)


def connect_to(address: str, timeout: float, password: bytes | None, tls: ssl.SSLContext | None = None) -> Client:
    """An authenticated client of ``address``; SnapshotFailure if it is malformed or refuses AUTH."""
    try:
        client = Client(*parse_address(address), timeout=timeout, tls=tls)
    except ValueError as exc:
        raise SnapshotFailure(str(exc)) from None
    refusal = client.auth(password) if password else None
    if refusal is not None:
        client.close()
        raise SnapshotFailure(f"{client.address} refused AUTH: {refusal.message}")
    return client


def _fields(reply: Any) -> dict[str, Any]:
    """A map reply, or RESP2's flat key/value list of one."""
    if isinstance(reply, list) and len(reply) % 2 == 0:
        reply = dict(zip(reply[::2], reply[1::2]))
    if not isinstance(reply, dict):
        return {}
    return {text(k): v for k, v in reply.items()}
