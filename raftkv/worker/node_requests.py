"""A worker's side of the node-wide connection commands: what the Raft process asks of every worker.

CLIENT LIST and CLIENT KILL name connections of any worker of the node and MONITOR watches them all, so
the Raft process asks each worker (a :data:`raftkv.wire.records.CONTROL` frame) and gathers the answers
(:mod:`raftkv.node.clients`). Requests, as argv (a token names the request the answer is for; b"" wants none):

- ``list token args...``: this worker's CLIENT LIST lines matching the filter ``args``;
- ``kill token caller seq args...``: close the connections matching ``args``; the count killed. The
  caller itself (SKIPME no) gets its reply first, as in Redis: it is closed after reply ``seq``;
- ``monitor token on|off``: whether some connection of the node monitors (:class:`~raftkv.worker.monitor.Monitor`);
  ``on`` is answered once set, so that MONITOR's +OK comes after every worker feeds lines;
- ``lines line...``: for this worker's MONITOR connections (no token, no answer);
- ``users table``: the applied ACL user table, after each change (:mod:`raftkv.worker.permissions`; no answer).

Answers go back on the pipe as :func:`raftkv.wire.records.answer`. No I/O but through the callables given.
"""
from __future__ import annotations

from collections.abc import Callable

from raftkv.errors import RespError
from raftkv.wire import records
from raftkv.worker.client_filters import parse_kill, parse_list
from raftkv.worker.local import WorkerInfo, client_line
from raftkv.worker.monitor import Monitor
from raftkv.worker.permissions import users_changed
from raftkv.worker.session import Session


class NodeRequests:
    def __init__(self, info: Callable[[], WorkerInfo], monitor: Monitor, pipe_out: bytearray,
                 close: Callable[[Session], None]) -> None:
        """``info`` gives the worker's current info (a CONFIG SET replaces it)."""
        self._info = info
        self._monitor = monitor
        self._pipe_out = pipe_out
        self._close = close

    def handle(self, argv: list[bytes]) -> None:
        """One node request (the argv of a :data:`~raftkv.wire.records.CONTROL` frame)."""
        kind = argv[0]
        if kind == b"lines":
            self._monitor.deliver(argv[1:])
        elif kind == b"monitor":
            self._monitor.on = argv[2] == b"on"
            if argv[1]:  # a token: MONITOR waits for every worker
                self._pipe_out += records.answer(argv[1], b"")
        elif kind == b"users":
            info = self._info()
            users_changed(info.acl, info.sessions, argv[1], self._close)
        elif kind == b"list":
            self._pipe_out += records.answer(argv[1], self._list(argv[2:]))
        elif kind == b"kill":
            self._pipe_out += records.answer(argv[1], b"%d" % self._kill(int(argv[2]), int(argv[3]), argv[4:]))
        else:
            raise ValueError(f"unknown node request {kind!r}")

    def _list(self, args: list[bytes]) -> bytes:
        chosen = parse_list(args)
        assert not isinstance(chosen, RespError)  # the caller's worker refused a bad filter
        info = self._info()
        laddr = info.config.address
        return "".join(client_line(s, info) for s in info.sessions.values()
                       if chosen.matches(s.client_id, s.addr, laddr, 0, s.user)).encode()

    def _kill(self, caller: int, seq: int, args: list[bytes]) -> int:
        chosen = parse_kill(args)
        assert not isinstance(chosen, RespError)
        info = self._info()
        laddr = info.config.address
        victims = [s for s in info.sessions.values()
                   if chosen.matches(s.client_id, s.addr, laddr, caller, s.user)]
        for session in victims:
            if session.client_id == caller:
                session.close_after = seq if session.close_after is None else min(seq, session.close_after)
            else:
                self._close(session)
        return len(victims)
