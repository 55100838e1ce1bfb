"""raftkv: a Redis-protocol key-value store whose writes are replicated with Raft.

Layout: a package per process or layer, each with one job; imports never go in circles
(tests/raft/test_import_graph.py) and raft/ imports nothing outside itself (tests/raft/test_purity.py).
  _resp.pyx     the Cython RESP codec (stub _resp.pyi); wire/resp_pure.py is its pure twin
  _entries.pyx  the Cython codec of packed entry batches (stub _entries.pyi); wire/entries.py has its twin
  _slots.pyx    Redis Cluster hash slots, compiled (stub _slots.pyi); sharding/slots_pure.py is its twin
  wire/         bytes <-> values, no I/O: RESP facade, pipe records, Raft messages, entry batches,
                log-entry payloads, member values and addresses
  raft/         the pure Raft core (no sockets, clock, disk or global randomness); ready.py is the one
                Ready routine the node, tests/raft and the simulation share
  kv/           the state machine (SortedDict) and its commands: table.py (metadata as data),
                registry.py (imports every command module), commands/ (users.py: ACL SETUSER/DELUSER)
  worker/       a worker process: server.py (accept/read/write), handshakes.py (TLS handshakes of the
                TLS client port), session.py, local.py (commands it answers itself), client_filters.py,
                node_requests.py (its answers to node-wide CLIENT LIST/KILL), monitor.py (MONITOR lines),
                permissions.py (AUTH against the ACL users, NOPERM, the ACL reads), worker_process.py
                (entry point)
  node/         the Raft process: loop.py (selector, pipes, dispatch), sequencer.py (per-connection
                order, pure), inflight.py, apply.py, cluster.py, admin.py, self_join.py (--join with the
                secret), clients.py (CLIENT LIST/KILL and MONITOR across workers), backup.py (RAFT SNAPSHOT),
                force.py (--force-new-cluster), restore.py (a data dir from a snapshot), info.py,
                expiry.py, disk_guard.py, disk.py (LevelDB), transport.py, snapshots/, user_push.py (the
                ACL users to the workers), raft_process.py (entry point), observer.py (each command's time:
                slowlog.py, latency_monitor.py), config_command.py and config_rewrite.py (CONFIG)
  sharding/     Redis Cluster sharding over several Raft groups: slot_map.py (the map as a value),
                state.py (a node's installed map and its MOVED/CROSSSLOT routing), command_keys.py,
                cluster_commands.py (CLUSTER replies), leaders.py (polls other groups' leaders),
                node_hooks.py (what the Raft process calls)
  supervisor/   starts, watches and restarts the Raft process and the workers
  config.py  runtime_config.py (CONFIG's parameters)  command_stats.py (INFO commandstats, also counted
  by workers)  errors.py  process.py (set-up every process shares)  wakeup.py  server_cli.py
  tls.py        the TLS contexts of the client ports, the peer links and kvsctl
  client.py     the one blocking RESP client (kvsctl, the admin calls between nodes, benchmarks)
  acl.py        ACL-lite: users, their rules and permissions (pure)
"""

__version__ = "0.1.0"

# The Redis version whose commands and replies raftkv follows; clients gate features on it.
REDIS_VERSION = "7.2.0"
