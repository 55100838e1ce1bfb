"""Peer TCP between Raft processes: framed messages out, framed messages in, never blocking the loop.

Each node sends on one outbound connection per peer and receives on the connections peers open to it.
A connection starts with a handshake record ``[b"H", secret, node_id, peer_addr, client_addr]`` (the
sender's advertised addresses, so that a node can answer whoever connects to it even before its log
names the sender); a peer that does not know the cluster secret is refused and logged. Sending never
blocks: messages queue in a bounded buffer per peer and are dropped (and the peer reported unreachable)
when it is full or the connection fails, which Raft tolerates: lost messages are retried by heartbeats
and probes.

With ``tls-replication`` (:meth:`Transport.secure`) every link is TLS and both ends present a
certificate of the cluster's CA: a peer whose certificate the CA did not sign is refused during the
handshake, and the handshake record (with the secret) is sent only once the handshake is done, so the
secret never crosses a plaintext link.

Peer-only admin verbs (``RAFT IDENTITY``, ``RAFT BOOTSTRAP``, ``RAFT REMOVED``) travel here too, never on
a client port: :func:`peer_call` opens a connection, shakes hands with the secret, sends one
``[b"A", *argv]`` record and reads the one RESP3 reply the receiving Raft process writes back.
"""
from __future__ import annotations

import errno
import hmac
import logging
import selectors
import socket
import ssl
import time
from collections.abc import Callable

from raftkv.client import Client
from raftkv.raft.types import Message
from raftkv.receive import ReceiveBuffer
from raftkv.tls import PeerTLS, describe, handshake_step
from raftkv.wire.members import Member, MembershipError, split_addr
from raftkv.wire.raft_messages import decode_message, encode_message
from raftkv.wire.resp import RequestParser, encode_command, encode_reply

log = logging.getLogger("raftkv.node.transport")

_HANDSHAKE = b"H"
_CHUNK = b"S"  # a piece of a snapshot file
_ADMIN = b"A"  # a one-shot peer-only admin request; every other record is a Raft message
_MAX_PENDING_BYTES = 64 * 1024 * 1024
_RECONNECT_MIN_S = 0.05
_RECONNECT_MAX_S = 1.0
_MAX_FIELDS = 8 * 1024 * 1024
_MAX_FIELD_BYTES = 1 << 30


class _Peer:
    __slots__ = ("id", "addr", "sock", "connected", "out", "retry_at", "backoff_s", "writing", "generation")

    def __init__(self, peer_id: int, addr: str) -> None:
        self.id = peer_id
        self.addr = addr
        self.sock: socket.socket | None = None
        self.connected = False
        self.out = bytearray()
        self.retry_at = 0.0
        self.backoff_s = _RECONNECT_MIN_S
        self.writing = False
        self.generation = 0  # bumped by every new connection: a stream cut by a reconnect is abandoned


class _Inbound:
    __slots__ = ("sock", "addr", "parser", "peer_id")

    def __init__(self, sock: socket.socket, addr: str) -> None:
        self.sock = sock
        self.addr = addr
        self.parser = RequestParser(_MAX_FIELD_BYTES, _MAX_FIELDS, 64 * 1024)
        self.peer_id = 0  # set by the handshake


def peer_call(addr: str, argv: list[bytes], secret: bytes, node_id: int, timeout_s: float = 5.0,
              tls: ssl.SSLContext | None = None) -> object:
    """One blocking peer-only admin request to the Raft process at peer address ``addr`` (run on a
    helper thread, never on the loop), over TLS with the peer client context ``tls`` if given.
    Raises :class:`~raftkv.client.ConnectionClosed` when it closes without answering (it refused the
    secret), another :class:`~raftkv.client.ClientError` when it cannot be reached or does not answer."""
    with Client(*split_addr(addr), timeout=timeout_s, tls=tls) as client:
        client.send(encode_command([_HANDSHAKE, secret, b"%d" % node_id]) + encode_command([_ADMIN, *argv]))
        return client.read_reply()


class Transport:
    def __init__(self, me: Member, listener: socket.socket, selector: selectors.BaseSelector,
                 deliver: Callable[[Message], None], unreachable: Callable[[int], None],
                 deliver_chunk: Callable[[int, list[bytes]], None], secret: bytes,
                 answer: Callable[[list[bytes]], object], introduced: Callable[[Member], None]) -> None:
        """``answer`` replies to a peer-only admin request; ``introduced`` is told the addresses a peer
        announced in its handshake."""
        self.node_id = me.id
        self._hello = encode_command([_HANDSHAKE, secret, b"%d" % me.id, me.peer_addr.encode(),
                                      me.client_addr.encode()])
        self._listener = listener
        self._sel = selector
        self._deliver = deliver
        self._unreachable = unreachable
        self._deliver_chunk = deliver_chunk
        self._secret = secret
        self._answer = answer
        self._introduced = introduced
        self._peers: dict[int, _Peer] = {}
        self._inbound: set[_Inbound] = set()
        self._receive = ReceiveBuffer()
        self._tls: PeerTLS | None = None
        listener.setblocking(False)
        selector.register(listener, selectors.EVENT_READ, self._on_accept)

    def secure(self, tls: PeerTLS) -> None:
        """Put every link under TLS from now on; called before the loop runs, when no link is open."""
        self._tls = tls

    def set_peers(self, peers: dict[int, str]) -> None:
        """The peers to send to (id -> peer address), this node excluded. Connections are opened only to
        send, so a peer that is no longer a member costs nothing."""
        for peer_id, addr in peers.items():
            old = self._peers.get(peer_id)
            if old is not None and old.addr != addr:
                self._disconnect(self._peers.pop(peer_id), None)
            if peer_id != self.node_id and peer_id not in self._peers:
                self._peers[peer_id] = _Peer(peer_id, addr)

    # -- sending ----------------------------------------------------------------------------------

    def send(self, messages: list[Message]) -> None:
        now = time.monotonic()
        for msg in messages:
            peer = self._peers.get(msg.dst)
            if peer is None:
                continue
            if len(peer.out) > _MAX_PENDING_BYTES:
                self._unreachable(peer.id)
                continue
            if peer.sock is None:
                if now < peer.retry_at:
                    self._unreachable(peer.id)
                    continue
                self._connect(peer)
                if peer.sock is None:
                    continue
            peer.out += encode_message(msg)

    def send_chunk(self, dst: int, fields: list[bytes]) -> bool:
        """Queue a snapshot chunk for ``dst``; False when it cannot be sent now (no connection)."""
        peer = self._peers.get(dst)
        if peer is None or peer.sock is None:
            return False
        peer.out += encode_command([_CHUNK, *fields])
        return True

    def backlog(self, dst: int) -> tuple[int, int]:
        """(bytes queued for ``dst``, its connection generation), to pace a snapshot stream."""
        peer = self._peers.get(dst)
        return (len(peer.out), peer.generation) if peer is not None else (0, -1)

    def flush(self) -> None:
        for peer in self._peers.values():
            if peer.out and peer.connected and not peer.writing:
                self._write(peer)

    def _connect(self, peer: _Peer) -> None:
        sock = socket.socket(socket.AF_INET6 if peer.addr.startswith("[") else socket.AF_INET)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls is not None:
            sock = self._tls.client.wrap_socket(sock, do_handshake_on_connect=False)
        host, port = split_addr(peer.addr)
        code = sock.connect_ex((host, port))
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self._failed(peer, errno.errorcode.get(code, str(code)))
            return
        peer.sock = sock
        peer.generation += 1
        peer.connected = False
        peer.out = bytearray(self._hello)
        peer.writing = True
        self._sel.register(sock, selectors.EVENT_WRITE, lambda s, p=peer: self._on_writable(p))

    def _on_writable(self, peer: _Peer) -> None:
        assert peer.sock is not None
        if not peer.connected:
            code = peer.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._disconnect(peer, errno.errorcode.get(code, str(code)))
                return
            if self._tls is not None and not self._client_handshake(peer):
                return
            peer.connected = True
            peer.backoff_s = _RECONNECT_MIN_S
            log.info("connected to peer %d at %s", peer.id, peer.addr)
        self._write(peer)

    def _client_handshake(self, peer: _Peer) -> bool:
        """Advance the TLS handshake of an outbound link; True once it is done and the queued handshake
        record may go (to a peer the CA vouches for)."""
        assert isinstance(peer.sock, ssl.SSLSocket)
        try:
            events = handshake_step(peer.sock)
        except OSError as exc:
            self._disconnect(peer, f"TLS handshake failed: {describe(exc)}")
            return False
        self._sel.modify(peer.sock, events or selectors.EVENT_WRITE, lambda s, p=peer: self._on_writable(p))
        return not events

    def _write(self, peer: _Peer) -> None:
        assert peer.sock is not None
        try:
            sent = peer.sock.send(peer.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._disconnect(peer, exc.strerror or str(exc))
            return
        del peer.out[:sent]
        writing = bool(peer.out)
        if writing != peer.writing:
            peer.writing = writing
            if writing:
                self._sel.register(peer.sock, selectors.EVENT_WRITE, lambda s, p=peer: self._on_writable(p))
            else:
                self._sel.unregister(peer.sock)

    def _disconnect(self, peer: _Peer, reason: str | None) -> None:
        if peer.sock is not None:
            if peer.writing:
                self._sel.unregister(peer.sock)
            peer.sock.close()
        was_connected = peer.connected
        peer.sock, peer.connected, peer.writing = None, False, False
        peer.out = bytearray()  # a partial frame must not reach the next connection
        if reason is not None:
            if was_connected:
                log.warning("lost peer %d at %s: %s", peer.id, peer.addr, reason)
            self._failed(peer, reason)

    def _failed(self, peer: _Peer, reason: str) -> None:
        peer.retry_at = time.monotonic() + peer.backoff_s
        peer.backoff_s = min(_RECONNECT_MAX_S, peer.backoff_s * 2)
        log.debug("peer %d at %s unreachable: %s", peer.id, peer.addr, reason)
        self._unreachable(peer.id)

    # -- receiving --------------------------------------------------------------------------------

    def _on_accept(self, _sock: socket.socket) -> None:
        for _ in range(16):
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("cannot accept a peer connection: %s", exc.strerror)
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.server.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            conn = _Inbound(sock, f"{addr[0]}:{addr[1]}")
            self._inbound.add(conn)
            read = self._server_handshake if self._tls is not None else self._on_readable
            self._sel.register(sock, selectors.EVENT_READ, lambda s, c=conn, read=read: read(c))

    def _server_handshake(self, conn: _Inbound) -> None:
        """Advance the TLS handshake of an inbound link; once it is done, :meth:`_on_readable` reads it."""
        assert isinstance(conn.sock, ssl.SSLSocket)
        try:
            events = handshake_step(conn.sock)
        except OSError as exc:
            log.warning("refused peer connection from %s: TLS handshake failed: %s", conn.addr, describe(exc))
            self._close_inbound(conn)
            return
        step = self._server_handshake if events else self._on_readable
        self._sel.modify(conn.sock, events or selectors.EVENT_READ, lambda s, c=conn: step(c))

    def _on_readable(self, conn: _Inbound) -> None:
        try:
            data = self._receive.recv(conn.sock)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close_inbound(conn)
            return
        parser = conn.parser
        parser.feed(data)
        for fields in parser.pop_commands():
            if not conn.peer_id:
                if not self._accept_handshake(conn, fields):
                    return
                continue
            if fields[0] == _CHUNK:
                self._deliver_chunk(conn.peer_id, fields[1:])
                continue
            if fields[0] == _ADMIN:
                self._answer_admin(conn, fields[1:])
                return
            try:
                msg = decode_message(fields)
            except (ValueError, IndexError, KeyError) as exc:
                log.warning("malformed message from peer %d (%s); closing its connection", conn.peer_id, exc)
                self._close_inbound(conn)
                return
            self._deliver(msg)
        if parser.error:
            log.warning("protocol error from peer at %s: %s", conn.addr, parser.error)
            self._close_inbound(conn)

    def _answer_admin(self, conn: _Inbound, argv: list[bytes]) -> None:
        """Answer a one-shot admin request, then close: the reply is small, so a short blocking write."""
        reply = encode_reply(self._answer(argv), 3)
        try:
            conn.sock.settimeout(1.0)
            conn.sock.sendall(reply)
        except OSError as exc:
            log.info("could not answer an admin request from %s: %s", conn.addr, exc)
        self._close_inbound(conn)

    def _accept_handshake(self, conn: _Inbound, fields: list[bytes]) -> bool:
        if len(fields) not in (3, 5) or fields[0] != _HANDSHAKE or not fields[2].isdigit() or fields[2] == b"0":
            log.warning("refused peer connection from %s: not a raftkv peer", conn.addr)
        elif not hmac.compare_digest(fields[1], self._secret):
            log.warning("refused peer connection from %s: wrong cluster secret", conn.addr)
        else:
            conn.peer_id = int(fields[2])
            if len(fields) == 5:
                self._introduce(conn, fields[3], fields[4])
            return True
        self._close_inbound(conn)
        return False

    def _introduce(self, conn: _Inbound, peer_addr: bytes, client_addr: bytes) -> None:
        try:
            member = Member(conn.peer_id, client_addr.decode(), peer_addr.decode())
            split_addr(member.peer_addr)
            split_addr(member.client_addr)
        except (UnicodeDecodeError, MembershipError):
            log.warning("peer %d at %s announced unusable addresses", conn.peer_id, conn.addr)
            return
        self._introduced(member)

    def _close_inbound(self, conn: _Inbound) -> None:
        if conn in self._inbound:
            self._inbound.discard(conn)
            self._sel.unregister(conn.sock)
            conn.sock.close()

    def close(self) -> None:
        for peer in self._peers.values():
            self._disconnect(peer, None)
        for conn in list(self._inbound):
            self._close_inbound(conn)
        self._sel.unregister(self._listener)
        self._listener.close()
