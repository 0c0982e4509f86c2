"""The SHA-1 Octopus names a package by is computed once, when the file enters the store (issue 11).

``release create`` records it beside the stored file (hook ``package_digests``); a push then hashes
only the pin while it sends and compares Octopus's ``Hash`` with the record. A record is a cache: a
wrong one changes no outcome (the file decides and the record is corrected); it never vouches for a
package already in the feed nor for a deploy (those hash the file); and bytes altered on the way are
deleted from the feed with or without one. Through the real CLI against the Octopus fake.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.support.octopus_cli import CONFIG, cli_project

DATA = b"PK\x05\x06" + b"\0" * 18 + b"the app, zipped" * 5000  # a .zip is pushed as it is (not wrapped)
SHA1 = hashlib.sha1(DATA).hexdigest()
SHA256 = hashlib.sha256(DATA).hexdigest()
WRONG = "0" * 40


def _project(tmp_path: Path, octopus_fake: Any, *, publish: bool = False) -> tuple[Any, Path]:
    run, work, _ = cli_project(tmp_path, octopus_fake)
    config = CONFIG.replace("app.bin", "app.zip")
    (work / "trainmaster.yaml").write_text(config if publish else config.replace("publish: [octopus]\n", ""))
    (work / "app.zip").write_bytes(DATA)
    return run, work


def _record(work: Path) -> Path:
    return work / ".trainmaster" / "store" / "digests" / "sha1" / SHA256[:2] / SHA256


def _overwrite(path: Path, text: str) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    path.write_text(text)


def test_release_create_records_the_sha1_only_where_octopus_is_used(octopus_fake: Any, tmp_path: Path) -> None:
    run, work = _project(tmp_path, octopus_fake)
    created = run("release", "create", "1.0.0")
    assert created.returncode == 0, created.stderr
    assert _record(work).read_text().strip() == SHA1
    assert not octopus_fake.packages  # recording pushes nothing

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "app.zip").write_bytes(DATA)
    (plain / "trainmaster.yaml").write_text("project: p\npackages: {app: app.zip}\ntrain:\n  - name: dev\n"
                                            "    deploy: 'true'\n")
    assert run("--config", str(plain / "trainmaster.yaml"), "release", "create", "1.0.0").returncode == 0
    assert (plain / ".trainmaster" / "store" / "sha256").is_dir()
    assert not (plain / ".trainmaster" / "store" / "digests").exists()  # no plugin asked for one


def test_a_wrong_record_changes_no_outcome_and_is_corrected(octopus_fake: Any, tmp_path: Path) -> None:
    """A record that is not the file's SHA-1 (damaged, or written by hand) does not fail a good push."""
    run, work = _project(tmp_path, octopus_fake)
    assert run("release", "create", "1.0.0").returncode == 0
    _overwrite(_record(work), WRONG + "\n")
    synced = run("sync", "--to", "octopus", "1.0.0")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    (pkg,) = octopus_fake.packages.values()
    assert pkg["Hash"] == SHA1 and octopus_fake.count("deletePackageRepository_Spaces") == 0
    assert _record(work).read_text().strip() == SHA1


def test_a_record_that_is_not_a_digest_is_ignored(octopus_fake: Any, tmp_path: Path) -> None:
    """Read back from disk, a record is data: garbage, or a link elsewhere, is as good as none."""
    run, work = _project(tmp_path, octopus_fake)
    assert run("release", "create", "1.0.0").returncode == 0
    record = _record(work)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text(WRONG)
    record.unlink()
    os.symlink(elsewhere, record)
    synced = run("sync", "--to", "octopus", "1.0.0")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert octopus_fake.count("deletePackageRepository_Spaces") == 0
    assert elsewhere.read_text() == WRONG  # the link was replaced, not written through
    assert not record.is_symlink() and record.read_text().strip() == SHA1


@pytest.mark.parametrize("recorded", [True, False], ids=["with-record", "without-record"])
def test_bytes_altered_on_the_way_are_deleted_from_the_feed(octopus_fake: Any, tmp_path: Path,
                                                            recorded: bool) -> None:
    run, work = _project(tmp_path, octopus_fake)
    assert run("release", "create", "1.0.0").returncode == 0
    if not recorded:
        _record(work).unlink()
    octopus_fake.garble_next_upload()
    bad = run("sync", "--to", "octopus", "1.0.0")
    assert bad.returncode == 4, bad.stdout + bad.stderr
    assert "Octopus received" in bad.stderr and "deleted from the feed" in bad.stderr
    assert "Traceback" not in bad.stderr
    assert not octopus_fake.packages and not octopus_fake.releases
    good = run("sync", "--to", "octopus", "1.0.0")
    assert good.returncode == 0, good.stdout + good.stderr
    assert [p["Hash"] for p in octopus_fake.packages.values()] == [SHA1]
    assert _record(work).read_text().strip() == SHA1  # the push without a record kept the SHA-1 it computed


def test_a_record_never_vouches_for_a_foreign_package(octopus_fake: Any, tmp_path: Path) -> None:
    """A record is a file anyone who can write the store can change: made to say what a foreign package in
    Octopus hashes to, it is neither taken by ``sync`` (the file is hashed) nor by ``deploy``."""
    run, work = _project(tmp_path, octopus_fake)
    assert run("release", "create", "1.0.0").returncode == 0
    foreign = b"PK\x05\x06 someone else's bytes"
    octopus_fake.seed_package("app", "1.0.0", foreign)
    _overwrite(_record(work), hashlib.sha1(foreign).hexdigest())
    synced = run("sync", "--to", "octopus", "1.0.0")
    assert synced.returncode == 4, synced.stdout + synced.stderr
    assert "nothing was overwritten" in synced.stderr and not octopus_fake.releases
    deployed = run("deploy", "1.0.0", "--to", "dev")
    assert deployed.returncode == 4, deployed.stdout + deployed.stderr
    assert not octopus_fake.deployments


def test_a_deploy_compares_the_feed_with_the_file_not_the_record(octopus_fake: Any, tmp_path: Path) -> None:
    run, work = _project(tmp_path, octopus_fake, publish=True)
    assert run("release", "create", "1.0.0").returncode == 0
    (pkg,) = octopus_fake.packages.values()  # the feed changes behind trainmaster's back, the record with it
    foreign = b"PK\x05\x06other bytes"
    octopus_fake.seed_package(pkg["PackageId"], pkg["Version"], foreign)
    _overwrite(_record(work), hashlib.sha1(foreign).hexdigest())
    refused = run("deploy", "1.0.0", "--to", "dev")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "changed behind trainmaster's back" in refused.stderr and not octopus_fake.deployments


def test_no_sha1_is_computed_for_a_package_that_is_wrapped(octopus_fake: Any, tmp_path: Path) -> None:
    """An ``app.bin`` goes to the feed inside a deterministic .zip: the blob's own SHA-1 would be of no use."""
    run, work, _ = cli_project(tmp_path, octopus_fake)
    assert run("release", "create", "1.0.0").returncode == 0
    assert (work / ".trainmaster" / "store" / "sha256").is_dir()
    assert not (work / ".trainmaster" / "store" / "digests").exists()
    deployed = run("deploy", "1.0.0", "--to", "dev")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr


def test_a_create_refused_by_octopus_leaves_no_blob_and_no_record(octopus_fake: Any, tmp_path: Path) -> None:
    """The SHA-1 is recorded before the push (which then hashes only the pin); a refusal takes it back."""
    run, work = _project(tmp_path, octopus_fake, publish=True)
    octopus_fake.seed_package("app", "1.0.0", b"PK\x05\x06 someone else's bytes")
    refused = run("release", "create", "1.0.0")
    assert refused.returncode == 4, refused.stdout + refused.stderr
    assert "nothing was overwritten" in refused.stderr
    assert not (work / ".trainmaster" / "store" / "sha256" / SHA256[:2] / SHA256).exists()
    assert not _record(work).exists()
    (work / "app.zip").write_bytes(DATA)
    assert run("release", "create", "1.0.1").returncode == 0, "another version goes through"
    assert _record(work).read_text().strip() == SHA1
