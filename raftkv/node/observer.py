"""What the Raft process notes about each command it answers: counts and times (INFO commandstats), the
slow log and the ``command`` latency event.

A command is timed from when the Raft process starts it (the sequencer stamps ``Pending.started_ns``;
one held behind others of its connection starts when they are answered) to its reply; for a write that
includes its commit. The cost per command is one clock read here beside the sequencer's and a few dict
operations; the slow log and the latency monitor are reached only by a command over their threshold.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

from raftkv.command_stats import CommandStats, stat_name
from raftkv.errors import RespError
from raftkv.kv.table import TABLE, Command
from raftkv.node.latency_monitor import LatencyMonitor
from raftkv.node.slowlog import SlowLog, redacted

if TYPE_CHECKING:
    from raftkv.config import NodeConfig
    from raftkv.node.sequencer import Client, Pending

_NEVER = 1 << 62  # a threshold no duration reaches


class CommandObserver:
    now_ns = staticmethod(time.perf_counter_ns)  # the clock a command's start is stamped with

    def __init__(self, config: NodeConfig) -> None:
        self.stats = CommandStats()
        self._called = self.stats.called  # bound once: it runs for every command
        self.slowlog = SlowLog(config.slowlog_max_len)
        self.latency = LatencyMonitor(config.latency_monitor_threshold_ms)
        self._slow_us = self._latency_us = self._notable_us = _NEVER
        self.configure(config)

    def configure(self, config: NodeConfig) -> None:
        """Take new thresholds and the slow log's length (CONFIG SET)."""
        slower_than = config.slowlog_log_slower_than_us
        self._slow_us = slower_than if slower_than >= 0 else _NEVER
        self.slowlog.set_max_len(config.slowlog_max_len)
        threshold_ms = config.latency_monitor_threshold_ms
        self.latency.threshold_ms = threshold_ms
        self._latency_us = threshold_ms * 1000 if threshold_ms else _NEVER
        self._notable_us = min(self._slow_us, self._latency_us)

    def finished(self, p: Pending, value: object) -> None:
        """A READ or WRITE command was answered with ``value`` (called once per command: keep it small)."""
        usec = (time.perf_counter_ns() - p.started_ns) // 1000
        cmd = p.cmd
        self._called(cmd.name if not cmd.subcommands else stat_name(cmd, p.argv), usec, value)
        if usec >= self._notable_us:
            self._notable(cmd, p.argv, p.client, usec)

    def node_command_done(self, argv: list[bytes], client: Client, started_ns: int, value: object) -> None:
        """A command the Raft process answers from its own state ran (``value`` None: it answers later,
        and counts the time until then as nothing more)."""
        usec = (time.perf_counter_ns() - started_ns) // 1000
        cmd = TABLE[argv[0].lower()]
        self.stats.called(stat_name(cmd, argv), usec, value)
        if usec >= self._notable_us:
            self._notable(cmd, argv, client, usec)

    def rejected(self, cmd: Command, error: RespError) -> None:
        """``cmd`` was refused before it ran (a removed node, a full disk)."""
        self.stats.rejected(cmd.name, error)

    def _notable(self, cmd: Command, argv: list[bytes], client: Client, usec: int) -> None:
        if cmd.blocks:
            return  # its time is mostly its wait for a key, which Redis does not count either
        if usec >= self._slow_us and "skip_slowlog" not in cmd.flags:
            self.slowlog.add(int(time.time()), usec, redacted(argv), client.addr, client.name)
        self.latency.add_if_slow("command", usec // 1000)
