"""Tests of the GitHub fake: contract checks per operation, state rules, faults and githubkit."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests

from tests.fakes.github import GitHubFake

API = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


def _h(fake: GitHubFake, **extra: str) -> dict[str, str]:
    return {**API, "Authorization": f"Bearer {fake.token}", **extra}


def _seed(fake: GitHubFake) -> dict[str, Any]:
    h = _h(fake)
    base = f"{fake.url}/repos/acme/app"
    rel = requests.post(f"{base}/releases", json={"tag_name": "v1.0.0", "draft": False}, headers=h).json()
    asset = requests.post(
        f"{fake.uploads_url}/repos/acme/app/releases/{rel['id']}/assets?name=a.bin",
        data=b"abc",
        headers=_h(fake, **{"Content-Type": "application/octet-stream"}),
    ).json()
    dep = requests.post(f"{base}/deployments", json={"ref": "v1.0.0", "environment": "staging"}, headers=h).json()
    st = requests.post(f"{base}/deployments/{dep['id']}/statuses", json={"state": "in_progress"}, headers=h).json()
    fake.set_environment("acme", "app", "staging", reviewers=["octocat"])
    return {"rel": rel["id"], "asset": asset["id"], "dep": dep["id"], "status": st["id"], "base": base}


# (operationId, method, path template, valid kwargs, invalid (method, path, kwargs))
CASES = [
    ("repos/list-releases", "GET", "{base}/releases", {}, ("GET", "{base}/releases?per_page=x", {})),
    (
        "repos/create-release",
        "POST",
        "{base}/releases",
        {"json": {"tag_name": "v2"}},
        ("POST", "{base}/releases", {"json": {"name": "no tag"}}),
    ),
    ("repos/get-release", "GET", "{base}/releases/{rel}", {}, ("GET", "{base}/releases/abc", {})),
    (
        "repos/update-release",
        "PATCH",
        "{base}/releases/{rel}",
        {"json": {"body": "notes"}},
        ("PATCH", "{base}/releases/{rel}", {"json": {"draft": "yes"}}),
    ),
    (
        "repos/get-release-by-tag",
        "GET",
        "{base}/releases/tags/v1.0.0",
        {},
        ("PUT", "{base}/releases/tags/v1.0.0", {}),
    ),
    ("repos/get-latest-release", "GET", "{base}/releases/latest", {}, ("POST", "{base}/releases/latest", {})),
    (
        "repos/list-release-assets",
        "GET",
        "{base}/releases/{rel}/assets",
        {},
        ("GET", "{base}/releases/{rel}/assets?page=first", {}),
    ),
    (
        "repos/upload-release-asset",
        "POST",
        "{uploads}/releases/{rel}/assets?name=b.bin",
        {"data": b"x"},
        ("POST", "{uploads}/releases/{rel}/assets", {"data": b"x"}),
    ),
    (
        "repos/get-release-asset",
        "GET",
        "{base}/releases/assets/{asset}",
        {},
        ("GET", "{base}/releases/assets/notanumber", {}),
    ),
    (
        "repos/update-release-asset",
        "PATCH",
        "{base}/releases/assets/{asset}",
        {"json": {"label": "L"}},
        ("PATCH", "{base}/releases/assets/{asset}", {"json": {"label": 5}}),
    ),
    (
        "repos/delete-release-asset",
        "DELETE",
        "{base}/releases/assets/{asset}",
        {},
        ("DELETE", "{base}/releases/assets/x1", {}),
    ),
    (
        "repos/list-deployments",
        "GET",
        "{base}/deployments?environment=staging",
        {},
        ("GET", "{base}/deployments?per_page=many", {}),
    ),
    (
        "repos/create-deployment",
        "POST",
        "{base}/deployments",
        {"json": {"ref": "main", "environment": "prod"}},
        ("POST", "{base}/deployments", {"json": {"environment": "prod"}}),
    ),
    ("repos/get-deployment", "GET", "{base}/deployments/{dep}", {}, ("GET", "{base}/deployments/one", {})),
    (
        "repos/list-deployment-statuses",
        "GET",
        "{base}/deployments/{dep}/statuses",
        {},
        ("PUT", "{base}/deployments/{dep}/statuses", {}),
    ),
    (
        "repos/create-deployment-status",
        "POST",
        "{base}/deployments/{dep}/statuses",
        {"json": {"state": "success"}},
        ("POST", "{base}/deployments/{dep}/statuses", {"json": {"state": "done"}}),
    ),
    (
        "repos/get-environment",
        "GET",
        "{base}/environments/staging",
        {},
        ("POST", "{base}/environments/staging", {}),
    ),
    ("repos/get-all-environments", "GET", "{base}/environments", {}, ("GET", "{base}/environment", {})),
]


@pytest.mark.parametrize("op_id,method,path,kwargs,invalid", CASES, ids=[c[0] for c in CASES])
def test_operation_accepts_valid_and_rejects_invalid(
    github_fake: GitHubFake,
    op_id: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    invalid: tuple[Any, ...],
) -> None:
    ids = _seed(github_fake)
    fmt = {**ids, "uploads": f"{github_fake.uploads_url}/repos/acme/app"}
    ok = requests.request(method, path.format(**fmt), headers=_h(github_fake), **kwargs)
    assert ok.status_code < 300, ok.text
    assert github_fake.calls[-1].operation_id == op_id
    assert github_fake.violations == []
    github_fake.expect_violations()
    bad_method, bad_path, bad_kwargs = invalid
    bad = requests.request(bad_method, bad_path.format(**fmt), headers=_h(github_fake), **bad_kwargs)
    assert 400 <= bad.status_code < 500
    assert set(bad.json()) >= {"message", "documentation_url"}
    assert len(github_fake.violations) == 1


def test_unknown_path_wrong_method_and_missing_field_are_violations(github_fake: GitHubFake) -> None:
    github_fake.expect_violations()
    h = _h(github_fake)
    assert requests.get(f"{github_fake.url}/repos/acme/app/nothing", headers=h).status_code == 404
    assert requests.delete(f"{github_fake.url}/rate_limit", headers=h).status_code == 405
    r = requests.post(f"{github_fake.url}/repos/acme/app/releases", json={"draft": True}, headers=h)
    assert r.status_code == 422 and "tag_name" in r.json()["message"]
    assert [v.status for v in github_fake.violations] == [404, 405, 422]


def test_upload_must_go_to_the_uploads_host(github_fake: GitHubFake) -> None:
    ids = _seed(github_fake)
    github_fake.expect_violations()
    r = requests.post(f"{ids['base']}/releases/{ids['rel']}/assets?name=c.bin", data=b"x", headers=_h(github_fake))
    assert r.status_code == 404
    assert "uploads host" in github_fake.violations[0].reason


def test_release_upload_url_is_a_uri_template_on_the_uploads_host(github_fake: GitHubFake) -> None:
    r = requests.post(f"{github_fake.url}/repos/acme/app/releases", json={"tag_name": "v9"}, headers=_h(github_fake))
    assert (
        r.json()["upload_url"]
        == f"{github_fake.uploads_url}/repos/acme/app/releases/{r.json()['id']}/assets{{?name,label}}"
    )
    assert r.json()["url"].startswith(github_fake.url + "/repos/acme/app/releases/")


def test_drafts_are_invisible_by_tag_until_published(github_fake: GitHubFake) -> None:
    h, base = _h(github_fake), f"{github_fake.url}/repos/acme/app"
    rel = requests.post(f"{base}/releases", json={"tag_name": "release/2024/1", "draft": True}, headers=h).json()
    assert requests.get(f"{base}/releases/tags/release/2024/1", headers=h).status_code == 404  # multi-segment tag
    assert [x["id"] for x in requests.get(f"{base}/releases", headers=h).json()] == [rel["id"]]
    requests.patch(f"{base}/releases/{rel['id']}", json={"draft": False}, headers=h)
    assert requests.get(f"{base}/releases/tags/release/2024/1", headers=h).json()["id"] == rel["id"]


def test_immutable_release_refuses_asset_changes_once_published(github_fake: GitHubFake) -> None:
    github_fake.seed_repo("acme", "locked", immutable_releases=True)
    h, base = _h(github_fake), f"{github_fake.url}/repos/acme/locked"
    up = f"{github_fake.uploads_url}/repos/acme/locked"
    rel = requests.post(f"{base}/releases", json={"tag_name": "v1", "draft": True}, headers=h).json()
    asset = requests.post(f"{up}/releases/{rel['id']}/assets?name=a.bin", data=b"1", headers=h)
    assert asset.status_code == 201
    assert requests.patch(f"{base}/releases/{rel['id']}", json={"draft": False}, headers=h).json()["immutable"]
    assert requests.post(f"{up}/releases/{rel['id']}/assets?name=b.bin", data=b"2", headers=h).status_code == 422
    aid = asset.json()["id"]
    assert requests.patch(f"{base}/releases/assets/{aid}", json={"label": "x"}, headers=h).status_code == 422
    assert requests.delete(f"{base}/releases/assets/{aid}", headers=h).status_code == 422
    assert github_fake.violations == []


def test_asset_bytes_digest_and_download(github_fake: GitHubFake) -> None:
    ids = _seed(github_fake)
    data = bytes(range(256)) * 1000
    r = requests.post(
        f"{github_fake.uploads_url}/repos/acme/app/releases/{ids['rel']}/assets?name=big.bin",
        data=iter([data[:1000], data[1000:]]),
        headers=_h(github_fake),
    )  # chunked encoding
    assert r.status_code == 201, r.text
    assert r.json()["digest"] == "sha256:" + hashlib.sha256(data).hexdigest() and r.json()["size"] == len(data)
    assert github_fake.asset_bytes("acme", "app", r.json()["id"]) == data
    dl = requests.get(
        f"{ids['base']}/releases/assets/{r.json()['id']}",
        headers=_h(github_fake, Accept="application/octet-stream"),
    )
    assert dl.content == data
    dup = requests.post(
        f"{github_fake.uploads_url}/repos/acme/app/releases/{ids['rel']}/assets?name=big.bin",
        data=b"x",
        headers=_h(github_fake),
    )
    assert dup.status_code == 422 and dup.json()["errors"][0]["code"] == "already_exists"


def test_wrong_or_missing_token_gets_401(github_fake: GitHubFake) -> None:
    url = f"{github_fake.url}/repos/acme/app/releases"
    r = requests.get(url, headers={**API, "Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json()["message"] == "Bad credentials"
    assert requests.get(url, headers=API).json()["message"] == "Requires authentication"


def test_protection_rules_are_reported_and_a_held_deployment_waits_until_approved(github_fake: GitHubFake) -> None:
    github_fake.set_environment("acme", "app", "production", reviewers=["octocat"], wait_timer=5)
    h, base = _h(github_fake), f"{github_fake.url}/repos/acme/app"
    env = requests.get(f"{base}/environments/production", headers=h).json()
    assert {r["type"] for r in env["protection_rules"]} == {"required_reviewers", "wait_timer"}
    free = requests.post(f"{base}/deployments", json={"ref": "main", "environment": "production"}, headers=h).json()
    assert requests.get(f"{base}/deployments/{free['id']}/statuses", headers=h).json() == []  # GitHub holds jobs
    github_fake.hold_next_deployment()
    dep = requests.post(f"{base}/deployments", json={"ref": "main", "environment": "production"}, headers=h).json()
    assert requests.get(f"{base}/deployments/{dep['id']}/statuses", headers=h).json()[0]["state"] == "waiting"
    github_fake.approve_deployment("acme", "app", dep["id"])
    assert requests.get(f"{base}/deployments/{dep['id']}/statuses", headers=h).json()[0]["state"] == "in_progress"


def test_primary_and_secondary_rate_limits(github_fake: GitHubFake) -> None:
    github_fake.rate_limit_exhausted(reset_in=30, operation_id="repos/list-releases")
    github_fake.secondary_rate_limit(retry_after=7, operation_id="repos/list-releases")
    url, h = f"{github_fake.url}/repos/acme/app/releases", _h(github_fake)
    first = requests.get(url, headers=h)
    assert first.status_code == 403 and first.headers["X-RateLimit-Remaining"] == "0"
    assert int(first.headers["X-RateLimit-Reset"]) > 0
    second = requests.get(url, headers=h)
    assert second.status_code == 403 and second.headers["Retry-After"] == "7"
    assert "secondary rate limit" in second.json()["message"]
    assert requests.get(url, headers=h).status_code == 200


def test_pagination_link_header(github_fake: GitHubFake) -> None:
    h, base = _h(github_fake), f"{github_fake.url}/repos/acme/app"
    for i in range(3):
        requests.post(f"{base}/releases", json={"tag_name": f"v{i}"}, headers=h)
    page = requests.get(f"{base}/releases?per_page=2", headers=h)
    assert len(page.json()) == 2 and 'rel="next"' in page.headers["Link"]


def test_githubkit_release_asset_deployment_and_status(github_fake: GitHubFake) -> None:
    from githubkit import GitHub

    api_client = GitHub(github_fake.token, base_url=github_fake.url)
    uploads_client = GitHub(github_fake.token, base_url=github_fake.uploads_url)
    api, uploads = api_client.rest("2022-11-28"), uploads_client.rest("2022-11-28")
    rel = api.repos.create_release("acme", "app", data={"tag_name": "v3.0.0", "name": "v3"}).parsed_data
    asset = uploads.repos.upload_release_asset(
        "acme", "app", rel.id, name="app.tgz", data=b"payload", headers={"Content-Type": "application/gzip"}
    ).parsed_data
    assert asset.digest == "sha256:" + hashlib.sha256(b"payload").hexdigest()
    dep = api.repos.create_deployment(
        "acme", "app", data={"ref": "v3.0.0", "environment": "staging", "required_contexts": []}
    ).parsed_data
    status = api.repos.create_deployment_status("acme", "app", dep.id, data={"state": "success"}).parsed_data
    assert status.state == "success"
    fetched = api.repos.get_release_by_tag("acme", "app", "v3.0.0").parsed_data
    assert [a.name for a in fetched.assets] == ["app.tgz"]
    assert github_fake.violations == []


def test_pagination_links_keep_the_filters(github_fake: GitHubFake) -> None:
    """GitHub's Link URLs keep the request's query: page 2 of a filtered list is still filtered."""
    h, base = _h(github_fake), f"{github_fake.url}/repos/acme/app"
    with requests.Session() as s:
        for i in range(7):
            s.post(f"{base}/deployments", json={"ref": "v1", "environment": "dev" if i % 2 else "prod"}, headers=h)
        url: str | None = f"{base}/deployments?environment=dev&per_page=2"
        seen: list[dict[str, Any]] = []
        while url:
            page = s.get(url, headers=h)
            seen += page.json()
            url = page.links.get("next", {}).get("url")
    assert [d["environment"] for d in seen] == ["dev"] * 3
    assert len({d["id"] for d in seen}) == 3
