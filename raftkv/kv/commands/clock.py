"""TIME: the serving node's clock, never the log's.

TIME is a READ: it runs once the read index is applied, with the serving process's clock as ``now_ms``
(inside MULTI, the leader's clock carried in the EXEC entry). That clock has millisecond resolution, so
the microseconds Redis gives are the milliseconds times 1000.
"""
from __future__ import annotations

from raftkv.kv.keyspace import Handler, Keyspace, Reply


def time_(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    seconds, ms = divmod(now_ms, 1000)
    return [b"%d" % seconds, b"%d" % (ms * 1000)]


HANDLERS: dict[bytes, Handler] = {b"time": time_}
