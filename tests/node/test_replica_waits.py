"""ReplicaWaits: WAIT answers once enough other voters hold the writes, or at its timeout."""
from __future__ import annotations

from raftkv.errors import RespError
from raftkv.node.replica_waits import ReplicaWaits
from raftkv.node.sequencer import Client, ReplyTo
from raftkv.raft.types import PeerProgress, Role, Status

VOTERS = (1, 2, 3)


def leader(commit: int, matches: dict[int, int], role: Role = Role.LEADER) -> Status:
    progress = {node_id: PeerProgress(match, match + 1, "replicate", False) for node_id, match in matches.items()}
    return Status(1, 2, 1, role, 1, commit, commit, commit, progress)


def waits() -> tuple[ReplicaWaits, list[tuple[ReplyTo, object]]]:
    replies: list[tuple[ReplyTo, object]] = []
    return ReplicaWaits(lambda to, value: replies.append((to, value))), replies


def test_enough_replicas_answer_at_once() -> None:
    w, replies = waits()
    to = ReplyTo(Client(0, 1), 1, 2)
    assert w.start(to, [b"WAIT", b"2", b"0"], leader(5, {1: 5, 2: 5, 3: 5}), VOTERS, 0.0) == 2
    assert w.start(to, [b"WAIT", b"0", b"0"], leader(5, {1: 5, 2: 4, 3: 4}), VOTERS, 0.0) == 0
    assert not len(w) and not replies


def test_a_wait_is_answered_when_the_last_follower_catches_up_to_the_commit_it_started_at() -> None:
    w, replies = waits()
    to = ReplyTo(Client(0, 1), 1, 2)
    assert w.start(to, [b"WAIT", b"2", b"1000"], leader(5, {1: 5, 2: 5, 3: 4}), VOTERS, 0.0) is None
    w.check(leader(6, {1: 6, 2: 6, 3: 4}), VOTERS, 0.5)  # a later commit does not move what it waits for
    assert not replies and len(w) == 1
    w.check(leader(6, {1: 6, 2: 6, 3: 5}), VOTERS, 0.6)
    assert replies == [(to, 2)] and not len(w)


def test_a_wait_times_out_with_the_count_it_has() -> None:
    w, replies = waits()
    to = ReplyTo(Client(0, 1), 1, 2)
    assert w.start(to, [b"WAIT", b"2", b"100"], leader(5, {1: 5, 2: 5, 3: 4}), VOTERS, 10.0) is None
    w.check(leader(5, {1: 5, 2: 5, 3: 4}), VOTERS, 10.05)
    assert not replies
    w.check(leader(5, {1: 5, 2: 5, 3: 4}), VOTERS, 10.1)
    assert replies == [(to, 1)]


def test_a_timeout_of_zero_waits_until_the_replicas_are_there_and_learners_do_not_count() -> None:
    w, replies = waits()
    to = ReplyTo(Client(0, 1), 1, 2)
    assert w.start(to, [b"WAIT", b"3", b"0"], leader(5, {1: 5, 2: 5, 3: 5, 4: 5}), VOTERS, 0.0) is None
    w.check(leader(5, {1: 5, 2: 5, 3: 5, 4: 5}), VOTERS, 1e6)
    assert not replies
    w.check(leader(5, {1: 5, 2: 5, 3: 5}, Role.FOLLOWER), VOTERS, 1e6)  # no longer leading: the last count
    assert replies == [(to, 2)]


def test_a_follower_answers_with_the_majority_the_commit_proves() -> None:
    w, _ = waits()
    to = ReplyTo(Client(0, 1), 1, 2)
    assert w.start(to, [b"WAIT", b"2", b"1000"], leader(5, {}, Role.FOLLOWER), VOTERS, 0.0) == 1


def test_bad_arguments_are_errors() -> None:
    w, _ = waits()
    to = ReplyTo(Client(0, 1), 1, 2)
    status = leader(5, {1: 5})
    for argv in ([b"WAIT", b"x", b"0"], [b"WAIT", b"0", b"x"], [b"WAIT", b"0", b"-1"]):
        assert isinstance(w.start(to, argv, status, VOTERS, 0.0), RespError)


def test_a_closed_connection_s_wait_is_dropped() -> None:
    w, replies = waits()
    client = Client(0, 1)
    assert w.start(ReplyTo(client, 1, 2), [b"WAIT", b"2", b"0"], leader(5, {1: 5, 2: 4, 3: 4}), VOTERS, 0.0) is None
    client.closed = True
    w.check(leader(5, {1: 5, 2: 5, 3: 5}), VOTERS, 1.0)
    assert not replies and not len(w)
