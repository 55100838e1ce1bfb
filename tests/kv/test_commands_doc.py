"""docs/commands.md, the table of every Redis 7.0 command, agrees with the command table."""
from __future__ import annotations

import pathlib
import re

from raftkv.errors import RespError
from raftkv.kv.table import TABLE, lookup

_DOC = pathlib.Path(__file__).parents[2] / "docs" / "commands.md"
_OURS_ONLY = {b"raft"}


def _statuses() -> dict[bytes, str]:
    rows = [line.split(" | ") for line in _DOC.read_text().splitlines() if line.startswith("| ") and " | " in line]
    return {cells[1].lower().encode(): cells[2] for cells in rows[1:]}  # rows[0] is the header


def test_every_command_we_answer_is_documented_as_supported() -> None:
    statuses = _statuses()
    for name in set(TABLE) - _OURS_ONLY:
        assert statuses.get(name, "").startswith("supported"), name


def test_every_command_documented_as_supported_is_answered() -> None:
    supported = {name for name, status in _statuses().items() if status.startswith("supported")}
    assert supported <= set(TABLE)


def test_every_refused_command_answers_unknown_command() -> None:
    for name, status in _statuses().items():
        if status.startswith("refused"):
            reply = lookup([name])
            assert isinstance(reply, RespError) and reply.message.startswith("ERR unknown command"), name


def test_the_counts_in_the_introduction_are_the_rows_of_the_table() -> None:
    statuses = list(_statuses().values())
    counts = (sum(s.startswith("supported") and not s.startswith("supported with differences") for s in statuses),
              sum(s.startswith("supported with differences") for s in statuses),
              sum(s.startswith("refused") for s in statuses))
    found = re.search(r"(\d+) are supported, (\d+) supported with differences, (\d+) refused", _DOC.read_text())
    assert found is not None
    assert tuple(map(int, found.groups())) == counts
