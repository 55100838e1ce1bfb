"""raftkv-server's config file and log format, on real processes."""
from __future__ import annotations

import json
import re
import socket

import pytest
import redis

from tests.integration.conftest import Node, free_port, wait_for
from tests.integration.test_node import run_server

pytestmark = pytest.mark.integration


def test_json_logs_are_one_object_per_line(make_node) -> None:
    node: Node = make_node(workers=2, extra_args=["--log-format", "json", "--client-output-limit", "65536"])
    node.client(protocol=2).set("big", b"v" * 100_000)
    # A client that never reads makes a worker log a line, so that every kind of process has one.
    with socket.create_connection((node.host, node.port)) as sock:
        sock.sendall(b"GET big\r\n" * 50)
        wait_for(lambda: "unread replies" in node.log(), 30, "a worker to drop the slow client")
    wait_for(lambda: len(node.worker_pids()) == 2, 10, "both workers")  # SIGTERM for children that run
    assert node.stop() == 0
    records = [json.loads(line) for line in node.log_path.read_text().splitlines()]  # every line is one
    fields = {"time", "level", "process", "pid", "logger", "message"}
    for r in records:
        assert fields <= set(r) <= fields | {"exception"}, r
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["time"]), r
        assert r["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}, r
        assert isinstance(r["pid"], int) and r["logger"].startswith("raftkv."), r
    assert {r["process"] for r in records} <= {"supervisor", "raft", "worker0", "worker1"}
    assert {r["process"] for r in records} >= {"supervisor", "raft"}
    assert any(re.fullmatch(r"worker\d", r["process"]) and "unread replies" in r["message"] for r in records)
    assert records[0]["time"] <= records[-1]["time"]
    assert records[-1]["process"] == "supervisor" and records[-1]["message"] == "raftkv stopped"


def test_a_start_error_in_json_is_a_json_line(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_server(["--port", str(port), "--data-dir", str(tmp_path / "d"), "--log-format", "json"])
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records[-1]["level"] == "ERROR"
    assert records[-1]["message"] == f"cannot listen on 127.0.0.1:{port}: address already in use"


CONFIG = 'maxclients = 4321\nsnapshot-entries = 20\nrequirepass = "file-pass"\n'


def test_a_node_runs_with_the_files_values(make_node, tmp_path) -> None:
    (tmp_path / "raftkv.toml").write_text(CONFIG)
    node: Node = make_node(start=False, extra_args=["--config", str(tmp_path / "raftkv.toml")])
    node.start(wait=False)
    c = node.client(protocol=2, password="file-pass")
    wait_for(lambda: c.set("k", "v"), 30, "the node")
    assert c.config_get("maxclients") == {"maxclients": "4321"}
    assert c.info("clients")["maxclients"] == 4321
    for i in range(40):
        c.set(f"k{i}", i)
    wait_for(lambda: c.info("persistence")["snapshot_index"] >= 20, 30, "a snapshot after 20 entries")
    with pytest.raises(redis.AuthenticationError):
        node.client(protocol=2, password="default-has-none").ping()


def test_flags_and_environment_beat_the_file(make_node, tmp_path, monkeypatch) -> None:
    (tmp_path / "raftkv.toml").write_text(CONFIG)
    monkeypatch.setenv("RAFTKV_REQUIREPASS", "env-pass")  # the server inherits the test's environment
    node: Node = make_node(start=False, extra_args=["--config", str(tmp_path / "raftkv.toml"),
                                                    "--maxclients", "999"])
    node.start(wait=False)
    c = node.client(protocol=2, password="env-pass")
    wait_for(lambda: c.ping(), 30, "the node")
    assert c.config_get("maxclients") == {"maxclients": "999"}
    assert c.info("clients")["maxclients"] == 999
    with pytest.raises(redis.AuthenticationError):
        node.client(protocol=2, password="file-pass").ping()


@pytest.mark.parametrize(("text", "error"), [
    ("maxclient = 1\n", "{path}: unknown key 'maxclient' (did you mean 'maxclients'?)"),
    ('maxclients = "4321"\n', "{path}: maxclients: expected an integer, got a string"),
    ("snapshot-entries = 0\n", "{path}: snapshot-entries: 0 is not in the range x>=1."),
    ("maxclients 4321\n", "{path}: Expected '=' after a key in a key/value pair (at line 1, column 12)"),
    (None, "cannot read config file {path}: No such file or directory"),
])
def test_a_bad_config_file_stops_the_start_with_one_line(tmp_path, text: str | None, error: str) -> None:
    path = tmp_path / "raftkv.toml"
    if text is not None:
        path.write_text(text)
    result = run_server(["--port", str(free_port()), "--data-dir", str(tmp_path / "d"), "--config", str(path)])
    assert result.returncode == 1
    assert result.stderr == f"raftkv-server: {error.format(path=path)}\n"
    assert not (tmp_path / "d").exists()  # nothing was started
