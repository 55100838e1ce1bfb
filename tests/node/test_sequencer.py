"""The per-connection order of the Raft process, without sockets or a clock: what starts, what is held,
what goes out together, and what each answer releases."""
from __future__ import annotations

from dataclasses import replace

import pytest

from raftkv.errors import RespError
from raftkv.kv.table import TABLE
from raftkv.node.sequencer import Client, Pending, ReplyTo, Sequencer, client_key


class Harness:
    """A sequencer whose replies and NODE commands are recorded."""

    def __init__(self, request_timeout_s: float = 2.0) -> None:
        self.replies: list[tuple[int, int, object]] = []  # (conn, seq, value)
        self.node_commands: list[tuple[int, list[bytes]]] = []
        self.refusal: RespError | None = None
        self.seq = Sequencer(self._reply, self._run_node, lambda: self.refusal, request_timeout_s)
        self.seq.begin_turn(100.0)
        self._next_seq: dict[int, int] = {}

    def _reply(self, to: ReplyTo, value: object) -> None:
        self.replies.append((to.client.conn, to.seq, value))

    def _run_node(self, to: ReplyTo, argv: list[bytes]) -> None:
        self.node_commands.append((to.seq, argv))
        self._reply(to, b"node")

    def client(self, conn: int = 1, worker: int = 0) -> Client:
        self.seq.open(worker, conn)
        return self.seq.clients[client_key(worker, conn)]

    def send(self, client: Client, *argv: bytes) -> int:
        """Submit the connection's next command; returns its sequence number."""
        n = self._next_seq.get(client.conn, 0) + 1
        self._next_seq[client.conn] = n
        self.seq.submit(client, n, 2, list(argv), TABLE[argv[0].lower()])
        return n


def seqs(batch: list[Pending]) -> list[int]:
    return [p.seq for p in batch]


def test_writes_of_a_connection_go_out_together_in_order() -> None:
    h = Harness()
    c = h.client()
    for i in range(3):
        h.send(c, b"SET", b"k", b"%d" % i)
    writes = h.seq.take_writes()
    assert seqs(writes) == [1, 2, 3]
    assert [p.argv[2] for p in writes] == [b"0", b"1", b"2"]
    assert h.seq.take_writes() == [] and not h.seq.has_started
    assert c.writes_out == 3 and not c.held


def test_reads_of_a_connection_go_out_together() -> None:
    h = Harness()
    c = h.client()
    h.send(c, b"GET", b"a")
    h.send(c, b"GET", b"b")
    assert seqs(h.seq.take_reads()) == [1, 2]
    assert c.reads_out == 2


def test_a_read_waits_for_the_earlier_writes_of_its_connection() -> None:
    h = Harness()
    c = h.client()
    h.send(c, b"SET", b"k", b"v")
    h.send(c, b"SET", b"k", b"w")
    h.send(c, b"GET", b"k")
    writes = h.seq.take_writes()
    assert seqs(writes) == [1, 2]
    assert h.seq.take_reads() == []
    h.seq.done(writes[0], "OK")
    assert h.seq.take_reads() == []  # one write is still out
    h.seq.done(writes[1], "OK")
    assert seqs(h.seq.take_reads()) == [3]
    assert h.replies == [(1, 1, "OK"), (1, 2, "OK")]


def test_a_write_waits_for_the_earlier_reads_of_its_connection() -> None:
    h = Harness()
    c = h.client()
    h.send(c, b"GET", b"k")
    h.send(c, b"SET", b"k", b"v")
    reads = h.seq.take_reads()
    assert seqs(reads) == [1] and h.seq.take_writes() == []
    h.seq.read_served(reads[0], None)
    assert seqs(h.seq.take_writes()) == [2]


def test_everything_after_a_held_command_is_held_too() -> None:
    """A later write must not overtake a held read, even though no read is out to block it."""
    h = Harness()
    c = h.client()
    h.send(c, b"SET", b"k", b"1")
    h.send(c, b"GET", b"k")  # held behind the write
    h.send(c, b"SET", b"k", b"2")  # held behind the held read
    h.send(c, b"INFO")  # held: a NODE command waits for writes too
    (first,) = h.seq.take_writes()
    assert len(c.held) == 3 and h.node_commands == []
    h.seq.done(first, "OK")
    # The read starts; the second write still waits for it, and INFO behind that.
    assert seqs(h.seq.take_reads()) == [2] and h.seq.take_writes() == []
    assert [s for s, *_ in c.held] == [3, 4]


def test_an_answer_releases_a_run_of_commands_of_one_kind() -> None:
    h = Harness()
    c = h.client()
    h.send(c, b"SET", b"k", b"1")
    for _ in range(3):
        h.send(c, b"GET", b"k")
    h.send(c, b"SET", b"k", b"2")
    (write,) = h.seq.take_writes()
    h.seq.done(write, "OK")
    assert seqs(h.seq.take_reads()) == [2, 3, 4]  # consecutive reads go out together
    assert [s for s, *_ in c.held] == [5]


def test_connections_do_not_wait_for_each_other() -> None:
    h = Harness()
    a, b = h.client(1), h.client(2)
    h.send(a, b"SET", b"k", b"v")
    h.send(a, b"GET", b"k")
    h.send(b, b"GET", b"k")
    assert [(p.client.conn, p.seq) for p in h.seq.take_reads()] == [(2, 1)]
    assert [(p.client.conn, p.seq) for p in h.seq.take_writes()] == [(1, 1)]


def test_the_same_connection_id_in_two_workers_is_two_clients() -> None:
    h = Harness()
    a, b = h.client(1, worker=0), h.client(1, worker=1)
    assert a is not b
    h.send(a, b"SET", b"k", b"v")
    h.seq.submit(b, 1, 2, [b"GET", b"k"], TABLE[b"get"])
    assert len(h.seq.take_reads()) == 1


def test_node_commands_run_at_once_when_nothing_is_out() -> None:
    h = Harness()
    c = h.client()
    h.send(c, b"GET", b"k")  # reads do not hold NODE commands
    h.send(c, b"INFO", b"raft")
    assert h.node_commands == [(2, [b"INFO", b"raft"])]
    assert h.replies == [(1, 2, b"node")]


def test_a_held_node_command_runs_when_released() -> None:
    h = Harness()
    c = h.client()
    h.send(c, b"SET", b"k", b"v")
    h.send(c, b"INFO")
    assert h.node_commands == []
    h.seq.done(h.seq.take_writes()[0], "OK")
    assert h.node_commands == [(2, [b"INFO"])]


def test_deadline_is_the_turn_time_plus_the_request_timeout() -> None:
    h = Harness(request_timeout_s=2.5)
    c = h.client()
    h.send(c, b"SET", b"k", b"v")
    h.send(c, b"GET", b"k")
    (write,) = h.seq.take_writes()
    assert write.deadline == 102.5
    h.seq.begin_turn(200.0)
    h.seq.done(write, "OK")  # the read starts in this later turn
    assert h.seq.take_reads()[0].deadline == 202.5


def test_a_refused_write_is_answered_and_releases_nothing_out() -> None:
    h = Harness()
    c = h.client()
    h.refusal = RespError("MISCONF full")
    h.send(c, b"SET", b"k", b"v")
    assert h.replies == [(1, 1, h.refusal)]
    assert h.seq.take_writes() == [] and c.writes_out == 0
    h.send(c, b"GET", b"k")  # not held behind the refused write
    assert seqs(h.seq.take_reads()) == [2]


def test_a_held_write_is_refused_when_it_starts_on_a_full_disk() -> None:
    h = Harness()
    c = h.client()
    h.send(c, b"GET", b"k")
    h.send(c, b"SET", b"k", b"v")
    (read,) = h.seq.take_reads()
    h.refusal = RespError("MISCONF full")
    h.seq.read_served(read, None)
    assert h.replies == [(1, 1, None), (1, 2, h.refusal)]
    assert h.seq.take_writes() == []


def test_watch_keeps_the_versions_it_read_and_exec_carries_them() -> None:
    h = Harness()
    c = h.client()
    h.send(c, b"WATCH", b"a", b"b")
    (watch,) = h.seq.take_reads()
    h.seq.read_served(watch, [7, 9])  # the versions the state machine reports
    assert h.replies == [(1, 1, "OK")] and c.watched == {b"a": 7, b"b": 9}
    h.send(c, b"EXEC", b"*1\r\n$4\r\nPING\r\n")
    (exec_,) = h.seq.take_writes()
    assert exec_.argv == [b"exec", b"2", b"a", b"7", b"b", b"9", b"*1\r\n$4\r\nPING\r\n"]
    assert c.watched == {}


def test_a_failed_watch_answers_the_error_and_watches_nothing() -> None:
    h = Harness()
    c = h.client()
    h.send(c, b"WATCH", b"a")
    (watch,) = h.seq.take_reads()
    error = RespError("CLUSTERDOWN no leader")
    h.seq.done(watch, error)
    assert h.replies == [(1, 1, error)] and c.watched == {}


@pytest.mark.parametrize(
    "argv, reply", [([b"UNWATCH"], "OK"), ([b"UNWATCH", b"EXECABORT x"], RespError("EXECABORT x"))]
)
def test_unwatch_forgets_the_watched_keys(argv: list[bytes], reply: object) -> None:
    h = Harness()
    c = h.client()
    c.watched = {b"a": 1}
    h.send(c, *argv)
    assert c.watched == {}
    assert h.replies == [(1, 1, reply)] and h.node_commands == []


def test_closing_marks_the_client_and_forgets_it() -> None:
    h = Harness()
    c = h.client(1)
    h.seq.close(0, 1)
    assert c.closed and client_key(0, 1) not in h.seq.clients
    h.seq.close(0, 1)  # a second close (or one racing the open) is harmless


def test_dropping_a_worker_closes_only_its_connections() -> None:
    h = Harness()
    a, b, other = h.client(1, worker=0), h.client(2, worker=0), h.client(1, worker=1)
    h.seq.drop_worker(0)
    assert a.closed and b.closed and not other.closed
    assert list(h.seq.clients.values()) == [other]


def test_a_node_command_turned_write_keeps_its_place() -> None:
    """RAFT SLOTS SET runs as a NODE command that becomes a write: it goes ahead of what was held behind."""
    h = Harness()
    c = h.client()
    slots_set = [b"RAFT", b"SLOTS", b"SET", b"1", b"{}"]
    as_write = replace(TABLE[b"set"], name="raft")

    def run_node(to: ReplyTo, argv: list[bytes]) -> None:
        h.seq.submit_in_place(to.client, to.seq, to.proto, argv, as_write)

    h.seq._run_node = run_node
    h.send(c, b"SET", b"k", b"1")
    h.send(c, *slots_set)  # held behind the write (a NODE command waits for writes)
    h.send(c, b"SET", b"k", b"2")  # held behind it
    (first,) = h.seq.take_writes()
    h.seq.done(first, "OK")
    # The RAFT command started, became a write and went out before the later SET.
    assert seqs(h.seq.take_writes()) == [2, 3]
