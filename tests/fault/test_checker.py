"""The linearizability checker on hand-made histories, and on random histories of known outcome."""
from __future__ import annotations

import itertools
import random

import pytest

from tests.fault.checker import ANY, Verdict, check, find_violation, search, step, window
from tests.fault.history import NOT_AN_INTEGER, Op, Outcome

_ids = itertools.count()


def op(client: str, text: str, start_ms: float, end_ms: float | None, key: str = "k") -> Op:
    """An operation from ``"set 5"``, ``"get -> 5"``, ``"get -> nil"``, ``"incr -> 3"``, ``"del -> 1"``;
    ``end_ms=None`` makes its outcome unknown (``"set 5"``, ``"incr"``, ``"del"``)."""
    call, _, reply = text.partition(" -> ")
    kind, _, arg = call.partition(" ")
    result: str | int | None = None
    if reply and reply != "nil":
        result = int(reply) if kind in ("incr", "del") and reply.lstrip("-").isdigit() else reply
    outcome = Outcome.OK if end_ms is not None else Outcome.UNKNOWN
    return Op(next(_ids), client, "n1", kind, key, arg or None, int(start_ms * 1e6),
              None if end_ms is None else int(end_ms * 1e6), outcome, result)


def verdict(*ops: Op) -> Verdict:
    return search(sorted(ops, key=lambda o: o.call_ns))[0]


# -- the register model ---------------------------------------------------------------------------


def test_the_model_follows_redis() -> None:
    assert step(None, op("a", "get -> nil", 0, 1)) == (True, None)
    assert step("7", op("a", "incr -> 8", 0, 1)) == (True, "8")
    assert step(None, op("a", "incr -> 1", 0, 1)) == (True, "1")
    assert step("x", op("a", f"incr -> {NOT_AN_INTEGER}", 0, 1)) == (True, "x")
    assert step("007", op("a", f"incr -> {NOT_AN_INTEGER}", 0, 1)) == (True, "007")
    assert step("7", op("a", "del -> 1", 0, 1)) == (True, None)
    assert step(None, op("a", "del -> 1", 0, 1))[0] is False
    assert step(ANY, op("a", "get -> 3", 0, 1)) == (True, "3")
    assert step(ANY, op("a", "incr -> 3", 0, 1)) == (True, "3")
    assert step(ANY, op("a", "incr", 0, None)) == (True, ANY)
    # An unknown INCR that could only fail is the same as one that never happened.
    assert step("x", op("a", "incr", 0, None))[0] is False


# -- linearizable histories -----------------------------------------------------------------------


def test_sequential_operations() -> None:
    assert verdict(
        op("a", "get -> nil", 0, 1), op("a", "set 1", 2, 3), op("b", "get -> 1", 4, 5),
        op("b", "incr -> 2", 6, 7), op("a", "del -> 1", 8, 9), op("b", "del -> 0", 10, 11),
        op("a", "incr -> 1", 12, 13),
    ) is Verdict.LINEARIZABLE


@pytest.mark.parametrize("seen", ["nil", "1"])
def test_a_read_concurrent_with_a_write_may_see_either_value(seen: str) -> None:
    assert verdict(op("a", "set 1", 0, 10), op("b", f"get -> {seen}", 2, 5)) is Verdict.LINEARIZABLE


def test_concurrent_writes_take_effect_in_either_order() -> None:
    history = [op("a", "set 1", 0, 10), op("b", "set 2", 1, 11)]
    assert verdict(*history, op("c", "get -> 1", 12, 13)) is Verdict.LINEARIZABLE
    assert verdict(*history, op("c", "get -> 2", 12, 13)) is Verdict.LINEARIZABLE


def test_operations_that_touch_count_as_concurrent() -> None:
    assert verdict(op("a", "set 1", 0, 10), op("b", "get -> nil", 10, 12)) is Verdict.LINEARIZABLE


def test_keys_are_checked_independently() -> None:
    report = check([op("a", "set 1", 0, 1, key="x"), op("a", "set 2", 2, 3, key="y"),
                    op("b", "get -> 1", 4, 5, key="x"), op("b", "get -> 2", 6, 7, key="y")])
    assert report.linearizable
    assert [k.key for k in report.keys] == ["x", "y"]


# -- violations -----------------------------------------------------------------------------------


def test_a_stale_read_is_a_violation() -> None:
    assert verdict(op("a", "set 1", 0, 1), op("a", "set 2", 2, 3), op("b", "get -> 1", 4, 5)) is Verdict.VIOLATION


def test_a_lost_write_is_a_violation() -> None:
    assert verdict(op("a", "set 1", 0, 1), op("b", "get -> nil", 2, 3)) is Verdict.VIOLATION
    assert verdict(op("a", "incr -> 1", 0, 1), op("b", "incr -> 1", 2, 3)) is Verdict.VIOLATION


def test_reading_a_value_never_written_is_a_violation() -> None:
    assert verdict(op("a", "set 1", 0, 1), op("b", "get -> 9", 2, 3)) is Verdict.VIOLATION


def test_reads_going_back_in_time_across_clients_are_a_violation() -> None:
    # The write is in flight throughout, so each read alone is fine; but once a reader has seen the new
    # value, a read that starts later must not see the old one.
    write = op("w", "set 1", 0, 100)
    assert verdict(write, op("a", "get -> 1", 10, 20), op("b", "get -> nil", 30, 40)) is Verdict.VIOLATION
    assert verdict(write, op("a", "get -> nil", 10, 20), op("b", "get -> 1", 30, 40)) is Verdict.LINEARIZABLE


def test_a_delete_that_removed_nothing_after_a_write_is_a_violation() -> None:
    assert verdict(op("a", "set 1", 0, 1), op("b", "del -> 0", 2, 3)) is Verdict.VIOLATION


# -- unknown outcomes -----------------------------------------------------------------------------


def test_an_unknown_write_may_take_effect() -> None:
    assert verdict(op("a", "set 1", 0, None), op("b", "get -> 1", 50, 51)) is Verdict.LINEARIZABLE


def test_an_unknown_write_may_never_take_effect() -> None:
    assert verdict(op("a", "set 1", 0, None), op("b", "get -> nil", 50, 51)) is Verdict.LINEARIZABLE


def test_an_unknown_write_may_take_effect_long_after_it_was_invoked() -> None:
    assert verdict(op("a", "set 1", 0, None), op("b", "get -> nil", 50, 51), op("b", "set 2", 52, 53),
                   op("b", "get -> 1", 60, 61)) is Verdict.LINEARIZABLE


def test_an_unknown_write_cannot_take_effect_before_it_was_invoked() -> None:
    assert verdict(op("b", "get -> 1", 0, 1), op("a", "set 1", 5, None)) is Verdict.VIOLATION


def test_an_unknown_write_takes_effect_at_most_once() -> None:
    assert verdict(op("a", "set 1", 0, None), op("b", "get -> 1", 10, 11), op("b", "set 2", 12, 13),
                   op("b", "get -> 1", 14, 15)) is Verdict.VIOLATION


def test_an_unknown_increment_counts_once_or_not_at_all() -> None:
    history = [op("a", "incr -> 1", 0, 1), op("b", "incr", 2, None)]
    assert verdict(*history, op("c", "get -> 1", 10, 11)) is Verdict.LINEARIZABLE
    assert verdict(*history, op("c", "get -> 2", 10, 11)) is Verdict.LINEARIZABLE
    assert verdict(*history, op("c", "get -> 3", 10, 11)) is Verdict.VIOLATION


def test_many_unknown_writes_stay_cheap() -> None:
    # 40 unknown writes none of which is ever seen: trying subsets of them would never end.
    history = [op(f"u{i}", f"set {i}", i, None) for i in range(40)]
    history += [op("a", "set x", 100, 101), op("a", "get -> nil", 102, 103)]
    result, steps = search(sorted(history, key=lambda o: o.call_ns))
    assert result is Verdict.VIOLATION
    assert steps < 20_000


def test_failed_operations_and_unanswered_reads_are_ignored() -> None:
    failed = Op(999_999, "a", "n1", "set", "k", "9", 0, None, Outcome.FAIL)
    assert check([failed, op("b", "get", 1, None), op("b", "get -> nil", 2, 3)]).linearizable


def test_a_search_that_runs_out_of_steps_is_undecided() -> None:
    # Ten writes in flight while readers see their values in reverse order: linearizable, but only
    # after trying orders that fail.
    history = [op(f"w{i}", f"set {i}", 0, 100) for i in range(10)]
    history += [op("r", f"get -> {9 - i}", 10 + 2 * i, 11 + 2 * i) for i in range(10)]
    assert search(history)[0] is Verdict.LINEARIZABLE
    assert search(history, max_steps=5)[0] is Verdict.UNDECIDED
    report = check(history, max_steps=5)
    assert not report.linearizable
    assert report.keys[0].verdict is Verdict.UNDECIDED and report.keys[0].violation is None


# -- shrinking ------------------------------------------------------------------------------------


def sequential_history(rng: random.Random, n: int, clients: int = 4) -> list[Op]:
    """A history of ``n`` operations that took effect one at a time, every 10 ms, with invocation and
    completion spread around that instant so that neighbours overlap."""
    state: str | None = None
    ops = []
    for i in range(n):
        at = i * 10
        kind = rng.choices(["get", "set", "incr", "del"], weights=[4, 3, 2, 1])[0]
        if kind == "get":
            text = f"get -> {'nil' if state is None else state}"
        elif kind == "set":
            state = str(1000 * (i + 1))
            text = f"set {state}"
        elif kind == "incr":
            state = str(int(state or 0) + 1)
            text = f"incr -> {state}"
        else:
            text = f"del -> {0 if state is None else 1}"
            state = None
        start, end = at - rng.uniform(0, 25), at + rng.uniform(0, 25)
        unknown = kind != "get" and rng.random() < 0.1
        ops.append(op(f"c{rng.randrange(clients)}", text.split(" -> ")[0] if unknown else text, start,
                      None if unknown else end))
    return sorted(ops, key=lambda o: o.call_ns)


@pytest.mark.parametrize("seed", range(60))
def test_random_histories_of_a_sequential_execution_are_linearizable(seed: int) -> None:
    rng = random.Random(seed)
    history = sequential_history(rng, rng.randrange(5, 120))
    verdict_, steps = search(history)
    assert verdict_ is Verdict.LINEARIZABLE, f"seed {seed} after {steps} steps"


@pytest.mark.parametrize("seed", range(30))
def test_a_read_of_a_value_never_written_is_found_in_a_random_history(seed: int) -> None:
    rng = random.Random(seed)
    history = sequential_history(rng, 60)
    reads = [i for i, o in enumerate(history) if o.kind == "get" and o.completed]
    i = rng.choice(reads)
    history[i] = Op(history[i].id, history[i].client, "n1", "get", "k", None, history[i].call_ns,
                    history[i].return_ns, Outcome.OK, "-5")
    assert search(history)[0] is Verdict.VIOLATION


def test_a_violation_is_shrunk_to_the_operations_that_show_it() -> None:
    rng = random.Random(7)
    history = sequential_history(rng, 100)
    last = max(o.return_ns or o.call_ns for o in history)
    writer = op("w", "set fresh", last / 1e6 + 10, last / 1e6 + 11)
    stale = op("r", "get -> nil", last / 1e6 + 20, last / 1e6 + 21)
    history += [writer, stale]
    violation = find_violation("k", history, whole_violated=True)
    assert violation is not None
    assert stale in violation.ops and writer in violation.ops
    assert len(violation.ops) <= 10
    assert search(violation.ops, None if violation.start_ns is None else ANY)[0] is Verdict.VIOLATION
    text = violation.describe(0)
    assert "get k -> nil" in text and "set k fresh -> OK" in text


def test_a_window_keeps_what_overlaps_it_and_forgets_outcomes_at_its_edges() -> None:
    early = op("a", "set 1", 0, 10)
    straddling_start = op("b", "set 2", 15, 25)
    inside = op("c", "get -> 2", 30, 40)
    straddling_end = op("d", "incr -> 3", 45, 60)
    late = op("e", "set 9", 70, 80)
    kept = window([early, straddling_start, inside, straddling_end, late], int(20e6), int(50e6))
    assert [o.client for o in kept] == ["b", "c", "d"]
    assert [o.outcome for o in kept] == [Outcome.UNKNOWN, Outcome.OK, Outcome.UNKNOWN]


def test_a_report_names_the_key_and_shows_the_history() -> None:
    report = check([op("a", "set 1", 0, 1, key="x"), op("a", "set 2", 2, 3, key="x"),
                    op("b", "get -> 1", 4, 5, key="x"), op("b", "get -> nil", 6, 7, key="y")])
    assert not report.linearizable
    [bad] = [k for k in report.keys if k.violation is not None]
    assert bad.key == "x" and bad.violation is not None
    # From any value, "set 2, then get 1" is already impossible: the first write is not needed.
    assert [o.text() for o in bad.violation.ops] == ["set x 2 -> OK", "get x -> 1"]
    text = report.describe(0)
    assert "'x': 3 operations, not linearizable" in text and "'y': 1 operations, linearizable" in text
