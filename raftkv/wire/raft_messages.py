"""Raft messages on the wire between Raft processes, as RESP arrays of bulk strings.

The array reuses the Cython codec in both directions (no pickle). Layout:
``type src dst term log_term index commit reject reject_hint context n_entries
(index term kind data)*n_entries has_snapshot [snap_index snap_term voters learners data]``,
integers in decimal, id lists comma-separated.
"""
from __future__ import annotations

from raftkv.raft.types import ConfState, Entry, EntryKind, Message, MessageType, Snapshot, SnapshotMeta
from raftkv.wire.resp import encode_command

_FIXED = 11  # fields before the entries


def _ids(ids: tuple[int, ...]) -> bytes:
    return b",".join(b"%d" % i for i in ids)


def _parse_ids(raw: bytes) -> tuple[int, ...]:
    return tuple(int(i) for i in raw.split(b",") if i)


def encode_message(msg: Message) -> bytes:
    fields: list[bytes] = [
        b"%d" % msg.type, b"%d" % msg.src, b"%d" % msg.dst, b"%d" % msg.term, b"%d" % msg.log_term,
        b"%d" % msg.index, b"%d" % msg.commit, b"1" if msg.reject else b"0", b"%d" % msg.reject_hint,
        msg.context, b"%d" % len(msg.entries),
    ]
    for e in msg.entries:
        fields += (b"%d" % e.index, b"%d" % e.term, b"%d" % e.kind, e.data)
    snap = msg.snapshot
    if snap is None:
        fields.append(b"0")
    else:
        meta = snap.meta
        fields += (b"1", b"%d" % meta.index, b"%d" % meta.term, _ids(meta.conf_state.voters),
                   _ids(meta.conf_state.learners), snap.data)
    return encode_command(fields)


# Kinds by wire value: a dict lookup is several times cheaper per entry than calling the enum.
_KINDS = {b"%d" % kind: kind for kind in EntryKind}


def decode_message(f: list[bytes]) -> Message:
    """The inverse of :func:`encode_message`; raises ValueError/IndexError/KeyError on a malformed
    array."""
    n = int(f[10])
    kinds = _KINDS
    entries = [Entry(int(f[pos]), int(f[pos + 1]), kinds[f[pos + 2]], f[pos + 3])
               for pos in range(_FIXED, _FIXED + 4 * n, 4)]
    pos = _FIXED + 4 * n
    snapshot = None
    if f[pos] == b"1":
        conf = ConfState(voters=_parse_ids(f[pos + 3]), learners=_parse_ids(f[pos + 4]))
        snapshot = Snapshot(SnapshotMeta(int(f[pos + 1]), int(f[pos + 2]), conf), f[pos + 5])
    return Message(
        type=MessageType(int(f[0])), src=int(f[1]), dst=int(f[2]), term=int(f[3]), log_term=int(f[4]),
        index=int(f[5]), commit=int(f[6]), reject=f[7] == b"1", reject_hint=int(f[8]), context=f[9],
        entries=entries, snapshot=snapshot,
    )
