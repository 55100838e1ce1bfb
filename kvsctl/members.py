"""The ``RAFT MEMBER LIST`` reply as plain dicts, and its table. No I/O."""
from __future__ import annotations

from typing import Any

from kvsctl.output import format_table, kind, text

# Member fields in table order; a server may send more, which get columns after these.
MEMBER_FIELDS = ("id", "client_addr", "peer_addr", "role", "leader", "match", "lag")
_MEMBER_HEADERS = {"client_addr": "CLIENT", "peer_addr": "PEER"}
_NUMERIC_FIELDS = frozenset({"id", "match", "lag"})


def parse_members(reply: Any) -> list[dict[str, Any]]:
    """Turn a ``RAFT MEMBER LIST`` reply into plain dicts (str keys; str, int or bool values).

    Each member may be a map or a flat ``[key, value, ...]`` list; the reply itself may be a list of
    members or a map whose values are members. Raises ValueError for anything else.
    """
    if isinstance(reply, dict):
        reply = list(reply.values())
    if not isinstance(reply, list):
        raise ValueError(f"expected a list of members, got {kind(reply)}")
    return [_parse_member(raw) for raw in reply]


def _parse_member(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list) and len(raw) % 2 == 0:
        pairs = list(zip(raw[::2], raw[1::2]))
    else:
        raise ValueError(f"expected a member as a map or key/value list, got {kind(raw)}")
    member: dict[str, Any] = {}
    for key, value in pairs:
        name = text(key).lower().replace("-", "_")
        member[name] = _member_value(name, value)
    return member


def _member_value(name: str, value: Any) -> Any:
    if isinstance(value, (bytes, str)):
        value = text(value)
        if name in _NUMERIC_FIELDS and value.lstrip("-").isdigit():
            return int(value)
    if name == "leader":
        return value in (True, 1, "1", "yes", "true", "leader")
    return value


def format_member_table(members: list[dict[str, Any]]) -> str:
    """An aligned table, one member a row; the known fields first, then any others the server sent."""
    if not members:
        return "(no members)\n"
    extra = [name for m in members for name in m if name not in MEMBER_FIELDS]
    columns = [*MEMBER_FIELDS, *dict.fromkeys(extra)]
    return format_table(members, [(c, _MEMBER_HEADERS.get(c, c.upper())) for c in columns])
