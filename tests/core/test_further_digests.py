"""Digests besides the pin, computed in the store's one pass and recorded beside the file (hook ``package_digests``).

A plugin names what it will need (Octopus: SHA-1); ``release create`` computes it on a thread of its
own while it copies and hashes the pin, and records it; ``gc``/``release delete`` remove it with the file.
A record is data read back from disk: anything but a well-formed digest in a regular file is no record.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.plugins import PAYLOAD, make_project, registered, run_cli
from trainmaster import hookimpl
from trainmaster.interfaces import PublishResult
from trainmaster.model import Release
from trainmaster.store import StagingCancelled, Store, record_digest, recorded_digest

PIN = "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()


class Asks:
    def __init__(self, *names: str) -> None:
        self.names = list(names)

    @hookimpl
    def package_digests(self, config: Any) -> list[str]:
        return self.names


@pytest.fixture
def asks_sha1_md5() -> Iterator[Asks]:
    plugin = Asks("sha1", "md5")
    with registered(plugin, "asks"):
        yield plugin


def _record(project: Path, name: str, digest: str = PIN) -> Path:
    hexd = digest.split(":")[1]
    return project / ".trainmaster" / "store" / "digests" / name / hexd[:2] / hexd


def test_hook_package_digests(tmp_path: Path, asks_sha1_md5: Asks) -> None:
    """What the plugins ask for is recorded at ``release create``; an unknown name is a warning naming the plugin."""
    config = make_project(tmp_path)
    with registered(Asks("sha1", "whirlpool"), "odd"):
        created = run_cli(config, "release", "create", "1.0.0")
    assert created.code == 0, created.err
    assert "plugin 'odd' asks for a package digest 'whirlpool'" in created.err
    assert _record(tmp_path, "sha1").read_text().strip() == hashlib.sha1(PAYLOAD).hexdigest()
    assert _record(tmp_path, "md5").read_text().strip() == hashlib.md5(PAYLOAD).hexdigest()
    assert not (tmp_path / ".trainmaster" / "store" / "digests" / "whirlpool").exists()
    stored = tmp_path / ".trainmaster" / "store" / "sha256" / PIN[7:9] / PIN[7:]
    assert recorded_digest(stored, PIN, "sha1") == hashlib.sha1(PAYLOAD).hexdigest()
    assert recorded_digest(tmp_path / "app.bin", PIN, "sha1") is None  # not the store's file: no record

    deleted = run_cli(config, "release", "delete", "1.0.0", "--by", "me")
    assert deleted.code == 0, deleted.err
    assert not stored.exists() and not _record(tmp_path, "sha1").exists() and not _record(tmp_path, "md5").exists()


class Folder:
    """A publisher whose remote is a folder (release.json and the files), with ``fetch``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @hookimpl
    def register_publishers(self, register: Any) -> None:
        register("folder", lambda config: self)

    def ensure(self, release: Release, files: dict[str, Path], config: Any) -> PublishResult:
        folder = self.root / release.version
        folder.mkdir(parents=True, exist_ok=True)
        for name, path in files.items():
            shutil.copyfile(path, folder / name)
        (folder / "release.json").write_bytes(release.to_json())
        return PublishResult("created")

    def check(self, release: Release, config: Any) -> PublishResult:
        return PublishResult("exists" if (self.root / release.version).is_dir() else "missing")

    def fetch(self, version: str, dest: Path, config: Any) -> tuple[Release, dict[str, Path]] | None:
        folder = self.root / version
        release = Release.from_record(json.loads((folder / "release.json").read_text()), "the folder")
        files = {p.name: dest / p.name for p in release.packages}
        for pkg in release.packages:
            shutil.copyfile(folder / pkg.name, files[pkg.name])
        return release, files


def test_release_fetch_records_them_on_another_runner(tmp_path: Path, asks_sha1_md5: Asks) -> None:
    with registered(Folder(tmp_path / "remote"), "folder"):
        built = make_project(tmp_path / "build", extra="publish: [folder]\n")
        assert run_cli(built, "release", "create", "1.0.0").code == 0
        runner = make_project(tmp_path / "runner", extra="publish: [folder]\n")
        (tmp_path / "runner" / "app.bin").unlink()  # this runner has no build: only the remote has the bytes
        fetched = run_cli(runner, "release", "fetch", "1.0.0")
    assert fetched.code == 0, fetched.err
    assert _record(tmp_path / "runner", "sha1").read_text().strip() == hashlib.sha1(PAYLOAD).hexdigest()


def test_no_record_without_a_plugin_asking(tmp_path: Path) -> None:
    config = make_project(tmp_path)
    assert run_cli(config, "release", "create", "1.0.0").code == 0
    assert not (tmp_path / ".trainmaster" / "store" / "digests").exists()


def test_further_digests_of_a_file_of_many_chunks_match_hashlib(tmp_path: Path) -> None:
    """More chunks than the copy has buffers, and a short last one: no buffer is reused under a hasher."""
    data = os.urandom((2 << 20) * 9 + 12345)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    store = Store(tmp_path / "store")
    staged = store.stage(source, further=("sha1", "sha512"))
    assert staged.further == {"sha1": hashlib.sha1(data).hexdigest(), "sha512": hashlib.sha512(data).hexdigest()}
    final = store.commit(staged)
    assert final.read_bytes() == data
    assert store.recorded(staged.digest, "sha512") == hashlib.sha512(data).hexdigest()
    assert store.recorded(staged.digest, "md5") is None
    with pytest.raises(ValueError, match="unknown further digest"):
        store.stage(source, further=("crc32",))


def test_a_cancelled_copy_with_further_digests_leaves_no_thread_and_no_file(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(16 << 20))
    store = Store(tmp_path / "store")
    before = threading.active_count()
    cancel = threading.Event()
    seen = 0

    def progress(n: int) -> None:
        nonlocal seen
        seen += n
        if seen > 4 << 20:
            cancel.set()

    with pytest.raises(StagingCancelled):
        store.stage(source, progress, cancel, further=("sha1",))
    assert threading.active_count() == before
    assert list((tmp_path / "store" / "tmp").iterdir()) == []
    assert not (tmp_path / "store" / "digests").exists()


@pytest.mark.parametrize("content", ["", "not hex at all\n", "ABCDEF" * 6 + "0000\n", "0" * 39, "0" * 41, "0" * 80])
def test_a_record_that_is_not_a_well_formed_digest_is_none(tmp_path: Path, content: str) -> None:
    store = Store(tmp_path / "store")
    digest = "sha256:" + "ab" * 32
    store.record(digest, {"sha1": "1" * 40})
    path = store.root / "digests" / "sha1" / "ab" / ("ab" * 32)
    assert store.recorded(digest, "sha1") == "1" * 40
    path.chmod(0o600)
    path.write_text(content)
    assert store.recorded(digest, "sha1") is None


def test_a_record_that_is_a_link_or_a_folder_is_none(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    digest = "sha256:" + "cd" * 32
    store.record(digest, {"sha1": "2" * 40})
    path = store.root / "digests" / "sha1" / "cd" / ("cd" * 32)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("3" * 40)
    path.unlink()
    path.symlink_to(elsewhere)
    assert store.recorded(digest, "sha1") is None
    path.unlink()
    path.mkdir()
    assert store.recorded(digest, "sha1") is None
    with pytest.raises(ValueError, match="not a sha1 hex digest"):
        store.record(digest, {"sha1": "4" * 39})
    record_digest(tmp_path / "not-in-a-store", digest, {"sha1": "5" * 40})  # not the store's file: nothing
    assert not (tmp_path / "digests").exists()


def test_a_further_digest_that_fails_keeps_no_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection (a hasher cannot fail otherwise): every buffer still reaches the writer, the thread
    ends, the staged file is removed and the failure is raised, not a copy with an unproven digest."""
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(12 << 20))
    real = hashlib.new

    class Breaks:
        def __init__(self) -> None:
            self.calls = 0

        def update(self, data: Any) -> None:
            self.calls += 1
            if self.calls == 3:
                raise MemoryError("injected")

        def hexdigest(self) -> str:
            return "0" * 40

    monkeypatch.setattr(hashlib, "new", lambda name, **kw: Breaks() if name == "sha1" else real(name, **kw))
    store = Store(tmp_path / "store")
    before = threading.active_count()
    with pytest.raises(Exception, match="injected"):
        store.stage(source, further=("sha1",))
    assert threading.active_count() == before
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


def test_a_linked_record_folder_is_neither_read_nor_written_through(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    digest = "sha256:" + "ef" * 32
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / ("ef" * 32)).write_text("6" * 40)
    (store.root / "digests" / "sha1").mkdir(parents=True)
    (store.root / "digests" / "sha1" / "ef").symlink_to(elsewhere)
    assert store.recorded(digest, "sha1") is None
    store.record(digest, {"sha1": "7" * 40})
    assert (elsewhere / ("ef" * 32)).read_text() == "6" * 40 and sorted(p.name for p in elsewhere.iterdir()) == [
        "ef" * 32]


def test_taking_back_a_record_that_is_a_folder_is_no_error(tmp_path: Path, asks_sha1_md5: Asks) -> None:
    """``release delete`` (and a refused create) go on when the record's place holds something else."""
    config = make_project(tmp_path)
    assert run_cli(config, "release", "create", "1.0.0").code == 0
    record = _record(tmp_path, "sha1")
    record.unlink()
    record.mkdir()
    deleted = run_cli(config, "release", "delete", "1.0.0", "--by", "me")
    assert deleted.code == 0, deleted.err
    assert not _record(tmp_path, "md5").exists()


def test_a_plugin_answering_one_name_as_a_string_is_understood(tmp_path: Path) -> None:
    config = make_project(tmp_path)

    class One:
        @hookimpl
        def package_digests(self, config: Any) -> str:
            return "sha1"

    with registered(One(), "one"):
        created = run_cli(config, "release", "create", "1.0.0")
    assert created.code == 0 and "warning" not in created.err, created.err
    assert _record(tmp_path, "sha1").read_text().strip() == hashlib.sha1(PAYLOAD).hexdigest()
