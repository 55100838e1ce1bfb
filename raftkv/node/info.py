"""INFO: the node's state in Redis's ``# Section`` / ``field:value`` format, built in the Raft process.

Builds text from a frozen :class:`NodeReport` the loop fills in when asked, and reads the state machine
only for the keyspace line and DEBUG DIGEST; it changes nothing.
"""
from __future__ import annotations

import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from raftkv import REDIS_VERSION, __version__
from raftkv.errors import RespError
from raftkv.kv.table import unknown_subcommand
from raftkv.node.metrics.latency import Latency
from raftkv.raft.types import HardState, Role, Status
from raftkv.wire.resp import Verbatim

if TYPE_CHECKING:  # workers import REDIS_VERSION from here and must not load the state machine
    from raftkv.config import NodeConfig
    from raftkv.kv.state_machine import StateMachine

# In Redis's order, ours (raft) among them; commandstats and latencystats only when asked for or with "all".
ALL_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "raft", "commandstats", "errorstats",
                "latencystats", "cluster", "keyspace")
DEFAULT_SECTIONS = tuple(s for s in ALL_SECTIONS if s not in ("commandstats", "latencystats"))

# Sections kept by others than the report (INFO commandstats: raftkv.command_stats), by name.
MoreSections = Mapping[str, Callable[[], list[tuple[str, object]]]]


@dataclass
class Stats:
    connections_received: int = 0
    commands_processed: int = 0
    log_writes: int = 0
    log_syncs: int = 0
    proposals: int = 0  # writes of our clients handed to the core
    leader_changes: int = 0  # times a new leader became known
    writes_refused: int = 0  # writes refused because the disk is nearly full
    sync_latency: Latency = field(default_factory=Latency)  # the synced LevelDB write of a Ready
    commit_latency: Latency = field(default_factory=Latency)  # our own writes, started to applied

    def copy(self) -> Stats:
        """A copy the loop will not change, for a report read by another thread."""
        return replace(self, sync_latency=self.sync_latency.copy(), commit_latency=self.commit_latency.copy())


def counting_refusals(refusal: Callable[[], RespError | None], stats: Stats) -> Callable[[], RespError | None]:
    """``refusal`` (asked before each write starts) that also counts the writes it refuses."""
    def counted() -> RespError | None:
        reason = refusal()
        if reason is not None:
            stats.writes_refused += 1
        return reason
    return counted


@dataclass(frozen=True)
class NodeReport:
    """What INFO shows beside the state machine, as of one moment."""

    config: NodeConfig
    started_at: float  # wall-clock time the Raft process started
    startup_memory: int  # the Raft process's resident bytes before it loaded any data
    connected_clients: int
    blocked_clients: int
    status: Status
    hard_state: HardState
    role: Role
    leader_id: int
    leader_addr: str
    members: int
    voters: tuple[int, ...]
    membership: str  # this node: voter, learner, removed or joining
    applied_index: int
    log_first_index: int
    log_last_index: int
    snapshot_index: int
    snapshot_size: int
    snapshots_taken: int
    snapshot_last_duration_s: float
    snapshot_in_progress: bool
    stats: Stats
    disk_free_bytes: int
    disk_full: bool
    # Per command name, what INFO commandstats shows: (calls, µs, rejected, failed).
    commands: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    cluster_enabled: bool = False  # a slot map is installed (raftkv.sharding)

    @property
    def log_entries(self) -> int:
        return self.log_last_index - self.log_first_index + 1 if self.log_last_index else 0


def node_command(argv: list[bytes], proto: int, sm: StateMachine, report: Callable[[], NodeReport],
                 more: MoreSections) -> object:
    """Commands answered from the Raft process's own state (flag NODE in the command table); ``report``
    is called only for INFO."""
    name = argv[0].lower()
    if name == b"info":
        return info(report(), sm, [a.decode("utf-8", "replace").lower() for a in argv[1:]], proto, more)
    if name == b"debug" and argv[1].lower() == b"digest" and len(argv) == 2:
        return sm.digest().encode()
    return unknown_subcommand(argv)


def info(r: NodeReport, sm: StateMachine, wanted: list[str], proto: int, more: MoreSections | None = None) -> object:
    more = more or {}
    if "all" in wanted or "everything" in wanted:
        sections = list(ALL_SECTIONS)
    elif not wanted or "default" in wanted:
        sections = list(DEFAULT_SECTIONS)
    else:
        sections = [s for s in ALL_SECTIONS if s in wanted]
    text = "\r\n".join(
        "\r\n".join([f"# {name.capitalize()}", *(
            f"{k}:{v}" for k, v in (_SECTIONS[name](r, sm) if name in _SECTIONS else more[name]()))]) + "\r\n"
        for name in sections if name in _SECTIONS or name in more
    )
    data = text.encode()
    return Verbatim("txt", data) if proto == 3 else data


def _server(d: NodeReport, _sm: StateMachine) -> list[tuple[str, object]]:
    uptime = int(time.time() - d.started_at)
    return [
        ("redis_version", REDIS_VERSION),
        ("raftkv_version", __version__),
        ("redis_mode", "cluster" if d.cluster_enabled else "standalone"),
        ("os", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("arch_bits", 64 if sys.maxsize > 2**32 else 32),
        ("multiplexing_api", "epoll"),
        ("python_version", platform.python_version()),
        ("process_id", os.getpid()),
        ("tcp_port", d.config.port),
        ("uptime_in_seconds", uptime),
        ("uptime_in_days", uptime // 86400),
        ("cluster_enabled", int(d.cluster_enabled)),
        ("io_threads_active", 0),
        ("workers", d.config.workers),
    ]


def _clients(d: NodeReport, _sm: StateMachine) -> list[tuple[str, object]]:
    return [("connected_clients", d.connected_clients), ("maxclients", d.config.maxclients),
            ("blocked_clients", d.blocked_clients)]


def resident_bytes() -> int:
    """This process's resident set size."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _human(n: int) -> str:
    """Bytes as Redis writes them in INFO (1023B, 1.50K, 2.25M, ...)."""
    if n < 1024:
        return f"{n}B"
    value, unit = n / 1024, "K"
    for bigger in "MGT":
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.2f}{unit}"


def _memory(d: NodeReport, sm: StateMachine) -> list[tuple[str, object]]:
    """Our memory is the Raft process's resident set (it holds the key space; workers hold none). The
    dataset is what it grew by since it started empty, so ``used_memory_dataset`` / keys is the cost of a
    key here (benchmarks/memory.py gives it per element of each type)."""
    used = resident_bytes()
    peak = max(used, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    dataset = max(0, used - d.startup_memory)
    return [
        ("used_memory", used), ("used_memory_human", _human(used)),
        ("used_memory_rss", used), ("used_memory_rss_human", _human(used)),
        ("used_memory_peak", peak), ("used_memory_peak_human", _human(peak)),
        ("used_memory_startup", d.startup_memory), ("used_memory_dataset", dataset),
        ("used_memory_dataset_perc", f"{100 * dataset / used:.2f}%"),
        ("keys_bytes_avg", dataset // len(sm.data) if len(sm.data) else 0),
        ("maxmemory", 0), ("maxmemory_human", "0B"), ("maxmemory_policy", "noeviction"),
        ("mem_allocator", "pymalloc"),
    ]


def _persistence(d: NodeReport, _sm: StateMachine) -> list[tuple[str, object]]:
    return [
        ("loading", 0),
        ("aof_enabled", 1),
        ("aof_fsync", "always"),
        ("rdb_changes_since_last_save", 0),
        ("log_first_index", d.log_first_index),
        ("log_last_index", d.log_last_index),
        ("log_entries", d.log_entries),
        ("snapshot_index", d.snapshot_index),
        ("snapshot_size", d.snapshot_size),
        ("snapshot_last_duration_ms", int(d.snapshot_last_duration_s * 1000)),
        ("snapshot_in_progress", int(d.snapshot_in_progress)),
        ("snapshots_taken", d.snapshots_taken),
        ("log_writes", d.stats.log_writes),
        ("log_syncs", d.stats.log_syncs),
        ("log_sync_avg_us", d.stats.sync_latency.avg_us),
        ("data_dir", d.config.data_dir),
        ("disk_free_bytes", d.disk_free_bytes),
        ("writes_refused_disk_full", int(d.disk_full)),
    ]


def _stats(d: NodeReport, _sm: StateMachine) -> list[tuple[str, object]]:
    return [
        ("total_connections_received", d.stats.connections_received),
        ("total_commands_processed", d.stats.commands_processed),
        ("total_proposals", d.stats.proposals),
        ("total_writes_refused", d.stats.writes_refused),
        ("write_commit_avg_us", d.stats.commit_latency.avg_us),
    ]


def _raft(d: NodeReport, _sm: StateMachine) -> list[tuple[str, object]]:
    status = d.status
    fields: list[tuple[str, object]] = [
        ("node_id", d.status.id),
        ("role", d.role.name.lower()),
        ("term", d.hard_state.term),
        ("leader_id", d.leader_id),
        ("leader_addr", d.leader_addr),
        ("members", d.members),
        ("membership", d.membership),
        ("leader_changes", d.stats.leader_changes),
        ("commit_index", status.commit),
        ("applied_index", d.applied_index),
        ("last_log_index", status.last_index),
        ("snapshot_index", d.snapshot_index),
    ]
    for peer, progress in sorted(status.progress.items()):
        fields.append((f"member_{peer}", f"match={progress.match},next={progress.next}"))
    return fields


def _cluster(d: NodeReport, _sm: StateMachine) -> list[tuple[str, object]]:
    return [("cluster_enabled", int(d.cluster_enabled))]


def _keyspace(_d: NodeReport, sm: StateMachine) -> list[tuple[str, object]]:
    keys, expires, avg_ttl = sm.keyspace_info(int(time.time() * 1000))
    return [("db0", f"keys={keys},expires={expires},avg_ttl={avg_ttl}")] if keys else []


_SECTIONS: dict[str, Callable[[NodeReport, StateMachine], list[tuple[str, object]]]] = {
    "server": _server,
    "clients": _clients,
    "memory": _memory,
    "persistence": _persistence,
    "stats": _stats,
    "raft": _raft,
    "cluster": _cluster,
    "keyspace": _keyspace,
}
