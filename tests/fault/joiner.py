"""``raftkv-server --join`` for a node whose peers reach it through a proxy.

A node started with ``--initial-cluster host:port@peerhost:peerport`` advertises that peer address and
listens on ``--peer-port``, which may differ (a proxy stands between). The command line gives a node
started with ``--join`` no such choice: it advertises the port it listens on. This script takes one more
option, ``--advertise-peer-port PORT``, and runs ``raftkv-server`` with the rest of its arguments, the
node advertising ``host:PORT`` while it listens on ``--peer-port``. Run as a file, not a module, so
that it needs nothing but the installed ``raftkv``:

    python tests/fault/joiner.py --advertise-peer-port 21001 --port 21000 --peer-port 21002 --join ADDR ...
"""
from __future__ import annotations

import sys

from raftkv import server_cli


def main(argv: list[str]) -> None:
    args = list(argv)
    try:
        i = args.index("--advertise-peer-port")
        advertised = int(args[i + 1])
    except (ValueError, IndexError):
        sys.exit("joiner.py: --advertise-peer-port PORT is required")
    del args[i:i + 2]
    if "--join" not in args:
        sys.exit("joiner.py: only for a node started with --join")
    choose = server_cli._cluster  # (host, port, peer_port, spec) -> (members, this node's entry)

    def advertising(host: str, port: int, peer_port: int | None, spec: str | None):  # type: ignore[no-untyped-def]
        return choose(host, port, peer_port, spec or f"{host}:{port}@{host}:{advertised}")

    server_cli._cluster = advertising
    server_cli.main(args, prog_name="raftkv-server")


if __name__ == "__main__":
    main(sys.argv[1:])
