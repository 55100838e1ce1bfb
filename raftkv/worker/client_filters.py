"""The filters of CLIENT LIST and CLIENT KILL: parsed from argv with Redis 7.0's errors, and matched
against a session.

The caller's worker parses them to refuse a bad command at once; every worker parses them again when
the Raft process asks it for its matching connections (:mod:`raftkv.worker.node_requests`). Pure.
"""
from __future__ import annotations

from dataclasses import dataclass

from raftkv.errors import RespError, err

# Redis's client types; every raftkv client is a normal one (no replicas, masters or Pub/Sub).
_TYPES = {b"normal", b"master", b"slave", b"replica", b"pubsub"}
_SYNTAX = err("syntax error")


@dataclass(frozen=True, slots=True)
class ClientFilter:
    ids: frozenset[int] | None = None
    normal: bool = True  # False: a type no raftkv client has
    addr: str | None = None
    laddr: str | None = None
    user: bytes | None = None  # the ACL user it authenticated as
    skipme: bool = False
    old_form: bool = False  # CLIENT KILL addr:port: answers OK or "No such client"

    def matches(self, client_id: int, addr: str, laddr: str, caller: int, user: bytes) -> bool:
        return (self.normal and (self.ids is None or client_id in self.ids)
                and (self.addr is None or self.addr == addr) and (self.laddr is None or self.laddr == laddr)
                and (self.user is None or self.user == user) and not (self.skipme and client_id == caller))


def _type(name: bytes) -> bool | RespError:
    kind = name.lower()
    if kind not in _TYPES:
        return err(f"Unknown client type '{name.decode('utf-8', 'replace')}'")
    return kind == b"normal"


def parse_list(args: list[bytes]) -> ClientFilter | RespError:
    """The arguments after CLIENT LIST: nothing, ``TYPE type`` or ``ID id [id ...]``."""
    if not args:
        return ClientFilter()
    option = args[0].lower()
    if option == b"type" and len(args) == 2:
        normal = _type(args[1])
        return normal if isinstance(normal, RespError) else ClientFilter(normal=normal)
    if option == b"id" and len(args) > 1:
        try:
            return ClientFilter(ids=frozenset(int(a) for a in args[1:]))
        except ValueError:
            return err("Invalid client ID")
    return _SYNTAX


def parse_kill(args: list[bytes]) -> ClientFilter | RespError:
    """The arguments after CLIENT KILL: ``addr:port`` (the old form, which may kill the caller), or
    ``option value`` pairs of ID, TYPE, ADDR, LADDR, USER and SKIPME (default yes)."""
    if len(args) == 1:
        return ClientFilter(addr=args[0].decode("utf-8", "replace"), old_form=True)
    if len(args) % 2:
        return _SYNTAX
    fields: dict[str, object] = {"skipme": True}
    for option, value in zip(args[::2], args[1::2]):
        option = option.lower()
        if option == b"id":
            client_id = int(value) if value.lstrip(b"-").isdigit() else 0
            if client_id <= 0:
                return err("client-id should be greater than 0")
            fields["ids"] = frozenset([client_id])
        elif option == b"type":
            normal = _type(value)
            if isinstance(normal, RespError):
                return normal
            fields["normal"] = normal
        elif option in (b"addr", b"laddr"):
            fields[option.decode()] = value.decode("utf-8", "replace")
        elif option == b"user":  # whether the user exists is for the caller's worker to say
            fields["user"] = value
        elif option == b"skipme" and value.lower() in (b"yes", b"no"):
            fields["skipme"] = value.lower() == b"yes"
        else:
            return _SYNTAX
    return ClientFilter(**fields)  # type: ignore[arg-type]
