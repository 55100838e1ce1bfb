# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The fast codec of log entry batches: a batch of entries as one packed blob, both directions.

raftkv.wire.entries holds the pure-Python twin of each function (the specification; the tests compare
the two) and documents the layout: ``(<index u64><term u64><kind u8><len u32><data>)*``, big-endian.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

cdef enum:
    HEAD = 21  # index 8, term 8, kind 1, length 4


cdef inline void put_u64(unsigned char* p, uint64_t v) noexcept:
    cdef int i
    for i in range(7, -1, -1):
        p[i] = v & 0xFF
        v >>= 8


cdef inline uint64_t get_u64(const unsigned char* p) noexcept:
    cdef uint64_t v = 0
    cdef int i
    for i in range(8):
        v = (v << 8) | p[i]
    return v


def pack_entries(list entries):
    cdef Py_ssize_t total = 0, n, pos = 0
    cdef object entry
    cdef bytes data
    for entry in entries:
        total += HEAD + PyBytes_GET_SIZE(<bytes?>entry.data)
    out = PyBytes_FromStringAndSize(NULL, total)
    cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
    for entry in entries:
        data = entry.data
        n = PyBytes_GET_SIZE(data)
        if n > 0xFFFFFFFF:
            raise ValueError("an entry of more than 4 GiB")
        put_u64(p + pos, <uint64_t>entry.index)
        put_u64(p + pos + 8, <uint64_t>entry.term)
        p[pos + 16] = <uint8_t>(<int>entry.kind)
        p[pos + 17] = (n >> 24) & 0xFF
        p[pos + 18] = (n >> 16) & 0xFF
        p[pos + 19] = (n >> 8) & 0xFF
        p[pos + 20] = n & 0xFF
        memcpy(p + pos + HEAD, PyBytes_AS_STRING(data), n)
        pos += HEAD + n
    return out


def unpack_entries(bytes blob, make_entry, tuple kinds):
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(blob)
    cdef Py_ssize_t end = PyBytes_GET_SIZE(blob), pos = 0
    cdef uint32_t n
    cdef uint8_t kind
    cdef list out = []
    while pos < end:
        if end - pos < HEAD:
            raise ValueError("a truncated entry head")
        n = (<uint32_t>p[pos + 17] << 24) | (<uint32_t>p[pos + 18] << 16) | (<uint32_t>p[pos + 19] << 8) | p[pos + 20]
        kind = p[pos + 16]
        if kind >= len(kinds):
            raise ValueError(f"an unknown entry kind {kind}")
        if end - pos - HEAD < n:
            raise ValueError("a truncated entry")
        out.append(make_entry(get_u64(p + pos), get_u64(p + pos + 8), kinds[kind],
                              PyBytes_FromStringAndSize(<const char*>p + pos + HEAD, n)))
        pos += HEAD + n
    return out
