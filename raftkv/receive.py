"""Reading a socket into one buffer that lives as long as its reader.

A fresh ``sock.recv(1 << 20)`` allocates a 1 MiB bytes object for every read; glibc serves an
allocation that big with mmap, so each read also costs an mmap, an mremap (shrinking it to what
arrived), a munmap and the page faults of fresh pages. The loops that read their pipes and peer links
on every turn read into this buffer instead: the parsers copy what they are fed, so the view may be
reused by the next read.
"""
from __future__ import annotations

import socket
import ssl

RECV_BYTES = 1 << 20


class ReceiveBuffer:
    def __init__(self, size: int = RECV_BYTES) -> None:
        self._buf = bytearray(size)
        self._view = memoryview(self._buf)

    def recv(self, sock: socket.socket) -> memoryview | bytes:
        """What one read of ``sock`` returned (empty at end of stream), valid until the next call.
        Raises what ``recv`` raises (BlockingIOError when nothing is there)."""
        if isinstance(sock, ssl.SSLSocket):  # its recv drains what OpenSSL holds (raftkv.tls)
            return sock.recv(len(self._buf))
        return self._view[:sock.recv_into(self._buf)]
