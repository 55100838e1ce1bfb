"""The node-wide connection commands in the Raft process: CLIENT LIST, CLIENT KILL and MONITOR.

A node's client connections live in its workers, and a command may name a connection of any of them.
The Raft process, which has a pipe to every worker, asks each one (a
:func:`~raftkv.wire.records.control` request, answered by :mod:`raftkv.worker.node_requests`) and
answers the client once every worker has: the listing joined, the killed counted. A worker that goes
away mid-request is simply not waited for.

MONITOR: the monitoring connections are kept here by (worker, connection). While there is one, every
worker is told to feed the lines of its clients' commands; each line that comes back is passed to the
workers that hold a monitoring connection. When the last one closes, the workers are told to stop, so
that nobody monitoring costs nothing.

This module owns no socket: requests leave through ``send`` (to one worker's pipe) and answers through
``reply``.
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from raftkv.errors import err
from raftkv.node.sequencer import ReplyTo
from raftkv.wire import records


@dataclass(slots=True)
class _Gather:
    to: ReplyTo
    waiting: set[int]  # workers yet to answer
    finish: Callable[[list[bytes]], object]  # the answers -> the reply
    answers: list[bytes] = field(default_factory=list)


def _client_id(line: bytes) -> int:
    return int(line.split(b" ", 1)[0].removeprefix(b"id="))


def _listing(answers: list[bytes]) -> bytes:
    lines = b"".join(answers).splitlines(keepends=True)
    lines.sort(key=_client_id)
    return b"".join(lines)


def _old_kill(answers: list[bytes]) -> object:
    return "OK" if sum(map(int, answers)) else err("No such client")


class NodeClients:
    def __init__(self, send: Callable[[int, bytes], None], workers: Callable[[], Collection[int]],
                 reply: Callable[[ReplyTo, object], None], workers_count: int) -> None:
        """``send(worker, frame)`` queues a frame on a worker's pipe; ``workers`` are those attached now."""
        self._send = send
        self._workers = workers
        self._reply = reply
        self._workers_count = workers_count
        self._gathers: dict[bytes, _Gather] = {}
        self._next_token = 0
        self._monitors: set[tuple[int, int]] = set()  # (worker, connection) of the monitoring connections
        self._monitor_workers: set[int] = set()

    # -- commands ---------------------------------------------------------------------------------

    def command(self, to: ReplyTo, argv: list[bytes]) -> None:
        """CLIENT LIST|KILL ... (the caller's worker checked its filter) or MONITOR."""
        if argv[0].lower() == b"monitor":
            self._monitors.add((to.client.worker, to.client.conn))
            self._monitor_workers.add(to.client.worker)
            self._ask(to, [b"monitor", b"on"], lambda _answers: "OK")
        elif argv[1].lower() == b"list":
            self._ask(to, [b"list", *argv[2:]], _listing)
        else:
            caller = records.client_id(to.client.conn, to.client.worker, self._workers_count)
            finish = _old_kill if len(argv) == 3 else lambda answers: sum(map(int, answers))
            self._ask(to, [b"kill", b"%d" % caller, b"%d" % to.seq, *argv[2:]], finish)

    def _ask(self, to: ReplyTo, request: list[bytes], finish: Callable[[list[bytes]], object]) -> None:
        token = b"%d" % self._next_token
        self._next_token += 1
        workers = set(self._workers())
        self._gathers[token] = _Gather(to, workers, finish)
        frame = records.control([request[0], token, *request[1:]])
        for worker in workers:
            self._send(worker, frame)

    # -- records from the workers -----------------------------------------------------------------

    def on_record(self, worker: int, rec: list[bytes]) -> None:
        kind = rec[0]
        if kind == records.MONITOR_LINE:
            frame = records.control([b"lines", rec[1]])
            for w in self._monitor_workers:
                self._send(w, frame)
        elif kind == records.ANSWER:
            gather = self._gathers.get(rec[1])
            if gather is not None:
                gather.answers.append(rec[2])
                self._answered(rec[1], gather, worker)
        elif kind == records.UNMONITORED:
            self._monitors.discard((worker, int(rec[1])))
            self._monitors_changed()
        else:
            raise RuntimeError(f"unknown record {kind!r} from worker {worker}")

    def _answered(self, token: bytes, gather: _Gather, worker: int) -> None:
        gather.waiting.discard(worker)
        if not gather.waiting:
            del self._gathers[token]
            self._reply(gather.to, gather.finish(gather.answers))

    def _monitors_changed(self) -> None:
        self._monitor_workers = {worker for worker, _conn in self._monitors}
        if not self._monitors:
            frame = records.control([b"monitor", b"", b"off"])
            for w in self._workers():
                self._send(w, frame)

    # -- workers coming and going -----------------------------------------------------------------

    def worker_attached(self, worker: int) -> None:
        """A (restarted) worker starts without knowing that some connection monitors."""
        if self._monitors:
            self._send(worker, records.control([b"monitor", b"", b"on"]))

    def worker_gone(self, worker: int) -> None:
        for token, gather in list(self._gathers.items()):
            if worker in gather.waiting:
                self._answered(token, gather, worker)
        if worker in self._monitor_workers:
            self._monitors = {m for m in self._monitors if m[0] != worker}
            self._monitors_changed()
