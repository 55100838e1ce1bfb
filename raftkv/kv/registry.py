"""The registry of state-machine command handlers, filled by the ``cmd_*`` modules as they are imported.

A handler is ``handler(sm, argv, now_ms) -> reply value`` (see :func:`raftkv.resp.encode_reply` for the
values). It lives apart from :mod:`raftkv.kv.state_machine` so that the command modules can register
themselves without importing the class they serve.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from raftkv.kv.state_machine import StateMachine

Reply = object
Handler = Callable[["StateMachine", list[bytes], int], Reply]

HANDLERS: dict[bytes, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    """Registers the decorated function as the handler of command `name` (lower case)."""

    def register(fn: Handler) -> Handler:
        HANDLERS[name.encode()] = fn
        return fn

    return register
