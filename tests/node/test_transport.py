"""Peer framing over real loopback sockets: messages and snapshot chunks arrive whole, in order, split at
any point of the stream; a peer without the cluster secret or with garbage is refused; a handshake
announces the sender's addresses; a one-shot admin request is answered on its connection."""
from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from raftkv.node.transport import Transport, peer_call
from raftkv.raft.types import Entry, EntryKind, Message, MessageType
from raftkv.wire.members import Member
from raftkv.wire.raft_messages import encode_message
from raftkv.wire.resp import encode_command


class Side:
    def __init__(self, node_id: int, secret: bytes) -> None:
        self.sel = selectors.DefaultSelector()
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        self.addr = f"127.0.0.1:{listener.getsockname()[1]}"
        self.got: list[Message] = []
        self.chunks: list[tuple[int, list[bytes]]] = []
        self.unreachable: list[int] = []
        self.asked: list[list[bytes]] = []
        self.introduced: list[Member] = []
        self.me = Member(node_id, f"127.0.0.1:{7000 + node_id}", self.addr)
        self.t = Transport(self.me, listener, self.sel, self.got.append, self.unreachable.append,
                           lambda src, fields: self.chunks.append((src, fields)), secret, self._answer,
                           self.introduced.append)

    def _answer(self, argv: list[bytes]) -> object:
        self.asked.append(argv)
        return {b"asked": argv[0]}

    def poll(self) -> None:
        for key, _mask in self.sel.select(0.01):
            key.data(key.fileobj)

    def close(self) -> None:
        self.t.close()
        self.sel.close()


def pump(sides: list[Side], until: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not until():
        assert time.monotonic() < deadline, "timed out"
        for side in sides:
            side.t.flush()
            side.poll()


@pytest.fixture
def pair() -> Iterator[tuple[Side, Side]]:
    a, b = Side(1, b"s3cret"), Side(2, b"s3cret")
    a.t.set_peers({2: b.addr})
    b.t.set_peers({1: a.addr})
    yield a, b
    a.close()
    b.close()


def test_messages_arrive_whole_and_in_order(pair: tuple[Side, Side]) -> None:
    a, b = pair
    sent = [Message(MessageType.APPEND, 1, 2, term=3, log_term=2, index=i, commit=i,
                    entries=[Entry(i + 1, 3, EntryKind.NORMAL, b"x" * (i * 1000))])
            for i in range(20)]
    sent.append(Message(MessageType.HEARTBEAT, 1, 2, term=3, context=b"read-7"))
    a.t.send(sent)
    pump([a, b], lambda: len(b.got) == len(sent))
    assert b.got == sent


def test_snapshot_chunks_are_delivered_with_their_sender(pair: tuple[Side, Side]) -> None:
    a, b = pair
    a.t.send([Message(MessageType.HEARTBEAT, 1, 2, term=1)])  # opens the connection
    pump([a, b], lambda: len(b.got) == 1)
    fields = [b"0", b"3", b"abc", b""]
    assert a.t.send_chunk(2, fields)
    pump([a, b], lambda: len(b.chunks) == 1)
    assert b.chunks == [(1, fields)]


def test_a_chunk_without_a_connection_is_not_queued(pair: tuple[Side, Side]) -> None:
    a, _b = pair
    assert not a.t.send_chunk(2, [b"0", b"1", b"x", b""])
    assert not a.t.send_chunk(3, [b"0", b"1", b"x", b""])  # not a peer


def raw_peer(side: Side, data: bytes) -> socket.socket:
    host, port = side.addr.split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(data)
    return sock


def closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def test_a_frame_split_at_every_byte_still_arrives() -> None:
    b = Side(2, b"")
    try:
        msg = Message(MessageType.VOTE, 5, 2, term=9, log_term=8, index=40)
        stream = encode_command([b"H", b"", b"5"]) + encode_message(msg)
        sock = raw_peer(b, b"")
        for i in range(len(stream)):
            sock.sendall(stream[i:i + 1])
            b.poll()
        pump([b], lambda: len(b.got) == 1)
        assert b.got == [msg]
        sock.close()
    finally:
        b.close()


@pytest.mark.parametrize("first", [
    encode_command([b"H", b"wrong", b"5"]),  # wrong secret
    encode_command([b"PING"]),  # not a raftkv peer
    b"not resp at all\r\n",  # a protocol error
])
def test_a_peer_that_fails_the_handshake_is_refused(first: bytes) -> None:
    b = Side(2, b"s3cret")
    try:
        sock = raw_peer(b, first + encode_command([b"anything"]))
        pump([b], lambda: closed_by_peer(sock))
        assert b.got == [] and b.chunks == []
        sock.close()
    finally:
        b.close()


def test_an_undecodable_message_closes_only_that_connection(pair: tuple[Side, Side]) -> None:
    a, b = pair
    sock = raw_peer(b, encode_command([b"H", b"s3cret", b"9"]) + encode_command([b"garbage"]))
    pump([b], lambda: closed_by_peer(sock))
    sock.close()
    a.t.send([Message(MessageType.HEARTBEAT, 1, 2, term=1)])
    pump([a, b], lambda: len(b.got) == 1)  # other peers are unaffected


def test_an_unreachable_peer_is_reported() -> None:
    a = Side(1, b"")
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()  # nothing listens there now
    try:
        a.t.set_peers({2: f"127.0.0.1:{port}"})
        a.t.send([Message(MessageType.HEARTBEAT, 1, 2, term=1)])
        pump([a], lambda: 2 in a.unreachable)
    finally:
        a.close()


def test_a_handshake_announces_the_senders_addresses(pair: tuple[Side, Side]) -> None:
    a, b = pair
    a.t.send([Message(MessageType.HEARTBEAT, 1, 2, term=1)])
    pump([a, b], lambda: len(b.got) == 1)
    assert b.introduced == [a.me]


def test_an_admin_request_is_answered_once_the_secret_is_known() -> None:
    b = Side(2, b"s3cret")
    answers: list[object] = []
    try:
        thread = threading.Thread(target=lambda: answers.append(peer_call(b.addr, [b"RAFT", b"X"], b"s3cret", 9)))
        thread.start()
        pump([b], lambda: bool(answers))
        thread.join()
        assert answers == [{b"asked": b"RAFT"}] and b.asked == [[b"RAFT", b"X"]]
        assert b.introduced == []  # the one-shot caller announces nothing
        sock = raw_peer(b, encode_command([b"H", b"wrong", b"9"]) + encode_command([b"A", b"RAFT", b"X"]))
        pump([b], lambda: closed_by_peer(sock))
        sock.close()
        assert b.asked == [[b"RAFT", b"X"]]
    finally:
        b.close()


def test_peers_are_never_dropped_but_a_new_address_replaces_the_old(pair: tuple[Side, Side]) -> None:
    a, b = pair
    a.t.set_peers({3: "127.0.0.1:1"})
    a.t.send([Message(MessageType.HEARTBEAT, 1, 2, term=1)])
    pump([a, b], lambda: len(b.got) == 1)  # peer 2 is still known
    a.t.set_peers({2: "127.0.0.1:1"})
    assert a.t.backlog(2) == (0, 0)  # a new peer entry: no connection yet
