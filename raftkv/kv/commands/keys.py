"""The keyspace commands: EXISTS, TOUCH, DEL, TYPE, RENAME, COPY, MOVE, SWAPDB, RANDOMKEY, KEYS, SCAN, DBSIZE,
FLUSHDB, OBJECT.

They work on keys of every type. SCAN's cursor is the position in the sorted map just after the last
key a call looked at (:mod:`raftkv.kv.scanning`).

TOUCH counts the keys that exist, as EXISTS does: no node tracks access times (see OBJECT IDLETIME).
There is one database, as on a Redis started with ``databases 1``: MOVE to it is a move onto itself,
SWAPDB of it with itself changes nothing, and any other index is out of range.

OBJECT ENCODING names our own structure (:data:`raftkv.kv.datatypes.ENCODINGS`), never Redis's.
OBJECT REFCOUNT is 1: no two keys share a value. OBJECT IDLETIME is refused: any node serves reads
without the log, so no node knows when a key was last read. OBJECT FREQ gives Redis's own refusal for
its default policy (noeviction), which is ours: nothing is ever evicted.
"""
from __future__ import annotations

from collections.abc import Iterator

from raftkv.errors import RespError, err
from raftkv.kv.args import NOT_AN_INTEGER, SYNTAX_ERROR, parse_int
from raftkv.kv.datatypes import encoding_of, type_name
from raftkv.kv.glob import Pattern
from raftkv.kv.keyspace import Handler, Keyspace, Reply
from raftkv.kv.scanning import INVALID_CURSOR, decode_cursor, encode_cursor, parse_options
from raftkv.kv.table import subcommand_refusal

_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1
_NO_SUCH_DB = err("DB index is out of range")


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
    value = sm.value(argv[1], now_ms)
    return "none" if value is None else type_name(value)


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


def _database_index(raw: bytes, error: RespError | None = None) -> int | RespError:
    """A database index as Redis's getIntFromObjectOrReply reads it (a C int), or its error: `error` if
    given, else the one for a non-integer or an integer out of range."""
    db = parse_int(raw)
    if db is None:
        return error or NOT_AN_INTEGER
    if not _INT32_MIN <= db <= _INT32_MAX:
        return error or err(f"value is out of range, value must between {_INT32_MIN} and {_INT32_MAX}")
    return db


def copy(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    replace = False
    i = 3
    while i < len(argv):
        opt = argv[i].lower()
        if opt == b"replace":
            replace = True
        elif opt == b"db" and i + 1 < len(argv):
            db = _database_index(argv[i + 1])
            if isinstance(db, RespError):
                return db
            if db != 0:  # there is one database, as SELECT says
                return _NO_SUCH_DB
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
    sm.put(dst, value if type(value) is bytes else value.copy())  # type: ignore[attr-defined]
    if when is not None:
        sm.set_expiry(dst, when, now_ms)
    return 1


def move(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    db = _database_index(argv[2])
    if isinstance(db, RespError):
        return db
    return err("source and destination objects are the same") if db == 0 else _NO_SUCH_DB


def swapdb(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    first = _database_index(argv[1], err("invalid first DB index"))
    if isinstance(first, RespError):
        return first
    second = _database_index(argv[2], err("invalid second DB index"))
    if isinstance(second, RespError):
        return second
    return "OK" if first == second == 0 else _NO_SUCH_DB


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


def scan(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    try:
        after = decode_cursor(argv[1])
    except ValueError:
        return INVALID_CURSOR
    options = parse_options(argv, 2, allow_type=True)
    if isinstance(options, RespError):
        return options
    count, pattern, wanted = options.count, options.pattern, options.type_name
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
    if wanted is not None:
        data = sm.data
        found = [key for key in found if type_name(data[key]).encode() == wanted]
    return [b"0" if last is None else encode_cursor(last), found]


def dbsize(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return sm.live_count(now_ms)


_OBJECT_HELP = [
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
]
_OBJECT_ARITY = {b"encoding": 3, b"freq": 3, b"idletime": 3, b"refcount": 3, b"help": 2}
_NO_FREQ = err("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when "
               "switching between policies at runtime LRU and LFU data will take some time to adjust.")
_NO_IDLETIME = err("OBJECT IDLETIME is not supported: any node serves reads without the log, so access "
                   "times are not tracked")


def object_(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    refusal = subcommand_refusal(argv, _OBJECT_ARITY)
    if refusal is not None:
        return refusal
    sub = argv[1].lower()
    if sub == b"help":
        return _OBJECT_HELP
    value = sm.value(argv[2], now_ms)
    if value is None:
        return None
    if sub == b"encoding":
        return encoding_of(value).encode()
    if sub == b"refcount":
        return 1
    return _NO_FREQ if sub == b"freq" else _NO_IDLETIME


def _flush(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].lower() not in (b"sync", b"async")):
        return SYNTAX_ERROR
    sm.flush()
    return "OK"


HANDLERS: dict[bytes, Handler] = {
    b"exists": exists,
    b"touch": exists,  # access times are not tracked: TOUCH only counts
    b"del": _delete,
    b"unlink": _delete,  # nothing is freed in the background here, so UNLINK is DEL
    b"type": type_,
    b"rename": rename,
    b"renamenx": renamenx,
    b"copy": copy,
    b"move": move,
    b"swapdb": swapdb,
    b"randomkey": randomkey,
    b"keys": keys,
    b"scan": scan,
    b"dbsize": dbsize,
    b"flushdb": _flush,
    b"flushall": _flush,  # one database: FLUSHALL is FLUSHDB
    b"object": object_,
}
