"""A self-pipe that wakes a selector loop from a signal handler or another thread.

Owns one non-blocking socketpair: register the ``Wakeup`` itself (it has ``fileno``) for reading, call
:meth:`notify` from anywhere, and :meth:`drain` in the callback. It must not carry data: a wakeup says
"look again", and the caller keeps what there is to look at (a queue, a stop flag).
"""
from __future__ import annotations

import socket


class Wakeup:
    def __init__(self) -> None:
        self.reader, self._writer = socket.socketpair()
        self.reader.setblocking(False)
        # Never block the notifier: a full pipe already holds a pending wakeup.
        self._writer.setblocking(False)

    def fileno(self) -> int:
        return self.reader.fileno()

    def writer_fileno(self) -> int:
        """For ``signal.set_wakeup_fd``: the interpreter then notifies on every signal by itself."""
        return self._writer.fileno()

    def notify(self) -> None:
        """Async-signal-safe and thread-safe: one send, no locks, no allocation beyond the call."""
        try:
            self._writer.send(b"x")
        except OSError:  # full (a wakeup is pending anyway) or closed (the loop is gone)
            pass

    def drain(self) -> None:
        """Swallow every pending wakeup, so that the selector stops reporting this one."""
        try:
            while self.reader.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def close(self) -> None:
        self.reader.close()
        self._writer.close()
