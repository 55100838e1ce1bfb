"""The worker's half of ACL: who a connection is, what it may run, and the ACL subcommands that read.

The user table is replicated state (:mod:`raftkv.kv.commands.users` changes it as entries apply); the Raft
process sends each worker the whole table after every change and when the worker attaches (a ``users``
node request, :mod:`raftkv.worker.node_requests`), and the worker keeps it in a :class:`UserTable`.
AUTH and HELLO AUTH check passwords against it, ACL GETUSER/LIST/USERS answer from it (this node's
applied table: it may trail the leader's by the entries in flight), and ACL SETUSER/DELUSER are forwarded
to go through the log, clear passwords replaced by their hashes first.

A session's ``limits`` is what its user may not do (None for a user who may do everything, so that for
them the check per command costs one attribute test); a change of the table updates the limits of every
session of a changed user at once, and closes the sessions of a deleted one, as Redis does.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from raftkv import acl
from raftkv.errors import RespError
from raftkv.kv.table import Command, unknown_subcommand, wrong_arity
from raftkv.worker.session import Session


class UserTable:
    """This worker's copy of the applied ACL users (all but ``default``)."""

    def __init__(self) -> None:
        self.users: dict[bytes, acl.User] = {}

    def find(self, name: bytes, requirepass: bytes) -> acl.User | None:
        """The user called ``name``; ``default`` is made from the node's requirepass."""
        return acl.default_user(requirepass) if name == acl.DEFAULT else self.users.get(name)


def log_in(session: Session, user: acl.User) -> None:
    session.authenticated = True
    session.user = user.name
    session.limits = user.limits()


def users_changed(table: UserTable, sessions: Mapping[int, Session], raw: bytes,
                  close: Callable[[Session], None]) -> None:
    """The Raft process sent the applied table ``raw``: the sessions of its users follow it."""
    table.users = acl.decode_users(raw)
    for session in list(sessions.values()):
        if session.user == acl.DEFAULT:
            continue
        user = table.users.get(session.user)
        if user is None:
            close(session)
        else:
            session.limits = user.limits()


_ARITY = {b"whoami": (2, 2), b"users": (2, 2), b"list": (2, 2), b"cat": (2, 3), b"getuser": (3, 3),
          b"setuser": (3, None), b"deluser": (3, None), b"help": (2, 2)}

_HELP = [
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]", "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]", "    Delete a list of users.",
    "GETUSER <username>", "    Get the user's details.",
    "LIST", "    Show users details in config file format.",
    "SETUSER <username> <attribute> [<attribute> ...]", "    Create or modify a user with the specified attributes.",
    "USERS", "    List all the registered usernames.",
    "WHOAMI", "    Return the current connection username.",
    "HELP", "    Print this help.",
]


def to_log(argv: list[bytes]) -> list[bytes] | None:
    """The argv to forward for ACL SETUSER or DELUSER (through the log), None for the others."""
    sub = argv[1].lower()
    if sub not in (b"setuser", b"deluser") or len(argv) < 3:
        return None
    return [*argv[:3], *acl.hash_passwords(argv[3:])] if sub == b"setuser" else argv


def acl_reply(session: Session, table: UserTable, requirepass: bytes, argv: list[bytes]) -> object:
    """The reply to an ACL subcommand that :func:`to_log` does not forward."""
    sub = argv[1].lower()
    if sub not in _ARITY:
        return unknown_subcommand(argv)
    low, high = _ARITY[sub]
    if len(argv) < low or (high is not None and len(argv) > high):
        return wrong_arity(f"acl|{sub.decode()}")
    if sub == b"whoami":
        return session.user
    if sub == b"cat":
        return acl.category_commands(argv[2]) if len(argv) == 3 else acl.categories()
    if sub == b"help":
        return _HELP
    everyone = [acl.default_user(requirepass), *table.users.values()]
    if sub == b"users":
        return sorted(u.name for u in everyone)
    if sub == b"list":
        return sorted(acl.acl_line(u) for u in everyone)
    user = table.find(argv[2], requirepass)
    return acl.describe(user) if user is not None else None


def refusal(session: Session, cmd: Command, argv: list[bytes]) -> RespError | None:
    """NOPERM when the session's user may not run ``argv`` (the caller has checked it has limits)."""
    assert session.limits is not None
    refusal = session.limits.refuse(cmd, argv)
    if refusal is not None and session.multi is not None:
        session.multi_failed = True  # as Redis: a refused command dooms the EXEC
    return refusal
