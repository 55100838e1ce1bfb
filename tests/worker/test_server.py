"""A worker's loop in-process: a real listener and client sockets, the test playing the Raft process on the
other end of the worker's pipe."""
from __future__ import annotations

import pathlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from raftkv.command_stats import CommandStats
from raftkv.config import NodeConfig
from raftkv.wire import records
from raftkv.wire.resp import RequestParser, encode_command
from raftkv.worker.server import Worker

_DEADLINE_S = 10.0


class RaftEnd:
    """The Raft process's end of a worker's pipe: reads its records, writes replies."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(_DEADLINE_S)
        self._parser = RequestParser(1 << 20, 1 << 20, 1 << 16)
        self._records: list[list[bytes]] = []

    def next_record(self) -> list[bytes]:
        """The next record but the counts of commands the worker answered (test_local_stats_... reads those)."""
        while True:
            record = self.next_any_record()
            if record[0] != records.STATS:
                return record

    def next_any_record(self) -> list[bytes]:
        while not self._records:
            self._parser.feed(self.sock.recv(1 << 16))
            self._records += self._parser.pop_commands()
        return self._records.pop(0)

    def reply(self, conn_id: int, seq: int, payload: bytes) -> None:
        frame = bytearray()
        records.append_reply(frame, conn_id, seq, payload)
        self.sock.sendall(frame)


@pytest.fixture
def worker() -> Iterator[tuple[socket.socket, RaftEnd]]:
    listener = socket.create_server(("127.0.0.1", 0))
    pipe, raft_end = socket.socketpair()
    config = NodeConfig(data_dir=pathlib.Path("unused"), workers=1, port=listener.getsockname()[1])
    w = Worker(0, config, {listener: None}, pipe)
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    try:
        yield listener, RaftEnd(raft_end)
    finally:
        w.request_stop()
        thread.join(_DEADLINE_S)
        listener.close()
        pipe.close()
        raft_end.close()


def _connect(listener: socket.socket) -> socket.socket:
    return socket.create_connection(listener.getsockname(), timeout=_DEADLINE_S)


def _read_exactly(sock: socket.socket, expected: bytes) -> bytes:
    got = b""
    deadline = time.monotonic() + _DEADLINE_S
    while len(got) < len(expected) and time.monotonic() < deadline:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        got += chunk
    return got


def test_replies_are_written_in_command_order(worker: tuple[socket.socket, RaftEnd]) -> None:
    listener, raft = worker
    client = _connect(listener)
    try:
        opened = raft.next_record()
        assert opened[0] == records.OPEN
        conn_id = int(opened[1])
        # Two forwarded commands around one the worker answers itself, sent in one write.
        client.sendall(encode_command([b"GET", b"a"]) + encode_command([b"PING"]) + encode_command([b"GET", b"b"]))
        assert raft.next_record() == [records.REQUEST, opened[1], b"0", b"2", b"GET", b"a"]
        assert raft.next_record() == [records.REQUEST, opened[1], b"2", b"2", b"GET", b"b"]
        raft.reply(conn_id, 2, b"$1\r\nB\r\n")  # the later one first
        raft.reply(conn_id, 0, b"$1\r\nA\r\n")
        expected = b"$1\r\nA\r\n+PONG\r\n$1\r\nB\r\n"
        assert _read_exactly(client, expected) == expected
    finally:
        client.close()
    assert raft.next_record() == [records.CLOSE, opened[1]]


def test_quit_answers_then_closes(worker: tuple[socket.socket, RaftEnd]) -> None:
    listener, raft = worker
    client = _connect(listener)
    try:
        conn_id = raft.next_record()[1]
        client.sendall(encode_command([b"QUIT"]) + encode_command([b"GET", b"never"]))
        assert _read_exactly(client, b"+OK\r\n" + b"x") == b"+OK\r\n"  # then EOF
        client.close()
        assert raft.next_record() == [records.CLOSE, conn_id]  # GET was never forwarded
    finally:
        client.close()


def test_a_protocol_error_is_answered_and_closes_only_that_connection(
        worker: tuple[socket.socket, RaftEnd]) -> None:
    listener, raft = worker
    bad, good = _connect(listener), _connect(listener)
    try:
        bad_id, good_id = raft.next_record()[1], raft.next_record()[1]
        bad.sendall(b"*1\r\n$x\r\n")
        reply = _read_exactly(bad, b"-ERR Protocol error" + b"x" * 100)
        assert reply.startswith(b"-ERR Protocol error") and reply.endswith(b"\r\n")
        bad.close()
        assert raft.next_record() == [records.CLOSE, bad_id]
        good.sendall(encode_command([b"ECHO", b"still here"]))
        assert _read_exactly(good, b"$10\r\nstill here\r\n") == b"$10\r\nstill here\r\n"
    finally:
        bad.close()
        good.close()
    assert raft.next_record() == [records.CLOSE, good_id]


def test_local_stats_of_the_commands_a_worker_answers_reach_the_raft_process(
        worker: tuple[socket.socket, RaftEnd]) -> None:
    listener, raft = worker
    client = _connect(listener)
    try:
        assert raft.next_any_record()[0] == records.OPEN
        client.sendall(encode_command([b"PING"]) + encode_command([b"ECHO", b"x"]) + encode_command([b"PING"]))
        expected = b"+PONG\r\n$1\r\nx\r\n+PONG\r\n"
        assert _read_exactly(client, expected) == expected
        stats = CommandStats()
        while "cmdstat_ping" not in dict(stats.commandstats()) or "cmdstat_echo" not in dict(stats.commandstats()):
            record = raft.next_any_record()
            assert record[0] == records.STATS
            stats.merge(record[1:])
        counted = dict(stats.commandstats())
        assert counted["cmdstat_ping"].startswith("calls=2,") and counted["cmdstat_echo"].startswith("calls=1,")
    finally:
        client.close()


def test_a_config_set_frame_changes_what_the_worker_checks(worker: tuple[socket.socket, RaftEnd]) -> None:
    listener, raft = worker
    before = _connect(listener)
    try:
        assert raft.next_record()[0] == records.OPEN
        raft.sock.sendall(records.config_set([b"requirepass", b"pw"]))
        # The frame is read in order with replies: once this reply is through, the worker has the password.
        before.sendall(encode_command([b"GET", b"k"]))
        request = raft.next_record()
        raft.reply(int(request[1]), int(request[2]), b"$-1\r\n")
        assert _read_exactly(before, b"$-1\r\n") == b"$-1\r\n"  # it had connected without one: still in
        after = _connect(listener)
        try:
            after.sendall(encode_command([b"GET", b"k"]))
            expected = b"-NOAUTH Authentication required.\r\n"
            assert _read_exactly(after, expected) == expected
        finally:
            after.close()
    finally:
        before.close()
