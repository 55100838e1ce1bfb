"""One client connection's state in a worker, and the order its replies are written in.

A :class:`Session` holds what Redis keeps per connection (protocol, name, authentication, the MULTI
queue) and the bookkeeping of its replies: every command read gets the next sequence number, and the
replies, which may come back from the Raft process out of order, are appended to ``out`` strictly in
sequence order. It owns the socket object but does no I/O on it: reading, writing and the selector are
:mod:`raftkv.worker.server`'s; what the commands do to a session is :mod:`raftkv.worker.local`'s.
"""
from __future__ import annotations

import socket

from raftkv.acl import Limits
from raftkv.config import NodeConfig
from raftkv.wire.resp import RequestParser, encode_reply


class Session:
    """One client connection and the per-connection state Redis keeps (protocol, name, ...)."""

    __slots__ = (
        "sock", "conn_id", "client_id", "addr", "parser", "proto", "name", "lib_name", "lib_ver",
        "next_seq", "next_out", "early", "out", "in_flight", "close_after", "reading", "writing",
        "registered", "multi", "multi_failed", "authenticated", "closing_deadline",
        "readonly", "asking", "no_evict", "monitor_seq", "user", "limits",
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
        self.readonly = False  # READONLY: reads served from this node's applied state, possibly stale
        self.asking = False  # ASKING: the next command is sent marked as asked (raftkv.worker.local)
        self.no_evict = False  # CLIENT NO-EVICT: shown in flags only; no client is ever evicted
        self.monitor_seq = -1  # MONITOR's sequence number: lines follow once its reply is written
        self.user = b"default"  # the ACL user it authenticated as (raftkv.worker.permissions)
        self.limits: Limits | None = None  # what that user may not do; None: everything is allowed

    def take_seq(self) -> int:
        """The sequence number of the command just read (its reply will be written in this place)."""
        seq = self.next_seq
        self.next_seq = seq + 1
        return seq

    def answer(self, value: object) -> bool:
        """Replies to the command just read with ``value``; True if ``out`` grew (see :meth:`deliver`)."""
        return self.deliver(self.take_seq(), encode_reply(value, self.proto))

    def deliver(self, seq: int, payload: bytes) -> bool:
        """Places the encoded reply of command ``seq``: appended to ``out`` if it is the next one due
        (with any later ones that came early), else kept until the earlier ones are in. True if ``out``
        grew, that is when the caller should try to write."""
        if seq != self.next_out:
            self.early[seq] = payload
            return False
        out = self.out
        out += payload
        seq += 1
        early = self.early
        while early and seq in early:
            out += early.pop(seq)
            seq += 1
        self.next_out = seq
        return True
