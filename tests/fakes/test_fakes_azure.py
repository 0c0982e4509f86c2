"""Tests of the Azure DevOps fake: discovery, contract checks per operation, stage state machine and the
official ``azure-devops`` Python client."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests

from tests.fakes.azure import AzureDevOpsFake


def _h(fake: AzureDevOpsFake, token: str | None = None) -> dict[str, str]:
    cred = base64.b64encode(f":{token or fake.token}".encode()).decode()
    return {"Authorization": f"Basic {cred}", "Accept": "application/json"}


def _rm(fake: AzureDevOpsFake) -> str:
    return f"{fake.vsrm_url}/{fake.project}/_apis/release"


def _create(fake: AzureDevOpsFake) -> dict[str, Any]:
    r = requests.post(
        f"{_rm(fake)}/releases?api-version=7.1",
        headers=_h(fake),
        json={"definitionId": 1, "artifacts": [{"alias": "_app", "instanceReference": {"id": "101"}}]},
    )
    assert r.status_code == 200, r.text
    return r.json()


def _start(fake: AzureDevOpsFake, rel: dict[str, Any], index: int = 0) -> requests.Response:
    env = rel["environments"][index]["id"]
    return requests.patch(
        f"{fake.vsrm_url}/{fake.project}/_apis/Release/releases/{rel['id']}/environments/{env}"
        "?api-version=7.1-preview.7",
        json={"status": "inProgress"},
        headers=_h(fake),
    )


CASES = [
    ("Definitions_List", "GET", "{rm}/definitions?api-version=7.1", {}, ("GET", "{rm}/definitions", {})),
    (
        "Definitions_Get",
        "GET",
        "{rm}/definitions/1?api-version=7.1",
        {},
        ("GET", "{rm}/definitions/one?api-version=7.1", {}),
    ),
    (
        "Releases_List",
        "GET",
        "{rm}/releases?api-version=7.1&definitionId=1",
        {},
        ("GET", "{rm}/releases?api-version=7.1&definitionId=x", {}),
    ),
    (
        "Releases_Create",
        "POST",
        "{rm}/releases?api-version=7.1",
        {"json": {"definitionId": 1}},
        ("POST", "{rm}/releases?api-version=7.1", {"json": {"description": "no definition"}}),
    ),
    (
        "Releases_Get Release",
        "GET",
        "{rm}/releases/{rel}?api-version=7.1",
        {},
        ("DELETE", "{rm}/releases/{rel}?api-version=7.1", {}),
    ),
    (
        "Releases_Update Release Resource",
        "PATCH",
        "{rm}/releases/{rel}?api-version=7.1",
        {"json": {"keepForever": True}},
        ("PATCH", "{rm}/releases/{rel}?api-version=7.1", {"json": {"keepForever": "x"}}),
    ),
    (
        "Releases_Get Release Environment",
        "GET",
        "{RM}/releases/{rel}/environments/{env}?api-version=7.1",
        {},
        ("GET", "{RM}/releases/{rel}/environments/{env}", {}),
    ),
    (
        "Releases_Update Release Environment",
        "PATCH",
        "{RM}/releases/{rel}/environments/{env}?api-version=7.1",
        {"json": {"status": "inProgress"}},
        (
            "PATCH",
            "{RM}/releases/{rel}/environments/{env}?api-version=7.1",
            {"json": {"comment": "no status"}},
        ),
    ),
    (
        "Approvals_List",
        "GET",
        "{rm}/approvals?api-version=7.1",
        {},
        ("GET", "{rm}/approvals?api-version=7.1&top=ten", {}),
    ),
    (
        "Deployments_List",
        "GET",
        "{rm}/deployments?api-version=7.1&definitionId=1",
        {},
        ("POST", "{rm}/deployments?api-version=7.1", {"json": {}}),
    ),
]


@pytest.mark.parametrize("op_id,method,path,kwargs,invalid", CASES, ids=[c[0] for c in CASES])
def test_operation_accepts_valid_and_rejects_invalid(
    azure_fake: AzureDevOpsFake,
    op_id: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    invalid: tuple[Any, ...],
) -> None:
    rel = _create(azure_fake)
    fmt = {
        "rm": _rm(azure_fake),
        "RM": f"{azure_fake.vsrm_url}/{azure_fake.project}/_apis/Release",
        "rel": rel["id"],
        "env": rel["environments"][0]["id"],
    }
    ok = requests.request(method, path.format(**fmt), headers=_h(azure_fake), **kwargs)
    assert ok.status_code < 300, ok.text
    assert azure_fake.calls[-1].operation_id == op_id
    azure_fake.expect_violations()
    bad_method, bad_path, bad_kwargs = invalid
    bad = requests.request(bad_method, bad_path.format(**fmt), headers=_h(azure_fake), **bad_kwargs)
    assert 400 <= bad.status_code < 500
    assert set(bad.json()) >= {"message", "typeKey"}
    assert len(azure_fake.violations) == 1


def test_approvals_update_valid_and_invalid(azure_fake: AzureDevOpsFake) -> None:
    azure_fake.require_approval(1, "Dev")
    rel = _create(azure_fake)
    _start(azure_fake, rel)
    pending = requests.get(
        f"{_rm(azure_fake)}/approvals?api-version=7.1&releaseIdsFilter={rel['id']}", headers=_h(azure_fake)
    ).json()["value"]
    assert [a["status"] for a in pending] == ["pending"]
    url = f"{_rm(azure_fake)}/approvals/{pending[0]['id']}?api-version=7.1"
    azure_fake.expect_violations()
    assert requests.patch(url, json={"comments": "no status"}, headers=_h(azure_fake)).status_code == 400
    assert len(azure_fake.violations) == 1
    ok = requests.patch(url, json={"status": "approved", "comments": "ok"}, headers=_h(azure_fake))
    assert ok.status_code == 200 and ok.json()["status"] == "approved"


def test_release_calls_on_the_organisation_host_are_violations(azure_fake: AzureDevOpsFake) -> None:
    azure_fake.expect_violations()
    r = requests.get(
        f"{azure_fake.url}/{azure_fake.project}/_apis/release/definitions?api-version=7.1",
        headers=_h(azure_fake),
    )
    assert r.status_code == 404 and len(azure_fake.violations) == 1


def test_unknown_path_wrong_method_and_bad_api_version(azure_fake: AzureDevOpsFake) -> None:
    azure_fake.expect_violations()
    h = _h(azure_fake)
    assert requests.get(f"{_rm(azure_fake)}/nothing?api-version=7.1", headers=h).status_code == 404
    assert requests.put(f"{_rm(azure_fake)}/definitions?api-version=7.1", json={}, headers=h).status_code == 405
    assert requests.get(f"{_rm(azure_fake)}/definitions?api-version=9.0", headers=h).status_code == 400
    assert [v.status for v in azure_fake.violations] == [404, 405, 400]


@pytest.mark.parametrize("version", ["7.1", "7.1-preview", "7.1-preview.4", "6.0"])
def test_api_versions_accepted_like_the_service(azure_fake: AzureDevOpsFake, version: str) -> None:
    r = requests.get(f"{_rm(azure_fake)}/definitions/1?api-version={version}", headers=_h(azure_fake))
    assert r.status_code == 200
    r = requests.get(
        f"{_rm(azure_fake)}/definitions/1",
        headers={**_h(azure_fake), "Accept": f"application/json;api-version={version}"},
    )
    assert r.status_code == 200


def test_x_ms_paths_discriminator_and_mixed_case(azure_fake: AzureDevOpsFake) -> None:
    rel = _create(azure_fake)
    base = f"{azure_fake.vsrm_url}/{azure_fake.project}/_APIS/RELEASE/releases/{rel['id']}"
    requests.get(f"{base}?api-version=7.1", headers=_h(azure_fake))
    requests.get(f"{base}?api-version=7.1&definitionSnapshotRevision=1", headers=_h(azure_fake))
    assert [c.operation_id for c in azure_fake.calls][-2:] == [
        "Releases_Get Release",
        "Releases_Get Release Revision",
    ]


def test_stage_moves_queued_in_progress_succeeded_with_pinned_artifact(azure_fake: AzureDevOpsFake) -> None:
    rel = _create(azure_fake)
    assert rel["artifacts"][0]["definitionReference"]["version"]["id"] == "101"
    assert _start(azure_fake, rel).json()["status"] == "queued"
    url = f"{_rm(azure_fake)}/releases/{rel['id']}?api-version=7.1"
    seen = [requests.get(url, headers=_h(azure_fake)).json()["environments"][0]["status"] for _ in range(3)]
    assert seen == ["inProgress", "succeeded", "succeeded"]
    deps = requests.get(f"{_rm(azure_fake)}/deployments?api-version=7.1", headers=_h(azure_fake)).json()["value"]
    assert deps[0]["deploymentStatus"] == "succeeded"


def test_fail_next_deployment_and_pending_approval(azure_fake: AzureDevOpsFake) -> None:
    azure_fake.fail_next_deployment()
    rel = _create(azure_fake)
    _start(azure_fake, rel)

    def url(r: dict[str, Any]) -> str:
        return f"{_rm(azure_fake)}/releases/{r['id']}?api-version=7.1"

    for _ in range(2):
        requests.get(url(rel), headers=_h(azure_fake))
    assert azure_fake.stage_status(rel["id"], "Dev") == "rejected"
    azure_fake.require_approval(1, "Test")
    rel2 = _create(azure_fake)
    _start(azure_fake, rel2, 1)
    for _ in range(3):
        requests.get(url(rel2), headers=_h(azure_fake))
    assert azure_fake.stage_status(rel2["id"], "Test") == "queued"
    azure_fake.approve(rel2["id"], "Test")
    for _ in range(2):
        requests.get(url(rel2), headers=_h(azure_fake))
    assert azure_fake.stage_status(rel2["id"], "Test") == "succeeded"


def test_unknown_build_and_wrong_token(azure_fake: AzureDevOpsFake) -> None:
    r = requests.post(
        f"{_rm(azure_fake)}/releases?api-version=7.1",
        headers=_h(azure_fake),
        json={"definitionId": 1, "artifacts": [{"alias": "_app", "instanceReference": {"id": "999"}}]},
    )
    assert r.status_code == 400 and "VS402880" in r.json()["message"]
    r = requests.get(f"{_rm(azure_fake)}/definitions?api-version=7.1", headers=_h(azure_fake, "wrong"))
    assert r.status_code == 401 and r.json()["typeKey"] == "UnauthorizedRequestException"


def test_official_azure_devops_client(azure_fake: AzureDevOpsFake, tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("AZURE_DEVOPS_CACHE_DIR", str(tmp_path))
    from azure.devops.connection import Connection
    from azure.devops.v7_1.release.models import (
        ArtifactMetadata,
        BuildVersion,
        ReleaseEnvironmentUpdateMetadata,
        ReleaseStartMetadata,
    )
    from msrest.authentication import BasicAuthentication

    conn = Connection(base_url=azure_fake.url, creds=BasicAuthentication("", azure_fake.token))
    client = conn.clients_v7_1.get_release_client()
    definition = client.get_release_definition(azure_fake.project, 1)
    assert [e.name for e in definition.environments] == ["Dev", "Test", "Prod"]
    release = client.create_release(
        ReleaseStartMetadata(
            definition_id=1,
            artifacts=[ArtifactMetadata(alias="_app", instance_reference=BuildVersion(id="101"))],
        ),
        azure_fake.project,
    )
    env = release.environments[0]
    updated = client.update_release_environment(
        ReleaseEnvironmentUpdateMetadata(status="inProgress"), azure_fake.project, release.id, env.id
    )
    assert updated.status == "queued"
    statuses = [client.get_release(azure_fake.project, release.id).environments[0].status for _ in range(2)]
    assert statuses == ["inProgress", "succeeded"]
    assert azure_fake.violations == []
    assert any(c.method == "OPTIONS" and c.path.startswith("/_vsrm/") for c in azure_fake.calls)
