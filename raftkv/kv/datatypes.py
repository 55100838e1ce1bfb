"""The values a key can hold: one class per Redis type beside ``bytes``, and what each operation costs.

A key holds ``bytes`` (a string) or one instance of :class:`Hash`, :class:`Set`, :class:`List` or
:class:`ZSet`. Commands find the class they need with ``Keyspace.typed`` (which raises :class:`WrongType`
for any other) and change an aggregate in place, then call ``Keyspace.changed`` (which bumps the key's
version for WATCH and deletes the key once the aggregate is empty, as Redis does). Nothing here reads a
clock or draws at random: the caller passes the RNG, so that every node that applies an entry draws the
same elements.

Every class has:

- ``TYPE``: what TYPE answers; ``encoding``: what OBJECT ENCODING answers, the name of *our* structure
  (``ENCODINGS`` lists them all, for the docs);
- ``len()``: its number of elements; ``copy()``: an independent copy (COPY);
- ``code`` and ``flat()``, and :func:`from_flat`: the form snapshots and DEBUG DIGEST use, a list of
  bytes and a type code that also records the layout wherever the layout is visible to clients.

Orders clients can see are deterministic (no Python ``set`` or hash order is ever exposed) and, where
Redis's is deterministic, Redis's: a small hash keeps insertion order (Redis's listpack), a set of
integers is in numeric order (Redis's intset).
"""
from __future__ import annotations

import random
import struct
from collections.abc import Iterable, Iterator
from typing import Final

from sortedcontainers import SortedDict, SortedList, SortedSet

from raftkv.errors import RespError
from raftkv.kv.args import INT64_MIN, parse_int
from raftkv.kv.blocklist import BlockList

WRONGTYPE: Final = RespError("WRONGTYPE Operation against a key holding the wrong kind of value")


class WrongType(Exception):
    """A key holds another type than the command needs; the state machine answers :data:`WRONGTYPE`.

    Raised by ``Keyspace.typed`` and ``typed_for_write`` and caught by ``StateMachine.execute``, so a
    handler must look up every key it will check before it changes anything (as Redis's do).
    """


# Redis's thresholds for its compact encodings (hash-max-listpack-entries/-value,
# set-max-intset-entries); below them its order is deterministic and we keep the same one.
SMALL_HASH_FIELDS = 128
SMALL_HASH_BYTES = 64
SMALL_INTSET = 512

# Snapshot type codes (0 is a string). A new type takes the next free number.
CODE_STRING, CODE_HASH_SMALL, CODE_HASH_BIG, CODE_SET, CODE_LIST, CODE_ZSET = range(6)


class Hash:
    """field -> value, in one of two layouts, converted one way as Redis converts listpack to hashtable.

    - small (``encoding`` "smalldict"): a plain ``dict`` in insertion order, while it has at most 128
      fields and every field and value written has at most 64 bytes. HGETALL/HKEYS/HVALS and HSCAN give
      Redis's listpack order; HSCAN returns it whole in one call, as Redis does for a listpack.
    - big ("sorteddict"): a ``SortedDict``, fields in byte order. HGET/HEXISTS/HSTRLEN O(1);
      HSET/HDEL O(log n); the i-th field (HRANDFIELD) O(log n); HSCAN with COUNT c resumes after the
      last field it returned with one bisection: O(log n + c).

    Both: HLEN O(1), HGETALL O(n). The small layout's random pick copies its <= 128 keys.
    """

    __slots__ = ("fields",)
    TYPE: Final = "hash"

    def __init__(self, fields: dict[bytes, bytes] | None = None) -> None:
        self.fields: dict[bytes, bytes] | SortedDict = {} if fields is None else fields

    @property
    def small(self) -> bool:
        return type(self.fields) is dict

    @property
    def encoding(self) -> str:
        return "smalldict" if self.small else "sorteddict"

    @property
    def code(self) -> int:
        return CODE_HASH_SMALL if self.small else CODE_HASH_BIG

    def __len__(self) -> int:
        return len(self.fields)

    def set(self, field: bytes, value: bytes) -> bool:
        """Sets `field` (an existing field keeps its place); True if it is new."""
        fields = self.fields
        new = field not in fields
        fields[field] = value
        if type(fields) is dict and (len(fields) > SMALL_HASH_FIELDS or len(field) > SMALL_HASH_BYTES
                                     or len(value) > SMALL_HASH_BYTES):
            self.fields = SortedDict(fields)
        return new

    def delete(self, field: bytes) -> bool:
        return self.fields.pop(field, None) is not None

    def field_at(self, index: int) -> bytes:
        """The field at `index` in iteration order (0 <= index < len)."""
        fields = self.fields
        if isinstance(fields, SortedDict):
            return fields.keys()[index]
        return list(fields)[index]

    def random_field(self, rng: random.Random) -> bytes:
        return self.field_at(rng.randrange(len(self.fields)))

    @property
    def scans_whole(self) -> bool:
        return self.small

    def scan(self, after: bytes | None, count: int) -> tuple[list[bytes], bytes | None]:
        """Up to `count` fields after the field `after` (None: from the start) and the field to resume
        after next time, or None once none is left. A small hash answers whole."""
        fields = self.fields
        if not isinstance(fields, SortedDict):
            return list(fields), None
        start = 0 if after is None else fields.bisect_right(after)
        batch: list[bytes] = list(fields.islice(start, start + count))
        more = start + count < len(fields)
        return batch, (batch[-1] if more and batch else None)

    def scan_reply(self, names: list[bytes]) -> list[bytes]:
        fields = self.fields
        return [x for name in names for x in (name, fields[name])]

    def copy(self) -> Hash:
        return Hash(self.fields.copy())

    def flat(self) -> list[bytes]:
        return [x for pair in self.fields.items() for x in pair]


_NUMBER_START: Final = frozenset(b"-0123456789")


def member_order(member: bytes) -> bytes:
    """The sort key of a set member: integers first, in numeric order (as Redis's intset keeps them),
    then every other member in byte order."""
    if member and member[0] in _NUMBER_START and len(member) <= 20:
        number = parse_int(member)
        if number is not None:
            return b"\x00" + (number - INT64_MIN).to_bytes(8, "big")
    return b"\x01" + member


class Set:
    """Members in a ``SortedSet`` ("sortedset") ordered by :func:`member_order`.

    SISMEMBER O(1) (its hash set); SADD/SREM O(log n); the i-th member (SPOP, SRANDMEMBER) O(log n);
    SCARD O(1); SMEMBERS O(n); SINTER O(n * k) over the smallest set; SSCAN with COUNT c resumes after
    the last member it returned with one bisection: O(log n + c), and a set of at most 512 integers
    (an intset in Redis) answers whole in one call, as Redis does.
    """

    __slots__ = ("members",)
    TYPE: Final = "set"
    encoding: Final = "sortedset"
    code: Final = CODE_SET

    def __init__(self, members: Iterable[bytes] = ()) -> None:
        self.members: SortedSet = SortedSet(members, key=member_order)

    def __len__(self) -> int:
        return len(self.members)

    def __contains__(self, member: bytes) -> bool:
        return member in self.members

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.members)

    def add(self, member: bytes) -> bool:
        """True if `member` is new."""
        members = self.members
        if member in members:
            return False
        members.add(member)
        return True

    def remove(self, member: bytes) -> bool:
        """True if `member` was there."""
        members = self.members
        if member not in members:
            return False
        members.remove(member)
        return True

    def member_at(self, index: int) -> bytes:
        return self.members[index]

    def random_member(self, rng: random.Random) -> bytes:
        return self.members[rng.randrange(len(self.members))]

    @property
    def scans_whole(self) -> bool:
        """Redis would hold this set as an intset: at most 512 members, all integers."""
        members = self.members
        return len(members) <= SMALL_INTSET and (not members or member_order(members[-1])[0] == 0)

    def scan(self, after: bytes | None, count: int) -> tuple[list[bytes], bytes | None]:
        """As :meth:`Hash.scan`; an intset answers whole."""
        members = self.members
        if self.scans_whole:
            return list(members), None
        start = 0 if after is None else members.bisect_key_right(member_order(after))
        batch: list[bytes] = list(members.islice(start, start + count))
        more = start + count < len(members)
        return batch, (batch[-1] if more and batch else None)

    def scan_reply(self, names: list[bytes]) -> list[bytes]:
        return names

    def copy(self) -> Set:
        twin = Set()
        twin.members = self.members.copy()
        return twin

    def flat(self) -> list[bytes]:
        return list(self.members)


class List:
    """Elements in a :class:`raftkv.kv.blocklist.BlockList` ("blocklist"): blocks of up to 512 elements
    found by bisection.

    LPUSH/RPUSH/LPOP/RPOP O(1) per element; LLEN O(1); LINDEX/LSET O(log n) (Redis's quicklist walks:
    O(n)); LRANGE start stop O(log n + m) for m elements; LTRIM O(removed / 512 + n / 512); LINSERT,
    LREM and LPOS O(n) scans, as Redis's; LMOVE/RPOPLPUSH O(1).
    """

    __slots__ = ("items",)
    TYPE: Final = "list"
    encoding: Final = "blocklist"
    code: Final = CODE_LIST

    def __init__(self, items: Iterable[bytes] = ()) -> None:
        self.items: BlockList = BlockList(items)

    def __len__(self) -> int:
        return len(self.items)

    def copy(self) -> List:
        twin = List()
        twin.items = self.items.copy()
        return twin

    def flat(self) -> list[bytes]:
        return list(self.items)


_SCORE = struct.Struct("<d")
SMALL_ZSET_ENTRIES = 128  # Redis 7.0's zset-max-listpack-entries
SMALL_ZSET_VALUE = 64  # and zset-max-listpack-value


class ZSet:
    """member -> score in a ``dict`` beside a ``SortedList`` of (score, member) ("dict+sortedlist").

    Redis's order: by score, then member bytewise. ZSCORE/ZMSCORE O(1); ZADD/ZREM/ZINCRBY O(log n);
    ZRANK O(log n) (bisection plus the list's positional index); ZRANGE by rank, score or lex O(log n + m)
    for m elements; ZCOUNT/ZLEXCOUNT O(log n) (two bisections); ZPOPMIN/ZPOPMAX O(log n) each; ZCARD O(1).
    Scores are Python floats (C doubles, as Redis's), never NaN.
    """

    __slots__ = ("scores", "order")
    TYPE: Final = "zset"
    encoding: Final = "dict+sortedlist"
    code: Final = CODE_ZSET

    def __init__(self, pairs: Iterable[tuple[bytes, float]] = ()) -> None:
        self.scores: dict[bytes, float] = dict(pairs)
        self.order: SortedList = SortedList((score, member) for member, score in self.scores.items())

    def __len__(self) -> int:
        return len(self.scores)

    def add(self, member: bytes, score: float) -> bool:
        """Sets `member`'s score; True if it is new."""
        old = self.scores.get(member)
        if old is not None:
            if old == score:
                return False
            self.order.remove((old, member))
        self.scores[member] = score
        self.order.add((score, member))
        return old is None

    def remove(self, member: bytes) -> bool:
        score = self.scores.pop(member, None)
        if score is None:
            return False
        self.order.remove((score, member))
        return True

    def rank(self, member: bytes) -> int | None:
        score = self.scores.get(member)
        return None if score is None else self.order.index((score, member))

    @property
    def scans_whole(self) -> bool:
        """Redis 7.0 would hold this sorted set as a listpack: at most 128 members of at most 64 bytes."""
        return len(self.scores) <= SMALL_ZSET_ENTRIES and all(len(m) <= SMALL_ZSET_VALUE for m in self.scores)

    def scan(self, after: bytes | None, count: int) -> tuple[list[bytes], bytes | None]:
        """As :meth:`Hash.scan`, in (score, member) order: the position to resume after is the last
        (score, member) returned, packed (a member whose score changes meanwhile moves in that order, and
        may be returned twice or not at all). A listpack-sized one answers whole."""
        order = self.order
        if self.scans_whole:
            return [member for _score, member in order], None
        start = 0 if after is None else order.bisect_right((_SCORE.unpack_from(after)[0], after[_SCORE.size:]))
        batch = list(order.islice(start, start + count))
        more = start + count < len(order)
        last = _SCORE.pack(batch[-1][0]) + batch[-1][1] if more and batch else None
        return [member for _score, member in batch], last

    def scan_reply(self, names: list[bytes]) -> list[bytes]:
        """Each member and its score as a string, as Redis's ZSCAN writes it (%.17g), in either protocol."""
        scores = self.scores
        return [x for member in names for x in (member, b"%.17g" % scores[member])]

    def copy(self) -> ZSet:
        twin = ZSet()
        twin.scores = self.scores.copy()
        twin.order = self.order.copy()
        return twin

    def flat(self) -> list[bytes]:
        pack = _SCORE.pack
        return [x for score, member in self.order for x in (member, pack(score))]


Aggregate = Hash | Set | List | ZSet

ENCODINGS: Final = {
    "bytes": "a string: Python bytes",
    "smalldict": "a hash of at most 128 fields of at most 64 bytes: a dict in insertion order",
    "sorteddict": "a bigger hash: a SortedDict, fields in byte order",
    "sortedset": "a set: a SortedSet, integers first in numeric order, then bytewise",
    "blocklist": "a list: blocks of up to 512 elements, found by bisection (kv/blocklist.py)",
    "dict+sortedlist": "a sorted set: member -> score dict and a SortedList of (score, member)",
}


def type_name(value: object) -> str:
    """What TYPE answers for a key holding `value`."""
    return "string" if type(value) is bytes else value.TYPE  # type: ignore[attr-defined]


def encoding_of(value: object) -> str:
    return "bytes" if type(value) is bytes else value.encoding  # type: ignore[attr-defined]


def from_flat(code: int, items: list[bytes]) -> Aggregate:
    """The aggregate that ``flat()`` gave `items` for, with type code `code`; ValueError if unknown."""
    if code == CODE_HASH_SMALL or code == CODE_HASH_BIG:
        fields = dict(zip(items[0::2], items[1::2]))
        return Hash(fields if code == CODE_HASH_SMALL else SortedDict(fields))
    if code == CODE_SET:
        return Set(items)
    if code == CODE_LIST:
        return List(items)
    if code == CODE_ZSET:
        unpack = _SCORE.unpack
        return ZSet((member, unpack(score)[0]) for member, score in zip(items[0::2], items[1::2]))
    raise ValueError(f"unknown value type code {code}")
