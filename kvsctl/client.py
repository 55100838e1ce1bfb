"""The blocking RESP2 client every kvsctl command uses: one connection, one command at a time, and the address
syntax kvsctl accepts.

It owns the socket and nothing else; decoding is the codec's (``raftkv.wire.resp``). Error replies come back as
:class:`RespError` values, not exceptions, so a caller can print them the way redis-cli does. Anything
that keeps a reply from arriving (refused connection, timeout, closed socket, malformed bytes) raises
:class:`ClientError` with a one-line message meant for the user; :class:`ConnectError`, its subclass, means
nothing was sent, so trying another node cannot apply a write twice.
"""
from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from raftkv.errors import ProtocolError
from raftkv.tls import describe
from raftkv.wire.resp import NEED_MORE, Reader, RespError, encode_command

__all__ = [
    "Address", "Client", "ClientError", "ConnectError", "RespError", "connect_any", "format_address", "parse_address",
    "parse_endpoints",
]

_RECV_BYTES = 65536

Address = tuple[str, int]


class ClientError(Exception):
    """The node could not be talked to. ``str()`` is one line, without a trailing period."""


class ConnectError(ClientError):
    """The connection could not be made: no byte of any command reached the node."""


def parse_address(text: str) -> Address:
    """Split ``host:port`` (or ``[ipv6]:port``) into its parts; raise ValueError with the reason."""
    host, sep, port_text = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"bad address {text!r}: write an IPv6 host in brackets, [::1]:2317")
    if not sep or not host or not port_text:
        raise ValueError(f"bad address {text!r}: expected HOST:PORT")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad address {text!r}: port must be a number from 1 to 65535")
    return host, int(port_text)


def parse_endpoints(text: str) -> list[Address]:
    """A comma-separated list of addresses, in order, each once; raise ValueError with the reason."""
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise ValueError("no endpoint given: expected HOST:PORT[,HOST:PORT...]")
    return list(dict.fromkeys(parse_address(part) for part in parts))


def format_address(host: str, port: int) -> str:
    """``host:port``, with IPv6 hosts in brackets so the result parses back."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _describe(error: OSError) -> str:
    """A short lower-case reason such as ``connection refused``."""
    if isinstance(error, ssl.SSLError):
        return describe(error)
    reason = error.strerror or str(error) or type(error).__name__
    return reason[:1].lower() + reason[1:]


class Client:
    """A blocking connection to one node, opened by :meth:`connect` or the first :meth:`execute`.

    ``timeout`` (seconds) bounds connecting (with the TLS handshake when ``tls`` is given) and,
    separately, each whole command: sending it and reading its whole reply.
    The client speaks RESP2 and never sends HELLO, so replies are the RESP2 types.
    """

    def __init__(self, host: str, port: int, timeout: float = 5.0, tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._tls = tls
        self.address = format_address(host, port)
        self._sock: socket.socket | None = None
        self._reader = Reader()

    def execute(self, *args: bytes | str | int) -> Any:
        """Send one command and return its decoded reply (a :class:`RespError` for an error reply)."""
        sock = self.connect()
        deadline = time.monotonic() + self.timeout
        try:
            sock.settimeout(self.timeout)
            sock.sendall(encode_command(list(args)))
            while True:
                try:
                    reply = self._reader.gets()
                except ProtocolError as exc:
                    raise ClientError(f"{self.address} sent malformed RESP: {exc}") from None
                if reply is not NEED_MORE:
                    return reply
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                data = sock.recv(_RECV_BYTES)
                if not data:
                    raise ClientError(f"{self.address} closed the connection")
                self._reader.feed(data)
        except TimeoutError:
            self.close()
            raise ClientError(f"{self.address} did not answer within {self.timeout:g}s") from None
        except ClientError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise ClientError(f"lost connection to {self.address}: {_describe(exc)}") from None

    def auth(self, password: bytes) -> RespError | None:
        """Send ``AUTH password``; the error reply if the node refuses it, else None."""
        reply = self.execute(b"AUTH", password)
        return reply if isinstance(reply, RespError) else None

    def connect(self) -> socket.socket:
        """Open the connection unless it is open; raise :class:`ConnectError` if it cannot be made."""
        if self._sock is None:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
                if self._tls is not None:
                    sock = self._tls.wrap_socket(sock, server_hostname=self.host)
                self._sock = sock
            except ssl.SSLError as exc:
                raise ConnectError(f"cannot reach {self.address}: TLS handshake failed: {describe(exc)}") from None
            except TimeoutError:
                raise ConnectError(
                    f"cannot reach {self.address}: no answer within {self.timeout:g}s"
                ) from None
            except OSError as exc:
                raise ConnectError(f"cannot reach {self.address}: {_describe(exc)}") from None
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._sock

    def close(self) -> None:
        """Close the connection; the next :meth:`execute` opens a new one."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            # Bytes of a reply cut short by the close must not prefix the next connection's replies.
            self._reader = Reader()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def connect_any(addresses: Sequence[Address], timeout: float, tls: ssl.SSLContext | None = None) -> Client:
    """A client connected to the first of ``addresses`` that accepts a connection, tried in order.

    Only a connection that could not be made moves on to the next address, so a command sent once is never
    sent again elsewhere. Raises :class:`ConnectError` naming every address's reason when none accepts.
    """
    reasons = []
    for host, port in addresses:
        client = Client(host, port, timeout, tls)
        try:
            client.connect()
        except ConnectError as exc:
            reasons.append(str(exc).removeprefix("cannot reach "))
            continue
        return client
    if len(reasons) == 1:
        raise ConnectError(f"cannot reach {reasons[0]}")
    raise ConnectError(f"cannot reach any endpoint: {'; '.join(reasons)}")
