"""Raft: the consensus state machine of one node (Raft paper figure 2, with the thesis's pre-vote,
check-quorum, ReadIndex, leadership transfer and single-server membership changes).

Inputs are ``tick()``, ``step(message)`` and the local requests RawNode forwards; outputs accumulate in
``messages`` and ``read_states`` and in the log's unstable tail, for RawNode to hand out as a Ready.
Nothing here does I/O or reads a clock; randomness comes only from the injected ``rng``. Role changes go
through the ``become_*`` methods; an illegal transition raises :class:`RaftError`.
"""
from __future__ import annotations

import random
from collections.abc import Collection

from raftkv.raft.log import RaftLog
from raftkv.raft.log_storage import Compacted, LogStorage, RaftError
from raftkv.raft.progress import Progress, ProgressState, ProgressTracker
from raftkv.raft.quorum import VoteResult, has_majority, vote_result
from raftkv.raft.readonly import ReadOnly, ReadRequest
from raftkv.raft.settings import RaftConfig
from raftkv.raft.types import (
    NONE,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryKind,
    HardState,
    Message,
    MessageType,
    PeerProgress,
    ReadState,
    Role,
    Snapshot,
    SoftState,
    Status,
)

# The context of a vote started by a leadership transfer: it may interrupt a live leader's lease.
TRANSFER_CONTEXT = b"transfer"

_APPEND = MessageType.APPEND
_APPEND_RESP = MessageType.APPEND_RESP
_HEARTBEAT = MessageType.HEARTBEAT
_HEARTBEAT_RESP = MessageType.HEARTBEAT_RESP
_VOTE = MessageType.VOTE
_PRE_VOTE = MessageType.PRE_VOTE
_VOTE_RESP = MessageType.VOTE_RESP
_PRE_VOTE_RESP = MessageType.PRE_VOTE_RESP
_SNAPSHOT = MessageType.SNAPSHOT
_LEADER = Role.LEADER
_FOLLOWER = Role.FOLLOWER
_REPLICATE = ProgressState.REPLICATE
_PROBE = ProgressState.PROBE


class Raft:
    def __init__(self, config: RaftConfig, storage: LogStorage, rng: random.Random, applied: int = 0) -> None:
        self.id = config.id
        self.config = config
        self._rng = rng
        self.log = RaftLog(storage)
        hard_state, conf_state = storage.initial_state()
        self.tracker = ProgressTracker(config.id, config.max_inflight_msgs)
        self.tracker.set_conf_state(conf_state, self.log.last_index() + 1)
        self.term = hard_state.term
        self.vote = hard_state.vote
        self.log.commit_to(hard_state.commit)
        self.log.applied_to(applied)
        # The last log index known to be synced to disk. A leader may write its entries without a sync
        # (see may_defer_sync) and counts its own copy only up to here; what storage holds at start-up
        # is durable (opening LevelDB writes what it recovers into a synced table).
        self.synced_index = self.log.persisted_index()
        self.messages: list[Message] = []
        self.read_states: list[ReadState] = []
        self.dropped_proposals: list[Entry] = []  # see Ready.dropped_proposals
        self.role = Role.FOLLOWER
        self.leader = NONE
        self.lead_transferee = NONE
        self.pending_conf_index = 0  # index of the last membership change a leader appended
        self.election_elapsed = 0  # ticks since the leader was last heard from (or, on a leader, since check-quorum)
        self.heartbeat_elapsed = 0
        self.randomized_election_ticks = config.election_ticks
        self._votes: dict[int, bool] = {}
        self._read_only = ReadOnly()
        self._deferred_reads: list[tuple[int, bytes]] = []  # (requester, context) before a commit in term
        # A leader's followers that forwarded proposals -> the last index it appended for them: their
        # clients wait for the commit index, which they are told at once, not with the next batch.
        self._forwarded: dict[int, int] = {}
        self.become_follower(self.term, NONE)

    # ------------------------------------------------------------------ state

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def soft_state(self) -> SoftState:
        return SoftState(self.leader, self.role)

    def status(self) -> Status:
        progress = {}
        if self.role == _LEADER:
            progress = {
                node_id: PeerProgress(p.match, p.next, p.state.value, p.is_learner)
                for node_id, p in self.tracker.progress.items()
            }
        return Status(self.id, self.term, self.vote, self.role, self.leader, self.log.committed,
                      self.log.applied, self.log.last_index(), progress)

    def _promotable(self) -> bool:
        return self.tracker.is_voter(self.id) and self.log.pending_snapshot is None

    # ------------------------------------------------------------------ role transitions

    def _reset(self, term: int) -> None:
        if term != self.term:
            self.term = term
            self.vote = NONE
        self.leader = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self._randomize_election_timeout()
        self.lead_transferee = NONE
        self._votes = {}
        self.tracker.reset(self.log.last_index(), self.synced_index)
        self.pending_conf_index = 0
        self._read_only = ReadOnly()
        self._deferred_reads = []
        self._forwarded = {}

    def _randomize_election_timeout(self) -> None:
        # Raft §5.2: randomized timeouts make split votes rare.
        election_ticks = self.config.election_ticks
        self.randomized_election_ticks = election_ticks + self._rng.randrange(election_ticks)

    def become_follower(self, term: int, leader: int) -> None:
        self._reset(term)
        self.leader = leader
        self.role = Role.FOLLOWER

    def become_pre_candidate(self) -> None:
        if self.role == _LEADER:
            raise RaftError("invalid transition: leader -> pre-candidate")
        # Thesis §9.6: a pre-candidate keeps its term and vote; only a won pre-vote leads to a real one.
        self.role = Role.PRE_CANDIDATE
        self.leader = NONE
        self._votes = {}
        self._randomize_election_timeout()  # so that rounds lost to message loss don't stay in lockstep

    def become_candidate(self) -> None:
        if self.role == _LEADER:
            raise RaftError("invalid transition: leader -> candidate")
        self._reset(self.term + 1)
        self.vote = self.id
        self.role = Role.CANDIDATE

    def become_leader(self) -> None:
        if self.role == _FOLLOWER:
            raise RaftError("invalid transition: follower -> leader")
        self._reset(self.term)
        self.leader = self.id
        self.role = _LEADER
        own = self.tracker.progress[self.id]
        own.become_replicate()
        own.recent_active = True
        # Raft §8 / §5.4.2: a leader commits entries of earlier terms only through an entry of its own
        # term, so it appends a no-op at once.
        noop = Entry(self.log.last_index() + 1, self.term, EntryKind.NOOP)
        self.log.append([noop])
        # No membership change until that no-op commits: the fix to single-server changes from the
        # raft-dev "bug in single-server membership changes" post (thesis §4.1 errata).
        self.pending_conf_index = noop.index
        self._broadcast_append(send_if_empty=True)

    # ------------------------------------------------------------------ ticks

    def tick(self) -> None:
        if self.role == _LEADER:
            self._tick_leader()
        else:
            self._tick_election()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.election_elapsed >= self.randomized_election_ticks and self._promotable():
            self.election_elapsed = 0
            self._hup(transfer=False)

    def _tick_leader(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        config = self.config
        if self.election_elapsed >= config.election_ticks:
            self.election_elapsed = 0
            if config.check_quorum:
                # Thesis §6.2: a leader that cannot reach a majority steps down, so clients and a
                # partitioned-off leader stop waiting on it.
                if not self.tracker.quorum_active():
                    self.become_follower(self.term, NONE)
                    return
                for node_id, progress in self.tracker.progress.items():
                    if node_id != self.id:
                        progress.recent_active = False
            # Thesis §3.10: a transfer that hasn't finished within an election timeout is abandoned.
            self.lead_transferee = NONE
        if self.heartbeat_elapsed >= config.heartbeat_ticks:
            self.heartbeat_elapsed = 0
            self._broadcast_heartbeat()

    # ------------------------------------------------------------------ elections

    def campaign(self) -> None:
        self._hup(transfer=False)

    def _hup(self, transfer: bool) -> None:
        if self.role == _LEADER or not self._promotable():
            return
        if self.log.has_unapplied_conf_change():
            return
        if self.config.pre_vote and not transfer:
            self.become_pre_candidate()
            self._request_votes(_PRE_VOTE, self.term + 1, b"")
        else:
            self._start_election(transfer)

    def _start_election(self, transfer: bool) -> None:
        self.become_candidate()
        self._request_votes(_VOTE, self.term, TRANSFER_CONTEXT if transfer else b"")

    def _request_votes(self, vote_type: MessageType, term: int, context: bytes) -> None:
        if self._poll(self.id, True) == VoteResult.WON:  # a single voter
            self._won(vote_type)
            return
        last_index = self.log.last_index()
        last_term = self.log.last_term()
        for voter in self.tracker.voters:
            if voter != self.id:
                self._send(
                    Message(vote_type, self.id, voter, term, log_term=last_term, index=last_index, context=context)
                )

    def _won(self, vote_type: MessageType) -> None:
        if vote_type == _PRE_VOTE:
            self._start_election(transfer=False)
        else:
            self.become_leader()

    def _poll(self, voter: int, granted: bool) -> VoteResult:
        self._votes.setdefault(voter, granted)
        return vote_result(self.tracker.voters, self._votes)

    def _handle_vote_request(self, m: Message) -> None:
        pre_vote = m.type == _PRE_VOTE
        response_type = _PRE_VOTE_RESP if pre_vote else _VOTE_RESP
        # Raft §5.2: one vote per term, first come first served (a repeated request gets the same
        # answer); a pre-vote promises nothing, so any future-term pre-vote may be granted.
        can_vote = (
            self.vote == m.src
            or (self.vote == NONE and self.leader == NONE)
            or (pre_vote and m.term > self.term)
        )
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            # Answer in the request's term so that the (pre-)candidate counts it.
            self._send(Message(response_type, self.id, m.src, m.term))
            if not pre_vote:
                self.election_elapsed = 0
                self.vote = m.src
        else:
            self._send(Message(response_type, self.id, m.src, self.term, reject=True))

    # ------------------------------------------------------------------ messages

    def _send(self, m: Message) -> None:
        messages = self.messages
        if m.type == _APPEND_RESP and not m.reject and messages:
            # A follower stepping several appends before its Ready answers them with one message: an
            # accepted index covers every accepted index below it, of the same term.
            last = messages[-1]
            if last.type == _APPEND_RESP and not last.reject and last.dst == m.dst and last.term == m.term:
                if m.index > last.index:
                    messages[-1] = m
                return
        messages.append(m)

    def step(self, m: Message) -> None:
        """Handle one message from a peer. Messages of unknown or stale shape are dropped, never raised."""
        msg_type = m.type
        if msg_type == MessageType.PROPOSE or msg_type == MessageType.READ_INDEX:
            self._step_forwarded(m)
            return
        if msg_type == MessageType.PROPOSE_DROPPED:
            self.dropped_proposals.extend(m.entries)
            return
        if msg_type == MessageType.SNAPSHOT_STATUS:
            return  # local only: see report_snapshot
        if m.term > self.term:
            if msg_type == _VOTE or msg_type == _PRE_VOTE:
                # Thesis §4.2.3: while a follower hears from a live leader it ignores vote requests, so
                # a node that was cut off can't depose it. A leadership transfer overrides this.
                in_lease = (
                    self.config.check_quorum
                    and self.leader != NONE
                    and self.election_elapsed < self.config.election_ticks
                )
                if in_lease and m.context != TRANSFER_CONTEXT:
                    return
            if msg_type == _PRE_VOTE or (msg_type == _PRE_VOTE_RESP and not m.reject):
                pass  # thesis §9.6: pre-votes never change a term; a won pre-vote will
            elif msg_type == _APPEND or msg_type == _HEARTBEAT or msg_type == _SNAPSHOT:
                self.become_follower(m.term, m.src)
            else:
                self.become_follower(m.term, NONE)
        elif m.term < self.term:
            if (self.config.check_quorum or self.config.pre_vote) and (msg_type == _APPEND or msg_type == _HEARTBEAT):
                # A deposed leader whose partition healed: with pre-vote or check-quorum our term may
                # have moved on without it hearing a vote, so tell it the newer term to step down.
                self._send(Message(_APPEND_RESP, self.id, m.src, self.term))
            elif msg_type == _PRE_VOTE:
                self._send(Message(_PRE_VOTE_RESP, self.id, m.src, self.term, reject=True))
            return
        if msg_type == _VOTE or msg_type == _PRE_VOTE:
            self._handle_vote_request(m)
        elif self.role == _LEADER:
            self._step_leader(m)
        elif self.role == _FOLLOWER:
            self._step_follower(m)
        else:
            self._step_candidate(m)

    def _step_forwarded(self, m: Message) -> None:
        # A PROPOSE or READ_INDEX forwarded by a follower. One that reaches a non-leader is dropped
        # rather than passed on: its sender's idea of the leader was stale, and re-forwarding could loop.
        # A dropped read is asked again by its sender; dropped proposals are handed back to it.
        if not self.tracker.is_member(m.src):
            return
        if m.type == MessageType.READ_INDEX:
            if self.role == _LEADER:
                self._read_index(m.src, m.context)
        elif self.role == _LEADER:
            self._append_forwarded(m.src, m.entries)
        else:
            self._drop_forwarded(m.src, m.entries)

    def _drop_forwarded(self, proposer: int, entries: list[Entry]) -> None:
        # The proposer would otherwise wait out its own timeout for entries that can never commit.
        if entries:
            self._send(Message(MessageType.PROPOSE_DROPPED, self.id, proposer, 0, entries=entries))

    def _step_leader(self, m: Message) -> None:
        progress = self.tracker.progress.get(m.src)
        if progress is None:
            return
        if m.type == _APPEND_RESP:
            self._handle_append_response(m, progress)
        elif m.type == _HEARTBEAT_RESP:
            self._handle_heartbeat_response(m, progress)

    def _step_follower(self, m: Message) -> None:
        msg_type = m.type
        if msg_type == _APPEND or msg_type == _HEARTBEAT or msg_type == _SNAPSHOT:
            self.election_elapsed = 0
            self.leader = m.src
            if msg_type == _APPEND:
                self._handle_append(m)
            elif msg_type == _HEARTBEAT:
                self._handle_heartbeat(m)
            else:
                self._handle_snapshot(m)
        elif msg_type == MessageType.TIMEOUT_NOW:
            self._hup(transfer=True)
        elif msg_type == MessageType.READ_INDEX_RESP:
            self.read_states.append(ReadState(m.index, m.context))

    def _step_candidate(self, m: Message) -> None:
        msg_type = m.type
        if msg_type == _APPEND or msg_type == _HEARTBEAT or msg_type == _SNAPSHOT:
            # Raft §5.2: a leader of our own term exists.
            self.become_follower(m.term, m.src)
            self._step_follower(m)
            return
        expected = _PRE_VOTE_RESP if self.role == Role.PRE_CANDIDATE else _VOTE_RESP
        if msg_type != expected:
            return
        result = self._poll(m.src, not m.reject)
        if result == VoteResult.WON:
            self._won(_PRE_VOTE if self.role == Role.PRE_CANDIDATE else _VOTE)
        elif result == VoteResult.LOST:
            self.become_follower(self.term, NONE)

    # ------------------------------------------------------------------ follower side of replication

    def _handle_append(self, m: Message) -> None:
        log = self.log
        if m.index < log.committed:
            self._send(Message(_APPEND_RESP, self.id, m.src, self.term, index=log.committed))
            return
        last_new = log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self._send(Message(_APPEND_RESP, self.id, m.src, self.term, index=last_new))
            return
        # Raft §5.3 (end): tell the leader the last index whose term is <= the one it probed with, so
        # it skips our whole conflicting term in one round trip.
        hint_index, hint_term = log.find_conflict_by_term(min(m.index, log.last_index()), m.log_term)
        self._send(
            Message(
                _APPEND_RESP,
                self.id,
                m.src,
                self.term,
                index=m.index,
                reject=True,
                reject_hint=hint_index,
                log_term=hint_term,
            )
        )

    def _handle_heartbeat(self, m: Message) -> None:
        # The leader sends min(match_index, commit), so the commit index never runs past our log.
        self.log.commit_to(m.commit)
        self._send(Message(_HEARTBEAT_RESP, self.id, m.src, self.term, context=m.context))

    def _handle_snapshot(self, m: Message) -> None:
        if m.snapshot is None:
            return
        if self._restore(m.snapshot):
            index = self.log.last_index()
        else:
            index = self.log.committed
        self._send(Message(_APPEND_RESP, self.id, m.src, self.term, index=index))

    def _restore(self, snapshot: Snapshot) -> bool:
        """Install ``snapshot`` unless it is no news (Raft §7). Returns whether the log was replaced."""
        meta = snapshot.meta
        if meta.index <= self.log.committed:
            return False
        if self.log.match_term(meta.index, meta.term):
            # Our log holds the snapshot's last entry, hence (Log Matching) all before it: just commit.
            self.log.commit_to(meta.index)
            return False
        self.log.restore(snapshot)
        self.tracker.set_conf_state(meta.conf_state, self.log.last_index() + 1)
        return True

    # ------------------------------------------------------------------ leader side of replication

    def _broadcast_append(self, send_if_empty: bool) -> None:
        for node_id in self.tracker.progress:
            if node_id != self.id:
                self._send_appends(node_id, send_if_empty)

    def _send_appends(self, to: int, send_if_empty: bool) -> None:
        """Fill ``to``'s pipeline: as many batches as its inflight window (or probe state) allows."""
        if self._maybe_send_append(to, send_if_empty):
            while self._maybe_send_append(to, send_if_empty=False):
                pass

    def _maybe_send_append(self, to: int, send_if_empty: bool) -> bool:
        """Send ``to`` the entries from its next_index on (one batch), or a snapshot if they were
        compacted. Returns whether a message was sent."""
        progress = self.tracker.progress[to]
        if progress.is_paused():
            return False
        log = self.log
        prev_index = progress.next - 1
        try:
            prev_term = log.term(prev_index)
            entries = log.entries_from(progress.next, self.config.max_append_bytes)
        except Compacted:
            return self._send_snapshot(to, progress)
        if not entries and not send_if_empty:
            return False
        commit = log.committed
        self._send(Message(_APPEND, self.id, to, self.term, prev_term, prev_index, entries, commit))
        progress.sent_append(len(entries), commit)
        return True

    def _send_snapshot(self, to: int, progress: Progress) -> bool:
        if not progress.recent_active:
            return False  # don't ship a snapshot to a peer that may be down
        snapshot = self.log.storage.snapshot()
        progress.become_snapshot(snapshot.meta.index)
        self._send(Message(_SNAPSHOT, self.id, to, self.term, snapshot=snapshot))
        return True

    def _broadcast_heartbeat(self) -> None:
        context = self._read_only.heartbeat_context(self.id)
        committed = self.log.committed
        for node_id, progress in self.tracker.progress.items():
            if node_id == self.id:
                continue
            # A follower may not hold everything we committed yet; it must not commit past its match.
            commit = min(progress.match, committed)
            self._send(Message(_HEARTBEAT, self.id, node_id, self.term, commit=commit, context=context))
            if commit > progress.sent_commit:
                progress.sent_commit = commit

    def _handle_append_response(self, m: Message, progress: Progress) -> None:
        progress.recent_active = True
        log = self.log
        if m.reject:
            hint = m.reject_hint
            if m.log_term > 0:
                # Skip, on our side too, every entry whose term is newer than the follower's.
                hint = log.find_conflict_by_term(hint, m.log_term)[0]
            if progress.maybe_decrease_to(m.index, hint):
                if progress.state == _REPLICATE:
                    progress.become_probe()
                self._maybe_send_append(m.src, send_if_empty=True)
            return
        if m.index > log.last_index():
            return  # acknowledges entries we never had: a confused peer
        if not (progress.maybe_update(m.index) or (progress.match == m.index and progress.state == _PROBE)):
            return
        if progress.state == _PROBE:
            progress.become_replicate()
        elif progress.state == ProgressState.SNAPSHOT:
            if progress.match + 1 >= log.first_index():
                progress.become_replicate()
        else:
            progress.acknowledged(m.index)
        if self._maybe_commit():
            self._on_commit()
        self._send_appends(m.src, send_if_empty=False)
        if m.src == self.lead_transferee and progress.match == log.last_index():
            self._send(Message(MessageType.TIMEOUT_NOW, self.id, m.src, self.term))

    def _handle_heartbeat_response(self, m: Message, progress: Progress) -> None:
        progress.recent_active = True
        progress.resume()
        if progress.match < self.log.last_index() or progress.state == _PROBE:
            self._maybe_send_append(m.src, send_if_empty=True)
        if m.context:
            for request in self._read_only.acknowledge(m.context, m.src, self._has_voter_majority):
                self._answer_read(request)

    def _has_voter_majority(self, nodes: Collection[int]) -> bool:
        return has_majority(self.tracker.voters, nodes)

    def _maybe_commit(self) -> bool:
        index = self.tracker.committed()
        log = self.log
        # Raft §5.4.2 (figure 8): only an entry of the current term is committed by counting replicas.
        if index > log.committed and log.term_or_zero(index) == self.term:
            log.commit_to(index)
            return True
        return False

    def _on_commit(self) -> None:
        if self._deferred_reads:
            deferred, self._deferred_reads = self._deferred_reads, []
            for requester, context in deferred:
                self._read_index(requester, context)

    def on_persisted(self, synced: bool) -> None:
        """The driver wrote the log up to persisted_index(), with a sync if ``synced``: a leader may
        now count its own copy of what is synced."""
        if synced:
            self.synced_index = self.log.persisted_index()
        if self.role != _LEADER:
            return
        own = self.tracker.progress.get(self.id)
        if own is not None and own.maybe_update(self.synced_index) and self._maybe_commit():
            self._on_commit()

    def may_defer_sync(self) -> bool:
        """Whether a leader may write its new entries without a sync: its followers that are replicating
        (acknowledging each APPEND after syncing it) make a majority of the voters without it, so they
        can commit the entries on their own (thesis §10.2.1: the leader's own write is not needed for
        commitment). Its copy then counts only once a later synced write covers it."""
        if self.role != _LEADER:
            return False
        progress = self.tracker.progress
        replicating = [v for v in self.tracker.voters
                       if v != self.id and progress[v].state == _REPLICATE and not progress[v].paused]
        return has_majority(self.tracker.voters, replicating)

    def oldest_unsynced_uncommitted(self) -> int:
        """The first entry written without a sync that is not committed yet (0 if none): a sync would
        let this leader count its own copy of it."""
        first = max(self.synced_index, self.log.committed) + 1
        return first if first <= self.log.persisted_index() else 0

    def must_sync_log(self) -> bool:
        """Whether entries written unsynced while leader must be synced before anything else leaves:
        a node that is no longer leader acknowledges its log to others, and must promise only what is
        on disk."""
        return self.role != _LEADER and self.synced_index < self.log.persisted_index()

    def flush(self) -> None:
        """Send what was batched for this Ready: one heartbeat round for all reads that arrived, and the
        commit notices: all of them unless the driver defers them (``defer_commit_notices``), else
        those of followers whose forwarded proposals committed."""
        if self.role != _LEADER:
            return
        if self._read_only.has_waiting():
            self._broadcast_heartbeat()
        if not self.config.defer_commit_notices:
            self.notify_commit()
        elif self._forwarded:
            self._notify_proposers()

    def _notify_proposers(self) -> None:
        """Tell the commit index at once to each follower that holds a committed entry it forwarded and
        has not been told of: its clients wait for it to apply that entry. Deferring the notice saves a
        message only where nobody waits."""
        committed, progress = self.log.committed, self.tracker.progress
        for node_id, index in list(self._forwarded.items()):
            p = progress.get(node_id)
            if p is None:  # removed meanwhile
                del self._forwarded[node_id]
            elif index <= committed and index <= p.match:
                del self._forwarded[node_id]
                if p.sent_commit < index:
                    self._maybe_send_append(node_id, send_if_empty=True)

    def notify_commit(self) -> None:
        """Tell the new commit index to the followers that hold entries committed since they were last
        told (an APPEND with no entries)."""
        for node_id in self._owed_commit():
            self._maybe_send_append(node_id, send_if_empty=True)

    def untold_commit(self) -> int:
        """A mark of the commit notices owed, 0 if none: one more than the lowest commit index last told
        to a follower that holds entries committed since. It changes whenever such a follower is told."""
        progress = self.tracker.progress
        return min((progress[node_id].sent_commit + 1 for node_id in self._owed_commit()), default=0)

    def _owed_commit(self) -> list[int]:
        """The followers of this leader that hold entries committed since they were last told the commit
        index."""
        if self.role != _LEADER:
            return []
        committed = self.log.committed
        return [node_id for node_id, p in self.tracker.progress.items()
                if node_id != self.id and p.sent_commit < committed and p.sent_commit < p.match]

    # ------------------------------------------------------------------ proposals

    def propose(self, kind: EntryKind, datas: list[bytes]) -> bool:
        if self.role == _LEADER:
            if kind == EntryKind.CONF_CHANGE and (len(datas) != 1 or self.pending_conf_index > self.log.applied):
                return False  # one membership change at a time (thesis §4.1)
            term = self.term
            entries = [Entry(index, term, kind, data) for index, data in enumerate(datas, self.log.last_index() + 1)]
            if not self._append_as_leader(entries):
                return False
            if kind == EntryKind.CONF_CHANGE:
                self.pending_conf_index = entries[0].index
            return True
        if self.role == _FOLLOWER and self.leader != NONE:
            if datas:
                entries = [Entry(0, 0, kind, data) for data in datas]
                self._send(Message(MessageType.PROPOSE, self.id, self.leader, 0, entries=entries))
            return True
        return False

    def propose_conf_change(self, change: ConfChange, data: bytes) -> bool:
        if self.role == _LEADER and not self._valid_conf_change(change):
            return False
        return self.propose(EntryKind.CONF_CHANGE, [data])

    def _valid_conf_change(self, change: ConfChange) -> bool:
        tracker = self.tracker
        if change.type == ConfChangeType.ADD_LEARNER:
            return not tracker.is_member(change.node_id)
        if change.type == ConfChangeType.PROMOTE:
            return change.node_id in tracker.learners
        # Never remove the last voter: nobody could ever commit again.
        return tracker.is_member(change.node_id) and tracker.voters != (change.node_id,)

    def _append_forwarded(self, proposer: int, proposed: list[Entry]) -> None:
        term = self.term
        index = self.log.last_index()
        conf_change_index = 0
        entries = []
        dropped: list[Entry] = []
        for entry in proposed:
            kind = entry.kind
            if kind == EntryKind.CONF_CHANGE:
                if self.pending_conf_index > self.log.applied or conf_change_index:
                    dropped.append(entry)  # one membership change at a time
                    continue
                conf_change_index = index + 1
            elif kind != EntryKind.NORMAL:
                dropped.append(entry)
                continue
            index += 1
            entries.append(Entry(index, term, kind, entry.data))
        if not self._append_as_leader(entries):
            dropped = proposed
        else:
            if entries:
                self._forwarded[proposer] = index
            if conf_change_index:
                self.pending_conf_index = conf_change_index
        self._drop_forwarded(proposer, dropped)

    def _append_as_leader(self, entries: list[Entry]) -> bool:
        if self.lead_transferee != NONE:
            return False  # thesis §3.10: the old leader stops taking proposals during a transfer
        uncommitted = self.log.last_index() - self.log.committed
        if uncommitted and uncommitted + len(entries) > self.config.max_uncommitted_entries:
            return False
        if entries:
            self.log.append(entries)
            self._broadcast_append(send_if_empty=False)
        return True

    # ------------------------------------------------------------------ reads

    def read_index(self, context: bytes) -> None:
        if self.role == _LEADER:
            self._read_index(self.id, context)
        elif self.role == _FOLLOWER and self.leader != NONE:
            self._send(Message(MessageType.READ_INDEX, self.id, self.leader, 0, context=context))

    def _read_index(self, requester: int, context: bytes) -> None:
        log = self.log
        if log.term_or_zero(log.committed) != self.term:
            # Thesis §6.4 step 1: until an entry of its own term commits, a new leader's commit index
            # may lag entries its predecessors committed.
            self._deferred_reads.append((requester, context))
            return
        request = ReadRequest(log.committed, requester, context)
        if self.tracker.voters == (self.id,):
            self._answer_read(request)  # nobody else could be leader: no round needed
        else:
            self._read_only.add(request)

    def _answer_read(self, request: ReadRequest) -> None:
        if request.requester == self.id:
            self.read_states.append(ReadState(request.index, request.context))
        else:
            self._send(
                Message(
                    MessageType.READ_INDEX_RESP,
                    self.id,
                    request.requester,
                    self.term,
                    index=request.index,
                    context=request.context,
                )
            )

    # ------------------------------------------------------------------ membership

    def apply_conf_change(self, change: ConfChange) -> ConfState:
        """Apply a committed membership change (it takes effect when applied, as in etcd/raft)."""
        tracker = self.tracker
        if tracker.apply(change, self.log.last_index() + 1) and self.role == _LEADER:
            self._after_membership_change(change)
        return tracker.conf_state()

    def _after_membership_change(self, change: ConfChange) -> None:
        if not self.tracker.is_voter(self.id):
            # Thesis §4.2.2: a leader that is no longer a voter steps down once the change is committed.
            self.become_follower(self.term, NONE)
            return
        if self.lead_transferee != NONE and not self.tracker.is_voter(self.lead_transferee):
            self.lead_transferee = NONE
        # The majority changed size: entries may now be committed (or, after a promotion, not yet).
        if self._maybe_commit():
            self._on_commit()
        if change.type == ConfChangeType.ADD_LEARNER:
            self._maybe_send_append(change.node_id, send_if_empty=True)

    # ------------------------------------------------------------------ leadership transfer

    def transfer_leadership(self, to: int) -> None:
        """Thesis §3.10: bring ``to`` up to date, then tell it to campaign at once (TIMEOUT_NOW)."""
        if self.role != _LEADER or to == self.id or not self.tracker.is_voter(to):
            return
        if self.lead_transferee == to:
            return
        self.lead_transferee = to
        self.election_elapsed = 0  # the transfer must finish within one election timeout
        if self.tracker.progress[to].match == self.log.last_index():
            self._send(Message(MessageType.TIMEOUT_NOW, self.id, to, self.term))
        else:
            self._maybe_send_append(to, send_if_empty=True)

    # ------------------------------------------------------------------ driver feedback

    def report_unreachable(self, node_id: int) -> None:
        progress = self.tracker.progress.get(node_id)
        if self.role == _LEADER and progress is not None and progress.state == _REPLICATE:
            progress.become_probe()  # its APPENDs are likely lost: stop pipelining

    def report_snapshot(self, node_id: int, ok: bool) -> None:
        progress = self.tracker.progress.get(node_id)
        if self.role != _LEADER or progress is None or progress.state != ProgressState.SNAPSHOT:
            return
        if not ok:
            progress.pending_snapshot = 0
        progress.become_probe()
        # Wait for the follower's answer (or a heartbeat response) before probing.
        progress.paused = True
