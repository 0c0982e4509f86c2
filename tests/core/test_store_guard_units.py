"""How a deployment gives its commands the packages: a reflink copy where the file system clones,
else a read-only hard link that is re-hashed afterwards (trainmaster.store_guard)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from trainmaster.errors import DigestMismatch, InvalidInput
from trainmaster.interfaces import PackagePlan
from trainmaster.model import Package
from trainmaster.store import Store
from trainmaster.store_guard import StoreGuard, clone_file, quarantine


def _stored(tmp_path: Path, content: bytes = b"the artefact\n") -> tuple[Store, PackagePlan]:
    store = Store(tmp_path / "state" / "store")
    source = tmp_path / "app.bin"
    source.write_bytes(content)
    staged = store.stage(source)
    path = store.commit(staged)
    pkg = Package("app", "app.bin", len(content), staged.digest)
    return store, PackagePlan(pkg, path, "deploy", "")


def _copying_clone(calls: list[Path]):  # type: ignore[no-untyped-def]
    """A clone that succeeds with a file of its own, as FICLONE does on btrfs or XFS."""
    def clone(source: Path, target: Path) -> bool:
        calls.append(target)
        shutil.copyfile(source, target)
        return True
    return clone


def test_the_real_clone_either_makes_an_independent_copy_or_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "blob"
    source.write_bytes(b"x" * 70000)
    target = tmp_path / "clone"
    if clone_file(source, target):  # a file system with reflinks
        assert target.read_bytes() == source.read_bytes()
        assert target.stat().st_ino != source.stat().st_ino
    else:  # this machine's ext4, tmpfs, …: the caller falls back, and finds no half-made file in its way
        assert not target.exists()


def test_where_cloning_fails_the_commands_get_a_read_only_link_that_is_checked(tmp_path: Path) -> None:
    store, item = _stored(tmp_path)
    guard = StoreGuard(store, {}, clone=lambda source, target: False)
    guard.workspace(tmp_path / "state", 7, [item])
    assert item.path.stat().st_ino == store.path_for(item.package.digest).stat().st_ino
    assert item.path.stat().st_mode & 0o222 == 0
    assert guard.linked == {item.package.digest: "app"}
    os.chmod(item.path, 0o644)
    with open(item.path, "ab") as fh:
        fh.write(b"changed\n")
    changed = guard.finish()
    assert list(changed) == ["app"] and "quarantine" in changed["app"]
    assert not store.has(item.package.digest)
    assert (store.root / "quarantine" / f"{item.package.digest.split(':')[1]}.deployment-7").is_file()


def test_a_reflink_copy_is_not_rechecked_and_its_edits_never_reach_the_store(tmp_path: Path) -> None:
    store, item = _stored(tmp_path)
    calls: list[Path] = []
    guard = StoreGuard(store, {}, clone=_copying_clone(calls))
    folder = guard.workspace(tmp_path / "state", 8, [item])
    assert calls == [item.path] and guard.linked == {}
    assert item.path.stat().st_ino != store.path_for(item.package.digest).stat().st_ino
    os.chmod(item.path, 0o644)
    item.path.write_bytes(b"edited by a command\n")
    assert guard.finish() == {} and not folder.exists()
    assert store.intact(item.package.digest)


def test_trainmaster_reflink_0_skips_the_clone(tmp_path: Path) -> None:
    store, item = _stored(tmp_path)
    calls: list[Path] = []
    guard = StoreGuard(store, {"TRAINMASTER_REFLINK": "0"}, clone=_copying_clone(calls))
    guard.workspace(tmp_path / "state", 9, [item])
    assert calls == [] and guard.linked == {item.package.digest: "app"}
    assert guard.finish() == {} and store.intact(item.package.digest)


def test_a_reflink_setting_other_than_0_or_1_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="TRAINMASTER_REFLINK must be 0 or 1"):
        StoreGuard(Store(tmp_path), {"TRAINMASTER_REFLINK": "sometimes"})


def test_a_blob_another_deployment_quarantined_fails_this_one_too(tmp_path: Path) -> None:
    store, item = _stored(tmp_path)
    digest = item.package.digest
    guard = StoreGuard(store, {"TRAINMASTER_REFLINK": "0"})
    guard.workspace(tmp_path / "state", 10, [item])
    kept = quarantine(store, digest, "deployment-11")  # its commands changed the blob both were given
    changed = guard.finish()
    assert list(changed) == ["app"] and f"in quarantine at {kept}" in changed["app"]
    late = PackagePlan(item.package, store.path_for(digest), "deploy", "")
    with pytest.raises(DigestMismatch, match="left the store after it was verified"):
        StoreGuard(store, {}).workspace(tmp_path / "state", 12, [late])
