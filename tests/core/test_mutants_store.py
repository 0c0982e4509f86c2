"""The store guard's unsharing: a stored blob gets a file of its own only as a checked copy."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from trainmaster.store_guard import unshare


def test_a_blob_is_unshared_only_by_a_copy_that_hashes_to_its_digest(tmp_path: Path) -> None:
    stored = tmp_path / "blob"
    stored.write_bytes(b"the pinned bytes")
    other = tmp_path / "moved-into-place"
    os.link(stored, other)
    digest = "sha256:" + hashlib.sha256(b"the pinned bytes").hexdigest()
    unshare(stored, "sha256:" + "0" * 64)  # the bytes are not what was pinned: left for the next check
    assert os.path.samefile(stored, other) and stored.stat().st_nlink == 2
    unshare(stored, digest)
    assert not os.path.samefile(stored, other) and stored.read_bytes() == b"the pinned bytes"
    assert stored.stat().st_nlink == 1 and other.stat().st_nlink == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".unshare")] == []
