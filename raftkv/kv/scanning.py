"""SCAN's cursors and options, shared by SCAN and the scans of one aggregate (HSCAN, SSCAN, ZSCAN).

A cursor is the position in a sorted order just after the last element a call looked at, spelled as a
decimal number: "1" followed by each byte of that element as three digits ("0" starts and ends a scan).
The next call resumes with a bisection on that element, so an element present for the whole scan is
returned exactly once however many come and go meanwhile, on any node, and the server keeps no cursor
state. Unlike Redis's, the cursor grows with the element (three digits a byte), and a number that is
not such a cursor is refused with "ERR invalid cursor".

An aggregate small enough for Redis to hold it compactly (a listpack or an intset) is answered whole in
one call with the cursor 0, whatever the cursor given, as Redis does; the cursor must then be one of
ours or one Redis would accept (``strtoul``: optional sign, digits, at most 2**64 - 1). A cursor not
spelled as a number is refused before the key is looked at, as Redis does.
"""
from __future__ import annotations

import re
from typing import Protocol

from raftkv.errors import RespError, err
from raftkv.kv.args import NOT_AN_INTEGER, SYNTAX_ERROR, parse_int
from raftkv.kv.glob import Pattern
from raftkv.kv.keyspace import Keyspace, Reply

INVALID_CURSOR = err("invalid cursor")
DEFAULT_COUNT = 10  # Redis's default COUNT
EVERY_KEY = Pattern(b"*")
_DIGITS = re.compile(rb"[0-9]*")  # as strtoul, Redis reads "" as 0
_STRTOUL = re.compile(rb"(?:[+-]?[0-9]+)?")
_ULONG_MAX = (1 << 64) - 1


def encode_cursor(key: bytes) -> bytes:
    return b"1" + b"".join(b"%03d" % byte for byte in key)


def decode_cursor(cursor: bytes) -> bytes | None:
    """The element a cursor resumes after; None for the start. Raises ValueError if it is no cursor."""
    if _DIGITS.fullmatch(cursor) is None:
        raise ValueError(cursor)
    digits = cursor.lstrip(b"0")
    if not digits:
        return None
    if digits[:1] != b"1" or len(digits) % 3 != 1:
        raise ValueError(cursor)
    return bytes(int(digits[i:i + 3]) for i in range(1, len(digits), 3))  # >255 raises ValueError


def cursor_syntax_ok(cursor: bytes) -> bool:
    """Whether `cursor` is spelled as strtoul reads a whole number: an optional sign and digits."""
    return _STRTOUL.fullmatch(cursor) is not None


def redis_accepts_cursor(cursor: bytes) -> bool:
    """Whether Redis's parseScanCursorOrReply takes `cursor` (strtoul of the whole of it, in range)."""
    return cursor_syntax_ok(cursor) and (not cursor or abs(int(cursor)) <= _ULONG_MAX)


class ScanOptions:
    __slots__ = ("count", "pattern", "type_name")

    def __init__(self) -> None:
        self.count = DEFAULT_COUNT
        self.pattern = EVERY_KEY
        self.type_name: bytes | None = None  # lower case; SCAN only


def parse_options(argv: list[bytes], start: int, allow_type: bool) -> ScanOptions | RespError:
    """COUNT, MATCH (and for SCAN, TYPE) from argv[start:], with Redis's errors."""
    options = ScanOptions()
    i = start
    while i < len(argv):
        opt = argv[i].lower()
        if i + 1 >= len(argv) or not (opt in (b"count", b"match") or (opt == b"type" and allow_type)):
            return SYNTAX_ERROR
        arg = argv[i + 1]
        if opt == b"count":
            parsed = parse_int(arg)
            if parsed is None:
                return NOT_AN_INTEGER
            if parsed < 1:
                return SYNTAX_ERROR
            options.count = parsed
        elif opt == b"match":
            options.pattern = Pattern(arg)
        else:
            options.type_name = arg.lower()
        i += 2
    return options


class Scannable(Protocol):
    """An aggregate that HSCAN, SSCAN or ZSCAN walks."""

    @property
    def scans_whole(self) -> bool:
        """Small enough for Redis to hold compactly, so one call answers it whole, whatever the cursor."""

    def scan(self, after: bytes | None, count: int) -> tuple[list[bytes], bytes | None]:
        """Up to `count` names after `after` (all of them if the aggregate is small) and the name to
        resume after, or None when the scan is over."""

    def scan_reply(self, names: list[bytes]) -> list[bytes]:
        """What the scan returns for `names`: the names, or each followed by its value or score."""


def scan_aggregate(sm: Keyspace, argv: list[bytes], now_ms: int, kind: type[Scannable]) -> Reply:
    """``XSCAN key cursor [MATCH pattern] [COUNT count]``, checked in Redis's order: the cursor's syntax,
    the key (missing: an empty scan; another type: WRONGTYPE), then the options."""
    cursor = argv[2]
    if not cursor_syntax_ok(cursor):
        return INVALID_CURSOR
    value = sm.typed(argv[1], now_ms, kind)
    if value is None:
        return [b"0", []]
    options = parse_options(argv, 3, allow_type=False)
    if isinstance(options, RespError):
        return options
    try:
        after = decode_cursor(cursor)
    except ValueError:
        # Only our own cursors say where to resume; one that answers whole takes any Redis would.
        if not (value.scans_whole and redis_accepts_cursor(cursor)):
            return INVALID_CURSOR
        after = None
    names, last = value.scan(after, options.count)
    pattern = options.pattern
    if pattern is not EVERY_KEY:
        names = [name for name in names if pattern.match(name)]
    return [b"0" if last is None else encode_cursor(last), value.scan_reply(names)]
