"""Golden interaction traces (etcd raft's interaction_test.go): each tests/raft/testdata/*.txt script
drives a small cluster command by command and states the messages, writes, commits and role changes
that must follow. ``pytest tests/raft/test_interaction.py --rewrite`` regenerates the outputs; review
the diff before committing it."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.raft.datadriven import parse_command, parse_file, run_file
from tests.raft.interaction import InteractionEnv

TESTDATA = Path(__file__).parent / "testdata"
SCRIPTS = sorted(TESTDATA.glob("*.txt"))


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_interaction(path: Path, request: pytest.FixtureRequest) -> None:
    env = InteractionEnv()
    run_file(path, env.handle, rewrite=bool(request.config.getoption("--rewrite")))


def test_parse_command_splits_lists_and_keys() -> None:
    name, positional, args = parse_command("add-nodes 3 voters=(1, 2,3) pre-vote=false")
    assert (name, positional) == ("add-nodes", ["3"])
    assert args["voters"].values == ["1", "2", "3"] and args["pre-vote"].single() == "false"


def test_rewrite_keeps_comments_and_fills_outputs(tmp_path: Path) -> None:
    script = tmp_path / "s.txt"
    script.write_text("# a comment\nfirst\n----\nstale\n\n\n# another\nsecond a=(1,2)\n----\n")
    run_file(script, lambda case: f"{case.name} {case.ints('a')}", rewrite=True)
    assert script.read_text() == (
        "# a comment\nfirst\n----\nfirst []\n\n\n# another\nsecond a=(1,2)\n----\nsecond [1, 2]\n"
    )
    cases, _ = parse_file(script)
    assert [c.expected for c in cases] == ["first []", "second [1, 2]"]
    run_file(script, lambda case: f"{case.name} {case.ints('a')}")  # and now it compares equal
