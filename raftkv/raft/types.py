"""Values exchanged with the pure Raft core: entries, messages, hard state, Ready.

Nothing here does I/O. The driver works off a :class:`Ready` as ``raftkv.raft.ready.handle_ready`` does
(persist, send, apply, then ``RawNode.advance``; see Ready for the one early send). Node ids are positive
ints; ``NONE`` (0) means nobody.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

NONE = 0


class EntryKind(IntEnum):
    NORMAL = 0  # a client command; ``data`` is opaque to the core
    NOOP = 1  # appended by a new leader at the start of its term (Raft §5.4.2, §8)
    CONF_CHANGE = 2  # ``data`` is an encoded ConfChange


@dataclass(slots=True)
class Entry:
    index: int
    term: int
    kind: EntryKind = EntryKind.NORMAL
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on disk before any message that depends on it is sent (Raft figure 2)."""

    term: int = 0
    vote: int = NONE
    commit: int = 0


@dataclass(frozen=True, slots=True)
class ConfState:
    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()


class ConfChangeType(IntEnum):
    ADD_LEARNER = 0
    PROMOTE = 1  # a learner becomes a voter
    REMOVE = 2


@dataclass(frozen=True, slots=True)
class ConfChange:
    type: ConfChangeType
    node_id: int
    context: bytes = b""  # opaque to the core (the driver keeps addresses here)


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    index: int = 0
    term: int = 0
    conf_state: ConfState = ConfState()


@dataclass(frozen=True, slots=True)
class Snapshot:
    meta: SnapshotMeta = SnapshotMeta()
    data: bytes = b""


class Role(IntEnum):
    FOLLOWER = 0
    PRE_CANDIDATE = 1
    CANDIDATE = 2
    LEADER = 3


class MessageType(IntEnum):
    PRE_VOTE = 1
    PRE_VOTE_RESP = 2
    VOTE = 3
    VOTE_RESP = 4
    APPEND = 5
    APPEND_RESP = 6
    HEARTBEAT = 7
    HEARTBEAT_RESP = 8
    SNAPSHOT = 9
    SNAPSHOT_STATUS = 10
    READ_INDEX = 11
    READ_INDEX_RESP = 12
    TIMEOUT_NOW = 13
    PROPOSE = 14  # a follower forwarding proposals to its leader
    PROPOSE_DROPPED = 15  # back to the forwarder: the entries of its PROPOSE that were not appended


@dataclass(slots=True)
class Message:
    """One Raft RPC. Field use per type follows etcd/raft's raftpb.Message.

    ``log_term``/``index``: the entry before ``entries`` (APPEND), the sender's last entry (VOTE,
    PRE_VOTE), the follower's last matching index (APPEND_RESP), the read index (READ_INDEX_RESP).
    ``reject_hint``: on a rejected APPEND_RESP, where the leader should probe next (fast backup).
    ``context``: the read request a heartbeat or READ_INDEX belongs to; b"transfer" on a vote that a
    leadership transfer started.
    ``entries``: the entries to append (APPEND), proposed (PROPOSE) or not appended (PROPOSE_DROPPED).
    PROPOSE and PROPOSE_DROPPED relay local requests; they carry term 0 and change nobody's term.
    """

    type: MessageType
    src: int
    dst: int
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: list[Entry] = field(default_factory=list)
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    context: bytes = b""
    snapshot: Snapshot | None = None


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state a driver reports (not persisted): who leads, and this node's role."""

    leader: int = NONE
    role: Role = Role.FOLLOWER


@dataclass(frozen=True, slots=True)
class ReadState:
    """A linearizable read may be served once applied index >= ``index``."""

    index: int
    context: bytes


@dataclass(slots=True)
class Ready:
    """Work for the driver, in this order: persist ``hard_state``, ``snapshot`` and ``entries`` (one write,
    synced as :func:`raftkv.raft.ready.needs_sync` says), send ``messages``, apply
    ``committed_entries``, serve ``read_states``, then ``advance``.

    One exception: when there are ``entries``, a leader's APPEND and HEARTBEAT messages may be sent
    before the write (thesis §10.2.1). That is safe because they promise nothing about the leader's
    disk: the leader counts its own log for commitment only through what ``advance`` reports as
    synced. Every other message (votes, append responses) waits for the write."""

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    # Entries this node forwarded that the node it took for leader did not append (it was not leader, a
    # transfer was in progress, or too much was uncommitted): they can never commit, so whoever waits
    # on them may be told at once. Their ``data`` is as proposed; index and term are 0.
    dropped_proposals: list[Entry] = field(default_factory=list)
    # The entries may be written without a sync (a leader whose replicating followers commit without it).
    may_defer_sync: bool = False
    # The write must be synced even without entries: entries written unsynced while leader are not
    # synced yet, and this node is no longer leader.
    must_sync_log: bool = False


@dataclass(frozen=True, slots=True)
class PeerProgress:
    """What a leader knows of one peer's log (Raft figure 2): ``state`` is probe, replicate or snapshot."""

    match: int
    next: int
    state: str
    learner: bool


@dataclass(frozen=True, slots=True)
class Status:
    """A frozen view of one node for reports (INFO, member list); ``progress`` is empty unless leader."""

    id: int
    term: int
    vote: int
    role: Role
    leader: int
    commit: int
    applied: int
    last_index: int
    progress: dict[int, PeerProgress] = field(default_factory=dict)

    def match_of(self, node_id: int) -> int:
        """The peer's match index as the leader knows it (0 when unknown or not leader)."""
        peer = self.progress.get(node_id)
        return peer.match if peer is not None else 0

