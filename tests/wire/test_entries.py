"""The packed entry batches of AppendEntries: the Cython codec against its pure twin, and messages
carrying them."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftkv import _entries
from raftkv.raft.types import ConfState, Entry, EntryKind, Message, MessageType, Snapshot, SnapshotMeta
from raftkv.wire import entries as codec
from raftkv.wire.raft_messages import decode_message, encode_message
from raftkv.wire.resp import RequestParser

KINDS = tuple(EntryKind)
entry_lists = st.lists(st.builds(Entry, st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
                                 st.sampled_from(KINDS), st.binary(max_size=300)), max_size=20)


@given(entry_lists)
def test_compiled_and_pure_pack_alike_and_round_trip(batch: list[Entry]) -> None:
    blob = _entries.pack_entries(batch)
    assert blob == codec.py_pack_entries(batch)
    assert _entries.unpack_entries(blob, Entry, KINDS) == batch
    assert codec.py_unpack_entries(blob, Entry, KINDS) == batch


def test_layout_is_index_term_kind_length_then_data() -> None:
    blob = codec.pack_entries([Entry(1, 2, EntryKind.CONF_CHANGE, b"ab"), Entry(3, 2, EntryKind.NOOP)])
    assert blob == (bytes.fromhex("0000000000000001" "0000000000000002" "02" "00000002") + b"ab"
                    + bytes.fromhex("0000000000000003" "0000000000000002" "01" "00000000"))


@pytest.mark.parametrize("unpack", [_entries.unpack_entries, codec.py_unpack_entries])
@given(entry_lists.filter(bool), st.data())
def test_a_truncated_blob_is_refused(unpack: object, batch: list[Entry], data: st.DataObject) -> None:
    blob = codec.pack_entries(batch)
    cut = data.draw(st.integers(1, len(blob)))
    try:
        got = unpack(blob[:-cut], Entry, KINDS)  # type: ignore[operator]
    except ValueError:
        return
    assert got == batch[:len(got)] and len(got) < len(batch)  # cut exactly between two entries


@pytest.mark.parametrize("unpack", [_entries.unpack_entries, codec.py_unpack_entries])
def test_an_unknown_kind_is_refused(unpack: object) -> None:
    blob = bytearray(codec.pack_entries([Entry(1, 1, EntryKind.NORMAL, b"x")]))
    blob[16] = 9
    with pytest.raises(ValueError, match="unknown entry kind 9"):
        unpack(bytes(blob), Entry, KINDS)  # type: ignore[operator]


def _wire(msg: Message) -> Message:
    parser = RequestParser(1 << 30, 1 << 24, 64 * 1024)
    parser.feed(encode_message(msg))
    (fields,) = parser.pop_commands()
    return decode_message(fields)


@given(entry_lists)
def test_messages_round_trip_with_their_entries(batch: list[Entry]) -> None:
    msg = Message(type=MessageType.APPEND, src=1, dst=2, term=5, log_term=4, index=9, commit=8,
                  context=b"ctx", entries=batch)
    assert _wire(msg) == msg


def test_a_message_with_a_snapshot_round_trips() -> None:
    snap = Snapshot(SnapshotMeta(10, 3, ConfState(voters=(1, 2, 3), learners=(4,))), b"data")
    msg = Message(type=MessageType.SNAPSHOT, src=1, dst=2, term=3, snapshot=snap)
    assert _wire(msg) == msg


def test_followers_sent_the_same_entries_get_the_same_blob_packed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    log = [Entry(i, 1, EntryKind.NORMAL, b"v%d" % i) for i in range(1, 6)]
    packed: list[int] = []
    real = codec.pack_entries
    monkeypatch.setattr("raftkv.wire.raft_messages.pack_entries", lambda es: packed.append(len(es)) or real(es))
    to_2 = Message(type=MessageType.APPEND, src=1, dst=2, term=1, entries=log[1:])
    to_3 = Message(type=MessageType.APPEND, src=1, dst=3, term=1, entries=log[1:])
    behind = Message(type=MessageType.APPEND, src=1, dst=4, term=1, entries=log[:])
    assert _wire(to_2).entries == _wire(to_3).entries == log[1:]
    assert _wire(behind).entries == log
    assert packed == [4, 5]  # the second follower's copy came from the first one's


@pytest.mark.parametrize("fields", [[], [b"x"], [b"\x05" * 10, b"", b""], [b"\x05" * 66, b""],
                                    [b"\x63" + b"\x00" * 57, b"", b""]])  # an unknown type
def test_a_malformed_message_is_a_value_or_key_error(fields: list[bytes]) -> None:
    with pytest.raises((ValueError, KeyError)):
        decode_message(fields)
