"""Releases: content-derived ids, SemVer, idempotency, conflicts, the store, digest pins."""

from __future__ import annotations

import hashlib
import json
import os
import stat

from tests.support.project import Project
from trainmaster.model import Package, Release, compute_release_id


def test_release_id_hashes_only_identity_fields() -> None:
    pkg = Package("app", "app.bin", 3, "sha256:" + "a" * 64, "application/octet-stream")
    a = Release("demo", "1.0.0", (pkg,), {"notes": "one", "created_by": "alice"})
    b = Release("demo", "1.0.0", (Package("app", "app.bin", 3, "sha256:" + "a" * 64),), {"notes": "two"})
    assert a.id == b.id
    body = json.dumps({"packages": [{"digest": "sha256:" + "a" * 64, "file_name": "app.bin",
                                     "media_type": "application/octet-stream", "name": "app", "size": 3}],
                       "project": "demo", "version": "1.0.0"}, sort_keys=True, separators=(",", ":"))
    assert a.id == "sha256:" + hashlib.sha256(body.encode()).hexdigest()
    assert compute_release_id("demo", "1.0.1", (pkg,)) != a.id


def test_create_is_idempotent_and_metadata_is_not_hashed(project: Project) -> None:
    first = project.json("release", "create", "1.0.0", "--notes", "first")
    again = project.json("release", "create", "1.0.0", "--notes", "a different note")
    assert first["created"] is True and again["created"] is False
    assert first["release"]["id"] == again["release"]["id"]
    assert again["release"]["metadata"]["notes"] == "first"  # the record is immutable
    pkg = first["release"]["packages"][0]
    data = (project.root / "build/app.bin").read_bytes()
    assert pkg["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert pkg["size"] == len(data) and pkg["file_name"] == "app.bin"


def test_same_version_with_other_content_is_a_conflict_that_changes_nothing(project: Project) -> None:
    project.ok("release", "create", "1.0.0")
    before = project.snapshot()
    project.build("different")
    result = project.run("release", "create", "1.0.0")
    assert result.returncode == 4
    assert "already exists" in result.stderr and "Traceback" not in result.stderr
    assert project.snapshot() == before
    assert not list((project.state / "store" / "tmp").iterdir())


def test_stored_files_are_read_only_and_content_addressed(project: Project) -> None:
    rel = project.json("release", "create", "1.0.0")["release"]
    digest = rel["packages"][0]["digest"].split(":")[1]
    stored = project.state / "store" / "sha256" / digest[:2] / digest
    assert stored.read_bytes() == (project.root / "build/app.bin").read_bytes()
    assert not stored.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_package_pinned_by_digest_from_the_store(project: Project) -> None:
    """A train can pin a component built elsewhere by the digest of a stored package."""
    first = project.json("release", "create", "1.0.0")["release"]["packages"][0]
    (project.root / "build/app.bin").unlink()
    second = project.json("release", "create", "1.1.0", "--package", f"app={first['digest']}")["release"]
    pkg = second["packages"][0]
    assert pkg["digest"] == first["digest"] and pkg["file_name"] == "app.bin" and pkg["size"] == first["size"]
    unknown = project.run("release", "create", "1.2.0", "--package", "app=sha256:" + "b" * 64)
    assert unknown.returncode == 2 and "not in the store" in unknown.stderr


def test_several_packages_keep_declared_order(project: Project) -> None:
    project.write("trainmaster.yaml", """\
        project: demo
        packages:
          db: build/db.sql
          api: build/api.tar.gz
          web: {path: "build/web-*.zip", media_type: application/x-web}
        train:
          - name: dev
            deploy: "true"
        """)
    project.write("build/db.sql", "create table t;")
    project.write("build/api.tar.gz", "api")
    project.write("build/web-1.zip", "web")
    rel = project.json("release", "create", "2.0.0")["release"]
    assert [p["name"] for p in rel["packages"]] == ["db", "api", "web"]
    assert [p["media_type"] for p in rel["packages"]] == ["application/octet-stream", "application/gzip",
                                                          "application/x-web"]


def test_a_glob_must_match_exactly_one_file(project: Project) -> None:
    project.write("trainmaster.yaml", """\
        project: demo
        packages: {app: "build/*.bin"}
        train: [{name: dev, deploy: "true"}]
        """)
    project.build(name="build/other.bin")
    result = project.run("release", "create", "1.0.0")
    assert result.returncode == 2
    assert "matches 2" in result.stderr and "app.bin" in result.stderr and "other.bin" in result.stderr
    (project.root / "build/other.bin").unlink()
    (project.root / "build/app.bin").unlink()
    none = project.run("release", "create", "1.0.0")
    assert none.returncode == 2 and "matches no file" in none.stderr


def test_a_literal_path_with_glob_characters(project: Project) -> None:
    project.build(name="build/app[1].bin")
    rel = project.json("release", "create", "1.0.0", "--package", "app=build/app[1].bin")["release"]
    assert rel["packages"][0]["file_name"] == "app[1].bin"


def test_show_list_and_verify(project: Project) -> None:
    rel = project.json("release", "create", "1.0.0", "--notes", "hello")["release"]
    shown = project.json("release", "show", "1.0.0")
    assert shown["id"] == rel["id"] and shown["metadata"]["notes"] == "hello"
    listed = project.json("release", "list")["releases"]
    assert [r["version"] for r in listed] == ["1.0.0"]
    out = project.ok("release", "verify", "1.0.0").stdout
    assert rel["id"] in out


def test_creator_is_the_os_user_outside_ci(project: Project) -> None:
    import getpass

    rel = project.json("release", "create", "1.0.0")["release"]
    assert rel["metadata"]["created_by"] == getpass.getuser()
    assert rel["metadata"]["source"] == {"ci": "none"}


def test_a_progress_bar_on_a_terminal_for_a_large_artefact(project: Project) -> None:
    """Hashing a large artefact shows a progress bar when stderr is a terminal, and only then."""
    import pty
    import subprocess
    import sys

    with open(project.root / "build/app.bin", "wb") as fh:
        fh.truncate(80 << 20)  # 80 MiB
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "trainmaster", "release", "create", "1.0.0"], cwd=project.root,
                            env=project.env, stdout=subprocess.PIPE, stderr=secondary, text=True)
    os.close(secondary)
    out, _ = proc.communicate(timeout=60)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    assert proc.returncode == 0, out
    assert b"hashing app.bin [" in seen and b"100%" in seen
    piped = project.run("release", "create", "1.0.1")
    assert piped.returncode == 0 and "hashing" not in piped.stderr


def test_store_stages_large_files_exactly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Preallocation and early write-back leave the staged copy byte for byte equal to the source."""
    from trainmaster.store import FLUSH_EVERY, Store

    source = tmp_path / "big.bin"
    with open(source, "wb") as fh:
        fh.truncate(FLUSH_EVERY * 2 + 12345)  # sparse: cheap to make, crosses two write-back points
        fh.seek(FLUSH_EVERY + 7)
        fh.write(b"not all zeros")
    store = Store(tmp_path / "store")
    staged = store.stage(source)
    expected = hashlib.sha256()
    with open(source, "rb") as fh:
        while chunk := fh.read(1 << 20):
            expected.update(chunk)
    assert staged.digest == "sha256:" + expected.hexdigest()
    assert staged.size == source.stat().st_size == staged.tmp_path.stat().st_size
    final = store.commit(staged)
    assert store.intact(staged.digest) and final.stat().st_size == staged.size


def test_staging_cleans_up_when_interrupted(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An exception in the middle of a copy stops both threads and leaves no staging file behind."""
    import threading

    import pytest as _pytest

    from trainmaster.store import Store

    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(3 << 20))
    store = Store(tmp_path / "store")

    def boom(n: int) -> None:
        raise KeyboardInterrupt

    with _pytest.raises(KeyboardInterrupt):
        store.stage(source, progress=boom)
    assert not [t for t in threading.enumerate() if t.name.startswith("store-")]
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


def test_a_failed_write_back_is_not_hidden_by_the_final_fsync(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Through the page cache (a filesystem without direct I/O), a failed early write-back still fails the copy."""
    import pytest as _pytest

    from trainmaster import _ingest
    from trainmaster import store as store_module
    from trainmaster.errors import InvalidInput

    source = tmp_path / "src.bin"
    with open(source, "wb") as fh:
        fh.truncate(store_module.FLUSH_EVERY + (1 << 20))

    def eio(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(_ingest, "_direct", lambda fd: False)
    monkeypatch.setattr(store_module.os, "fdatasync", eio)
    with _pytest.raises(InvalidInput, match="Input/output error"):
        store_module.Store(tmp_path / "store").stage(source)
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


def test_a_failed_direct_write_fails_the_copy_and_leaves_nothing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A write error reported by the disk (EIO) is an error, not a truncated store file; no staging file stays."""
    import pytest as _pytest

    from trainmaster import store as store_module
    from trainmaster.errors import InvalidInput

    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(5 * store_module.COPY_CHUNK + 99))
    real = os.pwrite
    calls = []

    def eio_on_third(fd: int, data, offset: int) -> int:  # type: ignore[no-untyped-def]
        calls.append(offset)
        if len(calls) == 3:
            raise OSError(5, "Input/output error")
        return real(fd, data, offset)

    monkeypatch.setattr(store_module.os, "pwrite", eio_on_third)
    with _pytest.raises(InvalidInput, match="Input/output error"):
        store_module.Store(tmp_path / "store").stage(source)
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


def test_a_refused_direct_write_falls_back_to_the_page_cache(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A filesystem that refuses a direct write's alignment (EINVAL) still gets an exact copy."""
    import fcntl

    from trainmaster import store as store_module

    source = tmp_path / "src.bin"
    data = os.urandom(3 * store_module.COPY_CHUNK + 4097)
    source.write_bytes(data)
    real = os.pwrite
    refused = []

    def picky(fd: int, chunk, offset: int) -> int:  # type: ignore[no-untyped-def]
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(offset)
            raise OSError(22, "Invalid argument")
        return real(fd, chunk, offset)

    monkeypatch.setattr(store_module.os, "pwrite", picky)
    store = store_module.Store(tmp_path / "store")
    staged = store.stage(source)
    assert refused, "the copy must have tried direct I/O first (the point of this test)"
    assert staged.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert staged.tmp_path.read_bytes() == data
    assert store.commit(staged).read_bytes() == data


def test_a_read_error_midway_is_invalid_input_and_leaves_nothing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The source failing in the middle of the copy (EIO) is exit 2 naming it; no staging file, no thread stays."""
    import threading

    import pytest as _pytest

    from trainmaster import _ingest
    from trainmaster import store as store_module
    from trainmaster.errors import InvalidInput

    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(4 * store_module.COPY_CHUNK))
    real = _ingest._fill
    reads = []

    def failing(fh, buffer):  # type: ignore[no-untyped-def]
        reads.append(len(buffer))
        if len(reads) == 3:
            raise OSError(5, "Input/output error")
        return real(fh, buffer)

    monkeypatch.setattr(_ingest, "_fill", failing)
    with _pytest.raises(InvalidInput, match=f"cannot read {source}: Input/output error"):
        store_module.Store(tmp_path / "store").stage(source)
    assert list((tmp_path / "store" / "tmp").iterdir()) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("store-")]


def test_a_refusal_after_the_copy_started_leaves_nothing_behind(project: Project) -> None:
    """``release create`` copies the files while it loads plugins and opens the ledger; a refusal then
    (here ``--by`` inside CI, checked after the copy has started) leaves no staged file and no release."""
    project.write("app.bin", "x" * (24 << 20))
    refused = project.run("release", "create", "1.0.0", "--by", "mallory", env={"CI": "true"})
    assert refused.returncode == 2 and "--by is refused inside CI" in refused.stderr
    assert "Traceback" not in refused.stderr
    store = project.state / "store"
    assert [p for p in store.rglob("*") if p.is_file()] == []
    assert "1.0.0" not in project.ok("release", "list").stdout


def test_staging_thread_cancel_stops_within_a_chunk_and_discards(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sys
    import threading

    from trainmaster.store import COPY_CHUNK, StagingThread, Store

    source = tmp_path / "big.bin"
    with open(source, "wb") as fh:
        fh.truncate(64 * COPY_CHUNK)
    started, copied = threading.Event(), []
    switch = sys.getswitchinterval()

    def progress(n: int) -> None:
        copied.append(n)
        started.set()
        staging.stop.wait(10)  # hold the copy at its first chunk until cancel() is called

    store = Store(tmp_path / "store")
    staging = StagingThread(store, [(source, progress)])
    assert started.wait(10)
    staging.cancel()
    assert not staging.thread.is_alive() and sum(copied) <= 2 * COPY_CHUNK
    assert list((tmp_path / "store" / "tmp").iterdir()) == []
    assert sys.getswitchinterval() == switch


def test_staging_thread_result_raises_what_staging_raised(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest as _pytest

    from trainmaster.errors import InvalidInput
    from trainmaster.store import StagingThread, Store

    good = tmp_path / "good.bin"
    good.write_bytes(b"kept only if both copy")
    store = Store(tmp_path / "store")
    staging = StagingThread(store, [(good, None), (tmp_path / "gone.bin", None)])
    with _pytest.raises(InvalidInput, match="cannot read .*gone.bin"):
        staging.result()
    assert list((tmp_path / "store" / "tmp").iterdir()) == []


def test_staging_thread_cancel_after_the_copy_discards_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What ``release create`` does when a check after the copy fails: nothing staged stays behind."""
    from trainmaster.store import StagingThread, Store

    source = tmp_path / "app.bin"
    source.write_bytes(os.urandom(1 << 20))
    store = Store(tmp_path / "store")
    staging = StagingThread(store, [(source, None)])
    (staged,) = staging.result()
    assert staged.tmp_path.is_file()
    staging.cancel()
    assert list((tmp_path / "store" / "tmp").iterdir()) == []
