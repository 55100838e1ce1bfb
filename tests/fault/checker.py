"""A linearizability checker for histories of GET/SET/INCR/DEL on independent keys.

Keys are independent registers, and linearizability is compositional (Herlihy & Wing: a history is
linearizable iff each object's sub-history is), so each key is checked alone. A key's sub-history is
searched the way Wing & Gong proposed and Lowe refined: walk the operations in real-time order, try to
linearize one whose invocation precedes every pending completion, backtrack when a completion comes
before its operation was placed; configurations (set of linearized operations, register state) already
explored are not explored again.

An operation with an unknown outcome has no completion: it may take effect at any point after its
invocation, or never. A configuration that differs from an explored one only by having applied more
such operations is covered by it (those operations could still be left out), so it is pruned too; so are
orders that only swap alike unknown operations, and unknown SETs whose value nothing ever returned are
made alike (see :func:`_candidates` and :func:`_abstract_unseen`). Without these a key with k unknown
writes could cost 2**k. The search is bounded by a number of steps; a key whose search runs out is
reported undecided, never as linearizable.

A window of a history is a relaxation of it (any linearization of the history yields one of the
window): operations invoked after the window are dropped and those completing after it lose their
outcome; operations completed before it are dropped, those invoked before it lose their outcome, and the
register starts with any value. So a window that cannot be linearized proves the whole history cannot.
On a violation the checker reports such a window, narrowed as far as it stays a violation and without
the reads it does not need; searching small windows first also finds a violation far into a long
history without exhausting every ordering of what came before it.
"""
from __future__ import annotations

import bisect
import enum
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Final

from tests.fault.history import NOT_AN_INTEGER, Op, Outcome, Result

DEFAULT_MAX_STEPS = 1_000_000
_INT64 = re.compile(r"-?[1-9][0-9]*|0")
_CUT = "cut at the window's edge"
_BLIND = ("set", "del")  # writes whose effect does not depend on the state before


class Marker(enum.Enum):
    """Register states that stand for many values."""

    ANY = "<any>"  # any value, or none: the state at a window's start
    # The value of an unknown-outcome SET of an integer that nothing returned: no GET returned it and no
    # INCR result could have been made from it. Such SETs are all alike to the search.
    UNSEEN = "<unseen>"


ANY: Final = Marker.ANY
UNSEEN: Final = Marker.UNSEEN
State = str | None | Marker


class Verdict(enum.Enum):
    LINEARIZABLE = "linearizable"
    VIOLATION = "not linearizable"
    UNDECIDED = "undecided (search budget exhausted)"


def _as_int(value: str) -> int | None:
    """The integer a Redis string holds for INCR (strict decimal, 64-bit), or None."""
    if not _INT64.fullmatch(value):
        return None
    number = int(value)
    return number if -(1 << 63) <= number < (1 << 63) else None


def step(state: State, op: Op) -> tuple[bool, State]:
    """Apply ``op`` to a register in ``state``: (whether its recorded result fits, the state after).

    An operation of unknown outcome fits whenever it can take effect; one that could only fail (INCR
    of a non-integer) is the same as one that never happened, so it does not fit. A SET without a value
    writes :data:`UNSEEN` (see :func:`_abstract_unseen`)."""
    known = op.completed
    if op.kind == "get":
        if state is ANY:
            assert not isinstance(op.result, int)
            return True, op.result
        return op.result == state, state
    if op.kind == "set":
        return True, UNSEEN if op.arg is None else op.arg
    if op.kind == "del":
        if not known or state is ANY:
            return (not known or op.result in (0, 1)), None
        return op.result == (0 if state is None else 1), None
    if op.kind == "incr":
        return _step_incr(state, op.result, known)
    raise ValueError(f"unknown operation kind {op.kind!r}")


def _step_incr(state: State, result: Result, known: bool) -> tuple[bool, State]:
    if state is UNSEEN:
        return not known, UNSEEN  # the new value is unseen too: no completed INCR returned it
    if state is ANY:
        if known and isinstance(result, int):
            return True, str(result)
        return True, ANY
    current = 0 if state is None else _as_int(state)
    if current is None:
        return known and result == NOT_AN_INTEGER, state
    return (not known or result == current + 1), str(current + 1)


def relevant(ops: Iterable[Op]) -> list[Op]:
    """The operations that constrain a linearization: failed ones and reads without a reply have no
    effect and say nothing."""
    return [op for op in ops if op.outcome is not Outcome.FAIL and not (op.kind == "get" and not op.completed)]


def _abstract_unseen(ops: Sequence[Op]) -> list[Op]:
    """``ops`` with the value of every unknown-outcome SET of an unseen integer taken out, so that the
    search treats those SETs as alike. The values INCRs can make of ``v`` are ``v + 1 .. v + n`` for the
    key's ``n`` INCRs; if none of ``v .. v + n`` was returned by a completed GET or INCR, no completed
    operation can tell ``v`` from any other such value."""
    incrs = sum(op.kind == "incr" for op in ops)
    returned = sorted({number for op in ops if op.completed and op.kind in ("get", "incr")
                       for number in [_as_int(op.result) if isinstance(op.result, str) else op.result]
                       if isinstance(number, int)})

    def unseen(op: Op) -> bool:
        value = _as_int(op.arg) if op.arg is not None else None
        if op.completed or op.kind != "set" or value is None:
            return False
        i = bisect.bisect_left(returned, value)
        return i == len(returned) or returned[i] > value + incrs

    return [replace(op, arg=None) if unseen(op) else op for op in ops]


# -- the search -----------------------------------------------------------------------------------


class _Event:
    """A node of the doubly linked list of invocations and completions, in time order."""

    __slots__ = ("index", "is_call", "match", "prev", "next")

    def __init__(self, index: int, is_call: bool) -> None:
        self.index = index
        self.is_call = is_call
        self.match: _Event | None = None  # a call's completion; None for an unknown outcome
        self.prev: _Event | None = None
        self.next: _Event | None = None


def _events(ops: Sequence[Op]) -> _Event:
    """The head (a sentinel) of the event list of ``ops``. At equal times invocations come first, so
    operations that touch are taken as concurrent."""
    events: list[tuple[int, int, _Event]] = []
    for i, op in enumerate(ops):
        call = _Event(i, True)
        events.append((op.call_ns, 0, call))
        if op.completed:
            assert op.return_ns is not None
            call.match = _Event(i, False)
            events.append((op.return_ns, 1, call.match))
    events.sort(key=lambda e: (e[0], e[1]))
    head = _Event(-1, False)
    last = head
    for _t, _kind, event in events:
        last.next, event.prev = event, last
        last = event
    return head


def _unlink(event: _Event) -> None:
    assert event.prev is not None
    event.prev.next = event.next
    if event.next is not None:
        event.next.prev = event.prev


def _relink(event: _Event) -> None:
    assert event.prev is not None
    event.prev.next = event
    if event.next is not None:
        event.next.prev = event


def _lift(call: _Event) -> None:
    _unlink(call)
    if call.match is not None:
        _unlink(call.match)


def _unlift(call: _Event) -> None:
    if call.match is not None:
        _relink(call.match)
    _relink(call)


def _candidates(head: _Event, ops: Sequence[Op], after_unknown: bool) -> list[_Event]:
    """Operations that may be linearized next: those invoked before the earliest pending completion,
    completed ones first. Unknown-outcome ones are pruned where a sibling branch covers them:

    - of unknown operations alike (INCR, DEL, or SETs of one value) only the earliest invoked: once
      they are all invoked, which one takes effect makes no difference;
    - right after an unknown operation, no unknown SET or DEL: it would overwrite that operation's
      effect, the same as leaving it out."""
    completed, unknown = [], []
    alike: set[tuple[str, str | None]] = set()
    event = head.next
    while event is not None and event.is_call:
        op = ops[event.index]
        if op.completed:
            completed.append(event)
        elif (op.kind, op.arg) not in alike and not (after_unknown and op.kind in _BLIND):
            alike.add((op.kind, op.arg))
            unknown.append(event)
        event = event.next
    return completed + unknown


@dataclass
class _Frame:
    candidates: list[_Event]
    pos: int
    state: State
    via: _Event | None  # the call linearized to get here


class _Explored:
    """Configurations already explored, keyed by (completed ops linearized, state); for each, the sets
    of unknown-outcome ops applied. A configuration with a superset of one of those is covered."""

    def __init__(self) -> None:
        self._seen: dict[tuple[int, State], list[int]] = {}

    def visit(self, completed: int, unknown: int, state: State) -> bool:
        """Record a configuration; False when it (or one covering it) was explored before."""
        sets = self._seen.setdefault((completed, state), [])
        if any(earlier & ~unknown == 0 for earlier in sets):
            return False
        sets[:] = [earlier for earlier in sets if unknown & ~earlier != 0]
        sets.append(unknown)
        return True


def search(ops: Sequence[Op], initial: State = None, max_steps: int = DEFAULT_MAX_STEPS) -> tuple[Verdict, int]:
    """Whether the operations of one key (see :func:`relevant`) are linearizable, and the steps taken."""
    ops = _abstract_unseen(ops)
    head = _events(ops)
    completed_bits = sum(1 << i for i, op in enumerate(ops) if op.completed)
    remaining = completed_bits.bit_count()
    if remaining == 0:
        return Verdict.LINEARIZABLE, 0
    explored = _Explored()
    linearized = 0
    frames = [_Frame(_candidates(head, ops, False), 0, initial, None)]
    steps = 0
    while frames:
        frame = frames[-1]
        entered = False
        while frame.pos < len(frame.candidates):
            call = frame.candidates[frame.pos]
            frame.pos += 1
            steps += 1
            if steps > max_steps:
                return Verdict.UNDECIDED, steps
            op = ops[call.index]
            fits, state = step(frame.state, op)
            if not fits:
                continue
            after = linearized | (1 << call.index)
            if not explored.visit(after & completed_bits, after & ~completed_bits, state):
                continue
            _lift(call)
            linearized = after
            if op.completed:
                remaining -= 1
                if remaining == 0:
                    return Verdict.LINEARIZABLE, steps
            frames.append(_Frame(_candidates(head, ops, not op.completed), 0, state, call))
            entered = True
            break
        if not entered:
            frames.pop()
            if frame.via is not None:
                _unlift(frame.via)
                linearized &= ~(1 << frame.via.index)
                if ops[frame.via.index].completed:
                    remaining += 1
    return Verdict.VIOLATION, steps


# -- shrinking a violation ------------------------------------------------------------------------


def window(ops: Sequence[Op], start_ns: int | None, end_ns: int | None) -> list[Op]:
    """The relaxation of ``ops`` to the time window [start_ns, end_ns] (None: unbounded). With a start,
    the register's state at the start is unknown (check it from :data:`ANY`)."""
    kept = []
    for op in ops:
        if end_ns is not None and op.call_ns > end_ns:
            continue
        if start_ns is not None and op.return_ns is not None and op.return_ns < start_ns:
            continue
        outlives = end_ns is not None and op.return_ns is not None and op.return_ns > end_ns
        predates = start_ns is not None and op.call_ns < start_ns
        if op.completed and (outlives or predates):
            if op.kind == "get":
                continue
            op = replace(op, return_ns=None, outcome=Outcome.UNKNOWN, result=None, error=_CUT)
        kept.append(op)
    return kept


def _last_true(n: int, predicate: Callable[[int], bool]) -> int:
    """The largest i in [0, n) with predicate(i), for a predicate true up to some point then false;
    predicate(0) must hold."""
    lo, hi = 0, n - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if predicate(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass
class Violation:
    """A small history of one key that cannot be linearized, cut from the run's history: a window
    starting at ``start_ns`` with any value, or (None) the key's history from its start, key absent."""

    key: str
    ops: list[Op]
    start_ns: int | None

    def describe(self, history_start_ns: int, width: int = 40) -> str:
        """The operations, one a line with a timeline bar; unknown-outcome ones invoked before the
        window (as many as the run had) are listed briefly at the end."""
        before = [op for op in self.ops if self.start_ns is not None and op.call_ns < self.start_ns]
        inside = sorted((op for op in self.ops if op not in before), key=lambda op: op.call_ns)
        first = self.start_ns if self.start_ns is not None else min(op.call_ns for op in inside)
        last = max(op.known_until_ns for op in inside)

        def ms(t_ns: int) -> str:
            return f"{(t_ns - history_start_ns) / 1e6:.1f}"

        def col(t_ns: int) -> int:
            return min(width - 1, max(0, t_ns - first) * (width - 1) // max(1, last - first))

        initial = "absent" if self.start_ns is None else f"with any value at {ms(self.start_ns)} ms"
        lines = [f"key {self.key!r}: these operations cannot be linearized; the key starts {initial}."]
        if any(not op.completed for op in self.ops):
            lines.append("  '?' = outcome unknown: it may take effect at any time after its invocation, or never")
        if any(op.error == _CUT for op in self.ops):
            lines.append(f"  '{_CUT}' = completed, but not inside the window: its outcome is not used")
        lines.append(f"  {'invoked':>10} {'completed':>10}  {'client':<6} {'node':<16} timeline")
        for op in inside:
            end = col(op.known_until_ns) if op.completed else width - 1
            bar = [" "] * width
            for i in range(col(op.call_ns), end + 1):
                bar[i] = "=" if op.completed else "."
            bar[col(op.call_ns)] = "["
            if op.completed:
                bar[end] = "]"
            ret = ms(op.return_ns) if op.return_ns is not None else "?"
            lines.append(f"  {ms(op.call_ns):>10} {ret:>10}  {op.client:<6} {op.node:<16} |{''.join(bar)}| {op.text()}")
        if before:
            lines.append(f"  and {len(before)} operations invoked before the window, outcome unknown or not used:")
            row = "   "
            for op in sorted(before, key=lambda o: o.call_ns):
                item = f" {op.kind}{'' if op.arg is None else ' ' + op.arg} ({op.client} at {ms(op.call_ns)} ms),"
                if len(row) + len(item) > 110:
                    lines.append(row)
                    row = "   "
                row += item
            lines.append(row.rstrip(","))
        lines.append("  (times in ms since the history started)")
        return "\n".join(lines)


def find_violation(key: str, ops: Sequence[Op], whole_violated: bool,
                   max_steps: int = DEFAULT_MAX_STEPS) -> Violation | None:
    """A small window of one key's ``ops`` that cannot be linearized, or None if none is found.

    Windows of growing size are searched first, from any starting value, which finds a violation
    without exhausting every ordering of the operations before it. ``whole_violated`` says the whole
    history was found not linearizable, the last resort. The window found is then narrowed from its
    end, then from its start, then reads are dropped while the violation remains. A search that runs
    out of steps counts as no violation, so every step is proven."""

    def violated(start_ns: int | None, end_ns: int | None, candidate: Sequence[Op] | None = None) -> bool:
        if candidate is None:
            candidate = window(ops, start_ns, end_ns)
        return search(candidate, None if start_ns is None else ANY, max_steps)[0] is Verdict.VIOLATION

    bounds = _violating_window(ops, violated)
    start_ns: int | None
    end_ns: int | None
    if bounds is not None:
        start_ns, end_ns = bounds
    elif whole_violated:
        start_ns, end_ns = None, None
    else:
        return None
    ends = sorted({op.return_ns for op in window(ops, start_ns, end_ns) if op.return_ns is not None}, reverse=True)
    end_ns = ends[_last_true(len(ends), lambda i: i == 0 or violated(start_ns, ends[i]))]
    starts = [start_ns, *sorted({t for op in window(ops, start_ns, end_ns) for t in (op.call_ns, op.return_ns)
                                 if t is not None and (start_ns is None or t > start_ns)})]
    start_ns = starts[_last_true(len(starts), lambda i: i == 0 or violated(starts[i], end_ns))]
    small = window(ops, start_ns, end_ns)
    for op in [op for op in small if op.kind == "get"]:
        without = [o for o in small if o is not op]
        if violated(start_ns, end_ns, without):
            small = without
    return Violation(key, small, start_ns)


def _violating_window(ops: Sequence[Op], violated: Callable[[int | None, int | None], bool],
                      first_size: int = 16) -> tuple[int, int] | None:
    """The bounds of a window of ``ops`` (sorted by invocation) that is not linearizable from any
    value: windows of 16, 64, 256 ... operations overlapping by half, smallest first."""
    size = first_size
    while size < 2 * len(ops):
        for first in range(0, max(1, len(ops) - size // 2), size // 2):
            chunk = ops[first:first + size]
            start_ns = chunk[0].call_ns
            end_ns = max(op.known_until_ns for op in chunk)
            if violated(start_ns, end_ns):
                return start_ns, end_ns
        size *= 4
    return None


# -- whole histories ------------------------------------------------------------------------------


@dataclass
class KeyReport:
    key: str
    ops: int
    verdict: Verdict
    steps: int
    violation: Violation | None = None


@dataclass
class Report:
    keys: list[KeyReport]

    @property
    def linearizable(self) -> bool:
        return all(k.verdict is Verdict.LINEARIZABLE for k in self.keys)

    def describe(self, start_ns: int) -> str:
        lines = [f"{k.key!r}: {k.ops} operations, {k.verdict.value} ({k.steps} search steps)" for k in self.keys]
        lines += [k.violation.describe(start_ns) for k in self.keys if k.violation is not None]
        return "\n".join(lines)


def check(ops: Iterable[Op], max_steps: int = DEFAULT_MAX_STEPS) -> Report:
    """Check a whole history, key by key; each key's register starts absent."""
    by_key: dict[str, list[Op]] = defaultdict(list)
    for op in relevant(ops):
        by_key[op.key].append(op)
    reports = []
    for key in sorted(by_key):
        key_ops = sorted(by_key[key], key=lambda op: op.call_ns)
        verdict, steps = search(key_ops, None, max_steps)
        violation = None
        if verdict is not Verdict.LINEARIZABLE:
            violation = find_violation(key, key_ops, verdict is Verdict.VIOLATION, max_steps)
            if violation is not None:
                verdict = Verdict.VIOLATION
        reports.append(KeyReport(key, len(key_ops), verdict, steps, violation))
    return Report(reports)
