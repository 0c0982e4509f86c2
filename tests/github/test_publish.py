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

from tests.support.github import Sleeps, environ, load, make_project, package, release
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


def api(fake: Any, method: str, path: str, **kw: Any) -> Any:
    """A request straight to the fake's API (another tool acting on the repository)."""
    import requests

    headers = {"Authorization": f"Bearer {fake.token}", "X-GitHub-Api-Version": "2022-11-28"}
    resp = requests.request(method, f"{fake.url}/repos/acme/app{path}", headers=headers, timeout=10, **kw)
    assert resp.status_code < 300, resp.text
    return resp.json() if resp.content else None


def test_the_fake_renames_assets_like_github(github_fake: Any) -> None:
    import requests

    draft = api(github_fake, "POST", "/releases", json={"tag_name": "x", "draft": True})
    resp = requests.post(
        draft["upload_url"].split("{")[0],
        params={"name": ".my app+1 (x86).bin~"},
        data=b"x",
        headers={"Authorization": f"Bearer {github_fake.token}", "Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert resp.status_code == 201 and resp.json()["name"] == "my.app.1.x86..bin"


def test_asset_names_are_the_names_github_keeps(github_fake: Any, tmp_path: Path) -> None:
    from trainmaster_github._publish import _clean

    config = load(make_project(tmp_path))
    odd = tmp_path / "build" / "my app+1 (x86).bin"
    odd.write_bytes(b"odd")
    rel, files = release(tmp_path)
    with_odd = Release(rel.project, rel.version, (*rel.packages, package("odd", odd)), rel.metadata)
    files = {**files, "odd": odd}
    assert _clean(odd.name) == "my.app.1.x86..bin" and _clean("-.a..b_c-.") == "-.a..b_c-"
    assert publisher(github_fake).ensure(with_odd, files, config).state == "created"
    names = {a["name"] for a in repo(github_fake).assets.values()}
    assert "my.app.1.x86..bin" in names
    assert publisher(github_fake).check(with_odd, config).state == "exists"
    fetched = publisher(github_fake).fetch("1.2.3", tmp_path / "dl", config)
    assert fetched is not None and fetched[1]["odd"].read_bytes() == b"odd"


def test_an_asset_github_renamed_is_removed_and_refused(
    github_fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainmaster_github import _publish

    config = load(make_project(tmp_path))
    (tmp_path / "build" / "app+1.bin").write_bytes(b"app")
    rel, files = release(tmp_path)
    pkg = package("app", tmp_path / "build" / "app+1.bin")
    odd = Release(rel.project, rel.version, (pkg,), rel.metadata)
    monkeypatch.setattr(_publish, "_clean", lambda name: name)  # a name GitHub does not keep
    with pytest.raises(InvalidInput) as info:
        publisher(github_fake).ensure(odd, {"app": tmp_path / "build" / "app+1.bin"}, config)
    assert info.value.exit_code == 2
    assert "'app+1.bin'" in str(info.value) and "'app.1.bin'" in str(info.value)
    assert [a["name"] for a in repo(github_fake).assets.values()] == [RECORD]


def test_an_empty_package_is_refused_before_any_request(github_fake: Any, tmp_path: Path) -> None:
    from trainmaster_github._publish import _complete

    config = load(make_project(tmp_path, docs=b""))
    rel, files = release(tmp_path)
    with pytest.raises(InvalidInput) as info:
        publisher(github_fake).ensure(rel, files, config)
    assert info.value.exit_code == 2 and "GitHub rejects empty release assets" in str(info.value)
    assert "docs" in str(info.value) and github_fake.calls == []
    assert _complete({"state": "uploaded", "size": 0}, 0, None) is True
    assert _complete({"state": "uploaded"}, 0, None) is False


def test_a_foreign_draft_for_the_tag_is_left_alone(github_fake: Any, tmp_path: Path) -> None:
    foreign = api(
        github_fake,
        "POST",
        "/releases",
        json={"tag_name": "v1.2.3", "name": "By a bot", "body": "notes", "draft": True, "target_commitish": "main"},
    )
    config = load(make_project(tmp_path))
    rel, files = release(tmp_path)
    assert publisher(github_fake).ensure(rel, files, config).state == "created"
    ours = next(r for r in repo(github_fake).releases.values() if not r["draft"])
    assert ours["id"] != foreign["id"] and ours["target_commitish"] == "c" * 40
    assert ours["name"] == "demo 1.2.3" and "trainmaster-release-id" in ours["body"]
    left = repo(github_fake).releases[foreign["id"]]
    assert left["draft"] is True and left["body"] == "notes" and left["target_commitish"] == "main"
    assert not [a for a in repo(github_fake).assets.values() if a["_release"] == foreign["id"]]


def test_a_stale_draft_of_another_build_is_replaced(
    github_fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load(make_project(tmp_path))
    rel, files = release(tmp_path)
    real_upload = GitHubPublisher._upload

    def dies(self: GitHubPublisher, client: Any, gh: Any, assets: Any, name: str, *rest: Any) -> None:
        if name != RECORD:
            raise KeyboardInterrupt("the runner was cancelled")
        real_upload(self, client, gh, assets, name, *rest)

    monkeypatch.setattr(GitHubPublisher, "_upload", dies)
    with pytest.raises(KeyboardInterrupt):
        publisher(github_fake).ensure(rel, files, config)
    monkeypatch.setattr(GitHubPublisher, "_upload", real_upload)
    (stale,) = repo(github_fake).releases.values()
    (tmp_path / "build" / "app.bin").write_bytes(b"rebuilt")
    other, files2 = release(tmp_path)
    result = publisher(github_fake).ensure(other, files2, config)
    assert result.state == "created", result.detail
    (gh,) = repo(github_fake).releases.values()
    assert gh["id"] != stale["id"] and gh["draft"] is False and other.id in gh["body"]
    assert_single_complete_release(github_fake, other)


def test_prerelease_and_make_latest_follow_semver(
    github_fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainmaster_github.client import GitHubClient

    sent: list[tuple[str, Any]] = []
    real_call = GitHubClient.call

    def spy(self: GitHubClient, method: str, path: str, **kw: Any) -> Any:
        if method == "PATCH":
            sent.append((path, kw.get("json")))
        return real_call(self, method, path, **kw)

    monkeypatch.setattr(GitHubClient, "call", spy)
    config = load(make_project(tmp_path))
    for version in ("2.0.0", "1.0.0+build-5", "3.0.0-rc.1", "2.1.0"):
        rel, files = release(tmp_path, version)
        assert publisher(github_fake).ensure(rel, files, config).state == "created"
    latest = [body["make_latest"] for _, body in sent]
    assert latest == ["true", "false", "false", "true"]
    prerelease = {r["tag_name"]: r["prerelease"] for r in repo(github_fake).releases.values()}
    assert prerelease == {"v2.0.0": False, "v1.0.0+build-5": False, "v3.0.0-rc.1": True, "v2.1.0": False}


def test_a_tag_with_url_characters_is_quoted(github_fake: Any, tmp_path: Path) -> None:
    text = make_project(tmp_path).read_text().replace("acme/app", "acme/app\n  tag: rel#{version}")
    config = load(make_project(tmp_path, config=text))
    rel, files = release(tmp_path)
    assert publisher(github_fake).ensure(rel, files, config).state == "created"
    assert publisher(github_fake).ensure(rel, files, config).state == "exists"
    assert github_fake.count("repos/get-release-by-tag", 200) == 1
    assert github_fake.count("repos/list-releases") == 1  # only the first run had to look for drafts


def test_our_draft_left_at_another_commit_is_pointed_at_the_build(
    github_fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load(make_project(tmp_path))
    rel, files = release(tmp_path)
    real_upload = GitHubPublisher._upload

    def dies(self: GitHubPublisher, client: Any, gh: Any, assets: Any, name: str, *rest: Any) -> None:
        if name != RECORD:
            raise KeyboardInterrupt("the runner was cancelled")
        real_upload(self, client, gh, assets, name, *rest)

    monkeypatch.setattr(GitHubPublisher, "_upload", dies)
    with pytest.raises(KeyboardInterrupt):
        publisher(github_fake).ensure(rel, files, config)
    monkeypatch.setattr(GitHubPublisher, "_upload", real_upload)
    rebuilt = Release(rel.project, rel.version, rel.packages, {**rel.metadata, "source": {"commit": "d" * 40}})
    assert rebuilt.id == rel.id
    assert publisher(github_fake).ensure(rebuilt, files, config).state == "created"
    gh = assert_single_complete_release(github_fake, rel)
    assert gh["target_commitish"] == "d" * 40


@pytest.mark.parametrize("answer", [{"digest": None}, {"digest": ""}, {"size": "many"}, {"size": [1]}])
def test_a_draft_asset_github_vouches_for_no_digest_of_is_uploaded_again(
    github_fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any]
) -> None:
    """An interrupted draft's asset with the right size but no digest (or a malformed size) is not taken
    as the pinned bytes: it is replaced by a fresh, checked upload (no traceback on a malformed field)."""
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
    pkg = next(p for p in rel.packages if p.file_name in done)
    stale = next(a for a in repo(github_fake).assets.values() if a["name"] == pkg.file_name)
    stale["digest"] = "sha256:" + "0" * 64  # other bytes of the same size landed there ...
    stale.update(answer)  # ... and GitHub's answer does not say so
    result = publisher(github_fake).ensure(rel, files, config)
    assert result.state == "created"
    assert_single_complete_release(github_fake, rel)
    assert stale["id"] not in repo(github_fake).assets
    if "size" in answer:  # off the description on purpose: the fake noted its own answers
        assert github_fake.response_problems
        github_fake.response_problems.clear()
