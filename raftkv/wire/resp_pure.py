"""The pure-Python twin of the Cython codec :mod:`raftkv._resp`: the same four entry points with the same
behaviour, down to error texts. It is the oracle the tests compare the compiled code against, and the
codec :mod:`raftkv.wire.resp` falls back to when the extension is not built. Bytes only: no I/O.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from raftkv.errors import ProtocolError, RespError
from raftkv.wire.values import NEED_MORE, NULL_ARRAY, Pairs, SetReply, Verbatim

_CR, _LF = 0x0D, 0x0A
_STAR, _DOLLAR = ord("*"), ord("$")
_DQUOTE, _SQUOTE, _BACKSLASH = ord('"'), ord("'"), ord("\\")
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
# Deeper aggregates are refused (ProtocolError when read, ValueError when encoded, as are cyclic
# values) instead of exhausting the stack.
_MAX_NESTING = 512

# Redis's string2ll: an optional '-', then digits without a leading zero (or a lone "0"), in 64 bits.
_INT_RE = re.compile(rb"-?[1-9][0-9]*|0")


def _parse_int(raw: bytes | bytearray) -> int | None:
    """The integer `raw` spells under Redis's strict rules, or None."""
    if len(raw) > 20 or _INT_RE.fullmatch(raw) is None:
        return None
    value = int(raw)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


# ---------------------------------------------------------------------------------------------------------
# Requests (server side)


class _Malformed(Exception):
    """The request stream is broken; ``args[0]`` is Redis's text for why."""


_UNBALANCED = "unbalanced quotes in request"
_BLANKS = frozenset(b" \t\n\r\v\f")  # C isspace(): what separates inline arguments
_ARG_ENDS = frozenset(b" \t\n\r")  # what ends an unquoted argument (Redis does not stop at \v or \f)
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESCAPES = {ord("n"): _LF, ord("r"): _CR, ord("t"): 0x09, ord("b"): 0x08, ord("a"): 0x07}


def _split_inline(line: bytes) -> list[bytes]:
    """Splits an inline command into arguments the way Redis's sdssplitargs does.

    Double quotes understand \\n \\r \\t \\b \\a \\xHH and backslash-anything; single quotes only \\'.
    A closing quote must be followed by a blank or the end of the line. Unlike Redis, a NUL byte is an
    ordinary character here rather than the end of the line.
    """
    argv: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _BLANKS:
            i += 1
        if i == n:
            return argv
        arg = bytearray()
        quote = 0  # the open quote character, 0 outside quotes
        while True:
            if i == n:
                if quote:
                    raise _Malformed(_UNBALANCED)
                break
            c = line[i]
            if not quote:
                if c in _ARG_ENDS:
                    break
                if c == _DQUOTE or c == _SQUOTE:
                    quote = c
                else:
                    arg.append(c)
                i += 1
            elif c == quote:
                if i + 1 < n and line[i + 1] not in _BLANKS:
                    raise _Malformed(_UNBALANCED)
                i += 1
                break
            elif c == _BACKSLASH and quote == _SQUOTE:
                if i + 1 < n and line[i + 1] == _SQUOTE:
                    arg.append(_SQUOTE)
                    i += 2
                else:
                    arg.append(c)
                    i += 1
            elif c == _BACKSLASH and i + 1 < n:
                c = line[i + 1]
                if c == ord("x") and i + 3 < n and line[i + 2] in _HEX and line[i + 3] in _HEX:
                    arg.append(int(line[i + 2 : i + 4], 16))
                    i += 4
                else:
                    arg.append(_ESCAPES.get(c, c))
                    i += 2
            else:
                arg.append(c)
                i += 1
        argv.append(bytes(arg))


class PyRequestParser:
    """Server side: splits what a client sends into commands (argv lists), as Redis's networking.c does.

    ``feed()`` buffers bytes; ``pop_commands()`` returns every complete command buffered so far, in order.
    On malformed input, ``error`` becomes Redis's text (the reply is ``-ERR Protocol error: <error>``) and
    all later input is ignored: the connection is to be closed. No limit is trusted before it is checked,
    and nothing is allocated for a declared length before its bytes arrive.
    """

    def __init__(
        self,
        max_bulk_len: int = 512 * 1024 * 1024,
        max_multibulk_len: int = 1024 * 1024,
        max_inline_len: int = 64 * 1024,
    ) -> None:
        self.max_bulk_len = max_bulk_len
        self.max_multibulk_len = max_multibulk_len
        self.max_inline_len = max_inline_len  # also bounds the "*N" and "$N" lines, like Redis
        self.error: str | None = None
        self._buf = bytearray()
        self._pos = 0  # first byte of _buf not parsed yet
        self._argv: list[bytes] = []  # bulks read so far of the current multibulk command
        self._args_left = 0  # bulks still to read for the current command; 0 between commands
        self._bulk_len = -1  # length of the bulk being read; -1 until its "$N" line is parsed

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self.error is None:
            self._buf += data

    def pop_commands(self) -> list[list[bytes]]:
        commands: list[list[bytes]] = []
        if self.error is not None:
            return commands
        try:
            self._parse(commands)
        except _Malformed as exc:
            self.error = exc.args[0]
            self._buf, self._pos, self._argv = bytearray(), 0, []
            return commands
        # Dropping the parsed prefix only once it outweighs the rest keeps feeding amortised O(n).
        if self._pos > len(self._buf) // 2:
            del self._buf[: self._pos]
            self._pos = 0
        return commands

    def _parse(self, commands: list[list[bytes]]) -> None:
        buf = self._buf
        while True:
            pos = self._pos
            if self._args_left == 0:
                if pos == len(buf):
                    return
                if buf[pos] != _STAR:
                    if not self._parse_inline(commands):
                        return
                    continue
                cr = self._line_end(pos, "too big mbulk count string", "invalid multibulk length")
                if cr < 0:
                    return
                count = _parse_int(buf[pos + 1 : cr])
                if count is None or count > self.max_multibulk_len:
                    raise _Malformed("invalid multibulk length")
                self._pos = cr + 2
                if count > 0:  # like Redis, "*0" and "*-1" are no command at all
                    self._args_left = count
                continue
            if self._bulk_len < 0:
                cr = self._line_end(pos, "too big bulk count string", "invalid bulk length")
                if cr < 0:
                    return
                if buf[pos] != _DOLLAR:
                    raise _Malformed(f"expected '$', got '{chr(buf[pos])}'")
                size = _parse_int(buf[pos + 1 : cr])
                if size is None or size < 0 or size > self.max_bulk_len:
                    raise _Malformed("invalid bulk length")
                self._bulk_len = size
                self._pos = pos = cr + 2
            stop = pos + self._bulk_len
            if len(buf) - stop < 2:
                return
            if buf[stop] != _CR or buf[stop + 1] != _LF:
                raise _Malformed("invalid bulk format")
            self._argv.append(bytes(buf[pos:stop]))
            self._pos = stop + 2
            self._bulk_len = -1
            self._args_left -= 1
            if self._args_left == 0:
                commands.append(self._argv)
                self._argv = []

    def _line_end(self, pos: int, too_big: str, bad_end: str) -> int:
        """Index of the CR ending the line at `pos`, or -1 until the line and its LF have arrived.

        A line longer than max_inline_len is an error whether or not its end has arrived, so that the
        outcome never depends on how the input was split into reads.
        """
        buf, limit = self._buf, self.max_inline_len
        cr = buf.find(b"\r", pos, pos + limit + 1)
        if cr < 0:
            if len(buf) - pos > limit:
                raise _Malformed(too_big)
            return -1
        if cr + 1 == len(buf):
            return -1
        if buf[cr + 1] != _LF:
            raise _Malformed(bad_end)
        return cr

    def _parse_inline(self, commands: list[list[bytes]]) -> bool:
        """Parses the inline command at _pos; False until its whole line has arrived."""
        buf, pos, limit = self._buf, self._pos, self.max_inline_len
        lf = buf.find(b"\n", pos, pos + limit + 1)
        if lf < 0:
            if len(buf) - pos > limit:
                raise _Malformed("too big inline request")
            return False
        stop = lf - 1 if lf > pos and buf[lf - 1] == _CR else lf
        argv = _split_inline(bytes(buf[pos:stop]))
        if argv:  # an empty line is no command, as in Redis
            commands.append(argv)
        self._pos = lf + 1
        return True


# ---------------------------------------------------------------------------------------------------------
# Replies (client side)

_MAX_ELEMENTS = (1 << 32) - 1  # hiredis's default bound on an aggregate's declared length
_BLOBS = frozenset(b"$!=")  # a length line, then that many bytes and CRLF
_AGGREGATES = frozenset(b"*%~>|")
_TYPES = frozenset(b"+-:_,#($!=*%~>|")
_MAP, _ATTRIBUTE = ord("%"), ord("|")
_BIGNUM_RE = re.compile(rb"-?[0-9]+")
_DOUBLE_RE = re.compile(rb"[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|inf|nan)")


class _Pending:
    """Type of _PENDING: an item was read, but no value is complete yet."""

    __slots__ = ()


_PENDING = _Pending()


class _Frame:
    """An aggregate whose elements are still arriving."""

    __slots__ = ("kind", "size", "items")

    def __init__(self, kind: int, size: int) -> None:
        self.kind = kind
        self.size = size  # items expected: twice the declared length for maps and attributes
        self.items: list[object] = []


def _parse_length(line: bytes) -> int:
    size = _parse_int(line)
    if size is None or size < -1:
        raise ProtocolError("invalid length")
    return size


def _hashable(key: object) -> object:
    """A map key as Python can hold it: arrays (and sets) become tuples."""
    return tuple(map(_hashable, key)) if isinstance(key, list) else key


def _finish(kind: int, items: list[object]) -> object:
    """The value of a complete aggregate."""
    if kind == _MAP:
        result: dict[object, object] = {}
        try:
            for i in range(0, len(items), 2):
                result[_hashable(items[i])] = items[i + 1]
        except TypeError:
            raise ProtocolError("unhashable map key") from None
        return result
    if kind == _ATTRIBUTE:
        return _PENDING  # metadata about the next value, which is what the caller gets
    return items


def _blob(kind: int, data: bytes) -> object:
    if kind == _DOLLAR:
        return data
    if kind == ord("!"):
        return RespError(data.decode("utf-8", "replace"))
    if len(data) < 4 or data[3] != ord(":") or not data[:3].isascii():
        raise ProtocolError("invalid verbatim string")
    return Verbatim(data[:3].decode("ascii"), data[4:])


def _simple(kind: int, line: bytes) -> object:
    """The value of a one-line reply (every type but blobs and aggregates)."""
    if kind == ord("+"):
        return line.decode("utf-8", "replace")
    if kind == ord("-"):
        return RespError(line.decode("utf-8", "replace"))
    if kind == ord(":"):
        value = _parse_int(line)
        if value is None:
            raise ProtocolError("invalid integer")
        return value
    if kind == ord("_"):
        if line:
            raise ProtocolError("invalid null")
        return None
    if kind == ord(","):
        if _DOUBLE_RE.fullmatch(line) is None:
            raise ProtocolError("invalid double")
        return float(line)
    if kind == ord("#"):
        if line == b"t":
            return True
        if line == b"f":
            return False
        raise ProtocolError("invalid boolean")
    if _BIGNUM_RE.fullmatch(line) is None:
        raise ProtocolError("invalid bignum")
    try:
        return int(line)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise ProtocolError("invalid bignum") from None


class PyReader:
    """Client side: turns reply bytes into values, RESP2 and RESP3, like hiredis's Reader.

    ``feed()`` buffers bytes; ``gets()`` returns the next complete value or NEED_MORE. Error replies are
    returned as RespError values, not raised. Malformed input raises ProtocolError, now and on every
    later call. Aggregates are built incrementally, so a huge reply arriving in pieces costs O(n).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0  # first byte of _buf not parsed yet
        self._stack: list[_Frame] = []  # aggregates being filled, innermost last
        self._error: str | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self._error is None:
            self._buf += data

    def gets(self) -> object:
        if self._error is not None:
            raise ProtocolError(self._error)
        try:
            value = self._next_value()
        except ProtocolError as exc:
            self._error = str(exc)
            self._buf, self._pos, self._stack = bytearray(), 0, []
            raise
        if self._pos > len(self._buf) // 2:
            del self._buf[: self._pos]
            self._pos = 0
        return value

    def _next_value(self) -> object:
        while True:
            value = self._read_item()
            if value is NEED_MORE:
                return value
            # Hand each completed value to the aggregate waiting for it, completing it in turn maybe.
            while value is not _PENDING:
                if not self._stack:
                    return value
                frame = self._stack[-1]
                frame.items.append(value)
                if len(frame.items) < frame.size:
                    value = _PENDING
                else:
                    self._stack.pop()
                    value = _finish(frame.kind, frame.items)

    def _read_item(self) -> object:
        """Reads one value or aggregate header at _pos: a value, _PENDING or NEED_MORE."""
        buf, pos = self._buf, self._pos
        if pos == len(buf):
            return NEED_MORE
        kind = buf[pos]
        if kind not in _TYPES:
            raise ProtocolError(f"unknown reply type {chr(kind)!r}")
        cr = buf.find(b"\r", pos + 1)
        if cr < 0 or cr + 1 == len(buf):
            return NEED_MORE
        if buf[cr + 1] != _LF:
            raise ProtocolError("line not terminated by CRLF")
        line = bytes(buf[pos + 1 : cr])
        start = cr + 2
        if kind in _BLOBS:
            size = _parse_length(line)
            if size == -1:
                self._pos = start
                return None
            if len(buf) - start - 2 < size:
                return NEED_MORE
            stop = start + size
            if buf[stop] != _CR or buf[stop + 1] != _LF:
                raise ProtocolError("blob not terminated by CRLF")
            self._pos = stop + 2
            return _blob(kind, bytes(buf[start:stop]))
        self._pos = start
        if kind in _AGGREGATES:
            return self._open(kind, _parse_length(line))
        return _simple(kind, line)

    def _open(self, kind: int, length: int) -> object:
        """Starts an aggregate of `length` elements: its value if it has none, else _PENDING."""
        if length > _MAX_ELEMENTS:
            raise ProtocolError("aggregate too long")
        if length == -1:
            return _PENDING if kind == _ATTRIBUTE else None
        size = 2 * length if kind in (_MAP, _ATTRIBUTE) else length
        if size == 0:
            return _finish(kind, [])
        if len(self._stack) == _MAX_NESTING:
            # Deeper values would exhaust the stack when map keys are made hashable.
            raise ProtocolError("aggregates nested too deep")
        self._stack.append(_Frame(kind, size))
        return _PENDING


# ---------------------------------------------------------------------------------------------------------
# Encoders

_NEWLINES_TO_SPACES = bytes.maketrans(b"\r\n", b"  ")


def _arg_bytes(arg: object) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, (int, float)):
        return str(arg).encode()
    if isinstance(arg, (bytearray, memoryview)):
        return bytes(arg)
    raise TypeError(f"a command argument must be bytes, str, int or float, not {type(arg).__name__}")


def py_encode_command(argv: Sequence[bytes | str | int | float]) -> bytes:
    """A command as a RESP array of bulk strings, the form clients send."""
    out = [b"*%d\r\n" % len(argv)]
    for arg in argv:
        data = _arg_bytes(arg)
        out += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(out)


def _double_text(value: float) -> bytes:
    """Redis 7.0's text for a double: C's "%.17g" (inf, -inf, nan; 1.1 is 1.1000000000000001)."""
    return b"%.17g" % float(value)


def _one_line(text: str) -> bytes:
    """`text` for a simple string or error line, which cannot hold CR or LF (Redis makes them spaces)."""
    return text.encode().translate(_NEWLINES_TO_SPACES)


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(data), data)


def _encode(value: object, resp3: bool, out: list[bytes], depth: int) -> None:
    if isinstance(value, (bytes, bytearray, memoryview)):
        out.append(_bulk(bytes(value)))
    elif isinstance(value, str):
        out.append(b"+%b\r\n" % _one_line(value))
    elif isinstance(value, bool):
        if resp3:
            out.append(b"#t\r\n" if value else b"#f\r\n")
        else:
            out.append(b":1\r\n" if value else b":0\r\n")
    elif isinstance(value, int):
        if _INT64_MIN <= value <= _INT64_MAX:
            out.append(b":%d\r\n" % value)
        else:
            # Too big for ':'. Like Redis's addReplyBigNum: a RESP3 bignum, or a bulk string in RESP2.
            out.append(b"(%d\r\n" % value if resp3 else _bulk(b"%d" % value))
    elif isinstance(value, float):
        text = _double_text(value)
        out.append(b",%b\r\n" % text if resp3 else _bulk(text))
    elif value is None:
        out.append(b"_\r\n" if resp3 else b"$-1\r\n")
    elif value is NULL_ARRAY:
        out.append(b"_\r\n" if resp3 else b"*-1\r\n")
    elif isinstance(value, (list, tuple, dict, set, frozenset)):
        if depth == _MAX_NESTING:
            raise ValueError("reply nested too deeply")
        if isinstance(value, dict):
            out.append(b"%%%d\r\n" % len(value) if resp3 else b"*%d\r\n" % (2 * len(value)))
            for key, item in value.items():
                _encode(key, resp3, out, depth + 1)
                _encode(item, resp3, out, depth + 1)
            return
        if resp3 and isinstance(value, Pairs):
            if depth + 1 == _MAX_NESTING:
                raise ValueError("reply nested too deeply")
            out.append(b"*%d\r\n" % (len(value) // 2))
            for i in range(0, len(value), 2):
                out.append(b"*2\r\n")
                _encode(value[i], resp3, out, depth + 2)
                _encode(value[i + 1], resp3, out, depth + 2)
            return
        kind = b"~" if resp3 and isinstance(value, (set, frozenset, SetReply)) else b"*"
        out.append(b"%b%d\r\n" % (kind, len(value)))
        for item in value:
            _encode(item, resp3, out, depth + 1)
    elif isinstance(value, RespError):
        out.append(b"-%b\r\n" % _one_line(value.message))
    elif isinstance(value, Verbatim):
        data = bytes(value.data)
        if resp3:
            out.append(b"=%d\r\n%b:%b\r\n" % (len(data) + 4, value.fmt.encode(), data))
        else:
            out.append(_bulk(data))
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as a RESP reply")


def py_encode_reply(value: object, proto: int) -> bytes:
    """`value` as a reply in RESP `proto` (2 or 3).

    bytes-like -> bulk; str -> simple string; bool -> ``#t``/``#f`` (RESP2 ``:1``/``:0``); int -> ``:n``
    (beyond 64 bits: RESP3 bignum, RESP2 bulk); float -> ``,x`` (RESP2 bulk of the same text); None ->
    null bulk; NULL_ARRAY -> null array; list/tuple -> array; dict -> map (RESP2 flat array); set and
    SetReply -> set (RESP2 array); Pairs -> array of two-element arrays (RESP2 its flat array); RespError
    -> error line; Verbatim -> verbatim string (RESP2 bulk of its data).
    Anything else raises TypeError. RESP3 has one null, ``_``, for both None and NULL_ARRAY.
    """
    if proto != 2 and proto != 3:
        raise ValueError(f"proto must be 2 or 3, not {proto!r}")
    out: list[bytes] = []
    _encode(value, proto == 3, out, 0)
    return b"".join(out)
