"""Exceptions shared by the codec, the command table and the node, with Redis's error prefixes.

An error reply on the wire is ``-<PREFIX> <text>\r\n``; :class:`RespError` carries the whole line after
the dash (``"ERR syntax error"``), so its first word is the prefix clients dispatch on.
"""
from __future__ import annotations


class ProtocolError(Exception):
    """Malformed RESP from a peer. The message is the text after ``Protocol error: ``."""


class RespError(Exception):
    """An error reply. ``message`` is the full line without the leading ``-``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def prefix(self) -> str:
        return self.message.split(" ", 1)[0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RespError) and other.message == self.message

    def __hash__(self) -> int:
        return hash(self.message)

    def __repr__(self) -> str:
        return f"RespError({self.message!r})"


def err(text: str) -> RespError:
    """A generic ``-ERR`` reply."""
    return RespError("ERR " + text)


# Retryable errors a client sees while the cluster cannot serve it.
TRYAGAIN = "TRYAGAIN"
CLUSTERDOWN = "CLUSTERDOWN"
