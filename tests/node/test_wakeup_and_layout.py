"""The shared Wakeup, and the shape of the Raft process's modules: only the entry point imports the loop,
and no helper reaches for the Driver."""
from __future__ import annotations

import ast
import selectors
from pathlib import Path

from raftkv.wakeup import Wakeup

NODE = Path(__file__).resolve().parents[2] / "raftkv" / "node"


def test_wakeup_wakes_a_selector_until_drained() -> None:
    wakeup = Wakeup()
    sel = selectors.DefaultSelector()
    try:
        sel.register(wakeup, selectors.EVENT_READ)
        assert sel.select(0) == []
        for _ in range(100_000):  # far more than the socket buffer holds: notify never blocks or raises
            wakeup.notify()
        assert len(sel.select(0)) == 1
        wakeup.drain()
        assert sel.select(0) == []
    finally:
        sel.close()
        wakeup.close()
    wakeup.notify()  # after close: ignored, as from a late signal


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_only_the_entry_point_imports_the_loop() -> None:
    importers = sorted(p.relative_to(NODE).as_posix() for p in NODE.rglob("*.py")
                       if "raftkv.node.loop" in _imports(p))
    assert importers == ["raft_process.py"]


def test_no_two_modules_share_a_file_name() -> None:
    root = NODE.parent
    names = [p.name for p in root.rglob("*.py") if p.name != "__init__.py"]
    assert sorted({n for n in names if names.count(n) > 1}) == []
