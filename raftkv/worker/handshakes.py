"""TLS handshakes of connections accepted on the TLS client port, driven on the worker's selector.

A connection is not a client session until its handshake completes: until then it is held here, stepped
each time its socket is ready, and closed when the handshake fails (a plain client on the TLS port, a
client without a certificate the CA signed) or outlasts :data:`HANDSHAKE_TIMEOUT_S` (a silent peer must
not hold a descriptor for ever). It never reads or writes application bytes; the worker's session does.
"""
from __future__ import annotations

import logging
import selectors
import ssl
import time
from collections.abc import Callable

from raftkv.tls import describe, handshake_step

log = logging.getLogger("raftkv.worker.handshakes")

HANDSHAKE_TIMEOUT_S = 10.0


class Handshakes:
    """The handshakes in progress; ``done(sock, addr)`` is called with each one that completes."""

    def __init__(self, selector: selectors.BaseSelector, done: Callable[[ssl.SSLSocket, str], None]) -> None:
        self._sel = selector
        self._done = done
        # socket -> (address, deadline); read by the worker's loop, which expires them only while any wait
        self.pending: dict[ssl.SSLSocket, tuple[str, float]] = {}

    def start(self, sock: ssl.SSLSocket, addr: str) -> None:
        """Take an accepted, non-blocking socket wrapped for the server side; the client speaks first."""
        self.pending[sock] = (addr, time.monotonic() + HANDSHAKE_TIMEOUT_S)
        self._sel.register(sock, selectors.EVENT_READ, self._on_ready)

    def _on_ready(self, key: selectors.SelectorKey, mask: int) -> None:
        sock = key.fileobj
        assert isinstance(sock, ssl.SSLSocket)
        addr, _deadline = self.pending[sock]
        try:
            events = handshake_step(sock)
        except OSError as exc:
            log.info("TLS handshake with client %s failed: %s", addr, describe(exc))
            self._drop(sock)
            return
        if events:
            self._sel.modify(sock, events, self._on_ready)
            return
        del self.pending[sock]
        self._sel.unregister(sock)
        self._done(sock, addr)

    def expire(self, now: float) -> None:
        """Close the handshakes whose deadline has passed."""
        for sock in [s for s, (_addr, deadline) in self.pending.items() if deadline <= now]:
            log.info("TLS handshake with client %s timed out", self.pending[sock][0])
            self._drop(sock)

    def close(self) -> None:
        for sock in list(self.pending):
            self._drop(sock)

    def _drop(self, sock: ssl.SSLSocket) -> None:
        del self.pending[sock]
        self._sel.unregister(sock)
        sock.close()
