"""NodeClients, in-process: CLIENT LIST/KILL asked of every worker and answered once all have (or have
gone), and MONITOR turned on and off across workers."""
from __future__ import annotations

from raftkv.errors import RespError
from raftkv.node.clients import NodeClients
from raftkv.node.sequencer import Client, ReplyTo
from raftkv.wire import records
from raftkv.wire.resp import RequestParser


class Harness:
    def __init__(self, workers: int = 3) -> None:
        self.attached = set(range(workers))
        self.sent: dict[int, bytearray] = {w: bytearray() for w in range(workers)}
        self.replies: list[tuple[int, object]] = []
        self.clients = NodeClients(lambda w, frame: self.sent[w].extend(frame), lambda: self.attached,
                                   lambda to, value: self.replies.append((to.seq, value)), workers)

    def requests(self, worker: int) -> list[list[bytes]]:
        """The node requests sent to ``worker`` since the last call."""
        out = []
        for conn, _seq, payload in records.ReplyReader().feed(bytes(self.sent[worker])):
            assert conn == records.CONTROL
            parser = RequestParser()
            parser.feed(payload)
            out += parser.pop_commands()
        self.sent[worker].clear()
        return out


def _to(worker: int, conn: int, seq: int = 0) -> ReplyTo:
    return ReplyTo(Client(worker, conn), seq, 2)


def test_list_joins_every_workers_lines_in_id_order_once_all_answered() -> None:
    h = Harness()
    h.clients.command(_to(0, 1, seq=4), [b"CLIENT", b"LIST", b"TYPE", b"normal"])
    asked = [h.requests(w) for w in range(3)]
    token = asked[0][0][1]
    assert all(a == [[b"list", token, b"TYPE", b"normal"]] for a in asked)
    h.clients.on_record(1, [records.ANSWER, token, b"id=7 addr=x\nid=1 addr=y\n"])
    h.clients.on_record(0, [records.ANSWER, token, b"id=3 addr=z\n"])
    assert h.replies == []
    h.attached.discard(2)
    h.clients.worker_gone(2)  # it died before answering: not waited for
    assert h.replies == [(4, b"id=1 addr=y\nid=3 addr=z\nid=7 addr=x\n")]


def test_kill_counts_the_killed_and_names_the_caller() -> None:
    h = Harness(workers=2)
    h.clients.command(_to(1, 5, seq=9), [b"CLIENT", b"KILL", b"ID", b"4"])
    [[kind, token, caller, seq, *args]] = h.requests(0)
    assert (kind, caller, seq, args) == (b"kill", b"%d" % records.client_id(5, 1, 2), b"9", [b"ID", b"4"])
    for w in (0, 1):
        h.clients.on_record(w, [records.ANSWER, token, b"1" if w == 0 else b"0"])
    assert h.replies == [(9, 1)]
    h.clients.command(_to(1, 5, seq=10), [b"CLIENT", b"KILL", b"1.2.3.4:5"])  # the old form
    token = h.requests(0)[0][1]
    for w in (0, 1):
        h.clients.on_record(w, [records.ANSWER, token, b"0"])
    assert h.replies[-1] == (10, RespError("ERR No such client"))


def test_monitor_feeds_every_worker_until_the_last_monitor_closes() -> None:
    h = Harness()
    h.clients.command(_to(2, 8, seq=1), [b"MONITOR"])
    token = h.requests(0)[0][1]
    assert all(h.requests(w) == [[b"monitor", token, b"on"]] for w in (1, 2))
    for w in range(3):
        h.clients.on_record(w, [records.ANSWER, token, b""])
    assert h.replies == [(1, "OK")]
    h.clients.on_record(0, [records.MONITOR_LINE, b"1.0 [0 a:1] \"PING\""])
    assert h.requests(2) == [[b"lines", b"1.0 [0 a:1] \"PING\""]] and h.requests(0) == []
    h.clients.worker_attached(1)  # a restarted worker is told at once
    assert h.requests(1) == [[b"monitor", b"", b"on"]]
    h.clients.on_record(2, [records.UNMONITORED, b"8"])
    assert all(h.requests(w) == [[b"monitor", b"", b"off"]] for w in range(3))
    h.clients.on_record(0, [records.MONITOR_LINE, b"late"])  # fed before the worker heard: dropped
    assert all(h.requests(w) == [] for w in range(3))
