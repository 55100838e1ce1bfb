"""raftkv-server's TLS options in process: what NodeConfig they give, from flags and from the config file,
and the combinations refused in one line (no node is started)."""
from __future__ import annotations

from pathlib import Path

import pytest

from raftkv.config import NodeConfig
from tests.test_server_cli import run, started, write  # noqa: F401 (started is a fixture)

_FILES = ["--tls-cert-file", "n.crt", "--tls-key-file", "n.key", "--tls-ca-cert-file", "ca.crt"]


def test_a_tls_port_alone_makes_it_the_client_address(started: list[NodeConfig]) -> None:
    result = run(["--port", "0", "--tls-port", "6380", *_FILES, "--tls-auth-clients", "optional"])
    assert result.exit_code == 0, result.output
    (config,) = started
    assert (config.port, config.tls_port, config.tls_auth_clients) == (0, 6380, "optional")
    assert (config.tls_cert_file, config.tls_key_file, config.tls_ca_cert_file) == (
        Path("n.crt"), Path("n.key"), Path("ca.crt"))
    assert config.address == "127.0.0.1:6380" and config.initial_cluster[0].peer_addr == "127.0.0.1:16380"
    assert not config.tls_replication


def test_the_config_file_takes_redis_values(tmp_path: Path, started: list[NodeConfig]) -> None:
    path = write(tmp_path, 'tls-port = 6380\ntls-cert-file = "n.crt"\ntls-key-file = "n.key"\n'
                           'tls-ca-cert-file = "ca.crt"\ntls-auth-clients = "no"\ntls-replication = "yes"\n')
    result = run(["--config", str(path)])
    assert result.exit_code == 0, result.output
    (config,) = started
    assert (config.port, config.tls_port, config.tls_auth_clients, config.tls_replication) == (2317, 6380, "no", True)


@pytest.mark.parametrize("args, error", [
    (["--port", "0"], "--port 0 serves no plain clients: give a --tls-port"),
    (["--tls-port", "6380"], "TLS (--tls-port, --tls-replication yes) needs --tls-cert-file and --tls-key-file"),
    (["--tls-replication", "yes", "--tls-cert-file", "n.crt", "--tls-key-file", "n.key"],
     "checking certificates (--tls-replication yes, --tls-auth-clients yes|optional, --port 0) needs "
     "--tls-ca-cert-file"),
    (["--tls-port", "6380", "--tls-cert-file", "n.crt", "--tls-key-file", "n.key"],
     "checking certificates (--tls-replication yes, --tls-auth-clients yes|optional, --port 0) needs "
     "--tls-ca-cert-file"),
])
def test_incomplete_tls_options_are_refused(started: list[NodeConfig], args: list[str], error: str) -> None:
    result = run(args)
    assert result.exit_code == 1 and result.output.strip() == f"raftkv-server: {error}"
    assert started == []


def test_tls_without_checking_clients_needs_no_ca(started: list[NodeConfig]) -> None:
    result = run(["--tls-port", "6380", "--tls-cert-file", "n.crt", "--tls-key-file", "n.key",
                  "--tls-auth-clients", "no"])
    assert result.exit_code == 0, result.output
    assert started[0].tls_ca_cert_file is None


def test_kvsctl_tls_options_are_checked_before_connecting(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from kvsctl.cli import cli

    def kvsctl(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["-a", "127.0.0.1:1", *args])
        return result.exit_code, result.output.strip()

    assert kvsctl("--cacert", "ca.crt", "get", "k") == (
        2, "kvsctl: --cacert, --cert and --key go with --tls (see 'kvsctl --help')")
    assert kvsctl("--tls", "--key", "c.key", "get", "k") == (2, "kvsctl: --key goes with --cert (see 'kvsctl --help')")
    missing = tmp_path / "none.crt"
    assert kvsctl("--tls", "--cacert", str(missing), "get", "k") == (
        1, f"kvsctl: cannot read CA file {missing}: no such file")
