"""Tests of the shared fake machinery: contracts, start-up time, faults, call log, teardown check,
streaming uploads and the separate-process mode."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes import plugin
from tests.fakes.azure import AzureDevOpsFake
from tests.fakes.contract import CONTRACTS_DIR, load
from tests.fakes.github import GitHubFake
from tests.fakes.octopus import OctopusFake

ROOT = Path(__file__).resolve().parents[2]


def _gh(fake: GitHubFake) -> dict[str, str]:
    return {"Authorization": f"token {fake.token}"}


@pytest.mark.parametrize(
    "filename", sorted(p.name for p in CONTRACTS_DIR.glob("*.swagger.json")) + ["github.openapi.json"]
)
def test_every_contract_operation_compiles(filename: str) -> None:
    contract = load(filename, filename != "github.openapi.json")
    assert contract.operations
    for op in contract.operations:
        assert op.regex.pattern.startswith("^")
        if op.body_schema is not None:
            assert contract.validator(op.operation_id) is not None


def test_contracts_are_local_copies() -> None:
    assert CONTRACTS_DIR == ROOT / "tests" / "contracts"
    assert (CONTRACTS_DIR / "README.md").is_file()
    assert (CONTRACTS_DIR / "azure-pipelines-tasks.schema.json").is_file()


@pytest.mark.parametrize("cls", [GitHubFake, AzureDevOpsFake, OctopusFake])
def test_fake_starts_in_under_half_a_second(cls: type[Any]) -> None:
    start = time.perf_counter()
    fake = cls().start()
    try:
        requests.get(fake.origin + "/_fake/calls", timeout=2).raise_for_status()
        assert time.perf_counter() - start < 0.5
    finally:
        fake.stop()


def test_throttle_429_with_retry_after_then_normal(github_fake: GitHubFake) -> None:
    github_fake.throttle(count=2, retry_after=3, operation_id="repos/list-releases")
    url = f"{github_fake.url}/repos/acme/app/releases"
    answers = [requests.get(url, headers=_gh(github_fake)) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "3"
    assert [c.fault for c in github_fake.calls_to("repos/list-releases")] == ["status", "status", None]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_by_method_and_path_pattern(octopus_fake: OctopusFake, status: int) -> None:
    octopus_fake.fail(status, method="GET", path=r"/projects$")
    url = f"{octopus_fake.url}/api/Spaces-1/projects"
    headers = {"X-Octopus-ApiKey": octopus_fake.api_key}
    assert requests.get(url, headers=headers).status_code == status
    assert requests.get(url, headers=headers).status_code == 200
    assert octopus_fake.count("indexProjects_Spaces", status) == 1


def test_slow_response_exceeds_client_timeout(azure_fake: AzureDevOpsFake) -> None:
    azure_fake.slow(1.0, operation_id="Definitions_Get")
    url = f"{azure_fake.vsrm_url}/{azure_fake.project}/_apis/release/definitions/1?api-version=7.1"
    auth = ("", azure_fake.token)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(url, auth=auth, timeout=0.3)
    assert requests.get(url, auth=auth, timeout=2).status_code == 200


def test_connection_dropped_in_the_middle_of_an_upload(github_fake: GitHubFake) -> None:
    rel = requests.post(
        f"{github_fake.url}/repos/acme/app/releases", json={"tag_name": "v1"}, headers=_gh(github_fake)
    ).json()
    github_fake.drop_upload(after_bytes=64 * 1024, operation_id="repos/upload-release-asset")
    url = f"{github_fake.uploads_url}/repos/acme/app/releases/{rel['id']}/assets?name=a.bin"
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(url, data=b"x" * (8 << 20), headers=_gh(github_fake), timeout=5)
    assert (
        requests.get(f"{github_fake.url}/repos/acme/app/releases/{rel['id']}/assets", headers=_gh(github_fake)).json()
        == []
    )
    assert requests.post(url, data=b"x" * 10, headers=_gh(github_fake)).status_code == 201


def test_lost_201_applies_the_change_so_a_client_must_not_duplicate(github_fake: GitHubFake) -> None:
    github_fake.lose_response(operation_id="repos/create-release")
    url = f"{github_fake.url}/repos/acme/app/releases"
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(url, json={"tag_name": "v5"}, headers=_gh(github_fake))
    # recovery as a careful client does it: look before re-creating
    assert [r["tag_name"] for r in requests.get(url, headers=_gh(github_fake)).json()] == ["v5"]
    assert requests.post(url, json={"tag_name": "v5"}, headers=_gh(github_fake)).status_code == 422
    assert github_fake.count("repos/create-release") == 2
    assert github_fake.calls_to("repos/create-release")[0].fault == "lose_response"
    github_fake.expect_violations()  # nothing recorded; opt-out is harmless


def test_calls_record_method_path_operation_query_status_and_time(octopus_fake: OctopusFake) -> None:
    before = time.time()
    requests.get(
        f"{octopus_fake.url}/api/Spaces-1/environments?skip=0&take=5",
        headers={"X-Octopus-ApiKey": octopus_fake.api_key},
    )
    call = octopus_fake.calls[-1]
    assert (call.method, call.path, call.operation_id, call.status) == (
        "GET",
        "/api/Spaces-1/environments",
        "indexEnvironments_Spaces",
        200,
    )
    assert call.query == {"skip": "0", "take": "5"} and call.time >= before


def test_teardown_fails_a_test_that_caused_a_violation() -> None:
    gen = plugin._run(GitHubFake())
    fake = next(gen)
    requests.get(f"{fake.url}/repos/acme/app/unknown", headers=_gh(fake))
    with pytest.raises(pytest.fail.Exception, match="contract violation"):
        next(gen, None)
    gen = plugin._run(GitHubFake())
    fake = next(gen)
    requests.get(f"{fake.url}/repos/acme/app/unknown", headers=_gh(fake))
    fake.expect_violations()
    assert next(gen, None) is None


def _multipart(name: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
    yield (
        b'--BOUNDARY\r\nContent-Disposition: form-data; name="fileToUpload"; filename="'
        + name.encode()
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    yield from chunks
    yield b"\r\n--BOUNDARY--\r\n"


def test_uploads_stream_without_buffering_the_body() -> None:
    size, chunk = 48 << 20, b"\0" * (1 << 20)
    with OctopusFake(store_packages=False) as octo, GitHubFake(store_asset_bytes=False) as gh:
        rel = requests.post(f"{gh.url}/repos/acme/app/releases", json={"tag_name": "v1"}, headers=_gh(gh)).json()
        tracemalloc.start()
        try:
            r1 = requests.post(
                f"{octo.url}/api/Spaces-1/packages/raw",
                data=_multipart("Big.1.0.0.zip", (chunk for _ in range(size >> 20))),
                headers={
                    "X-Octopus-ApiKey": octo.api_key,
                    "Content-Type": "multipart/form-data; boundary=BOUNDARY",
                },
            )
            r2 = requests.post(
                f"{gh.uploads_url}/repos/acme/app/releases/{rel['id']}/assets?name=big.bin",
                data=(chunk for _ in range(size >> 20)),
                headers=_gh(gh),
            )
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert r1.status_code == 201 and r1.json()["PackageSizeBytes"] == size
    assert r2.status_code == 201 and r2.json()["size"] == size
    assert peak < 16 << 20, f"peak {peak} bytes: the body was buffered"


def _spawn(module: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", *args],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.startswith("READY "), (line, proc.stderr.read() if proc.stderr else "")
    return proc, line.split()[2]


def test_separate_process_mode_with_admin_endpoints() -> None:
    proc, url = _spawn(
        "tests.fakes.octopus",
        "--discard-packages",
        "--fault",
        json.dumps({"kind": "status", "status": 503, "operation_id": "getSpaces"}),
    )
    try:
        headers = {"X-Octopus-ApiKey": "API-TESTKEY0000000000000000000"}
        assert requests.get(f"{url}/api/spaces", headers=headers).status_code == 503
        assert requests.get(f"{url}/api/spaces", headers=headers).status_code == 200
        requests.post(
            f"{url}/_fake/faults",
            json={
                "kind": "status",
                "status": 429,
                "headers": {"Retry-After": "1"},
                "operation_id": "getSpaces",
            },
        ).raise_for_status()
        assert requests.get(f"{url}/api/spaces", headers=headers).status_code == 429
        assert requests.post(f"{url}/_fake/drive/fail_next_deployment", json={}).status_code == 200
        requests.get(f"{url}/api/nope", headers=headers)
        violations = requests.get(f"{url}/_fake/violations").json()
        assert [v["path"] for v in violations] == ["/api/nope"]
        calls = requests.get(f"{url}/_fake/calls").json()
        assert [c["status"] for c in calls if c["operation_id"] == "getSpaces"] == [503, 200, 429]
        assert requests.post(f"{url}/_fake/reset").status_code == 204
        assert requests.get(f"{url}/_fake/violations").json() == []
    finally:
        proc.terminate()
        proc.wait(timeout=5)


@pytest.mark.parametrize("module,path", [("tests.fakes.github", "/rate_limit"), ("tests.fakes.azure", "/myorg/_apis")])
def test_other_fakes_run_as_processes(module: str, path: str) -> None:
    proc, url = _spawn(module)
    try:
        method = "GET" if "github" in module else "OPTIONS"
        headers = {"Authorization": "token test-token"} if "github" in module else {}
        assert (
            requests.request(method, url.rstrip("/") + path.replace("/myorg", ""), headers=headers).status_code == 200
        )
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_every_answer_is_checked_against_the_response_schemas(github_fake: Any, azure_fake: Any,
                                                               octopus_fake: Any) -> None:
    """A fake that answered a shape its description does not allow would fail the test at teardown."""
    from tests.fakes.core import Response

    contract = github_fake.contract
    github_fake._check_response(contract, "repos/get-release", Response(200, {"id": "not-an-integer"}))
    assert any("repos/get-release 200" in p for p in github_fake.response_problems)
    azure = next(c for c in azure_fake.contracts_for("vsrm") if "Releases_List" in c.by_id)
    azure_fake._check_response(azure, "Releases_List", Response(200, {"count": 1, "value": [{"id": 1}]}))
    assert azure_fake.response_problems == []  # Azure's {"count", "value"} list wrapper is the wire format
    azure_fake._check_response(azure, "Releases_List", Response(200, {"count": 1, "value": [{"id": "x"}]}))
    assert azure_fake.response_problems
    github_fake.response_problems.clear()
    azure_fake.response_problems.clear()
