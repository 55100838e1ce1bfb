"""Moving slots between groups of real nodes while clients use them: the keys arrive with their types and
TTLs, clients follow -ASK, -TRYAGAIN and -MOVED, a move interrupted at any step is finished by running it
again, and clients stay linearizable through a move with crashes and pauses."""
from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable

import pytest
import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from kvsctl.cluster import ClusterFailure, current_map, group_state, status
from kvsctl.resharding import move_slots
from raftkv.client import RespError
from raftkv.sharding.slot_map import SlotMap, with_slots_moved
from raftkv.sharding.slots import key_slot
from raftkv.sharding.state import node_id
from tests.fault.checker import check
from tests.fault.history import Client, History, Outcome
from tests.integration.conftest import Cluster, Node, wait_for
from tests.sharding.conftest import Sharded, ask

pytestmark = pytest.mark.integration

MOVED_SLOTS = list(range(8000, 8192))  # the top of group g1's half


def keys_in(slots: list[int], count: int, prefix: str = "m") -> list[str]:
    wanted = set(slots)
    found = []
    i = 0
    while len(found) < count:
        key = f"{prefix}{i}"
        if key_slot(key.encode()) in wanted:
            found.append(key)
        i += 1
    return found


def owner_of(slot_map: SlotMap, slot: int) -> str:
    return slot_map.groups[slot_map.owners()[slot]].name


def everywhere(sharded: Sharded, epoch: int) -> None:
    """Every node has applied a map of ``epoch`` or later."""
    for node in sharded.nodes:
        wait_for(lambda n=node: group_state(ask, (n.address,))[0].epoch >= epoch, 10,
                 f"{node.address} at epoch {epoch}")


def test_a_range_of_slots_moves_with_its_keys_types_and_ttls(make_sharded: Callable[..., Sharded]) -> None:
    sharded = make_sharded(2, 1)
    g1, g2 = (g.nodes[0] for g in sharded.groups)
    c1 = g1.client(protocol=2)
    strings = keys_in(MOVED_SLOTS, 150)
    for key in strings:
        c1.set(key, f"v-{key}")
    h, lst, st, z, ttl_key = keys_in(MOVED_SLOTS, 5, "t")
    c1.hset(h, mapping={"a": "1", "b": "2"})
    c1.rpush(lst, "x", "y", "z")
    c1.sadd(st, "p", "q")
    c1.zadd(z, {"m": 1.5, "n": 2.5})
    c1.set(ttl_key, "soon", px=60_000)
    stay = keys_in(list(range(0, 100)), 5, "s")
    for key in stay:
        c1.set(key, "stays")
    lines: list[str] = []
    new = move_slots(ask, g1.address, "g1", "g2", MOVED_SLOTS, progress=lines.append, batch_keys=40)
    assert new.epoch == 2 and all(owner_of(new, s) == "g2" for s in MOVED_SLOTS)
    assert any("keys copied" in line for line in lines), lines
    everywhere(sharded, 2)
    c2 = g2.client(protocol=2)
    for key in strings:
        assert c2.get(key) == f"v-{key}".encode()
        with pytest.raises(redis.exceptions.MovedError):
            c1.get(key)
    assert c2.hgetall(h) == {b"a": b"1", b"b": b"2"} and c2.lrange(lst, 0, -1) == [b"x", b"y", b"z"]
    assert c2.smembers(st) == {b"p", b"q"} and c2.zrange(z, 0, -1, withscores=True) == [(b"m", 1.5), (b"n", 2.5)]
    assert 55_000 < c2.pttl(ttl_key) <= 60_000
    assert c1.execute_command("DBSIZE") == len(stay) and c2.execute_command("DBSIZE") == len(strings) + 5
    # CLUSTER SLOTS and SHARDS of both groups say so.
    for client in (c1, c2):
        ranges = {(r[0], r[1]): r[2][1] for r in client.execute_command("CLUSTER", "SLOTS")}
        assert ranges[(8000, 16383)] == g2.port and ranges[(0, 7999)] == g1.port
    for node in (g1, g2):
        shards = node.client(protocol=3).execute_command("CLUSTER", "SHARDS")
        assert [s[b"slots"] for s in shards] == [[0, 7999], [8000, 16383]]
    rc = RedisCluster(startup_nodes=sharded.startup_nodes(), socket_timeout=10)
    try:
        assert [rc.get(k) for k in strings[:20]] == [f"v-{k}".encode() for k in strings[:20]]
        assert rc.get(stay[0]) == b"stays"
    finally:
        rc.close()
    # Moving them again is a no-op that says so.
    lines.clear()
    assert move_slots(ask, g1.address, "g1", "g2", MOVED_SLOTS, progress=lines.append).epoch == 2
    assert any("already" in line for line in lines)


def raw(node: Node) -> redis.Redis:
    """One connection that follows no redirection (ASKING must reach the next command's connection)."""
    return node.client(protocol=2, single_connection_client=True)


def nodes_text(node: Node) -> str:
    reply = ask(node.address, "CLUSTER", "NODES")
    return (reply if isinstance(reply, bytes) else reply.data).decode()


def test_clients_see_ask_asking_and_tryagain_while_a_slot_moves(make_sharded: Callable[..., Sharded]) -> None:
    sharded = make_sharded(2, 1)
    g1, g2 = (g.nodes[0] for g in sharded.groups)
    slot = 8100
    here, absent, buffered = (f"{{{tag}}}" for tag in keys_in([slot], 3, "tag"))
    c1, c2 = raw(g1), raw(g2)
    c1.set(here + "a", "1")
    c1.set(buffered + "b", "2")
    parked: list[object] = []

    def blpop() -> None:  # parked at the source on a list of the slot, before the move starts
        try:
            parked.append(raw(g1).blpop([absent + "list"], 30))
        except redis.RedisError as exc:
            parked.append(exc)

    waiting = threading.Thread(target=blpop, daemon=True)
    waiting.start()
    wait_for(lambda: c1.info("clients")["blocked_clients"] == 1, 10, "the BLPOP to park")
    assert ask(g2.address, "RAFT", "SLOTS", "IMPORTING", "g1", str(slot)) == "OK"
    assert ask(g1.address, "RAFT", "SLOTS", "MIGRATING", "g2", str(slot)) == "OK"
    waiting.join(10)  # tried again once the slot migrates: its list is not here, so it is sent there
    assert len(parked) == 1 and isinstance(parked[0], redis.exceptions.AskError), parked
    # The source serves keys it has, sends keys it has not to the target, refuses a mix.
    assert c1.get(here + "a") == b"1"
    with pytest.raises(redis.exceptions.AskError, match=f"{slot} {g2.address}"):
        c1.get(absent + "c")
    with pytest.raises(redis.exceptions.AskError):
        c1.set(absent + "c", "x")
    with pytest.raises(redis.exceptions.TryAgainError, match="Multiple keys request during rehashing of slot"):
        c1.mget(here + "a", here + "missing")
    # The target serves the slot only to a command right after ASKING.
    with pytest.raises(redis.exceptions.MovedError, match=f"{slot} {g1.address}"):
        c2.get(absent + "c")
    assert c2.execute_command("ASKING") and c2.set(absent + "c", "at-target")
    with pytest.raises(redis.exceptions.MovedError):
        c2.get(absent + "c")  # ASKING lasts one command
    assert c2.execute_command("ASKING") and c2.get(absent + "c") == b"at-target"
    # redis-cli -c follows the ASK.
    cli = subprocess.run(["redis-cli", "-c", "-p", str(g1.port), "SET", absent + "d", "by-cli"],
                         capture_output=True, text=True, timeout=20, check=True)
    assert cli.stdout.strip() == "OK"
    assert c2.execute_command("ASKING") and c2.get(absent + "d") == b"by-cli"
    # CLUSTER NODES marks the moving slot as Redis does; kvsctl cluster status shows it.
    assert f"[{slot}->-{node_id(g2.address)}]" in nodes_text(g1)
    assert f"[{slot}-<-{node_id(g1.address)}]" in nodes_text(g2)
    rows = {row["group"]: row for row in status(ask, g1.address)}
    assert rows["g1"]["migrating"] == f"{slot}->g2" and rows["g2"]["importing"] == f"{slot}<-g1"
    # A key taken out for a batch is neither here nor surely there: TRYAGAIN until the batch is released.
    batch = ask(g1.address, "RAFT", "SLOTS", "EXPORT", "g2", "1")
    taken = batch[1].decode()
    assert len(batch) == 4 and taken in (here + "a", buffered + "b")  # id, then one key, payload, expiry
    with pytest.raises(redis.exceptions.TryAgainError, match=f"Key being moved during rehashing of slot {slot}"):
        c1.get(taken)
    # A map that gives the slot away is refused while the source still holds keys or a batch of it.
    unfinished = with_slots_moved(current_map(ask, g1.address), [slot], "g2")
    refusal = ask(g1.address, "RAFT", "SLOTS", "SET", str(unfinished.epoch), unfinished.encode())
    assert isinstance(refusal, RespError) and "not released" in refusal.message
    # Finishing the move: the same batch again, imported, then the rest; then MOVED to the new owner.
    move_slots(ask, g1.address, "g1", "g2", [slot])
    everywhere(sharded, 2)
    with pytest.raises(redis.exceptions.MovedError, match=f"{slot} {g2.address}"):
        c1.get(here + "a")
    assert [c2.get(k) for k in (here + "a", buffered + "b", absent + "c", absent + "d")] == [
        b"1", b"2", b"at-target", b"by-cli"]
    assert c1.execute_command("DBSIZE") == 0
    assert "->-" not in nodes_text(g1) and "-<-" not in nodes_text(g2)


class Crash(Exception):
    """The coordinator dying right after a step took effect (its reply lost)."""


def crashing(after: str, nth: int = 1) -> Callable[..., object]:
    """kvsctl's one-command call, dying once the ``nth`` ``RAFT SLOTS <after>`` has been sent."""
    seen = 0

    def call(address: str, *argv: bytes | str) -> object:
        nonlocal seen
        reply = ask(address, *argv)
        if argv[:3] == ("RAFT", "SLOTS", after):
            seen += 1
            if seen == nth:
                raise Crash(after)
        return reply

    return call


def digests(group: Cluster) -> set[bytes]:
    group.wait_caught_up()
    return {n.client(protocol=2).execute_command("DEBUG", "DIGEST") for n in group.nodes}


def test_a_move_stopped_at_any_step_is_finished_by_running_it_again(make_sharded: Callable[..., Sharded]) -> None:
    # Snapshots every 25 entries: the moves' state (an unreleased batch too) must travel in them.
    sharded = make_sharded(2, 3, extra_args=["--snapshot-entries", "25"])
    src, dst = sharded.groups
    ranges = {"EXPORT": list(range(8100, 8120)), "IMPORT": list(range(8120, 8140)), "SET": list(range(8140, 8160))}
    values = {key: f"v-{key}" for slots in ranges.values() for key in keys_in(slots, 30)}
    rc = RedisCluster(startup_nodes=sharded.startup_nodes(), socket_timeout=10)
    try:
        for key, value in values.items():
            rc.set(key, value)
        victim = src.leader()
        alive = next(n for n in src.nodes if n is not victim).address
        for step, slots in ranges.items():
            with pytest.raises(Crash):
                move_slots(crashing(step, 2 if step == "EXPORT" else 1), alive, "g1", "g2", slots, batch_keys=10)
            if step == "EXPORT":
                # ...and the source's leader with it: its successor holds the same unreleased batch.
                victim.kill_all()
                src.leader(among=[n for n in src.nodes if n is not victim])
            move_slots(ask, alive, "g1", "g2", slots, batch_keys=10)
        victim.start()
        final = current_map(ask, dst.nodes[0].address)
        assert all(owner_of(final, s) == "g2" for slots in ranges.values() for s in slots)
        everywhere(sharded, final.epoch)
        # Every key once, at the target, with its value; none left at the source, whose nodes agree.
        assert {k: rc.get(k) for k in values} == {k: v.encode() for k, v in values.items()}
        for node in src.nodes:
            assert node.client(protocol=2).execute_command("DBSIZE") == 0
        assert dst.leader().client(protocol=2).execute_command("DBSIZE") == len(values)
        assert len(digests(src)) == 1 and len(digests(dst)) == 1
        assert all(src.raft_info(n)["snapshot_index"] > 0 for n in src.nodes)
    finally:
        rc.close()


def test_clients_stay_linearizable_through_a_move_with_crashes_and_pauses(
        make_sharded: Callable[..., Sharded]) -> None:
    sharded = make_sharded(2, 3)
    src, dst = sharded.groups
    slots = list(range(8150, 8192))
    keys = keys_in(slots, 6, "hot")
    filler = keys_in(slots, 400, "cold")
    history = History()
    stop = threading.Event()
    seeded = random.Random(7)

    def cluster_client() -> RedisCluster:
        return RedisCluster(startup_nodes=sharded.startup_nodes(), socket_timeout=2, retry=Retry(NoBackoff(), 0))

    setup = cluster_client()
    pipe = setup.pipeline(transaction=False)
    for key in filler:
        pipe.set(key, "cold")
    pipe.execute()
    setup.close()

    def run_client(index: int) -> None:
        # Any error the cluster client gives up with leaves a write's outcome unknown (a GET failed).
        client = Client(f"c{index}", index, ["cluster"], keys, history, random.Random(seeded.random()), stop,
                        expected_errors=())
        rc = cluster_client()
        try:
            while not stop.is_set():
                if not client._one(rc, "cluster"):
                    stop.wait(0.05)
        finally:
            rc.close()

    threads = [threading.Thread(target=run_client, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    moved = threading.Event()
    failures: list[str] = []

    def coordinate() -> None:
        # An operator running the same move-slots again until it completes.
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            alive = [n.address for n in src.nodes if n.proc is not None and n.proc.poll() is None]
            try:
                move_slots(ask, alive[0], "g1", "g2", slots, batch_keys=4)
                moved.set()
                return
            except ClusterFailure as exc:
                failures.append(str(exc))
                time.sleep(0.5)

    coordinator = threading.Thread(target=coordinate, daemon=True)
    time.sleep(1.0)
    coordinator.start()
    wait_for(lambda: ask(dst.leader().address, "DBSIZE") >= 20, 20, "the first batches at the target")
    victim = src.leader()
    victim.kill_all()  # the source's leader, mid-move
    paused = dst.followers(dst.leader())[0]
    paused.signal_all(signal.SIGSTOP)
    time.sleep(2.0)
    paused.signal_all(signal.SIGCONT)
    victim.start()
    coordinator.join(45)
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join(10)
    assert moved.is_set(), f"the move did not complete: {failures[-3:]}"
    everywhere(sharded, current_map(ask, dst.nodes[0].address).epoch)
    rc = cluster_client()
    try:
        for key in keys:  # the final reads are part of the history: a lost acknowledged write shows
            call_ns = time.monotonic_ns()
            value = rc.get(key)
            history.record("final", "cluster", "get", key, None, call_ns, time.monotonic_ns(), Outcome.OK,
                           None if value is None else value.decode())
        assert all(rc.get(k) == b"cold" for k in filler)
    finally:
        rc.close()
    report = check(history.ops)
    assert report.linearizable, report.describe(history.start_ns)
    acknowledged = sum(1 for op in history.ops if op.completed and op.kind != "get")
    assert acknowledged >= 30, f"only {acknowledged} acknowledged writes"
    unknown = sum(1 for op in history.ops if not op.completed)
    print(f"{len(history.ops)} operations ({acknowledged} acknowledged writes, {unknown} failed or unknown), "
          f"move re-run {len(failures)} times: linearizable")
    for node in src.nodes:
        assert node.client(protocol=2).execute_command("DBSIZE") == 0
    assert len(digests(src)) == 1 and len(digests(dst)) == 1
