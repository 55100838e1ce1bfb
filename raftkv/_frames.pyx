# cython: language_level=3, boundscheck=False, wraparound=False
"""The fast reader of Raft -> worker reply frames, ``<conn u32><seq u32><len u32><reply>`` little-endian.

raftkv.wire.records documents the frames and holds the pure-Python twin (``PyReplyReader``, the
specification; the tests compare the two).
"""
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport uint32_t

cdef enum:
    HEAD = 12  # conn 4, seq 4, length 4


cdef inline uint32_t get_u32(const unsigned char* p) noexcept:
    return p[0] | (p[1] << 8) | (p[2] << 16) | (<uint32_t>p[3] << 24)


cdef class ReplyReader:
    """Splits the Raft -> worker byte stream into (conn, seq, payload) frames."""

    cdef bytearray _buf

    def __cinit__(self):
        self._buf = bytearray()

    def feed(self, data) -> list:
        cdef bytearray buf = self._buf
        buf += data
        cdef const unsigned char* p = <const unsigned char*>PyByteArray_AS_STRING(buf)
        cdef Py_ssize_t end = PyByteArray_GET_SIZE(buf)
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t size
        cdef list frames = []
        while end - pos >= HEAD:
            size = get_u32(p + pos + 8)
            if end - pos - HEAD < size:
                break
            frames.append((get_u32(p + pos), get_u32(p + pos + 4),
                           PyBytes_FromStringAndSize(<const char*>p + pos + HEAD, size)))
            pos += HEAD + size
        if pos:
            del buf[:pos]
        return frames
