"""raftkv: a Redis-protocol key-value store whose writes are replicated with Raft.

Layout:
  _resp.pyx / resp.py     RESP2/RESP3 codec (Cython) and its pure-Python twin
  errors.py               exceptions and Redis error prefixes
  raft/                   the pure Raft core: no sockets, clock, threads or disk
  commands.py             the command table: arity, where a command runs (worker, read, write, node)
  connection_commands.py  commands a worker answers itself (HELLO, CLIENT, AUTH, MULTI queueing, ...)
  state_machine.py        the applied key space (SortedDict), expiry and versions; cmd_*.py hold handlers
  storage.py              LevelDB: log entries, hard state, metadata
  snapshot.py             snapshot files: forked writer, checksummed loader, chunks
  snapshotting.py         when to take, send, receive and install snapshots
  driver.py               the Raft process loop: persist -> send -> apply -> reply -> advance
  transport.py / codec.py peer TCP and Raft messages on the wire
  membership.py / admin.py  member table; RAFT MEMBER / LEADER commands and joining
  ipc.py / proposal.py    worker <-> Raft pipe records; the payload of a log entry
  worker.py               client connections: decode, order, forward, reply
  supervisor.py           starts and restarts the Raft process and the workers
  cli.py                  ``raftkv-server``
"""

__version__ = "0.1.0"

# The Redis version whose commands and replies raftkv follows; clients gate features on it.
REDIS_VERSION = "7.2.0"
