"""`kvsctl snapshot restore` offline, in-process: the data dir it writes, the RESP commands of every type,
and one-line failures. (Saving from real nodes: tests/integration/test_backup.py.)"""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from kvsctl.resp_dump import write_resp
from raftkv.kv.datatypes import Hash, List, Set, ZSet
from raftkv.kv.state_machine import StateMachine
from raftkv.node.disk import DiskStorage
from raftkv.node.snapshots.snapshot_file import SNAPSHOT_DIR, latest_snapshot, load_snapshot, write_snapshot
from raftkv.raft.types import ConfState, SnapshotMeta
from raftkv.wire.members import decode_members
from raftkv.wire.resp import RequestParser
from tests.kvsctl.scripted import run

NOW_MS = 1_000_000


def state() -> StateMachine:
    sm = StateMachine()
    sm.applied_index = 42
    sm.put(b"s", b"v")
    sm.put(b"h", Hash({b"f": b"1"}))
    sm.put(b"l", List([b"b%d" % i for i in range(2500)]))
    sm.put(b"set", Set([b"2", b"1"]))
    sm.put(b"z", ZSet([(b"a", 0.1), (b"b", float("inf"))]))
    sm.put(b"gone", b"x")
    sm.set_expiry(b"h", NOW_MS + 5000, NOW_MS)
    sm.set_expiry(b"gone", NOW_MS + 1, 0)
    return sm


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    return write_snapshot(tmp_path / "src", state(), SnapshotMeta(42, 7, ConfState(voters=(1, 2, 3))), b"[]")


def commands(sm: StateMachine, now_ms: int) -> list[list[bytes]]:
    out = io.BytesIO()
    write_resp(sm, out, now_ms)
    parser = RequestParser(1 << 20, 1 << 20, 1 << 16)
    parser.feed(out.getvalue())
    return parser.pop_commands()


def test_resp_commands_per_type_in_batches_with_absolute_expiry_times() -> None:
    sent = commands(state(), NOW_MS + 1)
    assert [argv[:2] for argv in sent] == [
        [b"DEL", b"h"], [b"HSET", b"h"], [b"PEXPIREAT", b"h"], [b"DEL", b"l"], [b"RPUSH", b"l"],
        [b"RPUSH", b"l"], [b"RPUSH", b"l"], [b"SET", b"s"], [b"DEL", b"set"], [b"SADD", b"set"],
        [b"DEL", b"z"], [b"ZADD", b"z"]]  # "gone" had expired
    assert sent[2] == [b"PEXPIREAT", b"h", b"%d" % (NOW_MS + 5000)]
    assert [len(argv) - 2 for argv in sent[4:7]] == [1000, 1000, 500]
    assert sent[9] == [b"SADD", b"set", b"1", b"2"] and sent[11] == [b"ZADD", b"z", b"0.1", b"a", b"inf", b"b"]


def test_restore_writes_a_new_one_node_cluster(snapshot: Path, tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = run("snapshot", "restore", str(snapshot), "--data-dir", str(target),
                 "--client-address", "127.0.0.1:4000")
    assert result.exit_code == 0, result.stderr
    assert "--host 127.0.0.1 --port 4000 --peer-port 14000" in result.stdout
    latest = latest_snapshot(target / SNAPSHOT_DIR)
    assert latest is not None
    [member] = decode_members(latest.members).values()
    assert (member.client_addr, member.peer_addr) == ("127.0.0.1:4000", "127.0.0.1:14000")
    assert latest.meta == SnapshotMeta(42, 7, ConfState(voters=(member.id,)))
    assert load_snapshot(latest.path)[2].digest() == state().digest()
    disk = DiskStorage(target)
    try:
        assert int(disk.get_meta("node_id") or b"0") == member.id
        assert disk.conf_state() == ConfState(voters=(member.id,))
        assert disk.hard_state().commit == 42 and disk.get_meta("cluster_id")
    finally:
        disk.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "src"]  # no temporary dir left


def test_failures_are_one_line(snapshot: Path, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").touch()
    damaged = tmp_path / "damaged.snap"
    damaged.write_bytes(snapshot.read_bytes()[:-1] + b"?")
    cases = [
        (["snapshot", "restore", str(snapshot), "--data-dir", str(tmp_path / "full")], 1,
         f"kvsctl: data dir {tmp_path / 'full'} is not empty: restore into a new directory\n"),
        (["snapshot", "restore", str(damaged), "--data-dir", str(tmp_path / "d")], 1,
         f"kvsctl: snapshot {damaged} fails its checksum (truncated or damaged)\n"),
        (["snapshot", "restore", str(tmp_path / "absent"), "--format", "resp"], 1,
         f"kvsctl: cannot read snapshot {tmp_path / 'absent'}: No such file or directory\n"),
        (["snapshot", "restore", str(snapshot)], 2,
         "kvsctl: --format data-dir needs --data-dir and takes no --output (see 'kvsctl snapshot restore --help')\n"),
        (["snapshot", "restore", str(snapshot), "--data-dir", str(tmp_path / "d"), "--client-address", "nope"], 1,
         "kvsctl: bad address 'nope': expected host:port\n"),
    ]
    for args, code, stderr in cases:
        result = run(*args)
        assert (result.exit_code, result.stderr, result.stdout) == (code, stderr, ""), args
    assert not (tmp_path / "d").exists()


def test_resp_output_file(snapshot: Path, tmp_path: Path) -> None:
    out = tmp_path / "dump.resp"
    result = run("snapshot", "restore", str(snapshot), "--format", "resp", "-o", str(out))
    assert (result.exit_code, result.stdout) == (0, "")
    # Written now, long after the keys' 1970 expiry times: "gone" and "h" are left out.
    assert out.read_bytes().startswith(b"*2\r\n$3\r\nDEL\r\n$1\r\nl\r\n*1002\r\n$5\r\nRPUSH\r\n")
