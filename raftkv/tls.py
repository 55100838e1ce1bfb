"""TLS contexts built from redis-server's TLS options, for the client ports, the peer links and kvsctl.

One place decides what a connection checks: a server asks for a client certificate as
``tls-auth-clients`` says (``yes``: required, ``optional``: verified if given, ``no``: not asked), a
client always verifies the server's chain against the CA. As Redis does, names in certificates are not
compared with addresses: peers and clients are addressed by IP, and the CA vouches for every node.

For non-blocking loops it also gives :func:`handshake_step` and :class:`NonBlockingSSLSocket`, whose
``recv``/``send`` raise :class:`BlockingIOError` where a plain socket would, so a loop written for plain
sockets reads and writes TLS ones unchanged. It opens no socket itself.
"""
from __future__ import annotations

import selectors
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from raftkv.config import NodeConfig

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

AUTH_CLIENTS = ("yes", "optional", "no")
_VERIFY = {"yes": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "no": ssl.CERT_NONE}


class TLSConfigError(ValueError):
    """A certificate, key or CA file cannot be used; the message is one line naming the file."""


class NonBlockingSSLSocket(ssl.SSLSocket):
    """An SSLSocket that reports "not now" as a plain non-blocking socket does, and whose ``recv``
    returns every decrypted byte it holds: bytes OpenSSL has already read would not wake a selector."""

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        try:
            data = super().recv(buflen, flags)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise BlockingIOError from None
        # OpenSSL hands out one record (16 KiB at most) per read. Go on while it holds decrypted bytes
        # or, on a non-blocking socket, more has arrived: one call returns what one plain recv would,
        # and nothing is left where the selector cannot see it.
        while data and len(data) < buflen and (self.pending() or self.gettimeout() == 0.0):
            try:
                more = super().recv(buflen - len(data))
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            if not more:
                break
            data += more
        return data

    def send(self, data: ReadableBuffer, flags: int = 0) -> int:
        # A send that raises here may have handed OpenSSL part of ``data`` already: as the callers do
        # (they drop bytes only once counted as sent), the next send must start with the same bytes.
        try:
            return super().send(data, flags)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise BlockingIOError from None


def server_context(cert_file: Path, key_file: Path, ca_file: Path | None, auth_clients: str = "yes") -> ssl.SSLContext:
    """The context of a listening side: it presents ``cert_file`` and checks clients as ``auth_clients``
    says (a CA is needed unless it is ``no``)."""
    context = _context(ssl.PROTOCOL_TLS_SERVER)
    _load_chain(context, cert_file, key_file)
    context.verify_mode = _VERIFY[auth_clients]
    if auth_clients != "no":
        if ca_file is None:
            raise TLSConfigError("tls-ca-cert-file is needed to check client certificates")
        _load_ca(context, ca_file)
    return context


def client_context(ca_file: Path | None, cert_file: Path | None = None, key_file: Path | None = None) -> ssl.SSLContext:
    """The context of a connecting side: it verifies the server against ``ca_file`` (the system's CAs
    without one) and presents ``cert_file`` if given."""
    context = _context(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    if ca_file is None:
        context.load_default_certs()
    else:
        _load_ca(context, ca_file)
    if cert_file is not None:
        _load_chain(context, cert_file, key_file or cert_file)
    return context


@dataclass(frozen=True)
class PeerTLS:
    """Both ends of a peer link: each node presents its certificate and requires the other's."""

    server: ssl.SSLContext
    client: ssl.SSLContext


def peer_tls(config: NodeConfig) -> PeerTLS | None:
    """The peer links' contexts when ``tls-replication`` is on, else None."""
    if not config.tls_replication:
        return None
    files = _node_files(config)
    return PeerTLS(server_context(*files, "yes"), client_context(files[2], *files[:2]))


def client_port_context(config: NodeConfig) -> ssl.SSLContext:
    """The context of the TLS client port (``tls-port``)."""
    return server_context(*_node_files(config), config.tls_auth_clients)


def node_client_context(config: NodeConfig) -> ssl.SSLContext:
    """The context a node connects to another node's TLS client port with, as a client of the CA."""
    cert_file, key_file, ca_file = _node_files(config)
    return client_context(ca_file, cert_file, key_file)


def handshake_step(sock: ssl.SSLSocket) -> int:
    """Advance a non-blocking handshake: 0 once it is done, else the selector events it waits for.
    A failed handshake raises :class:`ssl.SSLError` (or OSError when the connection drops)."""
    try:
        sock.do_handshake()
    except ssl.SSLWantReadError:
        return selectors.EVENT_READ
    except ssl.SSLWantWriteError:
        return selectors.EVENT_WRITE
    return 0


def describe(exc: OSError) -> str:
    """A short reason for a failed TLS connection, such as ``certificate verify failed: self-signed
    certificate`` or ``wrong version number``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return exc.strerror or str(exc) or type(exc).__name__


def _node_files(config: NodeConfig) -> tuple[Path, Path, Path | None]:
    if config.tls_cert_file is None or config.tls_key_file is None:
        raise TLSConfigError("TLS needs tls-cert-file and tls-key-file")
    return config.tls_cert_file, config.tls_key_file, config.tls_ca_cert_file


def _context(protocol: int) -> ssl.SSLContext:
    context = ssl.SSLContext(protocol)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_RENEGOTIATION  # a renegotiation would make a send wait for a read
    context.sslsocket_class = NonBlockingSSLSocket
    return context


def _load_chain(context: ssl.SSLContext, cert_file: Path, key_file: Path) -> None:
    try:
        context.load_cert_chain(cert_file, key_file)
    except FileNotFoundError:
        missing = next((f for f in (cert_file, key_file) if not Path(f).exists()), cert_file)
        raise TLSConfigError(f"cannot read {missing}: no such file") from None
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(f"cannot load certificate {cert_file} with key {key_file}: {describe(exc)}") from None


def _load_ca(context: ssl.SSLContext, ca_file: Path) -> None:
    try:
        context.load_verify_locations(cafile=ca_file)
    except FileNotFoundError:
        raise TLSConfigError(f"cannot read CA file {ca_file}: no such file") from None
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(f"cannot load CA file {ca_file}: {describe(exc)}") from None
