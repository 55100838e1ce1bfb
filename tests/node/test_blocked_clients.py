"""BlockedClients, in-process: parking, who is tried again when a key changes, timeouts, CLIENT UNBLOCK
and closed connections, also while an attempt is in flight."""
from __future__ import annotations

from raftkv.errors import RespError
from raftkv.kv.commands.blocking import WOULD_BLOCK
from raftkv.kv.table import TABLE
from raftkv.node.blocked import UNBLOCKED, BlockedClients
from raftkv.node.sequencer import Client, Pending
from raftkv.wire.values import NULL_ARRAY


class Harness:
    def __init__(self) -> None:
        self.answers: list[tuple[int, object]] = []
        self.proposed: list[int] = []
        self.blocked = BlockedClients(lambda p, v: self.answers.append((p.client.conn, v)),
                                      lambda batch: self.proposed.extend(p.client.conn for p in batch))

    def pending(self, conn: int, *argv: bytes) -> Pending:
        return Pending(Client(0, conn), 0, 2, list(argv), TABLE[argv[0].lower()], 10.0)


def test_the_first_client_parked_on_a_changed_key_is_tried_again_and_the_others_wait() -> None:
    h = Harness()
    a, b = h.pending(1, b"BLPOP", b"k", b"0"), h.pending(2, b"BLPOP", b"other", b"k", b"0")
    h.blocked.outcome(a, WOULD_BLOCK, now=0.0)
    h.blocked.outcome(b, WOULD_BLOCK, now=0.0)
    assert len(h.blocked) == 2 and h.answers == []
    h.blocked.changed({b"k", b"unrelated"})
    assert h.proposed == [1]
    h.blocked.outcome(a, [b"k", b"v"], now=0.1)  # served
    assert h.answers == [(1, [b"k", b"v"])] and len(h.blocked) == 1
    h.blocked.changed({b"other"})
    assert h.proposed == [1, 2]
    h.blocked.changed({b"other"})  # its attempt is out: not proposed twice
    assert h.proposed == [1, 2]
    h.blocked.outcome(b, WOULD_BLOCK, now=0.2)  # someone was faster: parked again, in its place
    assert len(h.blocked) == 1 and h.answers == [(1, [b"k", b"v"])]


def test_while_the_first_client_s_attempt_is_out_the_next_one_is_tried_too() -> None:
    """The change may have added several elements: the next client in line tries as well (in the log
    after the first one's attempt), and parks again if nothing is left for it."""
    h = Harness()
    a, b = h.pending(1, b"BLPOP", b"k", b"0"), h.pending(2, b"BLPOP", b"k", b"0")
    h.blocked.outcome(a, WOULD_BLOCK, now=0.0)
    h.blocked.outcome(b, WOULD_BLOCK, now=0.0)
    h.blocked.changed({b"k"})
    h.blocked.changed({b"k"})
    assert h.proposed == [1, 2]


def test_a_timeout_answers_null_but_waits_for_an_attempt_in_flight() -> None:
    h = Harness()
    a, b = h.pending(1, b"BLPOP", b"k", b"1.5"), h.pending(2, b"BZMPOP", b"0.5", b"1", b"z", b"MIN")
    h.blocked.outcome(a, WOULD_BLOCK, now=10.0)
    h.blocked.outcome(b, WOULD_BLOCK, now=10.0)
    h.blocked.changed({b"z"})
    h.blocked.expire(11.0)  # b's timeout passed, but its attempt is out
    assert h.answers == []
    h.blocked.outcome(b, [b"z", [[b"m", 1.0]]], now=11.0)  # it popped: that is its answer
    h.blocked.expire(11.6)
    assert h.answers == [(2, [b"z", [[b"m", 1.0]]]), (1, NULL_ARRAY)] and len(h.blocked) == 0


def test_client_unblock_and_closed_connections() -> None:
    h = Harness()
    a, b, c = (h.pending(i, b"BRPOP", b"k", b"0") for i in (1, 2, 3))
    for p in (a, b, c):
        h.blocked.outcome(p, WOULD_BLOCK, now=0.0)
    assert h.blocked.unblock(0, 1, error=False) == 1 and h.blocked.unblock(0, 1, error=False) == 0
    h.blocked.changed({b"k"})  # b is tried
    assert h.blocked.unblock(0, 2, error=True) == 1  # answered when its attempt comes back
    assert h.answers == [(1, NULL_ARRAY)]
    h.blocked.outcome(b, WOULD_BLOCK, now=0.1)
    assert h.answers == [(1, NULL_ARRAY), (2, UNBLOCKED)]
    c.client.closed = True
    h.blocked.expire(0.2)
    assert len(h.blocked) == 0 and len(h.answers) == 2  # nothing is sent to a closed connection


def test_an_attempt_answered_without_being_applied_ends_the_wait() -> None:
    h = Harness()
    a = h.pending(1, b"BLMOVE", b"s", b"d", b"LEFT", b"RIGHT", b"0")
    h.blocked.outcome(a, WOULD_BLOCK, now=0.0)
    h.blocked.changed({b"s"})
    h.blocked.failed(a)  # e.g. TRYAGAIN: the leader did not take it; the client has that answer
    assert len(h.blocked) == 0
    h.blocked.changed({b"s"})
    assert h.proposed == [1]


def test_after_a_routing_change_every_parked_client_tries_again_once() -> None:
    h = Harness()
    a, b = h.pending(1, b"BLPOP", b"k", b"0"), h.pending(2, b"BLPOP", b"k", b"0")
    h.blocked.outcome(a, WOULD_BLOCK, now=0.0)
    h.blocked.outcome(b, WOULD_BLOCK, now=0.0)
    h.blocked.rerouted()
    h.blocked.rerouted()  # their attempts are out: not proposed twice
    assert h.proposed == [1, 2]
    redirected = RespError("ASK 12539 127.0.0.1:7101")
    h.blocked.outcome(a, redirected, now=0.1)
    h.blocked.outcome(b, WOULD_BLOCK, now=0.1)  # still served here: parked again
    assert h.answers == [(1, redirected)] and len(h.blocked) == 1
