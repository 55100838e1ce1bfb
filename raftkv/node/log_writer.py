"""A leader's log writes in a background thread, so that the loop goes on while the disk syncs.

Thesis §10.2.1: a leader may write new entries to its own disk in parallel with sending them to its
followers; the core counts its own copy towards a commit only once the write is reported durable
(``RawNode.persisted``). The loop prepares each batch itself (in order, on its thread) and hands it here;
this thread only runs the synced LevelDB writes, one after another in the order given (plyvel releases
the GIL while writing). A write that fails is raised again on the loop's thread, as a failed write in
the loop would be.

:class:`GroupCommit` keeps one such write in progress at a time: what the loop brings while it syncs
waits, and goes to disk as one batch with one sync when it is done. A slow sync then makes the next
batch bigger; handing every turn's entries to the thread as its own synced write would instead make a
queue of small writes behind a busy disk, each client waiting for all of them (one node, -c 50 SET:
5-7k/s against 27-29k/s).
"""
from __future__ import annotations

import queue
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from raftkv.raft.types import Entry, HardState
from raftkv.wakeup import Wakeup

T = TypeVar("T")

# A thread returning from a write waits for the GIL until the loop lets go of it: by default up to
# 5 ms, four times the sync itself. The loop then hands it over sooner.
_SWITCH_INTERVAL_S = 0.0002


class LogWriter(Generic[T]):
    """Runs ``write()`` callables in order in one thread; each carries a token the loop gets back from
    :meth:`take_done` (after :attr:`wakeup` fires) once it is durable.

    The hand-over is a C ``SimpleQueue`` one way and a deque plus a wakeup the other (both thread-safe
    without a Python-level lock), with two counters each written by one thread only: a loop with
    nothing in the background (a follower's) pays nothing in :meth:`drain`."""

    def __init__(self) -> None:
        sys.setswitchinterval(_SWITCH_INTERVAL_S)
        self.wakeup = Wakeup()
        # (write, token), or (None, event): set once every write before it is done.
        self._queue: queue.SimpleQueue[tuple[Callable[[], None] | None, object]] = queue.SimpleQueue()
        self._done: deque[T] = deque()
        self._submitted = 0  # written by the loop only
        self._finished = 0  # written by the writer thread only
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        """Nothing submitted is still being written or waiting to be taken."""
        return self._finished == self._submitted and not self._done

    @property
    def busy(self) -> bool:
        """A submitted write is not finished yet."""
        return self._finished != self._submitted

    def submit(self, write: Callable[[], None], token: T) -> None:
        self._submitted += 1
        self._queue.put((write, token))

    def take_done(self) -> list[T]:
        """The tokens of the writes finished since the last call, in order."""
        if self._error is not None:
            raise self._error
        done, popleft = self._done, self._done.popleft
        return [popleft() for _ in range(len(done))]

    def drain(self) -> list[T]:
        """Wait until every submitted write is done; their tokens, in order."""
        if self._finished != self._submitted:
            finished = threading.Event()
            self._queue.put((None, finished))
            finished.wait()
        return self.take_done()

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        self._queue.put((None, None))
        self._thread.join()
        self.wakeup.close()

    def _run(self) -> None:
        get = self._queue.get
        while True:
            write, token = get()
            if write is None:
                if token is None:
                    return
                token.set()  # type: ignore[attr-defined]
                continue
            if self._error is None:  # after a failed write nothing more is written
                try:
                    write()
                except BaseException as exc:  # noqa: BLE001 - raised again on the loop's thread
                    self._error = exc
                else:
                    self._done.append(token)  # type: ignore[arg-type]
            self._finished += 1
            self.wakeup.notify()


class _Batch(Protocol):
    def write(self) -> None: ...


class GroupCommit:
    """A leader's background log writes through a :class:`LogWriter`, one in progress at a time.

    ``prepare(hard_state, entries, sync)`` makes a batch (on the loop's thread, in order: it moves the
    log's bounds); ``timed(write, synced)`` wraps its ``write`` (to observe the sync's duration);
    ``counted(synced)`` is told of every batch handed to the thread. The tokens the loop gets back are
    the entries of each batch written."""

    def __init__(self, prepare: Callable[[HardState | None, list[Entry], bool], _Batch],
                 timed: Callable[[Callable[[], None], bool], Callable[[], None]],
                 counted: Callable[[bool], None]) -> None:
        self._prepare = prepare
        self._timed = timed
        self._counted = counted
        self.writer: LogWriter[list[Entry]] = LogWriter()
        self.wakeup = self.writer.wakeup
        self._entries: list[Entry] = []  # waiting for the write in progress
        self._hard_state: HardState | None = None

    def add(self, hard_state: HardState | None, entries: list[Entry]) -> None:
        """Write now if no write is in progress, else with the batch that follows it."""
        if entries:
            waiting = self._entries
            if waiting and entries[0].index <= waiting[-1].index:  # replaced from there on
                del waiting[max(0, entries[0].index - waiting[0].index):]
            waiting.extend(entries)
        if hard_state is not None:
            self._hard_state = hard_state
        if self._waiting() and not self.writer.busy:
            self._start()

    def take_done(self) -> list[list[Entry]]:
        """The entries of the batches durable since the last call; the next batch starts first."""
        done = self.writer.take_done()
        if self._waiting() and not self.writer.busy:
            self._start()
        return done

    def drain(self) -> list[list[Entry]]:
        """Write everything added and wait for it."""
        if self._waiting():
            self._start()
        return self.writer.drain()

    def close(self) -> None:
        if self._waiting():
            self._start()
        self.writer.close()

    def _waiting(self) -> bool:
        return bool(self._entries) or self._hard_state is not None

    def _start(self) -> None:
        entries, hard_state = self._entries, self._hard_state
        self._entries, self._hard_state = [], None
        synced = bool(entries)
        self.writer.submit(self._timed(self._prepare(hard_state, entries, synced).write, synced), entries)
        self._counted(synced)
