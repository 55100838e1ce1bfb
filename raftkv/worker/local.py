"""Commands a worker answers itself, and the gate every command passes in the worker.

The LOCAL commands are connection state (HELLO, AUTH, CLIENT, SELECT, QUIT, READONLY, MONITOR), static
facts (PING, ECHO, COMMAND), the worker's half of transactions (MULTI queueing) and of CONFIG (checked
here, answered by the Raft process). None of them touches the key space, so none goes through Raft. The
worker counts those it answers for INFO commandstats. :func:`dispatch` applies the rules of the command table (arity,
``no_auth``, ``runs_in_multi``, ``queueable``) and either answers a command on its session or returns the
argv to forward to the Raft process. This module does no I/O: it changes sessions and appends replies to
them; :mod:`raftkv.worker.server` reads, writes and forwards.

A handler is ``handler(session, worker_info, argv) -> reply value``, or :class:`Forward` to send an argv
to the Raft process in the command's place; argv has passed the table's arity check.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from raftkv import REDIS_VERSION
from raftkv.acl import User
from raftkv.command_stats import CommandStats, stat_name
from raftkv.config import NodeConfig
from raftkv.errors import RespError, err
from raftkv.kv.args import NOT_AN_INTEGER, parse_int
from raftkv.kv.table import READ, TABLE, Command, lookup, subcommand_refusal, unknown_subcommand, wrong_arity
from raftkv.wire.resp import encode_command
from raftkv.worker.client_filters import parse_kill, parse_list
from raftkv.worker.permissions import UserTable, acl_reply, log_in, refusal, to_log
from raftkv.worker.session import Session


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """What connection commands may know of their worker (CLIENT LIST, passwords)."""

    worker_id: int
    config: NodeConfig
    sessions: Mapping[int, Session]  # the worker's open sessions by connection id (a live view)
    monitors: dict[int, Session] = field(default_factory=dict)  # its MONITOR sessions (raftkv.worker.monitor)
    acl: UserTable = field(default_factory=UserTable)  # the applied ACL users


@dataclass(frozen=True, slots=True)
class Forward:
    """A local handler's answer meaning: send this argv to the Raft process in the command's place."""

    argv: list[bytes]


LocalHandler = Callable[[Session, WorkerInfo, list[bytes]], object]

_NOAUTH = RespError("NOAUTH Authentication required.")
_NOT_IN_MULTI = err("Command not allowed inside a transaction")


def dispatch(session: Session, info: WorkerInfo, argv: list[bytes]) -> list[bytes] | None:
    """Takes one command read from ``session``: answers it there (and returns None), or returns the argv
    to forward to the Raft process, for which the caller takes the session's next sequence number.

    In order, as Redis: an unknown command or a bad arity is refused, a command without ``no_auth`` on a
    connection that has not authenticated is refused, so is one its ACL user may not run, inside MULTI a
    command is queued unless it ``runs_in_multi``; then a LOCAL handler answers it (or rewrites what is
    forwarded), or it goes as is (a READ of a READONLY connection as ``READONLY <argv>``: served without a
    read index).
    A command after ASKING goes as ``ASKING <argv>`` (:func:`_after_asking`).
    """
    if session.asking:
        return _after_asking(session, info, argv)
    cmd = lookup(argv)
    if not session.authenticated and cmd.__class__ is Command and not cmd.no_auth:
        session.answer(_NOAUTH)
        return None
    if session.limits is not None and cmd.__class__ is Command:  # a user without every permission
        refused = refusal(session, cmd, argv)
        if refused is not None:
            session.answer(refused)
            return None
    if session.multi is not None and (cmd.__class__ is not Command or not cmd.runs_in_multi):
        _queue(session, argv, cmd)
        return None
    if cmd.__class__ is not Command:
        session.answer(cmd)
        return None
    local = LOCAL_HANDLERS.get(cmd.name)
    if local is not None:
        result = local(session, info, argv)
        if result.__class__ is not Forward:
            session.answer(result)
            return None
        return result.argv
    if session.readonly and cmd.where is READ:
        return [b"READONLY", *argv]  # the Raft process serves it at once from its applied state
    return argv


def _after_asking(session: Session, info: WorkerInfo, argv: list[bytes]) -> list[bytes] | None:
    """Redis Cluster's ASKING lasts one command, whatever it is: this one is forwarded marked (a READONLY
    read becomes a linearizable one: the node it was sent to imports the slot, so it must confirm it);
    EXEC goes unmarked: a transaction is not served for a slot being imported."""
    session.asking = False
    forwarded = dispatch(session, info, argv)
    if forwarded is None or forwarded[0] == b"EXEC":
        return forwarded
    return [b"ASKING", *(forwarded[1:] if forwarded[0] == b"READONLY" else forwarded)]


def _queue(session: Session, argv: list[bytes], cmd: Command | RespError) -> None:
    """Inside MULTI: queue a valid command; refuse (and doom the EXEC) an invalid one, as Redis."""
    assert session.multi is not None
    if isinstance(cmd, RespError):
        session.multi_failed = True
        session.answer(cmd)
    elif not cmd.queueable:
        session.multi_failed = True
        session.answer(_NOT_IN_MULTI)
    else:
        session.multi.append(encode_command(argv))
        session.answer("QUEUED")


def _int(raw: bytes) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def ping(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    if len(argv) > 2:
        return wrong_arity("ping")
    return argv[1] if len(argv) == 2 else "PONG"


def echo(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    return argv[1]


def quit_(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    session.close_after = session.next_seq  # the sequence number this reply is about to get
    return "OK"


def select(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    index = _int(argv[1])
    if index is None:
        return NOT_AN_INTEGER
    return "OK" if index == 0 else err("DB index is out of range")


def hello(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    proto = session.proto
    if len(argv) > 1:
        requested = _int(argv[1])
        if requested is None:
            return err("Protocol version is not an integer or out of range")
        proto = requested
        if proto not in (2, 3):
            return RespError("NOPROTO unsupported protocol version")
    name = None
    user = None
    i = 2
    while i < len(argv):
        option = argv[i].lower()
        if option == b"auth" and i + 2 < len(argv):
            user = _password_ok(info, argv[i + 1], argv[i + 2])
            if user is None:
                return _WRONGPASS
            i += 3
        elif option == b"setname" and i + 1 < len(argv):
            name = argv[i + 1]
            i += 2
        else:
            return err(f"Syntax error in HELLO option '{argv[i].decode('utf-8', 'replace')}'")
    if user is None and not session.authenticated:
        return RespError("NOAUTH HELLO must be called with the client already authenticated, otherwise the "
                         "HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and "
                         "select the RESP protocol version at the same time")
    if name is not None:
        problem = _bad_name(name)
        if problem:
            return problem
        session.name = name
    if user is not None:
        log_in(session, user)
    session.proto = proto
    return {
        b"server": b"redis",
        b"version": REDIS_VERSION.encode(),
        b"proto": proto,
        b"id": session.client_id,
        b"mode": b"standalone",
        b"role": b"master",
        b"modules": [],
    }


_WRONGPASS = RespError("WRONGPASS invalid username-password pair or user is disabled.")


def _password_ok(info: WorkerInfo, user: bytes, password: bytes) -> User | None:
    """The user ``user`` if it is on and ``password`` is one of its own (any, for ``nopass``)."""
    found = info.acl.find(user, info.config.requirepass)
    return found if found is not None and found.accepts(password) else None


def auth(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    if len(argv) > 3:
        return err("syntax error")
    if len(argv) == 2 and not info.config.requirepass:
        return err("AUTH <password> called without any password configured for the default user. "
                   "Are you sure your configuration is correct?")
    user = _password_ok(info, argv[1] if len(argv) == 3 else b"default", argv[-1])
    if user is None:
        return _WRONGPASS
    log_in(session, user)
    return "OK"


def acl_(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    # SETUSER and DELUSER change replicated state: they go through the log; the rest reads this worker's table.
    forwarded = to_log(argv)
    if forwarded is not None:
        return Forward(forwarded)
    return acl_reply(session, info.acl, info.config.requirepass, argv)


def _bad_name(name: bytes) -> RespError | None:
    if any(c <= 32 or c >= 127 for c in name):
        return err("Client names cannot contain spaces, newlines or special characters.")
    return None


# -- CLIENT ---------------------------------------------------------------------------------------

def _flags(session: Session) -> str:
    """Redis's flag letters: O monitor, x in MULTI, c closing after its reply, r READONLY, e NO-EVICT."""
    flags = "".join(letter for letter, on in (
        ("O", session.monitor_seq >= 0), ("x", session.multi is not None),
        ("c", session.close_after is not None), ("r", session.readonly), ("e", session.no_evict)) if on)
    return flags or "N"


def client_line(session: Session, info: WorkerInfo) -> str:
    """One line of CLIENT LIST and CLIENT INFO (the fields raftkv knows, in Redis's order, then ours)."""
    multi = -1 if session.multi is None else len(session.multi)
    return (
        f"id={session.client_id} addr={session.addr} laddr={info.config.address} fd={session.sock.fileno()} "
        f"name={session.name.decode('utf-8', 'replace')} flags={_flags(session)} db=0 multi={multi} "
        f"user={session.user.decode('utf-8', 'replace')} resp={session.proto} "
        f"lib-name={session.lib_name.decode('utf-8', 'replace')} lib-ver={session.lib_ver.decode('utf-8', 'replace')} "
        f"worker={info.worker_id}\n"
    )


_CLIENT_HELP = [
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ID", "    Return the ID of the current connection.",
    "GETNAME", "    Return the name of the current connection.",
    "SETNAME <name>", "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>", "    Set client meta attr (LIB-NAME or LIB-VER).",
    "INFO", "    Return information about the current client connection.",
    "KILL <ip:port>", "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections of this node. Options are:",
    "    * ADDR <ip:port>", "      Kill connections made from the specified address",
    "    * LADDR <ip:port>", "      Kill connections made to specified local address",
    "    * ID <client-id>", "      Kill connections by client id.",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)", "      Kill connections by type.",
    "    * USER <username>", "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)", "      Skip killing current connection (default: yes).",
    "LIST [options ...]", "    Return information about the client connections of this node. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)", "      Return clients of specified type.",
    "    * ID <client-id> [<client-id> ...]", "      Return clients of specified IDs only.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client (of this node).",
    "NO-EVICT (ON|OFF)", "    Protect current client connection from eviction (raftkv evicts none).",
    "HELP", "    Print this help.",
]


def client(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    sub = argv[1].lower()
    n = len(argv)
    if sub == b"id" and n == 2:
        return session.client_id
    if sub == b"getname" and n == 2:
        return session.name or None
    if sub == b"setname" and n == 3:
        problem = _bad_name(argv[2])
        if problem:
            return problem
        session.name = argv[2]
        return "OK"
    if sub == b"setinfo" and n == 4:
        attr = argv[2].lower()
        if attr == b"lib-name":
            session.lib_name = argv[3]
        elif attr == b"lib-ver":
            session.lib_ver = argv[3]
        else:
            return err(f"Unrecognized option '{argv[2].decode('utf-8', 'replace')}'")
        return "OK"
    if sub == b"info" and n == 2:
        return client_line(session, info).encode()
    if sub in (b"list", b"kill") and n >= (2 if sub == b"list" else 3):
        # The node's connections are in every worker: the Raft process asks them all
        # (raftkv.node.clients); a bad filter is refused here first.
        chosen = (parse_list if sub == b"list" else parse_kill)(argv[2:])
        if isinstance(chosen, RespError):
            return chosen
        if chosen.user is not None and info.acl.find(chosen.user, info.config.requirepass) is None:
            return err(f"No such user '{chosen.user.decode('utf-8', 'replace')}'")
        return Forward(argv)
    if sub == b"no-evict" and n == 3:
        if argv[2].lower() not in (b"on", b"off"):
            return err("syntax error")
        session.no_evict = argv[2].lower() == b"on"
        return "OK"
    if sub == b"help" and n == 2:
        return _CLIENT_HELP
    if sub == b"unblock" and n in (3, 4):
        # Blocked clients are held by the Raft process, which answers (any worker's connection).
        if n == 4 and argv[3].lower() not in (b"timeout", b"error"):
            return err("CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        if parse_int(argv[2]) is None:
            return NOT_AN_INTEGER
        return Forward(argv)
    if sub in (b"id", b"getname", b"setname", b"setinfo", b"info", b"list", b"kill", b"no-evict", b"help",
               b"unblock"):
        return wrong_arity(f"client|{sub.decode()}")
    return unknown_subcommand(argv)


# -- MONITOR, READONLY, ASKING --------------------------------------------------------------------

def monitor(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    # The Raft process tells every worker to feed lines, then answers +OK; lines follow the +OK.
    session.monitor_seq = session.next_seq  # the sequence number the forwarded MONITOR is about to get
    info.monitors[session.conn_id] = session
    return Forward(argv)


def readonly(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    """Redis Cluster's READONLY: this connection's reads are served from this node's applied state
    without asking the leader (fast, possibly stale); see :func:`dispatch`."""
    session.readonly = True
    return "OK"


def asking(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    """Redis Cluster's ASKING, sent by a client after ``-ASK``: its next command is served by a node
    importing the slot, which would otherwise send it back with MOVED."""
    session.asking = True
    return "OK"


def readwrite(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    session.readonly = False
    return "OK"


# -- COMMAND --------------------------------------------------------------------------------------

def _command_info(cmd: Command) -> list[object]:
    subcommands = [
        [f"{cmd.name}|{sub}".encode(), -2, [], 0, 0, 0, [], [], [], []] for sub in cmd.subcommands
    ]
    return [cmd.name.encode(), cmd.arity, list(cmd.flags), cmd.first_key, cmd.last_key, cmd.key_step,
            [f"@{cmd.group}"], [], [], subcommands]


def _command_doc(cmd: Command) -> dict[bytes, object]:
    return {b"summary": cmd.summary.encode(), b"since": cmd.since.encode(), b"group": cmd.group.encode()}


def command(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
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
# The Raft process owns the node's current configuration (raftkv.node.config_command): the worker checks
# the arity and forwards, so a connection's CONFIG GET after its CONFIG SET sees the new value.

_CONFIG_ARITY = {b"get": -3, b"set": -4, b"resetstat": 2, b"rewrite": 2, b"help": 2}


def config_command(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    refusal = subcommand_refusal(argv, _CONFIG_ARITY)
    if refusal is not None:
        return refusal
    if argv[1].lower() == b"set" and len(argv) % 2:
        return err("syntax error")  # a name without its value, as Redis answers
    return Forward(argv)


# -- transactions ---------------------------------------------------------------------------------
# The worker queues a transaction's commands (they were validated as they came); EXEC sends them all as
# one write. Watched keys live in the Raft process, which orders WATCH before the connection's next
# write; DISCARD and an aborted EXEC tell it to forget them (UNWATCH, with the reply to give).

_EXECABORT = b"EXECABORT Transaction discarded because of previous errors."


def multi(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    if session.multi is not None:
        return err("MULTI calls can not be nested")
    session.multi = []
    session.multi_failed = False
    return "OK"


def exec_(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    if session.multi is None:
        return err("EXEC without MULTI")
    queued, failed = session.multi, session.multi_failed
    session.multi = None
    if failed:
        return Forward([b"UNWATCH", _EXECABORT])
    return Forward([b"EXEC", *queued])


def discard(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    if session.multi is None:
        return err("DISCARD without MULTI")
    session.multi = None
    return Forward([b"UNWATCH"])


def watch(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
    if session.multi is not None:
        return err("WATCH inside MULTI is not allowed")
    return Forward(argv)


def _naming_on_node(handler: LocalHandler) -> LocalHandler:
    """CLIENT with a CLIENT SETNAME the worker accepted also tells the Raft process the name, which
    answers OK in its place (its slow log shows the name)."""
    def named(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
        result = handler(session, info, argv)
        if result == "OK" and argv[1].lower() == b"setname":
            return Forward([b"CLIENT", b"SETNAME", session.name])
        return result
    return named


# What this worker answers itself is counted here, and sent to the Raft process once per loop turn
# (raftkv.worker.server), so that INFO commandstats counts these commands too.
LOCAL_STATS = CommandStats()


def _counted(name: str, handler: LocalHandler) -> LocalHandler:
    """``handler`` timed and counted in LOCAL_STATS when it answers (what it forwards is counted there)."""
    cmd = TABLE[name.encode()]
    clock, called = time.perf_counter_ns, LOCAL_STATS.called  # bound once: this runs for every PING

    def counted(session: Session, info: WorkerInfo, argv: list[bytes]) -> object:
        started_ns = clock()
        result = handler(session, info, argv)
        if result.__class__ is not Forward:
            called(stat_name(cmd, argv) if cmd.subcommands else name, (clock() - started_ns) // 1000, result)
        return result
    return counted


LOCAL_HANDLERS: dict[str, LocalHandler] = {name: _counted(name, handler) for name, handler in {
    "ping": ping,
    "echo": echo,
    "quit": quit_,
    "select": select,
    "hello": hello,
    "auth": auth,
    "client": _naming_on_node(client),
    "monitor": monitor,
    "readonly": readonly,
    "asking": asking,
    "readwrite": readwrite,
    "command": command,
    "config": config_command,
    "multi": multi,
    "exec": exec_,
    "discard": discard,
    "watch": watch,
    "acl": acl_,
}.items()}
