"""The keyspace commands: EXISTS, DEL, TYPE, RENAME, COPY, RANDOMKEY, KEYS, SCAN, DBSIZE, FLUSHDB.

SCAN's cursor is the position in the sorted map just after the last key a call looked at, spelled as a
decimal number: "1" followed by each byte of that key as three digits ("0" starts and ends a scan). The
next call resumes with a bisection on that key, so a key present for the whole scan is returned exactly
once however many keys come and go meanwhile, on any node, and the server keeps no cursor state. Unlike
Redis's, the cursor grows with the key (three digits a byte), and a number that is not such a cursor is
refused with "ERR invalid cursor".
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from raftkv.errors import err
from raftkv.kv.args import NOT_AN_INTEGER, SYNTAX_ERROR, parse_int
from raftkv.kv.glob import Pattern
from raftkv.kv.keyspace import Handler, Keyspace, Reply

_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1
_DIGITS = re.compile(rb"[0-9]*")  # as strtoul, Redis reads "" as 0
_INVALID_CURSOR = err("invalid cursor")
_SCAN_COUNT = 10  # Redis's default COUNT
_EVERY_KEY = Pattern(b"*")


def exists(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return sum(1 for key in argv[1:] if sm.is_live(key, now_ms))


def _delete(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    removed = 0
    for key in argv[1:]:
        if sm.value_for_write(key, now_ms) is not None:
            sm.delete(key)
            removed += 1
    return removed




def type_(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return "string" if sm.is_live(argv[1], now_ms) else "none"


def _rename(sm: Keyspace, argv: list[bytes], now_ms: int, nx: bool) -> Reply:
    src, dst = argv[1], argv[2]
    value = sm.value_for_write(src, now_ms)
    if value is None:
        return err("no such key")
    if src == dst:
        return 0 if nx else "OK"
    if sm.value_for_write(dst, now_ms) is not None and nx:
        return 0
    when = sm.expiry(src)
    sm.put(dst, value)
    if when is not None:
        sm.set_expiry(dst, when, now_ms)
    sm.delete(src)
    return 1 if nx else "OK"


def rename(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _rename(sm, argv, now_ms, nx=False)


def renamenx(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _rename(sm, argv, now_ms, nx=True)


def copy(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    replace = False
    i = 3
    while i < len(argv):
        opt = argv[i].lower()
        if opt == b"replace":
            replace = True
        elif opt == b"db" and i + 1 < len(argv):
            db = parse_int(argv[i + 1])
            if db is None:
                return NOT_AN_INTEGER
            if not _INT32_MIN <= db <= _INT32_MAX:
                return err(f"value is out of range, value must between {_INT32_MIN} and {_INT32_MAX}")
            if db != 0:  # there is one database, as SELECT says
                return err("DB index is out of range")
            i += 1
        else:
            return SYNTAX_ERROR
        i += 1
    src, dst = argv[1], argv[2]
    if src == dst:
        return err("source and destination objects are the same")
    value = sm.value_for_write(src, now_ms)
    if value is None:
        return 0
    if sm.value_for_write(dst, now_ms) is not None and not replace:
        return 0
    when = sm.expiry(src)
    sm.put(dst, value)
    if when is not None:
        sm.set_expiry(dst, when, now_ms)
    return 1


def randomkey(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    data = sm.data
    if not data:
        return None
    # Start at a random key and walk to the first live one, wrapping around: one step unless expired
    # keys have piled up.
    start = sm.rng.randrange(len(data))
    for keys in (data.islice(start), data.islice(0, start)):
        for key in keys:
            if sm.is_live(key, now_ms):
                return key
    return None


def _candidates(sm: Keyspace, pattern: Pattern, start: int = 0) -> Iterator[bytes]:
    """Keys from index `start` on that may match `pattern`: it skips to, and stops after, its prefix."""
    data, prefix = sm.data, pattern.prefix
    if prefix:
        start = max(start, data.bisect_left(prefix))
    for key in data.islice(start):
        if not key.startswith(prefix):
            return
        yield key


def keys(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    pattern = Pattern(argv[1])
    return [key for key in _candidates(sm, pattern) if pattern.match(key) and sm.is_live(key, now_ms)]


def encode_cursor(key: bytes) -> bytes:
    return b"1" + b"".join(b"%03d" % byte for byte in key)


def decode_cursor(cursor: bytes) -> bytes | None:
    """The key a cursor resumes after; None for the start. Raises ValueError if it is no cursor."""
    if _DIGITS.fullmatch(cursor) is None:
        raise ValueError(cursor)
    digits = cursor.lstrip(b"0")
    if not digits:
        return None
    if digits[:1] != b"1" or len(digits) % 3 != 1:
        raise ValueError(cursor)
    return bytes(int(digits[i:i + 3]) for i in range(1, len(digits), 3))  # >255 raises ValueError


def scan(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    try:
        after = decode_cursor(argv[1])
    except ValueError:
        return _INVALID_CURSOR
    count, pattern, type_name = _SCAN_COUNT, _EVERY_KEY, None
    i = 2
    while i < len(argv):
        opt = argv[i].lower()
        if i + 1 >= len(argv) or opt not in (b"count", b"match", b"type"):
            return SYNTAX_ERROR
        arg = argv[i + 1]
        if opt == b"count":
            parsed = parse_int(arg)
            if parsed is None:
                return NOT_AN_INTEGER
            if parsed < 1:
                return SYNTAX_ERROR
            count = parsed
        elif opt == b"match":
            pattern = Pattern(arg)
        else:
            type_name = arg.lower()
        i += 2
    start = 0 if after is None else sm.data.bisect_right(after)
    found: list[bytes] = []
    last = None
    examined = 0
    for key in _candidates(sm, pattern, start):
        if examined == count:
            break
        examined += 1
        last = key
        if pattern.match(key) and sm.is_live(key, now_ms):
            found.append(key)
    else:
        last = None  # nothing is left to look at: the scan is over
    if type_name is not None and type_name != b"string":
        found = []
    return [b"0" if last is None else encode_cursor(last), found]


def dbsize(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return sm.live_count(now_ms)


def _flush(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].lower() not in (b"sync", b"async")):
        return SYNTAX_ERROR
    sm.flush()
    return "OK"


HANDLERS: dict[bytes, Handler] = {
    b"exists": exists,
    b"del": _delete,
    b"unlink": _delete,  # nothing is freed in the background here, so UNLINK is DEL
    b"type": type_,
    b"rename": rename,
    b"renamenx": renamenx,
    b"copy": copy,
    b"randomkey": randomkey,
    b"keys": keys,
    b"scan": scan,
    b"dbsize": dbsize,
    b"flushdb": _flush,
    b"flushall": _flush,  # one database: FLUSHALL is FLUSHDB
}
