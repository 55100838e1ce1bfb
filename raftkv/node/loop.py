"""The Raft process's loop: one selector over the worker pipes, the peers and a tick timer.

Each loop turn: read every ready pipe and hand its commands to the :class:`~raftkv.node.sequencer.Sequencer`
(per-connection order), hand the turn's started writes to the core as one batch and its reads as one
ReadIndex round (:mod:`raftkv.node.inflight`), then work off each Ready through
:func:`raftkv.raft.ready.handle_ready`: persist (one LevelDB batch, synced as
:func:`~raftkv.raft.ready.needs_sync` says: entries, a new term/vote, or a commit of a membership change)
-> send -> apply (:mod:`raftkv.node.apply`) -> reply -> advance. A client is answered only after
its write is committed and applied (Raft §5.3, §8).

Every write is made in line, a leader's too: its appends leave before its own write (thesis §10.2.1),
so the followers sync while it does, and what arrives during a sync goes into the next turn's batch
(group commit). A leader whose replicating followers make a majority without it writes its entries
unsynced, and commits them on their acknowledgements alone: it syncs (and counts) its own copy only
of what they have not committed after a couple of milliseconds (:class:`~raftkv.raft.ready.DeferredSync`).
It tells the followers a new commit index with the next batch's APPEND, and alone only if no batch came
within a couple of milliseconds (:class:`~raftkv.raft.ready.CommitNotice`): under load a follower gets
one APPEND per batch, not an APPEND and a commit notice. A follower whose forwarded writes were committed
is told at once: its clients wait for it to apply them.
Writing a leader's entries in a background thread instead cost more than it saved on
2 cores (a thread wakeup, a wakeup fd and two GIL hand-overs per batch): one node, -c 50 SET, 2
alternating runs each, 27.1k and 31.5k SET/s at 35.5 and 30.1 µs of CPU per SET in line against 25.4k
and 25.9k at 39.9 and 37.6 in the background.

The loop owns the sockets (pipes, control channel, wakeups) and the order of work; every decision is made
by the helpers it wires together, each given only the narrow things it uses.
"""
from __future__ import annotations

import logging
import random
import selectors
import socket
import time
from functools import partial

from raftkv import runtime_config
from raftkv.config import NodeConfig
from raftkv.errors import RespError, err
from raftkv.kv.table import READ, TABLE, WRITE
from raftkv.node import info
from raftkv.node.admin import Admin, call
from raftkv.node.apply import Applier
from raftkv.node.backup import SnapshotSaves
from raftkv.node.blocked import BlockedClients
from raftkv.node.clients import NodeClients
from raftkv.node.cluster import Cluster, founders
from raftkv.node.config_command import ConfigCommand
from raftkv.node.disk import DiskStorage
from raftkv.node.disk_guard import DiskGuard
from raftkv.node.expiry import ExpirySweeper
from raftkv.node.inflight import InFlight
from raftkv.node.latency_monitor import Tapped
from raftkv.node.metrics.endpoint import MetricsEndpoint
from raftkv.node.metrics.latency import timed_write, timing_writes
from raftkv.node.observer import CommandObserver
from raftkv.node.replica_waits import ReplicaWaits
from raftkv.node.sequencer import Pending, ReplyTo, Sequencer, client_key
from raftkv.node.snapshots import node_state
from raftkv.node.snapshots.snapshot_file import SNAPSHOT_DIR
from raftkv.node.snapshots.snapshotter import Snapshotter
from raftkv.node.transport import Transport
from raftkv.node.user_push import UserPush
from raftkv.raft.log_storage import MemoryStorage
from raftkv.raft.rawnode import RawNode
from raftkv.raft.ready import CommitNotice, DeferredSync, handle_ready, hard_state_to_save, needs_sync
from raftkv.raft.settings import RaftConfig
from raftkv.raft.types import Entry, HardState, Message, MessageType, Ready, Role, Snapshot, SoftState
from raftkv.receive import ReceiveBuffer
from raftkv.sharding.member_sync import MemberSync
from raftkv.sharding.node_hooks import Sharding
from raftkv.wakeup import Wakeup
from raftkv.wire import records
from raftkv.wire.members import Member, decode_members
from raftkv.wire.resp import RequestParser, encode_reply

log = logging.getLogger("raftkv.raft")

_REMOVED = err("this node was removed from the cluster")
# How long a leader leaves an entry it wrote unsynced to its followers before syncing it itself: they
# acknowledge a batch within a millisecond or so under load, so only a slow or lost follower waits.
_OWN_SYNC_DELAY_S = 0.002
# How long a leader waits for a batch's APPEND to carry a new commit index before telling it alone: the
# next batch is usually proposed within a millisecond under load; idle, followers apply this much later.
_COMMIT_NOTICE_DELAY_S = 0.002


def _write_pipe(sock: socket.socket, out: bytearray) -> None:
    """All of ``out`` to a worker's pipe. One non-blocking send nearly always takes it whole; only a
    full pipe pays for a blocking send with a timeout (two mode switches and a poll around it)."""
    try:
        sent = sock.send(out)
    except BlockingIOError:
        sent = 0
    if sent < len(out):
        sock.settimeout(5.0)
        try:
            sock.sendall(out[sent:])
        finally:
            sock.setblocking(False)


class Driver:
    def __init__(self, config: NodeConfig, disk: DiskStorage, pipes: dict[int, socket.socket],
                 peer_listener: socket.socket, control: socket.socket | None = None) -> None:
        self.config = config
        self._start_config = config  # what workers (re)start with; CONFIG SET may have changed ours since
        self.disk = disk
        self.started_at = time.time()
        self.last_save = int(self.started_at)  # LASTSAVE: when this node last wrote a snapshot
        self.startup_memory = info.resident_bytes()
        self.cluster = cluster = Cluster.open(config, disk)
        self.node_id = cluster.node_id
        boots = int(disk.get_meta("boots") or b"0") + 1
        disk.put_meta("boots", b"%d" % boots)
        # Request ids must not repeat across restarts: an entry proposed before a crash may be applied
        # after it, and must not answer a new client.
        self._next_request_id = boots << 40

        self.mem = MemoryStorage()
        self.mem.set_conf_state(cluster.conf_state)
        self._hard_state = disk.hard_state()
        self.soft_state = SoftState()
        self.stats = info.Stats()
        self._tick_s = config.tick_ms / 1000.0
        election_timeout_s = config.election_ticks * self._tick_s

        self._sel = selectors.DefaultSelector()
        self._pipes: dict[int, socket.socket] = {}
        self._parsers: dict[int, RequestParser] = {}
        self._receive = ReceiveBuffer()
        self._out: dict[int, bytearray] = {}
        # The callbacks below reach self.node and self.snapshotter only once the loop runs.
        self.transport = Transport(cluster.me, peer_listener, self._sel, self._step,
                                   lambda peer: self.node.report_unreachable(peer),
                                   lambda src, fields: self.snapshotter.on_chunk(src, fields),
                                   config.cluster_secret, lambda argv: self.admin.peer_command(argv),
                                   self._introduced)
        self.admin = Admin(cluster, lambda: self.node, lambda: self.soft_state, self.reply, self.new_request_id,
                           lambda: founders(disk), self.bootstrap_joined,
                           lambda c, n, i: cluster.learn_removed(disk, c, n, i, self.applier.applied_index),
                           config.requirepass, config.cluster_secret, election_timeout_s,
                           SnapshotSaves(lambda: self.snapshotter, lambda: self.node.status(), self.reply),
                           config.join)
        self.disk_guard = DiskGuard(config.data_dir, config.min_free_disk_bytes)
        self.observer = CommandObserver(config)
        self._sync_latency = Tapped(self.stats.sync_latency, self.observer.latency, "fsync")
        self.config_command = ConfigCommand(config, self._config_changed, self.observer.stats.reset)
        self._server_commands = {b"config": self.config_command.command, b"slowlog": self.observer.slowlog.command,
                                 b"latency": self.observer.latency.command, b"lastsave": lambda _argv: self.last_save}
        stats = self.observer.stats
        self._more_info = {"commandstats": stats.commandstats, "errorstats": stats.errorstats,
                           "latencystats": stats.latencystats}
        self.sequencer = Sequencer(self.reply, self._run_node_command,
                                   info.counting_refusals(self.disk_guard.refusal, self.stats),
                                   config.request_timeout_s, self.observer)
        self.blocking = BlockedClients(self.sequencer.done, self._propose)
        self.replica_waits = ReplicaWaits(self.reply)
        self.clients = NodeClients(lambda worker, frame: self._out[worker].extend(frame), self._pipes.keys,
                                   self.reply, config.workers)
        self.users = UserPush(lambda worker, frame: self._out[worker].extend(frame), self._pipes.keys)
        # A read round is asked again after two heartbeat intervals: a healthy round trip takes far less.
        self.inflight = InFlight(self.node_id, self.new_request_id, self._answer_unapplied,
                                 config.commit_timeout_s, 2 * config.heartbeat_ticks * self._tick_s)
        self.sweeper = ExpirySweeper(self.node_id, self.new_request_id, config.commit_timeout_s)
        self.sharding = Sharding(cluster, self._leader_client_addr,
                                 lambda to, argv, cmd: self.sequencer.submit_in_place(
                                     to.client, to.seq, to.proto, argv, cmd),
                                 lambda addr, argv, timeout_s: call(addr, argv, self.admin.password, timeout_s,
                                                                    self.admin.client_tls),
                                 MemberSync(self.node_id, self.new_request_id, config.commit_timeout_s))
        self.applier = Applier(cluster, disk, self.inflight.waiters,
                               timing_writes(self.sequencer.done, self.stats.commit_latency),
                               self.sweeper.applied,
                               self._update_peers, lambda: self.soft_state.role == Role.LEADER, self.admin,
                               lambda p, reply: self.blocking.outcome(p, reply, time.monotonic()),
                               self.sharding.state)
        self.snapshotter = Snapshotter(config.data_dir / SNAPSHOT_DIR, config.snapshot_entries,
                                       config.catch_up_entries, disk, self.mem, self.transport,
                                       lambda: self.node, self.applier)
        restored = self.snapshotter.restore()
        if restored is not None:
            meta, node_blob, sm = restored
            members, slot_map = node_state.unpack(node_blob)
            self.mem.apply_snapshot(Snapshot(meta, b""))
            self.applier.install(sm, meta, decode_members(members), slot_map)
            # The commit index is written without a sync; the snapshot proves this much was committed.
            if self._hard_state.commit < meta.index:
                self._hard_state = HardState(self._hard_state.term, self._hard_state.vote, meta.index)
        self.mem.set_hard_state(self._hard_state)
        self.mem.append([e for e in disk.entries() if e.index > self.applier.applied_index])
        self.node = self._new_raw_node()
        self._update_peers()
        self.users.applied(self.applier.sm.users)  # the restored table, for the workers attached next

        for worker, sock in pipes.items():
            self._attach_worker(worker, sock)
        if control is not None:
            self._sel.register(control, selectors.EVENT_READ, self._on_control)
        self._sel.register(self.admin.wakeup, selectors.EVENT_READ, lambda _w: self.admin.on_wakeup())
        self._stop = Wakeup()
        self._sel.register(self._stop, selectors.EVENT_READ, self._on_stop)
        self._stopping = False
        self._deferred_sync = DeferredSync(_OWN_SYNC_DELAY_S)
        self._commit_notice = CommitNotice(_COMMIT_NOTICE_DELAY_S)
        # A loop that has not published for ten ticks (and a few seconds) is not coming round.
        self.metrics = (MetricsEndpoint(*config.metrics_addr, max(5.0, 10 * self._tick_s))
                        if config.metrics_addr else None)

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> None:
        next_tick = time.monotonic() + self._tick_s
        select = self._sel.select
        sequencer = self.sequencer
        while not self._stopping:
            wake_at = min(next_tick, self._deferred_sync.due_at, self._commit_notice.due_at)
            events = select(max(0.0, wake_at - time.monotonic()))
            now = time.monotonic()
            sequencer.begin_turn(now)
            for key, _mask in events:
                key.data(key.fileobj)
            if now >= next_tick:
                next_tick = now + self._tick_s
                self._tick(now)
            self._hand_batch_to_core()
            handle_ready(self.node, self)
            # Applying may have released commands held behind others of their connection: start
            # them now rather than after the next select().
            while sequencer.has_started:
                self._hand_batch_to_core()
                handle_ready(self.node, self)
            self._sync_deferred(now)
            self._notify_commit(now)
            self.snapshotter.pump()
            if len(self.replica_waits):
                self.replica_waits.check(self.node.status(), self.cluster.conf_state.voters, now)
            self._flush_replies()

    def _tick(self, now: float) -> None:
        if not self.cluster.removed:  # a removed node must not campaign
            self.node.tick()
        soft = self.soft_state
        if soft.leader and soft.role != Role.LEADER:
            self.inflight.reask_reads(self.node, now)  # a leader's own rounds go again with each heartbeat
        self.inflight.expire(now, bool(soft.leader))
        self.blocking.expire(now)
        self.admin.tick(now)
        taken = self.snapshotter.taken
        self.snapshotter.tick()
        if self.snapshotter.taken != taken:
            self.last_save = int(time.time())
            self.observer.latency.add_if_slow("snapshot", int(self.snapshotter.last_duration_s * 1000))
        self.disk_guard.check()
        if self.soft_state.role == Role.LEADER:
            now_ms = int(time.time() * 1000)
            self.sweeper.sweep(self.node, self.applier.sm, now, now_ms)
            self.sharding.tick(self.node, now, now_ms)
        if self.metrics is not None:
            self.metrics.publish(self._report())

    def request_stop(self) -> None:
        """Async-signal-safe: the loop stops at the end of its current turn."""
        self._stop.notify()

    def close(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
        self.snapshotter.close()
        self.transport.close()
        self.admin.close()
        self.sharding.close()
        self._sel.close()
        for sock in self._pipes.values():
            sock.close()
        self._stop.close()

    def _on_stop(self, wakeup: Wakeup) -> None:
        wakeup.drain()
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
        changed = runtime_config.changed_pairs(self._start_config, self.config)
        if changed:  # a worker restarted with the start-up values
            self._out[worker] += records.config_set(changed)
        self._sel.register(sock, selectors.EVENT_READ, lambda s, w=worker: self._on_pipe(w, s))
        self.clients.worker_attached(worker)
        self.users.attached(worker)

    def _detach_worker(self, worker: int, sock: socket.socket) -> None:
        self._sel.unregister(sock)
        sock.close()
        self._out[worker] = bytearray()
        self.sequencer.drop_worker(worker)
        self.clients.worker_gone(worker)

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
            data = self._receive.recv(sock)
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
        sequencer = self.sequencer
        clients, submit = sequencer.clients, sequencer.submit
        refusal = self._refusal  # only applying entries changes it, and none are applied here
        shards = self.sharding.state
        route = shards.route if shards.routes else None  # None: not sharded, nothing to check
        sm, now_ms = self.applier.sm, int(time.time() * 1000) if route is not None else 0
        requests = 0
        for rec in parser.pop_commands():
            kind = rec[0]
            if kind == records.REQUEST:
                client = clients.get(client_key(worker, int(rec[1])))
                if client is None:  # a request racing its connection's close
                    continue
                requests += 1
                seq, proto, argv = int(rec[2]), 3 if rec[3] == b"3" else 2, rec[4:]
                cmd = TABLE[argv[0].lower()]
                if refusal is not None and not cmd.served_while_removed:
                    self.reply(ReplyTo(client, seq, proto), refusal)
                    self.observer.rejected(cmd, refusal)
                elif route is not None and (moved := route(argv, cmd, sm, now_ms)) is not None:
                    self.reply(ReplyTo(client, seq, proto), moved)
                    self.observer.rejected(cmd, moved)
                else:
                    submit(client, seq, proto, argv, cmd)
            elif kind == records.OPEN:
                sequencer.open(worker, int(rec[1]), rec[2])
                self.stats.connections_received += 1
            elif kind == records.CLOSE:
                sequencer.close(worker, int(rec[1]))
            elif kind == records.STATS:
                self.observer.stats.merge(rec[1:])
            else:  # the node-wide connection commands' records
                self.clients.on_record(worker, rec)
        self.stats.commands_processed += requests
        if parser.error:
            raise RuntimeError(f"corrupt pipe from worker {worker}: {parser.error}")

    def reply(self, to: ReplyTo, value: object) -> None:
        """Queue the answer to one command (also for replies the admin defers)."""
        client = to.client
        if not client.closed:
            records.append_reply(self._out[client.worker], client.conn, to.seq, encode_reply(value, to.proto))

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
                _write_pipe(sock, out)
            except OSError as exc:
                log.warning("worker %d is not reading its replies (%s); disconnecting it", worker, exc)
                del self._pipes[worker]
                self._detach_worker(worker, sock)
            out.clear()

    @property
    def _refusal(self) -> RespError | None:
        """Why this node serves no client commands but INFO and RAFT, if it does not."""
        if self.cluster.removed:
            return _REMOVED
        if not self.cluster.cluster_id:
            return err(f"this node is waiting to join a cluster: run `kvsctl -a <member> member add "
                       f"{self.cluster.me.client_addr}`")
        return None

    def _run_node_command(self, to: ReplyTo, argv: list[bytes]) -> None:
        started_ns = time.perf_counter_ns()
        name = argv[0].lower()
        if name == b"asking":
            self._asked(to, argv)
            return
        if name == b"readonly":  # a READ of a READONLY connection: no read index, possibly stale
            argv = argv[1:]  # counted under its own name; its reply may be a null
            sm, now_ms, shards = self.applier.sm, int(time.time() * 1000), self.sharding.state
            refusal = shards.route_entry(argv, sm, now_ms)[1] if shards.routes else None
            reply = sm.execute(argv, now_ms) if refusal is None else refusal
            self.reply(to, reply)
        else:
            reply = self._node_reply(to, argv)
            if reply is not None:
                self.reply(to, reply)
        self.observer.node_command_done(argv, to.client, started_ns, reply)

    def _asked(self, to: ReplyTo, argv: list[bytes]) -> None:
        """``ASKING <argv>``, a command its connection sent after ASKING, starts as what it is. A read or
        a write keeps the mark while sharded, to be routed with it when served or applied; anything else
        (and everything on a node without a map, which has nothing to import) runs unmarked."""
        cmd = TABLE[argv[1].lower()]
        marked = self.sharding.state.routes and cmd.where in (READ, WRITE)
        self.sequencer.submit_in_place(to.client, to.seq, to.proto, argv if marked else argv[1:], cmd)

    def _node_reply(self, to: ReplyTo, argv: list[bytes]) -> object:
        """The answer to a NODE command (or a LOCAL one its worker forwarded), or None if it comes later."""
        name = argv[0].lower()
        if name == b"raft":
            slots = len(argv) > 1 and argv[1].lower() == b"slots"
            return self.sharding.raft_slots(to, argv) if slots else self.admin.command(to, argv)
        if name == b"cluster":
            return self.sharding.cluster(argv, self.applier.sm)
        if name == b"client" and argv[1].lower() == b"setname":  # the worker has set it; for the slow log
            to.client.name = argv[2]
            return "OK"
        if name == b"monitor" or (name == b"client" and argv[1].lower() != b"unblock"):  # LIST, KILL
            self.clients.command(to, argv)  # answered once every worker has
            return None
        if name == b"client":  # CLIENT UNBLOCK id [TIMEOUT|ERROR], checked by the worker
            worker, conn = records.connection_of(int(argv[2]), self.config.workers)
            return self.blocking.unblock(worker, conn, len(argv) == 4 and argv[3].lower() == b"error")
        if name == b"wait":
            return self.replica_waits.start(to, argv, self.node.status(), self.cluster.conf_state.voters,
                                            time.monotonic())
        server = self._server_commands.get(name)
        if server is not None:
            return server(argv)
        return info.node_command(argv, to.proto, self.applier.sm, self._report, self._more_info)

    def _config_changed(self, config: NodeConfig, pairs: list[bytes]) -> None:
        """CONFIG SET: each part of the Raft process that uses a value takes the new one, and every worker
        is told before the reply leaves (its frame goes first on the pipe of the worker that asked)."""
        self.config = config
        self.sequencer.request_timeout_s = config.request_timeout_s
        self.inflight.commit_timeout_s = self.sweeper.commit_timeout_s = config.commit_timeout_s
        self.snapshotter.snapshot_entries = config.snapshot_entries
        self.admin.password = config.requirepass  # nodes of a cluster share their client password
        self.observer.configure(config)
        frame = records.config_set(pairs)
        for out in self._out.values():
            out += frame

    def _report(self) -> info.NodeReport:
        latest = self.snapshotter.latest
        leader = self.cluster.addresses.get(self.soft_state.leader)
        return info.NodeReport(
            config=self.config, started_at=self.started_at, startup_memory=self.startup_memory,
            connected_clients=len(self.sequencer.clients),
            blocked_clients=len(self.blocking),
            status=self.node.status(), hard_state=self._hard_state, role=self.soft_state.role,
            leader_id=self.soft_state.leader, leader_addr=leader.client_addr if leader else "",
            members=len(self.cluster.members), voters=self.cluster.conf_state.voters,
            membership=self.cluster.membership,
            applied_index=self.applier.applied_index, log_first_index=self.mem.first_index(),
            log_last_index=self.disk.last_index, snapshot_index=latest.meta.index if latest else 0,
            snapshot_size=latest.size if latest else 0, snapshots_taken=self.snapshotter.taken,
            snapshot_last_duration_s=self.snapshotter.last_duration_s,
            snapshot_in_progress=self.snapshotter.in_progress, stats=self.stats.copy(),
            disk_free_bytes=self.disk_guard.free_bytes, disk_full=self.disk_guard.full,
            commands=self.observer.stats.totals(), cluster_enabled=self.sharding.state.routes)

    # -- into the core ----------------------------------------------------------------------------

    def _leader_client_addr(self) -> str:
        leader = self.cluster.addresses.get(self.soft_state.leader)
        return leader.client_addr if leader else ""

    def _propose(self, batch: list[Pending]) -> None:
        self.stats.proposals += len(batch)
        self.inflight.propose(self.node, batch, time.monotonic(), int(time.time() * 1000))

    def _answer_unapplied(self, p: Pending, value: object) -> None:
        """A command answered without being applied here (no leader, not committed in time, a read)."""
        if p.cmd.blocks:
            self.blocking.failed(p)
        self.sequencer.done(p, value)

    def _hand_batch_to_core(self) -> None:
        node, inflight = self.node, self.inflight
        writes = self.sequencer.take_writes()
        if writes:
            self._propose(writes)
        if self.soft_state.leader:
            inflight.retry(node)
        reads = self.sequencer.take_reads()
        if reads:
            inflight.read(node, reads, time.monotonic())

    # -- the ReadyHandler of raftkv.raft.ready ------------------------------------------------------

    def send(self, messages: list[Message]) -> None:
        to_peers = [m for m in messages if m.type != MessageType.SNAPSHOT]
        for m in messages:
            if m.type == MessageType.SNAPSHOT:
                self.snapshotter.send(m)  # streamed in chunks by pump()
        if to_peers:
            self.transport.send(to_peers)
            self.transport.flush()

    def persist(self, rd: Ready) -> bool:
        if rd.snapshot is not None:
            self.snapshotter.install(rd.snapshot)  # its file is synced before the log is replaced
            self.blocking.retry_all()  # a new state: what they wait for may be there
        hs = hard_state_to_save(rd, self._hard_state)
        if hs is None and not rd.entries:
            return rd.snapshot is not None
        must_sync = needs_sync(rd, self._hard_state)
        self._write_log(hs, rd.entries, must_sync)
        if rd.entries:
            self.mem.append(rd.entries)
        if hs is not None:
            self._hard_state = hs
            self.mem.set_hard_state(hs)
        return must_sync

    def _write_log(self, hs: HardState | None, entries: list[Entry], sync: bool) -> None:
        timed_write(partial(self.disk.save, hs, entries, sync), sync, self._sync_latency)
        self.stats.log_writes += 1
        if sync:
            self.stats.log_syncs += 1

    def _sync_deferred(self, now: float) -> None:
        """The entries this leader wrote unsynced that :class:`~raftkv.raft.ready.DeferredSync` says its
        followers have not committed in time are synced, and counted, by the leader itself."""
        node = self.node
        if self._deferred_sync.due(node, now):
            self._write_log(self._hard_state, [], True)
            node.log_synced()
            handle_ready(node, self)  # what counting our own copy commits

    def _notify_commit(self, now: float) -> None:
        """The commit index no batch's APPEND carried in time goes to the followers on its own
        (:class:`~raftkv.raft.ready.CommitNotice`)."""
        node = self.node
        if self._commit_notice.due(node, now):
            node.notify_commit()
            handle_ready(node, self)

    def apply(self, rd: Ready) -> None:
        if rd.soft_state is not None:
            self._on_soft_state(rd.soft_state)
        if rd.committed_entries:
            shards = self.sharding.state
            reroutes = shards.reroutes
            self.applier.apply(self.node, rd.committed_entries)
            self._wake_blocked()
            if shards.reroutes != reroutes and len(self.blocking):
                self.blocking.rerouted()
            self.snapshotter.maybe_take()
        self.users.applied(self.applier.sm.users)
        inflight = self.inflight
        if rd.dropped_proposals:
            inflight.dropped(rd.dropped_proposals)
        inflight.read_states(rd.read_states)
        reads = inflight.reads_ready(self.applier.applied_index)
        if reads:
            sm, served, now_ms = self.applier.sm, self.sequencer.read_served, int(time.time() * 1000)
            shards = self.sharding.state
            routes = shards.routes
            for p in reads:
                if routes:  # routed again: moves applied since it arrived may have sent it elsewhere
                    p.argv, refusal = shards.route_entry(p.argv, sm, now_ms)
                    if refusal is not None:
                        self.sequencer.done(p, refusal)
                        continue
                served(p, sm.execute(p.argv, now_ms))

    def _wake_blocked(self) -> None:
        """Blocked clients whose keys the applied entries changed try again (the state machine notes
        changed keys only while some client here is blocked)."""
        changed = self.applier.sm.take_changed()
        if len(self.blocking):
            self.applier.sm.watch_changes()
            if changed:
                self.blocking.changed(changed)

    def _on_soft_state(self, soft: SoftState) -> None:
        leader_changed = soft.leader != self.soft_state.leader
        if soft.role != self.soft_state.role or leader_changed:
            leader = self.cluster.addresses.get(soft.leader)
            log.info("role %s, term %d, leader %s", soft.role.name.lower(), self.node.status().term,
                     f"{soft.leader} ({leader.client_addr})" if leader else "none")
        self.soft_state = soft
        if leader_changed and soft.leader:
            self.stats.leader_changes += 1
            self.inflight.reask_reads(self.node, time.monotonic(), every=True)
        if leader_changed:
            self.admin.on_leader_changed(soft.leader)

    # -- membership events that change the node itself --------------------------------------------

    def bootstrap_joined(self, cluster_id: str, voters: bytes, founders: bytes, book: bytes) -> object:
        """RAFT BOOTSTRAP: a node waiting to join takes the cluster's founding membership and its current
        address book, then replays the log it receives from the leader like any member."""
        if self.cluster.cluster_id:
            return err("this node already belongs to a cluster")
        self.cluster.join(self.disk, cluster_id, voters, founders, book)
        self.mem.set_conf_state(self.cluster.conf_state)
        self.node = self._new_raw_node()
        self._update_peers()
        log.info("joined cluster %s; waiting for the leader's log", cluster_id)
        return "OK"

    def _step(self, msg: Message) -> None:
        gone = self.cluster.removed_members.get(msg.src)
        if gone is not None:
            self.admin.tell_removed(*gone)  # it does not know yet, or it restarted without knowing
            return
        self.node.step(msg)

    def _introduced(self, member: Member) -> None:
        """A peer announced its addresses: remember a node our log has not named yet (e.g. a leader
        added while we were down), so that our replies reach it."""
        if self.cluster.introduce(self.disk, member):
            self._update_peers()

    def _update_peers(self) -> None:
        self.transport.set_peers(self.cluster.peer_addrs())

    @property
    def hard_state(self) -> HardState:
        return self._hard_state

    def new_request_id(self) -> int:
        rid = self._next_request_id
        self._next_request_id = rid + 1
        return rid

    def _new_raw_node(self) -> RawNode:
        node = RawNode(
            RaftConfig(id=self.node_id, election_ticks=self.config.election_ticks,
                       heartbeat_ticks=self.config.heartbeat_ticks, defer_commit_notices=True),
            self.mem, random.Random(), applied=self.applier.applied_index,
        )
        if self.cluster.single_voter:
            node.campaign()  # a one-voter cluster elects itself at once
        return node
