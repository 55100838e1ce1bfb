"""kvsctl's output without a node: replies as redis-cli prints them, member lists and their tables."""
from __future__ import annotations

import pytest

from kvsctl.members import format_member_table, parse_members
from kvsctl.output import format_reply, format_table
from raftkv.wire.resp import RespError

# -- format_reply ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (None, b"(nil)\n"),
        (1, b"(integer) 1\n"),
        (-42, b"(integer) -42\n"),
        ("OK", b"OK\n"),
        (b"value", b"value\n"),
        (b"", b"\n"),
        (b"two words\xff", b"two words\xff\n"),
        (RespError("ERR nope"), b"(error) ERR nope\n"),
        (True, b"(true)\n"),
        (False, b"(false)\n"),
        (1.5, b"(double) 1.5\n"),
        (3.0, b"(double) 3\n"),
        (float("inf"), b"(double) inf\n"),
        ([], b"(empty array)\n"),
        ({}, b"(empty hash)\n"),
    ],
)
def test_format_scalar(reply: object, expected: bytes) -> None:
    assert format_reply(reply) == expected


def test_format_array_numbers_items() -> None:
    assert format_reply([b"a", None, 7, RespError("ERR x")]) == (
        b"1) a\n2) (nil)\n3) (integer) 7\n4) (error) ERR x\n"
    )


def test_format_array_right_aligns_numbers() -> None:
    lines = format_reply([b"v"] * 10).splitlines()
    assert lines[0] == b" 1) v"
    assert lines[9] == b"10) v"


def test_format_nested_arrays_indent_under_their_number() -> None:
    reply = [[b"a", [b"b", b"c"]], b"d", []]
    assert format_reply(reply) == (
        b"1) 1) a\n"
        b"   2) 1) b\n"
        b"      2) c\n"
        b"2) d\n"
        b"3) (empty array)\n"
    )


def test_format_map() -> None:
    assert format_reply({b"k1": b"v1", b"k2": [1, 2]}) == (
        b"1# k1 => v1\n"
        b"2# k2 => 1) (integer) 1\n"
        b"   2) (integer) 2\n"
    )


# -- members ---------------------------------------------------------------------------------------

_LEADER_FLAT = [
    b"id", 1, b"client_addr", b"127.0.0.1:2317", b"peer_addr", b"127.0.0.1:2417",
    b"role", b"voter", b"leader", 1, b"match", 120, b"lag", 0,
]
_LEARNER_MAP = {
    "id": b"12", "client_addr": "127.0.0.1:2318", "peer_addr": "127.0.0.1:2418",
    "role": "learner", "leader": False, "match": b"97", "lag": 23,
}


def test_parse_members_accepts_flat_lists_and_maps() -> None:
    assert parse_members([_LEADER_FLAT, _LEARNER_MAP]) == [
        {"id": 1, "client_addr": "127.0.0.1:2317", "peer_addr": "127.0.0.1:2417",
         "role": "voter", "leader": True, "match": 120, "lag": 0},
        {"id": 12, "client_addr": "127.0.0.1:2318", "peer_addr": "127.0.0.1:2418",
         "role": "learner", "leader": False, "match": 97, "lag": 23},
    ]


def test_parse_members_accepts_a_map_of_members() -> None:
    assert parse_members({b"1": _LEADER_FLAT}) == parse_members([_LEADER_FLAT])


@pytest.mark.parametrize("flag", [True, 1, b"1", b"yes", "true", b"leader"])
def test_parse_members_leader_flag_spellings(flag: object) -> None:
    assert parse_members([[b"id", 1, b"leader", flag]])[0]["leader"] is True


@pytest.mark.parametrize("reply", [b"OK", None, 3, [b"not-a-member"], [[b"odd", 1, b"count"]]])
def test_parse_members_rejects_other_shapes(reply: object) -> None:
    with pytest.raises(ValueError):
        parse_members(reply)


def test_member_table_is_aligned() -> None:
    members = parse_members([_LEADER_FLAT, _LEARNER_MAP])
    assert format_member_table(members) == (
        "ID  CLIENT          PEER            ROLE     LEADER  MATCH  LAG\n"
        " 1  127.0.0.1:2317  127.0.0.1:2417  voter    yes       120    0\n"
        "12  127.0.0.1:2318  127.0.0.1:2418  learner  no         97   23\n"
    )


def test_member_table_shows_missing_and_extra_fields() -> None:
    table = format_member_table([{"id": 3, "state": "probe"}])
    header, row = table.splitlines()
    assert header.split() == ["ID", "CLIENT", "PEER", "ROLE", "LEADER", "MATCH", "LAG", "STATE"]
    assert row.split() == ["3", "-", "-", "-", "-", "-", "-", "probe"]


def test_member_table_empty() -> None:
    assert format_member_table([]) == "(no members)\n"


def test_table_right_aligns_integer_columns_only() -> None:
    rows = [{"n": 5, "s": "a", "b": True}, {"n": 100, "s": "bbb", "b": None}]
    assert format_table(rows, [("n", "N"), ("s", "S"), ("b", "B")]) == (
        "  N  S    B\n"
        "  5  a    yes\n"
        "100  bbb  -\n"
    )
