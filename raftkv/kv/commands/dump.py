"""DUMP and RESTORE, with a payload format of our own (not Redis's RDB encoding).

A payload is the value's snapshot form (:mod:`raftkv.kv.datatypes`: type code and ``flat()`` items):
one byte of type code, a little-endian u32 count of items and each item as a u32 length and its bytes,
then, as Redis lays out its footer, a u16 format version and an 8-byte BLAKE2b checksum of all that
precedes it. RESTORE answers Redis's errors in Redis's order; a payload of Redis's own fails its check
("DUMP payload version or checksum are wrong"). The checksum only catches damage, so a payload that
passes it is still checked for a well-formed value ("Bad data format"). RESTORE accepts IDLETIME and
FREQ and keeps neither: no node tracks access (OBJECT IDLETIME, OBJECT FREQ).
"""
from __future__ import annotations

import hashlib
import math
import struct

from raftkv.errors import RespError, err
from raftkv.kv.args import INT64_MAX, NOT_AN_INTEGER, SYNTAX_ERROR, invalid_expire_time, parse_int
from raftkv.kv.datatypes import (
    CODE_HASH_BIG,
    CODE_HASH_SMALL,
    CODE_LIST,
    CODE_SET,
    CODE_STRING,
    CODE_ZSET,
    SMALL_HASH_BYTES,
    SMALL_HASH_FIELDS,
    from_flat,
)
from raftkv.kv.keyspace import Handler, Keyspace, Reply

FORMAT_VERSION = 1
_U32 = struct.Struct("<I")
_HEAD = struct.Struct("<BI")
_VERSION = struct.Struct("<H")
_SCORE = struct.Struct("<d")  # as ZSet.flat() packs a score
_CHECKSUM_SIZE = 8
_BAD_CHECKSUM = err("DUMP payload version or checksum are wrong")
_BAD_DATA = err("Bad data format")
_BUSY = RespError("BUSYKEY Target key name already exists.")


def _checksum(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=_CHECKSUM_SIZE).digest()


def encode(value: object) -> bytes:
    """The payload DUMP gives for `value` (bytes or an aggregate)."""
    if type(value) is bytes:
        code, items = CODE_STRING, [value]
    else:
        code, items = value.code, value.flat()  # type: ignore[attr-defined]
    body = _HEAD.pack(code, len(items)) + b"".join(_U32.pack(len(item)) + item for item in items)
    body += _VERSION.pack(FORMAT_VERSION)
    return body + _checksum(body)


def _items(body: bytes, count: int) -> list[bytes] | None:
    items, at = [], _HEAD.size
    for _ in range(count):
        if at + _U32.size > len(body):
            return None
        (size,) = _U32.unpack_from(body, at)
        at += _U32.size
        items.append(body[at:at + size])
        at += size
    return items if at == len(body) else None


def _well_formed(code: int, items: list[bytes]) -> bool:
    """Whether `items` are a value of type `code` that this state machine could hold (none empty, no
    member twice, scores that are doubles and not NaN, a small hash within the small layout's limits)."""
    if code == CODE_STRING:
        return len(items) == 1
    if not items:
        return False
    if code == CODE_LIST:
        return True
    if code == CODE_SET:
        return len(set(items)) == len(items)
    if code not in (CODE_HASH_SMALL, CODE_HASH_BIG, CODE_ZSET) or len(items) % 2:
        return False
    names = items[0::2]
    if len(set(names)) != len(names):
        return False
    if code == CODE_ZSET:
        return all(len(s) == 8 and not math.isnan(_SCORE.unpack(s)[0]) for s in items[1::2])
    if code == CODE_HASH_SMALL:
        return len(names) <= SMALL_HASH_FIELDS and all(len(x) <= SMALL_HASH_BYTES for x in items)
    return True


def decode(payload: bytes) -> object | RespError:
    """The value a payload holds, or RESTORE's error for it."""
    if len(payload) < _HEAD.size + _VERSION.size + _CHECKSUM_SIZE:
        return _BAD_CHECKSUM
    body, checksum = payload[:-_CHECKSUM_SIZE], payload[-_CHECKSUM_SIZE:]
    (version,) = _VERSION.unpack_from(body, len(body) - _VERSION.size)
    if version != FORMAT_VERSION or _checksum(body) != checksum:
        return _BAD_CHECKSUM
    body = body[:-_VERSION.size]
    code, count = _HEAD.unpack_from(body)
    items = _items(body, count)
    if items is None or not _well_formed(code, items):
        return _BAD_DATA
    return items[0] if code == CODE_STRING else from_flat(code, items)


def dump(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    value = sm.value(argv[1], now_ms)
    return None if value is None else encode(value)


def _parse_options(argv: list[bytes]) -> tuple[bool, bool] | RespError:
    """RESTORE's REPLACE and ABSTTL; IDLETIME and FREQ (one or the other) are checked as Redis checks
    them, then dropped."""
    replace = absttl = False
    idle = freq = False
    i = 4
    while i < len(argv):
        opt, more = argv[i].lower(), i + 1 < len(argv)
        if opt == b"replace":
            replace = True
        elif opt == b"absttl":
            absttl = True
        elif opt == b"idletime" and more and not freq:
            seconds = parse_int(argv[i + 1])
            if seconds is None:
                return NOT_AN_INTEGER
            if seconds < 0:
                return err("Invalid IDLETIME value, must be >= 0")
            idle = True
            i += 1
        elif opt == b"freq" and more and not idle:
            count = parse_int(argv[i + 1])
            if count is None:
                return NOT_AN_INTEGER
            if not 0 <= count <= 255:
                return err("Invalid FREQ value, must be >= 0 and <= 255")
            freq = True
            i += 1
        else:
            return SYNTAX_ERROR
        i += 1
    return replace, absttl


def restore(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    options = _parse_options(argv)
    if isinstance(options, RespError):
        return options
    replace, absttl = options
    key = argv[1]
    if not replace and sm.value_for_write(key, now_ms) is not None:
        return _BUSY
    ttl = parse_int(argv[2])
    if ttl is None:
        return NOT_AN_INTEGER
    if ttl < 0:
        return err("Invalid TTL value, must be >= 0")
    value = decode(argv[3])
    if isinstance(value, RespError):
        return value
    if ttl and not absttl:
        ttl += now_ms
        if ttl > INT64_MAX:  # Redis's sum would wrap; a snapshot holds 64-bit times
            return invalid_expire_time("restore")
    if ttl and ttl <= now_ms:
        if sm.value_for_write(key, now_ms) is not None:
            sm.delete(key)
        return "OK"
    sm.put(key, value)
    if ttl:
        sm.set_expiry(key, ttl, now_ms)
    return "OK"


HANDLERS: dict[bytes, Handler] = {b"dump": dump, b"restore": restore}
