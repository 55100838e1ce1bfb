"""ACL SETUSER and ACL DELUSER as the state machine applies them: the user table is replicated state.

The worker answers the other ACL subcommands from the table it was last sent (:mod:`raftkv.worker.permissions`)
and forwards these two, with clear passwords already replaced by their hashes; what they change, and
whether they are refused, is decided here, on the table as of the entry, identically on every node.
"""
from __future__ import annotations

from raftkv import acl
from raftkv.errors import RespError, err
from raftkv.kv.keyspace import Handler, Keyspace, Reply


def acl_(sm: Keyspace, argv: list[bytes], now_ms: int) -> Reply:
    sub = argv[1].lower()
    if sub == b"setuser" and len(argv) >= 3:
        users = acl.set_user(sm.users, argv[2], argv[3:])
        if isinstance(users, RespError):
            return users
        sm.users = users
        return "OK"
    if sub == b"deluser" and len(argv) >= 3:
        outcome = acl.delete_users(sm.users, argv[2:])
        if isinstance(outcome, RespError):
            return outcome
        removed, sm.users = outcome
        return removed
    # Inside MULTI the worker queues every ACL subcommand; only these two are the state machine's.
    return err(f"ACL {argv[1].decode('utf-8', 'replace').upper()} cannot run inside MULTI")


HANDLERS: dict[bytes, Handler] = {b"acl": acl_}
