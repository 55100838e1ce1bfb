"""Raft messages on the wire between Raft processes, as RESP arrays of bulk strings.

The array reuses the Cython codec in both directions (no pickle). Layout:
``type src dst term log_term index commit reject reject_hint context entries has_snapshot
[snap_index snap_term voters learners data]``, integers in decimal, id lists comma-separated, and the
entries one packed blob (:mod:`raftkv.wire.entries`).

A leader sends the same entries to every follower that is caught up: the last batch packed is kept,
so that each entry is encoded once however many followers get it.
"""
from __future__ import annotations

from raftkv.raft.types import ConfState, Entry, Message, MessageType, Snapshot, SnapshotMeta
from raftkv.wire.entries import pack_entries, unpack_entries
from raftkv.wire.resp import encode_command

_ENTRIES = 10  # the field of the entries


def _ids(ids: tuple[int, ...]) -> bytes:
    return b",".join(b"%d" % i for i in ids)


def _parse_ids(raw: bytes) -> tuple[int, ...]:
    return tuple(int(i) for i in raw.split(b",") if i)


class _LastPacked:
    """The last entries packed, by the identity of their first and last Entry (the log hands every
    follower the same Entry objects; they are held here, so their ids cannot be reused meanwhile)."""

    first: Entry | None = None
    last: Entry | None = None
    count = 0
    blob = b""


def _packed(entries: list[Entry]) -> bytes:
    if not entries:
        return b""
    cached = _LastPacked
    if cached.first is not entries[0] or cached.last is not entries[-1] or cached.count != len(entries):
        cached.first, cached.last, cached.count = entries[0], entries[-1], len(entries)
        cached.blob = pack_entries(entries)
    return cached.blob


def encode_message(msg: Message) -> bytes:
    fields: list[bytes] = [
        b"%d" % msg.type, b"%d" % msg.src, b"%d" % msg.dst, b"%d" % msg.term, b"%d" % msg.log_term,
        b"%d" % msg.index, b"%d" % msg.commit, b"1" if msg.reject else b"0", b"%d" % msg.reject_hint,
        msg.context, _packed(msg.entries),
    ]
    snap = msg.snapshot
    if snap is None:
        fields.append(b"0")
    else:
        meta = snap.meta
        fields += (b"1", b"%d" % meta.index, b"%d" % meta.term, _ids(meta.conf_state.voters),
                   _ids(meta.conf_state.learners), snap.data)
    return encode_command(fields)


def decode_message(f: list[bytes]) -> Message:
    """The inverse of :func:`encode_message`; raises ValueError/IndexError/KeyError on a malformed
    array."""
    entries = unpack_entries(f[_ENTRIES]) if f[_ENTRIES] else []
    pos = _ENTRIES + 1
    snapshot = None
    if f[pos] == b"1":
        conf = ConfState(voters=_parse_ids(f[pos + 3]), learners=_parse_ids(f[pos + 4]))
        snapshot = Snapshot(SnapshotMeta(int(f[pos + 1]), int(f[pos + 2]), conf), f[pos + 5])
    return Message(
        type=MessageType(int(f[0])), src=int(f[1]), dst=int(f[2]), term=int(f[3]), log_term=int(f[4]),
        index=int(f[5]), commit=int(f[6]), reject=f[7] == b"1", reject_hint=int(f[8]), context=f[9],
        entries=entries, snapshot=snapshot,
    )
