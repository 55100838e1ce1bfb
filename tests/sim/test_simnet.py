"""The simulated network itself: delivery order, faults and partitions are what the seed says."""
from __future__ import annotations

import random

from raftkv.raft.types import Entry, Message, MessageType
from tests.sim.simnet import LinkFaults, SimNetwork


def beat(src: int, dst: int, commit: int = 0) -> Message:
    return Message(MessageType.HEARTBEAT, src, dst, term=1, commit=commit)


def drain(net: SimNetwork, ticks: int) -> list[tuple[int, Message]]:
    return [(now, m) for now in range(ticks) for m in net.due(now)]


def test_delivery_is_ordered_by_tick_then_send_order() -> None:
    net = SimNetwork(random.Random(0), LinkFaults(min_delay_ticks=1, max_delay_ticks=1))
    for commit in range(5):
        net.send(beat(1, 2, commit), now=0)
    assert [(now, m.commit) for now, m in drain(net, 3)] == [(1, c) for c in range(5)]


def test_random_delays_reorder_and_are_reproducible() -> None:
    def run(seed: int) -> list[int]:
        net = SimNetwork(random.Random(seed), LinkFaults(min_delay_ticks=1, max_delay_ticks=5))
        for commit in range(20):
            net.send(beat(1, 2, commit), now=0)
        return [m.commit for _, m in drain(net, 10)]

    assert run(3) == run(3)
    assert run(3) != sorted(run(3))


def test_loss_and_duplication() -> None:
    net = SimNetwork(random.Random(1), LinkFaults(loss=0.5, duplicate=0.5))
    for commit in range(200):
        net.send(beat(1, 2, commit), now=0)
    delivered = [m.commit for _, m in drain(net, 3)]
    assert 50 < len(set(delivered)) < 150
    assert len(delivered) > len(set(delivered))


def test_receiver_gets_a_copy() -> None:
    net = SimNetwork(random.Random(0), LinkFaults())
    sent = Message(MessageType.APPEND, 1, 2, term=1, entries=[Entry(1, 1)])
    net.send(sent, now=0)
    (_, received), = drain(net, 2)
    assert received == sent and received is not sent and received.entries is not sent.entries


def test_symmetric_and_asymmetric_partitions() -> None:
    net = SimNetwork(random.Random(0), LinkFaults())
    net.split([1], [1, 2, 3])
    net.block([(2, 3)])
    for src, dst in [(1, 2), (2, 1), (2, 3), (3, 2), (3, 1)]:
        net.send(beat(src, dst), now=0)
    assert [(m.src, m.dst) for _, m in drain(net, 2)] == [(3, 2)]
    # A link cut while a message is in flight drops it too.
    net.heal()
    net.send(beat(1, 2), now=0)
    net.block([(1, 2)])
    assert drain(net, 2) == []
