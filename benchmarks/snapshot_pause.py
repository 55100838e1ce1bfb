"""How long a snapshot stalls a node that holds many keys (not a test).

Starts one raftkv node on a free 127.0.0.1 port with ``--snapshot-entries`` just above the number of keys
to load, loads all but the last thousand with ``redis-cli --pipe``, then writes those one by one while a
probe thread times a GET every millisecond, so the snapshot starts on an otherwise idle node. It prints the
probe's latency percentiles away from the
snapshot and its worst latency while the snapshot is being written: the pause clients feel (the fork()
of the Raft process; the child writes the file while the parent keeps serving).

    .venv/bin/python benchmarks/snapshot_pause.py --keys 1000000
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--value-bytes", type=int, default=16)
    args = parser.parse_args()
    if shutil.which("redis-cli") is None:
        print("snapshot_pause: redis-cli is missing: apt-get install redis-tools", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="raftkv-snapshot-pause-"))
    port, peer_port = free_port(), free_port()
    log_path = workdir / "node.log"
    # The load's own entries, plus the leader's no-op, reach the threshold right at the end.
    server = subprocess.Popen(
        [sys.executable, "-m", "raftkv.server_cli", "--port", str(port), "--peer-port", str(peer_port),
         "--data-dir", str(workdir / "data"), "--workers", "2", "--snapshot-entries", str(args.keys)],
        stdout=subprocess.DEVNULL, stderr=open(log_path, "wb"), start_new_session=True)
    try:
        client = redis.Redis(port=port, socket_timeout=10)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.get("probe")
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        samples: list[tuple[float, float]] = []  # (start time, latency s)
        stop = threading.Event()

        def probe() -> None:
            c = redis.Redis(port=port, socket_timeout=30)
            while not stop.is_set():
                started = time.monotonic()
                c.get("probe")
                samples.append((started, time.monotonic() - started))
                time.sleep(0.001)

        value = "v" * args.value_bytes
        bulk = args.keys - 1000  # the last thousand are written one by one, with the probe running
        load = "".join(f"SET key:{i} {value}\r\n" for i in range(bulk))
        load_started = time.monotonic()
        subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=load.encode(), check=True,
                       stdout=subprocess.DEVNULL, timeout=3600)
        print(f"loaded {bulk:,} keys in {time.monotonic() - load_started:.1f}s")
        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        time.sleep(2)  # the probe's baseline on an idle node
        for i in range(bulk, args.keys + 10):
            client.set(f"key:{i}", value)  # crosses --snapshot-entries: the snapshot starts
        written = None
        deadline = time.monotonic() + 600
        while written is None and time.monotonic() < deadline:
            written = re.search(r"snapshot at index \d+ written in ([\d.]+)s \((\d+) bytes\)", log_path.read_text())
            time.sleep(0.2)
        time.sleep(1)
        stop.set()
        thread.join(60)
        if written is None:
            print("snapshot_pause: no snapshot was written; see", log_path, file=sys.stderr)
            return 1
        text = log_path.read_text()
        print(f"snapshot written in {written.group(1)}s, {int(written.group(2)):,} bytes")
        started = _when(text, "writing a snapshot")
        ended = _when(text, "written in")
        during = [lat for t, lat in samples if started - 0.05 <= _wall(t) <= ended]
        outside = sorted(lat for t, lat in samples if not started - 1 <= _wall(t) <= ended + 1)
        p = lambda q: outside[int(q * (len(outside) - 1))] * 1000  # noqa: E731
        print(f"GET probe away from the snapshot: p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, "
              f"max {outside[-1] * 1000:.2f} ms ({len(outside)} samples)")
        print(f"GET probe while it was written: max {max(during) * 1000:.2f} ms ({len(during)} samples)")
        return 0
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(server.pid, signal.SIGKILL)  # whatever is left of the node's own process group
        except ProcessLookupError:
            pass
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


_OFFSET = time.time() - time.monotonic()


def _wall(monotonic_s: float) -> float:
    return monotonic_s + _OFFSET


def _when(log: str, marker: str) -> float:
    """The wall-clock time of the first log line containing ``marker``."""
    for line in log.splitlines():
        if marker in line:
            stamp = time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
            return time.mktime(stamp) + int(line[20:23]) / 1000
    raise ValueError(f"no log line with {marker!r}")


if __name__ == "__main__":
    sys.exit(main())
