"""ACL-lite's rules, permissions and their replication as state: raftkv.acl and the ACL command the state
machine applies, with Redis's error texts."""
from __future__ import annotations

import hashlib
import io

import pytest

from raftkv import acl
from raftkv.errors import RespError
from raftkv.kv.state_machine import StateMachine
from raftkv.kv.table import TABLE


def sha(password: bytes) -> str:
    return hashlib.sha256(password).hexdigest()


def apply(sm: StateMachine, *argv: bytes) -> object:
    return sm.execute([b"ACL", *argv], 0)


def test_a_new_user_is_off_with_no_password_command_or_key() -> None:
    sm = StateMachine()
    assert apply(sm, b"SETUSER", b"alice") == "OK"
    alice = sm.users[b"alice"]
    assert not alice.enabled and not alice.accepts(b"")
    assert acl.describe(alice) == {b"flags": [b"off"], b"passwords": [], b"commands": b"-@all", b"keys": b"",
                                   b"channels": b"", b"selectors": []}


def test_rules_apply_in_order_and_keep_only_hashes() -> None:
    sm = StateMachine()
    assert apply(sm, b"SETUSER", b"ro", b"on", b">one", b">two", b"~*", b"+@all", b"-@write") == "OK"
    assert apply(sm, b"SETUSER", b"ro", b"<one") == "OK"
    ro = sm.users[b"ro"]
    assert ro.passwords == (sha(b"two"),)
    assert ro.accepts(b"two") and not ro.accepts(b"one")
    assert acl.acl_line(ro) == b"user ro on #" + sha(b"two").encode() + b" ~* +@all -@write"
    assert apply(sm, b"SETUSER", b"ro", b"nopass") == "OK" and sm.users[b"ro"].accepts(b"anything")
    assert apply(sm, b"SETUSER", b"ro", b"resetpass") == "OK" and not sm.users[b"ro"].accepts(b"anything")
    assert apply(sm, b"SETUSER", b"ro", b"off") == "OK" and not sm.users[b"ro"].enabled


@pytest.mark.parametrize("rule, reason", [
    (b"+get", "Syntax error"),
    (b"&*", "Syntax error"),
    (b"~app:*", "Syntax error"),
    (b"+@nosuch", "Unknown command category"),
    (b"#abc", "The password hash must be exactly 64 characters and contain only lowercase hexadecimal "
              "characters"),
    (b"<never", "The password you are trying to remove from the user does not exist"),
])
def test_a_refused_rule_changes_nothing(rule: bytes, reason: str) -> None:
    sm = StateMachine()
    apply(sm, b"SETUSER", b"u", b"on", b">pw")
    before = sm.users
    reply = apply(sm, b"SETUSER", b"u", b"off", rule)
    assert reply == RespError(f"ERR Error in ACL SETUSER modifier '{rule.decode()}': {reason}")
    assert sm.users is before


def test_the_default_user_is_requirepass_and_cannot_be_changed_or_removed() -> None:
    sm = StateMachine()
    assert isinstance(apply(sm, b"SETUSER", b"default", b"off"), RespError)
    assert apply(sm, b"DELUSER", b"default") == RespError("ERR The 'default' user cannot be removed")
    assert acl.default_user(b"").accepts(b"whatever") and acl.default_user(b"").limits() is None
    guarded = acl.default_user(b"s3cret")
    assert guarded.accepts(b"s3cret") and not guarded.accepts(b"nope")


def test_deluser_counts_the_users_it_removed() -> None:
    sm = StateMachine()
    apply(sm, b"SETUSER", b"a")
    apply(sm, b"SETUSER", b"b")
    assert apply(sm, b"DELUSER", b"a", b"b", b"c") == 2 and sm.users == {}


def test_a_read_only_user_gets_noperm_for_writes_only() -> None:
    limits = acl.User(b"ro", True, True, (), True, ("+@all", "-@write")).limits()
    assert limits is not None
    assert limits.refuse(TABLE[b"get"], [b"GET", b"k"]) is None
    assert limits.refuse(TABLE[b"ping"], [b"PING"]) is None
    assert limits.refuse(TABLE[b"set"], [b"SET", b"k", b"v"]) == RespError(
        "NOPERM User ro has no permissions to run the 'set' command")


def test_read_only_by_category_and_the_commands_always_allowed() -> None:
    limits = acl.User(b"r", True, True, (), True, ("+@read",)).limits()
    assert limits is not None
    assert limits.refuse(TABLE[b"hgetall"], [b"HGETALL", b"h"]) is None
    assert limits.refuse(TABLE[b"ping"], [b"PING"]) is not None  # PING is not in @read, as in Redis
    assert limits.refuse(TABLE[b"auth"], [b"AUTH", b"r", b"x"]) is None  # allowed before AUTH: always


def test_a_user_without_keys_may_run_keyless_commands_only() -> None:
    limits = acl.User(b"k", True, True, (), False, ("+@all",)).limits()
    assert limits is not None
    assert limits.refuse(TABLE[b"dbsize"], [b"DBSIZE"]) is None
    assert limits.refuse(TABLE[b"get"], [b"GET", b"k"]) == RespError("NOPERM No permissions to access a key")


def test_a_user_with_every_permission_has_no_limits() -> None:
    assert acl.User(b"all", True, True, (), True, ("+@all",)).limits() is None


def test_clear_passwords_are_hashed_before_they_reach_the_log() -> None:
    assert acl.hash_passwords([b"on", b">pw", b"<old", b"~*"]) == [
        b"on", b"#" + sha(b"pw").encode(), b"!" + sha(b"old").encode(), b"~*"]


def test_categories_are_those_of_the_command_table() -> None:
    assert {"read", "write", "string", "keyspace", "connection"} <= set(acl.categories())
    assert "get" in acl.category_commands(b"read") and "set" not in acl.category_commands(b"read")
    assert acl.category_commands(b"pubsub") == RespError("ERR Unknown category 'pubsub'")
    assert {"acl", "config", "raft"} <= set(acl.category_commands(b"dangerous"))


def test_snapshots_carry_the_users() -> None:
    sm = StateMachine()
    sm.execute([b"SET", b"k", b"v"], 0)
    apply(sm, b"SETUSER", b"app", b"on", b">pw", b"~*", b"+@all")
    out = io.BytesIO()
    sm.dump(out)
    out.seek(0)
    loaded = StateMachine.load(out)
    assert loaded.users == sm.users and loaded.data == sm.data
    assert acl.decode_users(acl.encode_users(sm.users)) == sm.users
