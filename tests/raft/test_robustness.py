"""Peers can't crash the core: stale, misaddressed, local-only or unknown-sender messages are dropped."""
from __future__ import annotations

import pytest

from raftkv.raft.types import Message, MessageType, Role
from tests.raft.network import Network


def cluster_in(role: Role) -> Network:
    net = Network([1, 2, 3], pre_vote=False)
    if role == Role.LEADER:
        net.elect(1)
        net.nodes[1].propose([b"a"])
        net.stabilize()
    elif role == Role.CANDIDATE:
        net.isolate(1)
        net.nodes[1].campaign()
        net.stabilize()
    else:
        net.elect(2)
    assert net.role(1) == role
    return net


@pytest.mark.parametrize("role", [Role.FOLLOWER, Role.CANDIDATE, Role.LEADER], ids=lambda r: r.name)
@pytest.mark.parametrize("msg_type", list(MessageType), ids=lambda t: t.name)
def test_stale_unknown_and_local_only_messages_never_raise(role: Role, msg_type: MessageType) -> None:
    net = cluster_in(role)
    node = net.nodes[1]
    before = net.status(1)
    term = before.term
    node.step(Message(msg_type, src=9, dst=1, term=term - 1, index=5, log_term=term - 1, commit=1))
    node.step(Message(msg_type, src=2, dst=7, term=term + 5, index=5))  # not addressed to us
    node.step(Message(msg_type, src=1, dst=1, term=term + 5, index=5))  # claims to come from us
    after = net.status(1)
    assert (after.term, after.role, after.commit) == (term, role, before.commit)
    # From an unknown node at the current term: handled or ignored, but never an exception.
    node.step(Message(msg_type, src=9, dst=1, term=term, index=0, log_term=0, commit=0))
    net.stabilize()
