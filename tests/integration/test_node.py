"""One real node, through redis-py and raw sockets: commands, ordering, errors, limits, crashes."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
import redis

from tests.integration.conftest import Node, free_port, is_alive, wait_for

pytestmark = pytest.mark.integration


def raw(node: Node, payload: bytes, timeout_s: float = 5.0) -> bytes:
    """Send ``payload`` on a fresh connection and read until the server closes it or goes quiet."""
    with socket.create_connection((node.host, node.port), timeout=timeout_s) as sock:
        sock.sendall(payload)
        return _read_all(sock)


def _read_all(sock: socket.socket, quiet_s: float = 0.5) -> bytes:
    sock.settimeout(quiet_s)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data
        if not chunk:
            return data
        data += chunk


@pytest.mark.parametrize("protocol", [2, 3])
def test_string_commands_match_redis(node: Node, protocol: int) -> None:
    c = node.client(protocol=protocol)
    assert c.get("missing") is None
    assert c.set("k1", "v1") is True
    assert c.get("k1") == b"v1"
    assert c.set("k2", b"\x00\xffbinary\r\n") is True
    assert c.get("k2") == b"\x00\xffbinary\r\n"
    assert c.exists("k1", "k2", "k1", "nope") == 3
    assert c.dbsize() == 2
    assert c.delete("k1", "k1", "nope") == 1
    assert c.get("k1") is None
    assert c.execute_command("sEt", "k3", "x") is True  # names are case-insensitive
    assert c.execute_command("GeT", "k3") == b"x"


@pytest.mark.parametrize("protocol", [2, 3])
def test_error_replies_are_redis_7s(node: Node, protocol: int) -> None:
    c = node.client(protocol=protocol)
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("FOO", "a", "b")
    assert str(e.value) == "unknown command 'FOO', with args beginning with: 'a' 'b' "
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("GET")
    assert str(e.value) == "wrong number of arguments for 'get' command"
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("SET", "k", "v", "BOGUS")
    assert str(e.value) == "syntax error"
    assert c.ping() is True  # the connection survives errors


def test_raw_replies_and_inline_commands(node: Node) -> None:
    assert raw(node, b"SET a b\r\nGET a\r\nGET nope\r\nPING\r\nEXISTS a a\r\nQUIT\r\n") == (
        b"+OK\r\n$1\r\nb\r\n$-1\r\n+PONG\r\n:2\r\n+OK\r\n"
    )
    assert raw(node, b'SET "sp ace" \'it\'\'s\'\r\n') == b"-ERR Protocol error: unbalanced quotes in request\r\n"
    assert raw(node, b'set "sp ace" "x\\ty"\r\nget "sp ace"\r\nquit\r\n') == b"+OK\r\n$3\r\nx\ty\r\n+OK\r\n"
    assert raw(node, b"HELLO 3\r\nGET nope\r\nQUIT\r\n").endswith(b"_\r\n+OK\r\n")


def test_pipelined_commands_take_effect_in_order(node: Node) -> None:
    clients = [node.client(protocol=p) for p in (2, 3, 2, 3)]
    for n, c in enumerate(clients):
        pipe = c.pipeline(transaction=False)
        for i in range(300):
            pipe.set(f"order:{n}", i)
            pipe.get(f"order:{n}")
            if i % 7 == 0:
                pipe.delete(f"order:{n}")
                pipe.exists(f"order:{n}")
        replies = pipe.execute()
        it = iter(replies)
        for i in range(300):
            assert next(it) is True
            assert next(it) == str(i).encode()
            if i % 7 == 0:
                assert next(it) == 1
                assert next(it) == 0


def test_resp3_handshake_info_and_client_commands(node: Node) -> None:
    c = node.client()  # redis-py speaks RESP3 by default and sends HELLO 3 + CLIENT SETINFO
    c.set("some", "key")
    hello = c.execute_command("HELLO", "3")
    assert hello[b"proto"] == 3 and hello[b"server"] == b"redis" and hello[b"version"].startswith(b"7.")
    assert c.client_setname("app-1") is True
    assert c.client_getname() == "app-1" or c.client_getname() == b"app-1"
    assert isinstance(c.client_id(), int)
    assert c.echo("hi") == b"hi"
    assert c.execute_command("SELECT", "0") == b"OK" or c.execute_command("SELECT", "0") is True
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        c.execute_command("SELECT", "1")
    assert c.config_get("save") == {"save": ""} or c.config_get("save") == {b"save": b""}
    appendonly = c.config_get("appendonly")
    assert list(appendonly.values())[0] in ("yes", b"yes")
    info = c.info()
    assert info["redis_version"].startswith("7.") and info["arch_bits"] == 64
    assert info["cluster_enabled"] == 0 and info["role"] == "leader"
    for section in ("server", "clients", "persistence", "stats", "raft", "keyspace"):
        assert c.info(section), section
    assert c.info("keyspace")["db0"]["keys"] >= 1
    assert c.info("raft")["applied_index"] >= 1
    assert c.command_count() > 10
    assert raw(node, b"COMMAND DOCS get\r\nQUIT\r\n").startswith(b"*2\r\n$3\r\nget\r\n*6\r\n$7\r\nsummary\r\n")
    commands = c.command()
    assert commands["get"]["arity"] == 2 and "readonly" in commands["get"]["flags"]


def test_resp2_client_sees_the_same(node: Node) -> None:
    c = node.client(protocol=2)
    assert c.info()["redis_version"].startswith("7.")
    assert c.config_get("appendfsync") == {"appendfsync": "always"}
    assert c.get("nope") is None


def test_protocol_error_closes_only_that_connection(node: Node) -> None:
    other = node.client(protocol=2)
    assert other.set("survivor", "1")
    assert raw(node, b"*1\r\n$abc\r\n") == b"-ERR Protocol error: invalid bulk length\r\n"
    assert raw(node, b"*2\r\n$3\r\nGET\r\n+x\r\n") == b"-ERR Protocol error: expected '$', got '+'\r\n"
    assert raw(node, b"*99999999999\r\n") == b"-ERR Protocol error: invalid multibulk length\r\n"
    # Commands before the bad frame are answered first.
    assert raw(node, b"*1\r\n$4\r\nPING\r\n*1\r\n$-5\r\n") == (
        b"+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"
    )
    assert raw(node, b"x" * (70 * 1024)) == b"-ERR Protocol error: too big inline request\r\n"
    assert other.get("survivor") == b"1"


def test_bulk_length_limit(make_node) -> None:
    node = make_node(extra_args=["--max-bulk-len", "1024"])
    c = node.client(protocol=2)
    assert c.set("small", b"x" * 1024)
    assert raw(node, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1025\r\n") == (
        b"-ERR Protocol error: invalid bulk length\r\n"
    )
    assert c.get("small") == b"x" * 1024


def test_a_client_that_never_reads_is_disconnected(make_node) -> None:
    node = make_node(extra_args=["--client-output-limit", str(1 << 20)])
    c = node.client(protocol=2)
    c.set("big", b"v" * 100_000)
    with socket.create_connection((node.host, node.port), timeout=10) as sock:
        request = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"
        try:
            for _ in range(400):  # 40 MB of replies we do not read yet
                sock.sendall(request)
        except OSError:
            pass  # the server may already have closed us
        wait_for(lambda: "unread replies" in node.log(), 30, "the server to drop the slow client")
        received = 0
        try:
            while chunk := sock.recv(1 << 20):
                received += len(chunk)
        except ConnectionResetError:
            pass
        assert received < 400 * 100_000
    assert c.get("big") == b"v" * 100_000
    assert "unread replies" in node.log()


def test_acknowledged_writes_survive_kill_9_of_the_whole_node(node: Node) -> None:
    c = node.client(protocol=2)
    pipe = c.pipeline(transaction=False)
    for i in range(3000):
        pipe.set(f"durable:{i}", f"value-{i}")
    assert all(pipe.execute())
    c.delete("durable:7")
    c.close()
    node.kill_all()
    node.start()
    pipe = node.client(protocol=2).pipeline(transaction=False)
    for i in range(3000):
        pipe.get(f"durable:{i}")
    values = pipe.execute()
    assert values[7] is None
    assert all(values[i] == f"value-{i}".encode() for i in range(3000) if i != 7)


def test_a_dead_worker_is_replaced_and_other_clients_do_not_notice(make_node) -> None:
    node = make_node(workers=3)
    clients = []
    # Workers share one listening socket: whichever the kernel wakes first accepts, so on a busy
    # machine one worker may take many connections in a row. Connect until two workers hold some.
    while len({w for w, _ in clients}) < 2:
        assert len(clients) < 300, "300 connections all went to one worker"
        c = node.client(protocol=2, single_connection_client=True)
        worker = int(c.client_info()["worker"])
        clients.append((worker, c))
    by_worker = {w for w, _ in clients}
    victim = next(iter(by_worker))
    victim_pid = next(p for p in node.worker_pids() if _comm(p) == f"raftkv-worker{victim}")
    os.kill(victim_pid, signal.SIGKILL)
    wait_for(lambda: not is_alive(victim_pid), 10, "the worker to die")
    for worker, c in clients:
        if worker != victim:
            assert c.set(f"w{worker}", "ok") and c.get(f"w{worker}") == b"ok"
    wait_for(lambda: len(node.worker_pids()) == 3, 10, "the worker to be restarted")
    for _ in range(10):
        fresh = node.client(protocol=2)
        assert fresh.set("fresh", "1") and fresh.get("fresh") == b"1"
        fresh.close()
    assert "restarting" in node.log()


def test_the_raft_process_and_workers_run_with_batch_scheduling(node: Node) -> None:
    """A process woken by its pipe must not preempt the one that woke it (raftkv.process)."""
    served = [node.raft_pid(), *node.worker_pids()]
    assert len(served) >= 2
    assert {os.sched_getscheduler(pid) for pid in served} == {os.SCHED_BATCH}


def test_a_dead_raft_process_is_restarted_from_leveldb(node: Node) -> None:
    c = node.client(protocol=2)
    assert c.set("before", "crash")
    raft = node.raft_pid()
    os.kill(raft, signal.SIGKILL)
    wait_for(lambda: node.raft_pid() != raft, 20, "a new raft process")

    def served() -> bool:
        with node.client(protocol=2) as fresh:
            return fresh.get("before") == b"crash"

    wait_for(served, 20, "the node to serve again")


def _comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


def run_server(args: list[str], timeout_s: float = 30) -> subprocess.CompletedProcess:
    """Run raftkv-server to completion (for start-up errors), on a peer port known to be free."""
    return subprocess.run([sys.executable, "-m", "raftkv.server_cli", "--peer-port", str(free_port()), *args],
                          capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)


def test_data_dir_in_use_is_refused(node: Node) -> None:
    result = run_server(["--port", str(free_port()), "--data-dir", str(node.data_dir), "--workers", "1"])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"raftkv-server: data dir {node.data_dir} is in use by another raftkv-server"
    )
    assert "Traceback" not in result.stderr


def test_port_in_use_is_refused(node: Node, tmp_path) -> None:
    result = run_server(["--port", str(node.port), "--data-dir", str(tmp_path / "other")])
    assert result.returncode == 1
    assert result.stderr.strip() == f"raftkv-server: cannot listen on 127.0.0.1:{node.port}: address already in use"


def test_unusable_data_dir_is_refused(tmp_path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    result = run_server(["--port", str(free_port()), "--data-dir", str(tmp_path / "a-file" / "data")])
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"raftkv-server: cannot create data dir {tmp_path / 'a-file' / 'data'}")
    assert "Traceback" not in result.stderr


def test_corrupted_data_dir_is_refused(make_node) -> None:
    node = make_node()
    node.client(protocol=2).set("k", "v")
    node.stop()
    for path in node.data_dir.iterdir():
        if path.name.startswith("MANIFEST") or path.name == "CURRENT":
            path.write_bytes(b"garbage")
    result = run_server(["--port", str(free_port()), "--data-dir", str(node.data_dir)])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("raftkv-server: ")
    assert str(node.data_dir) in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_clean_shutdown_on_signals(make_node, sig: signal.Signals) -> None:
    node = make_node()
    node.client(protocol=2).set("k", "v")
    pids = node.pids
    node.proc.send_signal(sig)
    assert node.proc.wait(20) == 0
    wait_for(lambda: not any(is_alive(p) for p in pids), 10, "every process of the node to exit")
    log = node.log()
    assert "Traceback" not in log
    assert "data dir closed" in log
    node.start()
    assert node.client(protocol=2).get("k") == b"v"


def test_server_refuses_to_start_without_the_compiled_codec(tmp_path) -> None:
    code = ("import sys; sys.modules['raftkv._resp'] = None; "
            "from raftkv.server_cli import main; main()")
    result = subprocess.run([sys.executable, "-c", code, "--data-dir", str(tmp_path / "d")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("raftkv-server: the Cython codec raftkv._resp is not built")


def test_a_log_with_a_hole_is_refused_at_start(make_node) -> None:
    import plyvel

    node = make_node()
    c = node.client(protocol=2)
    for i in range(5):
        c.set(f"k{i}", i)
    node.stop()
    db = plyvel.DB(str(node.data_dir))
    runs = [int.from_bytes(key[2:], "big") for key, _ in db.iterator(prefix=b"r/")]  # one per write here
    assert len(runs) >= 3
    db.delete(b"r/" + runs[1].to_bytes(8, "big"))
    db.close()
    result = run_server(["--port", str(free_port()), "--data-dir", str(node.data_dir)])
    assert result.returncode == 1
    assert result.stderr.strip() == (f"raftkv-server: data dir {node.data_dir} is corrupted: "
                                     f"log entry {runs[1]} is missing (the next is {runs[2]})")


def test_a_node_advertises_the_peer_address_it_is_given(make_node) -> None:
    advertised = f"127.0.0.1:{free_port()}"
    listen = free_port()
    node = make_node(extra_args=["--peer-port", str(listen), "--advertise-peer", advertised])
    rows = node.client(protocol=3).execute_command("RAFT", "MEMBER", "LIST")
    assert [row[b"peer_addr"] for row in rows] == [advertised.encode()]
    with socket.create_connection(("127.0.0.1", listen), timeout=5):
        pass  # it listens where --peer-port says, not where it is reached


@pytest.mark.parametrize("args, message", [
    (["--advertise-peer", "127.0.0.1:1", "--initial-cluster", "127.0.0.1:{port}"],
     "give this node's peer address in --initial-cluster (host:port@peerhost:peerport), not with --advertise-peer"),
    (["--advertise-peer", "nowhere"], "bad address 'nowhere': expected host:port"),
])
def test_advertise_peer_mistakes_are_one_line(tmp_path, args: list[str], message: str) -> None:
    port = free_port()
    result = run_server(["--port", str(port), "--data-dir", str(tmp_path / "d"),
                         *[a.format(port=port) for a in args]])
    assert result.returncode == 1
    assert result.stderr.strip() == f"raftkv-server: {message}"
