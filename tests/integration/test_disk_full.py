"""A nearly full disk: writes are refused with -MISCONF, reads go on, writes resume when space returns.

The data dir lives on a small tmpfs this test mounts (CI runs as root), which a file then fills.
"""
from __future__ import annotations

import os
import subprocess

import pytest
import redis

from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture
def small_fs(tmp_path):
    mount_point = tmp_path / "fs"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"this test mounts a tmpfs and needs root: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_writes_stop_before_the_disk_is_full_and_resume_after(make_node, small_fs, tmp_path) -> None:
    node = make_node(extra_args=["--min-free-disk", str(16 * MiB)], start=False)
    node.data_dir = small_fs / "data"
    node.start()
    c = node.client(protocol=2)
    assert c.set("before", "x")
    filler = small_fs / "filler"
    free = os.statvfs(small_fs).f_bavail * os.statvfs(small_fs).f_frsize
    with open(filler, "wb") as f:
        f.write(b"\0" * (free - 8 * MiB))  # leave 8 MiB: under the 16 MiB the node wants

    def refused() -> bool:
        try:
            c.set("during", "x")
        except redis.ResponseError as exc:
            assert str(exc).startswith("MISCONF the disk of"), str(exc)
            return True
        return False

    wait_for(refused, 10, "writes to be refused")
    assert c.get("before") == b"x"  # reads go on
    assert c.info("persistence")["writes_refused_disk_full"] == 1
    filler.unlink()
    wait_for(lambda: c.set("after", "y"), 10, "writes to resume")
    assert c.get("after") == b"y" and c.get("before") == b"x"
    assert "refusing writes" in node.log() and "accepting writes" in node.log()
    node.stop()
