"""A worker's event loop: client connections in, RESP decoded, commands forwarded, replies written.

A worker holds no key/value state. This module owns the I/O: accepting, reading and writing client
sockets, the selector, and the pipe to the Raft process (many commands per write, replies read back as
:mod:`raftkv.wire.records`). What a command does in the worker is decided by
:func:`raftkv.worker.local.dispatch`; what is kept per connection, and the order of its replies (they may
come back in any order across connections; each connection's are written in the order its commands
arrived), by :class:`raftkv.worker.session.Session`. No command's name appears here.
"""
from __future__ import annotations

import errno
import logging
import selectors
import socket
import ssl
import time
from dataclasses import replace

from raftkv import runtime_config
from raftkv.config import NodeConfig
from raftkv.errors import RespError
from raftkv.receive import ReceiveBuffer
from raftkv.wakeup import Wakeup
from raftkv.wire import records
from raftkv.wire.resp import decode_command
from raftkv.worker.handshakes import Handshakes
from raftkv.worker.local import LOCAL_STATS, WorkerInfo, dispatch
from raftkv.worker.monitor import Monitor
from raftkv.worker.node_requests import NodeRequests
from raftkv.worker.session import Session

log = logging.getLogger("raftkv.worker.server")

_RECV_BYTES = 64 * 1024
_LINGER_S = 2.0  # how long a closing connection's input is drained before it is closed anyway
_MAXCLIENTS = b"-ERR max number of clients reached\r\n"


class Worker:
    """One worker's loop over its client sessions, the listening sockets and its pipe to the Raft process."""

    def __init__(self, worker_id: int, config: NodeConfig, listeners: dict[socket.socket, ssl.SSLContext | None],
                 pipe: socket.socket) -> None:
        """``listeners`` maps each listening socket to the TLS context its connections are wrapped in
        (None: plain TCP)."""
        self.config = config
        self._listeners = listeners
        self._pipe = pipe
        self._sel = selectors.DefaultSelector()
        self._conns: dict[int, Session] = {}
        self.info = WorkerInfo(worker_id, config, self._conns)
        self._next_conn_id = 1
        self._max_conns = _share_of_maxclients(config)
        self._pipe_out = bytearray()
        self._pipe_writing = False
        self.monitor = Monitor(self._pipe_out, self.info.monitors, self._wake)
        self._node_requests = NodeRequests(lambda: self.info, self.monitor, self._pipe_out, self._close)
        self._replies = records.ReplyReader()
        self._receive = ReceiveBuffer()
        self._dirty: dict[int, Session] = {}
        self._lingering: dict[int, Session] = {}  # conn id -> connection closing after its replies
        self._stopping = False
        self._wakeup = Wakeup()
        self._handshakes = Handshakes(self._sel, self._open)
        for listener in listeners:
            listener.setblocking(False)
            self._sel.register(listener, selectors.EVENT_READ, self._on_accept)
        pipe.setblocking(False)
        self._sel.register(pipe, selectors.EVENT_READ, self._on_pipe)
        self._sel.register(self._wakeup, selectors.EVENT_READ, self._on_wakeup)

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> None:
        select = self._sel.select
        while not self._stopping:
            for key, mask in select(1.0):
                data = key.data
                if data.__class__ is Session:
                    self._on_client(data, mask)
                else:
                    data(key, mask)
            if LOCAL_STATS.counted:
                self._pipe_out += records.local_stats(LOCAL_STATS.take())
            if self._pipe_out and not self._pipe_writing:
                self._flush_pipe()
            if self._dirty:
                dirty, self._dirty = self._dirty, {}
                for conn in dirty.values():
                    self._flush(conn)
            if self._lingering:
                self._close_lingering()
            if self._handshakes.pending:
                self._handshakes.expire(time.monotonic())
        self._handshakes.close()
        for conn in list(self._conns.values()):
            self._close(conn)

    def request_stop(self) -> None:
        """Called from a signal handler: wakes the loop, which stops at the end of its turn."""
        self._wakeup.notify()

    def _on_wakeup(self, key: selectors.SelectorKey, mask: int) -> None:
        self._wakeup.drain()
        self._stopping = True

    # -- accepting --------------------------------------------------------------------------------

    def _on_accept(self, key: selectors.SelectorKey, mask: int) -> None:
        listener = key.fileobj
        assert isinstance(listener, socket.socket)
        context = self._listeners[listener]
        for _ in range(64):
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    log.warning("cannot accept a connection: %s", exc.strerror)
                return
            if len(self._conns) + len(self._handshakes.pending) >= self._max_conns:
                # As Redis: tell the client why, then close (a TLS client could not read the line).
                try:
                    if context is None:
                        sock.send(_MAXCLIENTS)
                finally:
                    sock.close()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = f"{addr[0]}:{addr[1]}"
            if context is None:
                self._open(sock, peer)
            else:
                self._handshakes.start(context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False),
                                       peer)

    def _open(self, sock: socket.socket, addr: str) -> None:
        """A new client session on a connected socket (for TLS, once its handshake is done)."""
        conn_id = self._next_conn_id
        self._next_conn_id += 1
        conn = Session(sock, conn_id, records.client_id(conn_id, self.info.worker_id, self.config.workers),
                       addr, self.config)
        self._conns[conn_id] = conn
        self._pipe_out += records.opened(conn_id, addr.encode())
        self._sel.register(sock, selectors.EVENT_READ, conn)

    # -- reading clients --------------------------------------------------------------------------

    def _on_client(self, conn: Session, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(conn)
        if mask & selectors.EVENT_READ and conn.reading:
            self._read(conn)

    def _read(self, conn: Session) -> None:
        try:
            data = conn.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close(conn)
            return
        if conn.close_after is not None:
            return  # it has had its last reply: what it sends now is read only to be dropped
        parser = conn.parser
        parser.feed(data)
        next_out = conn.next_out
        info, pipe_out = self.info, self._pipe_out
        monitor = self.monitor if self.monitor.on else None
        for argv in parser.pop_commands():
            if monitor is not None:
                monitor.feed(conn, argv)
            forward = dispatch(conn, info, argv)
            if forward is not None:
                conn.in_flight += 1
                pipe_out += records.request(conn.conn_id, conn.take_seq(), conn.proto, forward)
            if conn.close_after is not None:
                break
        if parser.error and conn.close_after is None:
            conn.answer(RespError(f"ERR Protocol error: {parser.error}"))
            conn.close_after = conn.next_seq - 1
        if conn.next_out != next_out:  # replies answered here are ready to write
            self._dirty[conn.conn_id] = conn
        if conn.in_flight >= self.config.max_in_flight:
            self._set_reading(conn, False)

    # -- replies ----------------------------------------------------------------------------------

    def _on_pipe(self, key: selectors.SelectorKey, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush_pipe()
        if not mask & selectors.EVENT_READ:
            return
        try:
            data = self._receive.recv(self._pipe)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            log.error("the raft process closed the pipe; worker %d exits", self.info.worker_id)
            self._stopping = True
            return
        conns = self._conns
        for conn_id, seq, payload in self._replies.feed(data):
            conn = conns.get(conn_id)
            if conn is None:
                if conn_id == records.CONTROL:
                    self._on_control(decode_command(payload))
                continue
            conn.in_flight -= 1
            if conn.deliver(seq, payload):
                self._dirty[conn_id] = conn
            if not conn.reading and conn.in_flight < self.config.max_in_flight:
                self._set_reading(conn, True)

    def _on_control(self, argv: list[bytes]) -> None:
        if argv[0] == records.CONFIG:
            self._configure(argv[1:])
        else:
            self._node_requests.handle(argv)

    def _configure(self, pairs: list[bytes]) -> None:
        """The node accepted a CONFIG SET: take its values (requirepass and maxclients matter here)."""
        changes = runtime_config.parse_changes(pairs)
        if not isinstance(changes, dict):
            raise RuntimeError(f"the raft process sent a CONFIG SET it should have refused: {changes}")
        config = self.config = runtime_config.apply(self.config, changes)
        self.info = replace(self.info, config=config)  # its sessions, monitors and users stay
        self._max_conns = _share_of_maxclients(config)
        if not config.requirepass:  # as Redis's default user without a password: every connection may go on
            for session in self._conns.values():
                session.authenticated = True

    def _flush(self, conn: Session) -> None:
        if conn.sock.fileno() < 0:
            return
        out = conn.out
        if out:
            try:
                sent = conn.sock.send(out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._close(conn)
                return
            del out[:sent]
        if conn.close_after is not None and conn.next_out > conn.close_after and not out:
            self._linger(conn)
            return
        if len(out) > self.config.max_output_bytes:
            log.warning("client %s closed: %d bytes of unread replies (limit %d)", conn.addr, len(out),
                        self.config.max_output_bytes)
            self._close(conn)
            return
        if bool(out) != conn.writing:
            conn.writing = bool(out)
            self._update_events(conn)

    def _linger(self, conn: Session) -> None:
        """Close after QUIT or a protocol error without losing the replies: closing a socket that still
        holds unread input resets the connection, and the peer's kernel then drops what it had not yet
        delivered. So: send FIN after the last reply, drop the client's input until it closes too (or a
        short deadline passes), then close."""
        if conn.closing_deadline:
            return
        conn.closing_deadline = time.monotonic() + _LINGER_S
        self._lingering[conn.conn_id] = conn
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        if not conn.reading:
            self._set_reading(conn, True)

    def _close_lingering(self) -> None:
        now = time.monotonic()
        for conn in [c for c in self._lingering.values() if c.closing_deadline <= now]:
            self._close(conn)

    def _flush_pipe(self) -> None:
        try:
            sent = self._pipe.send(self._pipe_out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            log.error("the raft process is gone; worker %d exits", self.info.worker_id)
            self._stopping = True
            return
        del self._pipe_out[:sent]
        # Never block on the pipe: the Raft process may be writing replies to us at the same time.
        writing = bool(self._pipe_out)
        if writing != self._pipe_writing:
            self._pipe_writing = writing
            events = selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0)
            self._sel.modify(self._pipe, events, self._on_pipe)

    # -- connection bookkeeping -------------------------------------------------------------------

    def _set_reading(self, conn: Session, reading: bool) -> None:
        if conn.reading != reading:
            conn.reading = reading
            self._update_events(conn)

    def _update_events(self, conn: Session) -> None:
        events = (selectors.EVENT_READ if conn.reading else 0) | (selectors.EVENT_WRITE if conn.writing else 0)
        if not events:
            # A paused connection with nothing to write is left out of the selector entirely:
            # level-triggered readiness of its unread input would otherwise spin the loop.
            if conn.registered:
                self._sel.unregister(conn.sock)
                conn.registered = False
        elif conn.registered:
            self._sel.modify(conn.sock, events, conn)
        else:
            self._sel.register(conn.sock, events, conn)
            conn.registered = True

    def _wake(self, conn: Session) -> None:
        """``conn`` has output to write at the end of this loop turn."""
        self._dirty[conn.conn_id] = conn

    def _close(self, conn: Session) -> None:
        if self._conns.pop(conn.conn_id, None) is None:
            return
        self._lingering.pop(conn.conn_id, None)
        self._dirty.pop(conn.conn_id, None)
        if conn.registered:
            self._sel.unregister(conn.sock)
        conn.sock.close()
        self.monitor.closed(conn)
        self._pipe_out += records.closed(conn.conn_id)


def _share_of_maxclients(config: NodeConfig) -> int:
    """maxclients is the node's; each worker takes its share of it."""
    return max(1, -(-config.maxclients // config.workers))
