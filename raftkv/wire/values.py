"""RESP values that have no natural Python type, shared by the Cython codec and its pure-Python twin.

Owns only these small value types; parsing and encoding live in raftkv._resp and raftkv.resp.
"""
from __future__ import annotations

from typing import Final


class _NeedMore:
    """Type of :data:`NEED_MORE`; ``None`` and ``False`` cannot serve because they are valid replies."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_MORE"

    def __reduce__(self) -> str:
        # Pickling and copying yield the module's singleton, so identity checks keep working.
        return "NEED_MORE"


class _NullArray:
    """Type of :data:`NULL_ARRAY`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"

    def __reduce__(self) -> str:
        return "NULL_ARRAY"


NEED_MORE: Final = _NeedMore()
"""Returned by a reader while no complete value is buffered."""

NULL_ARRAY: Final = _NullArray()
"""A reply meaning Redis's null array: ``*-1`` in RESP2, ``_`` in RESP3 (plain ``None`` is the null bulk)."""


class Verbatim:
    """A RESP3 verbatim string: ``data`` tagged with a three-letter format such as ``"txt"`` or ``"mkd"``."""

    __slots__ = ("fmt", "data")

    def __init__(self, fmt: str, data: bytes) -> None:
        # The wire form puts the format in exactly three bytes before a ':'.
        if len(fmt) != 3 or not fmt.isascii():
            raise ValueError(f"a verbatim format is three ASCII characters, not {fmt!r}")
        self.fmt = fmt
        self.data = data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Verbatim) and other.fmt == self.fmt and other.data == self.data

    def __hash__(self) -> int:
        return hash((self.fmt, self.data))

    def __repr__(self) -> str:
        return f"Verbatim({self.fmt!r}, {self.data!r})"


class SetReply(list):  # type: ignore[type-arg]
    """A reply that is a set: ``~`` in RESP3, an array in RESP2, its elements in this list's order.

    A Python ``set`` reply is sent in hash order, which differs between processes (PYTHONHASHSEED);
    commands answer this instead, in the order of the aggregate they read.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"SetReply({list.__repr__(self)})"


class Pairs(list):  # type: ignore[type-arg]
    """Pairs held flat, ``[a1, b1, a2, b2, ...]``: a flat array in RESP2 and an array of two-element arrays
    in RESP3, the shape Redis gives HRANDFIELD ... WITHVALUES and ZRANGE ... WITHSCORES."""

    __slots__ = ()

    def __init__(self, flat: object = ()) -> None:
        super().__init__(flat)  # type: ignore[call-overload]
        if len(self) % 2:
            raise ValueError("Pairs holds an even number of items")

    def __repr__(self) -> str:
        return f"Pairs({list.__repr__(self)})"
