"""A leader's log writes in a background thread, so that the loop goes on while the disk syncs.

Thesis §10.2.1: a leader may write new entries to its own disk in parallel with sending them to its
followers; the core counts its own copy towards a commit only once the write is reported durable
(``RawNode.persisted``). The loop prepares each batch itself (in order, on its thread) and hands it here;
this thread only runs the synced LevelDB writes, one after another in the order given (plyvel releases
the GIL while writing). A write that fails is raised again on the loop's thread, as a failed write in
the loop would be.
"""
from __future__ import annotations

import queue
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

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
