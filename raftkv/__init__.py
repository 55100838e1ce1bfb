"""raftkv: a Redis-protocol key-value store whose writes are replicated with Raft.

Layout:
  _resp.pyx / resp.py   RESP2/RESP3 codec (Cython) and its pure-Python twin
  errors.py             exceptions and Redis error prefixes
  raft/                 the pure Raft core: no sockets, clock, threads or disk
  storage.py            LevelDB log, hard state and snapshots (the Raft process's disk)
  state_machine.py      the applied key space (SortedDict) and command execution
  commands.py           the command table: arity, read/write flags, handlers
  driver.py             the Raft process loop: persist -> send -> apply -> reply -> advance
  ipc.py                framed request/reply records on the worker <-> Raft pipes
  worker.py             client connections: decode, order, forward, reply
  supervisor.py         starts and restarts the Raft process and the workers
  cli.py                ``raftkv-server``
"""

__version__ = "0.1.0"
