"""Operations over several sorted sets: ZUNION, ZINTER, ZDIFF, their STORE forms, and ZINTERCARD, as Redis
7.0's zunionInterDiffGenericCommand computes them.

Inputs may be sorted sets or plain sets (whose members score 1). Like Redis, the inputs of a union or
intersection are taken smallest first (a stable sort by size), which fixes the order in which floating
point sums are made, and so their exact results. Costs: ZUNION O(N) over all input members plus
O(m log m) to order the result; ZINTER O(n * k) over the smallest input's n members and k inputs;
ZDIFF O(N); ZINTERCARD stops at LIMIT.
"""
from __future__ import annotations

from collections.abc import Iterator

from raftkv.errors import RespError, err
from raftkv.kv.args import SYNTAX_ERROR, parse_int
from raftkv.kv.datatypes import WRONGTYPE, Set, ZSet
from raftkv.kv.keyspace import Handler, Keyspace, Reply
from raftkv.kv.scores import parse_score
from raftkv.wire.values import Pairs

_AGGREGATES = (b"sum", b"min", b"max")


class _Source:
    """One input: its members and scores (a set's members score 1.0), and its weight."""

    __slots__ = ("value", "weight")

    def __init__(self, value: ZSet | Set | None) -> None:
        self.value = value
        self.weight = 1.0

    def __len__(self) -> int:
        return 0 if self.value is None else len(self.value)

    def items(self) -> Iterator[tuple[bytes, float]]:
        value = self.value
        if isinstance(value, ZSet):
            return iter(value.scores.items())
        return ((member, 1.0) for member in (value or ()))

    def score(self, member: bytes) -> float | None:
        value = self.value
        if isinstance(value, ZSet):
            return value.scores.get(member)
        return 1.0 if value is not None and member in value else None


def _aggregate(how: bytes, total: float, value: float) -> float:
    if how == b"sum":
        total += value
        return 0.0 if total != total else total  # inf + -inf is 0 in Redis
    if how == b"min":
        return value if value < total else total
    return value if value > total else total


def _sources(sm: Keyspace, argv: list[bytes], at: int, now_ms: int, name: str) -> tuple[list[_Source], int] | RespError:
    """The inputs named from argv[at] (numkeys, then keys) and the index after them."""
    numkeys = parse_int(argv[at])
    if numkeys is None:
        return err("value is not an integer or out of range")
    if numkeys < 1:
        return err(f"at least 1 input key is needed for '{name}' command")
    if numkeys > len(argv) - at - 1:
        return SYNTAX_ERROR
    sources: list[_Source] = []
    for key in argv[at + 1:at + 1 + numkeys]:
        value = sm.value(key, now_ms)
        if value is not None and not isinstance(value, (ZSet, Set)):
            return WRONGTYPE
        sources.append(_Source(value))
    return sources, at + 1 + numkeys


def _combine(sources: list[_Source], op: str, how: bytes) -> dict[bytes, float]:
    if op == "diff":
        first, rest = sources[0], sources[1:]
        return {m: s for m, s in first.items() if all(other.score(m) is None for other in rest)}
    ordered = sorted(sources, key=len)
    result: dict[bytes, float] = {}
    if op == "union":
        for source in ordered:
            weight = source.weight
            for member, score in source.items():
                weighted = weight * score
                if weighted != weighted:
                    weighted = 0.0
                old = result.get(member)
                result[member] = weighted if old is None else _aggregate(how, old, weighted)
        return result
    smallest, others = ordered[0], ordered[1:]
    for member, score in smallest.items():
        total = smallest.weight * score
        if total != total:
            total = 0.0
        for other in others:
            found = other.score(member)
            if found is None:
                break
            total = _aggregate(how, total, found * other.weight)
        else:
            result[member] = total
    return result


def _generic(sm: Keyspace, argv: list[bytes], now_ms: int, op: str, store: bool, card: bool = False) -> Reply:
    """The shared body; `card` is ZINTERCARD (a count, with LIMIT as its one option)."""
    name = argv[0].decode("utf-8", "replace").lower()
    parsed = _sources(sm, argv, 2 if store else 1, now_ms, name)
    if isinstance(parsed, RespError):
        return parsed
    sources, i = parsed
    how, withscores, limit = b"sum", False, 0
    while i < len(argv):
        option, remaining = argv[i].lower(), len(argv) - i
        if op != "diff" and not card and option == b"weights" and remaining >= len(sources) + 1:
            for source, raw in zip(sources, argv[i + 1:i + 1 + len(sources)]):
                weight = parse_score(raw)
                if weight is None:
                    return err("weight value is not a float")
                source.weight = weight
            i += 1 + len(sources)
        elif op != "diff" and not card and option == b"aggregate" and remaining >= 2:
            how = argv[i + 1].lower()
            if how not in _AGGREGATES:
                return SYNTAX_ERROR
            i += 2
        elif option == b"withscores" and not store and not card:
            withscores = True
            i += 1
        elif card and option == b"limit" and remaining >= 2:
            parsed_limit = parse_int(argv[i + 1])
            if parsed_limit is None or parsed_limit < 0:
                return err("LIMIT can't be negative")
            limit = parsed_limit
            i += 2
        else:
            return SYNTAX_ERROR
    if card:
        return _intersection_size(sources, limit)
    result = ZSet((member, score + 0.0) for member, score in _combine(sources, op, how).items())  # no -0
    if store:
        dst = argv[1]
        sm.value_for_write(dst, now_ms)
        if len(result):
            sm.put(dst, result)
        else:
            sm.delete(dst)
        return len(result)
    if withscores:
        return Pairs([x for score, member in result.order for x in (member, score)])
    return [member for _score, member in result.order]


def zunion(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _generic(sm, argv, now_ms, "union", False)


def zinter(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _generic(sm, argv, now_ms, "inter", False)


def zdiff(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _generic(sm, argv, now_ms, "diff", False)


def zunionstore(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _generic(sm, argv, now_ms, "union", True)


def zinterstore(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _generic(sm, argv, now_ms, "inter", True)


def zdiffstore(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _generic(sm, argv, now_ms, "diff", True)


def _intersection_size(sources: list[_Source], limit: int) -> int:
    ordered = sorted(sources, key=len)
    count = 0
    for member, _score in ordered[0].items():
        if all(other.score(member) is not None for other in ordered[1:]):
            count += 1
            if count == limit:
                break
    return count


def zintercard(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    return _generic(sm, argv, now_ms, "inter", False, card=True)


HANDLERS: dict[bytes, Handler] = {
    b"zunion": zunion,
    b"zinter": zinter,
    b"zdiff": zdiff,
    b"zunionstore": zunionstore,
    b"zinterstore": zinterstore,
    b"zdiffstore": zdiffstore,
    b"zintercard": zintercard,
}
