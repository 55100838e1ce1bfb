"""Certificates for the TLS tests (made by trustme, two unrelated CAs) and the options that use them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.integration.conftest import Node, free_port, make_cluster, make_node  # noqa: F401 (fixtures, made visible here)


@dataclass(frozen=True)
class Identity:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Certs:
    ca: Path
    node: Identity  # what every node presents, on its client port and on its peer links
    client: Identity
    other_ca: Path
    stranger: Identity  # signed by the other CA

    def server_args(self, auth_clients: str = "yes", replication: bool = False,
                    node: Identity | None = None) -> list[str]:
        node = node or self.node
        return ["--tls-cert-file", str(node.cert), "--tls-key-file", str(node.key), "--tls-ca-cert-file", str(self.ca),
                "--tls-auth-clients", auth_clients, "--tls-replication", "yes" if replication else "no"]

    def redis_py(self, identity: Identity | None = None) -> dict[str, object]:
        """redis-py's ssl options: the CA and the certificate of ``identity`` (the client's by default)."""
        identity = identity or self.client
        return {"ssl_ca_certs": str(self.ca), "ssl_certfile": str(identity.cert), "ssl_keyfile": str(identity.key)}

    def redis_py_without_cert(self) -> dict[str, object]:
        return {"ssl_ca_certs": str(self.ca)}


def _write(ca: trustme.CA, directory: Path, name: str, *identities: str) -> Identity:
    issued = ca.issue_cert(*identities)
    identity = Identity(directory / f"{name}.crt", directory / f"{name}.key")
    issued.cert_chain_pems[0].write_to_path(str(identity.cert))
    issued.private_key_pem.write_to_path(str(identity.key))
    return identity


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    directory = tmp_path_factory.mktemp("certs")
    ca, other = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(str(directory / "ca.crt"))
    other.cert_pem.write_to_path(str(directory / "other-ca.crt"))
    return Certs(ca=directory / "ca.crt",
                 node=_write(ca, directory, "node", "127.0.0.1", "localhost"),
                 client=_write(ca, directory, "client", "client@example.com"),
                 other_ca=directory / "other-ca.crt",
                 stranger=_write(other, directory, "stranger", "127.0.0.1", "localhost"))
