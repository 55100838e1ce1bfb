"""The one blocking RESP client of raftkv: kvsctl, the admin calls between nodes and the benchmarks use it.

One connection, one command at a time (optionally over TLS, optionally after HELLO/AUTH), and the address
syntax clients accept. It owns the socket and nothing else; decoding is the codec's (``raftkv.wire.resp``).
Error replies come back as :class:`RespError` values, not exceptions, so a caller can print them the way
redis-cli does. Anything that keeps a reply from arriving (refused connection, timeout, closed socket,
malformed bytes) raises :class:`ClientError` with a one-line message meant for the user;
:class:`ConnectError`, its subclass, means nothing was sent, so trying another node cannot apply a write
twice, and :class:`ConnectionClosed` that the other end closed without answering.
"""
from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, NoReturn

from raftkv.errors import ProtocolError
from raftkv.tls import describe
from raftkv.wire.members import MembershipError, format_address, split_addr
from raftkv.wire.resp import NEED_MORE, Reader, RespError, encode_command

__all__ = [
    "Address", "Client", "ClientError", "ConnectError", "ConnectionClosed", "RespError", "connect_any",
    "format_address", "parse_address", "parse_endpoints",
]

_RECV_BYTES = 65536

Address = tuple[str, int]


class ClientError(ConnectionError):
    """The node could not be talked to. ``str()`` is one line, without a trailing period."""


class ConnectError(ClientError):
    """The connection could not be made: no byte of any command reached the node."""


class ConnectionClosed(ClientError):
    """The node closed the connection before a whole reply arrived."""


def parse_address(text: str) -> Address:
    """Split ``host:port`` (or ``[ipv6]:port``) into its parts; raise ValueError with the reason."""
    try:
        return split_addr(text.strip(), form="HOST:PORT")
    except MembershipError as exc:
        raise ValueError(str(exc)) from None


def parse_endpoints(text: str) -> list[Address]:
    """A comma-separated list of addresses, in order, each once; raise ValueError with the reason."""
    parts = [part for part in text.split(",") if part.strip()]
    if not parts:
        raise ValueError("no endpoint given: expected HOST:PORT[,HOST:PORT...]")
    return list(dict.fromkeys(parse_address(part) for part in parts))


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
    Replies are the RESP2 types unless :meth:`hello` asked for RESP3.
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
        self.send(encode_command(list(args)))
        return self.read_reply()

    def send(self, data: bytes) -> None:
        """Write ``data`` (already RESP-encoded), connecting first if need be; :meth:`read_reply` reads
        what it answers."""
        sock = self.connect()
        try:
            sock.settimeout(self.timeout)
            sock.sendall(data)
        except OSError as exc:
            self._lost(exc)

    def read_reply(self) -> Any:
        """The next whole reply, read within ``timeout``."""
        sock = self.connect()
        deadline = time.monotonic() + self.timeout
        try:
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
                    raise ConnectionClosed(f"{self.address} closed the connection")
                self._reader.feed(data)
        except ClientError:
            self.close()
            raise
        except OSError as exc:
            self._lost(exc)

    def _lost(self, exc: OSError) -> NoReturn:
        self.close()
        if isinstance(exc, TimeoutError):
            raise ClientError(f"{self.address} did not answer within {self.timeout:g}s") from None
        raise ClientError(f"lost connection to {self.address}: {_describe(exc)}") from None

    def hello(self, proto: int, user: bytes | None = None, password: bytes | None = None) -> RespError | None:
        """Send ``HELLO proto`` (with ``AUTH user password`` when a password is given); the error reply
        if the node refuses it, else None. Later replies are of protocol ``proto``."""
        argv: list[bytes | str | int] = [b"HELLO", proto]
        if password is not None:
            argv += [b"AUTH", user or b"default", password]
        reply = self.execute(*argv)
        return reply if isinstance(reply, RespError) else None

    def auth(self, password: bytes, user: bytes | None = None) -> RespError | None:
        """Send ``AUTH [user] password``; the error reply if the node refuses it, else None."""
        reply = self.execute(b"AUTH", *([user] if user is not None else []), password)
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


def request(address: str, *argv: bytes | str | int, timeout: float = 5.0) -> Any:
    """One command to the node at ``address`` (``host:port`` or ``[ipv6]:port``) on a connection of its
    own, without a password: its reply (a :class:`RespError` for an error)."""
    with Client(*parse_address(address), timeout=timeout) as client:
        return client.execute(*argv)


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
