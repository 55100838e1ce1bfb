"""The harness itself: leftovers of a killed run are removed, and the forwarder delays what it relays."""
from __future__ import annotations

import socket
import subprocess
import time

import pytest

from tests.integration.conftest import wait_for
from tests.netns.conftest import Forwarder, shaping
from tests.netns.net import PREFIX, Net, inside, ip, namespace_pids, remove_stale

pytestmark = pytest.mark.netns


def test_namespaces_of_a_killed_run_are_removed_with_what_runs_in_them() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait(10)  # a run whose pid no longer exists
    stale = f"{PREFIX}-{gone.pid}-0-n0"
    ip("netns", "add", stale)
    leftover = subprocess.Popen(["ip", "netns", "exec", stale, "sleep", "60"])
    try:
        wait_for(lambda: namespace_pids(stale) == [leftover.pid], 10.0, "the leftover to enter its namespace")
        assert stale in remove_stale()
        assert leftover.wait(10) == -9
        assert stale not in ip("netns", "list").stdout
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait(10)
        ip("netns", "delete", stale, check=False)


@pytest.mark.parametrize("flags,at_least_s", [
    (shaping(delay_ms=30, jitter_ms=10), 0.020),
    (shaping(loss=1.0) + ("--rto-ms", "100"), 0.100),  # every chunk "lost": held one RTO
])
def test_the_forwarder_delays_each_chunk_at_least_as_asked(flags: tuple[str, ...], at_least_s: float) -> None:
    net = Net()
    forwarder = None
    try:
        host = net.add_host("h")
        with inside(host.netns):
            server = socket.create_server((host.ip, 5001))
        forwarder = Forwarder(host.netns, f"{host.ip}:5000", f"{host.ip}:5001", flags)
        forwarder.start()
        with server:
            with inside(host.netns):
                client = socket.create_connection((host.ip, 5000), timeout=10)
            server.settimeout(10)
            accepted, _ = server.accept()
        with client, accepted:
            accepted.settimeout(10)
            for _ in range(3):
                sent = time.monotonic()
                client.sendall(b"ping")
                assert accepted.recv(16) == b"ping"
                assert time.monotonic() - sent >= at_least_s
    finally:
        if forwarder is not None:
            forwarder.stop()
        net.close()
