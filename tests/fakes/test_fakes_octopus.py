"""Tests of the Octopus fake: contract checks per operation, package feed, lifecycle, tasks and the official
``@octopusdeploy/api-client`` run under Node."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes.octopus import OctopusFake

NODE_DIR = Path(__file__).resolve().parent / "node"


def _h(fake: OctopusFake) -> dict[str, str]:
    return {"X-Octopus-ApiKey": fake.api_key}


def _api(fake: OctopusFake) -> str:
    return f"{fake.url}/api/{fake.space_id}"


def _zip(text: str = "hello") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:  # a fixed time: the same text gives the same bytes
        z.writestr(zipfile.ZipInfo("app.txt", date_time=(2024, 1, 1, 0, 0, 0)), text)
    return buf.getvalue()


def _push(
    fake: OctopusFake, name: str = "MyApp.1.2.3.zip", data: bytes | None = None, mode: str | None = None
) -> requests.Response:
    q = f"?overwriteMode={mode}" if mode else ""
    return requests.post(
        f"{_api(fake)}/packages/raw{q}", files={"fileToUpload": (name, data or _zip())}, headers=_h(fake)
    )


def _release(fake: OctopusFake, version: str = "1.2.3") -> dict[str, Any]:
    r = requests.post(
        f"{_api(fake)}/releases/create/v1",
        headers=_h(fake),
        json={
            "spaceId": fake.space_id,
            "spaceIdOrName": fake.space_id,
            "projectName": "MyApp",
            "releaseVersion": version,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def _deploy(fake: OctopusFake, version: str = "1.2.3", env: str = "Development") -> requests.Response:
    return requests.post(
        f"{_api(fake)}/deployments/create/untenanted/v1",
        headers=_h(fake),
        json={
            "SpaceId": fake.space_id,
            "SpaceIdOrName": fake.space_id,
            "ProjectName": "MyApp",
            "ReleaseVersion": version,
            "EnvironmentNames": [env],
        },
    )


def _seed(fake: OctopusFake) -> dict[str, Any]:
    _push(fake)
    rel = _release(fake)
    dep = _deploy(fake).json()["DeploymentServerTasks"][0]
    task = fake.tasks[dep["ServerTaskId"]]
    interruption = fake.hold_task(task["Id"])
    return {
        "api": _api(fake),
        "root": f"{fake.url}/api",
        "rel": rel["ReleaseId"],
        "dep": dep["DeploymentId"],
        "task": task["Id"],
        "project": fake.project_id,
        "env": next(iter(fake.environments)),
        "lc": next(iter(fake.lifecycles)),
        "ch": next(iter(fake.channels)),
        "int": interruption["Id"],
        "pkg": "packages-MyApp.1.2.3",
    }


V1_RELEASE = {
    "spaceId": "Spaces-1",
    "spaceIdOrName": "Spaces-1",
    "projectName": "MyApp",
    "releaseVersion": "2.0.0",
}
CASES = [
    ("getSpaces", "GET", "{root}/spaces?partialName=Def", {}, ("GET", "{root}/spaces?take=all", {})),
    ("getSpaceById", "GET", "{root}/spaces/Spaces-1", {}, ("DELETE", "{root}/spaces/Spaces-1", {})),
    ("indexProjects_Spaces", "GET", "{api}/projects?name=MyApp", {}, ("GET", "{api}/projects?skip=-", {})),
    (
        "getProjectByIdOrSlug_Spaces_1",
        "GET",
        "{api}/projects/myapp",
        {},
        ("POST", "{api}/projects/myapp", {}),
    ),
    ("indexEnvironments_Spaces", "GET", "{api}/environments", {}, ("GET", "{api}/environments?take=x", {})),
    (
        "getEnvironmentById_Spaces",
        "GET",
        "{api}/environments/{env}",
        {},
        ("PUT", "{api}/environments/{env}", {}),
    ),
    ("getLifecycles_Spaces", "GET", "{api}/lifecycles", {}, ("POST", "{api}/lifecycles", {"json": {}})),
    ("getLifecycleById_Spaces", "GET", "{api}/lifecycles/{lc}", {}, ("PATCH", "{api}/lifecycles/{lc}", {})),
    (
        "indexProjectChannels_Spaces",
        "GET",
        "{api}/projects/{project}/channels",
        {},
        ("DELETE", "{api}/projects/{project}/channels", {}),
    ),
    ("getChannelById_Spaces", "GET", "{api}/channels/{ch}", {}, ("DELETE", "{api}/channels/{ch}", {})),
    (
        "createPackageRepositoryUpload_Spaces",
        "POST",
        "{api}/packages/raw?overwriteMode=OverwriteExisting",
        {"files": {"fileToUpload": ("MyApp.1.2.3.zip", b"PK..")}},
        (
            "POST",
            "{api}/packages/raw?overwriteMode=Sometimes",
            {"files": {"fileToUpload": ("MyApp.1.2.3.zip", b"x")}},
        ),
    ),
    (
        "getPackageRepositoryList_Spaces",
        "GET",
        "{api}/packages?filter=myapp",
        {},
        ("GET", "{api}/packages?latest=maybe", {}),
    ),
    ("getPackageRepository_Spaces", "GET", "{api}/packages/{pkg}", {}, ("PUT", "{api}/packages/{pkg}", {})),
    (
        "createBuildInformation_Spaces",
        "POST",
        "{api}/build-information",
        {
            "json": {
                "PackageId": "MyApp",
                "Version": "1.2.3",
                "SpaceId": "Spaces-1",
                "OctopusBuildInformation": {"Branch": "main", "Commits": [{"Id": "abc", "Comment": "c"}]},
            }
        },
        ("POST", "{api}/build-information", {"json": {"PackageId": "MyApp", "Version": "1.2.3"}}),
    ),
    (
        "getBuildInformationList_Spaces",
        "GET",
        "{api}/build-information?packageId=MyApp",
        {},
        ("GET", "{api}/build-information?take=all", {}),
    ),
    (
        "createReleaseV1_Spaces",
        "POST",
        "{api}/releases/create/v1",
        {"json": V1_RELEASE},
        ("POST", "{api}/releases/create/v1", {"json": {"projectName": "MyApp", "releaseVersion": "2.0.1"}}),
    ),
    (
        "createRelease_Spaces",
        "POST",
        "{api}/releases",
        {"json": {"ProjectId": "{project}", "Version": "3.0.0"}},
        ("POST", "{api}/releases", {"json": {"ProjectId": "{project}"}}),
    ),
    ("getReleaseById_Spaces", "GET", "{api}/releases/{rel}", {}, ("DELETE", "{api}/releases/{rel}", {})),
    (
        "indexProjectReleases_Spaces",
        "GET",
        "{api}/projects/{project}/releases?take=5",
        {},
        ("GET", "{api}/projects/{project}/releases?take=five", {}),
    ),
    (
        "createDeploymentUntenantedV1_Spaces",
        "POST",
        "{api}/deployments/create/untenanted/v1",
        {
            "json": {
                "SpaceId": "Spaces-1",
                "SpaceIdOrName": "Spaces-1",
                "ProjectName": "MyApp",
                "ReleaseVersion": "1.2.3",
                "EnvironmentNames": ["Development"],
            }
        },
        (
            "POST",
            "{api}/deployments/create/untenanted/v1",
            {
                "json": {
                    "SpaceId": "Spaces-1",
                    "SpaceIdOrName": "Spaces-1",
                    "ProjectName": "MyApp",
                    "ReleaseVersion": "1.2.3",
                    "EnvironmentNames": "Development",
                }
            },
        ),
    ),
    (
        "indexDeployments_Spaces",
        "GET",
        "{api}/deployments?projects={project}",
        {},
        ("GET", "{api}/deployments?taskState=Finished", {}),
    ),
    (
        "getDeploymentById_Spaces",
        "GET",
        "{api}/deployments/{dep}",
        {},
        ("PATCH", "{api}/deployments/{dep}", {}),
    ),
    ("getTaskById", "GET", "{root}/tasks/{task}", {}, ("POST", "{root}/tasks/{task}", {})),
    ("getListTasks_Spaces", "GET", "{api}/tasks?ids={task}", {}, ("GET", "{api}/tasks?skip=none", {})),
    (
        "getProgressionView_Spaces",
        "GET",
        "{api}/progression/{project}",
        {},
        ("GET", "{api}/progression/{project}?releaseHistoryCount=all", {}),
    ),
    (
        "getReleaseLifecycleProgression_Spaces",
        "GET",
        "{api}/releases/{rel}/progression",
        {},
        ("POST", "{api}/releases/{rel}/progression", {}),
    ),
    (
        "indexInterruptions_Spaces",
        "GET",
        "{api}/interruptions?regarding={task}&pendingOnly=true",
        {},
        ("GET", "{api}/interruptions?take=x", {}),
    ),
    (
        "getInterruptionById_Spaces",
        "GET",
        "{api}/interruptions/{int}",
        {},
        ("DELETE", "{api}/interruptions/{int}", {}),
    ),
]


def _fmt(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fmt(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize("op_id,method,path,kwargs,invalid", CASES, ids=[c[0] for c in CASES])
def test_operation_accepts_valid_and_rejects_invalid(
    octopus_fake: OctopusFake,
    op_id: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    invalid: tuple[Any, ...],
) -> None:
    ids = _seed(octopus_fake)
    ok = requests.request(method, path.format(**ids), headers=_h(octopus_fake), **_fmt(kwargs, ids))
    assert ok.status_code < 300, ok.text
    assert octopus_fake.calls[-1].operation_id == op_id
    octopus_fake.expect_violations()
    bad_method, bad_path, bad_kwargs = invalid
    bad = requests.request(bad_method, bad_path.format(**ids), headers=_h(octopus_fake), **_fmt(bad_kwargs, ids))
    assert 400 <= bad.status_code < 500
    assert "ErrorMessage" in bad.json()
    assert len(octopus_fake.violations) == 1, octopus_fake.violations


def test_interruption_take_responsibility_and_submit(octopus_fake: OctopusFake) -> None:
    ids = _seed(octopus_fake)
    url = f"{ids['api']}/interruptions/{ids['int']}"
    requests.get(f"{ids['root']}/tasks/{ids['task']}", headers=_h(octopus_fake))  # Queued -> Executing
    assert requests.put(f"{url}/responsible", headers=_h(octopus_fake)).status_code == 200
    r = requests.post(
        f"{url}/submit",
        json={"Instructions": None, "Notes": "ok", "Result": "Proceed"},
        headers=_h(octopus_fake),
    )
    assert r.status_code == 200
    task = requests.get(f"{ids['root']}/tasks/{ids['task']}", headers=_h(octopus_fake)).json()
    assert task["State"] == "Success" and not task["HasPendingInterruptions"]


def test_unknown_path_wrong_method_missing_field_and_bad_key(octopus_fake: OctopusFake) -> None:
    octopus_fake.expect_violations()
    h = _h(octopus_fake)
    assert requests.get(f"{_api(octopus_fake)}/nothing/here", headers=h).status_code == 404
    assert requests.delete(f"{octopus_fake.url}/api/spaces", headers=h).status_code == 405
    r = requests.post(f"{_api(octopus_fake)}/releases/create/v1", json={"SpaceId": "Spaces-1"}, headers=h)
    assert r.status_code in (400, 422) and "ProjectName" in r.json()["ErrorMessage"]
    assert len(octopus_fake.violations) == 3
    bad = requests.get(f"{_api(octopus_fake)}/projects", headers={"X-Octopus-ApiKey": "API-WRONG"})
    assert bad.status_code == 401 and bad.json()["ErrorMessage"]


def test_property_names_are_case_insensitive(octopus_fake: OctopusFake) -> None:
    r = requests.post(
        f"{_api(octopus_fake)}/releases/create/v1",
        headers=_h(octopus_fake),
        json={"SPACEID": "Spaces-1", "spaceidorname": "Spaces-1", "ProjectName": "MyApp"},
    )
    assert r.status_code == 201 and r.json()["ReleaseVersion"] == "0.0.1"


def test_package_feed_overwrite_modes_and_sha1_hash(octopus_fake: OctopusFake) -> None:
    first = _push(octopus_fake, data=_zip("one"))
    assert first.status_code == 201 and first.json()["Hash"] == hashlib.sha1(_zip("one")).hexdigest()
    assert _push(octopus_fake, data=_zip("two")).status_code == 409
    ignored = _push(octopus_fake, data=_zip("two"), mode="IgnoreIfExists")
    assert ignored.status_code == 200 and ignored.json()["Hash"] == first.json()["Hash"]
    replaced = _push(octopus_fake, data=_zip("two"), mode="OverwriteExisting")
    assert replaced.json()["Hash"] == hashlib.sha1(_zip("two")).hexdigest()
    got = requests.get(f"{_api(octopus_fake)}/packages/packages-MyApp.1.2.3", headers=_h(octopus_fake)).json()
    assert got["Hash"] == replaced.json()["Hash"] and got["PackageSizeBytes"] == len(_zip("two"))
    assert octopus_fake.package_bytes[got["Id"]] == _zip("two")


def test_task_states_failure_and_batched_listing(octopus_fake: OctopusFake) -> None:
    _release(octopus_fake)
    octopus_fake.fail_next_deployment("boom")
    task_id = _deploy(octopus_fake).json()["DeploymentServerTasks"][0]["ServerTaskId"]
    url = f"{octopus_fake.url}/api/tasks?ids={task_id}"
    states = [requests.get(url, headers=_h(octopus_fake)).json()["Items"][0]["State"] for _ in range(2)]
    assert states == ["Executing", "Failed"]
    assert octopus_fake.tasks[task_id]["ErrorMessage"] == "boom"


def test_lifecycle_blocks_skipping_a_phase_and_progression(octopus_fake: OctopusFake) -> None:
    _release(octopus_fake)
    blocked = _deploy(octopus_fake, env="Production")
    assert blocked.status_code == 400 and "lifecycle" in blocked.json()["ErrorMessage"]
    task_id = _deploy(octopus_fake).json()["DeploymentServerTasks"][0]["ServerTaskId"]
    octopus_fake.fail_task(task_id, "nope")
    for _ in range(2):
        requests.get(f"{octopus_fake.url}/api/tasks/{task_id}", headers=_h(octopus_fake))
    assert _deploy(octopus_fake, env="Test").status_code == 400  # Development failed: still blocked
    prog = requests.get(f"{_api(octopus_fake)}/progression/{octopus_fake.project_id}", headers=_h(octopus_fake))
    release = prog.json()["Releases"][0]
    assert release["Release"]["Version"] == "1.2.3" and list(release["Deployments"])


def _node_flow(octopus_fake: OctopusFake, tmp_path: Path, *extra: str) -> dict[str, Any]:
    """Run octopus_flow.js (the official TypeScript client) against the fake; its JSON line."""
    if not (NODE_DIR / "node_modules" / "@octopusdeploy" / "api-client").is_dir():
        if os.environ.get("CI"):
            pytest.fail("node_modules missing in CI: .ci/run must run `npm ci --prefix tests/fakes/node`")
        pytest.skip("node_modules missing: run `npm ci --prefix tests/fakes/node` to install @octopusdeploy/api-client")
    node = shutil.which("node")
    assert node, "node is required once node_modules is installed"
    package = tmp_path / "MyApp.1.2.3.zip"
    package.write_bytes(_zip())
    run = subprocess.run(
        [
            node,
            str(NODE_DIR / "octopus_flow.js"),
            octopus_fake.url,
            octopus_fake.api_key,
            "Default",
            "MyApp",
            "Development",
            str(package),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def test_official_octopus_typescript_client(octopus_fake: OctopusFake, tmp_path: Path) -> None:
    result = _node_flow(octopus_fake, tmp_path)
    assert result["release"]["ReleaseVersion"] == "1.2.3" and result["states"] == ["Success"]
    assert octopus_fake.violations == []
    ops = {c.operation_id for c in octopus_fake.calls}
    assert {
        "createPackageRepositoryUpload_Spaces",
        "createReleaseV1_Spaces",
        "createDeploymentUntenantedV1_Spaces",
        "getListTasks_Spaces",
    } <= ops


def test_official_client_cancels_a_task_that_never_finishes(octopus_fake: OctopusFake, tmp_path: Path) -> None:
    octopus_fake.stall_next_deployment()
    result = _node_flow(octopus_fake, tmp_path, "400")  # cancelOnTimeout after 400 ms
    assert "Tasks were cancelled" in str(result["error"])
    (task_id,) = [t["ServerTaskId"] for t in result["deployment"]["DeploymentServerTasks"]]
    assert octopus_fake.tasks[task_id]["State"] == "Canceled" and octopus_fake.tasks[task_id]["IsCompleted"]
    assert octopus_fake.count("createTaskCancel") == 1 and octopus_fake.violations == []


def test_modify_release_takes_the_whole_resource_and_refuses_a_partial_one(octopus_fake: OctopusFake) -> None:
    rid = _release(octopus_fake)["ReleaseId"]
    url = f"{_api(octopus_fake)}/releases/{rid}"
    octopus_fake.releases[rid]["SelectedPackages"] = [{"ActionName": "deploy", "PackageReferenceName": "",
                                                       "Version": "1.2.3"}]
    whole = requests.get(url, headers=_h(octopus_fake)).json()

    ok = requests.put(url, headers=_h(octopus_fake), json={**whole, "ReleaseNotes": "edited"})
    partial = requests.put(url, headers=_h(octopus_fake), json={"Id": rid, "Version": "1.2.3", "ReleaseNotes": "x"})
    octopus_fake.expect_violations()
    no_version = requests.put(url, headers=_h(octopus_fake), json={"Id": rid, "ReleaseNotes": "x"})

    assert ok.status_code == 200 and ok.json()["ReleaseNotes"] == "edited"
    assert partial.status_code == 400 and "every included package" in partial.json()["ErrorMessage"]
    assert no_version.status_code in (400, 422) and len(octopus_fake.violations) == 1  # the contract: Version required
    after = requests.get(url, headers=_h(octopus_fake)).json()
    assert after["ReleaseNotes"] == "edited" and after["SelectedPackages"] == whole["SelectedPackages"]
