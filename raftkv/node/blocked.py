"""Clients blocked on empty keys (BLPOP and the other blocking pops), held by the node they are connected
to.

A blocking pop is proposed like any write; an attempt that finds every key empty comes back as
:data:`~raftkv.kv.commands.blocking.WOULD_BLOCK` (:mod:`raftkv.kv.commands.blocking`), and its client is
parked here, still counted as a write in flight, so that its later commands wait behind it as in Redis.
After each batch of applied entries, for every key that changed, the first client parked on it (in the
order they blocked) is proposed again; an attempt that finds the key empty again (another client, maybe of
another node, took the element first) parks it again in the same place. So every pop that serves a
client is one log entry: no element is delivered twice or lost, also when the leader changes (the client
stays parked here; its attempt goes to whichever leader there is).

A timeout, ``CLIENT UNBLOCK`` or a closed connection ends a parked client at once (the timeout reply, or
an error for ``CLIENT UNBLOCK ... ERROR``; nothing for a closed one). One whose attempt is in flight ends
when the attempt comes back, with what it popped if it popped something: that pop is in the log.

Owns no clock and does no I/O: the caller passes the time, answers leave through ``answer`` and attempts
through ``propose``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from raftkv.errors import RespError
from raftkv.kv.commands.blocking import TIMEOUT_REPLY, WOULD_BLOCK, parse_timeout, timeout_index, waited_keys
from raftkv.node.sequencer import Pending, client_key

UNBLOCKED = RespError("UNBLOCKED client unblocked via CLIENT UNBLOCK")


@dataclass(slots=True, eq=False)
class _Blocked:
    pending: Pending
    keys: list[bytes]
    deadline: float  # 0: none
    attempting: bool = False
    ending: object = None  # the reply it gets once its attempt in flight comes back empty


class BlockedClients:
    def __init__(self, answer: Callable[[Pending, object], None],
                 propose: Callable[[list[Pending]], None]) -> None:
        self._answer = answer
        self._propose = propose
        self._by_client: dict[int, _Blocked] = {}  # client_key -> its blocked command (at most one)
        self._by_key: dict[bytes, list[_Blocked]] = {}  # key -> clients waiting on it, in blocking order

    def __len__(self) -> int:
        return len(self._by_client)

    def outcome(self, p: Pending, reply: object, now: float) -> None:
        """An attempt of blocking command ``p`` was applied here with ``reply``: answer, or park it."""
        key = client_key(p.client.worker, p.client.conn)
        blocked = self._by_client.get(key)
        if reply is not WOULD_BLOCK:
            if blocked is not None:
                self._forget(key, blocked)
            self._answer(p, reply)
            return
        if blocked is None:
            timeout = parse_timeout(p.argv[timeout_index(p.argv)])
            assert not isinstance(timeout, RespError)  # the attempt would have answered the error
            blocked = _Blocked(p, waited_keys(p.argv), now + float(timeout) if timeout else 0.0)
            self._by_client[key] = blocked
            for k in blocked.keys:
                self._by_key.setdefault(k, []).append(blocked)
            return
        blocked.attempting = False
        if blocked.ending is not None or p.client.closed:
            self._end(key, blocked, blocked.ending)

    def failed(self, p: Pending) -> None:
        """An attempt of ``p`` was answered without being applied here (dropped, or timed out in the
        log): its client has its answer and waits no more."""
        key = client_key(p.client.worker, p.client.conn)
        blocked = self._by_client.get(key)
        if blocked is not None and blocked.pending is p:
            self._forget(key, blocked)

    def changed(self, keys: set[bytes]) -> None:
        """Keys changed: propose again the first client parked on each of them."""
        retry = []
        for k in keys:
            for blocked in self._by_key.get(k, ()):
                if not blocked.attempting and blocked.ending is None:
                    blocked.attempting = True
                    retry.append(blocked.pending)
                    break
        if retry:
            self._propose(retry)

    def retry_all(self) -> None:
        """The whole state was replaced (a snapshot from the leader): any key may hold elements now."""
        self.changed(set(self._by_key))

    def rerouted(self) -> None:
        """The slot map changed or a slot started migrating: every parked client tries again, so that one
        whose slot is now served elsewhere is redirected rather than left waiting."""
        retry = []
        for blocked in self._by_client.values():
            if not blocked.attempting and blocked.ending is None:
                blocked.attempting = True
                retry.append(blocked.pending)
        if retry:
            self._propose(retry)

    def expire(self, now: float) -> None:
        """End the clients whose timeout passed or whose connection closed."""
        for key, blocked in list(self._by_client.items()):
            closed = blocked.pending.client.closed
            if closed or (blocked.deadline and blocked.deadline <= now):
                self._end_or_mark(key, blocked, TIMEOUT_REPLY)

    def unblock(self, worker: int, conn: int, error: bool) -> int:
        """CLIENT UNBLOCK: 1 if that connection was blocked (it gets the timeout reply, or an error)."""
        key = client_key(worker, conn)
        blocked = self._by_client.get(key)
        if blocked is None or blocked.ending is not None:
            return 0
        self._end_or_mark(key, blocked, UNBLOCKED if error else TIMEOUT_REPLY)
        return 1

    def _end_or_mark(self, key: int, blocked: _Blocked, reply: object) -> None:
        if blocked.attempting:
            blocked.ending = reply  # answered when its attempt comes back
        else:
            self._end(key, blocked, reply)

    def _end(self, key: int, blocked: _Blocked, reply: object) -> None:
        self._forget(key, blocked)
        if not blocked.pending.client.closed:
            self._answer(blocked.pending, reply)

    def _forget(self, key: int, blocked: _Blocked) -> None:
        del self._by_client[key]
        for k in blocked.keys:
            waiting = self._by_key[k]
            waiting.remove(blocked)
            if not waiting:
                del self._by_key[k]
