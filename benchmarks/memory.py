"""Bytes of memory per element of each data type in the Raft process's key space, measured in-process.

For each type, N elements are written through the state machine (as applied entries would write them)
into one key and into N keys, and the Python heap's growth is read with ``tracemalloc``; the figure is
that growth divided by N. Keys and values are short (``k:<i>``, ``m:<i>``, 3-byte values), as in
``redis-benchmark``'s defaults. Run: ``.venv/bin/python benchmarks/memory.py [--elements N]``.
"""
from __future__ import annotations

import argparse
import gc
import tracemalloc
from collections.abc import Callable

from raftkv.kv.state_machine import StateMachine

Writer = Callable[[StateMachine, int], None]


def _run(sm: StateMachine, *argv: bytes) -> None:
    sm.applied_index += 1
    sm.execute(list(argv), 0)


CASES: dict[str, Writer] = {
    "string (one key each)": lambda sm, i: _run(sm, b"SET", b"k:%d" % i, b"xxx"),
    "hash field": lambda sm, i: _run(sm, b"HSET", b"h", b"m:%d" % i, b"xxx"),
    "list element": lambda sm, i: _run(sm, b"RPUSH", b"l", b"m:%d" % i),
    "set member": lambda sm, i: _run(sm, b"SADD", b"s", b"m:%d" % i),
    "sorted set member": lambda sm, i: _run(sm, b"ZADD", b"z", b"%d" % i, b"m:%d" % i),
    "string with a TTL": lambda sm, i: _run(sm, b"SET", b"k:%d" % i, b"xxx", b"PX", b"100000000"),
}


def bytes_per_element(write: Writer, elements: int) -> float:
    sm = StateMachine()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(elements):
        write(sm, i)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return grown / elements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", type=int, default=200_000)
    args = parser.parse_args()
    print(f"| element ({args.elements:,} of them) | bytes each |\n|---|---:|")
    for name, write in CASES.items():
        print(f"| {name} | {bytes_per_element(write, args.elements):,.0f} |")


if __name__ == "__main__":
    main()
