"""The free-disk check: below ``--min-free-disk`` the node refuses writes with ``-MISCONF`` (as Redis does
when it cannot persist) instead of failing a LevelDB write, which is fatal.

Reads the file system's free space only when told to (on a tick); it refuses nothing itself: the caller
asks :meth:`DiskGuard.refusal` before starting a write.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from raftkv.errors import RespError

log = logging.getLogger("raftkv.node.disk_guard")


class DiskGuard:
    def __init__(self, data_dir: Path, min_free_bytes: int) -> None:
        self._data_dir = data_dir
        self._min_free_bytes = min_free_bytes
        self.full = False
        self.free_bytes = 0

    def check(self) -> None:
        try:
            st = os.statvfs(self._data_dir)
        except OSError as exc:
            log.error("cannot check free space of %s: %s", self._data_dir, exc.strerror)
            return
        self.free_bytes = st.f_bavail * st.f_frsize
        full = self.free_bytes < self._min_free_bytes
        if full != self.full:
            self.full = full
            if full:
                log.error("data dir %s has %d bytes free (under --min-free-disk %d): refusing writes",
                          self._data_dir, self.free_bytes, self._min_free_bytes)
            else:
                log.info("data dir %s has %d bytes free again: accepting writes", self._data_dir,
                         self.free_bytes)

    def refusal(self) -> RespError | None:
        """The error a write gets while the disk is full, else None."""
        if not self.full:
            return None
        return RespError(f"MISCONF the disk of {self._data_dir} is nearly full "
                         f"({self.free_bytes} bytes free); writes are refused until space returns")
