"""Which arguments of a command are keys: the command table's first/last/step positions, and for the
``movablekeys`` commands the rule of their own syntax (a numkeys argument, SORT's STORE). Pure."""
from __future__ import annotations

from raftkv.kv.table import TABLE, Command
from raftkv.wire.proposal import decode_exec
from raftkv.wire.resp import decode_command

# The position of the numkeys argument of the movablekeys commands that have one; the keys follow it.
_NUMKEYS_AT = {"sintercard": 1, "zintercard": 1, "zunion": 1, "zinter": 1, "zdiff": 1, "lmpop": 1,
               "zmpop": 1, "blmpop": 2, "bzmpop": 2, "zunionstore": 2, "zinterstore": 2, "zdiffstore": 2}


def command_keys(argv: list[bytes], cmd: Command) -> list[bytes]:
    """The keys ``argv`` names (arity already checked by the worker); an EXEC's are its commands'."""
    if cmd.name in ("readonly", "asking"):  # a read of a READONLY connection, a command after ASKING
        return _keys_of(argv[1:])
    if cmd.name == "exec":
        return [key for raw in argv[1:] for key in _keys_of(decode_command(raw))]
    return _keys_of(argv, cmd)


def entry_keys(argv: list[bytes]) -> list[bytes]:
    """The keys of a command as a log entry holds it (an EXEC entry: :func:`decode_exec`'s form)."""
    if argv[0] == b"exec":
        return [key for command in decode_exec(argv)[1] for key in _keys_of(command)]
    return _keys_of(argv)


def _keys_of(argv: list[bytes], cmd: Command | None = None) -> list[bytes]:
    if cmd is None:
        cmd = TABLE.get(argv[0].lower())
        if cmd is None:
            return []
    keys: list[bytes] = []
    if cmd.first_key:
        last = cmd.last_key if cmd.last_key >= 0 else len(argv) + cmd.last_key
        keys = argv[cmd.first_key:last + 1:cmd.key_step]
    at = _NUMKEYS_AT.get(cmd.name)
    if at is not None and len(argv) > at:
        try:
            count = int(argv[at])
        except ValueError:
            return keys  # the command itself refuses it
        keys = keys + argv[at + 1:at + 1 + max(count, 0)]
    elif cmd.name in ("sort", "sort_ro"):
        lowered = [a.lower() for a in argv]
        if b"store" in lowered[2:-1]:
            keys = keys + [argv[lowered.index(b"store", 2) + 1]]
    return keys
