"""The handler registry: merged explicitly from the command modules, and in step with the command table."""
from __future__ import annotations

import ast
import pathlib
import typing

import pytest

import raftkv.kv.commands
from raftkv.kv import registry
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
from raftkv.kv.keyspace import Keyspace
from raftkv.kv.registry import HANDLERS, merge
from raftkv.kv.state_machine import StateMachine
from raftkv.kv.table import INTERNAL, READ, TABLE, WRITE

_COMMANDS_DIR = pathlib.Path(raftkv.kv.commands.__file__).parent


def test_every_data_command_has_a_handler_and_every_handler_a_command() -> None:
    data = {name for name, cmd in TABLE.items() if cmd.where in (READ, WRITE)}
    assert data | set(INTERNAL) == set(HANDLERS)
    assert not set(INTERNAL) & set(TABLE)
    assert all(cmd.where == WRITE for cmd in INTERNAL.values())


def test_the_registry_is_the_union_of_the_command_modules() -> None:
    modules = (strings, keys, expire, hashes, sets, lists, zset, zrange, zsetops, transaction, lcs, sort, dump, clock,
               blocking, users)
    assert sum(len(m.HANDLERS) for m in modules) == len(HANDLERS)
    for module in modules:
        for name, fn in module.HANDLERS.items():
            assert HANDLERS[name] is fn, name


def test_every_command_module_is_merged() -> None:
    on_disk = {p.stem for p in _COMMANDS_DIR.glob("*.py") if p.stem != "__init__"}
    assert on_disk == {m.__name__.rsplit(".", 1)[1] for m in registry._MODULES}


def test_a_name_defined_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="'get'.*first.*second"):
        merge({"first": {b"get": strings.get}, "second": {b"get": strings.get}})


def test_command_modules_import_neither_the_state_machine_nor_the_registry() -> None:
    for path in _COMMANDS_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module not in ("raftkv.kv.state_machine", "raftkv.kv.registry"), path.name


def test_the_state_machine_has_everything_a_handler_may_use() -> None:
    members = {name for name in vars(Keyspace) if not name.startswith("_")} | set(
        typing.get_type_hints(Keyspace))
    sm = StateMachine()
    for name in members:
        assert hasattr(sm, name), name
