"""A new data dir from a snapshot file, offline (``kvsctl snapshot restore``, as ``etcdutl snapshot restore``).

The data dir holds a NEW one-node cluster: a random node id and cluster id, this node its only voter (the
snapshot's members are dropped), the snapshot itself re-written with that membership at its own index
and term (so keys, values, expiry times and WATCH versions are the snapshot's), a hard state committing
it, and no log. ``raftkv-server --data-dir D`` on the address given here starts it and elects itself;
``kvsctl member add`` grows it. Nothing of the old cluster can join it by mistake: its id is new.

The directory is built under a temporary name beside the target and renamed into place at the end, so a
failure leaves nothing half written.
"""
from __future__ import annotations

import os
import random
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from raftkv.node.cluster import found
from raftkv.node.disk import DiskStorage
from raftkv.node.snapshots.snapshot_file import SNAPSHOT_DIR, load_snapshot, write_snapshot
from raftkv.raft.types import ConfState, HardState, SnapshotMeta
from raftkv.wire.members import Member, encode_members


class RestoreError(Exception):
    """The data dir cannot be written; the message is one line."""


@dataclass(frozen=True)
class Restored:
    member: Member
    cluster_id: str
    meta: SnapshotMeta
    keys: int


def restore_data_dir(snapshot: Path, data_dir: Path, client_addr: str, peer_addr: str) -> Restored:
    """Writes ``data_dir`` (absent or empty) from the verified ``snapshot``; SnapshotError if the file is
    damaged, StorageError or RestoreError if the directory cannot be written."""
    data_dir = Path(data_dir).absolute()
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise RestoreError(f"data dir {data_dir} is not empty: restore into a new directory")
    meta, _members, sm = load_snapshot(snapshot)
    member = Member(random.SystemRandom().randrange(1, 1 << 63), client_addr, peer_addr)
    cluster_id = secrets.token_hex(8)
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restore-", dir=data_dir.parent))
    except OSError as exc:
        raise RestoreError(f"cannot create data dir {data_dir}: {exc.strerror}") from None
    try:
        disk = DiskStorage(temp)
        try:
            found(disk, member.id, cluster_id, {member.id: member})
            disk.save(HardState(meta.term, 0, meta.index), [], sync=True)
        finally:
            disk.close()
        alone = SnapshotMeta(meta.index, meta.term, ConfState(voters=(member.id,)))
        write_snapshot(temp / SNAPSHOT_DIR, sm, alone, encode_members({member.id: member}))
        if data_dir.exists():
            data_dir.rmdir()  # empty, checked above
        os.replace(temp, data_dir)
    except OSError as exc:
        raise RestoreError(f"cannot write data dir {data_dir}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)  # gone already once renamed
    return Restored(member, cluster_id, meta, len(sm.data))
