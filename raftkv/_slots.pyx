# cython: language_level=3
"""Redis Cluster hash slots, compiled: CRC16 (XMODEM) of a key or its {hash tag}, mod 16384. Routing
computes one per key of every command of a sharded node; raftkv/sharding/slots_pure.py is its twin."""

cdef unsigned short _TABLE[256]


cdef void _fill_table():
    cdef unsigned int crc, i, bit
    for i in range(256):
        crc = i << 8
        for bit in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
        _TABLE[i] = crc & 0xFFFF


_fill_table()


cdef int _slot(bytes key):
    cdef const unsigned char* p = key
    cdef Py_ssize_t n = len(key), start = 0, end = n, i
    cdef unsigned short crc = 0
    for i in range(n):
        if p[i] == b'{':
            for end in range(i + 1, n):
                if p[end] == b'}':
                    break
            else:
                end = n
            if end < n and end > i + 1:
                start = i + 1
            else:
                end = n
            break
    for i in range(start, end):
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ p[i]) & 0xFF]
    return crc & 16383


def key_slot(bytes key) -> int:
    return _slot(key)


def keys_slot(list keys) -> int:
    """The one slot all keys hash to, or -1 for keys of several slots (or none)."""
    cdef int slot = -1, s
    for key in keys:
        s = _slot(key)
        if slot != -1 and s != slot:
            return -1
        slot = s
    return slot
