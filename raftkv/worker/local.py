"""Commands a worker answers itself: connection state (HELLO, CLIENT, SELECT, QUIT) and static facts
(PING, ECHO, COMMAND, CONFIG). None of them touches the key space, so none goes through Raft.

A handler is ``handler(worker, conn, argv) -> reply value``; argv has passed the table's arity check.
"""
from __future__ import annotations

import fnmatch
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from raftkv.kv.table import TABLE, Command, unknown_subcommand, wrong_arity
from raftkv.errors import RespError, err
from raftkv.node.info import REDIS_VERSION

if TYPE_CHECKING:
    from raftkv.worker.server import Connection, Worker

@dataclass(frozen=True, slots=True)
class Forward:
    """A local handler's answer meaning: send this argv to the Raft process in the command's place."""

    argv: list[bytes]


LocalHandler = Callable[["Worker", "Connection", list[bytes]], object]
LOCAL_HANDLERS: dict[str, LocalHandler] = {}

_NOT_AN_INTEGER = err("value is not an integer or out of range")


def local(name: str) -> Callable[[LocalHandler], LocalHandler]:
    def register(fn: LocalHandler) -> LocalHandler:
        LOCAL_HANDLERS[name] = fn
        return fn

    return register


def _int(raw: bytes) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


@local("ping")
def ping(worker: Worker, conn: Connection, argv: list[bytes]) -> object:
    if len(argv) > 2:
        return wrong_arity("ping")
    return argv[1] if len(argv) == 2 else "PONG"


@local("echo")
def echo(worker: Worker, conn: Connection, argv: list[bytes]) -> object:
    return argv[1]


@local("quit")
def quit_(worker: Worker, conn: Connection, argv: list[bytes]) -> object:
    conn.close_after = conn.next_seq  # the sequence number this reply is about to get
    return "OK"


@local("select")
def select(worker: Worker, conn: Connection, argv: list[bytes]) -> object:
    index = _int(argv[1])
    if index is None:
        return _NOT_AN_INTEGER
    return "OK" if index == 0 else err("DB index is out of range")


@local("hello")
def hello(worker: Worker, conn: Connection, argv: list[bytes]) -> object:
    proto = conn.proto
    if len(argv) > 1:
        proto = _int(argv[1])
        if proto is None:
            return err("Protocol version is not an integer or out of range")
        if proto not in (2, 3):
            return RespError("NOPROTO unsupported protocol version")
    name = None
    authenticated = conn.authenticated
    i = 2
    while i < len(argv):
        option = argv[i].lower()
        if option == b"auth" and i + 2 < len(argv):
            if not _password_ok(worker, argv[i + 1], argv[i + 2]):
                return _WRONGPASS
            authenticated = True
            i += 3
        elif option == b"setname" and i + 1 < len(argv):
            name = argv[i + 1]
            i += 2
        else:
            return err(f"Syntax error in HELLO option '{argv[i].decode('utf-8', 'replace')}'")
    if not authenticated:
        return RespError("NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                         "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
                         "select the RESP protocol version at the same time")
    if name is not None:
        problem = _bad_name(name)
        if problem:
            return problem
        conn.name = name
    conn.authenticated = True
    conn.proto = proto
    return {
        b"server": b"redis",
        b"version": REDIS_VERSION.encode(),
        b"proto": proto,
        b"id": conn.client_id,
        b"mode": b"standalone",
        b"role": b"master",
        b"modules": [],
    }


_WRONGPASS = RespError("WRONGPASS invalid username-password pair or user is disabled.")


def _password_ok(worker: Worker, user: bytes, password: bytes) -> bool:
    """Only Redis's ``default`` user exists; without requirepass it takes any password (nopass)."""
    required = worker.config.requirepass
    return user == b"default" and (not required or hmac.compare_digest(password, required))


@local("auth")
def auth(worker: Worker, conn: Connection, argv: list[bytes]) -> object:
    if len(argv) > 3:
        return err("syntax error")
    if len(argv) == 2 and not worker.config.requirepass:
        return err("AUTH <password> called without any password configured for the default user. "
                   "Are you sure your configuration is correct?")
    user = argv[1] if len(argv) == 3 else b"default"
    if not _password_ok(worker, user, argv[-1]):
        return _WRONGPASS
    conn.authenticated = True
    return "OK"


def _bad_name(name: bytes) -> RespError | None:
    if any(c <= 32 or c >= 127 for c in name):
        return err("Client names cannot contain spaces, newlines or special characters.")
    return None


# -- CLIENT ---------------------------------------------------------------------------------------

def _client_line(worker: Worker, conn: Connection) -> str:
    return (
        f"id={conn.client_id} addr={conn.addr} laddr={worker.config.address} fd={conn.sock.fileno()} "
        f"name={conn.name.decode('utf-8', 'replace')} db=0 resp={conn.proto} "
        f"lib-name={conn.lib_name.decode('utf-8', 'replace')} lib-ver={conn.lib_ver.decode('utf-8', 'replace')} "
        f"worker={worker.info.worker_id}\n"
    )


_CLIENT_HELP = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ID", "    Return the ID of the current connection.",
    "GETNAME", "    Return the name of the current connection.",
    "SETNAME <name>", "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>", "    Set client meta attr (LIB-NAME or LIB-VER).",
    "INFO", "    Return information about the current client connection.",
    "LIST", "    Return information about the client connections of this worker process.",
    "HELP", "    Print this help.",
]


@local("client")
def client(worker: Worker, conn: Connection, argv: list[bytes]) -> object:
    sub = argv[1].lower()
    n = len(argv)
    if sub == b"id" and n == 2:
        return conn.client_id
    if sub == b"getname" and n == 2:
        return conn.name or None
    if sub == b"setname" and n == 3:
        problem = _bad_name(argv[2])
        if problem:
            return problem
        conn.name = argv[2]
        return "OK"
    if sub == b"setinfo" and n == 4:
        attr = argv[2].lower()
        if attr == b"lib-name":
            conn.lib_name = argv[3]
        elif attr == b"lib-ver":
            conn.lib_ver = argv[3]
        else:
            return err(f"Unrecognized option '{argv[2].decode('utf-8', 'replace')}'")
        return "OK"
    if sub == b"info" and n == 2:
        return _client_line(worker, conn).encode()
    if sub == b"list" and n == 2:
        return "".join(_client_line(worker, c) for c in worker.connections).encode()
    if sub == b"help" and n == 2:
        return _CLIENT_HELP
    if sub in (b"id", b"getname", b"setname", b"setinfo", b"info", b"list", b"help"):
        return wrong_arity(f"client|{sub.decode()}")
    return unknown_subcommand(argv)


# -- COMMAND --------------------------------------------------------------------------------------

def _command_info(cmd: Command) -> list[object]:
    subcommands = [
        [f"{cmd.name}|{sub}".encode(), -2, [], 0, 0, 0, [], [], [], []] for sub in cmd.subcommands
    ]
    return [cmd.name.encode(), cmd.arity, list(cmd.flags), cmd.first_key, cmd.last_key, cmd.key_step,
            [f"@{cmd.group}"], [], [], subcommands]


def _command_doc(cmd: Command) -> dict[bytes, object]:
    return {b"summary": cmd.summary.encode(), b"since": cmd.since.encode(), b"group": cmd.group.encode()}


@local("command")
def command(worker: Worker, conn: Connection, argv: list[bytes]) -> object:
    if len(argv) == 1:
        return [_command_info(c) for c in TABLE.values()]
    sub = argv[1].lower()
    names = [a.lower() for a in argv[2:]]
    if sub == b"count" and len(argv) == 2:
        return len(TABLE)
    if sub == b"list" and len(argv) == 2:
        return [c.name.encode() for c in TABLE.values()]
    if sub == b"info":
        chosen = names or list(TABLE)
        return [_command_info(TABLE[n]) if n in TABLE else None for n in chosen]
    if sub == b"docs":
        chosen = [n for n in names if n in TABLE] if names else list(TABLE)
        return {n: _command_doc(TABLE[n]) for n in chosen}
    if sub in (b"count", b"list"):
        return wrong_arity(f"command|{sub.decode()}")
    return unknown_subcommand(argv)


# -- CONFIG ---------------------------------------------------------------------------------------

def _config_values(worker: Worker) -> dict[str, str]:
    config = worker.config
    return {
        # Every write is synced to the Raft log before it is answered: the equivalent of an
        # append-only file with fsync always, and no RDB snapshots.
        "appendonly": "yes",
        "appendfsync": "always",
        "save": "",
        "bind": config.host,
        "port": str(config.port),
        "databases": "1",
        "dir": str(config.data_dir),
        "maxclients": str(config.maxclients),
        "maxmemory": "0",
        "maxmemory-policy": "noeviction",
        "proto-max-bulk-len": str(config.max_bulk_len),
        "timeout": "0",
        "cluster-enabled": "no",
    }


@local("config")
def config_command(worker: Worker, conn: Connection, argv: list[bytes]) -> object:
    sub = argv[1].lower()
    if sub == b"get":
        if len(argv) < 3:
            return wrong_arity("config|get")
        patterns = [a.decode("utf-8", "replace").lower() for a in argv[2:]]
        return {
            name.encode(): value.encode()
            for name, value in _config_values(worker).items()
            if any(fnmatch.fnmatchcase(name, p) for p in patterns)
        }
    if sub == b"set":
        if len(argv) < 4 or len(argv) % 2:
            return wrong_arity("config|set")
        return err(f"Unknown option or number of arguments for CONFIG SET - "
                   f"'{argv[2].decode('utf-8', 'replace')}'")
    if sub == b"resetstat" and len(argv) == 2:
        return "OK"
    return unknown_subcommand(argv)


# -- transactions ---------------------------------------------------------------------------------
# The worker queues a transaction's commands (they were validated as they came); EXEC sends them all as
# one write. Watched keys live in the Raft process, which orders WATCH before the connection's next
# write; DISCARD and an aborted EXEC tell it to forget them (UNWATCH, with the reply to give).

_EXECABORT = b"EXECABORT Transaction discarded because of previous errors."


@local("multi")
def multi(worker: Worker, conn: Connection, argv: list[bytes]) -> object:
    if conn.multi is not None:
        return err("MULTI calls can not be nested")
    conn.multi = []
    conn.multi_failed = False
    return "OK"


@local("exec")
def exec_(worker: Worker, conn: Connection, argv: list[bytes]) -> object:
    if conn.multi is None:
        return err("EXEC without MULTI")
    queued, failed = conn.multi, conn.multi_failed
    conn.multi = None
    if failed:
        return Forward([b"UNWATCH", _EXECABORT])
    return Forward([b"EXEC", *queued])


@local("discard")
def discard(worker: Worker, conn: Connection, argv: list[bytes]) -> object:
    if conn.multi is None:
        return err("DISCARD without MULTI")
    conn.multi = None
    return Forward([b"UNWATCH"])


@local("watch")
def watch(worker: Worker, conn: Connection, argv: list[bytes]) -> object:
    if conn.multi is not None:
        return err("WATCH inside MULTI is not allowed")
    return Forward(argv)
