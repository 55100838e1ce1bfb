"""The command table: every command's arity, where it runs and how it is executed.

Where a command runs is part of its spec:
- ``LOCAL``: in the worker that owns the connection (connection state, static answers), never forwarded;
- ``READ``: in the Raft process, once a linearizable read index has been applied (Raft thesis §6.4);
- ``WRITE``: through the Raft log; the reply is computed when the entry is applied;
- ``NODE``: in the Raft process, on its own state, without touching the log (INFO).

Arity follows Redis: a positive number is exact, a negative one is a minimum, both counting the name.
The other rules a command obeys are fields of its row too: whether it is allowed before AUTH (``no_auth``),
whether MULTI queues it or runs it at once (``runs_in_multi``, ``queueable``), whether a node that refuses
clients still serves it (``served_while_removed``).

Rows are grouped as Redis groups them (strings, hashes, sets, keyspace, expiry, ...); arity, flags and
key positions are Redis 7's COMMAND INFO (tests/kv/test_differential.py compares each data command's
with a real redis-server), summaries and "since" are Redis's command docs. This module is data only:
the handlers are in :mod:`raftkv.kv.commands` (data commands) and :mod:`raftkv.worker.local` (LOCAL
ones), so that workers can validate a command without importing anything that holds data.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from raftkv.errors import RespError, err


class Where(Enum):
    """Where a command runs (see the module docstring)."""

    LOCAL = "local"
    READ = "read"
    WRITE = "write"
    NODE = "node"


LOCAL, READ, WRITE, NODE = Where.LOCAL, Where.READ, Where.WRITE, Where.NODE


@dataclass(frozen=True, slots=True)
class Command:
    """One command's spec. The rules the worker and the node apply to a command are read from here, never
    from its name, so that adding a command means adding a row (and its handler)."""

    name: str  # lower case, as COMMAND reports it
    arity: int
    where: Where
    flags: tuple[str, ...]  # Redis's COMMAND flags, for COMMAND INFO (``no_auth`` among them)
    first_key: int = 0
    last_key: int = 0
    key_step: int = 0
    group: str = "generic"
    summary: str = ""
    since: str = "1.0.0"
    subcommands: tuple[str, ...] = field(default=())
    # Inside MULTI, run at once rather than being queued: the commands that act on the transaction itself
    # (MULTI, EXEC, DISCARD, WATCH) and QUIT, as in Redis.
    runs_in_multi: bool = False
    # Also served while the node refuses clients (removed from the cluster, or waiting to join one).
    served_while_removed: bool = False
    # A blocking pop: its client waits while every key it names is empty. Read from ``flags`` once, here:
    # the Raft process asks it of every command it starts and answers.
    blocks: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", "blocking" in self.flags)

    @property
    def no_auth(self) -> bool:
        """Allowed before the connection has authenticated (Redis's ``no_auth`` flag)."""
        return "no_auth" in self.flags

    @property
    def queueable(self) -> bool:
        """May be queued by MULTI: EXEC runs it in the state machine, so it must be a data command."""
        return self.where is READ or self.where is WRITE


def _table(*commands: Command) -> dict[bytes, Command]:
    return {c.name.encode(): c for c in commands}


TABLE: dict[bytes, Command] = _table(
    # strings
    Command("get", 2, READ, ("readonly", "fast"), 1, 1, 1, "string", "Returns the string value of a key."),
    Command("set", -3, WRITE, ("write", "denyoom"), 1, 1, 1, "string",
            "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."),
    Command("setnx", 3, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "string",
            "Sets the string value of a key only when the key doesn't exist."),
    Command("setex", 4, WRITE, ("write", "denyoom"), 1, 1, 1, "string",
            "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
            "2.0.0"),
    Command("psetex", 4, WRITE, ("write", "denyoom"), 1, 1, 1, "string",
            "Sets both string value and expiration time in milliseconds of a key. The key is created if it "
            "doesn't exist.", "2.6.0"),
    Command("getset", 3, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "string",
            "Returns the previous string value of a key after setting it to a new value."),
    Command("getdel", 2, WRITE, ("write", "fast"), 1, 1, 1, "string",
            "Returns the string value of a key after deleting the key.", "6.2.0"),
    Command("getex", -2, WRITE, ("write", "fast"), 1, 1, 1, "string",
            "Returns the string value of a key after setting its expiration time.", "6.2.0"),
    Command("mget", -2, READ, ("readonly", "fast"), 1, -1, 1, "string",
            "Atomically returns the string values of one or more keys."),
    Command("mset", -3, WRITE, ("write", "denyoom"), 1, -1, 2, "string",
            "Atomically creates or modifies the string values of one or more keys.", "1.0.1"),
    Command("msetnx", -3, WRITE, ("write", "denyoom"), 1, -1, 2, "string",
            "Atomically modifies the string values of one or more keys only when all keys don't exist.",
            "1.0.1"),
    Command("incr", 2, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "string",
            "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    Command("decr", 2, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "string",
            "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."),
    Command("incrby", 3, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "string",
            "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't "
            "exist."),
    Command("decrby", 3, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "string",
            "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't "
            "exist."),
    Command("incrbyfloat", 3, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "string",
            "Increment the floating point value of a key by a number. Uses 0 as initial value if the key "
            "doesn't exist.", "2.6.0"),
    Command("append", 3, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "string",
            "Appends a string to the value of a key. Creates the key if it doesn't exist.", "2.0.0"),
    Command("strlen", 2, READ, ("readonly", "fast"), 1, 1, 1, "string",
            "Returns the length of a string value.", "2.2.0"),
    Command("getrange", 4, READ, ("readonly",), 1, 1, 1, "string",
            "Returns a substring of the string stored at a key.", "2.4.0"),
    Command("setrange", 4, WRITE, ("write", "denyoom"), 1, 1, 1, "string",
            "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't "
            "exist.", "2.2.0"),
    # keyspace
    Command("del", -2, WRITE, ("write",), 1, -1, 1, "generic", "Deletes one or more keys."),
    Command("unlink", -2, WRITE, ("write", "fast"), 1, -1, 1, "generic",
            "Asynchronously deletes one or more keys.", "4.0.0"),
    Command("exists", -2, READ, ("readonly", "fast"), 1, -1, 1, "generic",
            "Determines whether one or more keys exist.", "1.0.0"),
    Command("type", 2, READ, ("readonly", "fast"), 1, 1, 1, "generic",
            "Determines the type of value stored at a key."),
    Command("rename", 3, WRITE, ("write",), 1, 2, 1, "generic",
            "Renames a key and overwrites the destination."),
    Command("renamenx", 3, WRITE, ("write", "fast"), 1, 2, 1, "generic",
            "Renames a key only when the target key name doesn't exist."),
    Command("copy", -3, WRITE, ("write", "denyoom"), 1, 2, 1, "generic", "Copies the value of a key to a new key.",
            "6.2.0"),
    Command("randomkey", 1, READ, ("readonly",), group="generic",
            summary="Returns a random key name from the database."),
    Command("keys", 2, READ, ("readonly",), group="generic", summary="Returns all key names that match a pattern."),
    Command("scan", -2, READ, ("readonly",), group="generic",
            summary="Iterates over the key names in the database.", since="2.8.0"),
    Command("dbsize", 1, READ, ("readonly", "fast"), group="server",
            summary="Returns the number of keys in the database."),
    Command("flushdb", -1, WRITE, ("write",), group="server", summary="Removes all keys from the current database."),
    Command("flushall", -1, WRITE, ("write",), group="server", summary="Removes all keys from all databases."),
    Command("object", -2, READ, (), group="generic", summary="A container for object introspection commands.",
            since="2.2.3", subcommands=("encoding", "freq", "idletime", "refcount", "help")),
    # hashes
    Command("hset", -4, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "hash",
            "Creates or modifies the value of a field in a hash.", "2.0.0"),
    Command("hsetnx", 4, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "hash",
            "Sets the value of a field in a hash only when the field doesn't exist.", "2.0.0"),
    Command("hmset", -4, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "hash",
            "Sets the values of multiple fields.", "2.0.0"),
    Command("hget", 3, READ, ("readonly", "fast"), 1, 1, 1, "hash",
            "Returns the value of a field in a hash.", "2.0.0"),
    Command("hmget", -3, READ, ("readonly", "fast"), 1, 1, 1, "hash",
            "Returns the values of all fields in a hash.", "2.0.0"),
    Command("hdel", -3, WRITE, ("write", "fast"), 1, 1, 1, "hash",
            "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
            "2.0.0"),
    Command("hexists", 3, READ, ("readonly", "fast"), 1, 1, 1, "hash",
            "Determines whether a field exists in a hash.", "2.0.0"),
    Command("hlen", 2, READ, ("readonly", "fast"), 1, 1, 1, "hash",
            "Returns the number of fields in a hash.", "2.0.0"),
    Command("hstrlen", 3, READ, ("readonly", "fast"), 1, 1, 1, "hash",
            "Returns the length of the value of a field.", "3.2.0"),
    Command("hkeys", 2, READ, ("readonly",), 1, 1, 1, "hash",
            "Returns all fields in a hash.", "2.0.0"),
    Command("hvals", 2, READ, ("readonly",), 1, 1, 1, "hash",
            "Returns all values in a hash.", "2.0.0"),
    Command("hgetall", 2, READ, ("readonly",), 1, 1, 1, "hash",
            "Returns all fields and values in a hash.", "2.0.0"),
    Command("hincrby", 4, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "hash",
            "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field "
            "doesn't exist.", "2.0.0"),
    Command("hincrbyfloat", 4, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "hash",
            "Increments the floating point value of a field by a number. Uses 0 as initial value if the field "
            "doesn't exist.", "2.6.0"),
    Command("hrandfield", -2, READ, ("readonly",), 1, 1, 1, "hash",
            "Returns one or more random fields from a hash.", "6.2.0"),
    Command("hscan", -3, READ, ("readonly",), 1, 1, 1, "hash",
            "Iterates over fields and values of a hash.", "2.8.0"),
    # sets
    Command("sadd", -3, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "set",
            "Adds one or more members to a set. Creates the key if it doesn't exist.", "1.0.0"),
    Command("srem", -3, WRITE, ("write", "fast"), 1, 1, 1, "set",
            "Removes one or more members from a set. Deletes the set if the last member was removed.", "1.0.0"),
    Command("smembers", 2, READ, ("readonly",), 1, 1, 1, "set",
            "Returns all members of a set.", "1.0.0"),
    Command("sismember", 3, READ, ("readonly", "fast"), 1, 1, 1, "set",
            "Determines whether a member belongs to a set.", "1.0.0"),
    Command("smismember", -3, READ, ("readonly", "fast"), 1, 1, 1, "set",
            "Determines whether multiple members belong to a set.", "6.2.0"),
    Command("scard", 2, READ, ("readonly", "fast"), 1, 1, 1, "set",
            "Returns the number of members in a set.", "1.0.0"),
    Command("spop", -2, WRITE, ("write", "fast"), 1, 1, 1, "set",
            "Returns one or more random members from a set after removing them. Deletes the set if the last "
            "member was popped.", "1.0.0"),
    Command("srandmember", -2, READ, ("readonly",), 1, 1, 1, "set",
            "Get one or multiple random members from a set", "1.0.0"),
    Command("smove", 4, WRITE, ("write", "fast"), 1, 2, 1, "set",
            "Moves a member from one set to another.", "1.0.0"),
    Command("sinter", -2, READ, ("readonly",), 1, -1, 1, "set",
            "Returns the intersect of multiple sets.", "1.0.0"),
    Command("sintercard", -3, READ, ("readonly", "movablekeys"), 0, 0, 0, "set",
            "Returns the number of members of the intersect of multiple sets.", "7.0.0"),
    Command("sunion", -2, READ, ("readonly",), 1, -1, 1, "set",
            "Returns the union of multiple sets.", "1.0.0"),
    Command("sdiff", -2, READ, ("readonly",), 1, -1, 1, "set",
            "Returns the difference of multiple sets.", "1.0.0"),
    Command("sinterstore", -3, WRITE, ("write", "denyoom"), 1, -1, 1, "set",
            "Stores the intersect of multiple sets in a key.", "1.0.0"),
    Command("sunionstore", -3, WRITE, ("write", "denyoom"), 1, -1, 1, "set",
            "Stores the union of multiple sets in a key.", "1.0.0"),
    Command("sdiffstore", -3, WRITE, ("write", "denyoom"), 1, -1, 1, "set",
            "Stores the difference of multiple sets in a key.", "1.0.0"),
    Command("sscan", -3, READ, ("readonly",), 1, 1, 1, "set",
            "Iterates over members of a set.", "2.8.0"),
    # expiry
    Command("expire", -3, WRITE, ("write", "fast"), 1, 1, 1, "generic",
            "Sets the expiration time of a key in seconds."),
    Command("pexpire", -3, WRITE, ("write", "fast"), 1, 1, 1, "generic",
            "Sets the expiration time of a key in milliseconds.", "2.6.0"),
    Command("expireat", -3, WRITE, ("write", "fast"), 1, 1, 1, "generic",
            "Sets the expiration time of a key to a Unix timestamp.", "1.2.0"),
    Command("pexpireat", -3, WRITE, ("write", "fast"), 1, 1, 1, "generic",
            "Sets the expiration time of a key to a Unix milliseconds timestamp.", "2.6.0"),
    Command("ttl", 2, READ, ("readonly", "fast"), 1, 1, 1, "generic",
            "Returns the expiration time in seconds of a key."),
    Command("pttl", 2, READ, ("readonly", "fast"), 1, 1, 1, "generic",
            "Returns the expiration time in milliseconds of a key.", "2.6.0"),
    Command("expiretime", 2, READ, ("readonly", "fast"), 1, 1, 1, "generic",
            "Returns the expiration time of a key as a Unix timestamp.", "7.0.0"),
    Command("pexpiretime", 2, READ, ("readonly", "fast"), 1, 1, 1, "generic",
            "Returns the expiration time of a key as a Unix milliseconds timestamp.", "7.0.0"),
    Command("persist", 2, WRITE, ("write", "fast"), 1, 1, 1, "generic",
            "Removes the expiration time of a key.", "2.2.0"),
    # node
    Command("info", -1, NODE, ("loading", "stale"), group="server",
            summary="Returns information and statistics about the server.", served_while_removed=True),
    Command("raft", -2, NODE, ("admin", "noscript", "loading", "stale"), group="cluster",
            summary="RAFT MEMBER ADD|REMOVE|LIST, RAFT LEADER TRANSFER, RAFT SNAPSHOT SAVE|CHUNK, RAFT SLOTS "
                    "SET|GET|IMPORTING|MIGRATING|EXPORT|IMPORT|RELEASE: membership, leadership, backups, the "
                    "slot map and moving slots.",
            since="0.1.0", subcommands=("member", "leader", "snapshot", "slots", "identity", "bootstrap"),
            served_while_removed=True),
    Command("cluster", -2, NODE, (), group="cluster",
            summary="A container for Redis Cluster commands.", since="3.0.0",
            subcommands=("countkeysinslot", "getkeysinslot", "info", "keyslot", "myid", "nodes", "shards",
                         "slots")),
    Command("wait", 3, NODE, ("noscript",), group="generic",
            summary="Wait for the synchronous replication of all the write commands sent in the context of the "
                    "current connection", since="3.0.0"),
    Command("debug", -2, NODE, ("admin", "noscript", "loading", "stale"), group="server",
            summary="DEBUG DIGEST: a hash of this node's applied key space, to compare nodes.",
            subcommands=("digest",)),
    Command("slowlog", -2, NODE, ("admin", "loading", "stale"), group="server",
            summary="A container for slow log commands.", since="2.2.12",
            subcommands=("get", "len", "reset", "help"), served_while_removed=True),
    Command("latency", -2, NODE, ("admin", "noscript", "loading", "stale"), group="server",
            summary="A container for latency diagnostics commands.", since="2.8.13",
            subcommands=("latest", "history", "reset", "help"), served_while_removed=True),
    Command("lastsave", 1, NODE, ("loading", "stale", "fast"), group="server",
            summary="Returns the Unix timestamp of the last snapshot this node wrote.", since="1.0.0",
            served_while_removed=True),
    # connection and server, answered by the worker
    Command("ping", -1, LOCAL, ("fast", "stale"), group="connection",
            summary="Returns the server's liveliness response."),
    Command("auth", -2, LOCAL, ("noscript", "loading", "stale", "fast", "no_auth", "allow_busy"),
            group="connection", summary="Authenticates the connection.", since="1.0.0"),
    Command("echo", 2, LOCAL, ("fast",), group="connection", summary="Returns the given string."),
    Command("quit", -1, LOCAL, ("noscript", "loading", "stale", "fast", "no_auth", "allow_busy"),
            group="connection", summary="Closes the connection.", runs_in_multi=True),
    Command("select", 2, LOCAL, ("fast", "stale", "loading"), group="connection",
            summary="Changes the selected database."),
    Command("hello", -1, LOCAL, ("noscript", "loading", "stale", "fast", "no_auth", "allow_busy"),
            group="connection", summary="Handshakes with the Redis server.", since="6.0.0"),
    Command("client", -2, LOCAL, ("stale", "loading"), group="connection",
            summary="A container for client connection commands.", since="2.4.0",
            subcommands=("id", "getname", "setname", "setinfo", "info", "list", "kill", "no-evict", "unblock",
                         "help"),
            served_while_removed=True),  # its connections are the node's, in or out of a cluster
    Command("monitor", 1, LOCAL, ("admin", "noscript", "loading", "stale"), group="server",
            summary="Listens for all requests received by the server in real-time.", since="1.0.0",
            served_while_removed=True),
    Command("readonly", 1, LOCAL, ("fast", "loading", "stale"), group="cluster",
            summary="Enables read-only queries for a connection: its reads are served from this node's applied "
                    "state, without confirming them with the leader (possibly stale).", since="3.0.0"),
    Command("asking", 1, LOCAL, ("fast",), group="cluster",
            summary="Sent by cluster clients after an -ASK redirect: the connection's next command is served "
                    "for a slot this node is importing.", since="3.0.0"),
    Command("readwrite", 1, LOCAL, ("fast", "loading", "stale"), group="cluster",
            summary="Enables read-write queries for a connection: its reads are linearizable again.",
            since="3.0.0"),
    Command("command", -1, LOCAL, ("loading", "stale"), group="server",
            summary="Returns detailed information about all commands.", since="2.8.13",
            subcommands=("count", "docs", "info", "list", "help")),
    Command("config", -2, LOCAL, ("stale", "loading"), group="server",
            summary="A container for server configuration commands.", since="2.0.0",
            subcommands=("get", "set", "resetstat", "rewrite", "help"), served_while_removed=True),
    # The worker answers ACL from the user table it was sent and forwards SETUSER and DELUSER, which go
    # through the log (raftkv.worker.permissions, raftkv.kv.commands.users); no flags, as Redis's container command.
    Command("acl", -2, WRITE, (), group="server", summary="A container for Access List Control commands.",
            since="6.0.0", subcommands=("cat", "deluser", "getuser", "list", "setuser", "users", "whoami",
                                        "help")),
    # transactions: MULTI queues in the worker, EXEC goes through the log as one entry, and the Raft
    # process keeps each connection's watched keys (their versions at a linearizable read)
    Command("multi", 1, LOCAL, ("noscript", "loading", "stale", "fast", "allow_busy"), group="transactions",
            summary="Starts a transaction.", since="1.2.0", runs_in_multi=True),
    Command("exec", 1, WRITE, ("noscript", "loading", "stale", "skip_slowlog"), group="transactions",
            summary="Executes all commands in a transaction.", since="1.2.0", runs_in_multi=True),
    Command("discard", 1, LOCAL, ("noscript", "loading", "stale", "fast", "allow_busy"),
            group="transactions", summary="Discards a transaction.", since="2.0.0", runs_in_multi=True),
    Command("watch", -2, READ, ("noscript", "loading", "stale", "fast", "allow_busy"), 1, -1, 1,
            "transactions", "Monitors changes to keys to determine the execution of a transaction.",
            "2.2.0", runs_in_multi=True),
    Command("unwatch", 1, NODE, ("noscript", "loading", "stale", "fast", "allow_busy"), group="transactions",
            summary="Forgets about watched keys of a transaction.", since="2.2.0"),
    # ---- lists and sorted sets (kv/commands/list.py, zset.py, zrange.py, zsetops.py) ----
    # lists
    Command("lpush", -3, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "list",
            "Prepend one or multiple elements to a list", "1.0.0"),
    Command("rpush", -3, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "list",
            "Append one or multiple elements to a list", "1.0.0"),
    Command("lpushx", -3, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "list",
            "Prepend an element to a list, only if the list exists", "2.2.0"),
    Command("rpushx", -3, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "list",
            "Append an element to a list, only if the list exists", "2.2.0"),
    Command("lpop", -2, WRITE, ("write", "fast"), 1, 1, 1, "list",
            "Remove and get the first elements in a list", "1.0.0"),
    Command("rpop", -2, WRITE, ("write", "fast"), 1, 1, 1, "list",
            "Remove and get the last elements in a list", "1.0.0"),
    Command("llen", 2, READ, ("readonly", "fast"), 1, 1, 1, "list",
            "Get the length of a list", "1.0.0"),
    Command("lrange", 4, READ, ("readonly",), 1, 1, 1, "list",
            "Get a range of elements from a list", "1.0.0"),
    Command("lindex", 3, READ, ("readonly",), 1, 1, 1, "list",
            "Get an element from a list by its index", "1.0.0"),
    Command("lset", 4, WRITE, ("write", "denyoom"), 1, 1, 1, "list",
            "Set the value of an element in a list by its index", "1.0.0"),
    Command("linsert", 5, WRITE, ("write", "denyoom"), 1, 1, 1, "list",
            "Insert an element before or after another element in a list", "2.2.0"),
    Command("lrem", 4, WRITE, ("write",), 1, 1, 1, "list",
            "Remove elements from a list", "1.0.0"),
    Command("ltrim", 4, WRITE, ("write",), 1, 1, 1, "list",
            "Trim a list to the specified range", "1.0.0"),
    Command("lpos", -3, READ, ("readonly",), 1, 1, 1, "list",
            "Return the index of matching elements on a list", "6.0.6"),
    Command("lmove", 5, WRITE, ("write", "denyoom"), 1, 2, 1, "list",
            "Pop an element from a list, push it to another list and return it", "6.2.0"),
    Command("rpoplpush", 3, WRITE, ("write", "denyoom"), 1, 2, 1, "list",
            "Remove the last element in a list, prepend it to another list and return it", "1.2.0"),
    Command("lmpop", -4, WRITE, ("write", "movablekeys"), 0, 0, 0, "list",
            "Pop elements from a list", "7.0.0"),
    Command("blpop", -3, WRITE, ("write", "noscript", "blocking"), 1, -2, 1, "list",
            "Remove and get the first element in a list, or block until one is available", "2.0.0"),
    Command("brpop", -3, WRITE, ("write", "noscript", "blocking"), 1, -2, 1, "list",
            "Remove and get the last element in a list, or block until one is available", "2.0.0"),
    Command("blmove", 6, WRITE, ("write", "denyoom", "noscript", "blocking"), 1, 2, 1, "list",
            "Pop an element from a list, push it to another list and return it; or block until one is "
            "available", "6.2.0"),
    Command("brpoplpush", 4, WRITE, ("write", "denyoom", "noscript", "blocking"), 1, 2, 1, "list",
            "Pop an element from a list, push it to another list and return it; or block until one is "
            "available", "2.2.0"),
    Command("blmpop", -5, WRITE, ("write", "blocking", "movablekeys"), 0, 0, 0, "list",
            "Pop elements from a list, or block until one is available", "7.0.0"),
    # sorted sets
    Command("zadd", -4, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "sorted-set",
            "Add one or more members to a sorted set, or update its score if it already exists", "1.2.0"),
    Command("zrem", -3, WRITE, ("write", "fast"), 1, 1, 1, "sorted-set",
            "Remove one or more members from a sorted set", "1.2.0"),
    Command("zscore", 3, READ, ("readonly", "fast"), 1, 1, 1, "sorted-set",
            "Get the score associated with the given member in a sorted set", "1.2.0"),
    Command("zmscore", -3, READ, ("readonly", "fast"), 1, 1, 1, "sorted-set",
            "Get the score associated with the given members in a sorted set", "6.2.0"),
    Command("zincrby", 4, WRITE, ("write", "denyoom", "fast"), 1, 1, 1, "sorted-set",
            "Increment the score of a member in a sorted set", "1.2.0"),
    Command("zcard", 2, READ, ("readonly", "fast"), 1, 1, 1, "sorted-set",
            "Get the number of members in a sorted set", "1.2.0"),
    Command("zcount", 4, READ, ("readonly", "fast"), 1, 1, 1, "sorted-set",
            "Count the members in a sorted set with scores within the given values", "2.0.0"),
    Command("zlexcount", 4, READ, ("readonly", "fast"), 1, 1, 1, "sorted-set",
            "Count the number of members in a sorted set between a given lexicographical range", "2.8.9"),
    Command("zrange", -4, READ, ("readonly",), 1, 1, 1, "sorted-set",
            "Return a range of members in a sorted set", "1.2.0"),
    Command("zrangestore", -5, WRITE, ("write", "denyoom"), 1, 2, 1, "sorted-set",
            "Store a range of members from sorted set into another key", "6.2.0"),
    Command("zrevrange", -4, READ, ("readonly",), 1, 1, 1, "sorted-set",
            "Return a range of members in a sorted set, by index, with scores ordered from high to low", "1.2.0"),
    Command("zrangebyscore", -4, READ, ("readonly",), 1, 1, 1, "sorted-set",
            "Return a range of members in a sorted set, by score", "1.0.5"),
    Command("zrevrangebyscore", -4, READ, ("readonly",), 1, 1, 1, "sorted-set",
            "Return a range of members in a sorted set, by score, with scores ordered from high to low", "2.2.0"),
    Command("zrangebylex", -4, READ, ("readonly",), 1, 1, 1, "sorted-set",
            "Return a range of members in a sorted set, by lexicographical range", "2.8.9"),
    Command("zrevrangebylex", -4, READ, ("readonly",), 1, 1, 1, "sorted-set",
            "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower "
            "strings.", "2.8.9"),
    Command("zrank", 3, READ, ("readonly", "fast"), 1, 1, 1, "sorted-set",
            "Determine the index of a member in a sorted set", "2.0.0"),
    Command("zrevrank", 3, READ, ("readonly", "fast"), 1, 1, 1, "sorted-set",
            "Determine the index of a member in a sorted set, with scores ordered from high to low", "2.0.0"),
    Command("zremrangebyrank", 4, WRITE, ("write",), 1, 1, 1, "sorted-set",
            "Remove all members in a sorted set within the given indexes", "2.0.0"),
    Command("zremrangebyscore", 4, WRITE, ("write",), 1, 1, 1, "sorted-set",
            "Remove all members in a sorted set within the given scores", "1.2.0"),
    Command("zremrangebylex", 4, WRITE, ("write",), 1, 1, 1, "sorted-set",
            "Remove all members in a sorted set between the given lexicographical range", "2.8.9"),
    Command("zpopmin", -2, WRITE, ("write", "fast"), 1, 1, 1, "sorted-set",
            "Remove and return members with the lowest scores in a sorted set", "5.0.0"),
    Command("zpopmax", -2, WRITE, ("write", "fast"), 1, 1, 1, "sorted-set",
            "Remove and return members with the highest scores in a sorted set", "5.0.0"),
    Command("zmpop", -4, WRITE, ("write", "movablekeys"), 0, 0, 0, "sorted-set",
            "Remove and return members with scores in a sorted set", "7.0.0"),
    Command("bzpopmin", -3, WRITE, ("write", "noscript", "blocking", "fast"), 1, -2, 1, "sorted-set",
            "Remove and return the member with the lowest score from one or more sorted sets, or block "
            "until one is available", "5.0.0"),
    Command("bzpopmax", -3, WRITE, ("write", "noscript", "blocking", "fast"), 1, -2, 1, "sorted-set",
            "Remove and return the member with the highest score from one or more sorted sets, or block "
            "until one is available", "5.0.0"),
    Command("bzmpop", -5, WRITE, ("write", "blocking", "movablekeys"), 0, 0, 0, "sorted-set",
            "Remove and return members with scores in a sorted set or block until one is available",
            "7.0.0"),
    Command("zscan", -3, READ, ("readonly",), 1, 1, 1, "sorted-set",
            "Incrementally iterate sorted sets elements and associated scores", "2.8.0"),
    Command("zrandmember", -2, READ, ("readonly",), 1, 1, 1, "sorted-set",
            "Get one or multiple random elements from a sorted set", "6.2.0"),
    Command("zunion", -3, READ, ("readonly", "movablekeys"), 0, 0, 0, "sorted-set",
            "Add multiple sorted sets", "6.2.0"),
    Command("zinter", -3, READ, ("readonly", "movablekeys"), 0, 0, 0, "sorted-set",
            "Intersect multiple sorted sets", "6.2.0"),
    Command("zdiff", -3, READ, ("readonly", "movablekeys"), 0, 0, 0, "sorted-set",
            "Subtract multiple sorted sets", "6.2.0"),
    Command("zunionstore", -4, WRITE, ("write", "denyoom", "movablekeys"), 1, 1, 1, "sorted-set",
            "Add multiple sorted sets and store the resulting sorted set in a new key", "2.0.0"),
    Command("zinterstore", -4, WRITE, ("write", "denyoom", "movablekeys"), 1, 1, 1, "sorted-set",
            "Intersect multiple sorted sets and store the resulting sorted set in a new key", "2.0.0"),
    Command("zdiffstore", -4, WRITE, ("write", "denyoom", "movablekeys"), 1, 1, 1, "sorted-set",
            "Subtract multiple sorted sets and store the resulting sorted set in a new key", "6.2.0"),
    Command("zintercard", -3, READ, ("readonly", "movablekeys"), 0, 0, 0, "sorted-set",
            "Intersect multiple sorted sets and return the cardinality of the result", "7.0.0"),
    # ---- the rest of Redis 7.0's string, keyspace and server commands (kv/commands/lcs.py, sort.py,
    # dump.py, clock.py, keys.py, strings.py; docs/commands.md) ----
    Command("substr", 4, READ, ("readonly",), 1, 1, 1, "string",
            "Get a substring of the string stored at a key", "1.0.0"),
    Command("lcs", -3, READ, ("readonly",), 1, 2, 1, "string", "Find longest common substring", "7.0.0"),
    Command("touch", -2, READ, ("readonly", "fast"), 1, -1, 1, "generic",
            "Alters the last access time of a key(s). Returns the number of existing keys specified.", "3.2.1"),
    Command("move", 3, WRITE, ("write", "fast"), 1, 1, 1, "generic", "Move a key to another database", "1.0.0"),
    Command("swapdb", 3, WRITE, ("write", "fast"), group="server", summary="Swaps two Redis databases",
            since="4.0.0"),
    Command("sort", -2, WRITE, ("write", "denyoom", "movablekeys"), 1, 1, 1, "generic",
            "Sort the elements in a list, set or sorted set", "1.0.0"),
    Command("sort_ro", -2, READ, ("readonly", "movablekeys"), 1, 1, 1, "generic",
            "Sort the elements in a list, set or sorted set. Read-only variant of SORT.", "7.0.0"),
    Command("dump", 2, READ, ("readonly",), 1, 1, 1, "generic",
            "Return a serialized version of the value stored at the specified key.", "2.6.0"),
    Command("restore", -4, WRITE, ("write", "denyoom"), 1, 1, 1, "generic",
            "Create a key using the provided serialized value, previously obtained using DUMP.", "2.6.0"),
    # a READ, so that it is served on the node's clock without a log entry (kv/commands/clock.py)
    Command("time", 1, READ, ("loading", "stale", "fast"), group="server", summary="Return the current server time",
            since="2.6.0"),
)


# Commands the node itself proposes through the log; clients cannot send them (lookup() does not know them).
INTERNAL: dict[bytes, Command] = _table(
    Command("expired", -2, WRITE, ("write",), 1, -1, 1, "generic",
            "Deletes the given keys that have expired by the entry's time (the leader's expiry sweep).",
            "0.1.0"),
)


def lookup(argv: list[bytes]) -> Command | RespError:
    """The spec for ``argv``, or the exact error Redis 7 gives for an unknown command or a bad arity."""
    cmd = TABLE.get(argv[0].lower())
    if cmd is None:
        return unknown_command(argv)
    n = len(argv)
    if (cmd.arity > 0 and n != cmd.arity) or n < -cmd.arity:
        return wrong_arity(cmd.name)
    return cmd


def _quoted(raw: bytes, limit: int) -> str:
    return raw.decode("utf-8", "replace")[:limit]


def unknown_command(argv: list[bytes]) -> RespError:
    # Redis quotes the arguments until 128 characters of them have been shown.
    shown = ""
    for arg in argv[1:]:
        if len(shown) >= 128:
            break
        shown += f"'{_quoted(arg, 128 - len(shown))}' "
    name = _quoted(argv[0], 128)
    return _one_line(f"ERR unknown command '{name}', with args beginning with: {shown}")


def unknown_subcommand(argv: list[bytes]) -> RespError:
    return _one_line(
        f"ERR unknown subcommand '{_quoted(argv[1], 128)}'. Try {argv[0].decode('utf-8', 'replace').upper()} HELP."
    )


def wrong_arity(name: str) -> RespError:
    return err(f"wrong number of arguments for '{name}' command")


def subcommand_refusal(argv: list[bytes], arities: dict[bytes, int]) -> RespError | None:
    """Redis's error for a container command's unknown subcommand, or for a subcommand given a wrong
    number of arguments (an arity of -n: at least n), else None."""
    sub = argv[1].lower()
    arity = arities.get(sub)
    if arity is None:
        return unknown_subcommand(argv)
    n = len(argv)
    if n != arity if arity > 0 else n < -arity:
        return wrong_arity(f"{argv[0].lower().decode()}|{sub.decode('utf-8', 'replace')}")
    return None


def _one_line(message: str) -> RespError:
    return RespError(message.replace("\r", " ").replace("\n", " "))
