"""Argument parsing shared by the data commands, with Redis's rules and its exact error replies."""
from __future__ import annotations

import re

from raftkv.errors import RespError, err

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

SYNTAX_ERROR = err("syntax error")
NOT_AN_INTEGER = err("value is not an integer or out of range")
NOT_A_FLOAT = err("value is not a valid float")

# Redis's string2ll: an optional '-', then digits without a leading zero (or a lone "0"), in 64 bits.
_INTEGER = re.compile(rb"-?[1-9][0-9]*|0")


def parse_int(raw: bytes) -> int | None:
    """The signed 64-bit integer `raw` spells under Redis's strict rules (no blanks, no '+'), or None."""
    if len(raw) > 20 or _INTEGER.fullmatch(raw) is None:
        return None
    value = int(raw)
    return value if INT64_MIN <= value <= INT64_MAX else None


def invalid_expire_time(command: str) -> RespError:
    return err(f"invalid expire time in '{command}' command")


def option_text(raw: bytes) -> str:
    """An argument as Redis quotes it in an error: as a C string, so up to its first NUL."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")
