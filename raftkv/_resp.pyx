# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The fast RESP2/RESP3 codec the server runs: request parsing, reply reading, command and reply encoding.

Owns the byte-level work only; no sockets, no command semantics. raftkv.wire.resp holds a pure-Python twin of
every name here with the same behaviour, down to error texts; read it first, it is the specification, and
the tests compare the two. This module parses straight from a C buffer (memchr, hand-rolled integers) and
encodes into one, so that the per-command cost on the server's hot path stays a few allocations.
"""
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memchr, memcpy, memmove

import re

from raftkv.errors import ProtocolError, RespError
from raftkv.wire.values import NEED_MORE, NULL_ARRAY, Pairs, SetReply, Verbatim

cdef enum:
    TAB = 0x09
    LF = 0x0A
    VT = 0x0B
    FF = 0x0C
    CR = 0x0D
    SPACE = 0x20
    DQUOTE = 0x22   # "
    DOLLAR = 0x24   # $
    PERCENT = 0x25  # %
    SQUOTE = 0x27   # '
    STAR = 0x2A     # *
    BACKSLASH = 0x5C
    PIPE = 0x7C     # |

cdef Py_ssize_t SHRINK_ABOVE = 1 << 20  # an idle buffer bigger than this is given back to the allocator
cdef int64_t MAX_ELEMENTS = (1 << 32) - 1  # hiredis's default bound on an aggregate's declared length
# Deeper replies (or cyclic ones) raise ValueError instead of overflowing the C stack.
cdef int MAX_NESTING = 512


# ---------------------------------------------------------------------------------------------------------
# Input buffer: bytes fed but not parsed yet


cdef struct Buffer:
    unsigned char* data
    Py_ssize_t start  # first byte not parsed yet
    Py_ssize_t end  # one past the last byte fed
    Py_ssize_t cap


cdef int buffer_feed(Buffer* b, object data) except -1:
    cdef Py_buffer view
    cdef Py_ssize_t live, cap
    cdef void* grown
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        if b.start == b.end:
            b.start = b.end = 0
        if b.cap - b.end < view.len:
            live = b.end - b.start
            if b.start >= live and b.cap - live >= view.len:
                # Moving costs no more than the bytes parsed since the last move: amortised O(1) a byte.
                memmove(b.data, b.data + b.start, live)
                b.start, b.end = 0, live
            else:
                cap = max(2 * b.cap, b.end + view.len, 4096)
                grown = PyMem_Realloc(b.data, cap)
                if grown == NULL:
                    raise MemoryError()
                b.data, b.cap = <unsigned char*>grown, cap
        memcpy(b.data + b.end, view.buf, view.len)
        b.end += view.len
    finally:
        PyBuffer_Release(&view)
    return 0


cdef void buffer_settle(Buffer* b) noexcept:
    """Called after parsing: an emptied buffer restarts at its front, and a big idle one is freed."""
    if b.start == b.end:
        b.start = b.end = 0
        if b.cap > SHRINK_ABOVE:
            buffer_free(b)


cdef void buffer_free(Buffer* b) noexcept:
    PyMem_Free(b.data)
    b.data = NULL
    b.start = b.end = b.cap = 0


cdef bint parse_int64(const unsigned char* p, Py_ssize_t n, int64_t* out) noexcept:
    """Redis's string2ll: an optional '-', then digits without a leading zero (or a lone "0"), in 64 bits."""
    cdef bint negative = False
    cdef uint64_t value = 0
    cdef Py_ssize_t i
    if n == 1 and p[0] == c'0':
        out[0] = 0
        return True
    if n > 0 and p[0] == c'-':
        negative = True
        p += 1
        n -= 1
    if n == 0 or n > 19 or p[0] < c'1' or p[0] > c'9':
        return False
    for i in range(n):
        if p[i] < c'0' or p[i] > c'9':
            return False
        value = value * 10 + (p[i] - c'0')  # 19 digits cannot overflow 64 unsigned bits
    if negative:
        if value > (<uint64_t>1 << 63):
            return False
        out[0] = <int64_t>(0 - value)
    else:
        if value > (<uint64_t>1 << 63) - 1:
            return False
        out[0] = <int64_t>value
    return True


# ---------------------------------------------------------------------------------------------------------
# Requests (server side)


class _Malformed(Exception):
    """The request stream is broken; ``args[0]`` is Redis's text for why."""


cdef str UNBALANCED = "unbalanced quotes in request"


cdef inline bint is_blank(unsigned char c) noexcept:
    """C isspace(): what separates inline arguments."""
    return c == SPACE or c == TAB or c == LF or c == CR or c == VT or c == FF


cdef inline int hex_value(unsigned char c) noexcept:
    if c'0' <= c <= c'9':
        return c - c'0'
    if c'a' <= c <= c'f':
        return c - c'a' + 10
    if c'A' <= c <= c'F':
        return c - c'A' + 10
    return -1


cdef inline unsigned char unescape(unsigned char c) noexcept:
    if c == c'n':
        return LF
    if c == c'r':
        return CR
    if c == c't':
        return TAB
    if c == c'b':
        return 0x08
    if c == c'a':
        return 0x07
    return c


cdef list split_inline(const unsigned char* line, Py_ssize_t n):
    """Splits an inline command into arguments like Redis's sdssplitargs (see resp._split_inline)."""
    cdef list argv = []
    cdef Py_ssize_t i = 0, length
    cdef unsigned char c, quote
    # An argument never outgrows its line, so one scratch area of the line's size serves them all.
    cdef unsigned char* arg = <unsigned char*>PyMem_Realloc(NULL, n + 1)
    if arg == NULL:
        raise MemoryError()
    try:
        while True:
            while i < n and is_blank(line[i]):
                i += 1
            if i == n:
                return argv
            length = 0
            quote = 0
            while True:
                if i == n:
                    if quote:
                        raise _Malformed(UNBALANCED)
                    break
                c = line[i]
                if not quote:
                    if c == SPACE or c == TAB or c == LF or c == CR:
                        break
                    if c == DQUOTE or c == SQUOTE:
                        quote = c
                    else:
                        arg[length] = c
                        length += 1
                    i += 1
                elif c == quote:
                    if i + 1 < n and not is_blank(line[i + 1]):
                        raise _Malformed(UNBALANCED)
                    i += 1
                    break
                elif c == BACKSLASH and quote == SQUOTE:
                    if i + 1 < n and line[i + 1] == SQUOTE:
                        arg[length] = SQUOTE
                        i += 2
                    else:
                        arg[length] = c
                        i += 1
                    length += 1
                elif c == BACKSLASH and i + 1 < n:
                    c = line[i + 1]
                    if c == c'x' and i + 3 < n and min(hex_value(line[i + 2]), hex_value(line[i + 3])) >= 0:
                        arg[length] = hex_value(line[i + 2]) * 16 + hex_value(line[i + 3])
                        i += 4
                    else:
                        arg[length] = unescape(c)
                        i += 2
                    length += 1
                else:
                    arg[length] = c
                    length += 1
                    i += 1
            argv.append(PyBytes_FromStringAndSize(<char*>arg, length))
    finally:
        PyMem_Free(arg)


cdef Py_ssize_t line_end(Buffer* b, Py_ssize_t pos, Py_ssize_t limit, str too_big, str bad_end) except -2:
    """Index of the CR ending the line at `pos`, or -1 until the line and its LF have arrived.

    A line longer than `limit` is an error whether or not its end has arrived, so that the outcome never
    depends on how the input was split into reads.
    """
    cdef Py_ssize_t avail = b.end - pos
    cdef const unsigned char* cr
    if avail == 0:
        return -1
    cr = <const unsigned char*>memchr(b.data + pos, CR, min(avail, limit + 1))
    if cr == NULL:
        if avail > limit:
            raise _Malformed(too_big)
        return -1
    if cr + 1 == b.data + b.end:
        return -1
    if cr[1] != LF:
        raise _Malformed(bad_end)
    return cr - b.data


cdef class RequestParser:
    """Server side: splits what a client sends into commands (argv lists), as Redis's networking.c does.

    See resp.PyRequestParser for the contract; this is its fast twin.
    """

    cdef readonly Py_ssize_t max_bulk_len
    cdef readonly Py_ssize_t max_multibulk_len
    cdef readonly Py_ssize_t max_inline_len  # also bounds the "*N" and "$N" lines, like Redis
    cdef readonly object error
    cdef Buffer _buf
    cdef list _argv  # bulks read so far of the current multibulk command
    cdef Py_ssize_t _args_left  # bulks still to read for the current command; 0 between commands
    cdef Py_ssize_t _bulk_len  # length of the bulk being read; -1 until its "$N" line is parsed

    def __init__(
        self,
        Py_ssize_t max_bulk_len=512 * 1024 * 1024,
        Py_ssize_t max_multibulk_len=1024 * 1024,
        Py_ssize_t max_inline_len=64 * 1024,
    ):
        self.max_bulk_len = max_bulk_len
        self.max_multibulk_len = max_multibulk_len
        self.max_inline_len = max_inline_len
        self.error = None
        self._argv = []
        self._args_left = 0
        self._bulk_len = -1

    def __dealloc__(self):
        buffer_free(&self._buf)

    def feed(self, data):
        if self.error is None:
            buffer_feed(&self._buf, data)

    def pop_commands(self):
        cdef list commands = []
        if self.error is not None:
            return commands
        try:
            self._parse(commands)
        except _Malformed as exc:
            self.error = exc.args[0]
            buffer_free(&self._buf)
            self._argv = []
            return commands
        buffer_settle(&self._buf)
        return commands

    cdef int _parse(self, list commands) except -1:
        cdef unsigned char* data = self._buf.data
        cdef Py_ssize_t pos = self._buf.start
        cdef Py_ssize_t end = self._buf.end
        cdef Py_ssize_t cr, stop
        cdef int64_t n
        while True:
            if self._args_left == 0:
                if pos == end:
                    break
                if data[pos] != STAR:
                    stop = self._parse_inline(commands, pos)
                    if stop < 0:
                        break
                    pos = stop
                    continue
                cr = line_end(&self._buf, pos, self.max_inline_len,
                              "too big mbulk count string", "invalid multibulk length")
                if cr < 0:
                    break
                if not parse_int64(data + pos + 1, cr - pos - 1, &n) or n > self.max_multibulk_len:
                    raise _Malformed("invalid multibulk length")
                pos = cr + 2
                if n > 0:  # like Redis, "*0" and "*-1" are no command at all
                    self._args_left = n
                continue
            if self._bulk_len < 0:
                cr = line_end(&self._buf, pos, self.max_inline_len,
                              "too big bulk count string", "invalid bulk length")
                if cr < 0:
                    break
                if data[pos] != DOLLAR:
                    raise _Malformed(f"expected '$', got '{chr(data[pos])}'")
                if not parse_int64(data + pos + 1, cr - pos - 1, &n) or n < 0 or n > self.max_bulk_len:
                    raise _Malformed("invalid bulk length")
                self._bulk_len = n
                pos = cr + 2
            stop = pos + self._bulk_len
            if end - stop < 2:
                break
            if data[stop] != CR or data[stop + 1] != LF:
                raise _Malformed("invalid bulk format")
            self._argv.append(PyBytes_FromStringAndSize(<char*>data + pos, self._bulk_len))
            pos = stop + 2
            self._bulk_len = -1
            self._args_left -= 1
            if self._args_left == 0:
                commands.append(self._argv)
                self._argv = []
        self._buf.start = pos
        return 0

    cdef Py_ssize_t _parse_inline(self, list commands, Py_ssize_t pos) except -2:
        """Parses the inline command at `pos`: returns where the next one starts, or -1 to wait for more."""
        cdef Py_ssize_t avail = self._buf.end - pos
        cdef Py_ssize_t lf, stop
        cdef const unsigned char* found = <const unsigned char*>memchr(
            self._buf.data + pos, LF, min(avail, self.max_inline_len + 1))
        if found == NULL:
            if avail > self.max_inline_len:
                raise _Malformed("too big inline request")
            return -1
        lf = found - self._buf.data
        stop = lf - 1 if lf > pos and self._buf.data[lf - 1] == CR else lf
        argv = split_inline(self._buf.data + pos, stop - pos)
        if argv:  # an empty line is no command, as in Redis
            commands.append(argv)
        return lf + 1


# ---------------------------------------------------------------------------------------------------------
# Replies (client side)


cdef object PENDING = object()  # an item was read, but no value is complete yet
_BIGNUM_RE = re.compile(rb"-?[0-9]+")
_DOUBLE_RE = re.compile(rb"[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|inf|nan)")


cdef class _Frame:
    """An aggregate whose elements are still arriving."""

    cdef int kind
    cdef Py_ssize_t size  # items expected: twice the declared length for maps and attributes
    cdef list items


cdef int64_t parse_length(const unsigned char* p, Py_ssize_t n) except? -2:
    cdef int64_t size
    if not parse_int64(p, n, &size) or size < -1:
        raise ProtocolError("invalid length")
    return size


cdef object hashable(object key):
    """A map key as Python can hold it: arrays (and sets) become tuples."""
    if isinstance(key, list):
        return tuple([hashable(k) for k in <list>key])
    return key


cdef object finish(int kind, list items):
    """The value of a complete aggregate."""
    cdef dict result
    cdef Py_ssize_t i
    if kind == PERCENT:
        result = {}
        try:
            for i in range(0, len(items), 2):
                result[hashable(items[i])] = items[i + 1]
        except TypeError:
            raise ProtocolError("unhashable map key") from None
        return result
    if kind == PIPE:
        return PENDING  # metadata about the next value, which is what the caller gets
    return items


cdef object blob(unsigned char kind, const unsigned char* p, Py_ssize_t n):
    if kind == DOLLAR:
        return PyBytes_FromStringAndSize(<char*>p, n)
    if kind == c'!':
        return RespError(PyUnicode_DecodeUTF8(<char*>p, n, "replace"))
    if n < 4 or p[3] != c':' or p[0] >= 0x80 or p[1] >= 0x80 or p[2] >= 0x80:
        raise ProtocolError("invalid verbatim string")
    return Verbatim(PyUnicode_DecodeUTF8(<char*>p, 3, "strict"),
                    PyBytes_FromStringAndSize(<char*>p + 4, n - 4))


cdef object simple(unsigned char kind, const unsigned char* p, Py_ssize_t n):
    """The value of a one-line reply (every type but blobs and aggregates)."""
    cdef int64_t value
    if kind == c'+':
        return PyUnicode_DecodeUTF8(<char*>p, n, "replace")
    if kind == c'-':
        return RespError(PyUnicode_DecodeUTF8(<char*>p, n, "replace"))
    if kind == c':':
        if not parse_int64(p, n, &value):
            raise ProtocolError("invalid integer")
        return value
    if kind == c'_':
        if n:
            raise ProtocolError("invalid null")
        return None
    line = PyBytes_FromStringAndSize(<char*>p, n)
    if kind == c',':
        if _DOUBLE_RE.fullmatch(line) is None:
            raise ProtocolError("invalid double")
        return float(line)
    if kind == c'#':
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


cdef inline bint is_reply_type(unsigned char c) noexcept:
    return memchr(b"+-:_,#($!=*%~>|", c, 15) != NULL


cdef class Reader:
    """Client side: turns reply bytes into values, RESP2 and RESP3, like hiredis's Reader.

    See resp.PyReader for the contract; this is its fast twin.
    """

    cdef Buffer _buf
    cdef list _stack  # aggregates being filled, innermost last
    cdef object _error

    def __init__(self):
        self._stack = []
        self._error = None

    def __dealloc__(self):
        buffer_free(&self._buf)

    def feed(self, data):
        if self._error is None:
            buffer_feed(&self._buf, data)

    def gets(self):
        if self._error is not None:
            raise ProtocolError(self._error)
        try:
            value = self._next_value()
        except ProtocolError as exc:
            self._error = str(exc)
            buffer_free(&self._buf)
            self._stack = []
            raise
        buffer_settle(&self._buf)
        return value

    cdef object _next_value(self):
        cdef _Frame frame
        while True:
            value = self._read_item()
            if value is NEED_MORE:
                return value
            # Hand each completed value to the aggregate waiting for it, completing it in turn maybe.
            while value is not PENDING:
                if not self._stack:
                    return value
                frame = self._stack[len(self._stack) - 1]
                frame.items.append(value)
                if len(frame.items) < frame.size:
                    value = PENDING
                else:
                    self._stack.pop()
                    value = finish(frame.kind, frame.items)

    cdef object _read_item(self):
        """Reads one value or aggregate header: a value, PENDING or NEED_MORE."""
        cdef unsigned char* data = self._buf.data
        cdef Py_ssize_t pos = self._buf.start
        cdef Py_ssize_t end = self._buf.end
        cdef Py_ssize_t cr, start
        cdef const unsigned char* found
        cdef int64_t size
        cdef unsigned char kind
        if pos == end:
            return NEED_MORE
        kind = data[pos]
        if not is_reply_type(kind):
            raise ProtocolError(f"unknown reply type {chr(kind)!r}")
        found = <const unsigned char*>memchr(data + pos + 1, CR, end - pos - 1)
        if found == NULL or found + 1 == data + end:
            return NEED_MORE
        if found[1] != LF:
            raise ProtocolError("line not terminated by CRLF")
        cr = found - data
        start = cr + 2
        if kind == DOLLAR or kind == c'!' or kind == c'=':
            size = parse_length(data + pos + 1, cr - pos - 1)
            if size == -1:
                self._buf.start = start
                return None
            if end - start - 2 < size:
                return NEED_MORE
            if data[start + size] != CR or data[start + size + 1] != LF:
                raise ProtocolError("blob not terminated by CRLF")
            self._buf.start = start + size + 2
            return blob(kind, data + start, size)
        self._buf.start = start
        if kind == STAR or kind == PERCENT or kind == c'~' or kind == c'>' or kind == PIPE:
            return self._open(kind, parse_length(data + pos + 1, cr - pos - 1))
        return simple(kind, data + pos + 1, cr - pos - 1)

    cdef object _open(self, int kind, int64_t length):
        """Starts an aggregate of `length` elements: its value if it has none, else PENDING."""
        cdef _Frame frame
        if length > MAX_ELEMENTS:
            raise ProtocolError("aggregate too long")
        if length == -1:
            return PENDING if kind == PIPE else None
        if length == 0:
            return finish(kind, [])
        if len(self._stack) == MAX_NESTING:
            # Deeper values would exhaust the C stack when map keys are made hashable.
            raise ProtocolError("aggregates nested too deep")
        frame = _Frame.__new__(_Frame)
        frame.kind = kind
        frame.size = 2 * length if kind == PERCENT or kind == PIPE else length
        frame.items = []
        self._stack.append(frame)
        return PENDING


# ---------------------------------------------------------------------------------------------------------
# Encoders


cdef struct Out:
    char* data
    Py_ssize_t len
    Py_ssize_t cap


cdef int out_reserve(Out* o, Py_ssize_t extra) except -1:
    cdef Py_ssize_t cap
    cdef void* grown
    if o.cap - o.len >= extra:
        return 0
    cap = max(2 * o.cap, o.len + extra, 256)
    grown = PyMem_Realloc(o.data, cap)
    if grown == NULL:
        raise MemoryError()
    o.data, o.cap = <char*>grown, cap
    return 0


cdef inline int out_write(Out* o, const char* src, Py_ssize_t n) except -1:
    out_reserve(o, n)
    memcpy(o.data + o.len, src, n)
    o.len += n
    return 0


cdef int out_line(Out* o, char kind, long long n) except -1:
    """Writes ``<kind><n>\\r\\n``."""
    cdef char digits[24]
    cdef int i = 24
    cdef unsigned long long u = <unsigned long long>n if n >= 0 else 0ULL - <unsigned long long>n
    while True:
        i -= 1
        digits[i] = c'0' + u % 10
        u //= 10
        if u == 0:
            break
    if n < 0:
        i -= 1
        digits[i] = c'-'
    out_reserve(o, 27)
    o.data[o.len] = kind
    memcpy(o.data + o.len + 1, digits + i, 24 - i)
    o.len += 25 - i
    o.data[o.len] = CR
    o.data[o.len + 1] = LF
    o.len += 2
    return 0


cdef int out_bulk(Out* o, const char* src, Py_ssize_t n) except -1:
    out_line(o, c'$', n)
    out_reserve(o, n + 2)
    memcpy(o.data + o.len, src, n)
    o.data[o.len + n] = CR
    o.data[o.len + n + 1] = LF
    o.len += n + 2
    return 0


cdef int out_bytes(Out* o, object data) except -1:
    return out_write(o, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


cdef int out_bytes_bulk(Out* o, object data) except -1:
    return out_bulk(o, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))


cdef int out_one_line(Out* o, char kind, object text) except -1:
    """Writes ``<kind><text>\\r\\n``; a line cannot hold CR or LF, so they become spaces as in Redis."""
    cdef Py_ssize_t n, i
    cdef const char* utf8 = PyUnicode_AsUTF8AndSize(text, &n)
    out_reserve(o, n + 3)
    o.data[o.len] = kind
    memcpy(o.data + o.len + 1, utf8, n)
    for i in range(o.len + 1, o.len + 1 + n):
        if o.data[i] == CR or o.data[i] == LF:
            o.data[i] = SPACE
    o.len += n + 1
    o.data[o.len] = CR
    o.data[o.len + 1] = LF
    o.len += 2
    return 0


cdef bytes double_text(object value):
    """Redis 7.0's text for a double: C's "%.17g" (inf, -inf, nan; 1.1 is 1.1000000000000001)."""
    return (b"%.17g" % float(value))


cdef int encode_value(Out* o, object value, bint resp3, int depth) except -1:
    # The checks run in the Python twin's order (resp._encode).
    cdef int overflow = 0
    cdef long long number
    if isinstance(value, bytes):
        out_bytes_bulk(o, value)
    elif isinstance(value, (bytearray, memoryview)):
        out_bytes_bulk(o, bytes(value))
    elif isinstance(value, str):
        out_one_line(o, c'+', value)
    elif isinstance(value, bool):
        if resp3:
            out_write(o, b"#t\r\n" if value else b"#f\r\n", 4)
        else:
            out_write(o, b":1\r\n" if value else b":0\r\n", 4)
    elif isinstance(value, int):
        number = PyLong_AsLongLongAndOverflow(value, &overflow)
        if not overflow:
            out_line(o, c':', number)
        elif resp3:
            # Too big for ':'. Like Redis's addReplyBigNum: a RESP3 bignum, or a bulk string in RESP2.
            out_one_line(o, c'(', "%d" % value)
        else:
            out_bytes_bulk(o, b"%d" % value)
    elif isinstance(value, float):
        if resp3:
            out_one_line(o, c',', double_text(value).decode())
        else:
            out_bytes_bulk(o, double_text(value))
    elif value is None:
        if resp3:
            out_write(o, b"_\r\n", 3)
        else:
            out_write(o, b"$-1\r\n", 5)
    elif value is NULL_ARRAY:
        if resp3:
            out_write(o, b"_\r\n", 3)
        else:
            out_write(o, b"*-1\r\n", 5)
    elif isinstance(value, (list, tuple, dict, set, frozenset)):
        if depth == MAX_NESTING:
            raise ValueError("reply nested too deeply")
        if isinstance(value, dict):
            out_line(o, c'%' if resp3 else c'*', len(value) if resp3 else 2 * len(value))
            for key, item in value.items():
                encode_value(o, key, resp3, depth + 1)
                encode_value(o, item, resp3, depth + 1)
            return 0
        if resp3 and isinstance(value, Pairs):
            if depth + 1 == MAX_NESTING:
                raise ValueError("reply nested too deeply")
            out_line(o, c'*', len(value) // 2)
            for i in range(0, len(value), 2):
                out_write(o, b"*2\r\n", 4)
                encode_value(o, value[i], resp3, depth + 2)
                encode_value(o, value[i + 1], resp3, depth + 2)
            return 0
        out_line(o, c'~' if resp3 and isinstance(value, (set, frozenset, SetReply)) else c'*', len(value))
        for item in value:
            encode_value(o, item, resp3, depth + 1)
    elif isinstance(value, RespError):
        out_one_line(o, c'-', value.message)
    elif isinstance(value, Verbatim):
        data = bytes(value.data)
        if resp3:
            out_line(o, c'=', len(data) + 4)
            out_bytes(o, value.fmt.encode() + b":" + data)
            out_write(o, b"\r\n", 2)
        else:
            out_bytes_bulk(o, data)
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as a RESP reply")
    return 0


def encode_reply(value, int proto):
    """`value` as a reply in RESP `proto` (2 or 3); the mapping is resp.py_encode_reply's."""
    cdef Out o = Out(NULL, 0, 0)
    if proto != 2 and proto != 3:
        raise ValueError(f"proto must be 2 or 3, not {proto!r}")
    try:
        encode_value(&o, value, proto == 3, 0)
        return PyBytes_FromStringAndSize(o.data, o.len)
    finally:
        PyMem_Free(o.data)


def encode_command(argv):
    """A command as a RESP array of bulk strings, the form clients send."""
    cdef Out o = Out(NULL, 0, 0)
    cdef Py_ssize_t n
    cdef const char* utf8
    try:
        out_line(&o, c'*', len(argv))
        for arg in argv:
            if isinstance(arg, bytes):
                out_bytes_bulk(&o, arg)
            elif isinstance(arg, str):
                utf8 = PyUnicode_AsUTF8AndSize(arg, &n)
                out_bulk(&o, utf8, n)
            elif isinstance(arg, (int, float)):
                out_bytes_bulk(&o, str(arg).encode())
            elif isinstance(arg, (bytearray, memoryview)):
                out_bytes_bulk(&o, bytes(arg))
            else:
                raise TypeError(
                    f"a command argument must be bytes, str, int or float, not {type(arg).__name__}")
        return PyBytes_FromStringAndSize(o.data, o.len)
    finally:
        PyMem_Free(o.data)


def decode_command(raw, Py_ssize_t offset=0):
    """The one command RESP-encoded in ``raw[offset:]`` (an array of bulk strings filling it exactly),
    parsed without a parser object; ProtocolError for anything else (resp.py_decode_command's rule)."""
    cdef const unsigned char* p
    cdef Py_ssize_t end, pos, cr, stop
    cdef int64_t n, size
    cdef list argv
    if not isinstance(raw, bytes):
        raw = bytes(raw)
    p = <const unsigned char*>PyBytes_AS_STRING(raw)
    end = PyBytes_GET_SIZE(raw)
    pos = offset
    if pos < 0 or pos >= end or p[pos] != STAR:
        raise ProtocolError("expected one command, found 0")
    cr = _find_crlf(p, pos, end)
    if cr < 0 or not parse_int64(p + pos + 1, cr - pos - 1, &n) or n <= 0:
        raise ProtocolError("invalid multibulk length")
    pos = cr + 2
    argv = []
    while n > 0:
        if pos >= end or p[pos] != DOLLAR:
            raise ProtocolError("invalid bulk length")
        cr = _find_crlf(p, pos, end)
        if cr < 0 or not parse_int64(p + pos + 1, cr - pos - 1, &size) or size < 0:
            raise ProtocolError("invalid bulk length")
        stop = cr + 2 + size
        if end - stop < 2 or p[stop] != CR or p[stop + 1] != LF:
            raise ProtocolError("invalid bulk format")
        argv.append(PyBytes_FromStringAndSize(<const char*>p + cr + 2, size))
        pos = stop + 2
        n -= 1
    if pos != end:
        raise ProtocolError("expected one command, found more")
    return argv


cdef Py_ssize_t _find_crlf(const unsigned char* p, Py_ssize_t pos, Py_ssize_t end) noexcept:
    """Where the CR of the CRLF that ends the line at ``pos`` is, or -1."""
    cdef const unsigned char* found = <const unsigned char*>memchr(p + pos, CR, end - pos)
    if found == NULL or found - p + 1 >= end or found[1] != LF:
        return -1
    return found - p
