"""``RAFT ...`` commands: membership changes, leadership transfer, and joining a cluster.

Membership changes go through the log one server at a time (thesis §4.1): a new server joins as a
non-voting learner and is promoted once it has caught up with the leader (thesis §4.2.1); a leader that
removes itself hands leadership over first. Changes are made by the leader: a follower relays these
client-facing commands (behind ``requirepass``) to the leader's client port and passes the answer back.

Snapshots for backup: ``RAFT SNAPSHOT SAVE`` is answered by the leader only (its commit index covers every
acknowledged write; a follower names the leader instead) and ``RAFT SNAPSHOT CHUNK`` by the node that
answered SAVE; :mod:`raftkv.node.backup` does the work.

Joining: a node started with ``--join`` holds no cluster and waits. ``RAFT MEMBER ADD <addr> [<peer_addr>]``
on the leader asks the node's peer address (default: client port + 10000) for its identity (``RAFT
IDENTITY``), refuses a node of another cluster, hands a node of no cluster the founding membership and the
current address book (``RAFT BOOTSTRAP``) so that it replays the log from its start and can answer any
leader, then proposes it as a learner. With the cluster secret, a node started with ``--join`` asks for
this itself (``RAFT JOIN``, :mod:`raftkv.node.self_join`). A node removed before, with its data, is added
back the same way (it needs no bootstrap). ``RAFT IDENTITY``, ``RAFT BOOTSTRAP``, ``RAFT REMOVED`` and
``RAFT JOIN`` are peer-only: they arrive on the peer port behind the cluster secret
(:func:`raftkv.node.transport.peer_call`) and are unknown on a client connection. Blocking network calls
run on short-lived threads; their results come back to the Raft process's loop through a queue and a
:class:`~raftkv.wakeup.Wakeup`, so the loop never waits on a peer.

The admin gets the narrow things it decides on (the member table, the current RawNode and soft state,
a reply callable) and never touches the disk, the state machine or the loop's sockets; joining and
learning of our removal, which change the node itself, are callables the loop hands it.
"""
from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from collections.abc import Callable

from raftkv.client import Client
from raftkv.errors import RespError, err
from raftkv.node.backup import SnapshotSaves
from raftkv.node.cluster import Cluster
from raftkv.node.self_join import JoinRequests, SelfJoin
from raftkv.node.sequencer import ReplyTo
from raftkv.node.transport import peer_call
from raftkv.raft.rawnode import RawNode
from raftkv.raft.types import ConfChange, ConfChangeType, Role, SoftState
from raftkv.wakeup import Wakeup
from raftkv.wire.members import Member, MembershipError, default_peer_addr, encode_members, split_addr
from raftkv.wire.proposal import encode_context

log = logging.getLogger("raftkv.node.admin")

_CALL_TIMEOUT_S = 5.0
_CHANGE_TIMEOUT_S = 30.0
_CAUGHT_UP_ENTRIES = 100  # a learner this close to the leader's log is promoted


class _Refused(Exception):
    """The node asked to join cannot be added; the message says why."""


def call(address: str, argv: list[bytes], password: bytes, timeout_s: float = _CALL_TIMEOUT_S,
         tls: ssl.SSLContext | None = None) -> object:
    """One blocking RESP3 request to a node's client port (run on a helper thread, never on the loop),
    over TLS with ``tls`` if given. Nodes of one cluster share their client password. Raises
    :class:`~raftkv.client.ClientError` (an OSError) when no answer comes."""
    with Client(*split_addr(address), timeout=timeout_s, tls=tls) as client:
        refusal = client.hello(3, b"default", password) if password else client.hello(3)
        return refusal if refusal is not None else client.execute(*argv)


_BUSY = err("another membership change is in progress; try again when it is applied")

class Admin:
    def __init__(self, cluster: Cluster, node: Callable[[], RawNode], soft_state: Callable[[], SoftState],
                 reply: Callable[[ReplyTo, object], None], new_request_id: Callable[[], int],
                 founders: Callable[[], list[bytes]], join: Callable[[str, bytes, bytes, bytes], object],
                 learn_removed: Callable[[str, bytes, int], object], password: bytes, secret: bytes,
                 election_timeout_s: float, saves: SnapshotSaves, join_via: str | None = None) -> None:
        """``node`` and ``soft_state`` return the current RawNode (joining replaces it) and what its last
        Ready said; ``founders`` is what a joining node replays the log from (RAFT BOOTSTRAP); ``join``
        and ``learn_removed`` carry out RAFT BOOTSTRAP and RAFT REMOVED on this node; ``password`` is the
        client ports' and ``secret`` the peer ports'; ``saves`` answers RAFT SNAPSHOT; ``join_via`` is
        ``--join``'s member, asked to add this node (:mod:`raftkv.node.self_join`)."""
        self._cluster = cluster
        self._node = node
        self._soft_state = soft_state
        self._reply = reply
        self._new_request_id = new_request_id
        self._founders = founders
        self._join = join
        self._learn_removed = learn_removed
        self.password = password
        self._secret = secret
        self._election_timeout_s = election_timeout_s
        self._saves = saves
        self._results: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.wakeup = Wakeup()
        self._waiting: dict[int, tuple[ReplyTo, float]] = {}  # request id -> change waiting to apply
        self._transfer: tuple[int, ReplyTo, float] | None = None  # target, waiter, deadline
        self._remove_self: tuple[ReplyTo, float] | None = None
        # Changes waiting for one in progress: (client, attempt, deadline).
        self._deferred: list[tuple[ReplyTo, Callable[[], object | None], float]] = []
        self._told_removed: dict[int, float] = {}  # member id -> when it may be told again
        self._join_requests = JoinRequests(cluster.me.client_addr, password, secret, call, self._in_background,
                                           lambda: self._client_tls)
        self._self_join = (SelfJoin(join_via, lambda: cluster.me, secret, lambda: cluster.awaiting_addition,
                                    self._in_background, lambda: self._peer_tls) if join_via else None)
        self._peer_tls: ssl.SSLContext | None = None
        self._client_tls: ssl.SSLContext | None = None

    @property
    def client_tls(self) -> ssl.SSLContext | None:
        """The context of calls to other nodes' client ports (None: plain TCP)."""
        return self._client_tls

    def secure(self, peer: ssl.SSLContext | None, client: ssl.SSLContext | None) -> None:
        """The TLS client contexts of the calls this admin makes: ``peer`` for other nodes' peer ports
        (tls-replication), ``client`` for the leader's client port (when it is a TLS port)."""
        self._peer_tls = peer
        self._client_tls = client

    def close(self) -> None:
        self._saves.close()
        self.wakeup.close()

    @property
    def _is_leader(self) -> bool:
        return self._soft_state().role == Role.LEADER

    # -- plumbing between helper threads and the loop ---------------------------------------------

    def _in_background(self, work: Callable[[], Callable[[], None]]) -> None:
        """Run ``work`` on a thread; the callable it returns runs later on the loop."""

        def run() -> None:
            try:
                done = work()
            except Exception as exc:  # a thread must hand every failure back to the loop
                message = str(exc) or type(exc).__name__
                done = lambda: log.warning("admin request failed: %s", message)  # noqa: E731
            self._results.put(done)
            self.wakeup.notify()

        threading.Thread(target=run, daemon=True).start()

    def on_wakeup(self) -> None:
        self.wakeup.drain()
        while True:
            try:
                done = self._results.get_nowait()
            except queue.Empty:
                return
            done()

    # -- the commands -----------------------------------------------------------------------------

    def peer_command(self, argv: list[bytes]) -> object:
        """Answer a peer-only ``RAFT ...`` request that came in on the peer port."""
        sub = argv[1].lower() if len(argv) > 1 and argv[0].lower() == b"raft" else b""
        if sub == b"identity" and len(argv) == 2:
            return self._identity()
        if sub == b"bootstrap" and len(argv) == 6:
            return self._join(argv[2].decode(), argv[3], argv[4], argv[5])
        if sub == b"removed" and len(argv) == 5 and argv[4].isdigit():
            return self._learn_removed(argv[2].decode(), argv[3], int(argv[4]))
        if sub == b"join" and len(argv) == 4:
            return self._join_requests.answer(argv[2], argv[3])
        return err("unknown peer request. Try RAFT IDENTITY|BOOTSTRAP|REMOVED|JOIN.")

    def command(self, to: ReplyTo, argv: list[bytes]) -> object | None:
        """Answer a client's ``RAFT ...``: a reply value now, or None when the reply will come later."""
        return self._unless_busy(to, lambda: self._command(to, argv))

    def _unless_busy(self, to: ReplyTo, attempt: Callable[[], object | None], deadline: float | None = None,
                     now: float | None = None) -> object | None:
        """``attempt()``'s reply, or None if it was refused because another change (or a new leader's
        first entry) is not applied yet: it is then tried again on each tick until ``deadline`` (two
        election timeouts from now by default), as that one applies within moments, and a change sent
        right after another (a learner's promotion, a leadership transfer) should not fail for it."""
        reply = attempt()
        if reply is not _BUSY:
            return reply
        now = time.monotonic() if now is None else now
        deadline = now + 2 * self._election_timeout_s if deadline is None else deadline
        if now >= deadline:
            return reply
        self._deferred.append((to, attempt, deadline))
        return None

    def _command(self, to: ReplyTo, argv: list[bytes]) -> object | None:
        sub = [a.lower() for a in argv[1:3]]
        if sub[:1] == [b"snapshot"]:
            return self._snapshot(to, argv)
        arity = (4, 5) if sub == [b"member", b"add"] else (4,)
        if sub in ([b"member", b"add"], [b"member", b"remove"], [b"leader", b"transfer"]) and len(argv) not in arity:
            return err(f"wrong number of arguments for 'raft|{sub[0].decode()}|{sub[1].decode()}' command")
        if sub == [b"member", b"list"] and len(argv) != 3:
            return err("wrong number of arguments for 'raft|member|list' command")
        if sub not in ([b"member", b"add"], [b"member", b"remove"], [b"member", b"list"],
                       [b"leader", b"transfer"]):
            return err("unknown subcommand. Try RAFT MEMBER ADD|REMOVE|LIST, RAFT LEADER TRANSFER or "
                       "RAFT SNAPSHOT SAVE.")
        if not self._is_leader:
            return self._relay_to_leader(to, argv)
        if sub == [b"member", b"list"]:
            return self.member_list()
        target = argv[3].decode("utf-8", "replace")
        if sub == [b"member", b"add"]:
            return self._add(to, target, argv[4].decode("utf-8", "replace") if len(argv) == 5 else None)
        if sub == [b"member", b"remove"]:
            return self._remove(to, target)
        return self._transfer_to(to, target)

    def _snapshot(self, to: ReplyTo, argv: list[bytes]) -> object | None:
        sub = argv[2].lower() if len(argv) > 2 else b""
        if sub == b"chunk" and len(argv) == 5:
            return self._saves.chunk(argv)
        if sub != b"save" or len(argv) != 3:
            return err("unknown subcommand or wrong number of arguments. Try RAFT SNAPSHOT SAVE, "
                       "then RAFT SNAPSHOT CHUNK <id> <offset>.")
        if not self._is_leader:
            leader = self._cluster.addresses.get(self._soft_state().leader)
            return err("not the leader: save the snapshot from the leader"
                       + (f" at {leader.client_addr}" if leader is not None else " (none known now)"))
        self._saves.save(to)
        return None

    def _identity(self) -> object:
        cluster = self._cluster
        me = cluster.me
        return {b"id": cluster.node_id, b"client_addr": me.client_addr.encode(),
                b"peer_addr": me.peer_addr.encode(), b"cluster_id": cluster.cluster_id.encode()}

    def _relay_to_leader(self, to: ReplyTo, argv: list[bytes]) -> object | None:
        leader = self._cluster.addresses.get(self._soft_state().leader)
        if leader is None:
            return RespError("CLUSTERDOWN no leader")

        def work() -> Callable[[], None]:
            try:
                reply = call(leader.client_addr, argv, self.password, _CHANGE_TIMEOUT_S, self._client_tls)
            except OSError as exc:
                reply = err(f"cannot reach the leader at {leader.client_addr}: {exc}")
            return lambda: self._reply(to, reply)

        self._in_background(work)
        return None

    def member_list(self) -> list[dict[bytes, object]]:
        cluster = self._cluster
        status = self._node().status()
        last = status.last_index
        rows = []
        for member in sorted(cluster.members.values(), key=lambda m: m.client_addr):
            match = status.match_of(member.id)
            rows.append({
                b"id": member.id,
                b"client_addr": member.client_addr.encode(),
                b"peer_addr": member.peer_addr.encode(),
                b"role": b"learner" if member.id in cluster.conf_state.learners else b"voter",
                b"leader": 1 if member.id == cluster.node_id else 0,
                b"match": match,
                b"lag": max(0, last - match),
            })
        return rows

    def _resolve(self, target: str) -> Member | RespError:
        member = self._cluster.resolve(target)
        return member if member is not None else err(f"no member {target} in this cluster")

    def _propose(self, to: ReplyTo, change_type: ConfChangeType, node_id: int,
                 member: Member | None = None) -> object | None:
        """Propose a change whose reply waits for it to be applied."""
        rid = self._new_request_id()
        change = ConfChange(change_type, node_id, encode_context(self._cluster.node_id, rid, member))
        if not self._node().propose_conf_change(change):
            return _BUSY
        self._waiting[rid] = (to, time.monotonic() + _CHANGE_TIMEOUT_S)
        return None

    def _add(self, to: ReplyTo, address: str, peer_addr: str | None) -> object | None:
        try:
            split_addr(address)
            peer_addr = peer_addr or default_peer_addr(address)
            split_addr(peer_addr)
        except MembershipError as exc:
            return err(str(exc))
        if any(m.client_addr == address for m in self._cluster.members.values()):
            return err(f"{address} is already a member of this cluster")
        cluster_id = self._cluster.cluster_id
        bootstrap = [b"RAFT", b"BOOTSTRAP", cluster_id.encode(), *self._founders(),
                     encode_members(self._cluster.addresses)]
        secret, me, tls = self._secret, self._cluster.node_id, self._peer_tls

        def work() -> Callable[[], None]:
            try:
                identity = peer_call(peer_addr, [b"RAFT", b"IDENTITY"], secret, me, tls=tls)
                if isinstance(identity, RespError) or not isinstance(identity, dict):
                    raise _Refused(f"{peer_addr} is not the peer port of a raftkv node")
                theirs = identity[b"cluster_id"].decode()
                if theirs and theirs != cluster_id:
                    raise _Refused(f"{address} belongs to another cluster ({theirs})")
                member = Member(identity[b"id"], address, peer_addr)
                if not theirs:
                    answer = peer_call(peer_addr, bootstrap, secret, me, tls=tls)
                    if isinstance(answer, RespError):
                        raise _Refused(f"{address} refused to join: {answer.message}")
            except (_Refused, OSError) as exc:
                # (exc is unbound after the block: the reply is built now.)
                reply = err(str(exc) if isinstance(exc, _Refused) else _unreachable(address, peer_addr, exc))
                return lambda: self._reply(to, reply)
            return lambda: self._add_learner(to, member)

        self._in_background(work)
        return None

    def _add_learner(self, to: ReplyTo, member: Member) -> None:
        """The identity checks are done: propose the learner (waiting, as any change, for one in
        progress, e.g. the promotion of the learner added just before)."""
        reply = self._unless_busy(to, lambda: self._propose_learner(to, member))
        if reply is not None:
            self._reply(to, reply)

    def _propose_learner(self, to: ReplyTo, member: Member) -> object | None:
        if not self._is_leader:
            return RespError("TRYAGAIN leadership changed; retry")
        if member.id in self._cluster.members:
            known = self._cluster.members[member.id]
            return err(f"{member.client_addr} is already a member (as {known.client_addr})")
        return self._propose(to, ConfChangeType.ADD_LEARNER, member.id, member)

    def _remove(self, to: ReplyTo, target: str) -> object | None:
        member = self._resolve(target)
        if isinstance(member, RespError):
            return member
        voters = self._cluster.conf_state.voters
        if voters == (member.id,):
            return err("cannot remove the last voter of the cluster")
        if member.id == self._cluster.node_id and len(voters) > 1:
            # Hand leadership to the most caught-up voter first; the new leader then removes us.
            successor = self._best_voter()
            if successor is not None:
                self._node().transfer_leadership(successor)
                self._remove_self = (to, time.monotonic() + _CHANGE_TIMEOUT_S)
                return None
        return self._propose(to, ConfChangeType.REMOVE, member.id)

    def _best_voter(self) -> int | None:
        status = self._node().status()
        others = [v for v in self._cluster.conf_state.voters if v != self._cluster.node_id]
        return max(others, key=status.match_of, default=None)

    def _transfer_to(self, to: ReplyTo, target: str) -> object | None:
        member = self._resolve(target)
        if isinstance(member, RespError):
            return member
        if member.id == self._cluster.node_id:
            return "OK"
        if member.id not in self._cluster.conf_state.voters:
            return err(f"{member.client_addr} is not a voter")
        self._node().transfer_leadership(member.id)
        self._transfer = (member.id, to, time.monotonic() + 2 * self._election_timeout_s)
        return None

    def tell_removed(self, member: Member, index: int) -> None:
        """Best effort: tell a removed member so, on its peer port, naming the index of the removal (a
        node that has applied past it knows better, e.g. that it was added back since). Once removed it
        gets no more entries, so it may never apply its own removal; and after a restart it would keep
        asking for votes. Called when the change applies, and whenever the removed node still sends us
        messages."""
        now = time.monotonic()
        if self._told_removed.get(member.id, 0.0) > now:
            return
        self._told_removed[member.id] = now + _CALL_TIMEOUT_S
        argv = [b"RAFT", b"REMOVED", self._cluster.cluster_id.encode(), b"%d" % member.id, b"%d" % index]
        secret, me, tls = self._secret, self._cluster.node_id, self._peer_tls

        def work() -> Callable[[], None]:
            try:
                peer_call(member.peer_addr, argv, secret, me, tls=tls)
            except OSError as exc:
                reason = str(exc)
                return lambda: log.info("could not tell %s it was removed: %s", member.client_addr, reason)
            return lambda: log.info("told %s it was removed from the cluster", member.client_addr)

        self._in_background(work)

    # -- events from the loop ---------------------------------------------------------------------

    def on_applied(self, origin: int, request_id: int, change: ConfChange) -> None:
        if change.type == ConfChangeType.ADD_LEARNER:
            self._told_removed.pop(change.node_id, None)  # added back: a later removal is told at once
        if origin != self._cluster.node_id:
            return
        waiting = self._waiting.pop(request_id, None)
        if waiting is not None:
            to, _deadline = waiting
            self._reply(to, "OK")

    def on_leader_changed(self, leader: int) -> None:
        if self._transfer is not None and leader == self._transfer[0]:
            _target, to, _deadline = self._transfer
            self._transfer = None
            self._reply(to, "OK")
        if self._remove_self is not None and leader and leader != self._cluster.node_id:
            to, _deadline = self._remove_self
            self._remove_self = None
            self._relay_to_leader(to, [b"RAFT", b"MEMBER", b"REMOVE", b"%d" % self._cluster.node_id])

    def tick(self, now: float) -> None:
        deferred, self._deferred = self._deferred, []
        for to, attempt, deadline in deferred:
            reply = self._unless_busy(to, attempt, deadline, now)
            if reply is not None:
                self._reply(to, reply)
        self._saves.tick(now)
        if self._self_join is not None:
            self._self_join.tick(now)
        for rid, (to, deadline) in list(self._waiting.items()):
            if deadline <= now:
                del self._waiting[rid]
                self._reply(to, RespError("TRYAGAIN the membership change was not applied in time"))
        if self._transfer is not None and self._transfer[2] <= now:
            _target, to, _deadline = self._transfer
            self._transfer = None
            self._reply(to, err("leadership transfer did not complete in time"))
        if self._remove_self is not None and self._remove_self[1] <= now:
            to, _deadline = self._remove_self
            self._remove_self = None
            self._reply(to, err("leadership transfer before removal did not complete"))
        if self._is_leader:
            self._promote_caught_up_learners()

    def _promote_caught_up_learners(self) -> None:
        learners = self._cluster.conf_state.learners
        if not learners:
            return
        status = self._node().status()
        for learner in learners:
            match = status.match_of(learner)
            if match and status.last_index - match <= _CAUGHT_UP_ENTRIES:
                rid = self._new_request_id()
                context = encode_context(self._cluster.node_id, rid, None)
                change = ConfChange(ConfChangeType.PROMOTE, learner, context)
                if self._node().propose_conf_change(change):
                    log.info("promoting learner %d to voter (match %d of %d)", learner, match,
                             status.last_index)
                return  # one change at a time


def _unreachable(address: str, peer_addr: str, exc: OSError) -> str:
    return (f"cannot reach {address} at its peer address {peer_addr}: {exc.strerror or exc} "
            f"(give its peer address: MEMBER ADD {address} <peer_host:peer_port>)")
