"""What a command handler may use of the state machine, and the shape of a handler.

:class:`Keyspace` is the narrow interface the command modules (:mod:`raftkv.kv.commands`) are written
against; :class:`raftkv.kv.state_machine.StateMachine` is its one implementation. Keeping it here lets
the command modules be imported without the state machine, and the state machine import them (through
:mod:`raftkv.kv.registry`) without a cycle. This module holds declarations only: no data, no logic.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol, TypeVar

from sortedcontainers import SortedDict

from raftkv.acl import User

# A reply value, as :func:`raftkv.wire.resp.encode_reply` takes it.
Reply = object

T = TypeVar("T")


class Keyspace(Protocol):
    """The state machine as its commands see it; the methods are documented on ``StateMachine``."""

    # key -> bytes or a raftkv.kv.datatypes aggregate, including keys that have expired but are not yet
    # deleted
    data: SortedDict
    rng: random.Random  # for the reads that pick at random; seeded inside a transaction
    users: dict[bytes, User]  # the ACL users (raftkv.acl), a new dict on every change

    # reading: never changes anything
    def value(self, key: bytes, now_ms: int) -> object | None: ...
    def typed(self, key: bytes, now_ms: int, kind: type[T]) -> T | None: ...  # raises WrongType
    def is_live(self, key: bytes, now_ms: int) -> bool: ...
    def expiry(self, key: bytes) -> int | None: ...
    def live_count(self, now_ms: int) -> int: ...
    def key_version(self, key: bytes, now_ms: int | None = None) -> int: ...

    # writing: only while applying a log entry
    def value_for_write(self, key: bytes, now_ms: int) -> object | None: ...
    def typed_for_write(self, key: bytes, now_ms: int, kind: type[T]) -> T | None: ...  # raises WrongType
    def put(self, key: bytes, value: object, keep_ttl: bool = False) -> None: ...
    def changed(self, key: bytes) -> None: ...
    def entry_rng(self, now_ms: int) -> random.Random: ...
    def delete(self, key: bytes) -> bool: ...
    def drop_expired(self, key: bytes) -> None: ...
    def set_expiry(self, key: bytes, when: int, now_ms: int) -> None: ...
    def persist(self, key: bytes) -> bool: ...
    def flush(self) -> None: ...
    def execute_transaction(self, commands: list[list[bytes]], watched: list[tuple[bytes, int]],
                            now_ms: int) -> Reply: ...


# ``handler(keyspace, argv, now_ms) -> reply``: argv has passed the table's arity check, argv[0] is the
# name in any case, and now_ms is the entry's time (a read's: the serving process's clock).
Handler = Callable[[Keyspace, list[bytes], int], Reply]
