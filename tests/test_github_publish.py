"""The ``github`` publisher against the contract-checked GitHub fake (real HTTP over loopback).

Draft → assets (release.json first) → publish; idempotent re-runs; conflicts; interrupted drafts
completed; fetch with digest verification; faults survived without duplicates.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_github_support import Sleeps, environ, load, make_project, release
from trainmaster.errors import DigestMismatch, InvalidInput
from trainmaster.model import Package, Release
from trainmaster_github._publish import RECORD, GitHubPublisher
from trainmaster_github.client import GitHubAuthError, GitHubNotFound, GitHubPermissionError


def repo(fake: Any) -> Any:
    return fake.repos[("acme", "app")]


def publisher(fake: Any, sleeps: Sleeps | None = None, **env: str) -> GitHubPublisher:
    return GitHubPublisher(environ(fake, **env), **(sleeps if sleeps is not None else Sleeps()).kw())


def assert_single_complete_release(fake: Any, rel: Release) -> dict[str, Any]:
    releases = list(repo(fake).releases.values())
    assert len(releases) == 1, releases
    gh = releases[0]
    assert gh["draft"] is False and gh["tag_name"] == f"v{rel.version}"
    assets = [a for a in repo(fake).assets.values() if a["_release"] == gh["id"]]
    names = sorted(a["name"] for a in assets)
    assert names == sorted([RECORD, "app.bin", "docs.tar.gz"]), names
    for pkg in rel.packages:
        asset = next(a for a in assets if a["name"] == pkg.file_name)
        assert asset["digest"] == pkg.digest and asset["size"] == pkg.size
    record = next(a for a in assets if a["name"] == RECORD)
    assert json.loads(repo(fake).blobs[record["id"]])["id"] == rel.id
    return gh


def test_creates_draft_uploads_then_publishes(github_fake: Any, tmp_path: Path) -> None:
    config = load(make_project(tmp_path))
    rel, files = release(tmp_path)
    result = publisher(github_fake).ensure(rel, files, config)
    assert result.state == "created" and result.url and result.url.endswith("/releases/tag/v1.2.3")
    gh = assert_single_complete_release(github_fake, rel)
    assert gh["target_commitish"] == "c" * 40 and gh["body"].startswith("first")
    ops = [c.operation_id for c in github_fake.calls]
    create, publish = ops.index("repos/create-release"), ops.index("repos/update-release")
    uploads = [i for i, op in enumerate(ops) if op == "repos/upload-release-asset"]
    assert create < min(uploads) and max(uploads) < publish and len(uploads) == 3
    assert github_fake.calls_to("repos/create-release")[0].status == 201


def test_rerun_is_a_no_op(github_fake: Any, tmp_path: Path) -> None:
    config = load(make_project(tmp_path))
    rel, files = release(tmp_path)
    publisher(github_fake).ensure(rel, files, config)
    github_fake.reset_log()
    result = publisher(github_fake).ensure(rel, files, config)
    assert result.state == "exists"
    writes = [c for c in github_fake.calls if c.method != "GET"]
    assert writes == []


def test_different_content_same_version_is_a_conflict_naming_both_ids(github_fake: Any, tmp_path: Path) -> None:
    config = load(make_project(tmp_path))
    rel, files = release(tmp_path)
    publisher(github_fake).ensure(rel, files, config)
    (tmp_path / "build" / "app.bin").write_bytes(b"something else")
    other, files2 = release(tmp_path)
    result = publisher(github_fake).ensure(other, files2, config)
    assert result.state == "conflict"
    assert rel.id in result.detail and other.id in result.detail
    assert len(repo(github_fake).releases) == 1


def test_interrupted_draft_is_completed_not_duplicated(
    github_fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load(make_project(tmp_path))
    rel, files = release(tmp_path)
    real_upload = GitHubPublisher._upload
    done: list[str] = []

    def dies_after_two(self: GitHubPublisher, client: Any, gh: Any, assets: Any, name: str, *rest: Any) -> None:
        if len(done) == 2:
            raise KeyboardInterrupt("the runner was cancelled")
        real_upload(self, client, gh, assets, name, *rest)
        done.append(name)

    monkeypatch.setattr(GitHubPublisher, "_upload", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        publisher(github_fake).ensure(rel, files, config)
    monkeypatch.setattr(GitHubPublisher, "_upload", real_upload)
    draft = next(iter(repo(github_fake).releases.values()))
    assert draft["draft"] is True and len(repo(github_fake).assets) == 2
    github_fake.reset_log()
    result = publisher(github_fake).ensure(rel, files, config)
    assert result.state == "created"
    gh = assert_single_complete_release(github_fake, rel)
    assert gh["id"] == draft["id"]
    assert github_fake.count("repos/create-release") == 0
    assert github_fake.count("repos/upload-release-asset") == 1


@pytest.mark.parametrize(
    "fault",
    [
        "throttle",
        "bad_gateway",
        "reset_during_upload",
        "lost_201_release",
        "lost_201_asset",
        "secondary_limit",
        "primary_limit",
    ],
)
def test_faults_are_survived_without_duplicates(github_fake: Any, tmp_path: Path, fault: str) -> None:
    config = load(make_project(tmp_path, app=b"A" * 3_000_000))
    rel, files = release(tmp_path)
    if fault == "throttle":
        github_fake.throttle(retry_after=3, operation_id="repos/create-release")
    elif fault == "bad_gateway":
        github_fake.fail(502, count=2, operation_id="repos/list-releases")
        github_fake.fail(502, operation_id="repos/upload-release-asset")
    elif fault == "reset_during_upload":
        github_fake.drop_upload(after_bytes=1_000_000, operation_id="repos/upload-release-asset", path="assets")
    elif fault == "lost_201_release":
        github_fake.lose_response(operation_id="repos/create-release")
    elif fault == "lost_201_asset":
        github_fake.lose_response(operation_id="repos/upload-release-asset")
    elif fault == "secondary_limit":
        github_fake.secondary_rate_limit(retry_after=2, operation_id="repos/upload-release-asset")
    else:
        github_fake.rate_limit_exhausted(reset_in=5, operation_id="repos/get-release-by-tag")
    sleeps = Sleeps()
    result = publisher(github_fake, sleeps).ensure(rel, files, config)
    assert result.state == "created"
    assert_single_complete_release(github_fake, rel)
    assert any(c.fault for c in github_fake.calls), "the fault was never triggered"
    if fault == "throttle":
        assert sleeps == [3.0]
    if fault == "secondary_limit":
        assert sleeps == [2.0]
    if fault == "primary_limit":
        assert len(sleeps) == 1 and 4 <= sleeps[0] <= 7


def test_package_of_two_gib_is_refused_before_any_request(github_fake: Any, tmp_path: Path) -> None:
    config = load(make_project(tmp_path))
    rel, files = release(tmp_path)
    big = Package("big", "big.iso", 2 * 1024**3, "sha256:" + "0" * 64)
    huge = Release(rel.project, rel.version, (*rel.packages, big))
    with pytest.raises(InvalidInput) as info:
        publisher(github_fake).ensure(huge, {**files, "big": tmp_path / "big.iso"}, config)
    assert info.value.exit_code == 2 and "2 GiB" in str(info.value)
    assert github_fake.calls == []


def test_fetch_downloads_and_verifies(github_fake: Any, tmp_path: Path) -> None:
    config = load(make_project(tmp_path))
    rel, files = release(tmp_path)
    publisher(github_fake).ensure(rel, files, config)
    fetched = publisher(github_fake).fetch("1.2.3", tmp_path / "dl", config)
    assert fetched is not None
    got, paths = fetched
    assert got.id == rel.id and got.metadata["notes"] == "first"
    for pkg in rel.packages:
        assert "sha256:" + hashlib.sha256(paths[pkg.name].read_bytes()).hexdigest() == pkg.digest
    assert publisher(github_fake).fetch("9.9.9", tmp_path / "dl2", config) is None


def test_fetch_detects_tampered_asset(github_fake: Any, tmp_path: Path) -> None:
    config = load(make_project(tmp_path))
    rel, files = release(tmp_path)
    publisher(github_fake).ensure(rel, files, config)
    asset = next(a for a in repo(github_fake).assets.values() if a["name"] == "app.bin")
    repo(github_fake).blobs[asset["id"]] = b"evil"
    with pytest.raises(DigestMismatch) as info:
        publisher(github_fake).fetch("1.2.3", tmp_path / "dl", config)
    assert info.value.exit_code == 4


def test_check_reports_missing_and_matching(github_fake: Any, tmp_path: Path) -> None:
    config = load(make_project(tmp_path))
    rel, files = release(tmp_path)
    assert publisher(github_fake).check(rel, config).state == "conflict"
    publisher(github_fake).ensure(rel, files, config)
    assert publisher(github_fake).check(rel, config).state == "exists"


def test_bad_token_missing_permission_unknown_repo_are_exit_2(github_fake: Any, tmp_path: Path) -> None:
    config = load(make_project(tmp_path))
    rel, files = release(tmp_path)
    with pytest.raises(GitHubAuthError) as auth:
        publisher(github_fake, GITHUB_TOKEN="ghp_wrongTOKEN123").ensure(rel, files, config)
    github_fake.fail(
        403,
        operation_id="repos/create-release",
        body={"message": "Resource not accessible by integration", "documentation_url": "x"},
    )
    with pytest.raises(GitHubPermissionError) as perm:
        publisher(github_fake).ensure(rel, files, config)
    bad = load(
        make_project(
            tmp_path / "other", config=(tmp_path / "trainmaster.yaml").read_text().replace("acme/app", "acme/nope")
        )
    )
    with pytest.raises(GitHubNotFound) as missing:
        publisher(github_fake).ensure(rel, files, bad)
    assert "permissions: contents: write" in str(perm.value)
    assert "acme/nope" in str(missing.value) and "github.repository" in str(missing.value)
    for err in (auth.value, perm.value, missing.value):
        assert err.exit_code == 2
        assert "ghp_wrongTOKEN123" not in str(err) and github_fake.token not in str(err)


def test_immutable_releases_work_and_the_expectation_is_checked(
    github_fake: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trainmaster_github import _settings

    _settings._warned.clear()
    github_fake.seed_repo("acme", "app", immutable_releases=True)
    text = (
        (make_project(tmp_path)).read_text().replace("repository: acme/app", "repository: acme/app\n  immutable: true")
    )
    config = load(make_project(tmp_path, config=text))
    rel, files = release(tmp_path)
    assert publisher(github_fake).ensure(rel, files, config).state == "created"
    gh = assert_single_complete_release(github_fake, rel)
    assert gh["immutable"] is True
    assert publisher(github_fake).ensure(rel, files, config).state == "exists"
    assert "immutable" not in capsys.readouterr().err
    github_fake.seed_repo("acme", "app", immutable_releases=False)
    rel2, files2 = release(tmp_path, "2.0.0")
    publisher(github_fake).ensure(rel2, files2, config)
    assert "did not mark v2.0.0 immutable" in capsys.readouterr().err
