"""Users and what they may run: the subset of Redis's ACL that makes users with passwords and read-only
users. Pure: no I/O, no clock.

Rules (``ACL SETUSER name rule...``): ``on``/``off``, ``>password``/``<password`` (add/remove, kept as
SHA-256 as Redis keeps them), ``#hash``/``!hash`` (the same by hash), ``nopass``, ``resetpass``, ``~*`` or
``allkeys``, ``+@all`` or ``allcommands``, ``-@all`` or ``nocommands``, and categories ``+@<cat>``/``-@<cat>``
of :func:`categories`. Anything else is refused with Redis's error text: raftkv has no per-command rules,
key patterns other than ``*``, channels or selectors.

A :class:`User` is a frozen value and the table of users a dict of name -> User that is replaced whole on
every change, so a holder tells a change by identity. The ``default`` user is not in the table: it is made
from ``--requirepass`` (``nopass`` without one), has every permission and cannot be changed or removed,
so that every node of a cluster (whose nodes share requirepass) agrees on it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, replace

from raftkv.errors import RespError, err
from raftkv.kv.table import TABLE, Command

DEFAULT = b"default"
_ALL, _NONE = "+@all", "-@all"
_HEX = frozenset("0123456789abcdef")

# The categories of Redis that raftkv's commands fall in, in the order ACL CAT lists them.
_CATEGORY_ORDER = ("keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "admin", "fast",
                   "slow", "blocking", "dangerous", "connection", "transaction")
# Containers whose table row has no flags (as Redis's) but whose subcommands that change things Redis puts
# in @admin and @dangerous: a user kept out of those cannot change users or the configuration.
_ADMIN_CONTAINERS = frozenset({"acl", "config"})
_GROUP_CATEGORY = {"generic": "keyspace", "string": "string", "hash": "hash", "list": "list", "set": "set",
                   "sorted-set": "sortedset", "connection": "connection", "transactions": "transaction"}


def command_categories(cmd: Command) -> frozenset[str]:
    """The ACL categories of a command, from its group and flags as Redis derives them."""
    cats = {"fast" if "fast" in cmd.flags else "slow"}
    if cmd.group in _GROUP_CATEGORY:
        cats.add(_GROUP_CATEGORY[cmd.group])
    if "readonly" in cmd.flags:
        cats.add("read")
    if "write" in cmd.flags:
        cats.add("write")
    if "admin" in cmd.flags or cmd.name in _ADMIN_CONTAINERS:
        cats.update(("admin", "dangerous"))
    if "blocking" in cmd.flags:
        cats.add("blocking")
    return frozenset(cats)


TABLE_NAMES = frozenset(c.name for c in TABLE.values())
_MEMBERS: dict[str, frozenset[str]] = {
    cat: frozenset(c.name for c in TABLE.values() if cat in command_categories(c)) for cat in _CATEGORY_ORDER
}


def categories() -> list[str]:
    """ACL CAT: every category some command of raftkv is in."""
    return [cat for cat in _CATEGORY_ORDER if _MEMBERS[cat]]


def category_commands(name: bytes) -> list[str] | RespError:
    """ACL CAT <category>: its commands, or Redis's error for a category raftkv does not know."""
    members = _MEMBERS.get(name.decode("utf-8", "replace").lower())
    if not members:
        return err(f"Unknown category '{name.decode('utf-8', 'replace')[:128]}'")
    return sorted(members)


def password_hash(password: bytes) -> str:
    return hashlib.sha256(password).hexdigest()


@dataclass(frozen=True, slots=True)
class Limits:
    """What a user without every permission may not do; None stands for a user who may do everything, so
    that the check per command of such a user is one attribute test."""

    user: str
    commands: frozenset[str]
    allkeys: bool

    def refuse(self, cmd: Command, argv: list[bytes]) -> RespError | None:
        """Redis's NOPERM reply if the user may not run ``argv``, else None. Commands allowed before AUTH
        (AUTH, HELLO, QUIT) are always allowed, as in Redis."""
        if cmd.name not in self.commands and not cmd.no_auth:
            return RespError(f"NOPERM User {self.user} has no permissions to run the '{cmd.name}' command")
        if not self.allkeys and (cmd.first_key or "movablekeys" in cmd.flags):
            return RespError("NOPERM No permissions to access a key")
        return None


@dataclass(frozen=True, slots=True)
class User:
    name: bytes
    enabled: bool = False
    nopass: bool = False
    passwords: tuple[str, ...] = ()  # SHA-256 in hex, sorted
    allkeys: bool = False
    commands: tuple[str, ...] = (_NONE,)  # ``+@all``/``-@all`` then category rules, in the order given

    def accepts(self, password: bytes) -> bool:
        """Whether AUTH with ``password`` logs in as this user."""
        if not self.enabled:
            return False
        if self.nopass:
            return True
        given = password_hash(password)
        return any(hmac.compare_digest(given, known) for known in self.passwords)

    def limits(self) -> Limits | None:
        allowed: set[str] = set()
        for rule in self.commands:
            members = set(TABLE_NAMES) if rule[2:] == "all" else _MEMBERS[rule[2:]]
            if rule[0] == "+":
                allowed |= members
            else:
                allowed -= members
        if self.allkeys and allowed >= TABLE_NAMES:
            return None
        return Limits(self.name.decode("utf-8", "replace"), frozenset(allowed), self.allkeys)


def default_user(requirepass: bytes) -> User:
    """The ``default`` user of a node started with ``requirepass`` (empty: none)."""
    return User(DEFAULT, True, not requirepass, (password_hash(requirepass),) if requirepass else (), True,
                (_ALL,))


def _modifier_error(rule: bytes, reason: str) -> RespError:
    return err(f"Error in ACL SETUSER modifier '{rule.decode('utf-8', 'replace')}': {reason}")


def _bad_name(name: bytes) -> RespError | None:
    if not name or any(c <= 32 for c in name):
        return err("Usernames can't contain spaces or null characters")
    if name == DEFAULT:
        return err("The 'default' user is set by requirepass in raftkv and cannot be changed with ACL SETUSER")
    return None


def _apply_rule(user: User, rule: bytes) -> User | RespError:
    lower = rule.lower()
    if lower in (b"on", b"off"):
        return replace(user, enabled=lower == b"on")
    if lower == b"nopass":
        return replace(user, nopass=True, passwords=())
    if lower == b"resetpass":
        return replace(user, nopass=False, passwords=())
    if lower in (b"~*", b"allkeys"):
        return replace(user, allkeys=True)
    if lower in (b"+@all", b"allcommands"):
        return replace(user, commands=(_ALL,))
    if lower in (b"-@all", b"nocommands"):
        return replace(user, commands=(_NONE,))
    head, body = rule[:1], rule[1:]
    if head in (b">", b"#", b"<", b"!"):
        digest = password_hash(body) if head in (b">", b"<") else body.decode("latin-1")
        if head in (b"#", b"!") and (len(digest) != 64 or not set(digest) <= _HEX):
            return _modifier_error(rule, "The password hash must be exactly 64 characters and contain only "
                                         "lowercase hexadecimal characters")
        if head in (b">", b"#"):
            return replace(user, nopass=False, passwords=tuple(sorted({*user.passwords, digest})))
        if digest not in user.passwords:
            return _modifier_error(rule, "The password you are trying to remove from the user does not exist")
        return replace(user, passwords=tuple(p for p in user.passwords if p != digest))
    if lower[:2] in (b"+@", b"-@"):
        cat = lower[2:].decode("utf-8", "replace")
        if not _MEMBERS.get(cat):
            return _modifier_error(rule, "Unknown command category")
        return replace(user, commands=(*user.commands, f"{lower[:1].decode()}@{cat}"))
    return _modifier_error(rule, "Syntax error")


def set_user(users: dict[bytes, User], name: bytes, rules: list[bytes]) -> dict[bytes, User] | RespError:
    """ACL SETUSER: a new table with ``name`` created (off, no password, no command, no key) or changed by
    ``rules`` in order; nothing changes when a rule is refused."""
    problem = _bad_name(name)
    if problem is not None:
        return problem
    user = users.get(name) or User(name)
    for rule in rules:
        changed = _apply_rule(user, rule)
        if isinstance(changed, RespError):
            return changed
        user = changed
    return {**users, name: user}


def delete_users(users: dict[bytes, User], names: list[bytes]) -> tuple[int, dict[bytes, User]] | RespError:
    """ACL DELUSER: how many of ``names`` existed, and the table without them."""
    if DEFAULT in names:
        return err("The 'default' user cannot be removed")
    gone = {name for name in names if name in users}
    return len(gone), {name: user for name, user in users.items() if name not in gone}


def hash_passwords(rules: list[bytes]) -> list[bytes]:
    """The rules with every clear password replaced by its hash (``>p`` by ``#sha256(p)``, ``<p`` by
    ``!sha256(p)``), so that no password is written to the log."""
    return [(b"#" if r[:1] == b">" else b"!") + password_hash(r[1:]).encode() if r[:1] in (b">", b"<") else r
            for r in rules]


def describe(user: User) -> dict[bytes, object]:
    """ACL GETUSER's reply, with Redis 7's fields."""
    flags = [b"on" if user.enabled else b"off"] + ([b"nopass"] if user.nopass else [])
    return {b"flags": flags, b"passwords": [p.encode() for p in user.passwords],
            b"commands": " ".join(user.commands).encode(), b"keys": b"~*" if user.allkeys else b"",
            b"channels": b"", b"selectors": []}


def acl_line(user: User) -> bytes:
    """ACL LIST's line for a user: rules that ACL SETUSER takes back."""
    parts = [b"user", user.name, b"on" if user.enabled else b"off"]
    parts += [b"nopass"] if user.nopass else [b"#" + p.encode() for p in user.passwords]
    parts += [b"~*"] if user.allkeys else []
    parts += [c.encode() for c in user.commands]
    return b" ".join(parts)


def encode_users(users: dict[bytes, User]) -> bytes:
    """The table as JSON (in snapshots and on the pipes to the workers)."""
    return json.dumps([{"name": u.name.decode("latin-1"), "enabled": u.enabled, "nopass": u.nopass,
                        "passwords": list(u.passwords), "allkeys": u.allkeys, "commands": list(u.commands)}
                       for u in users.values()]).encode()


def decode_users(raw: bytes) -> dict[bytes, User]:
    users = [User(d["name"].encode("latin-1"), d["enabled"], d["nopass"], tuple(d["passwords"]), d["allkeys"],
                  tuple(d["commands"])) for d in json.loads(raw)]
    return {u.name: u for u in users}
