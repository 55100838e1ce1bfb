"""Hash slots: the compiled module against its pure twin and against Redis's known values."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from raftkv import _slots
from raftkv.sharding import slots_pure


def test_crc16_is_xmodem() -> None:
    assert slots_pure.crc16(b"123456789") == 0x31C3  # the XMODEM check value (Redis src/crc16.c)


def test_known_redis_slots() -> None:
    # CLUSTER KEYSLOT of a real Redis Cluster.
    for key, slot in [(b"foo", 12182), (b"bar", 5061), (b"", 0), (b"somekey", 11058)]:
        assert _slots.key_slot(key) == slots_pure.key_slot(key) == slot, key


def test_hash_tags() -> None:
    for key, part in [(b"{user1000}.following", b"user1000"), (b"foo{}{bar}", b"foo{}{bar}"),
                      (b"foo{{bar}}zap", b"{bar"), (b"foo{bar}{zap}", b"bar"), (b"{", b"{"), (b"a}b{", b"a}b{")]:
        assert slots_pure.hash_part(key) == part, key
        assert _slots.key_slot(key) == slots_pure.key_slot(part), key


_PIECES = st.sampled_from([b"{", b"}", b"a", b"tag", b"\xff"])
_KEYS = st.binary(max_size=12) | st.lists(_PIECES, max_size=8).map(b"".join)


@given(_KEYS)
def test_compiled_matches_pure(key: bytes) -> None:
    assert _slots.key_slot(key) == slots_pure.key_slot(key)


@given(st.lists(_KEYS, max_size=5))
def test_keys_slot_matches_pure(keys: list[bytes]) -> None:
    assert _slots.keys_slot(keys) == slots_pure.keys_slot(keys)
    if keys and slots_pure.keys_slot(keys) != slots_pure.CROSSSLOT:
        assert {slots_pure.key_slot(k) for k in keys} == {slots_pure.keys_slot(keys)}
