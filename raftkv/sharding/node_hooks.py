"""What the Raft process does for sharding, behind the few hooks the loop and the applier call:
``RAFT SLOTS ...``, the CLUSTER commands, the replicated map and move entries, and the leader poller's life.

``RAFT SLOTS SET <epoch> <json>`` and the move steps (``IMPORTING``, ``MIGRATING``, ``EXPORT``,
``IMPORT``, ``RELEASE``: :mod:`raftkv.sharding.moves`) become writes through this group's log (started
like any client write, so they keep their connection's order and are answered once applied); the outcome
is decided when they are applied (:meth:`ShardState.apply_entry`), identically on every node.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from raftkv.errors import err
from raftkv.kv.state_machine import StateMachine
from raftkv.kv.table import WRITE, Command
from raftkv.node.cluster import Cluster
from raftkv.node.sequencer import ReplyTo
from raftkv.raft.rawnode import RawNode
from raftkv.sharding.cluster_commands import cluster_command, slots_get
from raftkv.sharding.leaders import LeaderPoller
from raftkv.sharding.member_sync import MemberSync
from raftkv.sharding.moves import HANDLERS
from raftkv.sharding.state import ShardState

# RAFT SLOTS SET and the move steps as the log sees them: writes, answered when applied.
SLOTS_WRITE = Command("raft", -5, WRITE, ("admin",), group="cluster")
# Each one's count of arguments after the subcommand (-n: n, then key, payload and expiry triples).
_ARGS = {b"SET": 2, **{sub: count for sub, (count, _handler) in HANDLERS.items()}}
_USAGE = err("unknown subcommand or wrong number of arguments. Try RAFT SLOTS GET, RAFT SLOTS SET <epoch> <map>, "
             "IMPORTING <source> <slots>, MIGRATING <target> <slots>, EXPORT <target> <count>, "
             "IMPORT <source> <batch> [<key> <payload> <expiry> ...] or RELEASE <target> <batch>.")


class Sharding:
    def __init__(self, cluster: Cluster, own_leader: Callable[[], str],
                 submit: Callable[[ReplyTo, list[bytes], Command], None],
                 call: Callable[[str, list[bytes], float], object], member_sync: MemberSync) -> None:
        """``submit`` starts a write in place of the client's running command (the sequencer keeps its
        connection's order); ``call`` makes one blocking request to another node (used by the poller
        thread only); ``member_sync`` keeps the map listing this group's voters (on the leader's tick)."""
        self._own_leader = own_leader
        self._submit = submit
        self.state = ShardState(cluster.me.client_addr, own_leader,
                                lambda: [m.client_addr for m in cluster.members.values()],
                                lambda: _voters(cluster))
        self._poller = LeaderPoller(self.state, call)
        self._member_sync = member_sync

    def tick(self, node: RawNode, now: float, now_ms: int) -> None:
        """On the leader's tick."""
        self._member_sync.check(node, self.state, now, now_ms)

    def close(self) -> None:
        self._poller.close()

    def raft_slots(self, to: ReplyTo, argv: list[bytes]) -> object | None:
        """``RAFT SLOTS GET`` now, or one of the others started as a write (answered when applied)."""
        sub = argv[2].upper() if len(argv) > 2 else b""
        if sub == b"GET" and len(argv) == 3:
            return slots_get(self.state, self._own_leader())
        count = _ARGS.get(sub)
        args = argv[3:]
        if count is None or (len(args) != count if count >= 0 else len(args) < -count or (len(args) + count) % 3):
            return _USAGE
        # Spelled as the applier recognises it, whatever case the client used.
        self._submit(to, [b"RAFT", b"SLOTS", sub, *args], SLOTS_WRITE)
        return None

    def cluster(self, argv: list[bytes], sm: StateMachine) -> object:
        return cluster_command(argv, self.state, sm, int(time.time() * 1000))


def _voters(cluster: Cluster) -> tuple[str, ...]:
    """The client addresses of the group's voters as of the applied log, in id order."""
    members = cluster.members
    return tuple(members[i].client_addr for i in sorted(cluster.conf_state.voters) if i in members)
