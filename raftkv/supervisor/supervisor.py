"""The supervisor: binds the client ports once, starts the Raft process and then the workers, restarts
what dies, and stops the node cleanly on SIGINT/SIGTERM.

Each worker talks to the Raft process over its own socketpair. When a worker dies, a fresh pair is made
and the Raft process's end is handed over on a control channel (SCM_RIGHTS), so the other workers' clients
never notice. When the Raft process dies, the workers are stopped too and everything restarts from the
data directory: the Raft process alone decides what is durable.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import ssl
import time
from multiprocessing.connection import wait

from raftkv import tls
from raftkv.config import NodeConfig
from raftkv.node.raft_process import raft_main
from raftkv.process import StartError, bind_listener, stop_signals_held
from raftkv.wakeup import Wakeup
from raftkv.worker.worker_process import worker_main

log = logging.getLogger("raftkv.supervisor.supervisor")

_FORK = multiprocessing.get_context("fork")
_STOP_GRACE_S = 10.0
_MAX_BACKOFF_S = 5.0


class _Backoff:
    """Restart delay for a process that keeps dying soon after start."""

    def __init__(self) -> None:
        self.delay_s = 0.0
        self.started_at = 0.0

    def started(self) -> None:
        self.started_at = time.monotonic()

    def next_delay(self) -> float:
        if time.monotonic() - self.started_at > 10.0:
            self.delay_s = 0.0  # it ran for a while: a fresh failure
        else:
            self.delay_s = min(_MAX_BACKOFF_S, max(0.1, self.delay_s * 2))
        return self.delay_s


class Supervisor:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        # The client listening sockets, each with the TLS context its connections are wrapped in
        # (None: plain TCP); bound once here, shared by every worker.
        self._listeners: dict[socket.socket, ssl.SSLContext | None] = {}
        self._raft: multiprocessing.process.BaseProcess | None = None
        self._control: socket.socket | None = None
        self._workers: dict[int, multiprocessing.process.BaseProcess] = {}
        self._worker_backoff = {i: _Backoff() for i in range(config.workers)}
        self._raft_backoff = _Backoff()
        self._stopping = False
        self._wakeup = Wakeup()  # signals land here (set_wakeup_fd), so no wait misses one

    def run(self) -> int:
        """Serve until asked to stop; returns the process exit code."""
        self._install_signals()
        try:
            self._bind()
            self._start_node()
            log.info("raftkv listening on %s with %d workers, data in %s", self._listening(),
                     self.config.workers, self.config.data_dir)
            self._watch()
        finally:
            self._stop_all()
            for listener in self._listeners:
                listener.close()
        log.info("raftkv stopped")
        return 0

    def _bind(self) -> None:
        config = self.config
        if config.port:
            self._listeners[bind_listener(config.host, config.port)] = None
        if config.tls_port:
            try:
                context = tls.client_port_context(config)
            except tls.TLSConfigError as exc:
                raise StartError(str(exc)) from None
            self._listeners[bind_listener(config.host, config.tls_port, "listen for TLS clients")] = context

    def _listening(self) -> str:
        if not self.config.tls_port:
            return self.config.address
        return f"{self.config.address} (TLS on port {self.config.tls_port})"

    # -- signals ----------------------------------------------------------------------------------

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self._wakeup.writer_fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)

    def _on_stop_signal(self, signum: int, _frame: object) -> None:
        if not self._stopping:
            log.info("%s received, stopping", signal.Signals(signum).name)
        self._stopping = True

    # -- starting ---------------------------------------------------------------------------------

    def _start_node(self) -> None:
        pairs = {i: socket.socketpair() for i in range(self.config.workers)}
        self._start_raft({i: p[0] for i, p in pairs.items()}, [p[1] for p in pairs.values()])
        for raft_end, _worker_end in pairs.values():
            raft_end.close()
        worker_ends = {i: p[1] for i, p in pairs.items()}
        for i in range(self.config.workers):
            self._start_worker(i, worker_ends.pop(i), list(worker_ends.values()))

    def _start_raft(self, raft_ends: dict[int, socket.socket], worker_ends: list[socket.socket]) -> None:
        control, child_control = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        raft = _FORK.Process(
            target=raft_main, name="raftkv-raft",
            args=(self.config, raft_ends, child_control, [*worker_ends, control, *self._listeners]),
        )
        with stop_signals_held():
            raft.start()
        child_control.close()
        self._raft, self._control = raft, control
        self._raft_backoff.started()
        self._await_raft_ready()

    def _await_raft_ready(self) -> None:
        """The Raft process says ``ok`` once LevelDB is open, or why it cannot start."""
        assert self._control is not None and self._raft is not None
        while True:
            ready = wait([self._control, self._raft.sentinel, self._wakeup.reader], timeout=1.0)
            if self._control in ready:
                msg = self._control.recv(4096)
                if msg == b"ok":
                    return
                self._raft.join(5)
                raise StartError(msg.decode("utf-8", "replace").removeprefix("error ") or
                                 "the raft process exited during start")
            if self._raft.sentinel in ready:
                raise StartError(f"the raft process exited during start (code {self._raft.exitcode})")
            if self._stopping:
                raise StartError("stopped while starting")

    def _start_worker(self, i: int, pipe: socket.socket, other_ends: list[socket.socket]) -> None:
        assert self._control is not None
        proc = _FORK.Process(
            target=worker_main, name=f"raftkv-worker-{i}",
            args=(i, self.config, self._listeners, pipe, [*other_ends, self._control]),
        )
        with stop_signals_held():
            proc.start()
        pipe.close()
        self._workers[i] = proc
        self._worker_backoff[i].started()

    def _restart_worker(self, i: int) -> None:
        assert self._control is not None
        raft_end, worker_end = socket.socketpair()
        socket.send_fds(self._control, [b"%d" % i], [raft_end.fileno()])
        raft_end.close()
        self._start_worker(i, worker_end, [])

    # -- watching ---------------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stopping:
            assert self._raft is not None
            sentinels = {self._raft.sentinel: -1}
            sentinels.update({p.sentinel: i for i, p in self._workers.items()})
            ready = wait([*sentinels, self._wakeup.reader], timeout=5.0)
            self._wakeup.drain()
            if self._stopping:
                return
            for sentinel in ready:
                which = sentinels.get(sentinel) if isinstance(sentinel, int) else None
                if which == -1:
                    self._on_raft_exit()
                    break
                if which is not None:
                    self._on_worker_exit(which)

    def _on_worker_exit(self, i: int) -> None:
        proc = self._workers.pop(i)
        proc.join()
        delay = self._worker_backoff[i].next_delay()
        log.warning("worker %d (pid %d) exited with code %s; restarting in %.1fs", i, proc.pid,
                    proc.exitcode, delay)
        if self._sleep(delay):
            self._restart_worker(i)

    def _on_raft_exit(self) -> None:
        assert self._raft is not None
        self._raft.join()
        delay = self._raft_backoff.next_delay()
        log.error("raft process (pid %d) exited with code %s; restarting the node in %.1fs",
                  self._raft.pid, self._raft.exitcode, delay)
        self._stop_workers()
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._sleep(delay):
            self._start_node()

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless a stop signal comes first; True when still running."""
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            wait([self._wakeup.reader], timeout=deadline - time.monotonic())
            self._wakeup.drain()
        return not self._stopping

    # -- stopping ---------------------------------------------------------------------------------

    def _stop_workers(self) -> None:
        _terminate(list(self._workers.values()))
        self._workers.clear()

    def _stop_all(self) -> None:
        # Workers first, so no new command reaches the Raft process; then the Raft process, which
        # finishes its turn and closes LevelDB.
        self._stop_workers()
        if self._raft is not None:
            _terminate([self._raft])
        if self._control is not None:
            self._control.close()


def _terminate(procs: list[multiprocessing.process.BaseProcess]) -> None:
    for proc in procs:
        if proc.is_alive() and proc.pid is not None:
            os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_GRACE_S
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            log.warning("%s (pid %d) did not stop in %.0fs; killing it", proc.name, proc.pid, _STOP_GRACE_S)
            proc.kill()
            proc.join()
