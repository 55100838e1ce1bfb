"""What waits in the Raft process for the core: read rounds asked again while unanswered, and the answers
given when they time out or when the leader hands forwarded writes back."""
from __future__ import annotations

from raftkv.errors import RespError
from raftkv.kv.table import TABLE
from raftkv.node.inflight import InFlight
from raftkv.node.sequencer import Client, Pending
from raftkv.raft.types import Entry, EntryKind, ReadState
from raftkv.wire import proposal

ME = 1
REASK_S = 0.2


class FakeNode:
    """The two RawNode calls InFlight makes: a follower that knows its leader forwards everything."""

    def __init__(self) -> None:
        self.asked: list[bytes] = []
        self.proposed: list[bytes] = []

    def read_index(self, context: bytes) -> None:
        self.asked.append(context)

    def propose(self, datas: list[bytes]) -> bool:
        self.proposed += datas
        return True


class Setup:
    def __init__(self) -> None:
        self.answers: list[tuple[int, object]] = []
        self._rid = 0
        self.inflight = InFlight(ME, self._new_rid, lambda p, v: self.answers.append((p.seq, v)), 5.0, REASK_S)
        self.node = FakeNode()
        self.client = Client(0, 1)

    def _new_rid(self) -> int:
        self._rid += 1
        return self._rid

    def pending(self, seq: int, *argv: bytes, deadline: float = 2.0) -> Pending:
        return Pending(self.client, seq, 2, list(argv), TABLE[argv[0].lower()], deadline)


def errors(answers: list[tuple[int, object]]) -> list[tuple[int, str]]:
    return [(seq, str(v)) for seq, v in answers if isinstance(v, RespError)]


def test_an_unanswered_read_round_is_asked_again_every_reask_interval() -> None:
    s = Setup()
    s.inflight.read(s.node, [s.pending(1, b"GET", b"k")], now=0.0)
    s.inflight.reask_reads(s.node, 0.1)
    assert s.node.asked == [b"0"]  # not yet: a healthy round trip takes far less
    s.inflight.reask_reads(s.node, 0.2)
    s.inflight.reask_reads(s.node, 0.3)
    s.inflight.reask_reads(s.node, 0.4)
    assert s.node.asked == [b"0", b"0", b"0"]
    s.inflight.read_states([ReadState(5, b"0"), ReadState(5, b"0")])  # both asks answered: served once
    s.inflight.reask_reads(s.node, 1.0)
    assert s.node.asked == [b"0", b"0", b"0"]
    assert [p.seq for p in s.inflight.reads_ready(5)] == [1]


def test_a_new_leader_is_asked_for_every_round_at_once() -> None:
    s = Setup()
    s.inflight.read(s.node, [s.pending(1, b"GET", b"a")], now=0.0)
    s.inflight.read(s.node, [s.pending(2, b"GET", b"b")], now=0.15)
    s.inflight.reask_reads(s.node, 0.16, every=True)
    assert s.node.asked == [b"0", b"1", b"0", b"1"]


def test_a_read_not_confirmed_in_time_says_so_unless_there_is_no_leader() -> None:
    s = Setup()
    s.inflight.read(s.node, [s.pending(1, b"GET", b"a", deadline=2.0)], now=0.0)
    s.inflight.read(s.node, [s.pending(2, b"GET", b"b", deadline=3.0)], now=1.0)
    s.inflight.expire(2.0, leader_known=True)
    s.inflight.expire(3.0, leader_known=False)
    assert errors(s.answers) == [(1, "TRYAGAIN the read could not be confirmed by the leader in time"),
                                 (2, "CLUSTERDOWN no leader")]


def test_a_forwarded_write_the_leader_hands_back_is_answered_at_once_and_only_once() -> None:
    s = Setup()
    w1, w2 = s.pending(1, b"SET", b"a", b"1"), s.pending(2, b"SET", b"b", b"2")
    s.client.writes_out = 2
    s.inflight.propose(s.node, [w1, w2], 0.0, 1_000)
    # The leader appended w1 but not w2 (it dropped only part); another node's entry and a conf
    # change with our head are not ours to answer.
    theirs = proposal.encode(2, w1.request_id, 1_000, [b"SET", b"x", b"y"])
    conf = Entry(0, 0, EntryKind.CONF_CHANGE, proposal.encode_context(ME, w1.request_id, None))
    s.inflight.dropped([Entry(0, 0, EntryKind.NORMAL, w2.payload), Entry(0, 0, EntryKind.NORMAL, theirs), conf])
    assert [(seq, str(v)) for seq, v in s.answers] == [
        (2, "TRYAGAIN the leader did not take the write (leadership is moving or the leader is overloaded); "
            "it was not applied")]
    assert list(s.inflight.waiters) == [w1.request_id]
    s.inflight.dropped([Entry(0, 0, EntryKind.NORMAL, w2.payload)])  # a duplicate answer: nothing more
    s.inflight.expire(10.0, leader_known=True)  # w1's commit timeout; w2 is not answered again
    assert [seq for seq, _v in s.answers] == [2, 1]
