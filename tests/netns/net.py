"""A private network of Linux network namespaces for one test: one host per namespace, one bridge.

Layout (``P`` = this test run's pid, ``S`` = a sequence number within the run):

- ``rkvnet-P-S-br``: the bridge ``br0`` and, for each host, the bridge end ``p<i>`` of its veth pair;
- ``rkvnet-P-S-<host>``: ``lo`` and ``eth0``, the host's end, with one address of ``10.231.X.0/24``.

Nothing is created in the namespace the tests run in: veth pairs are created directly inside their
namespaces, and no namespace has a route out of the /24, so nothing here touches the machine's network.
Faults are link state (a bridge port down cuts a host off, clients too) and blackhole routes (a
partition between hosts: each side discards what it would send to the other; new connections fail and
open ones stall, while clients in their own namespace still reach every host).

:func:`inside` moves the calling thread (only it) into a namespace, so the test process can open client
sockets there: a socket stays in the namespace it was created in.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import count

PREFIX = "rkvnet"
_CLONE_NEWNET = 0x40000000
_IP_TIMEOUT_S = 10.0
_libc = ctypes.CDLL(None, use_errno=True)
_sequence = count()


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip`` (inside ``netns`` when given); raise with its stderr when it fails and ``check``."""
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=_IP_TIMEOUT_S)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    return done


def netns_unavailable() -> str | None:
    """Why these tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    try:
        ip("netns", "list")
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        return f"`ip netns` is unavailable: {exc}"
    return None


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def enter(netns: str) -> None:
    """Move the calling thread into ``netns`` for the rest of its life."""
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        _setns(fd)
    finally:
        os.close(fd)


@contextmanager
def inside(netns: str) -> Iterator[None]:
    """Run the block with the calling thread in ``netns``, then move it back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        enter(netns)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(home)


def namespace_pids(netns: str) -> list[int]:
    done = ip("netns", "pids", netns, check=False)
    return [int(p) for p in done.stdout.split()]


def _delete_namespace(netns: str) -> None:
    """Kill what still runs in ``netns`` (only processes of these tests ever run there), then delete it
    (which deletes its links)."""
    for pid in namespace_pids(netns):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    ip("netns", "delete", netns, check=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> list[str]:
    """Delete the namespaces a run of these tests left behind when it was killed: those whose run pid is
    gone, or is ours (a pid reused by this run, before it made any). Runs alive in parallel keep theirs."""
    removed = []
    for line in ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        parts = name.split("-")
        if len(parts) < 4 or parts[0] != PREFIX or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid() or not _pid_alive(pid):
            _delete_namespace(name)
            removed.append(name)
    return removed


@dataclass
class Host:
    """One namespace with one address on the bridge."""

    name: str
    netns: str
    ip: str
    port: str  # its veth's end on the bridge
    alias: str | None = None  # a second address, for what listens apart from the host's own


@dataclass
class Net:
    """The namespaces of one test. :meth:`close` deletes all of them, whatever state they are in."""

    prefix: str = field(default_factory=lambda: f"{PREFIX}-{os.getpid()}-{next(_sequence)}")
    subnet: str = field(default_factory=lambda: f"10.231.{os.getpid() % 256}")
    hosts: dict[str, Host] = field(default_factory=dict)
    _namespaces: list[str] = field(default_factory=list)
    _blackholes: list[tuple[Host, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        try:
            self.bridge_ns = self._namespace("br")
            ip("link", "add", "br0", "type", "bridge", netns=self.bridge_ns)
            ip("link", "set", "br0", "up", netns=self.bridge_ns)
        except BaseException:
            self.close()  # no one holds this Net yet to close it
            raise

    def _namespace(self, role: str) -> str:
        name = f"{self.prefix}-{role}"
        ip("netns", "add", name)
        self._namespaces.append(name)
        ip("link", "set", "lo", "up", netns=name)
        return name

    def add_host(self, name: str, alias: bool = False) -> Host:
        """A new namespace on the bridge with the next address .11, .12, ... (and, with ``alias``, a
        second one 100 above it)."""
        index = len(self.hosts) + 1
        host = Host(name, self._namespace(name), f"{self.subnet}.{10 + index}", f"p{index}",
                    f"{self.subnet}.{110 + index}" if alias else None)
        ip("link", "add", "eth0", "netns", host.netns, "type", "veth", "peer", "name", host.port,
           "netns", self.bridge_ns)
        ip("link", "set", host.port, "master", "br0", "up", netns=self.bridge_ns)
        for address in (host.ip, host.alias) if alias else (host.ip,):
            ip("addr", "add", f"{address}/24", "dev", "eth0", netns=host.netns)
        ip("link", "set", "eth0", "up", netns=host.netns)
        self.hosts[name] = host
        return host

    def set_link(self, host: Host, up: bool) -> None:
        """Bring the host's bridge port down (it is cut off from everyone) or back up."""
        ip("link", "set", host.port, "up" if up else "down", netns=self.bridge_ns)

    def split(self, *groups: list[Host]) -> None:
        """Partition: no host reaches a host of another group (clients' namespaces are not in any)."""
        for group in groups:
            for other in groups:
                if other is group:
                    continue
                for host in group:
                    for target in other:
                        ip("route", "add", "blackhole", f"{target.ip}/32", netns=host.netns)
                        self._blackholes.append((host, target.ip))

    def heal(self) -> None:
        """Every link up, every partition gone."""
        for host, target in self._blackholes:
            ip("route", "del", "blackhole", f"{target}/32", netns=host.netns)
        self._blackholes.clear()
        for host in self.hosts.values():
            self.set_link(host, True)

    def close(self) -> None:
        for name in reversed(self._namespaces):
            _delete_namespace(name)
        self._namespaces.clear()
