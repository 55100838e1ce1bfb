"""Type stub of the Cython reply-frame reader; raftkv.wire.records documents it (PyReplyReader is its twin)."""

class ReplyReader:
    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[int, int, bytes]]: ...
