"""``--force-new-cluster``: restart the one survivor of a cluster that lost its majority for good, alone.

As etcd's flag does, this rewrites the data dir's log before the node starts, never its state: every
entry the node holds stays, and conf-change entries are appended that remove every other member (and
promote this node first if it was a learner), all committed by a new commit index. The node then
replays its log as on any start, applies those changes through the core like any others, finds itself
the only voter and elects itself.

- Every entry it holds is committed, also those beyond its commit index: one of them may be a write a
  client was told succeeded (the commit index on disk is written without a sync and lags), and a new
  leader commits its predecessors' entries anyway (Raft §5.4.2). Unlike etcd, nothing is discarded.
- The cluster keeps its id. The log goes on from where it was, so a node added later replays the same
  history from the same founding membership, and a removed member that comes back is told it was
  removed (RAFT REMOVED names the cluster). The other members must never start again with their data:
  two of them could still make a majority of the old configuration. Wipe them; add fresh nodes.
- The rewrite is done once per run of raftkv-server: the supervisor restarting the Raft process must not
  remove members added since. Starting the server again with the flag does it again; drop the flag
  once the node runs.
"""
from __future__ import annotations

import logging
from pathlib import Path

from raftkv.node.disk import DiskStorage, StorageError
from raftkv.node.snapshots.snapshot_file import latest_snapshot
from raftkv.raft.progress import ProgressTracker
from raftkv.raft.rawnode import decode_conf_change, encode_conf_change
from raftkv.raft.types import ConfChange, ConfChangeType, ConfState, Entry, EntryKind, HardState
from raftkv.wire.proposal import encode_context

log = logging.getLogger("raftkv.node.force")

_RUN = "forced_by_run"


def force_new_cluster(disk: DiskStorage, snapshots: Path, run: str) -> None:
    """Append the changes that leave this node the only member, once per ``run``; StorageError (one
    line) for a data dir that holds no cluster, or whose node is no longer a member of it."""
    if not disk.get_meta("cluster_id"):
        raise StorageError(f"--force-new-cluster: data dir {disk.path} holds no cluster to restart")
    if disk.get_meta("removed") == b"1":
        raise StorageError("--force-new-cluster: this node was removed from its cluster; its data may be stale")
    if disk.get_meta(_RUN) == run.encode():
        return
    node_id = int(disk.get_meta("node_id") or b"0")
    latest = latest_snapshot(snapshots)
    base = latest.meta.index if latest is not None else 0
    tracker = ProgressTracker(node_id, 1)
    tracker.set_conf_state(latest.meta.conf_state if latest is not None else disk.conf_state() or ConfState(), 1)
    entries = [e for e in disk.entries() if e.index > base]
    for entry in entries:
        if entry.kind == EntryKind.CONF_CHANGE:
            tracker.apply(decode_conf_change(entry.data), 1)
    if not tracker.is_member(node_id):
        raise StorageError("--force-new-cluster: this node is not a member of its cluster's last configuration")
    context = encode_context(node_id, 0, None)  # request id 0: nobody waits for these changes
    others = [m for m in (*tracker.voters, *tracker.learners) if m != node_id]
    changes = [ConfChange(ConfChangeType.PROMOTE, node_id, context)] if node_id in tracker.learners else []
    changes += [ConfChange(ConfChangeType.REMOVE, other, context) for other in others]
    hard = disk.hard_state()
    last = entries[-1] if entries else None
    term = max(hard.term, last.term if last else latest.meta.term if latest else 0, 1)
    first = last.index + 1 if last else base + 1
    appended = [Entry(index, term, EntryKind.CONF_CHANGE, encode_conf_change(change))
                for index, change in enumerate(changes, first)]
    commit = first + len(appended) - 1
    disk.save(HardState(term, hard.vote if term == hard.term else 0, commit), appended, sync=True)
    disk.put_meta(_RUN, run.encode())
    log.warning("--force-new-cluster: this node is now its cluster's only voter; the log (through %d) is "
                "kept and committed, %d members removed", commit, len(others))
