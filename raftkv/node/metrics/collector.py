"""The Prometheus view of a :class:`~raftkv.node.info.NodeReport`: every value is read from the report INFO
is built from, so ``/metrics`` and ``INFO`` cannot disagree.

Reads the latest published report on each scrape (in the HTTP thread) and never touches the loop's state.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from raftkv.node.info import NodeReport
from raftkv.node.metrics.latency import BUCKETS_S, Latency
from raftkv.raft.types import Role

MEMBERSHIPS = ("voter", "learner", "removed", "joining")


class ReportCollector(Collector):
    def __init__(self, latest: Callable[[], NodeReport | None]) -> None:
        self._latest = latest

    def collect(self) -> Iterator[Metric]:
        r = self._latest()
        if r is None:  # the loop has not published yet: nothing is known
            return
        status, stats = r.status, r.stats
        yield _gauge("raftkv_raft_term", "Current Raft term.", r.hard_state.term)
        yield _state_set("raftkv_raft_role", "This node's Raft role (1 for the current one).", "role",
                         [role.name.lower() for role in Role], r.role.name.lower())
        yield _state_set("raftkv_raft_membership", "This node's place in the cluster (1 for the current one).",
                         "membership", MEMBERSHIPS, r.membership)
        # Node ids are 64-bit: labels keep them exact, where a float sample would round them.
        yield InfoMetricFamily("raftkv_raft_node", "This node's id and the leader it knows of (0 for none).",
                               value={"node_id": str(status.id), "leader_id": str(r.leader_id),
                                      "leader_addr": r.leader_addr})
        yield _gauge("raftkv_raft_has_leader", "1 while this node knows a leader.", int(bool(r.leader_id)))
        yield _gauge("raftkv_raft_members", "Members of the cluster.", r.members)
        yield _gauge("raftkv_raft_commit_index", "Highest log index known to be committed.", status.commit)
        yield _gauge("raftkv_raft_applied_index", "Highest log index applied to the key space.", r.applied_index)
        yield _gauge("raftkv_raft_last_log_index", "Index of the last entry in this node's log.", status.last_index)
        yield _counter("raftkv_raft_leader_changes", "Times a new leader became known.", stats.leader_changes)
        yield _counter("raftkv_raft_proposals", "Client writes this node handed to Raft.", stats.proposals)
        match = GaugeMetricFamily("raftkv_raft_peer_match_index",
                                  "Highest index known replicated on each peer (on the leader only).",
                                  labels=["peer"])
        lag = GaugeMetricFamily("raftkv_raft_peer_lag_entries",
                                "Entries of the leader's log a peer does not have yet (on the leader only).",
                                labels=["peer"])
        for peer, progress in sorted(status.progress.items()):
            if peer != status.id:
                match.add_metric([str(peer)], progress.match)
                lag.add_metric([str(peer)], max(0, status.last_index - progress.match))
        yield match
        yield lag
        yield _histogram("raftkv_log_sync_seconds", "Time of each synced write of the Raft log.",
                         stats.sync_latency)
        yield _histogram("raftkv_write_commit_seconds",
                         "Time from the start of a client write on this node to its apply.", stats.commit_latency)
        yield _counter("raftkv_log_writes", "Batches written to the Raft log.", stats.log_writes)
        yield _counter("raftkv_log_syncs", "Batches written to the Raft log with a sync.", stats.log_syncs)
        yield _gauge("raftkv_log_entries", "Entries in the Raft log (since the last compaction).", r.log_entries)
        yield _gauge("raftkv_log_first_index", "Index of the first entry kept in the Raft log.", r.log_first_index)
        yield _counter("raftkv_snapshots_taken", "Snapshots this process wrote.", r.snapshots_taken)
        yield _gauge("raftkv_snapshot_index", "Log index of the latest snapshot.", r.snapshot_index)
        yield _gauge("raftkv_snapshot_size_bytes", "Size of the latest snapshot file.", r.snapshot_size)
        yield _gauge("raftkv_snapshot_last_duration_seconds", "Time the last snapshot took to write.",
                     r.snapshot_last_duration_s)
        yield _gauge("raftkv_snapshot_in_progress", "1 while a snapshot is being written.",
                     int(r.snapshot_in_progress))
        yield _gauge("raftkv_connected_clients", "Client connections open now.", r.connected_clients)
        yield _gauge("raftkv_blocked_clients", "Clients waiting in a blocking command.", r.blocked_clients)
        yield _counter("raftkv_connections_received", "Client connections accepted.", stats.connections_received)
        yield _counter("raftkv_commands_processed", "Client commands received (all names).",
                       stats.commands_processed)
        yield from _by_command(r.commands)
        yield _counter("raftkv_writes_refused", "Writes refused because the disk is nearly full.",
                       stats.writes_refused)
        yield _gauge("raftkv_disk_full", "1 while writes are refused for lack of disk space.", int(r.disk_full))
        yield _gauge("raftkv_disk_free_bytes", "Free space of the data dir's file system.", r.disk_free_bytes)
        yield _gauge("raftkv_start_time_seconds", "Unix time the Raft process started.", r.started_at)


def _by_command(commands: dict[str, tuple[int, int, int, int]]) -> Iterator[Metric]:
    """INFO commandstats as counters labelled by Redis's command name (``config|set``)."""
    families = (
        CounterMetricFamily("raftkv_command_calls", "Calls of a command that ran (INFO commandstats calls).",
                            labels=["command"]),
        CounterMetricFamily("raftkv_command_seconds", "Time of a command's calls, start to reply (usec).",
                            labels=["command"]),
        CounterMetricFamily("raftkv_command_rejected_calls", "Calls refused before they ran.", labels=["command"]),
        CounterMetricFamily("raftkv_command_failed_calls", "Calls that answered an error.", labels=["command"]),
    )
    for name, (calls, usec, rejected, failed) in sorted(commands.items()):
        for family, value in zip(families, (calls, usec / 1e6, rejected, failed)):
            family.add_metric([name], value)
    yield from families


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _state_set(name: str, doc: str, label: str, states: tuple[str, ...] | list[str], current: str) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for state in states:
        family.add_metric([state], int(state == current))
    return family


def _histogram(name: str, doc: str, latency: Latency) -> HistogramMetricFamily:
    cumulative, buckets = 0, []
    for bound, count in zip((*(repr(b) for b in BUCKETS_S), "+Inf"), latency.counts):
        cumulative += count
        buckets.append((bound, cumulative))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=latency.sum_s)
