"""The CLUSTER commands, in Redis Cluster's reply formats (Redis ``src/cluster.c``), and ``RAFT SLOTS
GET``. Each group's master is its leader (or, while unknown, its first member) and its other members are
its replicas. Read-only: the map changes only through the log (:mod:`raftkv.sharding.state`).
"""
from __future__ import annotations

from raftkv.errors import err
from raftkv.kv.state_machine import StateMachine
from raftkv.kv.table import subcommand_refusal
from raftkv.sharding.slot_map import Group, SlotMap
from raftkv.sharding.slots import SLOTS, key_slot
from raftkv.sharding.state import DISABLED, ShardState, node_id
from raftkv.wire.members import split_addr
from raftkv.wire.values import Verbatim

_ARITY = {b"keyslot": 3, b"countkeysinslot": 3, b"getkeysinslot": 4, b"slots": 2, b"shards": 2,
          b"nodes": 2, b"myid": 2, b"info": 2}


def slots_get(state: ShardState, own_leader: str) -> object:
    """``RAFT SLOTS GET``: [epoch, map json, this group's leader, the slots it moves (json)] ([0, "",
    leader, ""] without a map)."""
    if state.map is None:
        return [0, b"", own_leader.encode(), b""]
    return [state.map.epoch, state.map.encode(), own_leader.encode(), state.migration.encode(batches=False)]


def cluster_command(argv: list[bytes], state: ShardState, sm: StateMachine, now_ms: int) -> object:
    if state.map is None or state.my_group is None:
        return DISABLED
    refusal = subcommand_refusal(argv, _ARITY)
    if refusal is not None:
        return refusal
    sub = argv[1].lower()
    slot_map = state.map
    if sub == b"keyslot":
        return key_slot(argv[2])
    if sub in (b"countkeysinslot", b"getkeysinslot"):
        try:
            slot = int(argv[2])
            count = int(argv[3]) if sub == b"getkeysinslot" else SLOTS
        except ValueError:
            return err("value is not an integer or out of range")
        if not 0 <= slot < SLOTS or count < 0:
            return err("Invalid slot" if count >= 0 else "Invalid number of keys")
        keys = _keys_in_slot(sm, slot, count, now_ms)
        return len(keys) if sub == b"countkeysinslot" else keys
    if sub == b"myid":
        return node_id(state.my_addr).encode()
    if sub == b"slots":
        return [[start, end, *(_node_triple(a) for a in _roles(state, i))]
                for i, g in enumerate(slot_map.groups) for start, end in g.ranges]
    if sub == b"shards":
        return [_shard(state, i, g) for i, g in enumerate(slot_map.groups)]
    if sub == b"nodes":
        return Verbatim("txt", "".join(_node_lines(state, i) for i in range(len(slot_map.groups))).encode())
    return Verbatim("txt", _info(slot_map).encode())


def _keys_in_slot(sm: StateMachine, slot: int, count: int, now_ms: int) -> list[bytes]:
    found: list[bytes] = []
    for key in sm.data:
        if len(found) >= count:
            break
        if key_slot(key) == slot and sm.is_live(key, now_ms):
            found.append(key)
    return found


def _roles(state: ShardState, group: int) -> list[str]:
    """The group's members, master first."""
    assert state.map is not None
    master = state.address_of(group)
    return [master, *(a for a in state.members_of(group) if a != master)]


def _node_triple(addr: str) -> list[object]:
    host, port = split_addr(addr)
    return [host.encode(), port, node_id(addr).encode(), {}]


def _shard(state: ShardState, group: int, g: Group) -> dict[bytes, object]:
    nodes = []
    for rank, addr in enumerate(_roles(state, group)):
        host, port = split_addr(addr)
        nodes.append({b"id": node_id(addr).encode(), b"port": port, b"ip": host.encode(),
                      b"endpoint": host.encode(), b"role": b"master" if rank == 0 else b"replica",
                      b"replication-offset": 0, b"health": b"online"})
    return {b"slots": [n for r in g.ranges for n in r], b"nodes": nodes}


def _node_lines(state: ShardState, group: int) -> str:
    assert state.map is not None
    g, epoch = state.map.groups[group], state.map.epoch
    members = _roles(state, group)
    master_id = node_id(members[0])
    slots = " ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in g.ranges)
    lines = []
    for rank, addr in enumerate(members):
        flags = ("myself," if addr == state.my_addr else "") + ("master" if rank == 0 else "slave")
        # No cluster bus: the peers of a group talk Raft on their own port, so its port is given as 0.
        fields = [node_id(addr), f"{addr}@0", flags, "-" if rank == 0 else master_id, "0", "0",
                  str(epoch), "connected"]
        moving = _moving_slots(state) if rank == 0 and group == state.my_group else []
        lines.append(" ".join(fields + ([slots] if rank == 0 and slots else []) + moving) + "\n")
    return "".join(lines)


def _moving_slots(state: ShardState) -> list[str]:
    """Redis's marks of this group's slot moves: ``[slot->-target id]`` and ``[slot-<-source id]``."""
    assert state.map is not None
    index = {g.name: i for i, g in enumerate(state.map.groups)}

    def master_id(name: str) -> str:
        return node_id(state.address_of(index[name])) if name in index else "-"

    mig = state.migration
    return ([f"[{s}->-{master_id(t)}]" for s, t in sorted(mig.migrating.items())]
            + [f"[{s}-<-{master_id(g)}]" for s, g in sorted(mig.importing.items())])


def _info(slot_map: SlotMap) -> str:
    assigned = sum(g.slot_count for g in slot_map.groups)
    fields = [
        ("cluster_state", "ok" if assigned == SLOTS else "fail"),
        ("cluster_slots_assigned", assigned), ("cluster_slots_ok", assigned),
        ("cluster_slots_pfail", 0), ("cluster_slots_fail", 0),
        ("cluster_known_nodes", sum(len(g.members) for g in slot_map.groups)),
        ("cluster_size", sum(1 for g in slot_map.groups if g.ranges)),
        ("cluster_current_epoch", slot_map.epoch), ("cluster_my_epoch", slot_map.epoch),
        ("cluster_stats_messages_sent", 0), ("cluster_stats_messages_received", 0),
        ("total_cluster_links_buffer_limit_exceeded", 0),
    ]
    return "".join(f"{k}:{v}\r\n" for k, v in fields)
