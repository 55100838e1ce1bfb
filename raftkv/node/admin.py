"""``RAFT ...`` commands: membership changes, leadership transfer, and joining a cluster.

Membership changes go through the log one server at a time (thesis §4.1): a new server joins as a
non-voting learner and is promoted once it has caught up with the leader (thesis §4.2.1); a leader that
removes itself hands leadership over first. Changes are made by the leader: a follower relays these
commands to the leader's client port and passes the answer back.

Joining: a node started with ``--join`` holds no cluster and waits. ``RAFT MEMBER ADD <addr>`` on the
leader asks that address for its identity (``RAFT IDENTITY``), refuses a node of another cluster, hands it
the cluster's founding membership (``RAFT BOOTSTRAP``) so that it can replay the log from its start, then
proposes it as a learner. Blocking network calls run on short-lived threads; their results come back to
the Raft process's loop through a queue and a wakeup socket, so the loop never waits on a peer.
"""
from __future__ import annotations

import json
import logging
import queue
import socket
import threading
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Callable

from raftkv.wire import proposal
from raftkv.errors import RespError, err
from raftkv.node.cluster import Member, MembershipError, split_addr
from raftkv.raft.types import ConfChange, ConfChangeType, Role
from raftkv.wire.resp import NEED_MORE, Reader, encode_command

if TYPE_CHECKING:
    from raftkv.node.loop import Driver, _Client

log = logging.getLogger("raftkv.node.admin")

_CALL_TIMEOUT_S = 5.0
_CHANGE_TIMEOUT_S = 30.0
_CAUGHT_UP_ENTRIES = 100  # a learner this close to the leader's log is promoted


class _Refused(Exception):
    """The node asked to join cannot be added; the message says why."""


def call(address: str, argv: list[bytes], password: bytes, timeout_s: float = _CALL_TIMEOUT_S) -> object:
    """One blocking RESP3 request to a node's client port (run on a helper thread, never on the loop).
    Nodes of one cluster share their client password."""
    host, port = split_addr(address)
    hello = [b"HELLO", b"3"] + ([b"AUTH", b"default", password] if password else [])
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.sendall(encode_command(hello) + encode_command(argv))
        reader = Reader()
        replies: list[object] = []
        while len(replies) < 2:
            data = sock.recv(1 << 16)
            if not data:
                raise ConnectionError(f"{address} closed the connection")
            reader.feed(data)
            while (value := reader.gets()) is not NEED_MORE:
                replies.append(value)
        return replies[1]


def encode_context(origin: int, request_id: int, member: Member | None) -> bytes:
    body = json.dumps(asdict(member)).encode() if member else b""
    return proposal.encode_head(origin, request_id, 0) + body


def decode_context(context: bytes) -> tuple[int, int, Member | None]:
    origin, request_id, _ = proposal.decode_head(context)
    body = context[proposal.HEAD_SIZE:]
    return origin, request_id, Member(**json.loads(body)) if body else None


class Admin:
    def __init__(self, driver: Driver) -> None:
        self.d = driver
        self._results: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.wakeup_r, self._wakeup_w = socket.socketpair()
        self.wakeup_r.setblocking(False)
        self._wakeup_w.setblocking(False)
        # request id -> (client, seq, proto, deadline) of a change waiting to be applied
        self._waiting: dict[int, tuple[_Client, int, int, float]] = {}
        self._transfer: tuple[int, _Client, int, int, float] | None = None  # target, waiter, deadline
        self._remove_self: tuple[_Client, int, int, float] | None = None
        self._told_removed: dict[int, float] = {}  # member id -> when it may be told again

    def close(self) -> None:
        self.wakeup_r.close()
        self._wakeup_w.close()

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
            try:
                self._wakeup_w.send(b"r")
            except OSError:
                pass

        threading.Thread(target=run, daemon=True).start()

    def on_wakeup(self) -> None:
        try:
            while self.wakeup_r.recv(4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                done = self._results.get_nowait()
            except queue.Empty:
                return
            done()

    # -- the commands -----------------------------------------------------------------------------

    def command(self, client: _Client, seq: int, proto: int, argv: list[bytes]) -> object | None:
        """Answer ``RAFT ...``: a reply value now, or None when the reply will come later."""
        sub = [a.lower() for a in argv[1:3]]
        if sub[:1] == [b"identity"]:
            return self._identity()
        if sub[:1] == [b"bootstrap"] and len(argv) == 5:
            return self.d.bootstrap_joined(argv[2].decode(), argv[3], argv[4])
        if sub[:1] == [b"removed"] and len(argv) == 4:
            return self.d.learn_removed(argv[2].decode(), argv[3])
        if sub in ([b"member", b"add"], [b"member", b"remove"], [b"leader", b"transfer"]) and len(argv) != 4:
            return err(f"wrong number of arguments for 'raft|{sub[0].decode()}|{sub[1].decode()}' command")
        if sub == [b"member", b"list"] and len(argv) != 3:
            return err("wrong number of arguments for 'raft|member|list' command")
        if sub not in ([b"member", b"add"], [b"member", b"remove"], [b"member", b"list"],
                       [b"leader", b"transfer"]):
            return err("unknown subcommand. Try RAFT MEMBER ADD|REMOVE|LIST or RAFT LEADER TRANSFER.")
        if self.d.role != Role.LEADER:
            return self._relay_to_leader(client, seq, proto, argv)
        if sub == [b"member", b"list"]:
            return self.member_list()
        target = argv[3].decode("utf-8", "replace")
        if sub == [b"member", b"add"]:
            return self._add(client, seq, proto, target)
        if sub == [b"member", b"remove"]:
            return self._remove(client, seq, proto, target)
        return self._transfer_to(client, seq, proto, target)

    def _identity(self) -> object:
        me = self.d.me
        return {b"id": self.d.node_id, b"client_addr": me.client_addr.encode(),
                b"peer_addr": me.peer_addr.encode(), b"cluster_id": self.d.cluster_id.encode()}

    def _relay_to_leader(self, client: _Client, seq: int, proto: int, argv: list[bytes]) -> object | None:
        leader = self.d.leader_member
        if leader is None:
            return RespError("CLUSTERDOWN no leader")

        def work() -> Callable[[], None]:
            try:
                reply = call(leader.client_addr, argv, self.d.config.requirepass, _CHANGE_TIMEOUT_S)
            except OSError as exc:
                reply = err(f"cannot reach the leader at {leader.client_addr}: {exc}")
            return lambda: self.d.reply(client, seq, proto, reply)

        self._in_background(work)
        return None

    def member_list(self) -> list[dict[bytes, object]]:
        d = self.d
        status = d.node.status()
        last = status.last_index
        rows = []
        for member in sorted(d.members.values(), key=lambda m: m.client_addr):
            match = status.match_of(member.id)
            rows.append({
                b"id": member.id,
                b"client_addr": member.client_addr.encode(),
                b"peer_addr": member.peer_addr.encode(),
                b"role": b"learner" if member.id in d.conf_state.learners else b"voter",
                b"leader": 1 if member.id == d.node_id else 0,
                b"match": match,
                b"lag": max(0, last - match),
            })
        return rows

    def _resolve(self, target: str) -> Member | RespError:
        for member in self.d.members.values():
            if target in (member.client_addr, str(member.id)):
                return member
        return err(f"no member {target} in this cluster")

    def _propose(self, client: _Client, seq: int, proto: int, change_type: ConfChangeType, node_id: int,
                 member: Member | None = None) -> object | None:
        """Propose a change whose reply waits for it to be applied."""
        rid = self.d.new_request_id()
        change = ConfChange(change_type, node_id, encode_context(self.d.node_id, rid, member))
        if not self.d.node.propose_conf_change(change):
            return err("another membership change is in progress; try again when it is applied")
        self._waiting[rid] = (client, seq, proto, time.monotonic() + _CHANGE_TIMEOUT_S)
        return None

    def _add(self, client: _Client, seq: int, proto: int, address: str) -> object | None:
        try:
            split_addr(address)
        except MembershipError as exc:
            return err(str(exc))
        if any(m.client_addr == address for m in self.d.members.values()):
            return err(f"{address} is already a member of this cluster")
        cluster_id = self.d.cluster_id
        founders = self.d.founders

        def work() -> Callable[[], None]:
            try:
                password = self.d.config.requirepass
                identity = call(address, [b"RAFT", b"IDENTITY"], password)
                if isinstance(identity, RespError) or not isinstance(identity, dict):
                    raise _Refused(f"{address} is not a raftkv node waiting to join")
                theirs = identity[b"cluster_id"].decode()
                if theirs and theirs != cluster_id:
                    raise _Refused(f"{address} belongs to another cluster ({theirs})")
                member = Member(identity[b"id"], address, identity[b"peer_addr"].decode())
                if not theirs:
                    answer = call(address, [b"RAFT", b"BOOTSTRAP", cluster_id.encode(), *founders], password)
                    if isinstance(answer, RespError):
                        raise _Refused(f"{address} refused to join: {answer.message}")
            except (_Refused, OSError) as exc:
                # (exc is unbound after the block: the reply is built now.)
                reason = str(exc) if isinstance(exc, _Refused) else f"cannot reach {address}: {exc.strerror or exc}"
                reply = err(reason)
                return lambda: self.d.reply(client, seq, proto, reply)
            return lambda: self._add_learner(client, seq, proto, member)

        self._in_background(work)
        return None

    def _add_learner(self, client: _Client, seq: int, proto: int, member: Member) -> None:
        if self.d.role != Role.LEADER:
            self.d.reply(client, seq, proto, RespError("TRYAGAIN leadership changed; retry"))
            return
        if member.id in self.d.members:
            self.d.reply(client, seq, proto, err(f"{member.client_addr} is already a member"))
            return
        reply = self._propose(client, seq, proto, ConfChangeType.ADD_LEARNER, member.id, member)
        if reply is not None:
            self.d.reply(client, seq, proto, reply)

    def _remove(self, client: _Client, seq: int, proto: int, target: str) -> object | None:
        member = self._resolve(target)
        if isinstance(member, RespError):
            return member
        voters = self.d.conf_state.voters
        if voters == (member.id,):
            return err("cannot remove the last voter of the cluster")
        if member.id == self.d.node_id and len(voters) > 1:
            # Hand leadership to the most caught-up voter first; the new leader then removes us.
            successor = self._best_voter()
            if successor is not None:
                self.d.node.transfer_leadership(successor)
                self._remove_self = (client, seq, proto, time.monotonic() + _CHANGE_TIMEOUT_S)
                return None
        return self._propose(client, seq, proto, ConfChangeType.REMOVE, member.id)

    def _best_voter(self) -> int | None:
        status = self.d.node.status()
        others = [v for v in self.d.conf_state.voters if v != self.d.node_id]
        return max(others, key=status.match_of, default=None)

    def _transfer_to(self, client: _Client, seq: int, proto: int, target: str) -> object | None:
        member = self._resolve(target)
        if isinstance(member, RespError):
            return member
        if member.id == self.d.node_id:
            return "OK"
        if member.id not in self.d.conf_state.voters:
            return err(f"{member.client_addr} is not a voter")
        self.d.node.transfer_leadership(member.id)
        self._transfer = (member.id, client, seq, proto, time.monotonic() + 2 * self.d.election_timeout_s)
        return None

    def tell_removed(self, member: Member) -> None:
        """Best effort: tell a removed member so, on its client port. Once removed it gets no more
        entries, so it may never apply its own removal; and after a restart it would keep asking for
        votes. Called when the change applies, and whenever the removed node still sends us messages."""
        now = time.monotonic()
        if self._told_removed.get(member.id, 0.0) > now:
            return
        self._told_removed[member.id] = now + _CALL_TIMEOUT_S
        argv = [b"RAFT", b"REMOVED", self.d.cluster_id.encode(), b"%d" % member.id]
        password = self.d.config.requirepass

        def work() -> Callable[[], None]:
            try:
                call(member.client_addr, argv, password)
            except OSError as exc:
                reason = str(exc)
                return lambda: log.info("could not tell %s it was removed: %s", member.client_addr, reason)
            return lambda: log.info("told %s it was removed from the cluster", member.client_addr)

        self._in_background(work)

    # -- events from the loop ---------------------------------------------------------------------

    def on_applied(self, origin: int, request_id: int, change: ConfChange) -> None:
        if origin != self.d.node_id:
            return
        waiting = self._waiting.pop(request_id, None)
        if waiting is not None:
            client, seq, proto, _deadline = waiting
            self.d.reply(client, seq, proto, "OK")

    def on_leader_changed(self, leader: int) -> None:
        if self._transfer is not None and leader == self._transfer[0]:
            _target, client, seq, proto, _deadline = self._transfer
            self._transfer = None
            self.d.reply(client, seq, proto, "OK")
        if self._remove_self is not None and leader and leader != self.d.node_id:
            client, seq, proto, _deadline = self._remove_self
            self._remove_self = None
            self._relay_to_leader(client, seq, proto,
                                  [b"RAFT", b"MEMBER", b"REMOVE", b"%d" % self.d.node_id])

    def tick(self, now: float) -> None:
        for rid, (client, seq, proto, deadline) in list(self._waiting.items()):
            if deadline <= now:
                del self._waiting[rid]
                self.d.reply(client, seq, proto,
                                   RespError("TRYAGAIN the membership change was not applied in time"))
        if self._transfer is not None and self._transfer[4] <= now:
            _target, client, seq, proto, _deadline = self._transfer
            self._transfer = None
            self.d.reply(client, seq, proto, err("leadership transfer did not complete in time"))
        if self._remove_self is not None and self._remove_self[3] <= now:
            client, seq, proto, _deadline = self._remove_self
            self._remove_self = None
            self.d.reply(client, seq, proto, err("leadership transfer before removal did not complete"))
        if self.d.role == Role.LEADER:
            self._promote_caught_up_learners()

    def _promote_caught_up_learners(self) -> None:
        learners = self.d.conf_state.learners
        if not learners:
            return
        status = self.d.node.status()
        for learner in learners:
            match = status.match_of(learner)
            if match and status.last_index - match <= _CAUGHT_UP_ENTRIES:
                rid = self.d.new_request_id()
                change = ConfChange(ConfChangeType.PROMOTE, learner, encode_context(self.d.node_id, rid, None))
                if self.d.node.propose_conf_change(change):
                    log.info("promoting learner %d to voter (match %d of %d)", learner, match,
                             status.last_index)
                return  # one change at a time
