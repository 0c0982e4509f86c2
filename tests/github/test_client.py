"""Unit tests of the GitHub HTTP choke point (plugins/trainmaster_github/client.py), one call each.

API reference: https://docs.github.com/rest (version 2022-11-28). Every mocked request is checked
against tests/contracts/github.openapi.json (method, path template, required query, body schema).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

from tests.fakes.contract import load
from trainmaster.errors import DigestMismatch, InvalidInput, OutcomeUnknown, Unavailable
from trainmaster.http import RetryPolicy
from trainmaster_github._auth import resolve_token
from trainmaster_github.client import (
    GitHubAuthError,
    GitHubClient,
    GitHubError,
    GitHubNotFound,
    GitHubPermissionError,
)

API = "https://api.github.com"
REPO = f"{API}/repos/acme/app"
TOKEN = "ghs_s3cretTOKENvalue0123456789"


def check_contract(calls: Any) -> None:
    """Every recorded request must be an operation of the official description."""
    contract = load("github.openapi.json")
    for call in calls:
        url = urlsplit(call.request.url)
        query = dict(parse_qsl(url.query))
        path = url.path.removeprefix("/api/v3")  # GitHub Enterprise Server's REST prefix
        match = contract.match_path(call.request.method, path, query)
        contract.check_params(match, query)
        if match.operation.content_types and "application/json" in match.operation.content_types:
            body = call.request.body
            contract.check_body(match, json.loads(body) if body else None, present=bool(body))


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps: list[float]) -> GitHubClient:
    return GitHubClient(
        "acme/app",
        TOKEN,
        clock=lambda: 1_000_000.0,
        policy=RetryPolicy(attempts=4, base=1.0, cap=8.0, budget=200.0, sleep=sleeps.append, rand=lambda: 0.75),
    )


@pytest.fixture
def rsps() -> Any:
    with responses.RequestsMock() as mock:
        yield mock
        check_contract(mock.calls)


def test_headers_version_token_and_timeout(client: GitHubClient, rsps: Any) -> None:
    rsps.get(f"{REPO}/releases/tags/v1.0.0", json={"id": 1})
    assert client.call("GET", f"{client.repo_path}/releases/tags/v1.0.0", what="x") == {"id": 1}
    req = rsps.calls[0].request
    assert req.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert req.headers["Accept"] == "application/vnd.github+json"
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert req.req_kwargs["timeout"] == (10.0, 60.0)
    assert TOKEN not in repr(client)


def test_ghes_api_url_is_the_base(sleeps: list[float], rsps: Any) -> None:
    ghes = GitHubClient(
        "acme/app", TOKEN, api_url="https://ghe.example.com/api/v3/", policy=RetryPolicy(sleep=sleeps.append)
    )
    rsps.get("https://ghe.example.com/api/v3/repos/acme/app/releases", json=[])
    assert list(ghes.paginate(f"{ghes.repo_path}/releases", what="list")) == []


def test_retries_5xx_with_backoff_then_succeeds(client: GitHubClient, rsps: Any, sleeps: list[float]) -> None:
    url = f"{REPO}/releases"
    rsps.get(url, status=502)
    rsps.get(url, status=503)
    rsps.get(url, json=[{"id": 1}])
    assert list(client.paginate(f"{client.repo_path}/releases", what="list")) == [{"id": 1}]
    assert len(rsps.calls) == 3
    assert sleeps == [0.75, 1.5]  # exponential backoff (jitter fixed at 0.75)


def test_429_honours_retry_after(client: GitHubClient, rsps: Any, sleeps: list[float]) -> None:
    rsps.get(f"{REPO}/releases", status=429, headers={"Retry-After": "7"}, json={"message": "slow down"})
    rsps.get(f"{REPO}/releases", json=[])
    list(client.paginate(f"{client.repo_path}/releases", what="list"))
    assert sleeps == [7.0]


def test_primary_rate_limit_waits_until_reset(client: GitHubClient, rsps: Any, sleeps: list[float]) -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(1_000_000 + 30)}
    rsps.get(f"{REPO}/releases", status=403, headers=headers, json={"message": "API rate limit exceeded"})
    rsps.get(f"{REPO}/releases", json=[])
    list(client.paginate(f"{client.repo_path}/releases", what="list"))
    assert sleeps == [31.0]


def test_secondary_rate_limit_without_retry_after_waits_a_minute(
    client: GitHubClient, rsps: Any, sleeps: list[float]
) -> None:
    body = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}
    rsps.get(f"{REPO}/releases", status=403, json=body)
    rsps.get(f"{REPO}/releases", json=[])
    list(client.paginate(f"{client.repo_path}/releases", what="list"))
    assert sleeps == [60.0]


def test_used_up_rate_limit_delays_the_next_call(client: GitHubClient, rsps: Any, sleeps: list[float]) -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(1_000_000 + 10)}
    rsps.get(f"{REPO}/releases/tags/v1", json={"id": 1}, headers=headers)
    rsps.get(f"{REPO}/releases/tags/v2", json={"id": 2})
    client.call("GET", f"{client.repo_path}/releases/tags/v1", what="a")
    assert sleeps == []
    client.call("GET", f"{client.repo_path}/releases/tags/v2", what="b")
    assert sleeps == [11.0]


def test_retry_budget_is_a_ceiling(sleeps: list[float], rsps: Any) -> None:
    tight = GitHubClient("acme/app", TOKEN, policy=RetryPolicy(budget=5.0, sleep=sleeps.append))
    rsps.get(f"{REPO}/releases", status=429, headers={"Retry-After": "600"})
    with pytest.raises(Unavailable) as info:
        list(tight.paginate(f"{tight.repo_path}/releases", what="list releases"))
    assert info.value.exit_code == 5 and sleeps == [] and "retry budget" in str(info.value)


def test_gives_up_after_attempts_with_exit_5(client: GitHubClient, rsps: Any) -> None:
    rsps.get(f"{REPO}/releases", status=503, headers={"X-GitHub-Request-Id": "ABCD:1234"})
    with pytest.raises(Unavailable) as info:
        list(client.paginate(f"{client.repo_path}/releases", what="list releases"))
    assert info.value.exit_code == 5 and info.value.request_id == "ABCD:1234" and info.value.status_code == 503
    assert len(rsps.calls) == 4


def test_bad_token_is_exit_2_and_never_shows_the_token(client: GitHubClient, rsps: Any) -> None:
    rsps.get(
        f"{REPO}/releases",
        status=401,
        json={"message": f"Bad credentials {TOKEN}"},
        headers={"X-GitHub-Request-Id": "RID:1"},
    )
    with pytest.raises(GitHubAuthError) as info:
        list(client.paginate(f"{client.repo_path}/releases", what="list releases"))
    err = info.value
    assert err.exit_code == 2 and err.status_code == 401 and err.request_id == "RID:1"
    assert "GITHUB_TOKEN" in str(err)
    for text in (str(err), repr(err), err.body_excerpt or "", repr(err.args)):
        assert TOKEN not in text


def test_missing_permission_names_the_grant(client: GitHubClient, rsps: Any) -> None:
    rsps.post(f"{REPO}/releases", status=403, json={"message": "Resource not accessible by integration"})
    with pytest.raises(GitHubPermissionError) as info:
        client.call(
            "POST",
            f"{client.repo_path}/releases",
            json={"tag_name": "v1"},
            what="create the release v1",
            permission="contents: write",
        )
    assert info.value.exit_code == 2
    assert "permissions: contents: write" in str(info.value)


def test_unknown_repository_names_the_setting(client: GitHubClient, rsps: Any) -> None:
    rsps.get(f"{REPO}/deployments", status=404, json={"message": "Not Found"})
    with pytest.raises(GitHubNotFound) as info:
        list(client.paginate(f"{client.repo_path}/deployments", what="list deployments"))
    assert info.value.exit_code == 2
    assert "acme/app" in str(info.value) and "GITHUB_REPOSITORY" in str(info.value)


def test_validation_error_carries_body_excerpt(client: GitHubClient, rsps: Any) -> None:
    body = {"message": "Validation Failed", "errors": [{"resource": "Release", "code": "already_exists"}]}
    rsps.post(f"{REPO}/releases", status=422, json=body)
    with pytest.raises(GitHubError) as info:
        client.call("POST", f"{client.repo_path}/releases", json={"tag_name": "v1"}, what="create")
    assert info.value.status_code == 422 and "already_exists" in str(info.value)
    assert "Validation Failed" in (info.value.body_excerpt or "")


def test_link_header_pagination(client: GitHubClient, rsps: Any) -> None:
    rsps.get(
        f"{REPO}/releases",
        json=[{"id": 1}, {"id": 2}],
        headers={"Link": f'<{REPO}/releases?per_page=2&page=2>; rel="next"'},
        match=[responses.matchers.query_param_matcher({"per_page": "100"})],
    )
    rsps.get(
        f"{REPO}/releases",
        json=[{"id": 3}],
        match=[responses.matchers.query_param_matcher({"per_page": "2", "page": "2"})],
    )
    assert [r["id"] for r in client.paginate(f"{client.repo_path}/releases", what="list")] == [1, 2, 3]


@pytest.mark.parametrize("answer", [{"message": "not a list"}, [{"id": 1}]])
def test_a_list_that_is_no_list_or_links_back_to_itself_is_refused(
    client: GitHubClient, rsps: Any, answer: Any
) -> None:
    """Remote data: an answer that is not a list, or a next link to a page already read (a loop that
    would never end), is a GitHub error, not a traceback or a command that never returns."""
    rsps.get(f"{REPO}/deployments", json=answer, headers={"Link": f'<{REPO}/deployments?per_page=100>; rel="next"'})
    with pytest.raises(GitHubError) as err:
        list(client.paginate(f"{client.repo_path}/deployments", what="list deployments"))
    assert "list deployments" in str(err.value)
    assert len(rsps.calls) <= 2


def test_lost_post_is_recovered_by_lookup_not_reposted(client: GitHubClient, rsps: Any) -> None:
    rsps.post(f"{REPO}/deployments", body=requests.ConnectionError("Connection aborted: reset by peer"))
    found = {"id": 42}
    result = client.call(
        "POST", f"{client.repo_path}/deployments", json={"ref": "v1"}, what="deploy", recover=lambda: found
    )
    assert result == found and len(rsps.calls) == 1


def test_post_with_unknown_outcome_and_no_recovery_is_not_repeated(client: GitHubClient, rsps: Any) -> None:
    rsps.post(f"{REPO}/deployments", status=502)
    with pytest.raises(OutcomeUnknown):
        client.call("POST", f"{client.repo_path}/deployments", json={"ref": "v1"}, what="deploy")
    assert len(rsps.calls) == 1


def test_post_retried_when_lookup_finds_nothing(client: GitHubClient, rsps: Any, sleeps: list[float]) -> None:
    rsps.post(f"{REPO}/deployments", status=502)
    rsps.post(f"{REPO}/deployments", status=201, json={"id": 7})
    looked: list[int] = []
    result = client.call(
        "POST", f"{client.repo_path}/deployments", json={"ref": "v1"}, what="deploy", recover=lambda: looked.append(1)
    )
    assert result == {"id": 7} and looked == [1] and len(sleeps) == 1


def test_upload_streams_file_with_content_length(client: GitHubClient, rsps: Any, tmp_path: Path) -> None:
    path = tmp_path / "app.bin"
    path.write_bytes(b"x" * 300_000)
    upload_url = "https://uploads.github.com/repos/acme/app/releases/9/assets{?name,label}"
    rsps.post(
        "https://uploads.github.com/repos/acme/app/releases/9/assets",
        status=201,
        json={"id": 1, "name": "app.bin", "size": 300_000, "state": "uploaded"},
    )
    asset = client.upload_asset(
        upload_url, "app.bin", path, content_type="application/octet-stream", recover=lambda: None
    )
    assert asset["id"] == 1
    req = rsps.calls[0].request
    assert req.headers["Content-Length"] == "300000"
    assert "name=app.bin" in req.url  # memory stays flat: see bench/bench_github_upload.py


def test_two_gib_asset_refused_before_any_request(client: GitHubClient, rsps: Any, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:
        fh.truncate(2 * 1024**3)
    with pytest.raises(InvalidInput) as info:
        client.upload_asset(
            "https://uploads.github.com/x{?name}", "big.bin", big, content_type="x", recover=lambda: None
        )
    assert info.value.exit_code == 2 and "2 GiB" in str(info.value) and len(rsps.calls) == 0


def test_token_comes_from_the_environment_only() -> None:
    assert resolve_token({"GITHUB_TOKEN": "a", "GH_TOKEN": "b"}) == ("a", "GITHUB_TOKEN")
    assert resolve_token({"GH_TOKEN": "b"}) == ("b", "GH_TOKEN")
    assert resolve_token({"MY_TOKEN": "c", "GITHUB_TOKEN": "a"}, "MY_TOKEN") == ("c", "MY_TOKEN")
    with pytest.raises(InvalidInput) as info:
        resolve_token({"GITHUB_TOKEN": "a"}, "MY_TOKEN")
    assert "MY_TOKEN" in str(info.value) and info.value.exit_code == 2
    with pytest.raises(InvalidInput):
        resolve_token({})


def test_bad_repository_name_is_exit_2() -> None:
    with pytest.raises(InvalidInput) as info:
        GitHubClient("not-a-repo", TOKEN)
    assert "GITHUB_REPOSITORY" in str(info.value)


def test_upload_benchmark_keeps_memory_flat() -> None:
    """bench/bench_github_upload.py at a small size: the fake as its own process, peak RSS under 64 MiB."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "bench/bench_github_upload.py", "--size-mib", "96", "--repeat", "1"],  # one upload: its peak
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": f"{root / 'src'}:{root / 'plugins'}", "PATH": "/usr/bin:/bin"},
    )
    import re

    found = re.search(r"peak RSS of trainmaster\s+([\d.]+) MiB", result.stdout)  # the time ratio is the bench's
    assert found is not None, result.stdout + result.stderr
    assert float(found.group(1)) <= 64, result.stdout


@pytest.mark.parametrize("stored", [b"payload", b"altered"])
def test_an_upload_answered_without_a_digest_is_checked_by_hashing_the_file(
    client: GitHubClient, rsps: Any, tmp_path: Path, stored: bytes
) -> None:
    """A GitHub Enterprise Server older than asset digests answers ``digest: null``: the file is hashed."""
    path = tmp_path / "app.bin"
    path.write_bytes(stored)
    pinned = "sha256:" + hashlib.sha256(b"payload").hexdigest()
    upload = "https://uploads.github.com/repos/acme/app/releases/7/assets"
    rsps.post(upload, status=201, json={"id": 9, "name": "app.bin", "digest": None})
    send = lambda: client.upload_asset(upload + "{?name,label}", "app.bin", path,  # noqa: E731
                                       content_type="application/octet-stream", recover=lambda: None, verify=pinned)
    if stored == b"payload":
        assert send()["id"] == 9
        return
    rsps.delete(f"{REPO}/releases/assets/9", status=204)
    with pytest.raises(DigestMismatch) as err:
        send()
    assert err.value.exit_code == 4 and "the uploaded asset was deleted" in str(err.value)
    assert [c.request.method for c in rsps.calls] == ["POST", "DELETE"]
