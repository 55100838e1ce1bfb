"""A TCP relay that adds latency, jitter and emulated loss, for tests/netns (this kernel has no netem).

``python forwarder.py --listen HOST:PORT --to HOST:PORT [--delay-ms D] [--jitter-ms J] [--loss P]
[--rto-ms R] [--seed S]`` relays every connection accepted on ``--listen`` to ``--to``, in both
directions. What it emulates, per direction of a connection:

- latency and jitter: each chunk read is written ``D ± J`` ms (uniform) after it was read, but never
  before a chunk read earlier (a TCP stream keeps its order, so jitter delays, it cannot reorder);
- loss: a TCP stream never loses bytes; what a lost segment costs its connection is a retransmission
  one RTO later, with everything behind it waiting (head-of-line blocking). So with probability ``P``
  a chunk is held ``R`` ms more (default 200, Linux's minimum RTO).

It does not emulate what loss does to TCP itself (congestion window, duplicate ACKs) nor bandwidth, and
a chunk is whatever one read returned, not one packet. It prints ``ready`` once it listens, and runs
until killed.
"""
from __future__ import annotations

import argparse
import asyncio
import random
from dataclasses import dataclass

_READ_BYTES = 256 * 1024
_QUEUED_CHUNKS = 64


@dataclass(frozen=True)
class Shaping:
    delay_s: float
    jitter_s: float
    loss: float
    rto_s: float


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, shaping: Shaping,
                rng: random.Random, both: tuple[asyncio.StreamWriter, asyncio.StreamWriter]) -> None:
    """Copy one direction, each chunk due at its own time. An end of stream is passed on as one (the
    other direction goes on); an error on either side closes both sockets, as a reset would."""
    loop = asyncio.get_running_loop()
    # Bounded, so that a slow receiver slows the sender down, as a TCP window does.
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_QUEUED_CHUNKS)

    async def deliver() -> None:
        while True:
            due, chunk = await queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not chunk:
                writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()

    def close_on_error(task: asyncio.Future[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            for each in both:
                each.close()  # the reads below then end too

    delivering = asyncio.ensure_future(deliver())
    delivering.add_done_callback(close_on_error)
    last_due = 0.0
    try:
        while True:
            chunk = await reader.read(_READ_BYTES)
            delay = shaping.delay_s + rng.uniform(-shaping.jitter_s, shaping.jitter_s)
            if chunk and rng.random() < shaping.loss:
                delay += shaping.rto_s
            last_due = max(last_due, loop.time() + max(0.0, delay))
            await queue.put((last_due, chunk))
            if not chunk:
                break
        await delivering
    except (ConnectionError, OSError):
        for each in both:
            each.close()
    finally:
        delivering.cancel()


async def _serve(listen: tuple[str, int], target: tuple[str, int], shaping: Shaping, seed: int) -> None:
    rng = random.Random(seed)

    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*target)
        except OSError:
            client_writer.close()
            return
        both = (client_writer, server_writer)
        await asyncio.gather(
            _pump(client_reader, server_writer, shaping, random.Random(rng.getrandbits(64)), both),
            _pump(server_reader, client_writer, shaping, random.Random(rng.getrandbits(64)), both))
        for writer in both:
            writer.close()

    server = await asyncio.start_server(relay, *listen)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=_addr, required=True)
    parser.add_argument("--to", type=_addr, required=True)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--rto-ms", type=float, default=200.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shaping = Shaping(args.delay_ms / 1000, args.jitter_ms / 1000, args.loss, args.rto_ms / 1000)
    asyncio.run(_serve(args.listen, args.to, shaping, args.seed))


if __name__ == "__main__":
    main()
