"""What kvsctl prints: replies as redis-cli prints them, and aligned tables of plain dicts. No I/O."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from raftkv.client import RespError


def format_reply(value: Any) -> bytes:
    """Render a decoded reply as redis-cli does on a terminal, with bulk strings left raw."""
    return _format(value, b"")


def _format(value: Any, indent: bytes) -> bytes:
    # bool before int: True is an int to Python, but a RESP3 boolean is not an integer reply.
    if value is None:
        return b"(nil)\n"
    if isinstance(value, bool):
        return b"(true)\n" if value else b"(false)\n"
    if isinstance(value, int):
        return b"(integer) %d\n" % value
    if isinstance(value, float):
        text = repr(value)
        return b"(double) " + (text[:-2] if text.endswith(".0") else text).encode() + b"\n"
    if isinstance(value, bytes):
        return value + b"\n"
    if isinstance(value, str):
        return value.encode() + b"\n"
    if isinstance(value, RespError):
        return b"(error) " + value.message.encode() + b"\n"
    if isinstance(value, dict):
        return _format_aggregate(list(value.items()), b"#", indent) if value else b"(empty hash)\n"
    if isinstance(value, (list, tuple)):
        return _format_aggregate(list(value), b")", indent) if value else b"(empty array)\n"
    raise TypeError(f"cannot format a reply of type {type(value).__name__}")


def _format_aggregate(items: list[Any], marker: bytes, indent: bytes) -> bytes:
    """Number the items ``1) `` (maps: ``1# key => value``), nesting under the number's width."""
    width = len(str(len(items)))
    inner = indent + b" " * (width + 2)
    out = []
    for number, item in enumerate(items, 1):
        # The first line continues whatever the parent already wrote on its own line.
        out.append(b"%s%*d%s " % (indent if number > 1 else b"", width, number, marker))
        if marker == b"#":
            key, val = item
            out.append(_format(key, inner)[:-1] + b" => " + _format(val, inner))
        else:
            out.append(_format(item, inner))
    return b"".join(out)


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """One row per dict, one column per ``(field, HEADER)``; a column of integers only is right-aligned,
    a missing value is ``-`` and a boolean ``yes``/``no``."""
    headers = [header for _, header in columns]
    cells = [[_cell(row.get(name)) for name, _ in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    right = [bool(rows) and all(_is_int(row.get(name)) for row in rows) for name, _ in columns]

    def line(texts: list[str]) -> str:
        padded = [t.rjust(w) if r else t.ljust(w) for t, w, r in zip(texts, widths, right)]
        return "  ".join(padded).rstrip() + "\n"

    return line(headers) + "".join(line(row) for row in cells)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def text(value: Any) -> str:
    """A reply value as str: bytes decoded (never failing), anything else through ``str``."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def kind(value: Any) -> str:
    """The name of a reply value's type, for an error message."""
    return "nil" if value is None else type(value).__name__
