"""The HTTP endpoint of the Raft process: ``/metrics`` (Prometheus text), ``/health`` and ``/readyz``.

Serves from daemon threads and only from the immutable report the loop publishes once per tick
(:meth:`MetricsEndpoint.publish`, one reference swap): a scrape never waits for the loop, and the loop
never waits for a scrape.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from raftkv.node.info import NodeReport
from raftkv.node.metrics.collector import ReportCollector
from raftkv.process import bind_listener

log = logging.getLogger("raftkv.node.metrics")

_POLL_S = 0.1  # how soon close() stops the serving thread


def readiness_problem(report: NodeReport | None) -> str | None:
    """Why this node should not get client traffic, or None: with no leader, or out of the cluster,
    commands fail (PING alone still answers)."""
    if report is None:
        return "starting"
    if report.membership in ("removed", "joining"):
        return report.membership
    if not report.leader_id:
        return "no leader"
    return None


def liveness_problem(published_at: float | None, now: float, stale_after_s: float) -> str | None:
    """Why the Raft loop looks stuck, or None: it publishes every tick, so a report older than
    ``stale_after_s`` means it has not come round for that long."""
    if published_at is None:
        return "no report yet"
    if now - published_at > stale_after_s:
        return f"no report for {now - published_at:.1f}s"
    return None


class MetricsEndpoint:
    def __init__(self, host: str, port: int, stale_after_s: float) -> None:
        """Bind ``host:port`` (a :class:`~raftkv.process.StartError` if it cannot) and start serving."""
        listener = bind_listener(host, port, "serve metrics")
        self._stale_after_s = stale_after_s
        self._published: tuple[float, NodeReport] | None = None
        self.registry = CollectorRegistry(auto_describe=False)  # ours alone: not the process-wide default
        self.registry.register(ReportCollector(self.report))
        self._server = _Server(listener, self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(_POLL_S,),
                                        name="metrics", daemon=True)
        self._thread.start()
        log.info("serving /metrics, /health and /readyz on http://%s:%d", *self.address)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.socket.getsockname()[:2]
        return host, port

    def publish(self, report: NodeReport) -> None:
        """Called by the loop: one assignment, atomic for the serving threads."""
        self._published = (time.monotonic(), report)

    def report(self) -> NodeReport | None:
        published = self._published
        return published[1] if published is not None else None

    def answer(self, path: str) -> tuple[int, str, bytes]:
        """Status, content type and body for a GET of ``path``."""
        published = self._published
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        if path == "/health":
            problem = liveness_problem(published[0] if published else None, time.monotonic(),
                                       self._stale_after_s)
        elif path == "/readyz":
            problem = readiness_problem(published[1] if published else None)
        else:
            return 404, "text/plain", b"not found: try /metrics, /health or /readyz\n"
        return (503 if problem else 200), "text/plain", f"{problem or 'ok'}\n".encode()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, listener: socket.socket, endpoint: MetricsEndpoint) -> None:
        super().__init__(listener.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()  # the one made by the base class: ours is bound already, with bind_listener's errors
        self.socket = listener
        self.endpoint = endpoint


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a client that stalls mid-request ties up only its own thread, and not for long

    def do_GET(self) -> None:
        status, content_type, body = self.server.endpoint.answer(urlsplit(self.path).path)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)
