"""kvsctl's client without a node: the address syntax, endpoint lists, and which endpoint gets the
connection."""
from __future__ import annotations

import socket

import pytest

from raftkv.client import ConnectError, connect_any, parse_address, parse_endpoints
from tests.kvsctl.scripted import free_port


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:2317", ("127.0.0.1", 2317)),
        ("localhost:1", ("localhost", 1)),
        (" node-a.example:65535 ", ("node-a.example", 65535)),
        ("[::1]:2317", ("::1", 2317)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("127.0.0.1", "expected HOST:PORT"),
        (":2317", "expected HOST:PORT"),
        ("host:", "expected HOST:PORT"),
        ("host:http", "port must be"),
        ("host:0", "port must be"),
        ("host:65536", "port must be"),
        ("::1:2317", "IPv6 host in brackets"),
    ],
)
def test_parse_address_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_address(text)


def test_parse_endpoints_keeps_order_once_each() -> None:
    assert parse_endpoints("b:2, a:1,,[::1]:3,b:2") == [("b", 2), ("a", 1), ("::1", 3)]


@pytest.mark.parametrize(("text", "reason"), [("", "no endpoint"), (" , ", "no endpoint"), ("a:1,b", "HOST:PORT")])
def test_parse_endpoints_rejects(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_endpoints(text)


def test_connect_any_takes_the_first_that_accepts() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with connect_any([("127.0.0.1", free_port()), ("127.0.0.1", port)], timeout=5) as client:
            assert client.port == port


def test_connect_any_names_every_reason() -> None:
    ports = [free_port(), free_port()]
    with pytest.raises(ConnectError) as caught:
        connect_any([("127.0.0.1", p) for p in ports], timeout=5)
    assert str(caught.value) == (
        f"cannot reach any endpoint: 127.0.0.1:{ports[0]}: connection refused; "
        f"127.0.0.1:{ports[1]}: connection refused"
    )
