"""Built-in feed naming, the deterministic wrapper and the streaming multipart body."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from tests.support.octopus import make_release
from trainmaster.errors import InvalidInput
from trainmaster_octopus._multipart import MultipartFile, file_hashes
from trainmaster_octopus._wrap import check_package_id, feed_extension, plan_feed_file


@pytest.mark.parametrize(("name", "ext"), [("a.tar.gz", ".tar.gz"), ("a.tgz", ".tgz"), ("a.tar.bz2", ".tar.bz2"),
                                           ("a.nupkg", ".nupkg"), ("a.war", ".war"), ("a.ZIP", ".zip"),
                                           ("a.bin", None), ("a.gz", None), ("a.tar.xz", None)])
def test_supported_formats(name, ext):
    assert feed_extension(name) == ext


@pytest.mark.parametrize("bad", ["", "my app", "app.2x", "a..b"])
def test_package_ids_octopus_would_misparse_are_refused(bad):
    with pytest.raises(InvalidInput, match="octopus.packages"):
        check_package_id(bad)


def test_wrapper_is_deterministic_and_holds_the_identity(tmp_path):
    release, paths = make_release(tmp_path, {"tool.bin": b"\x00\x01binary" * 1000})
    digests = []
    for run in ("a", "b"):
        work = tmp_path / run
        work.mkdir()
        paths["tool"].touch()  # a different mtime must not change the wrapper
        feed = plan_feed_file(release, release.packages[0], paths["tool"], "Tool", work)
        assert feed.wrapped and feed.file_name == "Tool.1.2.3.zip"
        digests.append(hashlib.sha256(feed.path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    with zipfile.ZipFile(feed.path) as zf:
        assert zf.namelist() == ["release.json", "tool.bin"]
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) and i.external_attr >> 16 == 0o100644 for i in zf.infolist())
        assert release.id.encode() in zf.read("release.json")
        assert zf.read("tool.bin") == paths["tool"].read_bytes()


def test_supported_artefact_is_not_wrapped(tmp_path):
    release, paths = make_release(tmp_path, {"web.tar.gz": b"tgz"})
    feed = plan_feed_file(release, release.packages[0], paths["web"], "Web", tmp_path)
    assert not feed.wrapped and feed.path == paths["web"] and feed.file_name == "Web.1.2.3.tar.gz"


def test_multipart_body_is_sized_streamed_and_hashed(tmp_path):
    data = bytes(range(256)) * 5000
    path = tmp_path / "p.zip"
    path.write_bytes(data)
    body = MultipartFile(path, "P.1.0.0.zip", chunk=4096)
    chunks = list(body)
    joined = b"".join(chunks)
    assert len(joined) == len(body) and max(len(c) for c in chunks) == 4096
    assert b'name="fileToUpload"; filename="P.1.0.0.zip"' in joined and data in joined
    assert body.complete and body.sha256 == file_hashes(path)[1] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert b"".join(body) == joined  # re-iterable for a retry
