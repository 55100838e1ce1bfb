"""The applied key space: a SortedDict of key -> value, its expiry times and its per-key versions.

A value is ``bytes`` (a string) or one of the aggregates of :mod:`raftkv.kv.datatypes` (hash, set, list,
sorted set), which commands change in place and then report with :meth:`StateMachine.changed`; a key is
never left holding an empty aggregate. A command that meets another type than it needs raises
:class:`raftkv.kv.datatypes.WrongType` from :meth:`StateMachine.typed` before it has changed anything,
and :meth:`StateMachine.execute` answers WRONGTYPE.

Only committed log entries change it. Applying the same entries in the same order gives the same state
on every node, so nothing here reads a clock or an unseeded random source: a command that needs the
time gets ``now_ms``, the proposing leader's clock carried in its entry (for a read, the serving
process's clock; reads never change anything).

Expiry: ``expires`` holds absolute times in ms beside the map, mirrored in a list sorted by time. A key
whose time is <= now_ms is absent for every command. Reads just skip it; writes delete it first (lazily,
and deterministically since now_ms comes from the entry). The leader also sweeps: it asks
:meth:`StateMachine.expired_keys` for due keys and proposes the internal ``expired`` command
(:mod:`raftkv.kv.commands.expire`), which deletes each given key only if it is still due at the entry's time, so
a key set again in the meantime survives.

Versions (for WATCH): a key's version is ``applied_index`` when it last changed (the driver sets
``applied_index`` to an entry's index before applying it). A key that has expired reports ``~version``
(a negative number), before and after its deletion, since the deletion changes nothing a client can
see. Deleted keys keep their version as a tombstone; the oldest tombstones are dropped past a bound, and
FLUSHDB drops them all, by raising ``version_floor``, the version of every key with none. That can
only make a watched key look changed when it was not, which aborts an EXEC needlessly but never lets a
change through.

Random choices that change state (SPOP) come from :meth:`StateMachine.entry_rng`, seeded from the
entry's index and time, so every node draws the same; random reads (SRANDMEMBER) use ``rng``, which is
local except inside a transaction.

The command handlers live in :mod:`raftkv.kv.commands`, written against :class:`raftkv.kv.keyspace.Keyspace`
(which this class implements); :data:`raftkv.kv.registry.HANDLERS` maps names to them.
"""
from __future__ import annotations

import hashlib
import random
import struct
from itertools import accumulate, islice
from typing import BinaryIO, TypeVar

from sortedcontainers import SortedDict, SortedList

from raftkv.acl import User, decode_users, encode_users
from raftkv.kv.commands.blocking import in_transaction
from raftkv.kv.datatypes import CODE_STRING, WRONGTYPE, WrongType, from_flat
from raftkv.kv.keyspace import Reply
from raftkv.kv.registry import HANDLERS
from raftkv.wire.values import NULL_ARRAY

MAX_TOMBSTONES = 100_000
_NUMBERS = struct.Struct(">qq")
_AGGREGATE_MARK = struct.Struct(">Qqq")  # in the digest, where a string would have its length
_NOT_A_LENGTH = (1 << 64) - 1
# The first piece of a dump: applied_index, version_floor, number of keys and, from version 2 on, the
# body's version. Version 1 (three numbers) held strings only, version 2 no ACL users; load() reads both.
_DUMP_VERSION = 3

T = TypeVar("T")


class StateMachine:
    def __init__(self) -> None:
        self.data: SortedDict = SortedDict()
        self.expires: dict[bytes, int] = {}
        self.applied_index = 0
        self.version_floor = 0
        self.users: dict[bytes, User] = {}  # the ACL users but `default` (raftkv.acl), replaced on a change
        # Used by the few commands that pick at random (RANDOMKEY, SRANDMEMBER). Reads use this unseeded
        # one; inside a transaction, which every node applies, it is replaced by one seeded from the entry.
        self.rng: random.Random = random.Random()
        self._deadlines: SortedList = SortedList()  # (when, key) for every key in `expires`
        self._deadline_sum = 0  # sum of `expires` values, for the average TTL
        self._versions: dict[bytes, int] = {}  # every key in `data`
        self._tombstones: dict[bytes, int] = {}  # deleted keys, oldest deletion first
        self._entry_rng = random.Random(0)
        self._entry_rng_index = -1  # the applied_index _entry_rng was seeded for
        self._changed_keys: set[bytes] | None = None  # noted while clients are blocked (watch_changes)

    # -- applying commands ------------------------------------------------------------------------

    def execute(self, argv: list[bytes], now_ms: int) -> Reply:
        """Run one command (already validated by the command table) and return its reply value."""
        try:
            return HANDLERS[argv[0].lower()](self, argv, now_ms)
        except WrongType:
            return WRONGTYPE

    def execute_transaction(self, commands: list[list[bytes]], watched: list[tuple[bytes, int]],
                            now_ms: int) -> Reply:
        """EXEC: NULL_ARRAY if a watched key changed since its version was read, else every command's reply.

        The commands were validated when queued; an error while running one is that command's reply and
        the others still run, as in Redis.
        """
        for key, version in watched:
            if self.key_version(key, now_ms) != version:
                return NULL_ARRAY
        read_rng = self.rng
        self.rng = random.Random(f"{self.applied_index}:{now_ms}:read")
        try:
            # A blocking pop never waits inside EXEC: it answers at once, as Redis does.
            return [in_transaction(argv, self.execute(argv, now_ms)) for argv in commands]
        finally:
            self.rng = read_rng

    def entry_rng(self, now_ms: int) -> random.Random:
        """The random source of choices that change state (SPOP): seeded from the entry being applied
        (its index and time), so every node draws the same; calls within one entry (a transaction)
        continue one sequence."""
        if self._entry_rng_index != self.applied_index:
            self._entry_rng = random.Random(f"{self.applied_index}:{now_ms}")
            self._entry_rng_index = self.applied_index
        return self._entry_rng

    # -- reading (never changes anything) ---------------------------------------------------------

    def value(self, key: bytes, now_ms: int) -> object | None:
        """The value of `key` whatever its type, or None if it is missing or has expired."""
        value = self.data.get(key)
        if value is not None and self.expires:
            when = self.expires.get(key)
            if when is not None and when <= now_ms:
                return None
        return value

    def typed(self, key: bytes, now_ms: int, kind: type[T]) -> T | None:
        """The value of `key` if it holds a `kind` (``bytes`` for a string), None if it is missing or has
        expired; raises WrongType if it holds another type."""
        value = self.data.get(key)
        if value is None:
            return None
        if self.expires:
            when = self.expires.get(key)
            if when is not None and when <= now_ms:
                return None
        if type(value) is not kind:
            raise WrongType
        return value

    def is_live(self, key: bytes, now_ms: int) -> bool:
        return self.value(key, now_ms) is not None

    def expiry(self, key: bytes) -> int | None:
        """The absolute expiry time of `key` in ms, or None if it has none."""
        return self.expires.get(key)

    def live_count(self, now_ms: int) -> int:
        return len(self.data) - self._due_count(now_ms)

    def key_version(self, key: bytes, now_ms: int | None = None) -> int:
        """The version to remember for WATCH; it differs later if the key has changed in between.

        Pass the serving clock as `now_ms` so that a key which has already expired reports the version
        its deletion will keep; without it, an expired key still reports its live version, and EXEC
        then sees a change when the key is finally deleted.
        """
        version = self._versions.get(key)
        if version is None:
            return self._tombstones.get(key, self.version_floor)
        if now_ms is not None and not self.is_live(key, now_ms):
            return ~version
        return version

    def expired_keys(self, now_ms: int, limit: int) -> list[bytes]:
        """Up to `limit` keys due for deletion at now_ms, soonest first (for the leader's sweep)."""
        stop = min(self._due_count(now_ms), limit)
        return [key for _when, key in self._deadlines.islice(0, stop)]

    def keyspace_info(self, now_ms: int) -> tuple[int, int, int]:
        """INFO keyspace's numbers: live keys, live keys with an expiry, their average TTL in ms."""
        due = self._due_count(now_ms)
        expiring = len(self._deadlines) - due
        if not expiring:
            return len(self.data) - due, 0, 0
        due_sum = sum(when for when, _key in self._deadlines.islice(0, due))
        return len(self.data) - due, expiring, (self._deadline_sum - due_sum) // expiring - now_ms

    def digest(self) -> str:
        """A hash of the whole state (every value of every type, expiry times, versions), to compare nodes.

        An aggregate is hashed as its snapshot form (type code and ``flat()`` items), behind a length no
        string can have, so that no string and aggregate hash alike.
        """
        h = hashlib.sha256()
        expires, versions = self.expires, self._versions
        for key, value in self.data.items():
            if type(value) is bytes:
                h.update(len(key).to_bytes(8, "big") + key + len(value).to_bytes(8, "big") + value)
            else:
                items = value.flat()
                h.update(len(key).to_bytes(8, "big") + key + _AGGREGATE_MARK.pack(_NOT_A_LENGTH, value.code,
                                                                                  len(items)))
                h.update(b"".join(len(item).to_bytes(8, "big") + item for item in items))
            h.update(_NUMBERS.pack(expires.get(key, -1), versions[key]))
        for key in sorted(self._tombstones):
            h.update(len(key).to_bytes(8, "big") + key + _NUMBERS.pack(self._tombstones[key], 0))
        h.update(_NUMBERS.pack(self.version_floor, 0))
        return h.hexdigest()

    def _due_count(self, now_ms: int) -> int:
        return self._deadlines.bisect_left((now_ms + 1,)) if self.expires else 0

    # -- snapshots --------------------------------------------------------------------------------

    def dump(self, out: BinaryIO) -> None:
        """Writes everything :meth:`load` needs to rebuild an equal state machine (a snapshot's body).

        Every piece is a count and that many little-endian int64s; a list of bytes is its lengths so
        encoded, then the bytes joined. First applied_index, version_floor, the number of keys and the
        dump's version; then the keys in sorted order, in batches of: keys, string values (empty for an
        aggregate), versions, the positions in the batch and times of those with an expiry, and the
        positions of the aggregates, their type codes, their numbers of items and all their ``flat()``
        items joined; then the tombstones' keys and versions, oldest first; last the ACL users (one
        blob, :func:`raftkv.acl.encode_users`). Whole batches go through
        ``struct`` and ``join``, so a million keys take about a second.
        """
        def ints(numbers: list[int]) -> None:
            out.write(struct.pack(f"<Q{len(numbers)}q", len(numbers), *numbers))

        def blobs(items: list[bytes]) -> None:
            ints(list(map(len, items)))
            out.write(b"".join(items))

        data, expires, versions = self.data, self.expires, self._versions
        ints([self.applied_index, self.version_floor, len(data), _DUMP_VERSION])
        keys_in_order = iter(data)
        while keys := list(islice(keys_in_order, 1 << 16)):
            values = list(map(data.__getitem__, keys))
            blobs(keys)
            blobs([v if type(v) is bytes else b"" for v in values])
            ints(list(map(versions.__getitem__, keys)))
            timed = [i for i, key in enumerate(keys) if key in expires] if expires else []
            ints(timed)
            ints([expires[keys[i]] for i in timed])
            aggregates = [i for i, v in enumerate(values) if type(v) is not bytes]
            flats = [values[i].flat() for i in aggregates]
            ints(aggregates)
            ints([values[i].code for i in aggregates])
            ints(list(map(len, flats)))
            blobs([item for items in flats for item in items])
        blobs(list(self._tombstones))
        ints(list(self._tombstones.values()))
        blobs([encode_users(self.users)])

    @classmethod
    def load(cls, inp: BinaryIO) -> StateMachine:
        """Reads what :meth:`dump` wrote (or a version 1 dump, of strings only, or a version 2 one, without
        users); ValueError if it ends early or is of an unknown version."""
        def exactly(size: int) -> bytes:
            raw = inp.read(size)
            if len(raw) != size:
                raise ValueError("state machine dump ends early")
            return raw

        def ints() -> tuple[int, ...]:
            (count,) = struct.unpack("<Q", exactly(8))
            return struct.unpack(f"<{count}q", exactly(8 * count))

        def blobs() -> list[bytes]:
            ends = list(accumulate(ints()))
            raw = exactly(ends[-1] if ends else 0)
            return [raw[start:end] for start, end in zip([0, *ends], ends)]

        sm = cls()
        head = ints()
        if len(head) == 3:
            version = 1
            sm.applied_index, sm.version_floor, count = head
        elif len(head) == 4 and head[3] in (2, _DUMP_VERSION):
            sm.applied_index, sm.version_floor, count, version = head
        else:
            raise ValueError(f"state machine dump of an unknown version ({head[3:]})")
        keys: list[bytes] = []
        values: list[object] = []
        while len(keys) < count:
            batch = blobs()
            batch_values: list[object] = list(blobs())
            sm._versions.update(zip(batch, ints()))
            timed, times = ints(), ints()
            sm.expires.update((batch[i], when) for i, when in zip(timed, times))
            if version > 1:
                positions, codes, sizes = ints(), ints(), ints()
                items = blobs()
                start = 0
                for i, code, size in zip(positions, codes, sizes):
                    if code == CODE_STRING:
                        raise ValueError("an aggregate of the string type in a state machine dump")
                    batch_values[i] = from_flat(code, items[start:start + size])
                    start += size
            keys += batch
            values += batch_values
        sm.data = SortedDict(zip(keys, values))
        sm._deadlines = SortedList(zip(sm.expires.values(), sm.expires.keys()))
        sm._deadline_sum = sum(sm.expires.values())
        sm._tombstones = dict(zip(blobs(), ints()))
        if version >= 3:
            sm.users = decode_users(blobs()[0])
        return sm

    # -- writing (only while applying an entry) ---------------------------------------------------

    def value_for_write(self, key: bytes, now_ms: int) -> object | None:
        """Like :meth:`value`, but first deletes `key` if it has expired."""
        value = self.data.get(key)
        if value is not None and self.expires:
            when = self.expires.get(key)
            if when is not None and when <= now_ms:
                self.drop_expired(key)
                return None
        return value

    def typed_for_write(self, key: bytes, now_ms: int, kind: type[T]) -> T | None:
        """Like :meth:`typed`, but first deletes `key` if it has expired."""
        value = self.value_for_write(key, now_ms)
        if value is not None and type(value) is not kind:
            raise WrongType
        return value

    def put(self, key: bytes, value: object, keep_ttl: bool = False) -> None:
        """Sets `key` to `value` (bytes or a non-empty aggregate), dropping its expiry unless `keep_ttl`."""
        self.data[key] = value
        if not keep_ttl and key in self.expires:
            self._forget_deadline(key)
        self._changed(key)

    def changed(self, key: bytes) -> None:
        """Reports that the aggregate at `key` was changed in place: bumps its version (WATCH), and
        deletes the key if the aggregate is now empty, as Redis deletes empty aggregates."""
        if len(self.data[key]):
            self._changed(key)
        else:
            self._remove(key, self.applied_index)

    def delete(self, key: bytes) -> bool:
        """Deletes `key` if present (callers first go through :meth:`value_for_write`)."""
        if key not in self.data:
            return False
        self._remove(key, self.applied_index)
        return True

    def drop_expired(self, key: bytes) -> None:
        """Deletes a key that has expired; as far as WATCH can tell, it went when it expired."""
        self._remove(key, ~self._versions[key])

    def set_expiry(self, key: bytes, when: int, now_ms: int) -> None:
        """Gives the present `key` the absolute expiry `when`; a time already past deletes it."""
        if when <= now_ms:
            self.delete(key)
            return
        if key in self.expires:
            self._forget_deadline(key)
        self.expires[key] = when
        self._deadlines.add((when, key))
        self._deadline_sum += when
        self._changed(key)

    def persist(self, key: bytes) -> bool:
        """Removes the expiry time of the present `key`; False if it had none."""
        if key not in self.expires:
            return False
        self._forget_deadline(key)
        self._changed(key)
        return True

    def flush(self) -> None:
        """Deletes every key. Every version moves past all earlier ones (see the module's docstring)."""
        self.data.clear()
        self.expires.clear()
        self._deadlines.clear()
        self._deadline_sum = 0
        self._versions.clear()
        self._tombstones.clear()
        self.version_floor = self.applied_index

    def watch_changes(self) -> None:
        """From now on, note every key a write changes (:meth:`take_changed`), for blocked clients."""
        if self._changed_keys is None:
            self._changed_keys = set()

    def take_changed(self) -> set[bytes]:
        """The keys changed since the last call (after :meth:`watch_changes`); stops noting them."""
        changed, self._changed_keys = self._changed_keys or set(), None
        return changed

    def _changed(self, key: bytes) -> None:
        self._versions[key] = self.applied_index
        if self._changed_keys is not None:
            self._changed_keys.add(key)
        if self._tombstones:
            self._tombstones.pop(key, None)

    def _remove(self, key: bytes, version: int) -> None:
        del self.data[key]
        if key in self.expires:
            self._forget_deadline(key)
        del self._versions[key]
        tombstones = self._tombstones
        tombstones.pop(key, None)  # re-insert, so that the dict stays ordered by deletion
        tombstones[key] = version
        if len(tombstones) > MAX_TOMBSTONES:
            del tombstones[next(iter(tombstones))]
            self.version_floor = self.applied_index

    def _forget_deadline(self, key: bytes) -> None:
        when = self.expires.pop(key)
        self._deadlines.remove((when, key))
        self._deadline_sum -= when

