"""Concurrent redis-py clients that record a history of operations for the linearizability checker.

Each client is one thread with one connection at a time, so its operations never overlap one another.
An operation is recorded with its invocation and completion times (``time.monotonic_ns``) and one of
three outcomes:

- ``ok``: a reply came back; ``result`` holds it.
- ``fail``: the operation certainly had no effect: a GET that got no reply (a read changes nothing). A
  command that could not even be sent (no connection) is not recorded at all.
- ``unknown``: the write may or may not take effect, at any time after its invocation: a timeout, a
  broken connection, ``TRYAGAIN`` (commit timed out) and also ``CLUSTERDOWN``, which the server sends
  for a write it never proposed, but which this harness does not rely on.

SET writes a value unique to the client and its operation counter, so a read names the write it saw.
"""
from __future__ import annotations

import enum
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ClusterDownError, TryAgainError
from redis.retry import Retry

KINDS = ("get", "set", "incr", "del")
NOT_AN_INTEGER = "value is not an integer or out of range"  # INCR's error reply, an ok result
# What a client may see under faults; any other error is reported as unexpected (and recorded as unknown).
EXPECTED_ERRORS = ("timeout", "connection", "TRYAGAIN", "CLUSTERDOWN")
# What it may also see while members change: a node refusing clients once removed, or until it joined.
MEMBERSHIP_ERRORS = ("removed", "joining")

Result = str | int | None


class Outcome(enum.Enum):
    OK = "ok"
    FAIL = "fail"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Op:
    """One operation of one client on one key.

    ``arg`` is the value a SET writes. ``result`` is what an ``ok`` operation returned: GET the value
    (str) or None, INCR the new integer or :data:`NOT_AN_INTEGER`, DEL the count removed, SET None.
    ``return_ns`` is None exactly when the outcome is not ``ok``."""

    id: int
    client: str
    node: str
    kind: str
    key: str
    arg: str | None
    call_ns: int
    return_ns: int | None
    outcome: Outcome
    result: Result = None
    error: str | None = None

    @property
    def completed(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def known_until_ns(self) -> int:
        """The completion time, or the invocation time of an operation that has none."""
        return self.call_ns if self.return_ns is None else self.return_ns

    def text(self) -> str:
        """``set k1 1000000300 -> OK``, ``get k1 -> 7``, ``incr k2 -> ? (timeout)``."""
        call = f"{self.kind} {self.key}" + (f" {self.arg}" if self.arg is not None else "")
        if self.outcome is Outcome.UNKNOWN:
            return f"{call} -> ? ({self.error or 'outcome unknown'})"
        if self.outcome is Outcome.FAIL:
            return f"{call} -> failed ({self.error})"
        if self.kind == "set":
            return f"{call} -> OK"
        return f"{call} -> {'nil' if self.result is None else self.result}"


class History:
    """A thread-safe, append-only list of operations; times are ``time.monotonic_ns`` values."""

    def __init__(self) -> None:
        self.start_ns = time.monotonic_ns()
        self._ops: list[Op] = []
        self._lock = threading.Lock()

    def record(self, client: str, node: str, kind: str, key: str, arg: str | None, call_ns: int,
               return_ns: int | None, outcome: Outcome, result: Result = None, error: str | None = None) -> Op:
        with self._lock:
            op = Op(len(self._ops), client, node, kind, key, arg, call_ns, return_ns, outcome, result, error)
            self._ops.append(op)
        return op

    @property
    def ops(self) -> list[Op]:
        with self._lock:
            return list(self._ops)

    def ms(self, t_ns: int | None) -> str:
        """A time of this history as milliseconds since its start."""
        return "∞" if t_ns is None else f"{(t_ns - self.start_ns) / 1e6:.1f}"


def connect(address: str, socket_timeout_s: float) -> redis.Redis:
    """A client on one connection, opened now, that never retries a command on its own (a retried write
    could take effect twice). Raises redis.ConnectionError when the node does not accept."""
    host, _, port = address.rpartition(":")
    client = redis.Redis(host=host, port=int(port), protocol=2, socket_timeout=socket_timeout_s,
                         socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0),
                         single_connection_client=True)
    try:
        client.ping()
    except redis.RedisError:
        client.close()
        raise
    return client


def error_kind(exc: Exception) -> str:
    """A short name for a client-side exception, as listed in :data:`EXPECTED_ERRORS` when expected."""
    if isinstance(exc, redis.TimeoutError):
        return "timeout"
    if isinstance(exc, redis.ConnectionError):
        return "connection"
    if isinstance(exc, TryAgainError):
        return "TRYAGAIN"
    if isinstance(exc, ClusterDownError):
        return "CLUSTERDOWN"
    if isinstance(exc, redis.ResponseError) and str(exc) == "this node was removed from the cluster":
        return "removed"
    if isinstance(exc, redis.ResponseError) and str(exc).startswith("this node is waiting to join a cluster"):
        return "joining"
    return str(exc)


@dataclass
class Client:
    """One client thread: random operations on ``keys`` through one node at a time."""

    name: str
    index: int
    addresses: list[str]
    keys: Sequence[str]
    history: History
    rng: random.Random
    stop: threading.Event
    socket_timeout_s: float = 3.0
    switch_every: int = 50  # operations on one node before moving on even without an error
    expected_errors: Sequence[str] = EXPECTED_ERRORS
    unexpected: list[str] = field(default_factory=list, init=False)
    _seq: int = field(default=0, init=False)  # SETs so far, for unique values

    def run(self) -> None:
        while not self.stop.is_set():
            address = self.rng.choice(self.addresses)
            try:
                client = connect(address, self.socket_timeout_s)
            except redis.RedisError:
                self.stop.wait(0.05)  # the node is down or paused: pace the next attempt
                continue
            try:
                self._session(client, address)
            finally:
                client.close()

    def _session(self, client: redis.Redis, address: str) -> None:
        """Operations through one connection until an error or ``switch_every`` of them."""
        for _ in range(self.switch_every):
            if self.stop.is_set() or not self._one(client, address):
                return

    def _one(self, client: redis.Redis, address: str) -> bool:
        kind = self.rng.choices(KINDS, weights=(4, 3, 2, 1))[0]
        key = self.rng.choice(self.keys)
        arg = None
        if kind == "set":
            self._seq += 1
            arg = str((self.index + 1) * 10**9 + self._seq * 100)  # +100 leaves room for INCRs
        call_ns = time.monotonic_ns()
        try:
            result = _COMMANDS[kind](client, key, arg)
        except redis.ResponseError as exc:
            if kind == "incr" and str(exc) == NOT_AN_INTEGER:
                self.history.record(self.name, address, kind, key, arg, call_ns, time.monotonic_ns(),
                                    Outcome.OK, NOT_AN_INTEGER)
                return True
            self._failed(address, kind, key, arg, call_ns, exc)
            return False
        except redis.RedisError as exc:
            self._failed(address, kind, key, arg, call_ns, exc)
            return False
        self.history.record(self.name, address, kind, key, arg, call_ns, time.monotonic_ns(), Outcome.OK, result)
        return True

    def _failed(self, address: str, kind: str, key: str, arg: str | None, call_ns: int, exc: Exception) -> None:
        error = error_kind(exc)
        if error not in self.expected_errors:
            self.unexpected.append(f"{self.name} {kind} {key} on {address}: {exc!r}")
        outcome = Outcome.FAIL if kind == "get" else Outcome.UNKNOWN
        self.history.record(self.name, address, kind, key, arg, call_ns, None, outcome, error=error)


def _get(client: redis.Redis, key: str, _arg: str | None) -> Result:
    value = client.get(key)
    return value.decode() if isinstance(value, bytes) else value


def _set(client: redis.Redis, key: str, arg: str | None) -> Result:
    assert arg is not None
    if client.set(key, arg) is not True:
        raise redis.ResponseError("SET did not reply OK")
    return None


_COMMANDS: dict[str, Callable[[redis.Redis, str, str | None], Result]] = {
    "get": _get,
    "set": _set,
    "incr": lambda client, key, _arg: client.incr(key),
    "del": lambda client, key, _arg: client.delete(key),
}


class Workload:
    """``clients`` client threads over ``addresses``, seeded from ``seed``. Clients take the socket
    timeouts in turn: a short one gives up before the server's own deadlines (2 s for a leader, 5 s
    for a commit), a long one waits for the server's CLUSTERDOWN or TRYAGAIN. ``expected_errors``
    adds error kinds (of :func:`error_kind`) that are no surprise, such as :data:`MEMBERSHIP_ERRORS`."""

    def __init__(self, addresses: Sequence[str], keys: Sequence[str], clients: int, history: History,
                 seed: int, socket_timeouts_s: Sequence[float] = (3.0, 7.0),
                 expected_errors: Sequence[str] = ()) -> None:
        rng = random.Random(seed)
        self.stop_event = threading.Event()
        self.clients = [
            Client(f"c{i}", i, list(addresses), list(keys), history, random.Random(rng.getrandbits(64)),
                   self.stop_event, socket_timeouts_s[i % len(socket_timeouts_s)],
                   expected_errors=(*EXPECTED_ERRORS, *expected_errors))
            for i in range(clients)
        ]
        self._threads = [threading.Thread(target=self._run, args=(c,), name=c.name, daemon=True)
                         for c in self.clients]
        self._crashes: list[str] = []

    def _run(self, client: Client) -> None:
        try:
            client.run()
        except Exception as exc:  # a harness bug: surfaced by stop(), not lost in a thread
            self._crashes.append(f"client {client.name} crashed: {exc!r}")
            raise

    def add_address(self, address: str) -> None:
        """Clients also use ``address`` from now on (a node that is joining the cluster)."""
        for client in self.clients:
            if address not in client.addresses:
                client.addresses.append(address)  # read by rng.choice on the client's thread: append only

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Ask every client to stop and wait: each finishes at most its current operation."""
        self.stop_event.set()
        deadline = time.monotonic() + 30.0
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                raise RuntimeError(f"client {thread.name} did not stop")
        if self._crashes:
            raise RuntimeError("; ".join(self._crashes))

    @property
    def unexpected_errors(self) -> list[str]:
        return [e for c in self.clients for e in c.unexpected]
