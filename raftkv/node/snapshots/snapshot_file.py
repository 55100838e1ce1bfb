"""Snapshot files: the applied key space written out at an index, so that the log before it can go.

This module owns the data dir's ``snapshots/`` folder. A snapshot is one file named
``<index:020d>-<term:020d>.snap`` (so names sort by index), laid out as::

    header   magic, format version, index, term, voters, learners, the opaque `members` bytes
    body     StateMachine.dump
    trailer  end magic, CRC-32 of everything before it

A file is written under a temporary name (``.tmp-<pid>-…``), fsynced, renamed into place and the folder
fsynced, so a crash at any instant leaves either the whole new file or none of it; the previous snapshot
stays usable. Readers trust a file only once its header and checksum verify.

Writing a million keys takes a few seconds, too long to stall the Raft loop. :func:`fork_snapshot` does it
as Redis's BGSAVE does: ``fork()`` copies only the page tables, the child writes the state machine as it
was at that instant (the kernel copies a page only when the parent writes to it), and the parent goes on
applying entries meanwhile.

A leader sends a snapshot to a follower that is too far behind in chunks (:func:`iter_chunks`, one per
loop turn); the follower appends them with a :class:`SnapshotReceiver`, which verifies the whole file
under its temporary name; it is put in place (:func:`put_in_place`) only once the Raft core has accepted
it, so a snapshot the core turns down never becomes the one a restart trusts.
"""
from __future__ import annotations

import gc
import io
import os
import re
import signal
import struct
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from raftkv.kv.state_machine import StateMachine
from raftkv.raft.types import ConfState, SnapshotMeta

FORMAT_VERSION = 1
SNAPSHOT_DIR = "snapshots"  # the folder of the data dir this module owns

_MAGIC = b"RAFTKVSN"
_END = b"RAFTKVEN"
_HEAD = struct.Struct("<8sIQQII")  # magic, version, index, term, number of voters, of learners
_LENGTH = struct.Struct("<Q")
_TRAILER = struct.Struct("<8sI")  # end magic, CRC-32
_NAME = re.compile(r"(\d{20})-(\d{20})\.snap")
_TEMP_PREFIX = ".tmp-"
_BUFFER = 1 << 20


class SnapshotError(Exception):
    """A snapshot file cannot be used; the message is one line naming the file and the cause."""


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    path: Path
    meta: SnapshotMeta
    members: bytes
    size: int


def write_snapshot(directory: Path, sm: StateMachine, meta: SnapshotMeta, members: bytes) -> Path:
    """Writes `sm` as the snapshot `meta` in `directory` and returns its path once it is durable."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-", dir=directory)
    path = directory / file_name(meta)
    try:
        with _ChecksumWriter(io.FileIO(fd, "wb"), _BUFFER) as out:
            out.write(_encode_header(meta, members))
            sm.dump(out)
            out.write(_TRAILER.pack(_END, out.crc))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    fsync_dir(directory)
    return path


def fork_snapshot(directory: Path, sm: StateMachine, meta: SnapshotMeta, members: bytes) -> int:
    """Starts a child process that runs :func:`write_snapshot` and returns its pid at once.

    The child exits with status 0 once the file is in place, or 1 after printing one line to stderr.
    The parent may go on changing `sm`: the child sees it as it was at the fork. The parent must reap
    the child (``os.waitpid(pid, os.WNOHANG)`` from its loop) and trust the new file only after a zero
    exit status; until then the previous snapshot is the latest.
    """
    pid = os.fork()
    if pid:
        return pid
    status = 1
    try:
        gc.disable()  # a collection would touch every object and copy the parent's pages
        for signum in (signal.SIGINT, signal.SIGTERM):  # not the parent's handlers: just stop
            signal.signal(signum, signal.SIG_DFL)
        write_snapshot(directory, sm, meta, members)
        status = 0
    except BaseException as exc:
        line = f"raftkv: background snapshot {file_name(meta)} in {directory} failed: {exc!r}\n"
        os.write(2, line.encode())
    finally:
        os._exit(status)


def latest_snapshot(directory: Path) -> SnapshotFile | None:
    """The newest snapshot in `directory` that verifies; temporary and corrupt files are passed over."""
    for path in reversed(_snapshot_paths(Path(directory))):
        try:
            return verify(path)
        except SnapshotError:
            continue
    return None


def load_snapshot(path: Path) -> tuple[SnapshotMeta, bytes, StateMachine]:
    """The snapshot's meta, members and state machine; SnapshotError if the file is damaged."""
    path = Path(path)
    snapshot = verify(path)
    with open(path, "rb") as f:
        _read_header(f, path)
        try:
            sm = StateMachine.load(f)
        except (ValueError, struct.error) as exc:
            raise SnapshotError(f"snapshot {path} is corrupt: {exc}") from None
        if f.tell() != snapshot.size - _TRAILER.size:
            raise SnapshotError(f"snapshot {path} is corrupt: unexpected bytes after the key space")
    return snapshot.meta, snapshot.members, sm


def prune(directory: Path, keep: int = 2) -> None:
    """Deletes all but the `keep` newest snapshots, and temporary files whose writing process is gone.

    Temporary files of a running process (a background snapshot not yet reaped, a transfer being
    received) stay, so this is safe to call at any time.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return
    snapshots = _snapshot_paths(directory)
    for path in snapshots[:max(len(snapshots) - keep, 0)]:
        path.unlink(missing_ok=True)
    for path in directory.glob(f"{_TEMP_PREFIX}*"):
        owner = path.name[len(_TEMP_PREFIX):].partition("-")[0]
        if not (owner.isdigit() and _running(int(owner))):
            path.unlink(missing_ok=True)


def iter_chunks(path: Path, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
    """The file's bytes in order, `chunk_bytes` at a time. The file is open from the first chunk to
    the last, so pruning it meanwhile does not cut the transfer short."""
    with open(path, "rb") as f:
        while chunk := f.read(chunk_bytes):
            yield chunk


class SnapshotReceiver:
    """A snapshot arriving in chunks, appended to a temporary file in `directory` until :meth:`finish`."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-", dir=self.directory)
        self._temp = Path(temp)
        self._file = open(fd, "wb", buffering=_BUFFER)
        self.size = 0

    def write(self, offset: int, chunk: bytes) -> None:
        """Appends `chunk`, which must start where the bytes received so far end."""
        if offset != self.size:
            raise SnapshotError(f"snapshot chunk for {self._temp} at offset {offset}, expected {self.size}")
        self._file.write(chunk)
        self.size += len(chunk)

    def finish(self) -> SnapshotFile:
        """Syncs and verifies the received file, still under its temporary name: it becomes a snapshot
        of this node (:func:`put_in_place`) only once the Raft core accepts it, else it is
        :func:`discard`-ed. On any error it is deleted."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            return verify(self._temp)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drops what was received."""
        self._file.close()
        self._temp.unlink(missing_ok=True)


def put_in_place(received: SnapshotFile) -> SnapshotFile:
    """Renames a received file (:meth:`SnapshotReceiver.finish`) to its snapshot name, durably: from
    here on it is the newest snapshot, the one the next start restores."""
    path = received.path.parent / file_name(received.meta)
    os.replace(received.path, path)
    fsync_dir(path.parent)
    return SnapshotFile(path, received.meta, received.members, received.size)


def discard(received: SnapshotFile) -> None:
    """Deletes a received file that will not be installed."""
    received.path.unlink(missing_ok=True)


class _ChecksumWriter(io.BufferedWriter):
    """A buffered file that keeps the CRC-32 of everything written through it."""

    crc = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.crc = zlib.crc32(data, self.crc)
        return super().write(data)


def file_name(meta: SnapshotMeta) -> str:
    """The name of the snapshot file at ``meta``'s index and term."""
    return f"{meta.index:020d}-{meta.term:020d}.snap"


def _snapshot_paths(directory: Path) -> list[Path]:
    """The snapshot files by name (so by index, then term), oldest first."""
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir() if _NAME.fullmatch(path.name))


def _encode_header(meta: SnapshotMeta, members: bytes) -> bytes:
    voters, learners = meta.conf_state.voters, meta.conf_state.learners
    ids = voters + learners
    return b"".join([
        _HEAD.pack(_MAGIC, FORMAT_VERSION, meta.index, meta.term, len(voters), len(learners)),
        struct.pack(f"<{len(ids)}Q", *ids),
        _LENGTH.pack(len(members)),
        members,
    ])


def _read_header(f: io.BufferedReader, path: Path) -> tuple[SnapshotMeta, bytes]:
    """Parses the header of a file whose checksum has verified."""
    magic, version, index, term, n_voters, n_learners = _HEAD.unpack(f.read(_HEAD.size))
    if magic != _MAGIC:
        raise SnapshotError(f"{path} is not a raftkv snapshot")
    if version != FORMAT_VERSION:
        raise SnapshotError(f"snapshot {path} has format {version}; this raftkv reads {FORMAT_VERSION}")
    ids = struct.unpack(f"<{n_voters + n_learners}Q", f.read(8 * (n_voters + n_learners)))
    (length,) = _LENGTH.unpack(f.read(_LENGTH.size))
    members = f.read(length)
    conf_state = ConfState(voters=ids[:n_voters], learners=ids[n_voters:])
    return SnapshotMeta(index=index, term=term, conf_state=conf_state), members


def verify(path: Path) -> SnapshotFile:
    """The file's header, once its checksum and (for a file named as a snapshot) its name agree with it;
    else SnapshotError. Reads the whole file once; it loads nothing."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            remaining = size - _TRAILER.size
            if remaining < _HEAD.size:
                raise SnapshotError(f"snapshot {path} is truncated ({size} bytes)")
            crc = 0
            while remaining:
                chunk = f.read(min(remaining, _BUFFER))
                if not chunk:
                    raise SnapshotError(f"snapshot {path} shrank while being read")
                crc = zlib.crc32(chunk, crc)
                remaining -= len(chunk)
            end, stored = _TRAILER.unpack(f.read(_TRAILER.size))
            if end != _END or stored != crc:
                raise SnapshotError(f"snapshot {path} fails its checksum (truncated or damaged)")
            f.seek(0)
            meta, members = _read_header(f, path)
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror}") from None
    except struct.error:
        raise SnapshotError(f"snapshot {path} has a malformed header") from None
    if _NAME.fullmatch(path.name) and path.name != file_name(meta):
        raise SnapshotError(f"snapshot {path} holds index {meta.index} term {meta.term}, unlike its name")
    return SnapshotFile(path, meta, members, size)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _running(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
