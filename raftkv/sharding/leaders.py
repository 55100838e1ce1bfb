"""Learning the other groups' leaders and members: a helper thread asks one member of each other group
(``RAFT SLOTS GET``: that group's own map, whose entry for the group lists its members as the group
itself keeps them, and its leader) once a second, so that MOVED and the CLUSTER replies name leaders and
the members a group has now. It never touches the loop: it only replaces entries of the state's
``leaders`` and ``members`` dicts (one assignment each, atomic under the GIL). A group none of whose
members answers keeps what was last learned of it.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from raftkv.sharding import slot_map
from raftkv.sharding.slot_map import SlotMapError
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
            installed, mine = self._state.map, self._state.my_group
            if installed is None:
                continue
            for i, group in enumerate(installed.groups):
                if i != mine:
                    self._poll(i, group.name)

    def _poll(self, group: int, name: str) -> None:
        state = self._state
        members = state.members_of(group)
        known = state.leaders.get(name)
        for addr in ([known] if known in members else []) + [m for m in members if m != known]:
            try:
                reply = self._call(addr, [b"RAFT", b"SLOTS", b"GET"], _CALL_TIMEOUT_S)
            except OSError:
                continue
            if not (isinstance(reply, list) and len(reply) >= 3):
                continue
            epoch, blob, leader = reply[:3]
            if epoch:
                try:
                    own = next((g for g in slot_map.decode(bytes(blob)).groups if g.name == name), None)
                except SlotMapError:
                    own = None
                if own is not None:
                    state.members[name] = own.members
            if leader:
                state.leaders[name] = bytes(leader).decode()
                return
