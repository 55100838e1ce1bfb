"""Telling the workers the applied ACL user table (:mod:`raftkv.acl`), which they check AUTH and every
command of a limited user against (:mod:`raftkv.worker.permissions`).

The state machine replaces its table whole on each change, so the table is sent again whenever the
applied one is not the object last sent: after an entry that changed it, and after a snapshot was
installed. A worker that attaches (at start, or restarted by the supervisor) is sent the current one.
No socket of its own: frames leave through ``send`` (one worker's pipe), after the replies already queued
there, so a worker learns a change just after the reply that acknowledges it.
"""
from __future__ import annotations

from collections.abc import Callable, Collection

from raftkv.acl import User, encode_users
from raftkv.wire import records


class UserPush:
    def __init__(self, send: Callable[[int, bytes], None], workers: Callable[[], Collection[int]]) -> None:
        """``send(worker, frame)`` queues a frame on a worker's pipe; ``workers`` are those attached now."""
        self._send = send
        self._workers = workers
        self._sent: dict[bytes, User] = {}  # a worker starts with no users but default
        self._frame = b""

    def applied(self, users: dict[bytes, User]) -> None:
        """Called after every Ready: sends ``users`` to every worker if it is not what they have."""
        if users is self._sent:
            return
        self._sent = users
        self._frame = records.control([b"users", encode_users(users)])
        for worker in self._workers():
            self._send(worker, self._frame)

    def attached(self, worker: int) -> None:
        if self._frame:
            self._send(worker, self._frame)
