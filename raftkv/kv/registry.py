"""Every state-machine command's handler, by lower-case name: the command modules' tables merged.

Each module of :mod:`raftkv.kv.commands` exports its handlers as a plain ``HANDLERS`` dict; this module
imports each of them explicitly and merges them, refusing a name that two modules define. Importing a
command module has no other effect. A new command module is added to ``_MODULES`` here, and its commands
to :mod:`raftkv.kv.table` (tests/kv check that the two agree).
"""
from __future__ import annotations

from types import ModuleType

from raftkv.kv.commands import (
    blocking,
    clock,
    dump,
    expire,
    keys,
    lcs,
    sort,
    strings,
    transaction,
    users,
    zrange,
    zset,
    zsetops,
)
from raftkv.kv.commands import hash as hashes
from raftkv.kv.commands import list as lists
from raftkv.kv.commands import set as sets
from raftkv.kv.keyspace import Handler

_MODULES: tuple[ModuleType, ...] = (strings, keys, expire, hashes, sets, lists, zset, zrange, zsetops, transaction,
                                    lcs, sort, dump, clock, blocking, users)


def merge(tables: dict[str, dict[bytes, Handler]]) -> dict[bytes, Handler]:
    """One table from several, keyed by where they come from; ValueError if a name is in two of them."""
    merged: dict[bytes, Handler] = {}
    owner: dict[bytes, str] = {}
    for source, table in tables.items():
        for name, fn in table.items():
            if name in merged:
                raise ValueError(f"command {name.decode()!r} has handlers in both {owner[name]} and {source}")
            merged[name] = fn
            owner[name] = source
    return merged


HANDLERS: dict[bytes, Handler] = merge({module.__name__: module.HANDLERS for module in _MODULES})
