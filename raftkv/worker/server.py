"""A worker process: client connections in, RESP decoded, commands forwarded, replies written in order.

A worker holds no key/value state. Each command gets a per-connection sequence number; commands the worker
can answer itself (connection state, static facts, unknown commands, arity errors) are answered here, all
others go to the Raft process through this worker's pipe, many per write. Replies may come back in any
order across connections; each connection's replies are written in the order its commands arrived.
"""
from __future__ import annotations

import errno
import logging
import os
import selectors
import signal
import socket
import time
from dataclasses import dataclass

from raftkv.wire import records
from raftkv.kv.table import READ, WRITE, Command, lookup
from raftkv.config import NodeConfig
from raftkv.worker.local import LOCAL_HANDLERS, Forward
from raftkv.errors import RespError, err
from raftkv.process import prepare_child
from raftkv.wire.resp import RequestParser, encode_command, encode_reply

log = logging.getLogger("raftkv.worker.server")

_RECV_BYTES = 64 * 1024
_LINGER_S = 2.0  # how long a closing connection's input is drained before it is closed anyway
_NOAUTH = RespError("NOAUTH Authentication required.")
_WITHOUT_AUTH = frozenset(("auth", "hello", "quit"))
_MAXCLIENTS = b"-ERR max number of clients reached\r\n"
# Commands that act on a transaction rather than being queued in it.
_TRANSACTION_CONTROL = frozenset(("multi", "exec", "discard", "watch", "quit"))


class Connection:
    """One client connection and the per-connection state Redis keeps (protocol, name, ...)."""

    __slots__ = (
        "sock", "conn_id", "client_id", "addr", "parser", "proto", "name", "lib_name", "lib_ver",
        "next_seq", "next_out", "early", "out", "in_flight", "close_after", "reading", "writing",
        "registered", "multi", "multi_failed", "authenticated", "closing_deadline",
    )

    def __init__(self, sock: socket.socket, conn_id: int, client_id: int, addr: str, config: NodeConfig):
        self.sock = sock
        self.conn_id = conn_id
        self.client_id = client_id
        self.addr = addr
        self.parser = RequestParser(config.max_bulk_len, config.max_multibulk_len, config.max_inline_len)
        self.proto = 2
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.next_seq = 0  # sequence number of the next command read
        self.next_out = 0  # sequence number of the next reply to write
        self.early: dict[int, bytes] = {}  # replies that arrived before an earlier one
        self.out = bytearray()
        self.in_flight = 0  # commands forwarded and not yet answered
        self.close_after: int | None = None  # close once the reply with this sequence is written
        self.closing_deadline = 0.0  # replies all sent and FIN sent: closed at EOF or at this time
        self.reading = True
        self.writing = False
        self.registered = True
        self.multi: list[bytes] | None = None  # inside MULTI: the queued commands, RESP-encoded
        self.multi_failed = False  # a queued command was refused: EXEC aborts
        self.authenticated = not config.requirepass


@dataclass
class WorkerInfo:
    """What connection commands may report about the worker (CLIENT LIST, HELLO)."""

    worker_id: int
    config: NodeConfig


class Worker:
    def __init__(self, worker_id: int, config: NodeConfig, listener: socket.socket,
                 pipe: socket.socket) -> None:
        self.info = WorkerInfo(worker_id, config)
        self.config = config
        self._listener = listener
        self._pipe = pipe
        self._sel = selectors.DefaultSelector()
        self._conns: dict[int, Connection] = {}
        self._next_conn_id = 1
        # maxclients is the node's; each worker takes its share of it.
        self._max_conns = max(1, -(-config.maxclients // config.workers))
        self._pipe_out = bytearray()
        self._pipe_writing = False
        self._replies = records.ReplyReader()
        self._dirty: dict[int, Connection] = {}
        self._lingering: dict[int, Connection] = {}  # conn id -> connection closing after its replies
        self._stopping = False
        self._wakeup_r, self._wakeup_w = socket.socketpair()
        self._wakeup_w.setblocking(False)
        listener.setblocking(False)
        pipe.setblocking(False)
        self._sel.register(listener, selectors.EVENT_READ, self._on_accept)
        self._sel.register(pipe, selectors.EVENT_READ, self._on_pipe)
        self._sel.register(self._wakeup_r, selectors.EVENT_READ, self._on_wakeup)

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> None:
        select = self._sel.select
        while not self._stopping:
            for key, mask in select(1.0):
                data = key.data
                if data.__class__ is Connection:
                    self._on_client(data, mask)
                else:
                    data(key, mask)
            if self._pipe_out and not self._pipe_writing:
                self._flush_pipe()
            if self._dirty:
                dirty, self._dirty = self._dirty, {}
                for conn in dirty.values():
                    self._flush(conn)
            if self._lingering:
                self._close_lingering()
        for conn in list(self._conns.values()):
            self._close(conn)

    def request_stop(self) -> None:
        """Called from a signal handler: wakes the loop, which stops at the end of its turn."""
        try:
            self._wakeup_w.send(b"x")
        except OSError:
            pass

    def _on_wakeup(self, key: selectors.SelectorKey, mask: int) -> None:
        self._stopping = True

    # -- accepting --------------------------------------------------------------------------------

    def _on_accept(self, key: selectors.SelectorKey, mask: int) -> None:
        for _ in range(64):
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    log.warning("cannot accept a connection: %s", exc.strerror)
                return
            if len(self._conns) >= self._max_conns:
                # As Redis: tell the client why, then close.
                try:
                    sock.send(_MAXCLIENTS)
                finally:
                    sock.close()
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn_id = self._next_conn_id
            self._next_conn_id += 1
            client_id = conn_id * self.config.workers + self.info.worker_id
            conn = Connection(sock, conn_id, client_id, f"{addr[0]}:{addr[1]}", self.config)
            self._conns[conn_id] = conn
            self._pipe_out += records.opened(conn_id)
            self._sel.register(sock, selectors.EVENT_READ, conn)

    # -- reading clients --------------------------------------------------------------------------

    def _on_client(self, conn: Connection, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush(conn)
        if mask & selectors.EVENT_READ and conn.reading:
            self._read(conn)

    def _read(self, conn: Connection) -> None:
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
        for argv in parser.pop_commands():
            self._dispatch(conn, argv)
            if conn.close_after is not None:
                break
        if parser.error and conn.close_after is None:
            self._answer(conn, RespError(f"ERR Protocol error: {parser.error}"))
            conn.close_after = conn.next_seq - 1
        if conn.in_flight >= self.config.max_in_flight:
            self._set_reading(conn, False)

    def _dispatch(self, conn: Connection, argv: list[bytes]) -> None:
        cmd = lookup(argv)
        if not conn.authenticated and cmd.__class__ is Command and cmd.name not in _WITHOUT_AUTH:
            self._answer(conn, _NOAUTH)
            return
        if conn.multi is not None and (isinstance(cmd, RespError) or cmd.name not in _TRANSACTION_CONTROL):
            self._queue(conn, argv, cmd)
            return
        if isinstance(cmd, RespError):
            self._answer(conn, cmd)
            return
        local = LOCAL_HANDLERS.get(cmd.name)
        if local is not None:
            result = local(self, conn, argv)
            if result.__class__ is not Forward:
                self._answer(conn, result)
                return
            argv = result.argv
        seq = conn.next_seq
        conn.next_seq = seq + 1
        conn.in_flight += 1
        self._pipe_out += records.request(conn.conn_id, seq, conn.proto, argv)

    def _queue(self, conn: Connection, argv: list[bytes], cmd: Command | RespError) -> None:
        """Inside MULTI: queue a valid command; refuse (and doom the EXEC) an invalid one, as Redis."""
        assert conn.multi is not None
        if isinstance(cmd, RespError):
            conn.multi_failed = True
            self._answer(conn, cmd)
        elif cmd.where not in (READ, WRITE):
            conn.multi_failed = True
            self._answer(conn, err("Command not allowed inside a transaction"))
        else:
            conn.multi.append(encode_command(argv))
            self._answer(conn, "QUEUED")

    def _answer(self, conn: Connection, value: object) -> None:
        seq = conn.next_seq
        conn.next_seq = seq + 1
        self._deliver(conn, seq, encode_reply(value, conn.proto))

    # -- replies ----------------------------------------------------------------------------------

    def _on_pipe(self, key: selectors.SelectorKey, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self._flush_pipe()
        if not mask & selectors.EVENT_READ:
            return
        try:
            data = self._pipe.recv(1 << 20)
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
                continue
            conn.in_flight -= 1
            self._deliver(conn, seq, payload)
            if not conn.reading and conn.in_flight < self.config.max_in_flight:
                self._set_reading(conn, True)

    def _deliver(self, conn: Connection, seq: int, payload: bytes) -> None:
        if seq != conn.next_out:
            conn.early[seq] = payload
            return
        out = conn.out
        out += payload
        seq += 1
        early = conn.early
        while early and seq in early:
            out += early.pop(seq)
            seq += 1
        conn.next_out = seq
        self._dirty[conn.conn_id] = conn

    def _flush(self, conn: Connection) -> None:
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

    def _linger(self, conn: Connection) -> None:
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

    def _set_reading(self, conn: Connection, reading: bool) -> None:
        if conn.reading != reading:
            conn.reading = reading
            self._update_events(conn)

    def _update_events(self, conn: Connection) -> None:
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

    def _close(self, conn: Connection) -> None:
        if self._conns.pop(conn.conn_id, None) is None:
            return
        self._lingering.pop(conn.conn_id, None)
        self._dirty.pop(conn.conn_id, None)
        if conn.registered:
            self._sel.unregister(conn.sock)
        conn.sock.close()
        self._pipe_out += records.closed(conn.conn_id)

    @property
    def connections(self) -> list[Connection]:
        return list(self._conns.values())


def worker_main(worker_id: int, config: NodeConfig, listener: socket.socket, pipe: socket.socket,
                close_fds: list[socket.socket]) -> None:
    """Entry point of a worker process: serves until SIGTERM or until the Raft process goes away."""
    prepare_child(f"worker{worker_id}", config.log_level, close_fds)
    worker = Worker(worker_id, config, listener, pipe)
    signal.signal(signal.SIGTERM, lambda *_: worker.request_stop())
    worker.run()
    os._exit(0)
