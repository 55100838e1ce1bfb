"""Learning the other groups' leaders: a helper thread asks one member of each other group (``RAFT SLOTS
GET``, whose third field is that group's leader) once a second, so that MOVED and the CLUSTER replies name
leaders. It never touches the loop: it only replaces entries of the state's ``leaders`` dict (one
assignment, atomic under the GIL). A group none of whose members answers keeps its last known leader.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from raftkv.sharding.state import ShardState

log = logging.getLogger("raftkv.sharding")

POLL_INTERVAL_S = 1.0
_CALL_TIMEOUT_S = 1.0


class LeaderPoller:
    def __init__(self, state: ShardState, call: Callable[[str, list[bytes], float], object]) -> None:
        """``call(address, argv, timeout_s)`` makes one blocking request to a node's client port."""
        self._state = state
        self._call = call
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leader-poller", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2 * _CALL_TIMEOUT_S + POLL_INTERVAL_S)

    def _run(self) -> None:
        while not self._stop.wait(POLL_INTERVAL_S):
            slot_map, mine = self._state.map, self._state.my_group
            if slot_map is None:
                continue
            for i, group in enumerate(slot_map.groups):
                if i != mine:
                    self._poll(group.name, group.members)

    def _poll(self, name: str, members: tuple[str, ...]) -> None:
        known = self._state.leaders.get(name)
        for addr in ([known] if known in members else []) + [m for m in members if m != known]:
            try:
                reply = self._call(addr, [b"RAFT", b"SLOTS", b"GET"], _CALL_TIMEOUT_S)
            except OSError:
                continue
            if isinstance(reply, list) and len(reply) >= 3 and reply[2]:
                self._state.leaders[name] = bytes(reply[2]).decode()
                return
