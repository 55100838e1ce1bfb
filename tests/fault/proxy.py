"""Fault-injecting TCP proxies on the links between raftkv Raft processes, and the network they make.

Every node advertises a peer address on which a :class:`PeerProxy` listens; the proxy forwards to the
port the node really listens on. A raftkv peer connection carries messages one way only (from the node
that opened it; a one-shot admin request gets its one reply back) and starts with a handshake record
``[b"H", secret, node_id, ...]``, so the proxy learns from that record which node is sending and can treat
each directed link ``src -> dst`` on its own:

- ``FORWARD``: bytes pass through;
- ``DROP``: the link's connections are closed and new ones closed as soon as they identify themselves,
  so the sender sees connection errors (a partition that the kernel reports);
- ``BLACKHOLE``: connections stay open but everything sent vanishes (a partition nobody reports). A
  stream that lost bytes can't be resumed mid-frame, so healing closes it and the sender reconnects.

Only 127.0.0.1 is used. Each proxy runs one selector thread; :meth:`PeerProxy.close` stops it.
"""
from __future__ import annotations

import enum
import selectors
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

HOST = "127.0.0.1"
_MAX_BUFFER_BYTES = 4 * 1024 * 1024  # per direction; past this the proxy stops reading (back-pressure)
_RECV_BYTES = 256 * 1024
_CONNECT_TIMEOUT_S = 1.0
_HANDSHAKE_TAG = b"H"


class LinkMode(enum.Enum):
    FORWARD = "forward"
    DROP = "drop"
    BLACKHOLE = "blackhole"


def parse_handshake(data: bytes) -> int | None:
    """The sender's node id from the start of a peer connection; None while the record is incomplete.
    The record is ``[b"H", secret, node_id]`` or, from a node that announces its addresses,
    ``[b"H", secret, node_id, peer_addr, client_addr]``.

    Raises ValueError when the bytes can't be the raftkv peer handshake."""
    if len(data) < 4:
        if not (b"*3\r\n".startswith(data) or b"*5\r\n".startswith(data)):
            raise ValueError(f"not a raftkv peer handshake: {data!r}")
        return None
    if not (data.startswith(b"*3\r\n") or data.startswith(b"*5\r\n")):
        raise ValueError(f"not a raftkv peer handshake: {data[:32]!r}")
    fields: list[bytes] = []
    pos = 4
    for _ in range(int(data[1:2])):
        end = data.find(b"\r\n", pos)
        if end < 0:
            return None
        if data[pos:pos + 1] != b"$":
            raise ValueError(f"not a raftkv peer handshake: {data[:64]!r}")
        length = int(data[pos + 1:end])
        start = end + 2
        if len(data) < start + length + 2:
            return None
        fields.append(data[start:start + length])
        pos = start + length + 2
    if fields[0] != _HANDSHAKE_TAG or not fields[2].isdigit():
        raise ValueError(f"not a raftkv peer handshake: {fields!r}")
    return int(fields[2])


@dataclass(eq=False)
class _Conn:
    """One proxied peer connection: ``down`` from the sending node, ``up`` to the receiving node."""

    down: socket.socket
    up: socket.socket | None = None
    source: str | None = None
    head: bytearray = field(default_factory=bytearray)  # bytes received before the handshake completed
    to_up: bytearray = field(default_factory=bytearray)
    to_down: bytearray = field(default_factory=bytearray)
    blackholed: bool = False


class PeerProxy:
    """Listens on ``listen_port`` and forwards to ``target_port``; ``sources`` names node ids."""

    def __init__(self, name: str, listen_port: int, target_port: int, sources: Mapping[int, str]) -> None:
        self.name = name
        self.listen_port = listen_port
        self.target_port = target_port
        self._sources = dict(sources)
        self._modes: dict[str, LinkMode] = {}
        self._modes_changed = False
        self._lock = threading.Lock()
        self._sel = selectors.DefaultSelector()
        self._conns: set[_Conn] = set()
        self._listener = socket.create_server((HOST, listen_port), backlog=64)
        self._listener.setblocking(False)
        self._sel.register(self._listener, selectors.EVENT_READ, lambda _mask: self._accept())
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, lambda _mask: self._drain_wake())
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name=f"proxy-{name}", daemon=True)
        self._thread.start()

    # -- commands from the test thread ---------------------------------------------------------------

    def set_mode(self, source: str, mode: LinkMode) -> None:
        """How traffic from node ``source`` to this proxy's node is treated from now on."""
        with self._lock:
            if mode is LinkMode.FORWARD:
                self._modes.pop(source, None)
            else:
                self._modes[source] = mode
            self._modes_changed = True
        self._wake()

    def name_source(self, node_id: int, name: str) -> None:
        """Connections from node ``node_id`` come from ``name`` (a node that joined after the start)."""
        with self._lock:
            self._sources[node_id] = name

    def heal(self) -> None:
        with self._lock:
            self._modes.clear()
            self._modes_changed = True
        self._wake()

    def close(self) -> None:
        """Stop the thread and close every socket; waits at most a few seconds."""
        self._closing = True
        self._wake()
        self._thread.join(5.0)
        if self._thread.is_alive():
            raise RuntimeError(f"proxy {self.name} did not stop")

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _mode(self, source: str | None) -> LinkMode:
        with self._lock:
            return self._modes.get(source or "", LinkMode.FORWARD)

    # -- the selector thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            while not self._closing:
                for key, mask in self._sel.select(timeout=1.0):
                    key.data(mask)
                with self._lock:
                    changed, self._modes_changed = self._modes_changed, False
                if changed:
                    for conn in list(self._conns):
                        self._enforce(conn)
        finally:
            for conn in list(self._conns):
                self._drop(conn)
            self._sel.close()
            self._listener.close()
            self._wake_r.close()
            self._wake_w.close()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _accept(self) -> None:
        while True:
            try:
                sock, _addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            conn = _Conn(down=sock)
            self._conns.add(conn)
            self._sel.register(sock, selectors.EVENT_READ, self._handler(conn, down=True))

    def _handler(self, conn: _Conn, down: bool) -> Callable[[int], None]:
        def handle(mask: int) -> None:
            if conn not in self._conns:
                return
            if mask & selectors.EVENT_READ:
                self._read(conn, down)
            if conn in self._conns and mask & selectors.EVENT_WRITE:
                self._write(conn, down)
            if conn in self._conns:
                self._update_interest(conn)

        return handle

    def _read(self, conn: _Conn, down: bool) -> None:
        sock = conn.down if down else conn.up
        assert sock is not None
        try:
            data = sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(conn)
        elif not down:
            conn.to_down += data
        elif conn.source is None:
            conn.head += data
            self._identify(conn)
        elif not conn.blackholed:
            conn.to_up += data

    def _identify(self, conn: _Conn) -> None:
        try:
            node_id = parse_handshake(bytes(conn.head))
        except ValueError:
            self._drop(conn)
            return
        if node_id is None:
            return
        with self._lock:
            conn.source = self._sources.get(node_id, f"id{node_id}")
        conn.to_up, conn.head = conn.head, bytearray()
        self._enforce(conn)

    def _enforce(self, conn: _Conn) -> None:
        """Bring an identified connection in line with its link's mode."""
        if conn.source is None:
            return
        mode = self._mode(conn.source)
        if mode is LinkMode.DROP or (mode is LinkMode.FORWARD and conn.blackholed):
            self._drop(conn)
        elif mode is LinkMode.BLACKHOLE:
            conn.blackholed = True
            conn.to_up.clear()
        elif conn.up is None:
            self._connect_up(conn)
        if conn in self._conns:
            self._update_interest(conn)

    def _connect_up(self, conn: _Conn) -> None:
        try:
            up = socket.create_connection((HOST, self.target_port), timeout=_CONNECT_TIMEOUT_S)
        except OSError:  # the node is down: the sender sees its connection close
            self._drop(conn)
            return
        up.setblocking(False)
        conn.up = up
        self._sel.register(up, selectors.EVENT_READ, self._handler(conn, down=False))

    def _write(self, conn: _Conn, down: bool) -> None:
        sock, buf = (conn.down, conn.to_down) if down else (conn.up, conn.to_up)
        if sock is None or not buf:
            return
        try:
            sent = sock.send(buf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(conn)
            return
        del buf[:sent]

    def _update_interest(self, conn: _Conn) -> None:
        # Read from one side only while the other side's buffer has room: a paused node pushes back
        # on its senders instead of the proxy buffering without bound.
        self._set_interest(conn.down, conn, down=True,
                           read=len(conn.to_up) < _MAX_BUFFER_BYTES, write=bool(conn.to_down))
        if conn.up is not None:
            self._set_interest(conn.up, conn, down=False,
                               read=len(conn.to_down) < _MAX_BUFFER_BYTES, write=bool(conn.to_up))

    def _set_interest(self, sock: socket.socket, conn: _Conn, down: bool, read: bool, write: bool) -> None:
        events = (selectors.EVENT_READ if read else 0) | (selectors.EVENT_WRITE if write else 0)
        try:
            key = self._sel.get_key(sock)
        except KeyError:
            if events:
                self._sel.register(sock, events, self._handler(conn, down))
            return
        if not events:
            self._sel.unregister(sock)
        elif key.events != events:
            self._sel.modify(sock, events, key.data)

    def _drop(self, conn: _Conn) -> None:
        self._conns.discard(conn)
        for sock in (conn.down, conn.up):
            if sock is None:
                continue
            try:
                self._sel.unregister(sock)
            except (KeyError, ValueError):
                pass
            sock.close()


class Network:
    """The proxies of one cluster, one per receiving node, and the partitions made with them."""

    def __init__(self, proxies: Mapping[str, PeerProxy]) -> None:
        self.proxies = dict(proxies)

    @property
    def nodes(self) -> list[str]:
        return list(self.proxies)

    def add(self, proxy: PeerProxy) -> None:
        self.proxies[proxy.name] = proxy

    def name_node(self, node_id: int, name: str) -> None:
        """Every proxy names connections from node ``node_id`` ``name`` from now on."""
        for proxy in self.proxies.values():
            proxy.name_source(node_id, name)

    def cut(self, src: str, dst: str, mode: LinkMode) -> None:
        """Stop traffic from ``src`` to ``dst`` (one direction only)."""
        self.proxies[dst].set_mode(src, mode)

    def partition(self, components: Iterable[Iterable[str]], mode: LinkMode) -> None:
        """Cut every link between nodes of different components, both ways; links inside stay, and so do
        those of a node in no component (one that is not a member)."""
        side = {node: i for i, component in enumerate(components) for node in component}
        for src in self.proxies:
            for dst in self.proxies:
                if src in side and dst in side and side[src] != side[dst]:
                    self.cut(src, dst, mode)

    def heal(self) -> None:
        for proxy in self.proxies.values():
            proxy.heal()

    def close(self) -> None:
        for proxy in self.proxies.values():
            proxy.close()
