"""Slot lists as people and commands write them: ``100-200,305`` (inclusive ranges, commas). Pure."""
from __future__ import annotations

from raftkv.sharding.slots_pure import SLOTS


class SlotSpecError(ValueError):
    """A slot list that cannot be read; the message is one line."""


def parse_slots(spec: str) -> list[int]:
    """The sorted, distinct slots of ``spec``; each in 0..16383, each range's start at most its end."""
    slots: set[int] = set()
    for part in spec.split(","):
        start_text, dash, end_text = part.strip().partition("-")
        try:
            start = int(start_text)
            end = int(end_text) if dash else start
        except ValueError:
            raise SlotSpecError(f"bad slot list {spec!r}: {part.strip()!r} is not a slot or a range") from None
        if not 0 <= start <= end < SLOTS:
            raise SlotSpecError(f"bad slot list {spec!r}: {part.strip()!r} is not within 0-{SLOTS - 1}")
        slots.update(range(start, end + 1))
    return sorted(slots)


def to_ranges(slots: list[int]) -> list[tuple[int, int]]:
    """Sorted distinct ``slots`` as the fewest inclusive ranges."""
    ranges: list[tuple[int, int]] = []
    for slot in slots:
        if ranges and ranges[-1][1] == slot - 1:
            ranges[-1] = (ranges[-1][0], slot)
        else:
            ranges.append((slot, slot))
    return ranges


def format_slots(slots: list[int]) -> str:
    """The inverse of :func:`parse_slots` (``-`` for none)."""
    return ",".join(f"{a}-{b}" if a != b else f"{a}" for a, b in to_ranges(slots)) or "-"
