"""What identifies a release and when things happened: digests, the release id, times; the state key."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainmaster.errors import InvalidInput
from trainmaster.model import Package, Release, check_digest


def test_a_digest_is_lower_case_hex_only() -> None:
    with pytest.raises(InvalidInput, match="is not of the form"):
        check_digest("sha256:" + "AB" * 32)
    with pytest.raises(InvalidInput, match="is not of the form"):
        check_digest("sha256:" + "ab" * 31 + "aG")
    assert check_digest("sha256:" + "ab" * 32) == "sha256:" + "ab" * 32


def test_the_release_id_covers_each_identity_field_and_never_changes() -> None:
    """Every runner and every remote copy computes the same id: its formula is a stored format."""
    pkg = Package("app", "app.tar.gz", 12, "sha256:" + "ab" * 32, "application/gzip")
    release = Release("demo", "1.0.0", (pkg,), {"created_by": "bob", "notes": "not hashed"})
    assert release.id == "sha256:21b265b914a7c03b19e6e67fbbf9dd3380b5a22c60bdb129e955364a0275acfd"
    changed = [Package("app", "app.tar.gz", 12, pkg.digest, "application/zip"),
               Package("app", "app.tgz", 12, pkg.digest, pkg.media_type),
               Package("app", "app.tar.gz", 13, pkg.digest, pkg.media_type),
               Package("api", "app.tar.gz", 12, pkg.digest, pkg.media_type)]
    ids = {Release("demo", "1.0.0", (p,)).id for p in changed}
    assert len(ids) == 4 and release.id not in ids
    assert Release("demo", "1.0.0", (pkg,)).id == release.id  # metadata is not part of it


def test_a_naive_time_is_utc_whatever_the_machines_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt
    import time

    from trainmaster.model import timestamp

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert timestamp(dt.datetime(2025, 6, 2, 12, 0)) == "2025-06-02T12:00:00.000Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_remote_time_that_is_empty_is_no_time() -> None:
    from trainmaster.errors import IntegrityError
    from trainmaster.model import remote_timestamp

    assert remote_timestamp("", "deployment 7") is None and remote_timestamp(None, "deployment 7") is None
    assert remote_timestamp("2025-06-02T14:00:00+02:00", "deployment 7") == "2025-06-02T12:00:00.000Z"
    with pytest.raises(IntegrityError, match="deployment 7 has a time that is not ISO 8601"):
        remote_timestamp("yesterday", "deployment 7")


def test_two_processes_creating_the_state_key_at_once_agree_on_it(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from trainmaster.variables import state_key

    real_open = os.open

    def first_one_wins(path: object, flags: int, mode: int = 0o777) -> int:
        if str(path).endswith("state.key") and flags & os.O_EXCL:  # the other process wrote it just now
            Path(str(path)).write_text("ab" * 32 + "\n")
        return real_open(path, flags, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", first_one_wins)
    assert state_key(tmp_path) == bytes.fromhex("ab" * 32)
