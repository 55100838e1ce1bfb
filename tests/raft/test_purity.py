"""The Raft core stays pure: no clock, sockets, threads, processes, disk or global randomness.

Everything it needs from the outside world arrives as ticks, messages, proposals and an injected
``random.Random``; that is what makes the seeded simulation in tests/sim reproducible.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import raftkv.raft

BANNED_MODULES = {
    "socket",
    "time",
    "threading",
    "multiprocessing",
    "selectors",
    "asyncio",
    "plyvel",
    "os",
    "subprocess",
    "datetime",
}
# Module-level functions of ``random`` draw from a hidden global generator.
ALLOWED_RANDOM_NAMES = {"Random"}

PACKAGE_DIR = Path(raftkv.raft.__file__).parent
MODULES = sorted(PACKAGE_DIR.glob("*.py"))


def violations(source: str) -> list[str]:
    found = []
    tree = ast.parse(source)
    random_aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root in BANNED_MODULES:
                    found.append(f"line {node.lineno}: import {alias.name}")
                if root == "random":
                    random_aliases.add(alias.asname or "random")
        elif isinstance(node, ast.ImportFrom):
            root = (node.module or "").split(".")[0]
            if root in BANNED_MODULES:
                found.append(f"line {node.lineno}: from {node.module} import ...")
            if root == "random":
                for alias in node.names:
                    if alias.name not in ALLOWED_RANDOM_NAMES:
                        found.append(f"line {node.lineno}: from random import {alias.name}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
            found.append(f"line {node.lineno}: __import__()")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in random_aliases
            and node.attr not in ALLOWED_RANDOM_NAMES
        ):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr} (global random state)")
    return found


def test_package_has_modules() -> None:
    assert {path.name for path in MODULES} >= {"core.py", "log.py", "rawnode.py", "log_storage.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_module_is_pure(path: Path) -> None:
    assert violations(path.read_text()) == []


@pytest.mark.parametrize(
    "source",
    [
        "import time",
        "import os.path",
        "from socket import socket",
        "import threading as t",
        "from random import randint",
        "import random\nx = random.random()",
        "import random as r\nr.shuffle([])",
        "__import__('selectors')",
    ],
)
def test_checker_catches(source: str) -> None:
    assert violations(source)


def test_checker_allows_injected_random() -> None:
    assert violations("import random\ndef f(rng: random.Random): return rng.random()") == []
