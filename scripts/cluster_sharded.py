"""Run a local sharded raftkv deployment in the foreground: ``make cluster-sharded``.

Starts ``--groups`` groups of ``--nodes`` nodes on 127.0.0.1 (client ports from ``--base-port`` upwards,
group after group; peer ports 10000 above them; data in ``data/<client port>``), each group its own Raft
cluster, waits until every group has a leader, and shares the 16384 slots among the groups
(``kvsctl cluster create``) unless their data dirs already hold a slot map. Output, Ctrl-C and a node
exiting are handled as by ``make cluster`` (scripts/cluster.py).

    python scripts/cluster_sharded.py [--groups 2] [--nodes 3] [--base-port 2317] [--workers 1]
"""
from __future__ import annotations

import argparse
import sys
import time

from cluster import DATA_ROOT, HOST, PEER_PORT_OFFSET, ROOT, Node, run_in_foreground

sys.path.insert(0, str(ROOT))
from kvsctl.cluster import ClusterFailure, create, current_map  # noqa: E402
from raftkv.client import ClientError, request  # noqa: E402 (after the repository is on the path)

READY_TIMEOUT_S = 60.0


def wait_for_leaders(groups: list[list[Node]]) -> None:
    """Until a keyless linearizable read succeeds on a node of every group (it needs a leader)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    for group in groups:
        while True:
            for node in group:
                node.pump()
            try:
                if isinstance(request(f"{HOST}:{group[0].port}", "DBSIZE"), int):
                    break
            except ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"group of {group[0].port} has no leader after {READY_TIMEOUT_S:g}s")
            time.sleep(0.2)


def shard(groups: list[list[Node]]) -> None:
    first = f"{HOST}:{groups[0][0].port}"
    try:
        slot_map = current_map(request, first)
        print(f"cluster: slot map epoch {slot_map.epoch} already installed", file=sys.stderr)
    except ClusterFailure:
        create(request, [",".join(f"{HOST}:{n.port}" for n in group) for group in groups])
        print(f"cluster: 16384 slots shared among {len(groups)} groups", file=sys.stderr)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=2, help="number of shard groups")
    parser.add_argument("--nodes", type=int, default=3, help="nodes per group")
    parser.add_argument("--base-port", type=int, default=2317, help="client port of the first node")
    parser.add_argument("--workers", type=int, default=1, help="worker processes per node")
    args = parser.parse_args(argv)
    if args.groups < 1 or args.nodes < 1:
        parser.error("--groups and --nodes must be at least 1")
    if not 1 <= args.base_port <= 65535 - PEER_PORT_OFFSET - args.groups * args.nodes + 1:
        parser.error("--base-port leaves no room for the client and peer ports")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ports = list(range(args.base_port, args.base_port + args.groups * args.nodes))
    groups = [[Node(p, p + PEER_PORT_OFFSET, DATA_ROOT / str(p)) for p in ports[i:i + args.nodes]]
              for i in range(0, len(ports), args.nodes)]

    def start() -> str:
        for group in groups:
            initial_cluster = ",".join(node.member for node in group)
            for node in group:
                node.start(initial_cluster, args.workers)
        wait_for_leaders(groups)
        shard(groups)
        return (f"{args.groups} groups of {args.nodes} nodes on {HOST} ports {ports[0]}-{ports[-1]}; "
                f"try: redis-cli -c -p {ports[0]} CLUSTER SHARDS")
    return run_in_foreground([node for group in groups for node in group], start, (RuntimeError, ClusterFailure))


if __name__ == "__main__":
    sys.exit(main())
