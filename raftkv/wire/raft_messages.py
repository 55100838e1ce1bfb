"""Raft messages on the wire between Raft processes, as RESP arrays of bulk strings.

The array reuses the Cython codec in both directions (no pickle). Layout: ``head context entries
[snap_index snap_term voters learners data]``: the head packs the fixed fields in one struct (``>BQQQQQQ?Q``:
type, src, dst, term, log_term, index, commit, reject, reject_hint), the entries are one packed blob
(:mod:`raftkv.wire.entries`), and the snapshot fields come only with a snapshot (integers in decimal,
id lists comma-separated). One pack and one unpack per message, whatever it carries.

A leader sends the same entries to every follower that is caught up: the last batch packed is kept,
so that each entry is encoded once however many followers get it.
"""
from __future__ import annotations

import struct

from raftkv.raft.types import ConfState, Entry, Message, MessageType, Snapshot, SnapshotMeta
from raftkv.wire.entries import pack_entries, unpack_entries
from raftkv.wire.resp import encode_command

_HEAD = struct.Struct(">BQQQQQQ?Q")
_TYPES = {t.value: t for t in MessageType}  # a dict lookup is several times cheaper than calling the enum


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
        _HEAD.pack(msg.type, msg.src, msg.dst, msg.term, msg.log_term, msg.index, msg.commit, msg.reject,
                   msg.reject_hint),
        msg.context, _packed(msg.entries),
    ]
    snap = msg.snapshot
    if snap is not None:
        meta = snap.meta
        fields += (b"%d" % meta.index, b"%d" % meta.term, _ids(meta.conf_state.voters),
                   _ids(meta.conf_state.learners), snap.data)
    return encode_command(fields)


def decode_message(f: list[bytes]) -> Message:
    """The inverse of :func:`encode_message`; raises ValueError/IndexError/KeyError on a malformed
    array."""
    if len(f) not in (3, 8) or len(f[0]) != _HEAD.size:
        raise ValueError(f"a message of {len(f)} fields, its head of {len(f[0]) if f else 0} bytes")
    kind, src, dst, term, log_term, index, commit, reject, reject_hint = _HEAD.unpack(f[0])
    snapshot = None
    if len(f) == 8:
        conf = ConfState(voters=_parse_ids(f[5]), learners=_parse_ids(f[6]))
        snapshot = Snapshot(SnapshotMeta(int(f[3]), int(f[4]), conf), f[7])
    return Message(
        type=_TYPES[kind], src=src, dst=dst, term=term, log_term=log_term, index=index, commit=commit,
        reject=reject, reject_hint=reject_hint, context=f[1], entries=unpack_entries(f[2]) if f[2] else [],
        snapshot=snapshot,
    )
