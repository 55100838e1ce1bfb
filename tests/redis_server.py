"""A real ``redis-server`` for tests that compare raftkv's replies with Redis's, byte for byte.

:class:`RedisServer` starts one on 127.0.0.1 at a free port in a temporary directory, with persistence
off, waits until it answers PING, and stops it by its pid (SIGTERM, then SIGKILL). :func:`redis_server`
is a session-scoped pytest fixture around it; import it into a test module to use it. A missing
redis-server fails the tests rather than skipping them: the comparison is part of the suite.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from raftkv.wire.resp import NEED_MORE, Reader, encode_command

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


class RedisConnection:
    """One raw RESP2 connection: sends a command, returns the reply's exact bytes and its value."""

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def call(self, argv: list[bytes]) -> tuple[bytes, object]:
        # One command is in flight at a time, so every byte read until the reply is complete is the reply.
        self._sock.sendall(encode_command(argv))
        reader = Reader()
        raw = bytearray()
        while True:
            chunk = self._sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("redis-server closed the connection")
            raw += chunk
            reader.feed(chunk)
            value = reader.gets()
            if value is not NEED_MORE:
                return bytes(raw), value

    def close(self) -> None:
        self._sock.close()


class RedisServer:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run `apt-get install redis-server` "
                        "(.ci/run installs it), the differential tests compare against it")
        self.binary = binary
        self.port = 0
        self._dir = tempfile.TemporaryDirectory(prefix="raftkv-redis-")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # A port found free may be taken before redis binds it; try a few.
        for _attempt in range(3):
            self.port = _free_port()
            log = open(Path(self._dir.name) / "redis.log", "ab")
            self._proc = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", self._dir.name, "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            if self._wait_for_ping():
                return
            self.stop()
        raise RuntimeError(f"redis-server did not start; see {self._dir.name}/redis.log")

    def _wait_for_ping(self) -> bool:
        assert self._proc is not None
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            try:
                conn = RedisConnection(self.port)
            except OSError:
                time.sleep(0.02)
                continue
            try:
                return conn.call([b"PING"])[0] == b"+PONG\r\n"
            except OSError:
                time.sleep(0.02)
            finally:
                conn.close()
        return False

    def connect(self) -> RedisConnection:
        return RedisConnection(self.port)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def cleanup(self) -> None:
        self.stop()
        self._dir.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
