"""Redis Cluster hash slots in pure Python: the oracle the compiled :mod:`raftkv._slots` is tested against.

A key's slot is CRC16 (XMODEM: polynomial 0x1021, initial value 0, no reflection, as Redis's
``src/crc16.c``) of the key, or of its hash tag (the bytes between the first ``{`` and the first ``}``
after it, when there are any), modulo 16384.
"""
from __future__ import annotations

SLOTS = 16384
CROSSSLOT = -1  # keys_slot's answer for keys of more than one slot


def crc16(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def hash_part(key: bytes) -> bytes:
    """The part of ``key`` that is hashed: its hash tag if it has a non-empty one, else all of it."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            return key[start + 1:end]
    return key


def key_slot(key: bytes) -> int:
    return crc16(hash_part(key)) % SLOTS


def keys_slot(keys: list[bytes]) -> int:
    """The one slot all ``keys`` hash to, or CROSSSLOT (also for no keys at all: the caller checks)."""
    slot = CROSSSLOT
    for key in keys:
        s = key_slot(key)
        if slot != CROSSSLOT and s != slot:
            return CROSSSLOT
        slot = s
    return slot
