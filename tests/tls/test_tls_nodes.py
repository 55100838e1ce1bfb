"""TLS on real nodes: redis-py, redis-cli and kvsctl on the TLS client port, tls-auth-clients yes, optional
and no, a plaintext client on the TLS port, options from the config file, and a cluster whose peer links
are TLS (a member with a certificate of another CA is left out)."""
from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable

import pytest
import redis

from tests.integration.conftest import Node, free_port, wait_for
from tests.tls.conftest import Certs

pytestmark = pytest.mark.integration

_TIMEOUT_S = 30


def tls_client(port: int, **ssl_options: object) -> redis.Redis:
    return redis.Redis(port=port, ssl=True, socket_timeout=10, socket_connect_timeout=10, **ssl_options)


def kvsctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kvsctl", *args], capture_output=True, text=True,
                          timeout=_TIMEOUT_S, stdin=subprocess.DEVNULL)


@pytest.fixture
def both_ports(make_node: Callable[..., Node], certs: Certs) -> tuple[Node, int]:
    """A node with a plain port (the fixture's) and a TLS port that requires client certificates."""
    tls_port = free_port()
    return make_node(extra_args=["--tls-port", str(tls_port), *certs.server_args()]), tls_port


def test_redis_py_over_tls_with_a_client_certificate(both_ports: tuple[Node, int], certs: Certs) -> None:
    node, tls_port = both_ports
    with tls_client(tls_port, **certs.redis_py()) as c:
        assert c.set("k", "v") and c.get("k") == b"v"
        pipe = c.pipeline(transaction=False)
        for i in range(200):
            pipe.set(f"p{i}", "x" * i)
        assert all(pipe.execute())
        assert c.config_get("tls-*") == {
            "tls-port": str(tls_port), "tls-cert-file": str(certs.node.cert), "tls-key-file": str(certs.node.key),
            "tls-ca-cert-file": str(certs.ca), "tls-auth-clients": "yes", "tls-replication": "no"}
    with node.client(protocol=2) as plain:  # the plain port serves the same keys
        assert plain.get("k") == b"v" and plain.get("p199") == b"x" * 199


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="redis-cli is not installed")
def test_redis_cli_over_tls(both_ports: tuple[Node, int], certs: Certs) -> None:
    _node, tls_port = both_ports
    base = ["redis-cli", "-p", str(tls_port), "--tls", "--cacert", str(certs.ca)]
    with_cert = [*base, "--cert", str(certs.client.cert), "--key", str(certs.client.key)]
    run = subprocess.run([*with_cert, "SET", "cli", "yes"], capture_output=True, text=True, timeout=_TIMEOUT_S)
    assert run.stdout.strip() == "OK", run.stderr
    run = subprocess.run([*with_cert, "GET", "cli"], capture_output=True, text=True, timeout=_TIMEOUT_S)
    assert run.stdout.strip() == "yes", run.stderr
    refused = subprocess.run([*base, "GET", "cli"], capture_output=True, text=True, timeout=_TIMEOUT_S)
    assert "yes" not in refused.stdout  # no certificate: the node does not serve it


def test_a_client_without_a_certificate_is_refused(both_ports: tuple[Node, int], certs: Certs) -> None:
    node, tls_port = both_ports
    with pytest.raises(redis.ConnectionError):
        tls_client(tls_port, **certs.redis_py_without_cert()).ping()
    with pytest.raises(redis.ConnectionError):  # a certificate the node's CA did not sign
        tls_client(tls_port, **certs.redis_py(certs.stranger)).ping()
    wait_for(lambda: "TLS handshake with client" in node.log(), 10, "the refusal in the log")


def test_a_plaintext_client_on_the_tls_port_is_disconnected(both_ports: tuple[Node, int], certs: Certs) -> None:
    node, tls_port = both_ports
    silent = socket.create_connection(("127.0.0.1", tls_port), timeout=10)  # holds a handshake open
    try:
        with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as sock:
            sock.sendall(b"PING\r\n")
            received = b""
            while chunk := _recv(sock):
                received += chunk
        assert b"PONG" not in received  # at most a TLS alert, then the close
        # Neither the refused client nor the silent one holds up the node.
        with tls_client(tls_port, **certs.redis_py()) as c:
            assert c.ping()
        with node.client(protocol=2) as plain:
            assert plain.ping()
    finally:
        silent.close()


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(4096)
    except ConnectionResetError:
        return b""


@pytest.mark.parametrize("auth_clients", ["optional", "no"])
def test_optional_and_no_accept_a_client_without_a_certificate(make_node: Callable[..., Node], certs: Certs,
                                                               auth_clients: str) -> None:
    node = make_node(tls=certs.redis_py_without_cert(), extra_args=certs.server_args(auth_clients))
    with node.client(protocol=2) as c:
        assert c.set("k", auth_clients) and c.get("k") == auth_clients.encode()
    with node.client(protocol=2, **certs.redis_py()) as c:  # a certificate of the CA is welcome
        assert c.get("k") == auth_clients.encode()
    stranger = node.client(protocol=2, **certs.redis_py(certs.stranger))
    if auth_clients == "optional":  # a certificate given is checked
        with pytest.raises(redis.ConnectionError):
            stranger.ping()
    else:  # none is asked for
        assert stranger.ping()
    stranger.close()
    with pytest.raises(redis.ConnectionError):  # the plain port is off
        redis.Redis(port=node.port, socket_timeout=5).ping()


def test_tls_options_from_the_config_file(make_node: Callable[..., Node], certs: Certs, tmp_path) -> None:
    tls_port = free_port()
    config = tmp_path / "raftkv.toml"
    config.write_text(f'tls-port = {tls_port}\ntls-cert-file = "{certs.node.cert}"\n'
                      f'tls-key-file = "{certs.node.key}"\ntls-ca-cert-file = "{certs.ca}"\n'
                      'tls-auth-clients = "optional"\ntls-replication = "yes"\n')
    node = make_node(extra_args=["--config", str(config)])
    with tls_client(tls_port, **certs.redis_py_without_cert()) as c:
        assert c.set("k", "v")
        assert c.config_get("tls-auth-clients") == {"tls-auth-clients": "optional"}
        assert c.config_get("tls-replication") == {"tls-replication": "yes"}
    with node.client(protocol=2) as plain:
        assert plain.get("k") == b"v"


def test_a_bad_certificate_stops_the_start_with_one_line(certs: Certs, tmp_path) -> None:
    args = [sys.executable, "-m", "raftkv.server_cli", "--port", str(free_port()), "--peer-port", str(free_port()),
            "--data-dir", str(tmp_path / "data"), "--workers", "1"]
    missing = subprocess.run([*args, "--tls-port", str(free_port()), "--tls-cert-file", str(tmp_path / "none.crt"),
                              "--tls-key-file", str(certs.node.key), "--tls-ca-cert-file", str(certs.ca)],
                             capture_output=True, text=True, timeout=_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    last = missing.stderr.strip().splitlines()[-1]
    assert last == f"raftkv-server: cannot read {tmp_path / 'none.crt'}: no such file"
    no_ca = subprocess.run([*args, "--tls-replication", "yes", "--tls-cert-file", str(certs.node.cert),
                            "--tls-key-file", str(certs.node.key)],
                           capture_output=True, text=True, timeout=_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert no_ca.returncode == 1 and "needs --tls-ca-cert-file" in no_ca.stderr
    nothing = subprocess.run([*args, "--port", "0"], capture_output=True, text=True, timeout=_TIMEOUT_S,
                             stdin=subprocess.DEVNULL)
    assert nothing.returncode == 1 and "give a --tls-port" in nothing.stderr


def test_kvsctl_over_tls(make_node: Callable[..., Node], certs: Certs) -> None:
    node = make_node(tls=certs.redis_py(), extra_args=certs.server_args())
    tls = ["-a", node.address, "--tls", "--cacert", str(certs.ca), "--cert", str(certs.client.cert),
           "--key", str(certs.client.key)]
    done = kvsctl(*tls, "set", "k", "over tls")
    assert done.returncode == 0 and done.stdout.strip() == "OK", done.stderr
    got = kvsctl(*tls, "get", "k")
    assert got.returncode == 0 and got.stdout.strip() == "over tls", got.stderr
    health = kvsctl(*tls, "endpoint", "health")
    assert health.returncode == 0, health.stderr + health.stdout
    untrusted = kvsctl("-a", node.address, "--tls", "--cacert", str(certs.other_ca), "get", "k")
    assert untrusted.returncode == 1
    assert "TLS handshake failed: certificate verify failed" in untrusted.stderr, untrusted.stderr


def test_a_cluster_replicates_over_tls_peer_links(make_cluster, make_node: Callable[..., Node], certs: Certs) -> None:
    cluster = make_cluster(3, tls=certs.redis_py(),
                           extra_args=[*certs.server_args(replication=True), "--cluster-secret", "shared"])
    leader = cluster.leader()
    with leader.client(protocol=2) as c:
        assert c.set("replicated", "over tls")
    cluster.wait_caught_up()
    for node in cluster.followers(leader):
        with node.client(protocol=2) as c:
            assert c.get("replicated") == b"over tls"
            assert c.config_get("tls-replication") == {"tls-replication": "yes"}
    # Given to a follower, a membership command is relayed to the leader's TLS client port; the leader
    # asks the new node's peer port for its identity and bootstraps it over TLS.
    joiner = make_node(workers=1, tls=certs.redis_py(),
                       extra_args=["--join", leader.address, *certs.server_args(replication=True),
                                   "--cluster-secret", "shared"])
    with cluster.followers(leader)[0].client(protocol=2) as c:
        assert c.execute_command("RAFT", "MEMBER", "ADD", joiner.address, joiner.peer_address) == b"OK"
    wait_for(lambda: joiner.client(protocol=2).get("replicated") == b"over tls", _TIMEOUT_S,
             "the new member to replicate the key")


def test_a_member_with_a_certificate_of_another_ca_is_left_out(make_node: Callable[..., Node],
                                                               certs: Certs) -> None:
    ports = [(free_port(), free_port()) for _ in range(3)]
    spec = ",".join(f"127.0.0.1:{p}@127.0.0.1:{pp}" for p, pp in ports)
    nodes = [make_node(start=False, port=p, workers=1,
                       extra_args=["--peer-port", str(pp), "--initial-cluster", spec,
                                   *certs.server_args(replication=True, node=certs.stranger if i == 2 else None)])
             for i, (p, pp) in enumerate(ports)]
    for node in nodes:
        node.start(wait=False)
    good, stranger = nodes[:2], nodes[2]
    for node in good:
        node.wait_ready()  # two of three: a majority without the stranger
    leader = next(n for n in good if n.client(protocol=2).info("raft")["role"] == "leader")
    with leader.client(protocol=2) as c:
        assert c.set("k", "v")
    wait_for(lambda: all("TLS handshake failed: certificate verify failed" in n.log() for n in good), _TIMEOUT_S,
             "the good nodes to log the refusal")
    with stranger.client(protocol=2) as c:
        info = c.info("raft")
        assert info["leader_id"] == 0 and info["applied_index"] < 2, info
        with pytest.raises(redis.ResponseError):
            c.get("k")  # no leader: a retryable error, not the value


def test_a_plaintext_peer_is_refused_by_a_tls_node(make_node: Callable[..., Node], certs: Certs) -> None:
    node = make_node(extra_args=certs.server_args(replication=True))
    with socket.create_connection(("127.0.0.1", int(node.peer_address.rsplit(":", 1)[1])), timeout=10) as sock:
        sock.sendall(b"*3\r\n$1\r\nH\r\n$0\r\n\r\n$5\r\n12345\r\n*3\r\n$1\r\nA\r\n$4\r\nRAFT\r\n$8\r\nIDENTITY\r\n")
        received = b""
        while chunk := _recv(sock):
            received += chunk
    assert received[:1] in (b"", b"\x15")  # no identity answered: at most a TLS alert record


def test_quit_and_a_protocol_error_are_answered_before_the_close(both_ports: tuple[Node, int], certs: Certs) -> None:
    _node, tls_port = both_ports
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.load_cert_chain(certs.client.cert, certs.client.key)
    for payload, reply in [(b"PING\r\nQUIT\r\n", b"+PONG\r\n+OK\r\n"),
                           (b"PING\r\n*1\r\n$x\r\n", b"+PONG\r\n-ERR Protocol error")]:
        with context.wrap_socket(socket.create_connection(("127.0.0.1", tls_port), timeout=10),
                                 server_hostname="127.0.0.1") as sock:
            sock.sendall(payload)
            received = b""
            while chunk := _recv(sock):
                received += chunk
        assert received.startswith(reply), received
