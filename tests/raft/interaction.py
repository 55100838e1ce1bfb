"""The interaction environment behind tests/raft/testdata/*.txt (after etcd raft's
``rafttest/interaction_env_handler.go``): RawNodes over MemoryStorage, one outbox of messages that only
move when a script says so, and every Ready worked off with the node's own routine,
:func:`raftkv.raft.ready.handle_ready`, whose steps are printed in the order they happen.

Commands (ids are node ids; ``(a,b)`` is a list):
  add-nodes N [voters=(..)] [learners=(..)] [pre-vote=true] [check-quorum=true] [election=10]
      [heartbeat=1] [max-append-bytes=N] [max-inflight=N]    N new nodes, ids after the highest so far;
      a node joining later (no voters=) starts from the first nodes' membership, as a real one does
  campaign ID | propose ID DATA.. | propose-conf-change ID add-learner|promote|remove NODE
  read-index ID CONTEXT | transfer-leader FROM TO | report-unreachable ID PEER
  tick ID [N] | tick-election ID | tick-heartbeat ID      (tick-election: until its timer fires)
  process-ready ID..                work off the Ready of each (sent messages join the outbox)
  deliver-msgs [ID..] [drop=(..)] [type=NAME]   deliver the queued messages to ID.. (default all);
      those to ``drop`` are dropped instead; ``type`` picks one message type
  stabilize [ID..]                  process-ready and deliver-msgs until nothing moves
  isolate ID | heal                 cut every link of ID (messages on a cut link are dropped) | uncut
  compact ID INDEX                  snapshot ID's state at INDEX and drop the log up to it
  restart ID                        a crash and restart: the node comes back from its storage
  status ID | log ID | raft-state
Output conventions: an entry is ``term/index KIND data``; ``log=T/I`` is a message's (log_term, index);
``INFO`` lines report a change of role, term or leader.
"""
from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from raftkv.raft.log_storage import MemoryStorage
from raftkv.raft.rawnode import RawNode, decode_conf_change
from raftkv.raft.ready import handle_ready
from raftkv.raft.settings import RaftConfig
from raftkv.raft.types import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryKind,
    Message,
    MessageType,
    Ready,
    Role,
)
from tests.raft.datadriven import ScriptError, TestCase

_CONF_CHANGES = {
    "add-learner": ConfChangeType.ADD_LEARNER,
    "promote": ConfChangeType.PROMOTE,
    "remove": ConfChangeType.REMOVE,
}


def format_entry(entry: Entry) -> str:
    text = f"{entry.term}/{entry.index} {entry.kind.name}"
    if entry.kind == EntryKind.CONF_CHANGE:
        change = decode_conf_change(entry.data)
        return f"{text} {change.type.name} {change.node_id}"
    if entry.data:
        text += f" {_text(entry.data)}"
    return text


def format_message(m: Message) -> str:
    parts = [f"{m.src}->{m.dst} {m.type.name} term={m.term}"]
    t = m.type
    if t in (MessageType.APPEND, MessageType.VOTE, MessageType.PRE_VOTE):
        parts.append(f"log={m.log_term}/{m.index}")
    elif m.index:
        parts.append(f"index={m.index}")
    if t in (MessageType.APPEND, MessageType.HEARTBEAT):
        parts.append(f"commit={m.commit}")
    if m.reject:
        parts.append("rejected")
        if t == MessageType.APPEND_RESP:
            parts.append(f"hint={m.log_term}/{m.reject_hint}")
    if m.context:
        parts.append(f"context={_text(m.context)}")
    if m.snapshot is not None:
        meta = m.snapshot.meta
        parts.append(
            f"snapshot={meta.term}/{meta.index} voters={_ids(meta.conf_state.voters)}"
            f" learners={_ids(meta.conf_state.learners)}"
        )
    if m.entries:
        parts.append("entries=[" + ", ".join(format_entry(e) for e in m.entries) + "]")
    return " ".join(parts)


def _text(data: bytes) -> str:
    """Printable bytes as they are, others (a read round's number) in hex."""
    if data.isascii() and data.decode().isprintable():
        return data.decode()
    return "0x" + data.hex()


def collapse(lines: list[str]) -> list[str]:
    """Repeated lines once, where they first occur, with a count (a leader cut off for many ticks sends
    the same heartbeat many times)."""
    counts = Counter(lines)
    return [line if counts[line] == 1 else f"{line} (x{counts[line]})" for line in dict.fromkeys(lines)]


def _ids(ids: tuple[int, ...] | list[int]) -> str:
    return "(" + ",".join(str(i) for i in ids) + ")"


@dataclass
class _Node:
    id: int
    config: RaftConfig
    storage: MemoryStorage
    raw: RawNode
    seed: int
    applied: list[Entry] = field(default_factory=list)  # the state machine: every entry applied, in order


class InteractionEnv:
    def __init__(self) -> None:
        self.nodes: dict[int, _Node] = {}
        self.outbox: list[Message] = []
        self.cut: set[tuple[int, int]] = set()
        self.out: list[str] = []
        self._seen: dict[int, tuple[Role, int, int]] = {}
        self._founders = ConfState()

    # ------------------------------------------------------------------ dispatch

    def handle(self, case: TestCase) -> str:
        self.out = []
        method = getattr(self, "_cmd_" + case.name.replace("-", "_"), None)
        if method is None:
            raise ScriptError(f"unknown command {case.name!r}")
        method(case)
        self._note_changes()
        return "\n".join(self.out)

    def _print(self, line: str) -> None:
        self.out.append(line)

    def _node(self, text: str) -> _Node:
        node = self.nodes.get(int(text))
        if node is None:
            raise ScriptError(f"no node {text}")
        return node

    def _ids_of(self, case: TestCase) -> list[int]:
        return [int(p) for p in case.positional] or sorted(self.nodes)

    def _note_changes(self) -> None:
        for info in self._changes():
            self._print(info)

    def _changes(self) -> list[str]:
        """An INFO line for each node whose role, term or leader changed since the last look."""
        infos = []
        for node_id in sorted(self.nodes):
            status = self.nodes[node_id].raw.status()
            now = (status.role, status.term, status.leader)
            if self._seen.get(node_id) != now:
                self._seen[node_id] = now
                leader = f", leader {status.leader}" if status.leader else ""
                infos.append(f"INFO {node_id} is {status.role.name} at term {status.term}{leader}")
        return infos

    # ------------------------------------------------------------------ nodes

    def _cmd_add_nodes(self, case: TestCase) -> None:
        count = int(case.positional[0])
        first = max(self.nodes, default=0) + 1
        ids = list(range(first, first + count))
        if case.has("voters") or case.has("learners"):
            conf = ConfState(voters=tuple(case.ints("voters")), learners=tuple(case.ints("learners")))
            if not self._founders.voters:
                self._founders = conf
        else:
            conf = self._founders
        config_args = dict(
            election_ticks=case.number("election", 10),
            heartbeat_ticks=case.number("heartbeat", 1),
            pre_vote=case.flag("pre-vote", True),
            check_quorum=case.flag("check-quorum", True),
            max_append_bytes=case.number("max-append-bytes", 1 << 20),
            max_inflight_msgs=case.number("max-inflight", 256),
        )
        for node_id in ids:
            storage = MemoryStorage()
            storage.set_conf_state(conf)
            config = RaftConfig(id=node_id, **config_args)  # type: ignore[arg-type]
            raw = RawNode(config, storage, random.Random(node_id))
            self.nodes[node_id] = _Node(node_id, config, storage, raw, node_id)
        self._print(
            f"added {_ids(ids)} voters={_ids(conf.voters)} learners={_ids(conf.learners)} "
            + " ".join(f"{k}={v}" for k, v in sorted(config_args.items()))
        )

    def _cmd_restart(self, case: TestCase) -> None:
        node = self._node(case.positional[0])
        self.outbox = [m for m in self.outbox if m.dst != node.id]  # lost with the process
        snapshot = node.storage.snapshot()
        node.applied = [Entry(snapshot.meta.index, snapshot.meta.term, EntryKind.NOOP)] if snapshot.meta.index else []
        node.seed += 1000
        node.raw = RawNode(node.config, node.storage, random.Random(node.seed), snapshot.meta.index)
        hard = node.storage.initial_state()[0]
        self._print(f"restarted {node.id}: term={hard.term} vote={hard.vote} commit={hard.commit}")

    # ------------------------------------------------------------------ inputs

    def _cmd_campaign(self, case: TestCase) -> None:
        self._node(case.positional[0]).raw.campaign()

    def _cmd_propose(self, case: TestCase) -> None:
        node = self._node(case.positional[0])
        ok = node.raw.propose([d.encode() for d in case.positional[1:]])
        if not ok:
            self._print("dropped")

    def _cmd_propose_conf_change(self, case: TestCase) -> None:
        node = self._node(case.positional[0])
        kind, target = case.positional[1], int(case.positional[2])
        if kind not in _CONF_CHANGES:
            raise ScriptError(f"unknown conf change {kind!r} (want {', '.join(_CONF_CHANGES)})")
        if not node.raw.propose_conf_change(ConfChange(_CONF_CHANGES[kind], target)):
            self._print("dropped")

    def _cmd_read_index(self, case: TestCase) -> None:
        self._node(case.positional[0]).raw.read_index(case.positional[1].encode())

    def _cmd_transfer_leader(self, case: TestCase) -> None:
        self._node(case.positional[0]).raw.transfer_leadership(int(case.positional[1]))

    def _cmd_report_unreachable(self, case: TestCase) -> None:
        self._node(case.positional[0]).raw.report_unreachable(int(case.positional[1]))

    def _tick(self, node: _Node, ticks: int) -> None:
        for _ in range(ticks):
            node.raw.tick()
            self._note_changes()

    def _cmd_tick(self, case: TestCase) -> None:
        node = self._node(case.positional[0])
        self._tick(node, int(case.positional[1]) if len(case.positional) > 1 else 1)

    def _cmd_tick_election(self, case: TestCase) -> None:
        node = self._node(case.positional[0])
        raft = node.raw._raft
        # A follower's timer is randomized in [election, 2 * election); a leader checks its quorum
        # every election timeout.
        ticks = node.config.election_ticks if raft.role == Role.LEADER else raft.randomized_election_ticks
        self._tick(node, max(1, ticks - raft.election_elapsed))

    def _cmd_tick_heartbeat(self, case: TestCase) -> None:
        node = self._node(case.positional[0])
        self._tick(node, node.config.heartbeat_ticks)

    # ------------------------------------------------------------------ Ready and messages

    def _process_ready(self, node: _Node) -> bool:
        if not node.raw.has_ready():
            return False
        self._print(f"> {node.id} handling Ready")
        handle_ready(node.raw, _PrintingHandler(self, node), max_rounds=1)
        return True

    def _cmd_process_ready(self, case: TestCase) -> None:
        for node_id in self._ids_of(case):
            self._process_ready(self._node(str(node_id)))

    def _deliver(self, recipients: list[int], drop: set[int], msg_type: str | None) -> bool:
        """Deliver (or drop) the queued messages to ``recipients``, grouped by recipient in id order and
        in send order within each. Returns whether any message moved."""
        chosen: list[Message] = []
        kept: list[Message] = []
        wanted = set(recipients) | drop
        for m in self.outbox:
            if m.dst in wanted and (msg_type is None or m.type.name == msg_type):
                chosen.append(m)
            else:
                kept.append(m)
        self.outbox = kept
        for node_id in sorted({m.dst for m in chosen}):
            batch = [m for m in chosen if m.dst == node_id]
            if node_id in drop:
                self._print(f"> {node_id} dropping messages")
                for m in batch:
                    self._print(f"  {format_message(m)}")
                continue
            self._print(f"> {node_id} receiving messages")
            run_line, run = "", 0  # identical messages in a row print once, with a count
            for m in batch:
                line = format_message(m)
                if (m.src, m.dst) in self.cut or node_id not in self.nodes:
                    line += " (dropped: link cut)"
                else:
                    self.nodes[node_id].raw.step(m)
                if line == run_line:
                    run += 1
                else:
                    self._flush_run(run_line, run)
                    run_line, run = line, 1
                infos = self._changes()
                if infos:
                    self._flush_run(run_line, run)
                    run_line, run = "", 0
                    for info in infos:
                        self._print(f"  {info}")
            self._flush_run(run_line, run)
        return bool(chosen)

    def _flush_run(self, line: str, run: int) -> None:
        if run:
            self._print(f"  {line}" if run == 1 else f"  {line} (x{run})")

    def _cmd_deliver_msgs(self, case: TestCase) -> None:
        drop = set(case.ints("drop"))
        recipients = [int(p) for p in case.positional] or ([] if drop else sorted(self.nodes))
        if not self._deliver(recipients, drop, case.get("type")):
            self._print("no messages")

    def _cmd_stabilize(self, case: TestCase) -> None:
        ids = self._ids_of(case)
        for _ in range(1000):
            worked = False
            for node_id in ids:
                worked |= self._process_ready(self.nodes[node_id])
            worked |= self._deliver(ids, set(), None)
            if not worked:
                return
        raise ScriptError("stabilize did not settle in 1000 rounds")

    def _cmd_isolate(self, case: TestCase) -> None:
        node_id = int(case.positional[0])
        for other in self.nodes:
            if other != node_id:
                self.cut.add((node_id, other))
                self.cut.add((other, node_id))

    def _cmd_heal(self, case: TestCase) -> None:
        self.cut.clear()

    def _cmd_compact(self, case: TestCase) -> None:
        node = self._node(case.positional[0])
        index = int(case.positional[1])
        conf = node.raw._raft.tracker.conf_state()
        data = b"|".join(e.data for e in node.applied if e.index <= index and e.kind == EntryKind.NORMAL)
        snapshot = node.storage.create_snapshot(index, conf, data)
        node.storage.compact(index)
        self._print(
            f"{node.id}: snapshot at {snapshot.meta.term}/{index}, log from {node.storage.first_index()}"
        )

    # ------------------------------------------------------------------ queries

    def _cmd_status(self, case: TestCase) -> None:
        for node_id in self._ids_of(case):
            status = self._node(str(node_id)).raw.status()
            self._print(
                f"{node_id}: {status.role.name} term={status.term} vote={status.vote} leader={status.leader} "
                f"commit={status.commit} applied={status.applied} last={status.last_index}"
            )
            for peer, progress in sorted(status.progress.items()):
                learner = " learner" if progress.learner else ""
                self._print(f"  {peer}: match={progress.match} next={progress.next} {progress.state}{learner}")

    def _cmd_log(self, case: TestCase) -> None:
        for node_id in self._ids_of(case):
            storage = self._node(str(node_id)).storage
            snapshot = storage.snapshot().meta
            first, last = storage.first_index(), storage.last_index()
            head = f"{node_id}: log [{first}, {last}]" if last >= first else f"{node_id}: no entries"
            if snapshot.index:
                head += f" after snapshot {snapshot.term}/{snapshot.index}"
            self._print(head)
            for entry in storage.entries(first, last + 1):
                self._print(f"  {format_entry(entry)}")

    def _cmd_raft_state(self, case: TestCase) -> None:
        for node_id in sorted(self.nodes):
            raft = self.nodes[node_id].raw._raft
            member = "voter" if raft.tracker.is_voter(node_id) else (
                "learner" if node_id in raft.tracker.learners else "not a member"
            )
            self._print(
                f"{node_id}: {raft.role.name} ({member}) term={raft.term} leader={raft.leader} "
                f"voters={_ids(raft.tracker.voters)} learners={_ids(raft.tracker.learners)}"
            )


class _PrintingHandler:
    """A ReadyHandler that does what a driver does and prints each step as it happens."""

    def __init__(self, env: InteractionEnv, node: _Node) -> None:
        self.env = env
        self.node = node
        self.persisted = False

    def _p(self, line: str) -> None:
        self.env._print("  " + line)

    def send(self, messages: list[Message]) -> None:
        self._p("send before persisting:" if not self.persisted else "send:")
        lines: list[str] = []
        for m in messages:
            if (m.src, m.dst) in self.env.cut:
                lines.append(f"{format_message(m)} (dropped: link cut)")
            else:
                lines.append(format_message(m))
                self.env.outbox.append(m)
        for line in collapse(lines):
            self._p(f"  {line}")

    def persist(self, rd: Ready) -> bool:
        storage = self.node.storage
        if rd.hard_state is not None:
            hs = rd.hard_state
            self._p(f"persist hard state term={hs.term} vote={hs.vote} commit={hs.commit}")
        if rd.snapshot is not None:
            meta = rd.snapshot.meta
            self._p(f"persist snapshot {meta.term}/{meta.index}")
            storage.apply_snapshot(rd.snapshot)
        if rd.entries:
            self._p("persist entries:")
            for entry in rd.entries:
                self._p(f"  {format_entry(entry)}")
        storage.append(rd.entries)
        if rd.hard_state is not None:
            storage.set_hard_state(rd.hard_state)
        self.persisted = True
        return True  # memory storage: every write is as durable as it gets

    def apply(self, rd: Ready) -> None:
        node = self.node
        if rd.snapshot is not None:
            meta = rd.snapshot.meta
            node.applied = [Entry(meta.index, meta.term, EntryKind.NOOP, rd.snapshot.data)]
            self._p(f"restore snapshot {meta.term}/{meta.index} data={_text(rd.snapshot.data)}")
        if rd.committed_entries:
            self._p("apply:")
        for entry in rd.committed_entries:
            self._p(f"  {format_entry(entry)}")
            if entry.kind == EntryKind.CONF_CHANGE:
                conf = node.raw.apply_conf_change(decode_conf_change(entry.data))
                self._p(f"  -> voters={_ids(conf.voters)} learners={_ids(conf.learners)}")
            node.applied.append(entry)
        for read_state in rd.read_states:
            self._p(f"read state index={read_state.index} context={_text(read_state.context)}")
        if rd.dropped_proposals:
            self._p("dropped proposals: " + ", ".join(format_entry(e) for e in rd.dropped_proposals))
