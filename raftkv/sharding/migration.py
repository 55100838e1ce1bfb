"""A group's part in moving slots, as a value: the slots it is migrating (to which group), those it is
importing (from which group), the batches of keys it has taken out of its key space and not yet released
(the outgoing buffers, by target) and the last batch it imported from each source. Pure: no I/O.

It is replicated state beside the slot map: changed only by ``RAFT SLOTS ...`` entries of the group's own
log (:mod:`raftkv.sharding.state`), carried in snapshots as JSON (keys and payloads in base64).
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Moved:
    """One key of an outgoing batch: its DUMP payload and its expiry (absolute ms, 0: none)."""

    key: bytes
    payload: bytes
    expire_at_ms: int


@dataclass(frozen=True, slots=True)
class Batch:
    """Keys taken out of the key space for one target, under the log index of the EXPORT that took them
    (its id: a later batch has a higher one, so the target can tell a batch it imported already)."""

    id: int
    keys: tuple[Moved, ...]


@dataclass(slots=True)
class Migration:
    migrating: dict[int, str] = field(default_factory=dict)  # slot -> target group name
    importing: dict[int, str] = field(default_factory=dict)  # slot -> source group name
    outgoing: dict[str, Batch] = field(default_factory=dict)  # target group name -> its unreleased batch
    imported: dict[str, int] = field(default_factory=dict)  # source group name -> last batch id imported

    @property
    def idle(self) -> bool:
        return not (self.migrating or self.importing or self.outgoing or self.imported)

    def buffered(self) -> set[bytes]:
        """Every key of the outgoing batches."""
        return {m.key for batch in self.outgoing.values() for m in batch.keys}

    def encode(self, batches: bool = True) -> bytes:
        """All of it (snapshots), or without the batches and imports (``RAFT SLOTS GET``: which slots
        move, not the keys on their way)."""
        shown: dict[str, object] = {
            "migrating": {str(s): t for s, t in sorted(self.migrating.items())},
            "importing": {str(s): g for s, g in sorted(self.importing.items())},
        }
        if batches:
            shown["outgoing"] = {t: {"id": b.id, "keys": [[_b64(m.key), _b64(m.payload), m.expire_at_ms]
                                                          for m in b.keys]}
                                 for t, b in sorted(self.outgoing.items())}
            shown["imported"] = dict(sorted(self.imported.items()))
        return json.dumps(shown, separators=(",", ":")).encode()


def decode(blob: bytes) -> Migration:
    raw = json.loads(blob)
    return Migration(
        {int(s): str(t) for s, t in raw["migrating"].items()},
        {int(s): str(g) for s, g in raw["importing"].items()},
        {str(t): Batch(int(b["id"]), tuple(Moved(_unb64(k), _unb64(p), int(e)) for k, p, e in b["keys"]))
         for t, b in raw.get("outgoing", {}).items()},
        {str(g): int(i) for g, i in raw.get("imported", {}).items()},
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)
