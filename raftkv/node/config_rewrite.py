"""CONFIG REWRITE: the settable parameters' current values written back to the node's ``--config`` file.

A key the file already has gets its new value on its own line; one it lacks is appended when its value
is not the default. Every other line (comments, start-up options) stays as it is. The file is replaced
whole (a temporary file beside it, synced, then renamed): a crash leaves the old file or the new one.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from raftkv.config import NodeConfig
from raftkv.runtime_config import SETTINGS, Setting, defaults

_KEY = re.compile(r'\s*"?([A-Za-z0-9_-]+)"?\s*=')


def _toml(setting: Setting, config: NodeConfig) -> str:
    shown = setting.show(config)
    return json.dumps(shown, ensure_ascii=False) if setting.low is None else shown  # a JSON string is TOML's too


def rewrite(path: Path, config: NodeConfig) -> None:
    """Raises OSError when the file cannot be read or replaced."""
    lines = path.read_text().splitlines()
    written: set[str] = set()
    for i, line in enumerate(lines):
        match = _KEY.match(line)
        setting = SETTINGS.get(match.group(1)) if match else None
        if setting is not None:
            lines[i] = f"{setting.name} = {_toml(setting, config)}"
            written.add(setting.name)
    default = defaults()
    for name, setting in SETTINGS.items():
        if name not in written and setting.show(config) != setting.show(default):
            lines.append(f"{name} = {_toml(setting, config)}")
    tmp = path.with_name(f".{path.name}.rewrite")
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)
