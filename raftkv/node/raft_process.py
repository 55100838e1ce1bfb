"""The entry point of the Raft process: open the data dir, report to the supervisor, run the loop.

Owns the process's start and end (signals, the one-line start error, closing LevelDB); the loop itself is
:class:`raftkv.node.loop.Driver`.
"""
from __future__ import annotations

import logging
import os
import signal
import socket

from raftkv import tls
from raftkv.config import NodeConfig
from raftkv.node.disk import DiskStorage, StorageError
from raftkv.node.loop import Driver
from raftkv.node.snapshots.snapshot_file import SnapshotError
from raftkv.process import StartError, bind_listener, collect_rarely, prepare_child

log = logging.getLogger("raftkv.raft")


def raft_main(config: NodeConfig, pipes: dict[int, socket.socket], control: socket.socket,
              close_fds: list[socket.socket]) -> None:
    """Entry point of the Raft process. Tells the supervisor ``ok`` or ``error <message>`` on ``control``
    once LevelDB is open, then runs until SIGTERM."""
    prepare_child("raft", config.log_level, close_fds)
    disk = None
    try:
        peer_tls = tls.peer_tls(config)
        # A node relays membership commands to the leader's client port: a TLS one when ours is.
        relay_tls = tls.node_client_context(config) if not config.port else None
        peer_listener = bind_listener(config.peer_host, config.peer_port, "listen for peers")
        disk = DiskStorage(config.data_dir)
        driver = Driver(config, disk, pipes, peer_listener, control)
        # The loop built the transport; no link is open until it runs.
        if peer_tls is not None:
            driver.transport.secure(peer_tls)
        driver.admin.secure(peer_tls.client if peer_tls else None, relay_tls)
    except (StartError, StorageError, SnapshotError, tls.TLSConfigError) as exc:
        # The supervisor prints this one line and exits: a damaged data dir is not restarted blindly.
        if disk is not None:
            disk.close()
        control.sendall(b"error " + str(exc).encode())
        os._exit(1)
    try:
        signal.signal(signal.SIGTERM, lambda *_: driver.request_stop())
        control.sendall(b"ok")
        log.info("node %d serving data dir %s (last log index %d, commit %d)", driver.node_id, config.data_dir,
                 disk.last_index, driver.hard_state.commit)
        collect_rarely()
        driver.run()
    finally:
        driver.close()
        disk.close()
    log.info("raft process stopped, data dir closed")
