"""A small blocking RESP2 client for kvsctl: one connection, one command at a time.

It owns the socket and nothing else; decoding is the codec's (``raftkv.wire.resp``). Error replies come back as
:class:`RespError` values, not exceptions, so a caller can print them the way redis-cli does. Anything
that keeps a reply from arriving (refused connection, timeout, closed socket, malformed bytes) raises
:class:`ClientError` with a one-line message meant for the user.
"""
from __future__ import annotations

import socket
import time
from types import TracebackType
from typing import Any

from raftkv.errors import ProtocolError
from raftkv.wire.resp import NEED_MORE, Reader, RespError, encode_command

__all__ = ["Client", "ClientError", "RespError", "format_address"]

_RECV_BYTES = 65536


class ClientError(Exception):
    """The node could not be talked to. ``str()`` is one line, without a trailing period."""


def format_address(host: str, port: int) -> str:
    """``host:port``, with IPv6 hosts in brackets so the result parses back."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _describe(error: OSError) -> str:
    """A short lower-case reason such as ``connection refused``."""
    reason = error.strerror or str(error) or type(error).__name__
    return reason[:1].lower() + reason[1:]


class Client:
    """A blocking connection to one node, opened on the first :meth:`execute`.

    ``timeout`` (seconds) bounds connecting and, separately, each whole command: sending it and
    reading its whole reply.
    The client speaks RESP2 and never sends HELLO, so replies are the RESP2 types.
    """

    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.address = format_address(host, port)
        self._sock: socket.socket | None = None
        self._reader = Reader()

    def execute(self, *args: bytes | str | int) -> Any:
        """Send one command and return its decoded reply (a :class:`RespError` for an error reply)."""
        sock = self._connect()
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

    def close(self) -> None:
        """Close the connection; the next :meth:`execute` opens a new one."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            # Bytes of a reply cut short by the close must not prefix the next connection's replies.
            self._reader = Reader()

    def _connect(self) -> socket.socket:
        if self._sock is None:
            try:
                self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            except TimeoutError:
                raise ClientError(
                    f"cannot reach {self.address}: no answer within {self.timeout:g}s"
                ) from None
            except OSError as exc:
                raise ClientError(f"cannot reach {self.address}: {_describe(exc)}") from None
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._sock

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
