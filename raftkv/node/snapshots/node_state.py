"""The node state a snapshot carries beside the key space, in its header's opaque field: the member table
(JSON) and, once sharded, the slot map (JSON) after a newline. JSON as we write it has no raw newline, and
a snapshot written before sharding existed is the member table alone. Pure."""
from __future__ import annotations


def pack(members: bytes, slot_map: bytes) -> bytes:
    return members + b"\n" + slot_map if slot_map else members


def unpack(blob: bytes) -> tuple[bytes, bytes]:
    """(member table, slot map or b"")."""
    members, _, slot_map = blob.partition(b"\n")
    return members, slot_map
