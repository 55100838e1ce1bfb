"""CONFIG GET|SET|RESETSTAT|REWRITE, answered by the Raft process, which owns the node's current config.

Every worker forwards CONFIG here, so one process decides each value and a connection's CONFIG GET after
its CONFIG SET sees it. An accepted SET (per node, as in Redis: it is not replicated) becomes a new
NodeConfig, handed to ``changed`` with the parameters as given: the loop passes the values to the parts
of the Raft process that use them and sends the parameters to every worker (requirepass, maxclients).
"""
from __future__ import annotations

import fnmatch
from collections.abc import Callable

from raftkv.config import NodeConfig
from raftkv.errors import err
from raftkv.kv.table import unknown_subcommand
from raftkv.node.config_rewrite import rewrite
from raftkv.runtime_config import apply, parse_changes, values

_HELP = [
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Prints this help.",
]


class ConfigCommand:
    def __init__(self, config: NodeConfig, changed: Callable[[NodeConfig, list[bytes]], None],
                 resetstat: Callable[[], None]) -> None:
        self.config = config
        self._changed = changed
        self._resetstat = resetstat

    def command(self, argv: list[bytes]) -> object:
        """The worker has checked the subcommand's arity."""
        sub = argv[1].lower()
        if sub == b"get":
            patterns = [a.decode("utf-8", "replace").lower() for a in argv[2:]]
            return {name.encode(): value.encode() for name, value in values(self.config).items()
                    if any(fnmatch.fnmatchcase(name, p) for p in patterns)}
        if sub == b"set":
            changes = parse_changes(argv[2:])
            if not isinstance(changes, dict):
                return changes
            self.config = apply(self.config, changes)
            self._changed(self.config, argv[2:])
            return "OK"
        if sub == b"resetstat":
            self._resetstat()
            return "OK"
        if sub == b"rewrite":
            if self.config.config_file is None:
                return err("The server is running without a config file")
            try:
                rewrite(self.config.config_file, self.config)
            except OSError as exc:
                return err(f"Rewriting config file: {exc.strerror}")
            return "OK"
        if sub == b"help":
            return _HELP
        return unknown_subcommand(argv)
