"""Differential fuzz target for the RESP codec: raftkv._resp (Cython) against raftkv.wire.resp (pure Python).

Not a pytest module (its name does not start with ``test_``); run it directly:

    .venv/bin/python tests/fuzz/fuzz_codec.py -max_total_time=300          # atheris (libFuzzer flags)
    .venv/bin/python tests/fuzz/fuzz_codec.py --fallback --seconds 300 --seed 7
    .venv/bin/python tests/fuzz/fuzz_codec.py crash-<sha1>                  # replay saved inputs

With atheris installed, libFuzzer drives the search (coverage of the pure twin guides it) from a corpus
and a RESP dictionary kept in ``$TMPDIR/raftkv-fuzz-codec`` (``--work-dir``); without it, or with
``--fallback``, a seeded random loop generates inputs. Both feed every input to :func:`check_input`,
which raises on the first disagreement or unexpected exception; the fallback loop then saves the input
as ``crash-<sha1>``, libFuzzer as ``crash-<sha1>`` in its ``-artifact_prefix``.

An input is a small header followed by the bytes to parse:

- byte 0, bit 0: 0 = request parsers (server side), 1 = reply readers (client side);
- byte 0, bit 1: request parsers only, use tiny limits taken from the three bytes after the cuts;
- byte 1: the number of cut points k (0-7), then k big-endian uint16 cut positions (modulo the length).

Checks, for the bytes fed in the pieces the cuts make:

- ``RequestParser`` and ``PyRequestParser`` pop the same commands after every feed and end with the
  same error; the commands and error do not depend on the cuts (the twin fed everything at once agrees);
- ``Reader`` and ``PyReader`` return the same values after every feed and raise the same
  ``ProtocolError``, which then stays final; again independent of the cuts;
- nothing raises anything but ``ProtocolError`` (readers) or nothing at all (parsers).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import random
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from raftkv.wire import resp

try:
    import atheris
except ImportError:  # the fallback loop needs nothing but the standard library
    atheris = None

resp.require_compiled()
from raftkv import _resp  # noqa: E402  (only once the extension is known to be built)

ProtocolError = resp.ProtocolError
NEED_MORE = resp.NEED_MORE

REPLIES_BIT, SMALL_LIMITS_BIT = 1, 2
MAX_CUTS = 7


class Divergence(AssertionError):
    """The two codecs disagree, or one of them broke its contract."""


# ---------------------------------------------------------------------------------------------------------
# Input layout


def encode_input(payload: bytes, replies: bool, cuts: Sequence[int] = (),
                 limits: tuple[int, int, int] | None = None) -> bytes:
    """The fuzz input that :func:`decode_input` turns back into these parts."""
    mode = (REPLIES_BIT if replies else 0) | (SMALL_LIMITS_BIT if limits else 0)
    cuts = list(cuts)[:MAX_CUTS]
    header = bytes([mode, len(cuts)]) + b"".join(struct.pack(">H", c & 0xFFFF) for c in cuts)
    if limits:
        header += bytes(limits)
    return header + payload


def decode_input(data: bytes) -> tuple[bool, list[bytes], dict[str, int], bytes]:
    """(replies?, the payload cut into pieces, request parser limits, the whole payload)."""
    mode = data[0] if data else 0
    count = (data[1] % (MAX_CUTS + 1)) if len(data) > 1 else 0
    pos = 2
    raw_cuts = []
    for _ in range(count):
        if pos + 2 > len(data):
            break
        raw_cuts.append(struct.unpack_from(">H", data, pos)[0])
        pos += 2
    limits: dict[str, int] = {}
    if mode & SMALL_LIMITS_BIT and not mode & REPLIES_BIT:
        bulk, multibulk, inline = (data[pos : pos + 3] + b"\0\0\0")[:3]
        limits = {"max_bulk_len": bulk % 32, "max_multibulk_len": multibulk % 8,
                  "max_inline_len": inline % 64}
        pos += 3
    payload = data[pos:]
    points = sorted({c % (len(payload) + 1) for c in raw_cuts})
    pieces = [payload[a:b] for a, b in zip([0, *points], [*points, len(payload)])]
    return bool(mode & REPLIES_BIT), pieces, limits, payload


# ---------------------------------------------------------------------------------------------------------
# Request parsers

ParserSteps = list[tuple[list[list[bytes]], str | None]]


def parse_steps(parser_class: type, pieces: list[bytes], limits: dict[str, int]) -> ParserSteps:
    """The commands popped and the error after each piece is fed."""
    parser = parser_class(**limits)
    steps: ParserSteps = []
    for piece in pieces:
        parser.feed(piece)
        steps.append((parser.pop_commands(), parser.error))
    return steps


def flatten(steps: ParserSteps) -> tuple[list[list[bytes]], str | None]:
    commands = [argv for popped, _ in steps for argv in popped]
    return commands, steps[-1][1] if steps else None


def check_requests(pieces: list[bytes], limits: dict[str, int], payload: bytes) -> None:
    fast = parse_steps(_resp.RequestParser, pieces, limits)
    slow = parse_steps(resp.PyRequestParser, pieces, limits)
    if fast != slow:
        raise Divergence(f"request parsers disagree step by step:\n  cython: {fast!r}\n  python: {slow!r}")
    whole = flatten(parse_steps(resp.PyRequestParser, [payload], limits))
    if flatten(slow) != whole:
        raise Divergence(
            f"request parsing depends on the cuts:\n  cut: {flatten(slow)!r}\n  whole: {whole!r}")
    for argv in whole[0]:
        if not argv or not all(type(arg) is bytes for arg in argv):
            raise Divergence(f"a command that is not a non-empty list of bytes: {argv!r}")


# ---------------------------------------------------------------------------------------------------------
# Reply readers


class _Closer:
    """Marks, on the walk's stack, where an aggregate ends."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


_END_LIST, _END_TUPLE, _END_MAP = _Closer("]"), _Closer(")"), _Closer("}")


def canonical(value: object) -> str:
    """A text that is equal for equal replies and tells types apart (True from 1, nan equals nan).

    Walks with an explicit stack: replies may nest deeper than Python's recursion limit.
    """
    out: list[str] = []
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if type(item) is _Closer:
            out.append(item.text)
        elif type(item) is list:
            out.append("[")
            stack.append(_END_LIST)
            stack.extend(reversed(item))
        elif type(item) is tuple:
            out.append("(")
            stack.append(_END_TUPLE)
            stack.extend(reversed(item))
        elif type(item) is dict:
            out.append("{")
            stack.append(_END_MAP)
            stack.extend(reversed([part for pair in item.items() for part in pair]))
        else:
            out.append(f"{type(item).__name__}:{item!r},")
    return "".join(out)


ReaderSteps = list[list[str]]


def read_steps(reader_class: type, pieces: list[bytes]) -> ReaderSteps:
    """After each piece is fed: the values read (canonical), and ``error:<text>`` once the input is bad.

    A ProtocolError must be final: the next ``gets()`` raises it again, and later pieces change nothing.
    """
    reader = reader_class()
    steps: ReaderSteps = []
    error: str | None = None
    for piece in pieces:
        reader.feed(piece)
        step: list[str] = []
        while True:
            try:
                value = reader.gets()
            except ProtocolError as exc:
                if error is not None and str(exc) != error:
                    raise Divergence(f"{reader_class.__name__}: the error changed from {error!r} to {exc}") from None
                error = str(exc)
                step.append(f"error:{error}")
                try:
                    again = reader.gets()
                except ProtocolError as repeat:
                    again = repeat
                if not isinstance(again, ProtocolError) or str(again) != error:
                    raise Divergence(f"{reader_class.__name__}: after {error!r}, gets() gave {again!r}") from None
                break
            except Exception as exc:
                raise Divergence(f"{reader_class.__name__} raised {type(exc).__name__}: {exc}") from exc
            if error is not None:
                raise Divergence(f"{reader_class.__name__} returned {value!r} after error {error!r}")
            if value is NEED_MORE:
                break
            step.append(canonical(value))
        steps.append(step)
    return steps


def check_replies(pieces: list[bytes], payload: bytes) -> None:
    fast = read_steps(_resp.Reader, pieces)
    slow = read_steps(resp.PyReader, pieces)
    if fast != slow:
        raise Divergence(f"readers disagree step by step:\n  cython: {fast!r}\n  python: {slow!r}")
    values = [v for step in slow for v in step if not v.startswith("error:")]
    errors = [v for step in slow for v in step if v.startswith("error:")]
    cut = values + errors[:1]
    whole_step = read_steps(resp.PyReader, [payload])[0]
    if cut != whole_step:
        raise Divergence(f"reading depends on the cuts:\n  cut: {cut!r}\n  whole: {whole_step!r}")


def check_input(data: bytes) -> None:
    """The fuzz target: raises Divergence (or crashes) on a codec bug, returns otherwise."""
    replies, pieces, limits, payload = decode_input(data)
    if replies:
        check_replies(pieces, payload)
    else:
        check_requests(pieces, limits, payload)


# ---------------------------------------------------------------------------------------------------------
# Inputs: seeds, dictionary and the fallback generator

REQUEST_TOKENS = [
    b"*", b"$", b"\r\n", b"\r", b"\n", b"0", b"1", b"2", b"3", b"-1", b"10", b"-0", b"00", b" ", b"\t", b"\v",
    b'"', b"'", b"\\", b"\\x41", b"\\x4", b"\\'", b"set", b"\x00", b"\xff", b"*1\r\n$1\r\nx\r\n", b"*2\r\n",
    b"$3\r\n", b"9223372036854775807", b"9223372036854775808", b"-9223372036854775808", b"1048576",
    b"1048577", b"536870912", b"536870913",
]  # fmt: skip
REPLY_TOKENS = [
    b"+", b"-", b":", b"$", b"*", b"%", b"~", b",", b"#", b"(", b"=", b"!", b">", b"|", b"_", b"?", b"\r\n",
    b"\r", b"0", b"1", b"2", b"3", b"-1", b"-2", b"t", b"f", b"inf", b"-inf", b"nan", b".5", b"e3", b"1e",
    b"txt:", b"abc", b"\xff", b"\xc3", b"*1\r\n", b"%1\r\n", b"~1\r\n", b">1\r\n", b"$3\r\n", b"|1\r\n",
    b":1\r\n", b"+OK\r\n", b"_\r\n", b"4294967295", b"4294967296", b"9223372036854775808",
]  # fmt: skip


def random_arg(rng: random.Random) -> bytes:
    choice = rng.random()
    if choice < 0.4:
        return rng.randbytes(rng.randrange(12))
    if choice < 0.7:
        return str(rng.choice([0, -1, 1, 2**63 - 1, -(2**63), 2**64, rng.randrange(-1000, 1000)])).encode()
    return bytes(rng.choice(b"abc \t'\"\\\r\nx") for _ in range(rng.randrange(10)))


def random_reply_value(rng: random.Random, depth: int = 0) -> object:
    choice = rng.randrange(14 if depth < 3 else 9)
    scalars: list[Callable[[], object]] = [
        lambda: rng.randbytes(rng.randrange(8)),
        lambda: "".join(rng.choice("ok é\r\n") for _ in range(rng.randrange(6))),
        lambda: rng.choice([0, -1, 2**63 - 1, -(2**63), 2**64, rng.randrange(-99, 99)]),
        lambda: rng.choice([0.5, -1.0, float("inf"), float("-inf"), float("nan"), 1e300]),
        lambda: None,
        lambda: resp.NULL_ARRAY,
        lambda: rng.random() < 0.5,
        lambda: resp.RespError("ERR " + "x" * rng.randrange(4)),
        lambda: resp.Verbatim("txt", rng.randbytes(rng.randrange(5))),
    ]
    if choice < len(scalars):
        return scalars[choice]()
    items = [random_reply_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if choice == 9:
        return items
    if choice == 10:
        return tuple(items)
    if choice == 11:
        return {rng.randbytes(2): item for item in items}
    if choice == 12:
        return {rng.randrange(99) for _ in items}
    return {rng.randrange(5): item for item in items}


def valid_requests(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randrange(1, 4)):
        argv = [random_arg(rng) for _ in range(rng.randrange(1, 5))]
        if rng.random() < 0.2 and all(b"\n" not in a for a in argv):
            parts.append(b" ".join(b'"' + a.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
                                   for a in argv) + rng.choice([b"\r\n", b"\n"]))
        else:
            parts.append(resp.py_encode_command(argv))
    return b"".join(parts)


def valid_replies(rng: random.Random) -> bytes:
    proto = rng.choice([2, 3])
    return b"".join(resp.py_encode_reply(random_reply_value(rng), proto) for _ in range(rng.randrange(1, 4)))


def mutate(rng: random.Random, data: bytes, tokens: list[bytes]) -> bytes:
    """A few byte-level mutations: flip, insert, delete, duplicate, truncate."""
    out = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(len(out) + 1)
        action = rng.randrange(5)
        if action == 0 and at < len(out):
            out[at] ^= 1 << rng.randrange(8)
        elif action == 1:
            out[at:at] = rng.choice(tokens) if rng.random() < 0.7 else rng.randbytes(rng.randrange(1, 4))
        elif action == 2:
            del out[at : at + rng.randrange(1, 5)]
        elif action == 3:
            out[at:at] = out[at : at + rng.randrange(1, 16)]
        else:
            del out[at:]
    return bytes(out)


def deep_nesting(rng: random.Random, replies: bool) -> bytes:
    """Nesting or repetition past what random mutation reaches: recursion and limit paths."""
    depth = rng.choice([10, 999, 1001, 1500, 3000])
    if not replies:
        return b"*1\r\n$1\r\nx\r\n" * rng.randrange(1, 50) + b'"' * depth + b"\r\n"
    opener = rng.choice([b"*1\r\n", b"%1\r\n", b"~1\r\n", b"|1\r\n"])
    head = rng.choice([b"", b"%1\r\n"])
    return head + opener * depth + b":1\r\n" * rng.randrange(1, 4) + b"+x\r\n" * rng.randrange(3)


def generate(rng: random.Random) -> bytes:
    """One fuzz input in the layout of :func:`decode_input`."""
    replies = rng.random() < 0.5
    tokens = REPLY_TOKENS if replies else REQUEST_TOKENS
    kind = rng.random()
    if kind < 0.15:
        payload = rng.randbytes(rng.randrange(64))
    elif kind < 0.4:
        payload = b"".join(rng.choice(tokens) for _ in range(rng.randrange(30)))
    elif kind < 0.97:
        payload = mutate(rng, valid_replies(rng) if replies else valid_requests(rng), tokens)
        if rng.random() < 0.2:
            payload = payload[: rng.randrange(len(payload) + 1)]
    else:
        payload = deep_nesting(rng, replies)
    cuts = [rng.randrange(len(payload) + 1) for _ in range(rng.randrange(MAX_CUTS + 1))]
    limits = None
    if not replies and rng.random() < 0.3:
        limits = (rng.randrange(32), rng.randrange(8), rng.randrange(64))
    return encode_input(payload, replies, cuts, limits)


def seed_corpus(rng: random.Random, count: int = 200) -> list[bytes]:
    inputs = [encode_input(valid_requests(rng), False, [rng.randrange(64)]) for _ in range(count // 2)]
    inputs += [encode_input(valid_replies(rng), True, [rng.randrange(64)]) for _ in range(count // 2)]
    return inputs


def libfuzzer_dict() -> str:
    """The tokens of both directions in libFuzzer's dictionary format."""
    def entry(token: bytes) -> str:
        return '"' + "".join(f"\\x{b:02x}" for b in token) + '"'

    return "\n".join(entry(t) for t in dict.fromkeys(REQUEST_TOKENS + REPLY_TOKENS)) + "\n"


# ---------------------------------------------------------------------------------------------------------
# Drivers


def save_crash(data: bytes, directory: Path) -> Path:
    path = directory / f"crash-{hashlib.sha1(data).hexdigest()}"
    path.write_bytes(data)
    return path


def finding_kind(exc: Exception) -> str:
    """What tells findings apart when the loop keeps going: the exception and its first line, sans digits."""
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    return type(exc).__name__ + ":" + "".join("#" if c.isdigit() else c for c in first_line)[:120]


def run_fallback(seed: int, seconds: float, max_runs: int | None, crash_dir: Path, keep_going: bool) -> int:
    """Random inputs for `seconds` (or `max_runs`); returns the exit status (1 after a finding).

    Stops at the first finding unless `keep_going`, which saves one input per kind of finding.
    """
    rng = random.Random(seed)
    print(f"fuzz_codec: fallback loop, seed {seed}, {seconds:g}s", flush=True)
    deadline = time.monotonic() + seconds
    runs = 0
    kinds: set[str] = set()
    while time.monotonic() < deadline and (max_runs is None or runs < max_runs):
        data = generate(rng)
        runs += 1
        try:
            check_input(data)
        except Exception as exc:
            kind = finding_kind(exc)
            if kind in kinds:
                continue
            kinds.add(kind)
            path = save_crash(data, crash_dir)
            print(f"fuzz_codec: FINDING at run {runs} (seed {seed}): "
                  f"{type(exc).__name__}: {str(exc)[:2000]}\n"
                  f"  input saved to {path}; replay: python {sys.argv[0]} {path}", flush=True)
            if not keep_going:
                return 1
        if runs % 50000 == 0:
            print(f"fuzz_codec: {runs} runs", flush=True)
    print(f"fuzz_codec: {runs} runs, {len(kinds)} kinds of finding", flush=True)
    return 1 if kinds else 0


def replay(paths: list[str]) -> int:
    status = 0
    for path in paths:
        data = Path(path).read_bytes()
        try:
            check_input(data)
            print(f"{path}: ok")
        except Exception as exc:
            print(f"{path}: {type(exc).__name__}: {exc}")
            status = 1
    return status


def run_atheris(libfuzzer_args: list[str], work_dir: Path) -> None:
    """Hands over to libFuzzer (which exits the process itself).

    Unless given a corpus directory or ``-dict=``, it uses `work_dir`/corpus, seeded on first use and
    grown by every run, and `work_dir`/resp.dict.
    """
    assert atheris is not None
    if not any(arg.startswith("-dict=") for arg in libfuzzer_args):
        work_dir.mkdir(parents=True, exist_ok=True)
        (work_dir / "resp.dict").write_text(libfuzzer_dict())
        libfuzzer_args.append(f"-dict={work_dir / 'resp.dict'}")
    if not any(not arg.startswith("-") for arg in libfuzzer_args):
        corpus = work_dir / "corpus"
        if not corpus.is_dir():
            corpus.mkdir(parents=True)
            for data in seed_corpus(random.Random(0)):
                (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)
        libfuzzer_args.append(str(corpus))
    atheris.Setup([sys.argv[0], *libfuzzer_args], check_input)
    atheris.instrument_all()  # coverage of the pure twin (and this file) guides the search
    atheris.Fuzz()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=True)
    parser.add_argument("--fallback", action="store_true", help="use the random loop even with atheris")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("RAFTKV_FUZZ_SECONDS", 60)))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--runs", type=int, default=None, help="stop after this many inputs (fallback)")
    parser.add_argument("--crash-dir", type=Path, default=Path("."))
    parser.add_argument("--keep-going", action="store_true", help="report every kind of finding (fallback)")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "raftkv-fuzz-codec",
                        help="atheris: where the corpus and dictionary live unless given")
    options, rest = parser.parse_known_args()
    files = [arg for arg in rest if not arg.startswith("-") and Path(arg).is_file()]
    if atheris is None or options.fallback:
        if files:
            return replay(files)
        seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
        return run_fallback(seed, options.seconds, options.runs, options.crash_dir, options.keep_going)
    run_atheris(rest, options.work_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
