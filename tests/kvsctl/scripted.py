"""A scripted one-connection RESP server on 127.0.0.1, so kvsctl's real client and codec run end to end
without a raftkv node; and ``run``, which invokes the command line in-process."""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner, Result

from kvsctl.cli import cli
from raftkv.wire.resp import NEED_MORE, Reader

_WAIT_S = 10


class ScriptedNode:
    """Accepts one connection on 127.0.0.1, reads one command, then sends ``reply`` and waits.

    ``reply=None`` closes the connection instead; ``silent=True`` never answers (to time out).
    ``received`` is the command read, None if no command came.
    """

    def __init__(self, reply: bytes | None, silent: bool = False) -> None:
        self.reply = reply
        self.silent = silent
        self.received: object = None
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_WAIT_S)
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:  # timed out, or closed by close() before anyone connected
            return
        with conn:
            conn.settimeout(_WAIT_S)
            reader = Reader()
            while (command := reader.gets()) is NEED_MORE:
                data = conn.recv(4096)
                if not data:
                    return
                reader.feed(data)
            self.received = command
            if self.reply is None:
                return
            if not self.silent:
                conn.sendall(self.reply)
            # Hold the connection open until the client hangs up.
            while conn.recv(4096):
                pass

    def close(self) -> None:
        # shutdown() wakes an accept() still waiting; close() alone would not.
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._thread.join(timeout=_WAIT_S)
        assert not self._thread.is_alive()


StartNode = Callable[..., ScriptedNode]


@pytest.fixture
def scripted() -> Iterator[StartNode]:
    nodes: list[ScriptedNode] = []

    def start(reply: bytes | None, silent: bool = False) -> ScriptedNode:
        nodes.append(ScriptedNode(reply, silent))
        return nodes[-1]

    yield start
    for node in nodes:
        node.close()


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    # Clear KVSCTL_ADDRESS and KVSCTL_ENDPOINTS so the caller's environment cannot redirect a test.
    clean: dict[str, str | None] = {"KVSCTL_ADDRESS": None, "KVSCTL_ENDPOINTS": None}
    return CliRunner().invoke(cli, list(args), env={**clean, **(env or {})})


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (just released by the OS)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_address() -> str:
    return f"127.0.0.1:{free_port()}"
