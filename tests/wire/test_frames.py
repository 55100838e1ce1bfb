"""The Raft -> worker reply frames: the Cython reader against its pure twin, however the stream is cut."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from raftkv import _frames
from raftkv.wire import records

frame_lists = st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.binary(max_size=200)),
                       max_size=20)


def _stream(frames: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray()
    for conn, seq, payload in frames:
        records.append_reply(out, conn, seq, payload)
    return bytes(out)


@given(frame_lists, st.lists(st.integers(0, 50), max_size=30))
def test_compiled_and_pure_readers_split_alike_wherever_the_stream_is_cut(
        frames: list[tuple[int, int, bytes]], cuts: list[int]) -> None:
    stream = _stream(frames)
    compiled, pure = _frames.ReplyReader(), records.PyReplyReader()
    got_compiled: list[tuple[int, int, bytes]] = []
    got_pure: list[tuple[int, int, bytes]] = []
    pos = 0
    for size in [*cuts, len(stream)]:
        chunk = stream[pos:pos + size]
        pos += len(chunk)
        step_compiled, step_pure = compiled.feed(chunk), pure.feed(memoryview(chunk))
        assert step_compiled == step_pure  # the same frames complete at the same cut
        got_compiled += step_compiled
        got_pure += step_pure
    assert got_compiled == got_pure == frames


def test_a_partial_frame_waits_for_its_rest() -> None:
    reader = _frames.ReplyReader()
    stream = _stream([(7, 1, b"+OK\r\n"), (7, 2, b":1\r\n")])
    assert reader.feed(stream[:5]) == []  # not even a whole head
    assert reader.feed(stream[5:20]) == [(7, 1, b"+OK\r\n")]
    assert reader.feed(stream[20:]) == [(7, 2, b":1\r\n")]
    assert reader.feed(b"") == []


def test_the_worker_uses_the_compiled_reader() -> None:
    assert records.COMPILED and records.ReplyReader is _frames.ReplyReader
