"""SLOWLOG: the node's most recent commands that took at least ``slowlog-log-slower-than`` µs.

Entries are Redis's: id, unix time, duration in µs, the arguments (at most 32, each cut to 128 bytes, as
Redis's slowlog.c does), the client's address and name. The Raft process owns the log; it measures a
command from when it starts it to its reply (a write's commit included). Nothing here reads a clock.
"""
from __future__ import annotations

from collections import deque

from raftkv.errors import err
from raftkv.kv.args import parse_int
from raftkv.kv.table import unknown_subcommand, wrong_arity

_MAX_ARGS = 32
_MAX_ARG_BYTES = 128

_HELP = [
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
]
_BAD_COUNT = err("count should be greater than or equal to -1")


def shown_args(argv: list[bytes]) -> list[bytes]:
    """``argv`` as the slow log keeps it: past 32 arguments the last one kept says how many more there
    were; an argument past 128 bytes is cut and says how many bytes more it had."""
    if len(argv) > _MAX_ARGS:
        kept = argv[:_MAX_ARGS - 1]
        tail = [b"... (%d more arguments)" % (len(argv) - len(kept))]
    else:
        kept, tail = argv, []
    return [a if len(a) <= _MAX_ARG_BYTES else a[:_MAX_ARG_BYTES] + b"... (%d more bytes)" % (len(a) - _MAX_ARG_BYTES)
            for a in kept] + tail


class SlowLog:
    def __init__(self, max_len: int) -> None:
        self._entries: deque[list[object]] = deque(maxlen=max_len)  # oldest first
        self._next_id = 0

    def set_max_len(self, max_len: int) -> None:
        """A shorter log drops its oldest entries now."""
        self._entries = deque(self._entries, maxlen=max_len)

    def add(self, unix_s: int, duration_us: int, argv: list[bytes], addr: bytes, name: bytes) -> None:
        self._entries.append([self._next_id, unix_s, duration_us, shown_args(argv), addr, name])
        self._next_id += 1

    def __len__(self) -> int:
        return len(self._entries)

    def command(self, argv: list[bytes]) -> object:
        """SLOWLOG GET [count] | LEN | RESET | HELP."""
        sub = argv[1].lower()
        n = len(argv)
        if sub == b"get" and n in (2, 3):
            count = 10 if n == 2 else parse_int(argv[2])
            if count is None or count < -1:
                return _BAD_COUNT
            entries = list(reversed(self._entries))  # newest first, as Redis answers
            return entries if count == -1 else entries[:count]
        if sub == b"len" and n == 2:
            return len(self._entries)
        if sub == b"reset" and n == 2:
            self._entries.clear()
            return "OK"
        if sub == b"help" and n == 2:
            return _HELP
        if sub in (b"get", b"len", b"reset", b"help"):
            return wrong_arity(f"slowlog|{sub.decode()}")
        return unknown_subcommand(argv)


def redacted(argv: list[bytes]) -> list[bytes]:
    """What the slow log may show of ``argv``: a password given to CONFIG SET is not shown, as in Redis."""
    if argv[0].lower() != b"config" or len(argv) < 4:
        return argv
    shown = argv[:2]
    for name, value in zip(argv[2::2], argv[3::2]):
        shown += [name, b"(redacted)" if name.lower() == b"requirepass" else value]
    return shown

