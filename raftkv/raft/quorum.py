"""Majority arithmetic over a set of voters: the commit index they agree on and the outcome of a vote.

Pure functions of their arguments; learners are never passed in (they don't count, thesis §4.2.1).
"""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from enum import Enum


class VoteResult(Enum):
    PENDING = 0
    WON = 1
    LOST = 2


def majority(voter_count: int) -> int:
    return voter_count // 2 + 1


def committed_index(voter_match_indexes: Sequence[int]) -> int:
    """The largest index replicated on a majority, given each voter's match index (Raft §5.3); 0 without
    voters."""
    count = len(voter_match_indexes)
    if count == 1:
        return voter_match_indexes[0]
    if count == 0:
        return 0
    return sorted(voter_match_indexes, reverse=True)[majority(count) - 1]


def vote_result(voters: Collection[int], votes: Mapping[int, bool]) -> VoteResult:
    """WON once a majority granted, LOST once a majority can no longer be reached (Raft §5.2)."""
    granted = rejected = 0
    for voter in voters:
        vote = votes.get(voter)
        if vote is True:
            granted += 1
        elif vote is False:
            rejected += 1
    needed = majority(len(voters))
    if granted >= needed:
        return VoteResult.WON
    if len(voters) - rejected < needed:
        return VoteResult.LOST
    return VoteResult.PENDING


def has_majority(voters: Collection[int], agreeing: Collection[int]) -> bool:
    """Whether the ``agreeing`` nodes include a majority of ``voters``."""
    if not voters:
        return False
    return sum(1 for voter in voters if voter in agreeing) >= majority(len(voters))
