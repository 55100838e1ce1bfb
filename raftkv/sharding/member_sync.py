"""Keeping the slot map's member list of this node's own group equal to the group's voters.

A group's membership changes through its own log (``member add``, a learner promoted, ``member
remove``), while the slot map names every group's members for MOVED, the CLUSTER replies and the other
groups' leader pollers. So the leader checks on its tick whether the installed map lists its group's
voters; if not, it proposes the same map with that list and the next epoch through the group's own log,
one proposal at a time (the next check waits for the commit timeout, as the expiry sweep does). Only
this group's entry changes, so no slot changes owner; the other groups learn the new list from this
group's map (:mod:`raftkv.sharding.leaders`), without an entry in their logs.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from raftkv.raft.rawnode import RawNode
from raftkv.sharding.slot_map import SlotMap, SlotMapError, decode, with_members
from raftkv.sharding.state import ShardState
from raftkv.wire import proposal

log = logging.getLogger("raftkv.sharding")


class MemberSync:
    def __init__(self, node_id: int, new_request_id: Callable[[], int], commit_timeout_s: float) -> None:
        self._node_id = node_id
        self._new_request_id = new_request_id
        self.commit_timeout_s = commit_timeout_s
        self._next_check = 0.0
        self._refused: SlotMap | None = None  # a map this group cannot install: said once, not proposed

    def check(self, node: RawNode, state: ShardState, now: float, now_ms: int) -> None:
        """On the leader's tick: propose the map with this group's voters if it does not list them."""
        if now < self._next_check or state.map is None or state.my_group is None:
            return
        updated = with_members(state.map, state.my_group, state.own_voters())
        if updated is None or updated == self._refused:
            return
        group = updated.groups[state.my_group]
        try:
            decode(updated.encode())  # the checks every node makes when it applies it
        except SlotMapError as exc:
            log.warning("the slot map cannot list group %s's members %s: %s", group.name, ",".join(group.members), exc)
            self._refused = updated
            return
        argv = [b"RAFT", b"SLOTS", b"SET", b"%d" % updated.epoch, updated.encode()]
        if node.propose([proposal.encode(self._node_id, self._new_request_id(), now_ms, argv)]):
            log.info("group %s's members changed: proposing slot map epoch %d listing %s", group.name,
                     updated.epoch, ",".join(group.members))
            self._next_check = now + self.commit_timeout_s
