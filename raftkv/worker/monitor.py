"""MONITOR in a worker: the lines its clients' commands make, and the lines its MONITOR connections get.

While some connection of the node monitors (the Raft process says so, :mod:`raftkv.node.clients`),
:meth:`Monitor.feed` turns each command a client of this worker sends into Redis's line
(``1339518083.107412 [0 127.0.0.1:60866] "SET" "k" "v"``) and queues it for the Raft process, which
passes it to every worker holding a MONITOR connection; :meth:`Monitor.deliver` writes it there as a
status reply. While nobody monitors, the worker does not call :meth:`feed` at all (``on`` is False).

As Redis, administrative commands are not shown and passwords are redacted. Commands are shown as the
worker reads them (Redis shows them as it runs them): a transaction's commands come as they are queued.
This module does no I/O.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from raftkv.kv.table import Command, lookup
from raftkv.wire import records
from raftkv.worker.session import Session

# Redis does not show commands flagged admin, nor these CLIENT subcommands (admin in its table).
_HIDDEN_CLIENT = {b"kill", b"list", b"no-evict", b"pause", b"unpause", b"unblock"}
_REDACTED = b'"(redacted)"'
_ESCAPES = {ord("\\"): b"\\\\", ord('"'): b'\\"', ord("\n"): b"\\n", ord("\r"): b"\\r", ord("\t"): b"\\t",
            7: b"\\a", 8: b"\\b"}


def quote(arg: bytes) -> bytes:
    """An argument as Redis's sdscatrepr writes it: quoted, escapes for the unprintable."""
    out = bytearray(b'"')
    for c in arg:
        escaped = _ESCAPES.get(c)
        if escaped is not None:
            out += escaped
        elif 32 <= c < 127:
            out.append(c)
        else:
            out += b"\\x%02x" % c
    out += b'"'
    return bytes(out)


def _shown(argv: list[bytes]) -> list[bytes] | None:
    """The quoted arguments a monitor sees for ``argv``, or None if Redis would not show it."""
    cmd = lookup(argv)
    if not isinstance(cmd, Command) or "admin" in cmd.flags:
        return None
    name = argv[0].lower()
    if name == b"client" and argv[1].lower() in _HIDDEN_CLIENT:
        return None
    if name == b"acl":  # its subcommands that change users are admin in Redis: passwords stay unseen
        return None
    quoted = [quote(a) for a in argv]
    if name == b"auth":
        quoted[1:] = [_REDACTED] * (len(argv) - 1)
    elif name == b"hello":
        for i, arg in enumerate(argv):
            if arg.lower() == b"auth":
                quoted[i + 1:i + 3] = [_REDACTED] * len(quoted[i + 1:i + 3])
    return quoted


class Monitor:
    def __init__(self, pipe_out: bytearray, monitors: dict[int, Session],
                 wake: Callable[[Session], None]) -> None:
        """``pipe_out`` is the worker's buffer to the Raft process; ``monitors`` this worker's MONITOR
        connections by connection id (the MONITOR handler adds them); ``wake`` has a session written."""
        self.on = False  # some connection of the node monitors: feed every command
        self._pipe_out = pipe_out
        self._monitors = monitors
        self._wake = wake

    def feed(self, session: Session, argv: list[bytes]) -> None:
        quoted = _shown(argv)
        if quoted is not None:
            head = b"%.6f [0 %s] " % (time.time(), session.addr.encode())
            self._pipe_out += records.monitor_line(head + b" ".join(quoted))

    def deliver(self, lines: list[bytes]) -> None:
        """Lines from the node: to each MONITOR connection whose +OK is written (lines before it are
        of commands run before it monitored)."""
        text = b"".join(b"+%s\r\n" % line for line in lines)
        for session in self._monitors.values():
            if session.next_out > session.monitor_seq:
                session.out += text
                self._wake(session)

    def closed(self, session: Session) -> None:
        """A connection closed: if it monitored, the Raft process must know (to stop when none does)."""
        if self._monitors.pop(session.conn_id, None) is not None:
            self._pipe_out += records.unmonitored(session.conn_id)
