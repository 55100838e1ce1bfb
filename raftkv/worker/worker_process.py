"""The entry point of a worker process, as the supervisor starts it.

It only prepares the process (name, logging, inherited descriptors it must not keep), installs the
SIGTERM handler and runs a :class:`raftkv.worker.server.Worker` until it stops; it must not hold any
logic of the worker itself.
"""
from __future__ import annotations

import os
import signal
import socket
import ssl

from raftkv.config import NodeConfig
from raftkv.process import collect_rarely, prepare_child
from raftkv.worker.server import Worker


def worker_main(worker_id: int, config: NodeConfig, listeners: dict[socket.socket, ssl.SSLContext | None],
                pipe: socket.socket, close_fds: list[socket.socket]) -> None:
    """Entry point of a worker process: serves until SIGTERM or until the Raft process goes away.
    ``listeners`` are the client ports, each with its TLS context (None: plain)."""
    prepare_child(f"worker{worker_id}", config.log_level, close_fds)
    worker = Worker(worker_id, config, listeners, pipe)
    signal.signal(signal.SIGTERM, lambda *_: worker.request_stop())
    collect_rarely()
    worker.run()
    os._exit(0)
