"""A leader's log writes in a background thread, so that the loop goes on while the disk syncs.

Thesis §10.2.1: a leader may write new entries to its own disk in parallel with sending them to its
followers; the core counts its own copy towards a commit only once the write is reported durable
(``RawNode.persisted``). The loop prepares each batch itself (in order, on its thread) and hands it here;
this thread only runs the synced LevelDB writes, one after another in the order given (plyvel releases
the GIL while writing). A write that fails is raised again on the loop's thread, as a failed write in
the loop would be.
"""
from __future__ import annotations

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
    :meth:`take_done` (after :attr:`wakeup` fires) once it is durable."""

    def __init__(self) -> None:
        sys.setswitchinterval(_SWITCH_INTERVAL_S)
        self.wakeup = Wakeup()
        self._cond = threading.Condition()
        self._queue: deque[tuple[Callable[[], None], T]] = deque()
        self._done: list[T] = []
        self._busy = False
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        """Nothing submitted is still being written or waiting to be taken."""
        return not self._queue and not self._busy and not self._done

    def submit(self, write: Callable[[], None], token: T) -> None:
        with self._cond:
            self._queue.append((write, token))
            self._cond.notify()

    def take_done(self) -> list[T]:
        """The tokens of the writes finished since the last call, in order."""
        with self._cond:
            if self._error is not None:
                raise self._error
            done, self._done = self._done, []
        return done

    def drain(self) -> list[T]:
        """Wait until every submitted write is done; their tokens, in order."""
        with self._cond:
            while (self._queue or self._busy) and self._error is None:
                self._cond.wait()
        return self.take_done()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        self.wakeup.close()

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._queue and not self._closed:
                    cond.wait()
                if not self._queue:
                    return
                write, token = self._queue.popleft()
                self._busy = True
            try:
                write()
            except BaseException as exc:  # noqa: BLE001 - raised again on the loop's thread
                with cond:
                    self._error = exc
                    self._busy = False
                    cond.notify_all()
                self.wakeup.notify()
                return
            with cond:
                self._done.append(token)
                self._busy = False
                cond.notify_all()
            self.wakeup.notify()
