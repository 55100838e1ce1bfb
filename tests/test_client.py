"""The one RESP client (raftkv.client) against a scripted peer on 127.0.0.1, and the one address parser
the server side shares with it (raftkv.wire.members.split_addr)."""
from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from raftkv.client import Client, ClientError, ConnectionClosed
from raftkv.errors import RespError
from raftkv.wire.members import MembershipError, default_peer_addr, parse_member, split_addr

_TIMEOUT_S = 5.0


@contextmanager
def scripted(answer: bytes) -> Iterator[tuple[int, list[bytes]]]:
    """A peer that reads one chunk, writes ``answer`` (b"": none) and closes; what it read is listed."""
    received: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(_TIMEOUT_S)

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(_TIMEOUT_S)
                received.append(conn.recv(65536))
                if answer:
                    conn.sendall(answer)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            yield listener.getsockname()[1], received
        finally:
            thread.join(_TIMEOUT_S)


def test_hello_sends_auth_and_returns_a_refusal() -> None:
    with scripted(b"-WRONGPASS invalid username-password pair or user is disabled.\r\n") as (port, received):
        with Client("127.0.0.1", port, timeout=_TIMEOUT_S) as client:
            refusal = client.hello(3, b"app", b"pw")
    assert received == [b"*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$2\r\npw\r\n"]
    assert refusal == RespError("WRONGPASS invalid username-password pair or user is disabled.")


def test_a_reply_of_a_raw_send_is_read_whole() -> None:
    with scripted(b"%1\r\n$2\r\nid\r\n:7\r\n") as (port, _received):
        with Client("127.0.0.1", port, timeout=_TIMEOUT_S) as client:
            client.send(b"*1\r\n$4\r\nPING\r\n")
            assert client.read_reply() == {b"id": 7}


def test_a_peer_that_closes_without_answering_is_connection_closed() -> None:
    with scripted(b"") as (port, _received):
        with Client("127.0.0.1", port, timeout=_TIMEOUT_S) as client, pytest.raises(ConnectionClosed) as caught:
            client.execute(b"PING")
    assert str(caught.value) == f"127.0.0.1:{port} closed the connection"
    assert isinstance(caught.value, ClientError) and isinstance(caught.value, OSError)


@pytest.mark.parametrize(("text", "expected"), [("127.0.0.1:2317", ("127.0.0.1", 2317)),
                                                ("[::1]:2317", ("::1", 2317))])
def test_split_addr_understands_bracketed_ipv6(text: str, expected: tuple[str, int]) -> None:
    assert split_addr(text) == expected


def test_the_default_peer_address_of_an_ipv6_member_keeps_its_brackets() -> None:
    assert default_peer_addr("[::1]:2317") == "[::1]:12317"
    assert parse_member("[::1]:2317").peer_addr == "[::1]:12317"


@pytest.mark.parametrize(("text", "reason"), [("nowhere", "expected host:port"), ("::1:2317", "in brackets"),
                                              ("h:0", "port must be")])
def test_split_addr_refuses(text: str, reason: str) -> None:
    with pytest.raises(MembershipError, match=reason):
        split_addr(text)
