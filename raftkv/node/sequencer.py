"""Per-connection order: commands of one client connection take effect in the order they were sent.

The :class:`Sequencer` owns what the Raft process knows of each client connection (its commands in
flight, those held behind them, its WATCHed keys) and decides when a command may start:

- a write waits until the connection's earlier reads are served, and a read (or a NODE command) until
  its earlier writes are applied; every command waits until a blocking pop before it is answered (as in
  Redis, a blocked connection runs nothing else); while one waits, every later command of that
  connection waits too;
- started writes collect in one batch (proposed together) and started reads in another (one ReadIndex
  round), so consecutive writes or reads of a connection, and of all connections in a loop turn, go to
  the core together.

It is pure: no sockets, no clock, no Raft. The caller passes the time (``begin_turn``), takes the batches
(``take_writes``/``take_reads``), and reports each outcome (``done``/``read_served``); replies and NODE
commands leave through the callables given to it. An :class:`Observer` (INFO commandstats, the slow log)
stamps each command as it starts and sees each answer; its clock is its own.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from raftkv.errors import RespError
from raftkv.kv.table import READ, WRITE, Command
from raftkv.wire.proposal import encode_exec


@dataclass(slots=True)
class Client:
    """One client connection of a worker, as the Raft process sees it."""

    worker: int
    conn: int
    writes_out: int = 0  # started writes not yet answered
    reads_out: int = 0  # started reads not yet answered
    blocked: bool = False  # a blocking pop started and not yet answered
    held: deque[tuple[int, int, list[bytes], Command]] = field(default_factory=deque)
    closed: bool = False  # replies to a closed connection are dropped
    watched: dict[bytes, int] = field(default_factory=dict)  # WATCH: key -> version read
    addr: bytes = b""  # the client's ip:port, for the slow log
    name: bytes = b""  # its CLIENT SETNAME, for the slow log


@dataclass(slots=True)
class ReplyTo:
    """Where the answer to one command goes: its connection, its sequence number there, and the RESP
    protocol version to encode it in."""

    client: Client
    seq: int
    proto: int


@dataclass(slots=True)
class Pending(ReplyTo):
    """A started READ or WRITE command, until it is answered; it is its own reply address (one object
    per command on the hot path, not two)."""

    argv: list[bytes]
    cmd: Command
    deadline: float  # when its client gives up waiting (a monotonic time of the caller's clock)
    started_ns: int = 0  # the observer's clock when it started (the node's: time.perf_counter_ns)
    payload: bytes = b""  # a write's log entry, once proposed
    request_id: int = 0


class Observer(Protocol):
    def now_ns(self) -> int: ...

    def finished(self, p: Pending, value: object) -> None: ...

    def rejected(self, cmd: Command, error: RespError) -> None: ...


class _Unobserved:
    @staticmethod
    def now_ns() -> int:
        return 0

    def finished(self, p: Pending, value: object) -> None:
        pass

    def rejected(self, cmd: Command, error: RespError) -> None:
        pass


def client_key(worker: int, conn: int) -> int:
    """A connection id unique in the node: connection ids are unique only within their worker."""
    return (worker << 32) | conn


class Sequencer:
    def __init__(self, reply: Callable[[ReplyTo, object], None],
                 run_node: Callable[[ReplyTo, list[bytes]], None],
                 write_refusal: Callable[[], RespError | None], request_timeout_s: float,
                 observer: Observer | None = None) -> None:
        """``reply`` queues an answer; ``run_node`` runs a NODE command (it answers, now or later);
        ``write_refusal`` says why writes are refused right now (a full disk), or None; ``observer``
        sees every READ and WRITE command start and end."""
        self._reply = reply
        self._run_node = run_node
        self._write_refusal = write_refusal
        self.request_timeout_s = request_timeout_s  # CONFIG SET may change it
        observer = observer or _Unobserved()
        self._now_ns = observer.now_ns
        self._finished = observer.finished
        self._rejected = observer.rejected
        self.clients: dict[int, Client] = {}
        self._writes: list[Pending] = []
        self._reads: list[Pending] = []
        self._deadline = 0.0

    # -- connections ------------------------------------------------------------------------------

    def open(self, worker: int, conn: int, addr: bytes = b"") -> None:
        self.clients[client_key(worker, conn)] = Client(worker, conn, addr=addr)

    def close(self, worker: int, conn: int) -> None:
        client = self.clients.pop(client_key(worker, conn), None)
        if client is not None:
            client.closed = True

    def drop_worker(self, worker: int) -> None:
        """Every connection of a worker that died or was cut off is closed."""
        for key in [k for k, c in self.clients.items() if c.worker == worker]:
            self.clients.pop(key).closed = True

    # -- commands ---------------------------------------------------------------------------------

    def begin_turn(self, now: float) -> None:
        """Commands started from now on (also those released by an answer) give up at ``now`` plus the
        request timeout: one clock read per loop turn, not per command."""
        self._deadline = now + self.request_timeout_s

    def submit(self, client: Client, seq: int, proto: int, argv: list[bytes], cmd: Command) -> None:
        """Command ``seq`` of ``client`` arrived: start it, or hold it behind the connection's others."""
        if client.held or not self._may_start(client, cmd):
            client.held.append((seq, proto, argv, cmd))
        else:
            self._start(client, seq, proto, argv, cmd)

    def submit_in_place(self, client: Client, seq: int, proto: int, argv: list[bytes], cmd: Command) -> None:
        """Like :meth:`submit`, for the command a running NODE command turns into (RAFT SLOTS SET becomes a
        write): it keeps that command's place, ahead of the commands held behind it."""
        if self._may_start(client, cmd):
            self._start(client, seq, proto, argv, cmd)
        else:
            client.held.appendleft((seq, proto, argv, cmd))

    def take_writes(self) -> list[Pending]:
        """The writes started since the last call, in start order (to propose as one batch)."""
        batch, self._writes = self._writes, []
        return batch

    def take_reads(self) -> list[Pending]:
        """The reads started since the last call (to serve after one ReadIndex round)."""
        batch, self._reads = self._reads, []
        return batch

    @property
    def has_started(self) -> bool:
        """Whether commands started since the batches were last taken."""
        return bool(self._writes or self._reads)

    def read_served(self, p: Pending, value: object) -> None:
        """A read ran on the state machine: WATCH keeps the versions it read and answers OK."""
        if p.cmd.name == "watch":
            p.client.watched.update(zip(p.argv[1:], value))  # type: ignore[call-overload]
            value = "OK"
        self.done(p, value)

    def done(self, p: Pending, value: object) -> None:
        """Answer ``p`` (a result, or an error such as a timeout) and start what waited behind it."""
        client = p.client
        self._reply(p, value)
        self._finished(p, value)
        if p.cmd.where == WRITE:
            client.writes_out -= 1
            if p.cmd.blocks:
                client.blocked = False
        else:
            client.reads_out -= 1
        held = client.held
        while held and self._may_start(client, held[0][3]):
            self._start(client, *held.popleft())

    @staticmethod
    def _may_start(client: Client, cmd: Command) -> bool:
        if client.blocked:
            return False
        if cmd.where == WRITE:
            return client.reads_out == 0
        return client.writes_out == 0

    def _start(self, client: Client, seq: int, proto: int, argv: list[bytes], cmd: Command) -> None:
        where = cmd.where
        if where == WRITE:
            refusal = self._write_refusal()
            if refusal is not None:
                self._reply(ReplyTo(client, seq, proto), refusal)
                self._rejected(cmd, refusal)
                return
            if cmd.name == "exec":
                # The versions WATCH read go into the entry: every node checks them at the same index.
                argv = encode_exec(client.watched, argv[1:])
                client.watched = {}
            client.writes_out += 1
            client.blocked = cmd.blocks
            self._writes.append(Pending(client, seq, proto, argv, cmd, self._deadline, self._now_ns()))
        elif where == READ:
            client.reads_out += 1
            self._reads.append(Pending(client, seq, proto, argv, cmd, self._deadline, self._now_ns()))
        else:  # NODE, or a LOCAL command its worker forwarded for the node to answer (CLIENT UNBLOCK)
            if cmd.name == "unwatch":
                # Also sent by the worker for DISCARD and an aborted EXEC, with the reply to give.
                client.watched = {}
                self._reply(ReplyTo(client, seq, proto), RespError(argv[1].decode()) if len(argv) > 1 else "OK")
            else:
                self._run_node(ReplyTo(client, seq, proto), argv)
