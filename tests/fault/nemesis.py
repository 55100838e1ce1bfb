"""Seeded fault schedules for a real raftkv cluster, and the nemesis that plays them.

A schedule is drawn from ``random.Random(seed)`` alone: which faults, on which nodes, for how long, with
which kind of network loss. Faults are played in turn, each healed after its hold time and followed by a
quiet gap, or now and then held while the next one starts. Every action is logged with its time, so a
failing history can be read against the faults that shaped it. Which node leads is only known while
playing, so faults aimed at the leader pick it then (the seeded node when no leader answers).

Faults (those on one node hit the leader half the time, a seeded node otherwise):

- ``kill-raft``: kill -9 one node's Raft process; its supervisor restarts the node's processes.
- ``kill-worker``: kill -9 one worker; its supervisor restarts it.
- ``crash-node``: kill -9 every process of a node, then start it again from its data directory.
- ``pause-node``: SIGSTOP every process of a node, then SIGCONT.
- ``partition-minority``: a minority of the nodes cut off from the majority.
- ``isolate-leader``: the leader cut off from everyone.
- ``bridge``: two halves that cannot reach each other, and one node that reaches both.
- ``mute-leader``: the leader's messages to the others are lost, theirs to it still arrive.

With spare slots (``schedule(..., spares=k)``), membership changes are mixed in, drawn from the same
generator: re-adding a removed member, replacing a member with a wiped node, a non-founder leading while
another node is added, and leadership transfers (see ``membership.py``). Faults then aim at the current
members only, in the seeded order, a replaced node taking its slot's place.
"""
from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis

from tests.fault.history import connect
from tests.fault.membership import MEMBERSHIP_KINDS, PLANNED_S, VARIANTS, MemberChanges
from tests.fault.proxy import LinkMode

if TYPE_CHECKING:
    from tests.fault.conftest import FaultCluster
    from tests.integration.conftest import Node

KINDS = ("kill-raft", "kill-worker", "crash-node", "pause-node", "partition-minority", "isolate-leader",
         "bridge", "mute-leader")
_AT_LEADER = ("isolate-leader", "mute-leader")
_AT_LEADER_HALF_THE_TIME = ("kill-raft", "kill-worker", "crash-node", "pause-node")
_SPLITS = ("partition-minority", "bridge")
_PARTITIONS = (*_SPLITS, "isolate-leader", "mute-leader")


@dataclass(frozen=True)
class Fault:
    """One planned fault. ``order`` is a seeded permutation of the node indexes (the slots, spares
    included): the victim is its first member (or the leader, for a fault ``at_leader``), a partition's
    minority its first ones, a bridge's middle node its middle one. A membership change (``kind`` in
    ``MEMBERSHIP_KINDS``) takes its nodes in that order too; ``hold_s`` is only its planned length."""

    kind: str
    order: tuple[int, ...]
    hold_s: float
    gap_s: float
    link_mode: LinkMode
    pick: int  # which worker, for kill-worker
    stacks: bool  # the next fault starts while this one is still in force
    at_leader: bool  # aimed at whichever node leads when it starts, rather than at order[0]
    variant: str = ""  # of a membership change: see membership.VARIANTS

    @property
    def changes_members(self) -> bool:
        return self.kind in MEMBERSHIP_KINDS


def schedule(seed: int, n_nodes: int, duration_s: float, spares: int = 0) -> list[Fault]:
    """Faults whose hold and gap times add up to at least ``duration_s``. About one in four is held
    while the next one starts (never more than two at once).

    With ``spares``, membership changes are mixed in: one first, then one after none, one or two
    faults (drawn); their kinds come in a seeded order, reshuffled once all four were drawn. A fault
    held while the next one starts may be in force during a membership change. A change's planned
    length is short, so the schedule outlasts the fault phase (which ends it) rather than ending early.
    Without spares, the schedule is the one the seed always gave."""
    rng = random.Random(seed)
    n_slots = n_nodes + spares
    faults: list[Fault] = []
    total_s = 0.0
    changes: list[str] = []
    faults_before_change = 0
    while total_s < duration_s:
        if spares and faults_before_change == 0:
            if not changes:
                changes = rng.sample(MEMBERSHIP_KINDS, len(MEMBERSHIP_KINDS))
            kind = changes.pop(0)
            fault = Fault(kind=kind, order=tuple(rng.sample(range(n_slots), n_slots)), hold_s=PLANNED_S[kind],
                          gap_s=round(rng.uniform(0.5, 2.0), 2), link_mode=LinkMode.FORWARD,
                          pick=rng.randrange(64), stacks=False, at_leader=False, variant=rng.choice(VARIANTS[kind]))
            faults_before_change = rng.randrange(3)
        else:
            stacks = not (faults and faults[-1].stacks) and rng.random() < 0.25
            kind = rng.choice(KINDS)
            at_leader = kind in _AT_LEADER or (kind in _AT_LEADER_HALF_THE_TIME and rng.random() < 0.5)
            fault = Fault(kind=kind, order=tuple(rng.sample(range(n_slots), n_slots)),
                          hold_s=round(rng.uniform(0.3, 4.0), 2), gap_s=round(rng.uniform(0.5, 2.0), 2),
                          link_mode=rng.choice((LinkMode.DROP, LinkMode.BLACKHOLE)), pick=rng.randrange(64),
                          stacks=stacks, at_leader=at_leader)
            faults_before_change -= 1
        faults.append(fault)
        total_s += fault.hold_s + fault.gap_s
    return faults


class FaultLog:
    """What the nemesis did and when, in milliseconds since ``start_ns`` (the history's start)."""

    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.entries: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    def log(self, text: str) -> None:
        with self._lock:
            self.entries.append((time.monotonic_ns(), text))

    def describe(self) -> str:
        with self._lock:
            return "\n".join(f"{(t - self.start_ns) / 1e6:10.1f} ms  {text}" for t, text in self.entries)


class Nemesis:
    """Plays faults on a cluster's nodes and heals them; ``members`` plays the membership changes.
    ``on_new_address`` is told the client address of each node added to a spare slot."""

    def __init__(self, cluster: FaultCluster, log: FaultLog,
                 on_new_address: Callable[[str], None] | None = None) -> None:
        self.cluster = cluster
        self.nodes = cluster.nodes  # the same list: membership changes replace and add nodes
        self.names = cluster.names
        self.network = cluster.network
        self.log = log
        self.played = 0
        self._paused: set[int] = set()
        self._down: set[int] = set()
        self._partitioned = False
        self._lock = threading.Lock()  # heal() may run while a fault is being applied
        self.members = MemberChanges(self, on_new_address)

    def held(self, i: int) -> bool:
        """Node i is stopped or paused by a fault in force."""
        with self._lock:
            return i in self._paused or i in self._down

    def _targets(self, order: Sequence[int]) -> list[int]:
        """The slots of ``order`` that hold a member, in that order."""
        return [i for i in order if i in self.members.expected and self.nodes[i] is not None]

    def play(self, faults: Sequence[Fault], stop: threading.Event) -> None:
        """Apply, hold and heal each fault in turn until the schedule ends or ``stop`` is set; a fault
        that stacks is healed together with the next one."""
        for i, fault in enumerate(faults):
            if stop.is_set():
                return
            try:
                if fault.changes_members:
                    self.members.play(fault, stop.wait)
                    self.played += 1
                else:
                    self._apply(fault)
                    self.played += 1
                    stop.wait(fault.hold_s)
            except BaseException:
                self.heal()
                raise
            if fault.stacks and i + 1 < len(faults) and not stop.is_set():
                self.log.log("the next fault starts before this one is healed")
                continue
            self.heal()
            stop.wait(fault.gap_s)

    def heal(self) -> None:
        """Undo whatever is in force: links forward, paused nodes resume, crashed nodes start again."""
        with self._lock:
            self.network.heal()
            if self._partitioned:
                self.log.log("every link forwards again")
                self._partitioned = False
            for i in sorted(self._paused):
                paused = self.nodes[i]
                assert paused is not None
                _signal_all(paused, signal.SIGCONT)
                self.log.log(f"SIGCONT {self.names[i]}")
            for i in sorted(self._down):
                node = self.nodes[i]
                assert node is not None
                node.start(wait=False)
                self.log.log(f"restarted {self.names[i]} (pid {node.supervisor_pid})")
            self._paused.clear()
            self._down.clear()

    def _apply(self, fault: Fault) -> None:
        with self._lock:
            targets = self._targets(fault.order)
            victim = targets[0]
            if fault.at_leader:
                victim = self._leader(default=victim)
            name = self.names[victim]
            node = self.nodes[victim]
            assert node is not None
            links = f"{fault.link_mode.value} links, " if fault.kind in _PARTITIONS else ""
            target = "" if fault.kind in _SPLITS else f" on {name}" + (" (the leader)" if fault.at_leader else "")
            self.log.log(f"fault {fault.kind}{target} ({links}hold {fault.hold_s}s)")
            if fault.kind == "kill-raft":
                self._kill_raft(victim)
            elif fault.kind == "kill-worker":
                workers = sorted(node.worker_pids())
                if workers:
                    pid = workers[fault.pick % len(workers)]
                    os.kill(pid, signal.SIGKILL)
                    self.log.log(f"kill -9 worker pid {pid} of {name}")
                else:
                    self.log.log(f"{name} has no worker to kill (restarting?)")
            elif fault.kind in ("crash-node", "pause-node") and victim in self._down:
                self.log.log(f"{name} is down already")
            elif fault.kind == "crash-node":
                node.kill_all()
                self._down.add(victim)
                self._paused.discard(victim)
                self.log.log(f"kill -9 every process of {name}")
            elif fault.kind == "pause-node":
                _signal_all(node, signal.SIGSTOP)
                self._paused.add(victim)
                self.log.log(f"SIGSTOP {name}")
            else:
                self._partition(fault, victim, targets)

    def _kill_raft(self, victim: int) -> None:
        name = self.names[victim]
        node = self.nodes[victim]
        assert node is not None
        try:
            pid = node.raft_pid()
        except AssertionError:  # between a restart's stop and start there is none
            self.log.log(f"{name} has no Raft process to kill (restarting?)")
            return
        os.kill(pid, signal.SIGKILL)
        self.log.log(f"kill -9 Raft process pid {pid} of {name}")

    def _partition(self, fault: Fault, victim: int, targets: list[int]) -> None:
        names = [self.names[i] for i in targets]
        mode = fault.link_mode
        self._partitioned = True
        if fault.kind == "partition-minority":
            minority = names[:(len(names) - 1) // 2]
            majority = names[len(minority):]
            self.network.partition([minority, majority], mode)
            self.log.log(f"partition {minority} | {majority}")
        elif fault.kind == "isolate-leader":
            alone = self.names[victim]
            rest = [self.names[i] for i in sorted(targets) if i != victim]
            self.network.partition([[alone], rest], mode)
            self.log.log(f"partition [{alone!r}] | {rest}")
        elif fault.kind == "bridge":
            middle = (len(names) - 1) // 2
            left, bridge, right = names[:middle], names[middle], names[middle + 1:]
            for a in left:
                for b in right:
                    self.network.cut(a, b, mode)
                    self.network.cut(b, a, mode)
            self.log.log(f"bridge {left} <-> {bridge!r} <-> {right}, {left} and {right} cut apart")
        elif fault.kind == "mute-leader":
            leader = self.names[victim]
            for other in names:
                if other != leader:
                    self.network.cut(leader, other, mode)
            self.log.log(f"messages from {leader!r} to the others are lost; theirs still arrive")
        else:
            raise ValueError(f"unknown fault {fault.kind!r}")

    def _leader(self, default: int) -> int:
        """The index of the node that says it leads with the highest term, or ``default``."""
        leaders = []
        for i in self._targets(range(len(self.nodes))):
            node = self.nodes[i]
            assert node is not None
            if i in self._paused or i in self._down:
                continue
            try:
                with connect(node.address, 0.5) as client:
                    info = client.info("raft")
            except redis.RedisError:
                continue
            if info.get("role") == "leader":
                leaders.append((info["term"], i))
        if not leaders:
            self.log.log(f"no leader answered; aiming at {self.names[default]}")
            return default
        return max(leaders)[1]


def _signal_all(node: Node, sig: signal.Signals) -> None:
    """Send ``sig`` to every process of ``node``; one that exited meanwhile (a killed process its
    supervisor reaps as it resumes) is skipped."""
    for pid in node.pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
