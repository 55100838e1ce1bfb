"""Log replication: Raft §5.3 (log matching, fast backup over conflicting terms), §5.4.2 (figure 8:
commit only current-term entries by counting), stale leaders, pipelining and heartbeat commit."""
from __future__ import annotations

from raftkv.raft.types import Message, MessageType, Role
from tests.raft.network import Network


def committed_data(net: Network, node_id: int) -> list[bytes]:
    return net.applied_data(node_id)


def test_5_3_entries_replicate_and_commit_on_a_majority() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    assert net.nodes[1].propose([b"a", b"b"])
    net.stabilize()
    assert committed_data(net, 1) == [b"a", b"b"]
    assert committed_data(net, 2) == [b"a", b"b"]
    assert committed_data(net, 3) == []
    net.heal()
    net.tick_all(1)
    assert committed_data(net, 3) == [b"a", b"b"]
    assert net.log(1) == net.log(2) == net.log(3)


def test_5_3_follower_forwards_proposals_to_the_leader() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    assert net.nodes[3].propose([b"x", b"y"])
    net.stabilize()
    assert all(committed_data(net, n) == [b"x", b"y"] for n in (1, 2, 3))
    assert net.delivered[(MessageType.PROPOSE, 3, 1)] == 1  # one batch, one message


def build_conflicting_tail(tail: int) -> Network:
    """Node 2 led term 1 alone and appended ``tail`` entries nobody else has; meanwhile 1 led term 2 and
    3 leads term 3, both adding different entries. Node 3's probe for 2 starts at its own last index."""
    net = Network([1, 2, 3], pre_vote=False, check_quorum=False)
    net.elect(2)
    net.isolate(2)
    net.nodes[2].propose([b"stale%d" % i for i in range(tail)])
    net.stabilize()
    net.elect(1)
    net.nodes[1].propose([b"new%d" % i for i in range(tail + 5)])
    net.stabilize()
    net.elect(3)
    net.nodes[3].propose([b"newer%d" % i for i in range(5)])
    net.stabilize()
    assert net.role(2) == Role.LEADER and net.term(2) == 1
    assert net.status(3).progress[2].next > tail + 1  # past the end of 2's log
    return net


def test_5_3_long_conflicting_tail_is_repaired_in_few_round_trips() -> None:
    net = build_conflicting_tail(tail=300)
    net.heal()
    rejections: list[Message] = []
    appends_with_entries: list[Message] = []

    def watch(m: Message) -> bool:
        if m.type == MessageType.APPEND_RESP and m.reject:
            rejections.append(m)
        if m.type == MessageType.APPEND and m.dst == 2 and m.entries:
            appends_with_entries.append(m)
        return True

    net.filter = watch
    net.tick_all(2)
    assert net.role(2) == Role.FOLLOWER
    assert net.log(2) == net.log(3)
    assert committed_data(net, 2) == committed_data(net, 3)
    # Two round trips: the first probe is rejected with a hint that skips the follower's whole term-1
    # tail (and lets the leader skip its own newer terms); the second probe matches at index 1 and its
    # single batch replaces all 300 conflicting entries.
    assert len(rejections) == 1
    assert len(appends_with_entries) == 2


def restart_and_win(net: Network, node_id: int) -> None:
    """Crash and restart ``node_id``, then campaign until it leads (a first attempt may only teach it
    the current term)."""
    net.start(node_id)
    for _ in range(5):
        net.nodes[node_id].campaign()
        net.stabilize()
        if net.role(node_id) == Role.LEADER:
            return
    raise AssertionError(f"{node_id} did not win: {net.status(node_id)}")


def figure8_cluster() -> Network:
    """Raft figure 8 (a)-(c) with five nodes, one entry per APPEND so replication can be cut mid-log.

    (a) 1 leads term 1 and replicates index 2 ("x") to 2 only.
    (b) 5 wins term 2 with votes from 3 and 4 and appends index 2 of term 2, which reaches nobody.
    (c) 1 restarts and wins term 3 with votes from 2 and 3, and replicates "x" (term 1) to 3; its own term-3 no-op at
        index 3 reaches nobody. "x" is now stored on a majority (1, 2, 3)."""
    net = Network([1, 2, 3, 4, 5], pre_vote=False, check_quorum=False, max_append_bytes=1)
    net.elect(1)
    for other in (3, 4, 5):
        net.cut |= {(1, other), (other, 1), (2, other), (other, 2)}
    net.nodes[1].propose([b"x"])
    net.stabilize()
    assert net.status(1).commit == 1 and net.log(2)[-1] == (2, 1, b"x")

    net.filter = lambda m: not (m.src == 5 and m.type == MessageType.APPEND)
    net.elect(5)
    assert net.term(5) == 2 and net.log(5)[-1][:2] == (2, 2)

    net.heal()
    net.isolate(4)
    net.isolate(5)

    def strip_term_3(m: Message) -> bool:
        if m.type == MessageType.APPEND:
            m.entries = [e for e in m.entries if e.term != 3]
        return True

    net.filter = strip_term_3
    restart_and_win(net, 1)
    assert net.term(1) == 3
    assert [net.log(n)[1][:2] for n in (1, 2, 3)] == [(2, 1)] * 3
    return net


def test_5_4_2_figure8_entry_of_older_term_is_not_committed_by_counting() -> None:
    net = figure8_cluster()
    assert net.status(1).progress[3].match == 2
    assert net.status(1).commit == 1  # on a majority, but of term 1: not committed (§5.4.2)
    # (d) Were it counted as committed, this would lose it: 5 wins term 4 and overwrites index 2.
    net.heal()
    net.isolate(1)
    net.filter = None
    restart_and_win(net, 5)
    assert net.term(5) == 4
    net.nodes[5].propose([b"y"])
    net.stabilize()
    for n in (2, 3, 4, 5):
        assert net.log(n)[1][:2] == (2, 2)
        assert b"x" not in committed_data(net, n)
        assert committed_data(net, n) == [b"y"]


def test_5_4_2_figure8_entry_of_current_term_commits_everything_before_it() -> None:
    net = figure8_cluster()
    # (e) Once the term-3 entry reaches a majority, it and "x" before it are committed.
    net.filter = None
    net.tick_all(1)
    assert net.status(1).commit == 3
    assert committed_data(net, 1) == [b"x"]
    # 5 can no longer win: a majority holds a log more up-to-date than its (2, term 2).
    net.heal()
    net.isolate(1)
    net.start(5)
    for _ in range(5):
        net.nodes[5].campaign()
        net.stabilize()
    assert net.role(5) != Role.LEADER


def test_stale_leader_in_a_minority_cannot_commit() -> None:
    net = Network([1, 2, 3, 4, 5], check_quorum=False)
    net.elect(1)
    minority, majority = (1, 2), (3, 4, 5)
    for a in minority:
        for b in majority:
            net.cut |= {(a, b), (b, a)}
    assert net.nodes[1].propose([b"lost"])
    net.stabilize()
    assert net.status(1).commit == 1 and committed_data(net, 1) == []
    net.elect(3)
    net.nodes[3].propose([b"kept"])
    net.stabilize()
    assert net.role(1) == Role.LEADER  # still believes it leads, yet commits nothing
    assert net.status(1).commit == 1
    net.heal()
    net.tick_all(2)
    assert net.role(1) == Role.FOLLOWER and net.leaders() == [3]
    for n in net.nodes:
        assert committed_data(net, n) == [b"kept"]
        assert net.log(n) == net.log(3)


def test_stale_leader_learns_the_new_term_from_a_low_term_reply() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(1)
    for _ in range(30):
        for n in (2, 3):
            net.tick(n)
        net.stabilize()
    assert len(net.leaders()) == 2 and net.term(1) == 1
    net.heal()
    net.tick(1)  # its heartbeat reaches followers of term 2, whose answer deposes it
    net.stabilize()
    assert net.role(1) == Role.FOLLOWER and net.term(1) > 1


def test_heartbeat_commit_never_runs_past_a_followers_match() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    net.isolate(3)
    net.nodes[1].propose([b"a"])
    net.stabilize()
    net.heal()
    beats = []
    net.filter = lambda m: not (m.type == MessageType.HEARTBEAT and m.dst == 3 and not beats.append(m))
    net.tick(1)
    net.stabilize()
    assert beats and all(m.commit <= 1 for m in beats)


def test_replication_is_pipelined_up_to_max_inflight() -> None:
    net = Network([1, 2], max_inflight_msgs=4, max_append_bytes=1)
    net.elect(1)
    net.stabilize()
    net.filter = lambda m: m.type != MessageType.APPEND_RESP
    net.delivered.clear()
    net.nodes[1].propose([b"%d" % i for i in range(10)])
    net.stabilize()
    # No acknowledgements arrive, yet 4 appends went out back to back (one entry each).
    assert net.delivered[(MessageType.APPEND, 1, 2)] == 4
    net.heal()
    net.tick_all(3)
    assert committed_data(net, 2) == [b"%d" % i for i in range(10)]


def test_unreachable_follower_drops_from_pipelining_to_probing() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    assert net.status(1).progress[2].state == "replicate"
    net.nodes[1].report_unreachable(2)
    assert net.status(1).progress[2].state == "probe"
    net.nodes[1].propose([b"a"])
    net.stabilize()
    assert net.status(1).progress[2].state == "replicate"
    assert net.applied_data(2) == [b"a"]


def test_a_follower_answers_the_appends_it_stepped_before_its_ready_with_one_response() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    for batch in (b"a", b"b", b"c"):  # three appends per follower, none handled before the next
        assert net.nodes[1].propose([batch])
        net.process(1)
    appends = [m for m in net.queue if m.type == MessageType.APPEND and m.dst == 2]
    assert len(appends) == 3
    net.queue = [m for m in net.queue if m.dst != 2]
    for m in appends:
        net.nodes[2].step(m)
    net.process(2)
    responses = [m for m in net.queue if m.type == MessageType.APPEND_RESP and m.src == 2]
    assert [(m.dst, m.index, m.reject) for m in responses] == [(1, appends[-1].index + 1, False)]
    net.stabilize()
    assert committed_data(net, 1) == committed_data(net, 2) == committed_data(net, 3) == [b"a", b"b", b"c"]


def test_a_rejection_is_never_folded_into_an_acceptance() -> None:
    net = Network([1, 2, 3])
    net.elect(1)
    raft = net.nodes[2]._raft
    term = net.term(2)
    raft.step(Message(MessageType.APPEND, 1, 2, term, index=50, log_term=term))  # a gap: rejected
    raft.step(Message(MessageType.APPEND, 1, 2, term, index=1, log_term=1))  # a match: accepted
    raft.step(Message(MessageType.APPEND, 1, 2, term, index=60, log_term=term))  # rejected again
    kinds = [(m.type, m.reject) for m in raft.messages]
    assert kinds == [(MessageType.APPEND_RESP, True), (MessageType.APPEND_RESP, False),
                     (MessageType.APPEND_RESP, True)]
