"""``--join`` with the cluster secret: a new node asks a member to add it, with no ``kvsctl member add``.

The joiner's half, :class:`SelfJoin`: while the node is not in its applied configuration, it asks the
member named by ``--join`` (on its peer port, whose handshake carries the cluster secret) with the
peer-only ``RAFT JOIN <client_addr> <peer_addr>``, again every few seconds until the leader's log names
it. Without a cluster secret of its own it does not ask: a node that cannot prove it belongs waits for an
operator's ``member add``, as before.

The member's half, :class:`JoinRequests`: a request that passed the handshake is from a node that knows
the secret, so the member adds it exactly as ``RAFT MEMBER ADD`` does (on its own client port, which
relays to the leader: identity check, bootstrap, learner, promotion once caught up) and logs the outcome.
A member of a cluster without a secret refuses: anyone could reach its peer port.

Both halves run their blocking calls through ``in_background`` (the admin's helper threads) and never
block the loop; each refusal is logged once, not at every retry.
"""
from __future__ import annotations

import logging
import ssl
from collections.abc import Callable

from raftkv.client import ConnectionClosed
from raftkv.errors import RespError, err
from raftkv.node.transport import peer_call
from raftkv.wire.members import Member, MembershipError, parse_member, split_addr

log = logging.getLogger("raftkv.node.self_join")

Background = Callable[[Callable[[], Callable[[], None]]], None]

ASK_INTERVAL_S = 3.0
_ADD_TIMEOUT_S = 30.0


class SelfJoin:
    def __init__(self, via: str, me: Callable[[], Member], secret: bytes, waiting: Callable[[], bool],
                 in_background: Background, tls: Callable[[], ssl.SSLContext | None] = lambda: None,
                 interval_s: float = ASK_INTERVAL_S) -> None:
        """``via`` is ``--join``'s ``host:port[@peer_host:peer_port]``; ``me`` this node's addresses;
        ``waiting`` whether the node is still outside its applied configuration; ``tls`` the context of
        the peer links (tls-replication), if any."""
        member = parse_member(via)
        self._via, self._peer_addr = member.client_addr, member.peer_addr
        self._me = me
        self._secret = secret
        self._waiting = waiting
        self._in_background = in_background
        self._tls = tls
        self._interval_s = interval_s
        self._next_ask = 0.0
        self._asking = False
        self._last_outcome = ""
        if not secret:
            log.warning("no --cluster-secret: not asking %s to add this node; waiting to be added "
                        "(`kvsctl -a %s member add %s`)", self._via, self._via, me().client_addr)

    def tick(self, now: float) -> None:
        if not self._secret or self._asking or now < self._next_ask or not self._waiting():
            return
        self._asking = True
        self._next_ask = now + self._interval_s
        me, secret, tls = self._me(), self._secret, self._tls()
        argv = [b"RAFT", b"JOIN", me.client_addr.encode(), me.peer_addr.encode()]

        def work() -> Callable[[], None]:
            try:
                answer = peer_call(self._peer_addr, argv, secret, me.id, tls=tls)
            except OSError as exc:
                # A member that closes without answering refused our secret in its handshake; anything
                # else is the network.
                outcome = (f"{self._via} refused to add this node: the cluster secret does not match "
                           if isinstance(exc, ConnectionClosed)
                           else f"cannot reach {self._via} at {self._peer_addr}: {exc}")
                return lambda: self._done(outcome, logging.WARNING)
            if isinstance(answer, RespError):
                return lambda: self._done(f"{self._via} refused to add this node: {answer.message}", logging.WARNING)
            return lambda: self._done(f"asked {self._via} to add this node; waiting for the leader's log",
                                      logging.INFO)

        self._in_background(work)

    def _done(self, outcome: str, level: int) -> None:
        self._asking = False
        if outcome != self._last_outcome:
            self._last_outcome = outcome
            log.log(level, "%s", outcome if level == logging.INFO else f"{outcome}; asking again, or waiting "
                    "to be added with `kvsctl member add`")


class JoinRequests:
    def __init__(self, own_client_addr: str, password: bytes, secret: bytes,
                 add: Callable[[str, list[bytes], bytes, float, ssl.SSLContext | None], object],
                 in_background: Background, tls: Callable[[], ssl.SSLContext | None] = lambda: None) -> None:
        """``add`` is :func:`raftkv.node.admin.call`: one request to a client port (this node's own, over
        TLS with ``tls()`` when that is a TLS port)."""
        self._own = own_client_addr
        self._tls = tls
        self._password = password
        self._secret = secret
        self._add = add
        self._in_background = in_background
        self._adding: set[str] = set()  # addresses being added: a joiner asking again is not added twice

    def answer(self, client_addr: bytes, peer_addr: bytes) -> object:
        """RAFT JOIN from a node that passed the handshake: OK (the add runs in the background)."""
        if not self._secret:
            return err("this cluster has no cluster secret: a node cannot add itself; run `kvsctl member add`")
        try:
            address, peer = client_addr.decode(), peer_addr.decode()
            split_addr(address)
            split_addr(peer)
        except (UnicodeDecodeError, MembershipError) as exc:
            return err(f"bad address: {exc}")
        if address in self._adding:
            return "OK"
        self._adding.add(address)
        argv = [b"RAFT", b"MEMBER", b"ADD", client_addr, peer_addr]
        tls = self._tls()

        def work() -> Callable[[], None]:
            try:
                reply = self._add(self._own, argv, self._password, _ADD_TIMEOUT_S, tls)
            except OSError as exc:
                reply = err(f"cannot reach this node's client port: {exc}")
            return lambda: self._added(address, reply)

        log.info("%s asks to join the cluster; adding it", address)
        self._in_background(work)
        return "OK"

    def _added(self, address: str, reply: object) -> None:
        self._adding.discard(address)
        if isinstance(reply, RespError):
            log.warning("could not add %s, which asked to join: %s", address, reply.message)
        else:
            log.info("added %s, which asked to join (a learner until it catches up)", address)
