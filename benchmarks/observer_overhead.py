"""What counting a command costs the Raft process (INFO commandstats, the slow log's threshold check).

Times the sequencer's start-to-answer path for a read, with the node's observer and without one, and,
steadier on a busy machine, the observer's own two calls per command alone (the clock read when a
command starts, ``finished`` when it is answered), and what a worker adds to a command it answers
itself (PING: the counting wrapper of its handler). Not part of the test suite; run it by hand:
``.venv/bin/python benchmarks/observer_overhead.py``. Times are this process's CPU time (the best of
several rounds), so other work on the machine inflates them less than it would wall-clock times.
"""
from __future__ import annotations

import time
from pathlib import Path

from raftkv.config import NodeConfig
from raftkv.kv.table import TABLE
from raftkv.node.observer import CommandObserver
from raftkv.node.sequencer import Sequencer
from raftkv.worker import local

_COMMANDS = 200_000
_ROUNDS = 7


def _run(observer: CommandObserver | None) -> float:
    """Seconds per command (the best of several rounds) for submit -> take -> done of a GET."""
    seq = Sequencer(lambda to, v: None, lambda to, argv: None, lambda: None, 2.0, observer)
    seq.begin_turn(0.0)
    seq.open(0, 1, b"127.0.0.1:1")
    client = next(iter(seq.clients.values()))
    argv, cmd = [b"GET", b"k"], TABLE[b"get"]
    best = float("inf")
    for _ in range(_ROUNDS):
        started = time.process_time()
        for i in range(_COMMANDS):
            seq.submit(client, i, 2, argv, cmd)
            for p in seq.take_reads():
                seq.done(p, b"v")
        best = min(best, (time.process_time() - started) / _COMMANDS)
    return best


def _hooks_alone() -> float:
    """Seconds per command of what the observer adds: ``now_ns`` at the start, ``finished`` at the end."""
    observer = CommandObserver(NodeConfig(data_dir=Path(".")))
    seq = Sequencer(lambda to, v: None, lambda to, argv: None, lambda: None, 2.0, observer)
    seq.open(0, 1, b"127.0.0.1:1")
    seq.submit(next(iter(seq.clients.values())), 0, 2, [b"GET", b"k"], TABLE[b"get"])
    (p,) = seq.take_reads()
    now_ns, finished = observer.now_ns, observer.finished
    best = float("inf")
    for _ in range(_ROUNDS):
        started = time.process_time()
        for _i in range(_COMMANDS):
            p.started_ns = now_ns()
            finished(p, b"v")
        empty = time.process_time()
        for _i in range(_COMMANDS):
            pass
        best = min(best, (2 * empty - started - time.process_time()) / _COMMANDS)
    return best


def _local_ping() -> tuple[float, float]:
    """Seconds per PING through the worker's raw handler and through its counted one."""
    counted, raw = local.LOCAL_HANDLERS["ping"], local.ping
    argv = [b"PING"]
    best = [float("inf"), float("inf")]
    for _ in range(_ROUNDS):
        for i, handler in enumerate((raw, counted)):
            started = time.process_time()
            for _i in range(_COMMANDS):
                handler(None, None, argv)  # type: ignore[arg-type]  (PING reads neither)
            best[i] = min(best[i], (time.process_time() - started) / _COMMANDS)
        local.LOCAL_STATS.take()
    return best[0], best[1]


def main() -> None:
    without = _run(None)
    with_observer = _run(CommandObserver(NodeConfig(data_dir=Path("."))))
    print(f"sequencer without observer: {without * 1e6:.3f} us/command")
    print(f"sequencer with observer:    {with_observer * 1e6:.3f} us/command")
    print(f"the observer's calls alone: {_hooks_alone() * 1e6:.3f} us/command")
    raw, counted = _local_ping()
    print(f"worker PING handler:        {raw * 1e6:.3f} us raw, {counted * 1e6:.3f} us counted "
          f"(+{(counted - raw) * 1e6:.3f})")


if __name__ == "__main__":
    main()
