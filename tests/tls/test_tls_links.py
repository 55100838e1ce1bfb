"""In process: the contexts of raftkv.tls, a non-blocking TLS socket read as a plain one, and the peer
transport over TLS (messages and admin calls pass; a peer of another CA, or a plaintext one, is refused;
the cluster secret goes out only inside TLS)."""
from __future__ import annotations

import select
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from raftkv.node.transport import peer_call
from raftkv.raft.types import Entry, EntryKind, Message, MessageType
from raftkv.tls import PeerTLS, TLSConfigError, client_context, handshake_step, server_context
from raftkv.wire.resp import encode_command
from tests.node.test_transport import Side, closed_by_peer, pump, raw_peer
from tests.tls.conftest import Certs, Identity

_DEADLINE_S = 10.0


def peer_tls(certs: Certs, identity: Identity | None = None) -> PeerTLS:
    identity = identity or certs.node
    return PeerTLS(server_context(identity.cert, identity.key, certs.ca, "yes"),
                   client_context(certs.ca, identity.cert, identity.key))


def secured(node_id: int, certs: Certs, identity: Identity | None = None) -> Side:
    side = Side(node_id, b"s3cret")
    side.t.secure(peer_tls(certs, identity))
    return side


def in_thread(failures: list[BaseException], call: Callable[[], object]) -> None:
    try:
        call()
    except BaseException as exc:  # handed to the test's thread
        failures.append(exc)
    else:
        failures.append(AssertionError("the call succeeded"))


def connected_pair(server: ssl.SSLContext, client: ssl.SSLContext) -> tuple[ssl.SSLSocket, ssl.SSLSocket]:
    """Both ends of a loopback TLS connection, handshaken, non-blocking."""
    listener = socket.create_server(("127.0.0.1", 0))
    raw_client = socket.create_connection(listener.getsockname())
    raw_server, _addr = listener.accept()
    listener.close()
    ends = [server.wrap_socket(raw_server, server_side=True, do_handshake_on_connect=False),
            client.wrap_socket(raw_client, do_handshake_on_connect=False)]
    for end in ends:
        end.setblocking(False)
    waiting = set(ends)
    deadline = time.monotonic() + _DEADLINE_S
    while waiting:
        assert time.monotonic() < deadline, "handshake timed out"
        for end in list(waiting):
            if not handshake_step(end):
                waiting.discard(end)
    return ends[0], ends[1]


def test_a_non_blocking_recv_returns_every_record_that_has_arrived(certs: Certs) -> None:
    server, client = connected_pair(server_context(certs.node.cert, certs.node.key, None, "no"),
                                    client_context(certs.ca))
    try:
        with pytest.raises(BlockingIOError):  # nothing yet: as a plain socket says it
            server.recv(1 << 20)
        payload = bytes(range(256)) * 1024  # 256 KiB: sixteen records at least
        client.setblocking(True)
        client.sendall(payload)
        got = b""
        sel = selectors.DefaultSelector()
        sel.register(server, selectors.EVENT_READ)
        deadline = time.monotonic() + _DEADLINE_S
        while len(got) < len(payload):
            assert time.monotonic() < deadline, f"got {len(got)} of {len(payload)} bytes"
            sel.select(1.0)
            try:
                got += server.recv(1 << 20)
            except BlockingIOError:
                continue
        assert got == payload
        sel.close()
    finally:
        server.close()
        client.close()


def test_unusable_files_are_one_line_errors(certs: Certs, tmp_path: Path) -> None:
    with pytest.raises(TLSConfigError, match="no such file"):
        server_context(tmp_path / "missing.crt", certs.node.key, certs.ca)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(TLSConfigError, match=f"cannot load CA file {garbage}"):
        client_context(garbage)
    with pytest.raises(TLSConfigError, match="cannot load certificate"):
        server_context(certs.node.cert, certs.client.key, certs.ca)  # a key of another certificate
    with pytest.raises(TLSConfigError, match="tls-ca-cert-file is needed"):
        server_context(certs.node.cert, certs.node.key, None, "optional")


def test_messages_and_admin_calls_travel_over_tls(certs: Certs) -> None:
    a, b = secured(1, certs), secured(2, certs)
    try:
        a.t.set_peers({2: b.addr})
        sent = [Message(MessageType.APPEND, 1, 2, term=3, log_term=2, index=i, commit=i,
                        entries=[Entry(i + 1, 3, EntryKind.NORMAL, b"x" * (i * 5000))])
                for i in range(10)]
        a.t.send(sent)
        pump([a, b], lambda: len(b.got) == len(sent))
        assert b.got == sent and b.introduced == [a.me]
        answers: list[object] = []
        client = peer_tls(certs).client
        thread = threading.Thread(
            target=lambda: answers.append(peer_call(b.addr, [b"RAFT", b"X"], b"s3cret", 9, tls=client)))
        thread.start()
        pump([b], lambda: bool(answers))
        thread.join(_DEADLINE_S)
        assert answers == [{b"asked": b"RAFT"}]
    finally:
        a.close()
        b.close()


def test_a_peer_with_a_certificate_of_another_ca_is_refused(certs: Certs, caplog: pytest.LogCaptureFixture) -> None:
    good, stranger = secured(1, certs), secured(2, certs, certs.stranger)
    try:
        stranger.t.set_peers({1: good.addr})
        good.t.set_peers({2: stranger.addr})
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # both try for a while, reconnecting after each refusal
            stranger.t.send([Message(MessageType.HEARTBEAT, 2, 1, term=1)])
            good.t.send([Message(MessageType.HEARTBEAT, 1, 2, term=1)])
            for side in (good, stranger):
                side.t.flush()
                side.poll()
        assert good.got == [] and stranger.got == []
        assert "TLS handshake failed: certificate verify failed" in caplog.text
        # Nor can it call the peer-only admin verbs.
        failed: list[BaseException] = []
        thread = threading.Thread(target=lambda: in_thread(failed, lambda: peer_call(
            good.addr, [b"RAFT", b"X"], b"s3cret", 9, tls=peer_tls(certs, certs.stranger).client)))
        thread.start()
        pump([good], lambda: bool(failed))
        thread.join(_DEADLINE_S)
        assert isinstance(failed[0], (ssl.SSLError, ConnectionError)) and good.asked == []
    finally:
        good.close()
        stranger.close()


def test_a_plaintext_peer_is_refused(certs: Certs) -> None:
    b = secured(2, certs)
    try:
        sock = raw_peer(b, encode_command([b"H", b"s3cret", b"5"]) + encode_command([b"5", b"1", b"2"]))
        pump([b], lambda: closed_by_peer(sock))
        sock.close()
        assert b.got == [] and b.introduced == []
    finally:
        b.close()


def test_the_secret_goes_out_only_inside_tls(certs: Certs) -> None:
    """What a node sends to a peer address that speaks plain TCP: a TLS ClientHello, never the secret."""
    a = secured(1, certs)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(_DEADLINE_S)
    try:
        a.t.set_peers({2: f"127.0.0.1:{listener.getsockname()[1]}"})
        a.t.send([Message(MessageType.HEARTBEAT, 1, 2, term=1)])
        accepted: list[socket.socket] = []
        thread = threading.Thread(target=lambda: accepted.append(listener.accept()[0]))
        thread.start()
        pump([a], lambda: bool(accepted))
        thread.join(_DEADLINE_S)
        sock = accepted[0]
        # The node's side of the connection goes on only while its loop runs: run it until it has sent.
        pump([a], lambda: bool(select.select([sock], [], [], 0)[0]))
        sock.settimeout(_DEADLINE_S)
        first = sock.recv(1 << 16)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:  # give it every chance to send more
            a.t.flush()
            a.poll()
        sock.settimeout(0.2)
        try:
            first += sock.recv(1 << 16)
        except TimeoutError:
            pass
        assert first[:1] == b"\x16"  # a TLS handshake record
        assert b"s3cret" not in first
        sock.close()
    finally:
        listener.close()
        a.close()
