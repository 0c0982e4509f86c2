"""The model's checks on what identifies a release: digests, and the release id as a stored value."""

from __future__ import annotations

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
