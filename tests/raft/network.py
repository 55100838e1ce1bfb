"""A tiny in-test cluster for the Raft core: RawNodes over MemoryStorage, a lossless network that delivers
everything until quiet, and switches to cut links. It works off each Ready with the node's own routine
(:func:`raftkv.raft.ready.handle_ready`)."""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable

from raftkv.raft.log_storage import MemoryStorage
from raftkv.raft.rawnode import RawNode, decode_conf_change
from raftkv.raft.ready import handle_ready
from raftkv.raft.settings import RaftConfig
from raftkv.raft.types import ConfState, Entry, EntryKind, Message, MessageType, ReadState, Ready, Role, Status


class Network:
    def __init__(
        self,
        voters: Iterable[int],
        learners: Iterable[int] = (),
        seed: int = 0,
        **config: object,
    ) -> None:
        self.voters = tuple(voters)
        self.learners = tuple(learners)
        self.config = config
        self.rng = random.Random(seed)
        self.nodes: dict[int, RawNode] = {}
        self.storages: dict[int, MemoryStorage] = {}
        self.applied: dict[int, list[Entry]] = {}
        self.read_states: dict[int, list[ReadState]] = {}
        self.dropped: dict[int, list[bytes]] = {}  # data of the proposals handed back to each proposer
        self.cut: set[tuple[int, int]] = set()  # (src, dst) links that drop everything
        self.queue: list[Message] = []
        self.delivered: Counter[tuple[MessageType, int, int]] = Counter()
        self.filter: Callable[[Message], bool] | None = None  # return False to drop a message
        for node_id in self.voters + self.learners:
            self.add_node(node_id, ConfState(voters=self.voters, learners=self.learners))

    def add_node(self, node_id: int, conf_state: ConfState) -> RawNode:
        storage = MemoryStorage()
        storage.set_conf_state(conf_state)
        self.storages[node_id] = storage
        self.applied[node_id] = []
        self.read_states[node_id] = []
        self.dropped[node_id] = []
        return self.start(node_id)

    def start(self, node_id: int) -> RawNode:
        """(Re)start ``node_id`` from its storage; its applied state restarts from scratch."""
        self.applied[node_id] = []
        node = RawNode(
            RaftConfig(id=node_id, **self.config),  # type: ignore[arg-type]
            self.storages[node_id],
            random.Random(self.rng.random()),
        )
        self.nodes[node_id] = node
        return node

    # --- driver

    def process(self, node_id: int) -> bool:
        """Run one node's Ready cycle(s); returns whether there was anything to do."""
        return handle_ready(self.nodes[node_id], _NodeIO(self, node_id))

    def deliver(self, m: Message) -> None:
        if (m.src, m.dst) in self.cut or m.dst not in self.nodes:
            return
        if self.filter is not None and not self.filter(m):
            return
        self.delivered[(m.type, m.src, m.dst)] += 1
        self.nodes[m.dst].step(m)

    def stabilize(self, max_rounds: int = 10_000) -> None:
        """Process and deliver until no node has anything left to do."""
        for _ in range(max_rounds):
            worked = False
            for node_id in list(self.nodes):
                worked |= self.process(node_id)
            if not self.queue and not worked:
                return
            queue, self.queue = self.queue, []
            for m in queue:
                self.deliver(m)
        raise AssertionError("network did not stabilize")

    def tick(self, node_id: int, ticks: int = 1) -> None:
        for _ in range(ticks):
            self.nodes[node_id].tick()

    def tick_all(self, ticks: int = 1, stabilize: bool = True) -> None:
        for _ in range(ticks):
            for node in self.nodes.values():
                node.tick()
            if stabilize:
                self.stabilize()

    def isolate(self, node_id: int) -> None:
        for other in self.nodes:
            if other != node_id:
                self.cut.add((node_id, other))
                self.cut.add((other, node_id))

    def heal(self) -> None:
        self.cut.clear()
        self.filter = None

    # --- queries

    def elect(self, node_id: int) -> None:
        self.nodes[node_id].campaign()
        self.stabilize()
        assert self.role(node_id) == Role.LEADER, self.status(node_id)

    def status(self, node_id: int) -> Status:
        return self.nodes[node_id].status()

    def role(self, node_id: int) -> Role:
        return self.status(node_id).role

    def term(self, node_id: int) -> int:
        return self.status(node_id).term

    def leaders(self) -> list[int]:
        return [n for n in self.nodes if self.role(n) == Role.LEADER]

    def log(self, node_id: int) -> list[tuple[int, int, bytes]]:
        storage = self.storages[node_id]
        entries = storage.entries(storage.first_index(), storage.last_index() + 1)
        return [(e.index, e.term, e.data) for e in entries]

    def applied_data(self, node_id: int) -> list[bytes]:
        return [e.data for e in self.applied[node_id] if e.kind == EntryKind.NORMAL]


class _NodeIO:
    """One node's disk (its MemoryStorage), its outbox (the network's queue) and its applied list."""

    def __init__(self, net: Network, node_id: int) -> None:
        self.net = net
        self.node_id = node_id

    def send(self, messages: list[Message]) -> None:
        self.net.queue.extend(messages)

    def persist(self, rd: Ready) -> bool:
        storage = self.net.storages[self.node_id]
        if rd.snapshot is not None:
            storage.apply_snapshot(rd.snapshot)
            meta = rd.snapshot.meta
            self.net.applied[self.node_id] = [Entry(meta.index, meta.term, EntryKind.NOOP, rd.snapshot.data)]
        storage.append(rd.entries)
        if rd.hard_state is not None:
            storage.set_hard_state(rd.hard_state)
        return True  # memory storage: every write is as durable as it gets

    def apply(self, rd: Ready) -> None:
        node = self.net.nodes[self.node_id]
        for entry in rd.committed_entries:
            if entry.kind == EntryKind.CONF_CHANGE:
                node.apply_conf_change(decode_conf_change(entry.data))
            self.net.applied[self.node_id].append(entry)
        self.net.read_states[self.node_id].extend(rd.read_states)
        self.net.dropped[self.node_id].extend(e.data for e in rd.dropped_proposals)
