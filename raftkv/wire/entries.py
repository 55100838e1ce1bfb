"""A batch of log entries as one packed blob: how a leader ships entries to its followers.

Layout: ``(<index u64><term u64><kind u8><len u32><data>)*``, big-endian, no separators: one field on
the wire for a whole AppendEntries batch, packed in one pass and unpacked without parsing text.

``pack_entries`` / ``unpack_entries`` are the Cython versions (``raftkv._entries``) when the extension
is built, else the ``py_*`` twins below, which are the specification the tests compare them against.
"""
from __future__ import annotations

import struct

from raftkv.raft.types import Entry, EntryKind

_HEAD = struct.Struct(">QQBI")
_KINDS = tuple(EntryKind)  # by wire value


def py_pack_entries(entries: list[Entry]) -> bytes:
    head = _HEAD.pack
    return b"".join(head(e.index, e.term, e.kind, len(e.data)) + e.data for e in entries)


def py_unpack_entries(blob: bytes, make_entry: type[Entry], kinds: tuple[EntryKind, ...]) -> list[Entry]:
    """The entries of ``blob``; ValueError if it is truncated or names an unknown kind."""
    out = []
    pos, end, size = 0, len(blob), _HEAD.size
    while pos < end:
        if end - pos < size:
            raise ValueError("a truncated entry head")
        index, term, kind, n = _HEAD.unpack_from(blob, pos)
        if kind >= len(kinds):
            raise ValueError(f"an unknown entry kind {kind}")
        if end - pos - size < n:
            raise ValueError("a truncated entry")
        out.append(make_entry(index, term, kinds[kind], blob[pos + size:pos + size + n]))
        pos += size + n
    return out


try:
    from raftkv._entries import pack_entries as _pack
    from raftkv._entries import unpack_entries as _unpack
except ImportError:
    COMPILED = False
    _pack, _unpack = py_pack_entries, py_unpack_entries
else:
    COMPILED = True


def pack_entries(entries: list[Entry]) -> bytes:
    return _pack(entries)


def unpack_entries(blob: bytes) -> list[Entry]:
    return _unpack(blob, Entry, _KINDS)
