"""raftkv-server's options in process: the config file, its precedence and its errors (no node is started)."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from raftkv import server_cli
from raftkv.config import NodeConfig
from raftkv.process import JsonFormatter

NO_ENV = {"RAFTKV_REQUIREPASS": None, "RAFTKV_CLUSTER_SECRET": None}


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[NodeConfig]:
    """The NodeConfig each invocation would start a node with (the supervisor and logging faked)."""
    configs: list[NodeConfig] = []

    class FakeSupervisor:
        def __init__(self, config: NodeConfig) -> None:
            configs.append(config)

        def run(self) -> int:
            return 0

    monkeypatch.setattr("raftkv.supervisor.supervisor.Supervisor", FakeSupervisor)
    monkeypatch.setattr("raftkv.process.setup_logging", lambda *args: None)  # keep pytest's handlers
    return configs


def run(args: list[str], env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(server_cli.main, args, env={**NO_ENV, **(env or {})})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "raftkv.toml"
    path.write_text(text)
    return path


def test_file_values_replace_the_defaults(tmp_path: Path, started: list[NodeConfig]) -> None:
    path = write(tmp_path, 'maxclients = 4321\nsnapshot-entries = 777\nrequirepass = "file-pass"\n'
                           'initial-cluster = "127.0.0.1:2317,127.0.0.1:2318"\nprotected-mode = false\n'
                           'log-level = "DEBUG"\ndata-dir = "d"\nworkers = 2\n')
    result = run(["--config", str(path)])
    assert result.exit_code == 0, result.output
    (config,) = started
    assert (config.maxclients, config.snapshot_entries, config.requirepass) == (4321, 777, b"file-pass")
    assert [m.client_addr for m in config.initial_cluster] == ["127.0.0.1:2317", "127.0.0.1:2318"]
    assert (config.log_level, config.data_dir, config.workers) == ("debug", Path("d"), 2)
    assert config.min_free_disk_bytes == 64 * 1024 * 1024  # not in the file: the default


def test_flag_beats_environment_beats_file_beats_default(tmp_path: Path, started: list[NodeConfig]) -> None:
    path = write(tmp_path, 'maxclients = 4321\nrequirepass = "file-pass"\ncluster-secret = "file-secret"\n')
    env = {"RAFTKV_REQUIREPASS": "env-pass", "RAFTKV_CLUSTER_SECRET": "env-secret"}
    assert run([]).exit_code == 0
    assert run(["--config", str(path)]).exit_code == 0
    assert run(["--config", str(path)], env).exit_code == 0
    assert run(["--maxclients", "99", "--requirepass", "flag-pass", "--config", str(path)], env).exit_code == 0
    default, file, environment, flags = started
    assert (default.maxclients, default.requirepass, default.cluster_secret) == (10000, b"", b"")
    assert (file.maxclients, file.requirepass, file.cluster_secret) == (4321, b"file-pass", b"file-secret")
    assert (environment.maxclients, environment.requirepass, environment.cluster_secret) == (
        4321, b"env-pass", b"env-secret")
    assert (flags.maxclients, flags.requirepass, flags.cluster_secret) == (99, b"flag-pass", b"env-secret")


@pytest.mark.parametrize(("text", "error"), [
    ("maxclient = 1", "unknown key 'maxclient' (did you mean 'maxclients'?)"),
    ("[server]\nport = 1", "unknown key 'server'"),
    ("config = 'other.toml'", "unknown key 'config'"),
    ('maxclients = "4321"', "maxclients: expected an integer, got a string"),
    ("maxclients = 43.21", "maxclients: expected an integer, got a float"),
    ("maxclients = true", "maxclients: expected an integer, got a boolean"),
    ("requirepass = 1234", "requirepass: expected a string, got an integer"),
    ("protected-mode = 'no'", "protected-mode: expected a boolean, got a string"),
    ("maxclients = 0", "maxclients: 0 is not in the range x>=1."),
    ("port = 70000", "port: 70000 is not in the range 0<=x<=65535."),
    ("log-format = 'xml'", "log-format: 'xml' is not one of 'text', 'json'."),
    ("maxclients = ", "Invalid value (at line 1, column 14)"),
])
def test_a_bad_file_is_a_one_line_error(tmp_path: Path, started: list[NodeConfig], text: str, error: str) -> None:
    path = write(tmp_path, text + "\n")
    result = run(["--config", str(path)])
    assert result.exit_code == 1
    assert result.stderr == f"raftkv-server: {path}: {error}\n"
    assert not started


def test_a_missing_file_is_a_one_line_error(tmp_path: Path, started: list[NodeConfig]) -> None:
    result = run(["--config", str(tmp_path / "nope.toml"), "--maxclients", "5"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"raftkv-server: cannot read config file {tmp_path / 'nope.toml'}: No such file or directory\n")
    assert not started


def test_help_shows_the_option_and_the_files_values(tmp_path: Path) -> None:
    result = run(["--help"])
    assert "--config FILE" in result.output and "[default: 10000; x>=1]" in result.output
    result = run(["--config", str(write(tmp_path, "maxclients = 4321\n")), "--help"])
    assert "[default: 4321; x>=1]" in result.output


def test_json_log_records_carry_the_exception() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord("raftkv.x", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info())
    line = JsonFormatter("worker3").format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert (parsed["process"], parsed["level"], parsed["logger"], parsed["message"]) == (
        "worker3", "ERROR", "raftkv.x", "failed here")
    assert parsed["exception"].startswith("Traceback") and parsed["exception"].endswith("ValueError: bad\nthing")


def test_json_logging_turns_warnings_and_uncaught_exceptions_into_records() -> None:
    code = ("import warnings; from raftkv.process import setup_logging; setup_logging('info', 'raft', 'json'); "
            "warnings.warn('careful'); raise RuntimeError('boom')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    warning, uncaught = (json.loads(line) for line in result.stderr.splitlines())
    assert (warning["level"], warning["logger"], warning["process"]) == ("WARNING", "py.warnings", "raft")
    assert "careful" in warning["message"]
    assert (uncaught["level"], uncaught["message"]) == ("CRITICAL", "uncaught exception")
    assert uncaught["exception"].endswith("RuntimeError: boom")
