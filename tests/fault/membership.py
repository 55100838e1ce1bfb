"""Membership changes played by the nemesis, and the checks that the membership converged.

The nemesis plays these like its other faults, from the same seeded schedule (``nemesis.schedule``):

- ``member-readd``: ``RAFT MEMBER REMOVE`` a member, then ``RAFT MEMBER ADD`` the same node with its
  data dir kept, still running or restarted in between;
- ``member-replace``: remove a member, stop it, delete its data dir, start a fresh node with ``--join``
  on the same client address behind the same peer proxy, and add it;
- ``member-grow``: have a node that is no founder lead (add a spare node and wait until it is a voter
  when no spare is a member yet), ``RAFT LEADER TRANSFER`` to it, then, while it leads, add another
  spare, or remove and re-add or replace another member;
- ``leader-transfer``: ``RAFT LEADER TRANSFER`` to a voter.

Commands are sent through the members in turn until one is applied or the change's time is up; under
faults they fail (timeouts, ``CLUSTERDOWN``, ``TRYAGAIN``, another change in progress) and that is
expected. An answer that an earlier attempt already took effect counts as done. A node's data dir is
deleted only once its removal is confirmed. Whatever a change was meant to leave behind is kept in
``expected``: the slots whose node must be a voter at the end. A change cut short (its time is up, the
fault phase ended) is completed by :meth:`MemberChanges.converge`, which adds whoever is missing and
waits, bounded, until every expected node is a voter in the leader's member list.
"""
from __future__ import annotations

import functools
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from raftkv.wire.members import bootstrap_id
from tests.fault.history import connect
from tests.fault.proxy import HOST
from tests.integration.conftest import START_TIMEOUT_S, Node, wait_for

if TYPE_CHECKING:
    from tests.fault.nemesis import Fault, Nemesis

MEMBERSHIP_KINDS = ("member-readd", "member-replace", "member-grow", "leader-transfer")
VARIANTS = {
    "member-readd": ("running", "restarted"),  # the removed node, until it is added again
    "member-replace": ("",),
    "member-grow": ("add", "readd", "replace"),  # what follows once a non-founder leads
    "leader-transfer": ("",),
}
# The planned length of each change, for the schedule's total (a change takes what its commands take).
PLANNED_S = {"member-readd": 1.5, "member-replace": 2.0, "member-grow": 3.0, "leader-transfer": 0.5}

COMMAND_BUDGET_S = 10.0  # for one membership command, all its attempts together
ATTEMPT_TIMEOUT_S = 6.0  # one attempt
PROMOTION_TIMEOUT_S = 20.0  # a learner added by member-grow becoming a voter
CONVERGE_TIMEOUT_S = 45.0  # after healing: every expected node a voter
RESTART_TIMEOUT_S = 60.0  # after the restart from data dirs: the same, and a write through every node
_RETRY_S = 0.3


@dataclass(frozen=True)
class Row:
    """One member of ``RAFT MEMBER LIST``."""

    id: int
    client_addr: str
    role: str
    leader: bool
    match: int
    lag: int


def raft(node: Node, *args: str, timeout_s: float = ATTEMPT_TIMEOUT_S) -> object:
    """``RAFT args...`` on one node (RESP3, one connection, no retry)."""
    with node.client(protocol=3, socket_timeout=timeout_s, socket_connect_timeout=1.0,
                     retry=Retry(NoBackoff(), 0)) as client:
        return client.execute_command("RAFT", *args)


def member_rows(reply: object) -> list[Row]:
    assert isinstance(reply, list), reply
    return [Row(int(m[b"id"]), m[b"client_addr"].decode(), m[b"role"].decode(), bool(m[b"leader"]),
                int(m[b"match"]), int(m[b"lag"])) for m in reply]


def identity(node: Node, timeout_s: float = 2.0) -> int:
    """The node id a running node reports (``RAFT IDENTITY``, answered even while it waits to join or
    after it was removed)."""
    reply = raft(node, "IDENTITY", timeout_s=timeout_s)
    assert isinstance(reply, dict), reply
    return int(reply[b"id"])


def raft_info(node: Node, timeout_s: float = 2.0) -> dict:
    with connect(node.address, timeout_s) as client:
        return client.info("raft")


class MemberChanges:
    """The membership side of a :class:`~tests.fault.nemesis.Nemesis`: plays its membership changes and
    knows which slots must end as voters."""

    def __init__(self, nemesis: Nemesis, on_new_address: Callable[[str], None] | None = None) -> None:
        self.nemesis = nemesis
        self.cluster = nemesis.cluster
        self.log = nemesis.log
        self.on_new_address = on_new_address or (lambda _address: None)
        self.expected: set[int] = set(range(self.cluster.founders))
        self.ids: dict[int, int] = {i: bootstrap_id(self.cluster.slots[i].address)
                                    for i in range(self.cluster.founders)}
        self.played: dict[str, int] = {}
        self.completed: dict[str, int] = {}

    # -- helpers ----------------------------------------------------------------------------------

    def name(self, i: int) -> str:
        return self.cluster.slots[i].name

    def node(self, i: int) -> Node:
        node = self.cluster.nodes[i]
        assert node is not None, f"slot {self.name(i)} has no node"
        return node

    def usable(self, avoid: Iterable[int] = ()) -> list[int]:
        """Expected members with a running node that no fault has stopped or paused."""
        avoid = set(avoid)
        return [i for i in sorted(self.expected)
                if i not in avoid and self.cluster.nodes[i] is not None and not self.nemesis.held(i)]

    def command(self, args: list[str], what: str, stop_wait: Callable[[float], bool],
                done: Callable[[str], bool] = lambda _error: False, avoid: Iterable[int] = (),
                budget_s: float = COMMAND_BUDGET_S) -> bool:
        """Send ``RAFT args`` through the usable members in turn (``avoid`` excepted) until one answers
        OK or an error that ``done`` accepts (an earlier attempt took effect); False when ``budget_s``
        is up or the fault phase ended (``stop_wait`` returns True) first. An error is logged unless it
        is the same as the attempt before's."""
        deadline = time.monotonic() + budget_s
        attempt = 0
        last = ""
        while True:
            vias = self.usable(avoid)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.log.log(f"{what}: not confirmed within {budget_s:.0f}s")
                return False
            if not vias:
                error = "no member to send it through"
            else:
                via = vias[attempt % len(vias)]
                attempt += 1
                try:
                    raft(self.node(via), *args, timeout_s=max(0.5, min(ATTEMPT_TIMEOUT_S, remaining)))
                    self.log.log(f"{what}: OK (through {self.name(via)})")
                    return True
                except redis.ResponseError as exc:
                    error = str(exc)
                    if done(error):
                        self.log.log(f"{what}: done ({error}, through {self.name(via)})")
                        return True
                except (redis.RedisError, OSError) as exc:
                    error = type(exc).__name__
            if error != last:
                self.log.log(f"{what}: {error}; retrying")
                last = error
            if stop_wait(_RETRY_S):
                self.log.log(f"{what}: given up, the fault phase is over")
                return False

    def remove(self, i: int, stop_wait: Callable[[float], bool]) -> bool:
        return self.command(["MEMBER", "REMOVE", self.node(i).address], f"member remove {self.name(i)}",
                            stop_wait, done=lambda e: e.startswith("no member"), avoid={i})

    def add(self, i: int, stop_wait: Callable[[float], bool], budget_s: float = COMMAND_BUDGET_S) -> bool:
        slot = self.cluster.slots[i]  # peers reach it through its proxy: say where
        return self.command(["MEMBER", "ADD", slot.address, f"{HOST}:{slot.advertised_peer_port}"],
                            f"member add {self.name(i)}", stop_wait,
                            done=lambda e: "already a member" in e, avoid={i}, budget_s=budget_s)

    def members(self, timeout_s: float = 2.0) -> tuple[int, list[Row]] | None:
        """(slot of the leader, its member list): the leader being the usable node that says it leads
        with the highest term; None when none does or it does not answer."""
        leaders = []
        for i in self.usable():
            try:
                info = raft_info(self.node(i), timeout_s)
            except redis.RedisError:
                continue
            if info.get("role") == "leader":
                leaders.append((int(info["term"]), i))
        if not leaders:
            return None
        leader = max(leaders)[1]
        try:
            return leader, member_rows(raft(self.node(leader), "MEMBER", "LIST", timeout_s=timeout_s))
        except (redis.RedisError, OSError):
            return None

    def is_voter(self, i: int) -> bool:
        listing = self.members()
        return listing is not None and any(r.id == self.ids.get(i) and r.role == "voter" for r in listing[1])

    def wait_answers(self, node: Node, what: str) -> int:
        """Poll until a node just started answers RAFT IDENTITY; its id. Fails at once if it exits."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert node.proc is not None
            if node.proc.poll() is not None:
                raise AssertionError(f"waiting for {what}: it exited with {node.proc.returncode}; "
                                     f"{node.log_path}:\n{node.log()[-2000:]}")
            try:
                return identity(node)
            except (redis.RedisError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise AssertionError(f"timed out after {START_TIMEOUT_S:.0f}s waiting for {what} "
                                         f"(last error: {exc!r}); {node.log_path}") from None
            time.sleep(0.1)  # the poll interval

    def spawn(self, i: int) -> Node:
        """A fresh node in slot i, started with --join, answering, and named in every proxy."""
        join = self.node(self.usable(avoid={i})[0]).address
        fresh = self.cluster.spawn(i, join)
        node_id = self.wait_answers(fresh, f"the fresh {self.name(i)} to answer")
        self.ids[i] = node_id
        self.cluster.network.name_node(node_id, self.name(i))
        self.log.log(f"started a fresh {self.name(i)} with --join {join} (id {node_id}, pid {fresh.supervisor_pid}, "
                     f"empty data dir {fresh.data_dir.name})")
        self.on_new_address(fresh.address)
        return fresh

    def victim(self, fault: Fault, avoid: Iterable[int] = ()) -> int | None:
        """The first expected member in the fault's order that is usable and not in ``avoid``; None
        when there is none or removing it would leave no voter to send commands through."""
        usable = self.usable(avoid)
        candidates = [i for i in fault.order if i in usable]
        if not candidates or len(self.usable()) < 2:
            return None
        return candidates[0]

    # -- the changes --------------------------------------------------------------------------------

    def play(self, fault: Fault, stop_wait: Callable[[float], bool]) -> None:
        self.played[fault.kind] = self.played.get(fault.kind, 0) + 1
        if fault.kind == "member-readd":
            done = self.readd(fault, stop_wait, restart=fault.variant == "restarted")
        elif fault.kind == "member-replace":
            done = self.replace(fault, stop_wait)
        elif fault.kind == "member-grow":
            done = self.grow(fault, stop_wait)
        elif fault.kind == "leader-transfer":
            done = self.transfer(fault, stop_wait)
        else:
            raise ValueError(f"unknown membership change {fault.kind!r}")
        if done:
            self.completed[fault.kind] = self.completed.get(fault.kind, 0) + 1

    def readd(self, fault: Fault, stop_wait: Callable[[float], bool], restart: bool,
              avoid: Iterable[int] = ()) -> bool:
        i = self.victim(fault, avoid)
        if i is None:
            self.log.log("member-readd: no member to remove")
            return False
        name, node = self.name(i), self.node(i)
        self.log.log(f"member-readd: remove {name} ({node.address}) and add it again, data dir kept, "
                     + ("restarted" if restart else "still running") + " in between")
        if not self.remove(i, stop_wait):
            return False
        if restart:
            node.stop()
            node.start(wait=False)
            self.wait_answers(node, f"{name} to answer after its restart")
            self.log.log(f"restarted {name} from its data dir (pid {node.supervisor_pid})")
        return self.add(i, stop_wait)

    def replace(self, fault: Fault, stop_wait: Callable[[float], bool], avoid: Iterable[int] = ()) -> bool:
        i = self.victim(fault, avoid)
        if i is None:
            self.log.log("member-replace: no member to replace")
            return False
        name, old = self.name(i), self.node(i)
        self.log.log(f"member-replace: replace {name} ({old.address}) with a fresh node")
        if not self.remove(i, stop_wait):
            return False  # it may still be a member: its data stays
        pid = old.supervisor_pid
        old.stop()
        shutil.rmtree(old.data_dir)
        self.log.log(f"stopped {name} (pid {pid}) and deleted its data dir {old.data_dir.name}")
        self.spawn(i)
        return self.add(i, stop_wait)

    def grow(self, fault: Fault, stop_wait: Callable[[float], bool]) -> bool:
        founders = self.cluster.founders
        members = [i for i in fault.order if i >= founders and i in self.usable()]
        unused = [i for i in fault.order if i >= founders and self.cluster.nodes[i] is None]
        self.log.log(f"member-grow: a node that is no founder leads, then {fault.variant} another")
        if members:
            lead = members[0]
            if not self.is_voter(lead) and not self.add(lead, stop_wait):  # an add cut short before
                return False
        elif unused:
            lead = unused.pop(0)
            self.expected.add(lead)
            self.spawn(lead)
            if not self.add(lead, stop_wait):
                return False
        else:
            self.log.log("member-grow: no spare slot left")
            return False
        name = self.name(lead)
        try:
            wait_for(lambda: stop_wait(0) or self.is_voter(lead), PROMOTION_TIMEOUT_S, f"{name}'s promotion",
                     interval_s=0.2)
        except AssertionError:
            self.log.log(f"{name} is still no voter after {PROMOTION_TIMEOUT_S:.0f}s")
            return False
        if stop_wait(0):
            return False
        self.log.log(f"{name} is a voter")
        if not self.transfer_to(lead, stop_wait):
            return False
        if fault.variant == "add" and unused:
            extra = unused[0]
            self.log.log(f"member-grow: add {self.name(extra)} while {name} leads")
            self.expected.add(extra)
            self.spawn(extra)
            return self.add(extra, stop_wait)
        if fault.variant == "replace":
            return self.replace(fault, stop_wait, avoid={lead})
        return self.readd(fault, stop_wait, restart=fault.pick % 2 == 1, avoid={lead})

    def transfer(self, fault: Fault, stop_wait: Callable[[float], bool]) -> bool:
        listing = self.members()
        if listing is None:
            self.log.log("leader-transfer: no leader answers")
            return False
        leader, rows = listing
        voters = {r.id for r in rows if r.role == "voter"}
        targets = [i for i in fault.order if i in self.usable(avoid={leader}) and self.ids.get(i) in voters]
        if not targets:
            self.log.log("leader-transfer: no other voter to lead")
            return False
        self.log.log(f"leader-transfer: from {self.name(leader)} to {self.name(targets[0])}")
        return self.transfer_to(targets[0], stop_wait)

    def transfer_to(self, i: int, stop_wait: Callable[[float], bool]) -> bool:
        """RAFT LEADER TRANSFER to slot i, then poll (briefly) that it says it leads."""
        name = self.name(i)
        if not self.command(["LEADER", "TRANSFER", self.node(i).address], f"leader transfer to {name}", stop_wait):
            return False
        try:
            wait_for(lambda: raft_info(self.node(i)).get("role") == "leader", 5.0, f"{name} to lead", interval_s=0.1)
        except AssertionError:
            self.log.log(f"{name} does not lead (leadership moved on?)")
            return False
        self.log.log(f"{name} leads")
        return True

    # -- after the faults ---------------------------------------------------------------------------

    def converge(self, timeout_s: float = CONVERGE_TIMEOUT_S) -> None:
        """With every fault healed: add every expected node that is not a member, remove members
        whose address is an expected slot's but whose id is no longer its node's, and wait until every
        expected node is a voter in the leader's member list and ``kvsctl member list`` says so too.
        Raises AssertionError naming the nodes that did not get there."""
        self.log.log("membership: waiting for every expected node to be a voter: "
                     + ", ".join(self.name(i) for i in sorted(self.expected)))
        deadline = time.monotonic() + timeout_s
        tried: dict[int, float] = {}  # slot -> when its add or stale removal was last sent
        listing: tuple[int, list[Row]] | None = None
        while True:
            listing = self.members() or listing
            if listing is not None and not self._missing(listing[1]) and self._kvsctl_agrees(listing[0]):
                self.log.log("membership converged: " + ", ".join(self.name(i) for i in sorted(self.expected))
                             + " are voters")
                return
            if time.monotonic() >= deadline:
                raise AssertionError(self._not_converged(listing, timeout_s))
            if listing is not None:
                by_addr = {r.client_addr: r for r in listing[1]}
                for i in sorted(self.expected):
                    row = by_addr.get(self.node(i).address)
                    if time.monotonic() - tried.get(i, -1e9) < COMMAND_BUDGET_S:
                        continue
                    if row is None:
                        tried[i] = time.monotonic()
                        self.add(i, _pause, budget_s=min(COMMAND_BUDGET_S, max(1.0, deadline - time.monotonic())))
                    elif row.id != self.ids[i]:
                        tried[i] = time.monotonic()
                        self.command(["MEMBER", "REMOVE", str(row.id)], f"member remove stale id {row.id} of "
                                     f"{self.name(i)}", _pause, done=lambda e: e.startswith("no member"))
            time.sleep(0.2)  # the poll interval

    def _missing(self, rows: list[Row]) -> list[int]:
        voters = {r.id for r in rows if r.role == "voter"}
        return [i for i in sorted(self.expected) if self.ids.get(i) not in voters]

    def _kvsctl_agrees(self, leader: int) -> bool:
        """``kvsctl member list --json`` through the leader lists every expected node as a voter."""
        listed = _kvsctl(self.node(leader).address, "--json")
        if listed.returncode != 0:
            return False
        voters = {(m["id"], m["client_addr"]) for m in json.loads(listed.stdout) if m.get("role") == "voter"}
        return all((self.ids[i], self.node(i).address) in voters for i in self.expected)

    def _not_converged(self, listing: tuple[int, list[Row]] | None, timeout_s: float) -> str:
        lines = [f"membership did not converge within {timeout_s:.0f}s after healing: expected voters "
                 + ", ".join(self.name(i) for i in sorted(self.expected))]
        rows = {} if listing is None else {r.id: r for r in listing[1]}
        for i in (sorted(self.expected) if listing is None else self._missing(listing[1])):
            node = self.node(i)
            row = rows.get(self.ids.get(i, -1))
            state = "not in the member list" if row is None else f"a {row.role} (match {row.match}, lag {row.lag})"
            lines.append(f"  {self.name(i)} {node.address} id {self.ids.get(i)} never became a voter: {state}; "
                         f"its log: {node.log_path}")
        if listing is None:
            lines.append("no leader answered RAFT MEMBER LIST")
        else:
            leader = self.node(listing[0])
            lines.append(f"RAFT MEMBER LIST on the leader {self.name(listing[0])} ({leader.address}):")
            lines += [f"  {r}" for r in listing[1]]
            table = _kvsctl(leader.address)
            lines.append("kvsctl member list:\n" + (table.stdout or table.stderr).rstrip())
        lines.append("server logs: " + ", ".join(str(n.log_path) for n in self.cluster.started))
        return "\n".join(lines)

    def restart_from_data_dirs(self, probe: Callable[[str, str], bool], timeout_s: float = RESTART_TIMEOUT_S) -> None:
        """Stop every node, start every expected one again from its data dir, and wait until every one
        is a voter again and accepts a write (``probe(address, value)``)."""
        for node in self.cluster.started:
            node.stop()
        self.log.log("stopped every node; starting " + ", ".join(self.name(i) for i in sorted(self.expected))
                     + " again from their data dirs")
        for i in sorted(self.expected):
            self.node(i).start(wait=False)
        deadline = time.monotonic() + timeout_s
        listing: tuple[int, list[Row]] | None = None
        while True:
            listing = self.members() or listing
            if listing is not None and not self._missing(listing[1]):
                break
            if time.monotonic() >= deadline:
                raise AssertionError("after the restart from data dirs: " + self._not_converged(listing, timeout_s))
            time.sleep(0.2)  # the poll interval
        for i in sorted(self.expected):
            address, name = self.node(i).address, self.name(i)
            wait_for(functools.partial(probe, address, f"restarted-{name}"), max(1.0, deadline - time.monotonic()),
                     f"{name} to accept a write after the restart")
        self.log.log("after the restart every expected node is a voter and accepts a write")

    def summary(self) -> str:
        return ", ".join(f"{kind} {self.completed.get(kind, 0)}/{self.played[kind]}" for kind in MEMBERSHIP_KINDS
                         if kind in self.played) or "none"


def _pause(seconds: float) -> bool:
    """A ``stop_wait`` once the fault phase is over: wait, and never stop early."""
    time.sleep(seconds)
    return False


def _kvsctl(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kvsctl", "-a", address, "member", "list", *args],
                          capture_output=True, text=True, timeout=30)
