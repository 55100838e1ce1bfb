"""A worker's answers to the Raft process's node-wide requests (CLIENT LIST, CLIENT KILL, MONITOR), and
the MONITOR line format, in-process on real sessions over socketpairs."""
from __future__ import annotations

import pathlib
import socket
from collections.abc import Iterator

import pytest

from raftkv.config import NodeConfig
from raftkv.wire import records
from raftkv.wire.resp import RequestParser
from raftkv.worker.local import WorkerInfo, dispatch
from raftkv.worker.monitor import Monitor, quote
from raftkv.worker.node_requests import NodeRequests
from raftkv.worker.session import Session


class Worker:
    """A worker's sessions, its pipe buffer and its NodeRequests, without its loop."""

    def __init__(self) -> None:
        self.info = WorkerInfo(1, NodeConfig(data_dir=pathlib.Path("unused"), workers=2), {})
        self.pipe_out = bytearray()
        self.woken: list[Session] = []
        self.closed: list[Session] = []
        self.monitor = Monitor(self.pipe_out, self.info.monitors, self.woken.append)
        self.requests = NodeRequests(lambda: self.info, self.monitor, self.pipe_out, self._close)
        self._socks: list[socket.socket] = []

    def session(self, conn_id: int) -> Session:
        sock, peer = socket.socketpair()
        self._socks += [sock, peer]
        session = Session(sock, conn_id, records.client_id(conn_id, 1, 2), f"127.0.0.1:{5000 + conn_id}",
                          self.info.config)
        self.info.sessions[conn_id] = session  # type: ignore[index]
        return session

    def _close(self, session: Session) -> None:
        self.closed.append(session)
        del self.info.sessions[session.conn_id]  # type: ignore[attr-defined]
        self.monitor.closed(session)

    def ask(self, *argv: bytes) -> list[list[bytes]]:
        """Handle one node request; the records it wrote to the pipe."""
        self.requests.handle(list(argv))
        parser = RequestParser()
        parser.feed(bytes(self.pipe_out))
        self.pipe_out.clear()
        return parser.pop_commands()

    def close(self) -> None:
        for sock in self._socks:
            sock.close()


@pytest.fixture
def worker() -> Iterator[Worker]:
    w = Worker()
    yield w
    w.close()


def test_list_answers_the_matching_sessions_of_the_worker(worker: Worker) -> None:
    a, b = worker.session(1), worker.session(2)
    b.lib_name = b"redis-py"
    [[kind, token, text]] = worker.ask(b"list", b"7")
    assert (kind, token) == (records.ANSWER, b"7")
    lines = text.decode().splitlines()
    assert [line.split()[0] for line in lines] == [f"id={a.client_id}", f"id={b.client_id}"]
    assert "lib-name=redis-py" in lines[1] and "worker=1" in lines[1] and f"fd={b.sock.fileno()} " in lines[1]
    [[_, _, text]] = worker.ask(b"list", b"8", b"ID", b"%d" % b.client_id, b"99")
    assert text.decode().split()[0] == f"id={b.client_id}"
    assert worker.ask(b"list", b"9", b"TYPE", b"replica") == [[records.ANSWER, b"9", b""]]


def test_kill_closes_the_matching_sessions_and_counts_them(worker: Worker) -> None:
    a, b, c = worker.session(1), worker.session(2), worker.session(3)
    assert worker.ask(b"kill", b"1", b"999", b"0", b"ADDR", b"127.0.0.1:5002") == [[records.ANSWER, b"1", b"1"]]
    assert worker.closed == [b]
    # SKIPME yes spares the caller; SKIPME no closes it after the reply of the KILL (sequence 4).
    assert worker.ask(b"kill", b"2", b"%d" % a.client_id, b"4", b"LADDR", b"127.0.0.1:2317") == [
        [records.ANSWER, b"2", b"1"]]
    assert worker.closed == [b, c] and a.close_after is None
    assert worker.ask(b"kill", b"3", b"%d" % a.client_id, b"4", b"ID", b"%d" % a.client_id, b"SKIPME", b"no") == [
        [records.ANSWER, b"3", b"1"]]
    assert a.close_after == 4 and worker.closed == [b, c]
    assert worker.ask(b"kill", b"4", b"999", b"0", b"10.0.0.1:1") == [[records.ANSWER, b"4", b"0"]]


def test_monitor_lines_follow_the_monitor_reply(worker: Worker) -> None:
    watcher, other = worker.session(1), worker.session(2)
    assert dispatch(watcher, worker.info, [b"MONITOR"]) == [b"MONITOR"]
    seq = watcher.take_seq()
    assert worker.ask(b"monitor", b"5", b"on") == [[records.ANSWER, b"5", b""]] and worker.monitor.on
    worker.ask(b"lines", b"1.000000 [0 127.0.0.1:1] \"PING\"")
    assert watcher.out == b""  # its +OK is not written yet: a line before it would be of an earlier command
    watcher.deliver(seq, b"+OK\r\n")
    worker.ask(b"lines", b"2.000000 [0 127.0.0.1:1] \"PING\"", b"3.5 [0 127.0.0.1:1] \"ECHO\" \"x\"")
    assert watcher.out == b'+OK\r\n+2.000000 [0 127.0.0.1:1] "PING"\r\n+3.5 [0 127.0.0.1:1] "ECHO" "x"\r\n'
    assert other.out == b"" and worker.woken == [watcher]
    assert "flags=O " in worker.ask(b"list", b"6")[0][2].decode().splitlines()[0]
    worker._close(watcher)
    assert worker.ask(b"monitor", b"", b"off") == [[records.UNMONITORED, b"1"]] and not worker.monitor.on


def test_fed_commands_are_redis_lines_with_passwords_redacted_and_admin_commands_hidden(worker: Worker) -> None:
    s = worker.session(1)
    for argv in ([b"SET", b"k", b'a"b\n\x01\xffc'], [b"AUTH", b"default", b"pw"], [b"CLIENT", b"LIST"],
                 [b"HELLO", b"3", b"AUTH", b"default", b"pw", b"SETNAME", b"x"], [b"RAFT", b"MEMBER", b"LIST"],
                 [b"NOSUCH"], [b"GET"], [b"CLIENT", b"ID"]):
        worker.monitor.feed(s, argv)
    parser = RequestParser()
    parser.feed(bytes(worker.pipe_out))
    lines = [rec[1].split(b" ", 1) for rec in parser.pop_commands()]
    assert all(float(stamp) > 1e9 for stamp, _ in lines)
    assert [rest for _, rest in lines] == [
        b'[0 127.0.0.1:5001] "SET" "k" "a\\"b\\n\\x01\\xffc"',
        b'[0 127.0.0.1:5001] "AUTH" "(redacted)" "(redacted)"',
        b'[0 127.0.0.1:5001] "HELLO" "3" "AUTH" "(redacted)" "(redacted)" "SETNAME" "x"',
        b'[0 127.0.0.1:5001] "CLIENT" "ID"',
    ]
    assert quote(b"\t\r\x07\x08\\") == b'"\\t\\r\\a\\b\\\\"'
