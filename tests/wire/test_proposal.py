"""Log-entry payloads: the NORMAL entry head and the argv of an EXEC entry."""
from __future__ import annotations

from raftkv.wire import proposal
from raftkv.wire.proposal import decode_exec, encode_exec
from raftkv.wire.resp import encode_command


def test_an_entry_is_its_head_then_the_resp_command() -> None:
    data = proposal.encode(3, 7, 1_700_000_000_000, [b"SET", b"k", b"v"])
    assert data[:proposal.HEAD_SIZE] == proposal.encode_head(3, 7, 1_700_000_000_000)
    assert data[proposal.HEAD_SIZE:] == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"
    assert proposal.decode_head(data) == (3, 7, 1_700_000_000_000)


def test_exec_entry_layout() -> None:
    queued = [encode_command([b"SET", b"a", b"1"]), encode_command([b"GET", b"a"])]
    argv = encode_exec({b"w": 12, b"x": ~5}, queued)
    assert argv == [b"exec", b"2", b"w", b"12", b"x", b"-6",
                    b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n", b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n"]
    assert decode_exec(argv) == ([(b"w", 12), (b"x", -6)], [[b"SET", b"a", b"1"], [b"GET", b"a"]])


def test_exec_entry_without_watched_keys_or_commands() -> None:
    assert encode_exec({}, []) == [b"exec", b"0"]
    assert decode_exec([b"exec", b"0"]) == ([], [])
    assert decode_exec(encode_exec({}, [encode_command([b"PING"])])) == ([], [[b"PING"]])
