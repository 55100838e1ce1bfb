"""Redis Cluster sharding over several Raft groups: hash slots, the replicated slot map, routing and the
CLUSTER commands. Every group is a plain raftkv cluster; this package only decides which of them owns a
key and answers clients that ask where the others are."""
