"""The Raft process: one event loop over the worker pipes, the tick timer and (later) the peers.

It owns the Raft core, the LevelDB store and the state machine, and is the only writer of the data
directory. Each loop turn: read every ready pipe, hand the turn's writes to the core as one batch and its
reads as one ReadIndex request, then for each Ready: persist (one LevelDB batch, synced when it holds
entries or a new term/vote) -> send -> apply -> reply -> advance. A client is answered only after its
write is committed and applied (Raft §5.3, §8).

Commands of one connection take effect in the order they were sent: writes are proposed in arrival
order; a read waits until the connection's earlier writes are applied, and a write waits until the
connection's earlier reads are served.
"""
from __future__ import annotations

import logging
import os
import random
import selectors
import signal
import socket
import time
from collections import deque
from dataclasses import dataclass, field

from raftkv.node import info
from raftkv.wire import records
from raftkv.wire import proposal
from raftkv.wire.proposal import encode_exec
from raftkv.kv.table import NODE, READ, TABLE, WRITE, Command
from raftkv.config import NodeConfig
from raftkv.node.admin import Admin, decode_context
from raftkv.errors import CLUSTERDOWN, TRYAGAIN, RespError, err
from raftkv.raft.settings import RaftConfig
from raftkv.raft.rawnode import RawNode, decode_conf_change
from raftkv.raft.ready import handle_ready
from raftkv.raft.log_storage import MemoryStorage
from raftkv.raft.types import ConfChange, ConfChangeType, ConfState, Message, Snapshot, SnapshotMeta, EntryKind, HardState, MessageType, Ready, Role, SoftState
from raftkv.wire.resp import RequestParser, decode_command, encode_reply
from raftkv.kv.state_machine import StateMachine
from raftkv.node.cluster import Member, cluster_id_of, decode_members, encode_members
from raftkv.process import StartError, bind_listener, prepare_child
from raftkv.node.snapshots.snapshot_file import SnapshotError
from raftkv.node.snapshots.snapshotter import Snapshotter
from raftkv.node.transport import Transport
from raftkv.node.disk import DiskStorage, StorageError

log = logging.getLogger("raftkv.raft")

_NO_LEADER = RespError(f"{CLUSTERDOWN} no leader")
_REMOVED = err("this node was removed from the cluster")
_UNKNOWN_OUTCOME = RespError(f"{TRYAGAIN} the write was not committed in time; it may or may not be applied")
_RECV_BYTES = 1 << 20
_SWEEP_KEYS = 200  # keys deleted by one expiry sweep entry


@dataclass(slots=True)
class _Client:
    """What the Raft process knows of one client connection: enough to keep its commands in order."""

    worker: int
    conn: int
    writes_out: int = 0
    reads_out: int = 0
    held: deque = field(default_factory=deque)
    closed: bool = False
    watched: dict[bytes, int] = field(default_factory=dict)  # WATCH: key -> version read


@dataclass(slots=True)
class _Pending:
    client: _Client
    seq: int
    proto: int
    argv: list[bytes]
    cmd: Command
    deadline: float
    payload: bytes = b""
    request_id: int = 0


class Driver:
    def __init__(self, config: NodeConfig, disk: DiskStorage, pipes: dict[int, socket.socket],
                 peer_listener: socket.socket, control: socket.socket | None = None) -> None:
        self.config = config
        self.disk = disk
        self.started_at = time.time()
        identity = _identity(config, disk)
        self.node_id, self.cluster_id, founders = identity
        self.me = founders.get(self.node_id) or _myself(config, self.node_id)
        self.members = dict(founders)  # changed by conf-change entries as they apply
        self.removed = disk.get_meta("removed") is not None
        boots = int(disk.get_meta("boots") or b"0") + 1
        disk.put_meta("boots", b"%d" % boots)
        # Request ids must not repeat across restarts: an entry proposed before a crash may be applied
        # after it, and must not answer a new client.
        self._next_request_id = boots << 40

        self.conf_state = disk.conf_state() or ConfState()
        self.mem = MemoryStorage()
        self.mem.set_conf_state(self.conf_state)
        self._hard_state = disk.hard_state()
        self.sm = StateMachine()
        self.applied_term = 0
        self.snapshotter = Snapshotter(self)
        restored = self.snapshotter.restore()
        if restored is not None:
            meta, members, sm = restored
            self.mem.apply_snapshot(Snapshot(meta, b""))
            self.install_state(sm, meta, decode_members(members), update_peers=False)
            # The commit index is written without a sync; the snapshot proves this much was committed.
            if self._hard_state.commit < meta.index:
                self._hard_state = HardState(self._hard_state.term, self._hard_state.vote, meta.index)
        self.mem.set_hard_state(self._hard_state)
        self.mem.append([e for e in disk.entries() if e.index > self.sm.applied_index])
        self.node = self._new_raw_node()
        self.soft_state = SoftState()
        self.stats = info.Stats()
        self.election_timeout_s = config.election_ticks * config.tick_ms / 1000.0
        self.disk_full = False
        self.free_disk_bytes = 0

        self._sel = selectors.DefaultSelector()
        self._pipes: dict[int, socket.socket] = {}
        self._parsers: dict[int, RequestParser] = {}
        self._out: dict[int, bytearray] = {}
        for worker, sock in pipes.items():
            self._attach_worker(worker, sock)
        self._control = control
        if control is not None:
            self._sel.register(control, selectors.EVENT_READ, self._on_control)
        self._removed_members: dict[int, Member] = {}
        self.transport = Transport(self.node_id, peer_listener, self._sel, self._step,
                                   lambda peer: self.node.report_unreachable(peer),
                                   lambda src, fields: self.snapshotter.on_chunk(src, fields),
                                   config.cluster_secret)
        self._update_peers()
        self.admin = Admin(self)
        self._sel.register(self.admin.wakeup_r, selectors.EVENT_READ, lambda _s: self.admin.on_wakeup())
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)
        self._sel.register(self._wakeup_r, selectors.EVENT_READ, self._on_wakeup)
        self._stopping = False

        self._clients: dict[int, _Client] = {}
        self._waiters: dict[int, _Pending] = {}  # request id -> write awaiting apply
        self._write_deadlines: deque[tuple[float, int]] = deque()
        self._to_propose: list[_Pending] = []
        self._unproposed: deque[_Pending] = deque()  # no leader yet: retried until their deadline
        self._read_batch: list[_Pending] = []
        self._read_rounds: dict[bytes, tuple[list[_Pending], float]] = {}
        self._reads_after_apply: deque[tuple[int, list[_Pending]]] = deque()
        self._next_read_ctx = 0
        self._sweep_request_id = 0  # the expiry sweep in flight, if any
        self._sweep_deadline = 0.0
        self._tick_s = config.tick_ms / 1000.0
        self._request_deadline = 0.0  # when a command started in this loop turn gives up waiting

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> None:
        next_tick = time.monotonic() + self._tick_s
        select = self._sel.select
        while not self._stopping:
            events = select(max(0.0, next_tick - time.monotonic()))
            now = time.monotonic()
            self._request_deadline = now + self.config.request_timeout_s  # for commands started this turn
            for key, _mask in events:
                key.data(key.fileobj)
            if now >= next_tick:
                next_tick = now + self._tick_s
                if not self.removed:  # a removed node must not campaign
                    self.node.tick()
                self._expire(now)
                self.admin.tick(now)
                self.snapshotter.tick()
                self._check_free_disk()
                self._sweep_expired_keys(now)
            self._hand_batch_to_core()
            self._process_ready()
            # Applying may have released commands held behind others of their connection: start
            # them now rather than after the next select().
            while self._to_propose or self._read_batch:
                self._hand_batch_to_core()
                self._process_ready()
            self.snapshotter.pump()
            self._flush_replies()

    def request_stop(self) -> None:
        """Async-signal-safe: the loop stops at the end of its current turn."""
        try:
            self._wakeup_w.send(b"x")
        except OSError:
            pass

    def close(self) -> None:
        self.snapshotter.close()
        self.transport.close()
        self.admin.close()
        self._sel.close()
        for sock in self._pipes.values():
            sock.close()
        self._wakeup_r.close()
        self._wakeup_w.close()

    def _on_wakeup(self, sock: socket.socket) -> None:
        try:
            sock.recv(64)
        except BlockingIOError:
            pass
        self._stopping = True

    # -- workers ----------------------------------------------------------------------------------

    def _attach_worker(self, worker: int, sock: socket.socket) -> None:
        old = self._pipes.pop(worker, None)
        if old is not None:
            self._detach_worker(worker, old)
        sock.setblocking(False)
        self._pipes[worker] = sock
        self._parsers[worker] = RequestParser(max_multibulk_len=records.MAX_RECORD_ARGS,
                                              max_bulk_len=self.config.max_bulk_len)
        self._out[worker] = bytearray()
        self._sel.register(sock, selectors.EVENT_READ, lambda s, w=worker: self._on_pipe(w, s))

    def _detach_worker(self, worker: int, sock: socket.socket) -> None:
        self._sel.unregister(sock)
        sock.close()
        self._out[worker] = bytearray()
        for key in [k for k, c in self._clients.items() if c.worker == worker]:
            self._clients.pop(key).closed = True

    def _on_control(self, sock: socket.socket) -> None:
        """The supervisor hands over the pipe of a restarted worker."""
        try:
            msg, fds, _flags, _addr = socket.recv_fds(sock, 64, 1)
        except BlockingIOError:
            return
        if not msg:
            self._stopping = True
            return
        worker = int(msg)
        self._attach_worker(worker, socket.socket(fileno=fds[0]))
        log.info("worker %d reconnected", worker)

    def _on_pipe(self, worker: int, sock: socket.socket) -> None:
        try:
            data = sock.recv(_RECV_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._pipes.pop(worker, None)
            self._detach_worker(worker, sock)
            return
        parser = self._parsers[worker]
        parser.feed(data)
        clients = self._clients
        for rec in parser.pop_commands():
            kind = rec[0]
            key = (worker << 32) | int(rec[1])
            if kind == records.REQUEST:
                client = clients.get(key)
                if client is None:  # a request racing its connection's close
                    continue
                argv = rec[4:]
                self._submit(client, int(rec[2]), 3 if rec[3] == b"3" else 2, argv, TABLE[argv[0].lower()])
            elif kind == records.OPEN:
                clients[key] = _Client(worker, int(rec[1]))
                self.stats.connections_received += 1
            elif kind == records.CLOSE:
                client = clients.pop(key, None)
                if client is not None:
                    client.closed = True
        if parser.error:
            raise RuntimeError(f"corrupt pipe from worker {worker}: {parser.error}")

    def reply(self, client: _Client, seq: int, proto: int, value: object) -> None:
        """Queue the answer to command ``seq`` of ``client`` (also for replies the admin defers)."""
        if not client.closed:
            self._out[client.worker] += records.reply(client.conn, seq, encode_reply(value, proto))

    def _flush_replies(self) -> None:
        for worker, out in self._out.items():
            if not out:
                continue
            sock = self._pipes.get(worker)
            if sock is None:
                out.clear()
                continue
            # Workers read their pipe eagerly and never block writing theirs, so a pipe that stays
            # full means a stuck worker: cut it off (the supervisor restarts it) rather than buffer
            # without bound.
            try:
                sock.settimeout(5.0)
                sock.sendall(out)
                sock.setblocking(False)
            except OSError as exc:
                log.warning("worker %d is not reading its replies (%s); disconnecting it", worker, exc)
                del self._pipes[worker]
                self._detach_worker(worker, sock)
            out.clear()

    # -- ordering per connection ------------------------------------------------------------------

    def _submit(self, client: _Client, seq: int, proto: int, argv: list[bytes], cmd: Command) -> None:
        self.stats.commands_processed += 1
        refusal = self._refusal
        if refusal is not None and cmd.name not in ("info", "raft"):
            self.reply(client, seq, proto, refusal)
            return
        if client.held or not self._may_start(client, cmd):
            client.held.append((seq, proto, argv, cmd))
        else:
            self._start(client, seq, proto, argv, cmd)

    @staticmethod
    def _may_start(client: _Client, cmd: Command) -> bool:
        if cmd.where == WRITE:
            return client.reads_out == 0
        return client.writes_out == 0

    def _start(self, client: _Client, seq: int, proto: int, argv: list[bytes], cmd: Command) -> None:
        where = cmd.where
        if where == WRITE:
            if self.disk_full:
                self.reply(client, seq, proto, self._disk_full_error())
                return
            if cmd.name == "exec":
                argv = encode_exec(client.watched, argv[1:])
                client.watched = {}
            client.writes_out += 1
            self._to_propose.append(_Pending(client, seq, proto, argv, cmd, self._request_deadline))
        elif where == READ:
            client.reads_out += 1
            self._read_batch.append(_Pending(client, seq, proto, argv, cmd, self._request_deadline))
        elif where == NODE:
            if cmd.name == "unwatch":
                # Also sent by the worker for DISCARD and an aborted EXEC, with the reply to give.
                client.watched = {}
                self.reply(client, seq, proto, RespError(argv[1].decode()) if len(argv) > 1 else "OK")
            elif cmd.name == "raft":
                reply = self.admin.command(client, seq, proto, argv)
                if reply is not None:
                    self.reply(client, seq, proto, reply)
            else:
                self.reply(client, seq, proto, info.node_command(self, argv, proto))

    def _done(self, p: _Pending, value: object) -> None:
        client = p.client
        self.reply(client, p.seq, p.proto, value)
        if p.cmd.where == WRITE:
            client.writes_out -= 1
        else:
            client.reads_out -= 1
        held = client.held
        while held and self._may_start(client, held[0][3]):
            self._start(client, *held.popleft())

    # -- into the core ----------------------------------------------------------------------------

    def _hand_batch_to_core(self) -> None:
        if self._to_propose:
            batch, self._to_propose = self._to_propose, []
            now_ms = int(time.time() * 1000)
            commit_deadline = time.monotonic() + self.config.commit_timeout_s
            for p in batch:
                rid = p.request_id = self.new_request_id()
                p.payload = proposal.encode(self.node_id, rid, now_ms, p.argv)
                self._waiters[rid] = p
                self._write_deadlines.append((commit_deadline, rid))
            if self._unproposed or not self.node.propose([p.payload for p in batch]):
                self._unproposed.extend(batch)
        if self._unproposed and self.soft_state.leader:
            retry = list(self._unproposed)
            if self.node.propose([p.payload for p in retry]):
                self._unproposed.clear()
        if self._read_batch:
            batch, self._read_batch = self._read_batch, []
            ctx = b"%d" % self._next_read_ctx
            self._next_read_ctx += 1
            self._read_rounds[ctx] = (batch, batch[0].deadline)
            self.node.read_index(ctx)

    def _process_ready(self) -> None:
        handle_ready(self.node, self)

    # -- the ReadyHandler of raftkv.raft.ready ------------------------------------------------------

    def send(self, messages: list[Message]) -> None:
        to_peers = [m for m in messages if m.type != MessageType.SNAPSHOT]
        for m in messages:
            if m.type == MessageType.SNAPSHOT:
                self.snapshotter.send(m)  # streamed in chunks by pump()
        if to_peers:
            self.transport.send(to_peers)
            self.transport.flush()

    def apply(self, rd: Ready) -> None:
        if rd.soft_state is not None:
            self._on_soft_state(rd.soft_state)
        if rd.committed_entries:
            self._apply(rd)
            self.snapshotter.maybe_take()
        for rs in rd.read_states:
            round_ = self._read_rounds.pop(rs.context, None)
            if round_ is not None:
                self._reads_after_apply.append((rs.index, round_[0]))
        self._serve_reads()

    def persist(self, rd: Ready) -> None:
        if rd.snapshot is not None:
            self.snapshotter.install(rd.snapshot)
        hs = rd.hard_state
        if hs is None and not rd.entries:
            return
        old = self._hard_state
        must_sync = bool(rd.entries) or (hs is not None and (hs.term != old.term or hs.vote != old.vote))
        self.disk.save(hs, rd.entries, sync=must_sync)
        self.stats.log_writes += 1
        if must_sync:
            self.stats.log_syncs += 1
        if hs is not None:
            self._hard_state = hs
            self.mem.set_hard_state(hs)
        if rd.entries:
            self.mem.append(rd.entries)

    def _on_soft_state(self, soft: SoftState) -> None:
        leader_changed = soft.leader != self.soft_state.leader
        if soft.role != self.soft_state.role or leader_changed:
            leader = self.members.get(soft.leader)
            log.info("role %s, term %d, leader %s", soft.role.name.lower(), self.node.status().term,
                     f"{soft.leader} ({leader.client_addr})" if leader else "none")
        self.soft_state = soft
        if leader_changed and soft.leader:
            # A read round asked of the previous leader will never be answered: ask the new one.
            for ctx in self._read_rounds:
                self.node.read_index(ctx)
        if leader_changed:
            self.admin.on_leader_changed(soft.leader)

    def _apply(self, rd: Ready) -> None:
        sm = self.sm
        waiters = self._waiters
        me = self.node_id
        for entry in rd.committed_entries:
            sm.applied_index = entry.index  # before executing: it versions the keys the entry changes
            self.applied_term = entry.term
            if entry.kind == EntryKind.NORMAL:
                origin, rid, now_ms = proposal.decode_head(entry.data)
                waiter = waiters.pop(rid, None) if origin == me else None
                if waiter is not None:
                    self._done(waiter, sm.execute(waiter.argv, now_ms))
                else:
                    if rid == self._sweep_request_id and origin == me:
                        self._sweep_request_id = 0
                    sm.execute(decode_command(entry.data[proposal.HEAD_SIZE:]), now_ms)
            elif entry.kind == EntryKind.CONF_CHANGE:
                self._apply_conf_change(decode_conf_change(entry.data))

    def _apply_conf_change(self, change: ConfChange) -> None:
        self.conf_state = self.node.apply_conf_change(change)
        origin, rid, member = decode_context(change.context)
        if change.type == ConfChangeType.ADD_LEARNER and member is not None:
            self.members[change.node_id] = member
        elif change.type == ConfChangeType.REMOVE:
            gone = self.members.pop(change.node_id, None)
            if change.node_id == self.node_id:
                self._mark_removed()
            elif gone is not None:
                log.info("member %d (%s) removed", gone.id, gone.client_addr)
                self._removed_members[gone.id] = gone
                if self.role == Role.LEADER:
                    self.admin.tell_removed(gone)
        self._update_peers()
        log.info("membership: voters %s, learners %s", list(self.conf_state.voters),
                 list(self.conf_state.learners))
        self.admin.on_applied(origin, rid, change)

    def install_state(self, sm: StateMachine, meta: SnapshotMeta, members: dict[int, Member],
                      update_peers: bool = True) -> None:
        """Take the state of a snapshot (at start, or received from the leader)."""
        self.sm = sm
        self.applied_term = meta.term
        self.conf_state = meta.conf_state
        self.members = members
        if self.node_id in members:
            self.me = members[self.node_id]
        if update_peers:
            self._update_peers()

    def _check_free_disk(self) -> None:
        try:
            st = os.statvfs(self.config.data_dir)
        except OSError as exc:
            log.error("cannot check free space of %s: %s", self.config.data_dir, exc.strerror)
            return
        self.free_disk_bytes = st.f_bavail * st.f_frsize
        full = self.free_disk_bytes < self.config.min_free_disk_bytes
        if full != self.disk_full:
            self.disk_full = full
            if full:
                log.error("data dir %s has %d bytes free (under --min-free-disk %d): refusing writes",
                          self.config.data_dir, self.free_disk_bytes, self.config.min_free_disk_bytes)
            else:
                log.info("data dir %s has %d bytes free again: accepting writes", self.config.data_dir,
                         self.free_disk_bytes)

    def _disk_full_error(self) -> RespError:
        return RespError(f"MISCONF the disk of {self.config.data_dir} is nearly full "
                         f"({self.free_disk_bytes} bytes free); writes are refused until space returns")

    def _mark_removed(self) -> None:
        if not self.removed:
            self.removed = True
            self.disk.put_meta("removed", b"1")
            log.warning("this node was removed from the cluster; it serves no more clients")

    def learn_removed(self, cluster_id: str, node_id: bytes) -> object:
        """RAFT REMOVED: a member tells us we were removed (we may never apply it ourselves)."""
        if cluster_id != self.cluster_id or node_id != b"%d" % self.node_id:
            return err("not this node")
        self._mark_removed()
        self._update_peers()
        return "OK"

    def _step(self, msg: Message) -> None:
        gone = self._removed_members.get(msg.src)
        if gone is not None:
            self.admin.tell_removed(gone)  # it does not know yet, or it restarted without knowing
            return
        self.node.step(msg)

    def _update_peers(self) -> None:
        peers = {} if self.removed else {m.id: m.peer_addr for m in self.members.values()}
        self.transport.set_peers(peers)

    def _serve_reads(self) -> None:
        pending = self._reads_after_apply
        applied = self.sm.applied_index
        while pending and pending[0][0] <= applied:
            _index, batch = pending.popleft()
            now_ms = int(time.time() * 1000)
            for p in batch:
                reply = self.sm.execute(p.argv, now_ms)
                if p.cmd.name == "watch":
                    p.client.watched.update(zip(p.argv[1:], reply))
                    reply = "OK"
                self._done(p, reply)

    # -- expiry -----------------------------------------------------------------------------------

    def _sweep_expired_keys(self, now: float) -> None:
        """The leader proposes the deletion of keys its clock says have expired, one batch at a time, so
        that every node deletes them at the same point of the log."""
        if self.soft_state.role != Role.LEADER:
            return
        if self._sweep_request_id and now < self._sweep_deadline:
            return  # the previous sweep is not applied yet
        now_ms = int(time.time() * 1000)
        keys = self.sm.expired_keys(now_ms, _SWEEP_KEYS)
        if not keys:
            return
        rid = self.new_request_id()
        if self.node.propose([proposal.encode(self.node_id, rid, now_ms, [b"expired", *keys])]):
            self._sweep_request_id = rid
            self._sweep_deadline = now + self.config.commit_timeout_s

    # -- bounded waits ----------------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        while self._unproposed and self._unproposed[0].deadline <= now:
            p = self._unproposed.popleft()
            del self._waiters[p.request_id]
            self._done(p, _NO_LEADER)
        deadlines = self._write_deadlines
        while deadlines and deadlines[0][0] <= now:
            _deadline, rid = deadlines.popleft()
            p = self._waiters.pop(rid, None)
            if p is not None:
                self._done(p, _UNKNOWN_OUTCOME)
        for ctx in [c for c, (_b, deadline) in self._read_rounds.items() if deadline <= now]:
            batch, _deadline = self._read_rounds.pop(ctx)
            for p in batch:
                self._done(p, _NO_LEADER)

    # -- what INFO reports ------------------------------------------------------------------------

    @property
    def hard_state(self) -> HardState:
        return self._hard_state

    @property
    def connected_clients(self) -> int:
        return len(self._clients)

    @property
    def role(self) -> Role:
        return self.soft_state.role

    @property
    def leader_member(self) -> Member | None:
        return self.members.get(self.soft_state.leader)

    @property
    def founders(self) -> list[bytes]:
        """What a joining node needs to replay the log from its start (see RAFT BOOTSTRAP)."""
        conf = self.disk.conf_state() or ConfState()
        return [b",".join(b"%d" % v for v in conf.voters), self.disk.get_meta("members") or b"[]"]

    @property
    def _refusal(self) -> RespError | None:
        if self.removed:
            return _REMOVED
        if not self.cluster_id:
            return err(f"this node is waiting to join a cluster: run `kvsctl -a <member> member add "
                       f"{self.me.client_addr}`")
        return None

    def new_request_id(self) -> int:
        rid = self._next_request_id
        self._next_request_id = rid + 1
        return rid

    def bootstrap_joined(self, cluster_id: str, voters: bytes, members: bytes) -> object:
        """RAFT BOOTSTRAP: a node waiting to join takes the cluster's founding membership, then replays
        the log it receives from the leader like any member."""
        if self.cluster_id:
            return err("this node already belongs to a cluster")
        founders = decode_members(members)
        conf = ConfState(voters=tuple(int(v) for v in voters.split(b",") if v))
        self.disk.set_conf_state(conf)
        self.disk.put_meta("members", members)
        self.disk.put_meta("cluster_id", cluster_id.encode())
        self.cluster_id, self.conf_state = cluster_id, conf
        self.members = dict(founders)
        self.mem.set_conf_state(conf)
        self.node = self._new_raw_node()
        self._update_peers()
        log.info("joined cluster %s; waiting for the leader's log", cluster_id)
        return "OK"

    def _new_raw_node(self) -> RawNode:
        node = RawNode(
            RaftConfig(id=self.node_id, election_ticks=self.config.election_ticks,
                       heartbeat_ticks=self.config.heartbeat_ticks),
            self.mem, random.Random(), applied=self.sm.applied_index,
        )
        if self.conf_state.voters == (self.node_id,) and not self.removed:
            node.campaign()  # a one-voter cluster elects itself at once
        return node


def _identity(config: NodeConfig, disk: DiskStorage) -> tuple[int, str, dict[int, Member]]:
    """This node's id, its cluster's id ("" while waiting to join) and the founding member table: from
    the data dir, or created on first start (a data dir that already holds a cluster ignores the list)."""
    raw = disk.get_meta("members")
    if raw is not None:
        return int(disk.get_meta("node_id") or b"0"), (disk.get_meta("cluster_id") or b"").decode(), \
            decode_members(raw)
    if config.join:
        node_id = int(disk.get_meta("node_id") or b"0")
        if not node_id:
            node_id = random.SystemRandom().randrange(1, 1 << 63)
            disk.put_meta("node_id", b"%d" % node_id)
        return node_id, "", {}
    members = {m.id: m for m in config.initial_cluster}
    me = next(m for m in config.initial_cluster if m.client_addr == config.address)
    cluster_id = cluster_id_of(config.initial_cluster)
    disk.set_conf_state(ConfState(voters=tuple(members)))
    disk.put_meta("node_id", b"%d" % me.id)
    disk.put_meta("cluster_id", cluster_id.encode())
    disk.put_meta("members", encode_members(members))
    return me.id, cluster_id, members


def _myself(config: NodeConfig, node_id: int) -> Member:
    return Member(node_id, config.address, f"{config.advertised_peer_host}:{config.advertised_peer_port}")


def raft_main(config: NodeConfig, pipes: dict[int, socket.socket], control: socket.socket,
              close_fds: list[socket.socket]) -> None:
    """Entry point of the Raft process. Tells the supervisor ``ok`` or ``error <message>`` on ``control``
    once LevelDB is open, then runs until SIGTERM."""
    prepare_child("raft", config.log_level, close_fds)
    disk = None
    try:
        peer_listener = bind_listener(config.peer_host, config.peer_port, "listen for peers")
        disk = DiskStorage(config.data_dir)
        driver = Driver(config, disk, pipes, peer_listener, control)
    except (StartError, StorageError, SnapshotError) as exc:
        # The supervisor prints this one line and exits: a damaged data dir is not restarted blindly.
        if disk is not None:
            disk.close()
        control.sendall(b"error " + str(exc).encode())
        os._exit(1)
    try:
        signal.signal(signal.SIGTERM, lambda *_: driver.request_stop())
        control.sendall(b"ok")
        log.info("node %d serving data dir %s (last log index %d, commit %d)", driver.node_id, config.data_dir,
                 disk.last_index, driver.hard_state.commit)
        driver.run()
    finally:
        driver.close()
        disk.close()
    log.info("raft process stopped, data dir closed")
