"""A seeded, deterministic simulation of a whole Raft cluster (TigerBeetle VOPR / FoundationDB style).

One seed drives everything: ``SimOptions.draw`` picks the cluster's parameters and fault rates, and the
master ``random.Random`` hands each component (network, faults, clients, every node) its own sub-seed.
Time is an integer tick. Each tick: deliver due messages, tick every live node, inject faults, issue
client requests, then work off each live node's Ready with the node's own routine,
``raftkv.raft.ready.handle_ready`` (a leader's early send, persist to its "disk", send the rest,
apply, serve reads, advance). A node's disk is a SimDisk (simdisk.py), which only ever holds what was
persisted from a Ready; a crash drops the RawNode and so loses everything else. Crashes are drawn at
random ticks and at each point of a Ready (after the early send, after the write, after applying), and
a crash may be a power loss, which also loses the writes the node's policy leaves unsynced (a
commit-index-only hard state).

Invariants are checked as the run goes (Raft figure 3 and thesis §6.4):
  Election Safety       at most one leader per term, ever
  Log Matching          an (index, term) always follows the same (index - 1, term) with the same payload
  Leader Completeness   a new leader of term T holds every entry committed in a term before T
  State Machine Safety  every node applies the same entry at each index (a hash chain over applied entries)
  Read safety           a ReadState's index is >= every commit index observed before the read was asked
  Configuration durability  a node restarts (even after a power loss) with a commit index, or snapshot,
                        that covers every membership change it had applied: it never acts on a
                        configuration older than one it already acted on
Then a liveness phase heals everything (links deliver in order, nobody crashes) and restarts every
node: one leader must emerge and every member's log, commit and applied index must converge, including
a final client entry, within a tick budget (time for elections plus one tick per entry still to catch
up).
"""
from __future__ import annotations

import hashlib
import random
from collections import Counter, deque
from dataclasses import dataclass, field, replace

from raftkv.raft.core import Raft
from raftkv.raft.rawnode import RawNode, decode_conf_change
from raftkv.raft.ready import CommitNotice, DeferredSync, handle_ready
from raftkv.raft.settings import RaftConfig
from raftkv.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Message,
    MessageType,
    ReadState,
    Ready,
    Role,
    Snapshot,
)
from tests.sim.simdisk import SimDisk
from tests.sim.simnet import LinkFaults, SimNetwork

GENESIS_CHAIN = bytes(16)


class SimulationFailure(AssertionError):
    pass


@dataclass(frozen=True)
class SimOptions:
    seed: int
    node_count: int
    safety_ticks: int
    liveness_budget_ticks: int  # plus one tick per entry of backlog when the liveness phase starts
    faults: LinkFaults
    crash_per_tick: float
    # Chances, per Ready, of a crash at each point of handle_ready: after a leader's early send but
    # before its write (only when there was an early send), after the write but before the other
    # messages leave, after applying but before advance.
    crash_after_early_send: float
    crash_after_persist: float
    crash_after_apply: float
    power_loss: float  # chance that a crash is a power loss (unsynced writes are lost), not a kill -9
    restart_after_ticks: tuple[int, int]
    stall_per_tick: float  # chance that a node's disk stalls: it keeps stepping but runs no Ready
    stall_ticks: tuple[int, int]
    partition_per_tick: float
    partition_ticks: tuple[int, int]
    propose_per_tick: float
    read_per_tick: float
    campaign_per_tick: float
    transfer_per_tick: float
    conf_change_per_tick: float  # 0 on seeds without membership changes
    compact_every_entries: int  # 0 on seeds without snapshots
    pre_vote: bool
    check_quorum: bool
    election_ticks: int
    heartbeat_ticks: int
    max_append_bytes: int
    max_inflight_msgs: int
    # How long a leader leaves entries it wrote unsynced before syncing them itself, if its followers
    # have not committed them by then (the node waits a few milliseconds).
    own_sync_delay_ticks: int
    # How long a leader waits for an APPEND with entries to carry a new commit index before telling the
    # followers on its own; None: it tells them at once (RaftConfig.defer_commit_notices off).
    commit_notice_delay_ticks: int | None

    @classmethod
    def draw(cls, seed: int, node_count: int, rng: random.Random) -> SimOptions:
        """A swarm of configurations: each seed gets its own mix of fault rates and features. About a
        third of the seeds are "churn" runs (no pre-vote or check-quorum, short partitions, frequent
        crashes, tiny APPENDs): many competing leaders, which is what figure 8 of the paper needs."""
        churn = rng.random() < 0.35
        election_ticks = 5 if churn else rng.choice([5, 10])
        # Tiny APPENDs with a window of one can't keep up with the clients; pair them with a wider one.
        max_append_bytes = 40 if churn else rng.choice([40, 256, 1 << 20])
        max_inflight_msgs = rng.choice([4, 256] if max_append_bytes < 256 else [1, 4, 256])
        return cls(
            seed=seed,
            node_count=node_count,
            safety_ticks=rng.randint(300, 700),
            liveness_budget_ticks=60 * election_ticks,
            faults=LinkFaults(
                loss=rng.choice([0.0, 0.01, 0.05, 0.2]),
                duplicate=rng.choice([0.0, 0.02, 0.1]),
                min_delay_ticks=1,
                max_delay_ticks=rng.choice([1, 2, 3] if churn else [1, 2, 3, 6]),
            ),
            crash_per_tick=0.03 if churn else rng.choice([0.0, 0.01, 0.03]),
            crash_after_early_send=rng.choice([0.0, 0.01, 0.03]),
            crash_after_persist=rng.choice([0.0, 0.005]),
            crash_after_apply=rng.choice([0.0, 0.005]),
            power_loss=rng.choice([0.0, 0.0, 0.5, 1.0]),
            restart_after_ticks=(1, 10 if churn else rng.choice([5, 30, 80])),
            stall_per_tick=rng.choice([0.0, 0.01, 0.05]),
            stall_ticks=(1, rng.choice([3, 15])),
            partition_per_tick=0.1 if churn else rng.choice([0.0, 0.02, 0.05]),
            partition_ticks=(2, 15) if churn else (3, rng.choice([10, 30, 100])),
            propose_per_tick=rng.choice([0.1, 0.3, 0.7]),
            read_per_tick=rng.choice([0.0, 0.1, 0.3]),
            campaign_per_tick=0.05 if churn else rng.choice([0.0, 0.01]),
            transfer_per_tick=rng.choice([0.0, 0.0, 0.01]),
            conf_change_per_tick=rng.choice([0.0, 0.0, 0.03]),
            compact_every_entries=rng.choice([0, 0, 8, 40]),
            pre_vote=not churn and rng.random() < 0.8,
            check_quorum=not churn and rng.random() < 0.8,
            election_ticks=election_ticks,
            heartbeat_ticks=1 if churn else rng.choice([1, 2]),
            max_append_bytes=max_append_bytes,
            max_inflight_msgs=max_inflight_msgs,
            own_sync_delay_ticks=rng.choice([0, 1, 3, 10]),
            commit_notice_delay_ticks=rng.choice([None, 0, 1, 3]),
        )


@dataclass
class SimNode:
    """One simulated server: its disk survives crashes, everything else is rebuilt on restart."""

    id: int
    disk: SimDisk
    raw: RawNode | None = None
    applied_index: int = 0
    chain: bytes = GENESIS_CHAIN  # hash of every entry applied so far: the state machine's digest
    conf: ConfState = field(default_factory=ConfState)
    conf_index: int = 0  # index of the last membership change applied, over restarts
    down_until: int | None = None
    stalled_until: int = 0  # no Ready is run before this tick (a slow disk)
    retired: bool = False  # removed from the cluster and shut down for good
    observed_commit: int = 0
    observed_leader_term: int = 0
    deferred_sync: DeferredSync = field(default_factory=lambda: DeferredSync(0))  # rebuilt at each start
    commit_notice: CommitNotice = field(default_factory=lambda: CommitNotice(0))  # rebuilt at each start

    @property
    def raft(self) -> Raft:
        assert self.raw is not None
        return self.raw._raft


def chain_step(chain: bytes, entry: Entry) -> bytes:
    digest = hashlib.blake2b(chain, digest_size=16)
    digest.update(b"%d:%d:%d:" % (entry.index, entry.term, entry.kind))
    digest.update(entry.data)
    return digest.digest()


def encode_state(index: int, chain: bytes) -> bytes:
    return index.to_bytes(8, "big") + chain


def decode_state(data: bytes) -> tuple[int, bytes]:
    return int.from_bytes(data[:8], "big"), data[8:]


class Simulator:
    def __init__(self, options: SimOptions, master: random.Random) -> None:
        self.options = options
        self.net = SimNetwork(random.Random(master.getrandbits(64)), options.faults)
        self.fault_rng = random.Random(master.getrandbits(64))
        self.client_rng = random.Random(master.getrandbits(64))
        self.node_seeds = random.Random(master.getrandbits(64))
        self.now = 0
        self.trace = hashlib.sha256()
        self.recent: deque[str] = deque(maxlen=80)
        self.founders = ConfState(voters=tuple(range(1, options.node_count + 1)))
        self.nodes: dict[int, SimNode] = {}
        # Oracles
        self.leaders_by_term: dict[int, int] = {}
        self.entry_links: dict[tuple[int, int], tuple[int, int, bytes]] = {}
        self.committed: dict[int, int] = {}  # index -> term of the committed entry
        self.commit_term_bound: dict[int, int] = {}  # index -> a term by which it was surely committed
        self.chain_at: dict[int, bytes] = {}
        self.max_commit = 0
        self.reads: dict[bytes, tuple[int, int]] = {}  # context -> (requesting node, minimum index)
        self.read_count = 0
        self.answered_reads = 0
        self.data_count = 0
        self.partition_until: int | None = None
        self.final: tuple[int, int] | None = None  # (leader term, index) of the liveness phase's entry
        self.to_retire: set[int] = set()
        self.crashes: Counter[str] = Counter()  # by where they hit
        self.power_losses = 0
        self.unsynced_entry_writes = 0  # a leader's entries written unsynced (its followers commit them)
        self.deferred_syncs = 0  # such entries a leader synced itself, not committed in time without it
        self.commit_notices = 0  # commit indexes a leader told on their own, no APPEND carried them in time
        self.conf_changes: Counter[str] = Counter()  # applied, by type, summed over nodes
        self.lost_writes = 0
        self.trace_hash = ""
        for node_id in self.founders.voters:
            self._add_node(node_id)

    # ------------------------------------------------------------------ running

    def run(self) -> str:
        """Run both phases; returns the trace digest. Raises SimulationFailure with the seed."""
        try:
            return self._run()
        except SimulationFailure:
            raise
        except Exception as error:  # any crash of the core is a finding: report it with its seed
            self._fail(f"{type(error).__name__}: {error}", cause=error)
            raise AssertionError("unreachable") from error

    def _run(self) -> str:
        options = self.options
        for self.now in range(options.safety_ticks):
            self._tick(faulty=True)
        self._begin_liveness()
        # Time to elect a leader, plus a tick per entry some member still has to receive and apply.
        budget = options.liveness_budget_ticks + self._backlog()
        for self.now in range(options.safety_ticks, options.safety_ticks + budget):
            self._tick(faulty=False)
            if self._converged():
                self._record(f"converged reads={self.answered_reads}/{self.read_count}")
                return self.trace.hexdigest()
        self._fail(f"no convergence within {budget} ticks of healing:\n{self._describe()}")
        raise AssertionError("unreachable")

    def _tick(self, faulty: bool) -> None:
        for m in self.net.due(self.now):
            node = self.nodes.get(m.dst)
            if node is None or node.raw is None:
                continue
            self.trace.update(
                b"m%d %d %d %d %d %d %d %d %d\n"
                % (m.type, m.src, m.dst, m.term, m.index, m.log_term, m.commit, len(m.entries), m.reject)
            )
            node.raw.step(m)
            self._observe(node)
        for node in self.nodes.values():
            if node.raw is not None:
                node.raw.tick()
                self._observe(node)
        if faulty:
            self._inject_faults()
        self._client_requests(faulty)
        for node in list(self.nodes.values()):
            if node.raw is not None and node.stalled_until <= self.now:
                self._run_ready(node, faulty)
                self._deferred_sync(node)
                self._notify_commit(node, faulty)
        for node_id in sorted(self.to_retire):
            self._retire(self.nodes[node_id])
        self.to_retire.clear()

    # ------------------------------------------------------------------ nodes

    def _add_node(self, node_id: int) -> SimNode:
        disk = SimDisk()
        # New nodes start from the founders' membership and learn the rest from the log or a snapshot.
        disk.set_conf_state(self.founders)
        node = SimNode(node_id, disk)
        self.nodes[node_id] = node
        self._start(node)
        return node

    def _start(self, node: SimNode) -> None:
        options = self.options
        disk = node.disk
        snapshot = disk.snapshot()
        hard = disk.initial_state()[0]
        self._require(
            max(hard.commit, snapshot.meta.index) >= node.conf_index,
            f"Configuration durability: node {node.id} restarts with commit {hard.commit} and snapshot "
            f"{snapshot.meta.index}, behind the membership change it applied at {node.conf_index}",
        )
        if hard.commit < snapshot.meta.index:
            # As the node does on restart (raftkv/node/loop.py): the commit index is written without a
            # sync, so a power loss may leave it behind the (synced) snapshot, which proves this much
            # was committed. The core requires applied <= commit.
            disk.set_hard_state(HardState(hard.term, hard.vote, snapshot.meta.index))
        # Opening LevelDB writes what it recovers from its log into a synced table: whatever a kill -9
        # left unsynced is durable once the node is back.
        disk.sync()
        node.deferred_sync = DeferredSync(options.own_sync_delay_ticks)
        node.commit_notice = CommitNotice(options.commit_notice_delay_ticks or 0)
        node.applied_index = snapshot.meta.index
        node.chain = decode_state(snapshot.data)[1] if snapshot.meta.index else GENESIS_CHAIN
        node.conf = snapshot.meta.conf_state
        config = RaftConfig(
            id=node.id,
            election_ticks=options.election_ticks,
            heartbeat_ticks=options.heartbeat_ticks,
            pre_vote=options.pre_vote,
            check_quorum=options.check_quorum,
            max_inflight_msgs=options.max_inflight_msgs,
            max_append_bytes=options.max_append_bytes,
            defer_commit_notices=options.commit_notice_delay_ticks is not None,
        )
        node.raw = RawNode(config, node.disk, random.Random(self.node_seeds.getrandbits(64)), node.applied_index)
        node.down_until = None
        node.stalled_until = 0
        node.observed_commit = 0
        node.observed_leader_term = 0
        self._record(f"start {node.id} term={node.raft.term} commit={node.raft.log.committed}")
        self._observe(node)

    def _crash(self, node: SimNode, why: str) -> None:
        options = self.options
        low, high = options.restart_after_ticks
        node.raw = None
        node.down_until = self.now + self.fault_rng.randint(low, high)
        self.crashes[why] += 1
        if options.power_loss and self.fault_rng.random() < options.power_loss:
            # The machine lost power: the disk keeps only what was synced.
            lost = node.disk.lose_unsynced()
            self.power_losses += 1
            self.lost_writes += lost
            self._record(f"crash {node.id} ({why}), power loss: {lost} unsynced writes lost")
        else:
            self._record(f"crash {node.id} ({why})")

    def _retire(self, node: SimNode) -> None:
        node.raw = None
        node.down_until = None
        node.retired = True
        self._record(f"retire {node.id}")

    def _live(self) -> list[SimNode]:
        return [node for node in self.nodes.values() if node.raw is not None]

    # ------------------------------------------------------------------ the driver: one Ready

    def _run_ready(self, node: SimNode, faulty: bool) -> None:
        """Work off the node's Ready with the node's own routine; a crash drawn at one of its points
        stops it there (handle_ready leaves that Ready un-advanced, as a killed process would)."""
        for _ in range(4):  # a single voter commits right after advance, so allow a few rounds
            raw = node.raw
            if raw is None:
                return
            try:
                if not handle_ready(raw, _SimDriver(self, node, faulty), max_rounds=1):
                    return
            except _Crash as crash:
                self._crash(node, crash.where)
                return
            self._observe(node)
            self._maybe_compact(node)

    def _deferred_sync(self, node: SimNode) -> None:
        """As the node's loop does: a leader syncs itself what its followers have not committed in time
        (:class:`~raftkv.raft.ready.DeferredSync`)."""
        raw = node.raw
        if raw is not None and node.deferred_sync.due(raw, self.now):
            node.disk.sync()
            raw.log_synced()
            self.deferred_syncs += 1
            self._record(f"sync {node.id}")

    def _notify_commit(self, node: SimNode, faulty: bool) -> None:
        """As the node's loop does: a leader tells its followers a commit index no APPEND carried in
        time (:class:`~raftkv.raft.ready.CommitNotice`)."""
        raw = node.raw
        if self.options.commit_notice_delay_ticks is None:
            return  # the core told the followers at once (flush), as it does with the option off
        if raw is not None and node.commit_notice.due(raw, self.now):
            raw.notify_commit()
            self.commit_notices += 1
            self._record(f"commit notice {node.id}")
            self._run_ready(node, faulty)

    def _restore(self, node: SimNode, snapshot: Snapshot) -> None:
        index, chain = decode_state(snapshot.data)
        self._require(index == snapshot.meta.index, f"snapshot data at {index}, meta at {snapshot.meta.index}")
        expected = self.chain_at.get(index)
        self._require(
            expected is None or expected == chain, f"node {node.id} restored a divergent snapshot at {index}"
        )
        node.applied_index = index
        node.chain = chain
        node.conf = snapshot.meta.conf_state
        self._record(f"restore {node.id} snapshot={index}")

    def _apply(self, node: SimNode, entry: Entry) -> None:
        self._require(
            entry.index == node.applied_index + 1,
            f"node {node.id} applied {entry.index} after {node.applied_index}",
        )
        committed_term = self.committed.get(entry.index)
        self._require(
            committed_term == entry.term,
            f"node {node.id} applied ({entry.index}, {entry.term}); committed term is {committed_term}",
        )
        node.chain = chain_step(node.chain, entry)
        node.applied_index = entry.index
        expected = self.chain_at.setdefault(entry.index, node.chain)
        self._require(expected == node.chain, f"State Machine Safety: node {node.id} diverged at {entry.index}")
        if entry.kind == EntryKind.CONF_CHANGE:
            change = decode_conf_change(entry.data)
            assert node.raw is not None
            node.conf = node.raw.apply_conf_change(change)
            node.conf_index = entry.index
            self.conf_changes[change.type.name] += 1
            self._record(f"apply {node.id} {change.type.name} {change.node_id} -> {node.conf}")
            if change.type == ConfChangeType.REMOVE and change.node_id in self.nodes:
                self.to_retire.add(change.node_id)

    def _maybe_compact(self, node: SimNode) -> None:
        every = self.options.compact_every_entries
        if not every or node.raw is None:
            return
        disk = node.disk
        if node.applied_index - disk.snapshot().meta.index < every:
            return
        keep = self.fault_rng.randint(0, every)
        compact_to = node.applied_index - keep
        if compact_to < disk.first_index():
            compact_to = 0
        disk.take_snapshot(node.applied_index, node.conf, encode_state(node.applied_index, node.chain), compact_to)
        self._record(f"snapshot {node.id} at {node.applied_index}, log from {disk.first_index()}")

    # ------------------------------------------------------------------ invariants

    def _require(self, condition: bool, what: str) -> None:
        if not condition:
            self._fail(what)

    def _observe(self, node: SimNode) -> None:
        """Election Safety and Leader Completeness, checked after every input to a node."""
        raft = node.raft
        if raft.role != Role.LEADER or node.observed_leader_term == raft.term:
            return
        node.observed_leader_term = raft.term
        holder = self.leaders_by_term.setdefault(raft.term, node.id)
        self._require(holder == node.id, f"Election Safety: {holder} and {node.id} both lead term {raft.term}")
        self._record(f"leader {node.id} term={raft.term} last={raft.log.last_index()}")
        self.trace.update(b"L%d %d\n" % (node.id, raft.term))
        log = raft.log
        first = log.first_index()
        last = log.last_index()
        for index, term in self.committed.items():
            if index < first or self.commit_term_bound[index] >= raft.term:
                continue
            self._require(
                index <= last and log.term(index) == term,
                f"Leader Completeness: leader {node.id} of term {raft.term} lacks committed ({index}, {term})",
            )

    def _observe_commit(self, node: SimNode) -> None:
        raft = node.raft
        log = raft.log
        committed = log.committed
        if committed <= node.observed_commit:
            return
        start = max(node.observed_commit, log.first_index() - 1) + 1
        for index in range(start, committed + 1):
            term = log.term(index)
            known = self.committed.setdefault(index, term)
            self._require(known == term, f"node {node.id} committed ({index}, {term}), others ({index}, {known})")
            bound = self.commit_term_bound.get(index)
            if bound is None or raft.term < bound:
                self.commit_term_bound[index] = raft.term
        node.observed_commit = committed
        if committed > self.max_commit:
            self.max_commit = committed
            self.trace.update(b"C%d\n" % committed)

    def _check_log_matching(self, node: SimNode, entries: list[Entry]) -> None:
        disk = node.disk
        first = disk.first_index()
        for entry in entries:
            if entry.index < first:
                continue
            link = (disk.term(entry.index - 1), int(entry.kind), entry.data)
            known = self.entry_links.setdefault((entry.index, entry.term), link)
            self._require(
                known == link,
                f"Log Matching: node {node.id} has ({entry.index}, {entry.term}) after term {link[0]}, "
                f"elsewhere after term {known[0]} (or with other data)",
            )

    def _check_read(self, node: SimNode, read_state: ReadState) -> None:
        request = self.reads.get(read_state.context)
        self._require(request is not None, f"node {node.id} got a ReadState for unknown {read_state.context!r}")
        assert request is not None
        requester, minimum = request
        self._require(requester == node.id, f"read {read_state.context!r} of {requester} answered on {node.id}")
        self._require(
            read_state.index >= minimum,
            f"stale read {read_state.context!r}: index {read_state.index} < {minimum} committed before it was asked",
        )
        self.answered_reads += 1
        self.trace.update(b"R%d %d\n" % (node.id, read_state.index))

    # ------------------------------------------------------------------ faults and clients

    def _inject_faults(self) -> None:
        options = self.options
        rng = self.fault_rng
        for node in self.nodes.values():
            if node.raw is None and not node.retired and node.down_until is not None and node.down_until <= self.now:
                self._start(node)
        live = self._live()
        down = sum(1 for node in self.nodes.values() if node.raw is None and not node.retired)
        if options.crash_per_tick and live and rng.random() < options.crash_per_tick:
            # Mostly keep a majority up, so that the safety phase also makes progress.
            if down < (len(live) + down - 1) // 2 or rng.random() < 0.2:
                self._crash(rng.choice(live), "random")
        if options.stall_per_tick and live and rng.random() < options.stall_per_tick:
            node = rng.choice(live)
            node.stalled_until = self.now + rng.randint(*options.stall_ticks)
            self._record(f"stall {node.id} until {node.stalled_until}")
        if self.partition_until is not None and self.now >= self.partition_until:
            self.net.heal()
            self.partition_until = None
            self._record("heal")
        if self.partition_until is None and options.partition_per_tick and rng.random() < options.partition_per_tick:
            self._partition(rng)

    def _partition(self, rng: random.Random) -> None:
        ids = sorted(self.nodes)
        kind = rng.randrange(3)
        if kind == 0:
            side = rng.sample(ids, rng.randint(1, len(ids) // 2))
            self.net.split(side, ids)
            what = f"split {sorted(side)}"
        elif kind == 1:
            node_id = rng.choice(ids)
            self.net.split([node_id], ids)
            what = f"isolate {node_id}"
        else:
            links = [(a, b) for a in ids for b in ids if a != b and rng.random() < 0.3]
            self.net.block(links)
            what = f"block {links}"
        low, high = self.options.partition_ticks
        self.partition_until = self.now + rng.randint(low, high)
        self._record(what)

    def _client_requests(self, faulty: bool) -> None:
        options = self.options
        rng = self.client_rng
        live = self._live()
        if not live:
            return
        if not faulty:
            self._propose_final()
            return
        if rng.random() < options.propose_per_tick:
            node = rng.choice(live)
            count = rng.randint(1, 5)
            datas = [b"d%d" % (self.data_count + i) for i in range(count)]
            self.data_count += count
            assert node.raw is not None
            node.raw.propose(datas)
            self._observe(node)
        if options.read_per_tick and rng.random() < options.read_per_tick:
            node = rng.choice(live)
            context = b"r%d" % self.read_count
            self.read_count += 1
            self.reads[context] = (node.id, self.max_commit)
            assert node.raw is not None
            node.raw.read_index(context)
        if options.campaign_per_tick and rng.random() < options.campaign_per_tick:
            node = rng.choice(live)
            assert node.raw is not None
            node.raw.campaign()
            self._observe(node)
        leader = self._leader()
        if leader is None:
            return
        if options.transfer_per_tick and rng.random() < options.transfer_per_tick:
            assert leader.raw is not None
            leader.raw.transfer_leadership(rng.choice(leader.raft.tracker.voters))
        if options.conf_change_per_tick and rng.random() < options.conf_change_per_tick:
            self._change_membership(leader, rng)

    def _change_membership(self, leader: SimNode, rng: random.Random) -> None:
        tracker = leader.raft.tracker
        base = self.options.node_count
        if tracker.learners:
            change = ConfChange(ConfChangeType.PROMOTE, rng.choice(tracker.learners))
        elif len(tracker.voters) > base:
            change = ConfChange(ConfChangeType.REMOVE, rng.choice(tracker.voters))
        else:
            spare = [n.id for n in self.nodes.values() if not n.retired and not tracker.is_member(n.id)]
            if spare:
                node_id = spare[0]
            elif len(self.nodes) < base + 4:
                node_id = max(self.nodes) + 1
                self._add_node(node_id)
            else:
                return
            change = ConfChange(ConfChangeType.ADD_LEARNER, node_id, b"sim")
        assert leader.raw is not None
        accepted = leader.raw.propose_conf_change(change)
        self._record(f"propose {change.type.name} {change.node_id} on {leader.id}: {accepted}")

    def _leader(self) -> SimNode | None:
        """The live leader of the highest term, if any."""
        best = None
        for node in self._live():
            raft = node.raft
            if raft.role == Role.LEADER and (best is None or raft.term > best.raft.term):
                best = node
        return best

    # ------------------------------------------------------------------ liveness

    def _begin_liveness(self) -> None:
        self.net.heal()
        self.partition_until = None
        # A healed network delivers in order on every link, as TCP would.
        self.net.faults = LinkFaults(min_delay_ticks=1, max_delay_ticks=1)
        for node in self.nodes.values():
            node.stalled_until = 0
            if node.raw is None and not node.retired:
                self._start(node)
        self._record("liveness phase")

    def _backlog(self) -> int:
        nodes = [node for node in self.nodes.values() if node.raw is not None]
        longest = max(node.raft.log.last_index() for node in nodes)
        return longest - min(node.applied_index for node in nodes)

    def _propose_final(self) -> None:
        leader = self._leader()
        if leader is None:
            return
        raft = leader.raft
        if self.final is not None and self.final[0] == raft.term:
            return
        assert leader.raw is not None
        if leader.raw.propose([b"final"]):
            self.final = (raft.term, raft.log.last_index())
            self._record(f"final proposed on {leader.id} at {self.final}")

    def _converged(self) -> bool:
        leader = self._leader()
        if leader is None or self.final is None:
            return False
        raft = leader.raft
        term, final_index = self.final
        if raft.term != term:
            return False
        last = raft.log.last_index()
        if raft.log.committed != last or last < final_index:
            return False
        tracker = raft.tracker
        for node_id in tracker.voters + tracker.learners:
            node = self.nodes.get(node_id)
            if node is None or node.raw is None:
                return False
            member = node.raft
            if member.log.last_index() != last or member.log.last_term() != raft.log.last_term():
                return False
            if member.log.committed != last or node.applied_index != last:
                return False
            if member.term != raft.term or member.leader != leader.id:
                return False
        return True

    # ------------------------------------------------------------------ reporting

    def _record(self, event: str) -> None:
        self.recent.append(f"[{self.now}] {event}")
        self.trace.update(event.encode())

    def _describe(self) -> str:
        lines = []
        for node in self.nodes.values():
            if node.raw is None:
                lines.append(f"  node {node.id}: down (retired={node.retired})")
                continue
            raft = node.raft
            lines.append(
                f"  node {node.id}: {raft.role.name} term={raft.term} leader={raft.leader} "
                f"last={raft.log.last_index()} commit={raft.log.committed} applied={node.applied_index} "
                f"voters={raft.tracker.voters} learners={raft.tracker.learners}"
            )
        return "\n".join(lines)

    def _fail(self, what: str, cause: BaseException | None = None) -> None:
        options = self.options
        message = (
            f"SEED={options.seed} nodes={options.node_count} tick={self.now}: {what}\n"
            f"rerun: .venv/bin/pytest tests/sim -q --seed {options.seed} -k n{options.node_count}\n"
            f"options: {options}\n"
            f"state:\n{self._describe()}\n"
            "recent events:\n" + "\n".join(self.recent)
        )
        raise SimulationFailure(message) from cause


class _Crash(Exception):
    """Raised by a node's driver at a drawn crash point; the simulator catches it and takes the node
    down (never seen outside this module)."""

    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where


class _SimDriver:
    """The ReadyHandler of one node for one round of handle_ready: send goes to the SimNetwork, persist
    to the node's SimDisk, apply to its state machine and the oracles. Each may raise :class:`_Crash`."""

    def __init__(self, sim: Simulator, node: SimNode, faulty: bool) -> None:
        self.sim = sim
        self.node = node
        self.faulty = faulty
        self.persisted = False
        self.sent_early = False

    def _crash_at(self, rate: float, where: str) -> None:
        if self.faulty and rate and self.sim.fault_rng.random() < rate:
            raise _Crash(where)

    def send(self, messages: list[Message]) -> None:
        sim = self.sim
        raw = self.node.raw
        assert raw is not None
        if not self.persisted:
            self.sent_early = True
        for m in messages:
            sent = sim.net.send(m, sim.now)
            if m.type == MessageType.SNAPSHOT:
                raw.report_snapshot(m.dst, sent)

    def persist(self, rd: Ready) -> bool:
        options = self.sim.options
        if self.sent_early:
            # The leader's appends are out, its own write never happens.
            self._crash_at(options.crash_after_early_send, "after the early send, before persisting")
        synced = self.node.disk.save(rd)
        if rd.entries and not synced:
            self.sim.unsynced_entry_writes += 1
        self.persisted = True
        self.sim._check_log_matching(self.node, rd.entries)
        self._crash_at(options.crash_after_persist, "after persisting, before sending")
        return synced

    def apply(self, rd: Ready) -> None:
        sim = self.sim
        node = self.node
        sim._observe_commit(node)
        if rd.snapshot is not None:
            sim._restore(node, rd.snapshot)
        for entry in rd.committed_entries:
            sim._apply(node, entry)
        for read_state in rd.read_states:
            sim._check_read(node, read_state)
        self._crash_at(sim.options.crash_after_apply, "after applying, before advance")


def run_seed(seed: int, node_count: int) -> str:
    """Run one seed; returns the trace digest (equal for equal seeds)."""
    return simulate(seed, node_count).trace_hash


def simulate(seed: int, node_count: int, **overrides: object) -> Simulator:
    """Run one seed; returns the finished simulator. The seed's master generator draws the options,
    then hands every component its own sub-seed. ``overrides`` replace drawn options (focused runs;
    the failure report prints the options they produced)."""
    master = random.Random(seed * 1_000 + node_count)
    options = SimOptions.draw(seed, node_count, master)
    if overrides:
        options = replace(options, **overrides)  # type: ignore[arg-type]
    sim = Simulator(options, master)
    sim.trace_hash = sim.run()
    return sim
