"""Azure DevOps adapter: what a stage runs, slow creates, and paging through many classic releases.

Against the contract-checked Azure DevOps fake, which pages ``Releases_List`` like the service
(``$top``, ``x-ms-continuationtoken`` header, ``continuationToken`` query) and filters it by artifact.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from tests.support.azure import CONFIG, Checks, Sleeps, job, load, make_project, release
from trainmaster.errors import OutcomeUnknown, Unavailable
from trainmaster.http import RetryPolicy
from trainmaster_azure import _remote
from trainmaster_azure._ledger import AzureLedger
from trainmaster_azure._publish import AzurePublisher
from trainmaster_azure._settings import Settings
from trainmaster_azure._target import AzureTarget


def target(config: Any, name: str, env: dict[str, str]) -> AzureTarget:
    t = AzureTarget(config, config.environment(name), env, http=Sleeps().http())
    t.sleep = lambda s: None
    return t


def stage_deployments(fake: Any, stage: str) -> list[tuple[int, str]]:
    """``(deployment id, classic release name)`` of every deployment of ``stage``, oldest first."""
    return sorted((d["id"], d["release"]["name"]) for d in fake.deployments.values()
                  if d["releaseEnvironment"]["name"] == stage)


def seed_releases(fake: Any, count: int, build: int = 101) -> None:
    """``count`` classic releases of definition 1 that are not trainmaster's, made by the fake's own
    ``Releases_Create`` handler (over HTTP each would cost the loopback's ~40 ms delayed-ACK round trip)."""
    if build not in fake.builds:
        fake.seed_build(build, f"2024.{build}")
    with fake.lock:
        for i in range(count):
            body = {"definitionId": 1, "description": f"manual release {i}",
                    "artifacts": [{"alias": "_app", "instanceReference": {"id": str(build)}}]}
            assert fake.create_release(SimpleNamespace(json=body)).status == 200


def test_a_succeeded_stage_is_adopted_only_while_it_is_what_the_stage_runs(azure_fake: Any, tmp_path: Path,
                                                                           env: dict[str, str]) -> None:
    """deploy 1.0.0, deploy 1.1.0, rollback (1.0.0), deploy 1.1.0: the last one must deploy again."""
    config = load(make_project(tmp_path, azure_fake.url))
    old, new = release(tmp_path, "1.0.0"), release(tmp_path, "1.1.0", content=b"v2")
    assert target(config, "test", env).deploy(job(config, "test", old)).status == "succeeded"
    assert target(config, "test", env).deploy(job(config, "test", new)).status == "succeeded"
    assert target(config, "test", env).deploy(job(config, "test", old, kind="rollback")).status == "succeeded"
    out: list[str] = []
    checks = Checks()
    outcome = target(config, "test", env).deploy(job(config, "test", new, out=out, checks=checks))
    assert outcome.status == "succeeded" and checks.ran == 1
    assert azure_fake.count("Releases_Update Release Environment") == 4, "".join(out)
    assert "already succeeded" not in "".join(out) and "deploying it again" in "".join(out)
    names = [name for _, name in stage_deployments(azure_fake, "Test")]
    assert names[-1] == names[1] != names[0]  # Azure runs 1.1.0 again, not 1.0.0
    # Now 1.1.0 is what the stage runs: a re-run adopts it instead of deploying a fifth time.
    out.clear()
    assert target(config, "test", env).deploy(job(config, "test", new, out=out)).status == "succeeded"
    assert "already succeeded" in "".join(out)
    assert azure_fake.count("Releases_Update Release Environment") == 4


def test_a_slow_create_is_never_sent_twice_and_exits_5(azure_fake: Any, tmp_path: Path,
                                                       env: dict[str, str]) -> None:
    config = load(make_project(tmp_path, azure_fake.url))
    sleeps = Sleeps()
    pub = AzurePublisher(env, sleeps.http(timeout=(10.0, 0.3)))
    azure_fake.slow(1.2, operation_id="Releases_Create")
    rel = release(tmp_path)
    with pytest.raises(OutcomeUnknown) as err:
        pub.ensure(rel, {}, config)
    assert err.value.exit_code == 5 and "not sent again" in str(err.value)
    assert sleeps == [0.5, 1.0, 2.0, 4.0]  # a lookup before each wait, none of them finds it yet
    assert azure_fake.count("Releases_Create") == 1
    deadline = time.monotonic() + 5
    while not (azure_fake.releases and all(c.status is not None for c in azure_fake.calls)) \
            and time.monotonic() < deadline:  # the slow create landed and was answered
        time.sleep(0.05)
    assert len(azure_fake.releases) == 1
    assert AzurePublisher(env, Sleeps().http()).ensure(rel, {}, config).state == "exists"
    assert azure_fake.count("Releases_Create") == 1 and len(azure_fake.releases) == 1


def test_a_slow_create_that_lands_while_looking_is_found_not_resent(azure_fake: Any, tmp_path: Path,
                                                                    env: dict[str, str]) -> None:
    config = load(make_project(tmp_path, azure_fake.url))
    policy = RetryPolicy(sleep=time.sleep, rand=lambda: 0.5)
    pub = AzurePublisher(env, {"policy": policy, "timeout": (10.0, 0.5)})
    azure_fake.slow(0.6, operation_id="Releases_Create")
    result = pub.ensure(release(tmp_path), {}, config)
    assert result.state == "created" and result.remote["release_id"]
    assert azure_fake.count("Releases_Create") == 1 and len(azure_fake.releases) == 1


def test_find_queries_the_pinned_build_then_pages_past_the_newest_hundred(azure_fake: Any, tmp_path: Path,
                                                                          env: dict[str, str]) -> None:
    """The 7.1 client's get_releases drops the continuation header: only the newest 100 were searched."""
    config = load(make_project(tmp_path, azure_fake.url))
    pub = AzurePublisher(env, Sleeps().http())
    old = release(tmp_path, "1.0.0")
    assert pub.ensure(old, {}, config).state == "created"
    seed_releases(azure_fake, 120)  # same build: the filtered query needs two pages too
    azure_fake.reset_log()
    _remote.reset()  # a later command
    assert pub.ensure(old, {}, config).state == "exists"
    lists = azure_fake.calls_to("Releases_List")
    assert lists[0].query.get("artifactVersionId") == "101" and lists[0].query.get("artifactTypeId") == "Build"
    assert lists[0].query.get("sourceId") in (None, f"{azure_fake.project_id}:7")  # build ids are unique
    assert any("continuationToken" in c.query for c in lists)
    other = release(tmp_path, "1.0.0", build="303", content=b"evil")  # same version, other id, other build
    assert pub.ensure(other, {}, config).state == "conflict"
    assert len(azure_fake.releases) == 121 and azure_fake.count("Releases_Create") == 0


def test_a_version_is_found_by_the_mark_in_its_name_without_paging_the_history(
        azure_fake: Any, tmp_path: Path, env: dict[str, str]) -> None:
    """250 other classic releases: creating a version and refusing its twin cost the same as with none."""
    config = load(make_project(tmp_path, azure_fake.url))
    pub = AzurePublisher(env, Sleeps().http())
    assert pub.ensure(release(tmp_path, "1.0.0"), {}, config).state == "created"
    (rid,) = azure_fake.releases
    assert azure_fake.releases[rid]["name"] == f"Release-{rid} (trainmaster 1.0.0)"
    azure_fake.seed_build(404, "2024.404")
    seed_releases(azure_fake, 250, build=404)
    for version, build, content, state in (("2.0.0", "505", b"v2", "created"), ("1.0.0", "303", b"evil", "conflict")):
        azure_fake.seed_build(int(build), f"2024.{build}")
        azure_fake.reset_log()
        _remote.reset()  # a later command
        assert pub.ensure(release(tmp_path, version, build=build, content=content), {}, config).state == state
        lists = azure_fake.calls_to("Releases_List")
        assert [c.query.get("searchText") for c in lists] == [None, f"(trainmaster {version})"]
        assert not any("continuationToken" in c.query for c in lists)
    assert len(azure_fake.releases) == 252


def test_a_classic_release_named_before_the_marks_is_found_by_its_build_and_marked(
        azure_fake: Any, tmp_path: Path, env: dict[str, str]) -> None:
    config = load(make_project(tmp_path, azure_fake.url))
    rel = release(tmp_path, "1.0.0")
    assert AzurePublisher(env, Sleeps().http()).ensure(rel, {}, config).state == "created"
    (rid,) = azure_fake.releases
    azure_fake.releases[rid]["name"] = f"Release-{rid}"  # as an older trainmaster left it
    _remote.reset()
    assert AzurePublisher(env, Sleeps().http()).ensure(rel, {}, config).state == "exists"
    assert azure_fake.releases[rid]["name"] == f"Release-{rid} (trainmaster 1.0.0)" and len(azure_fake.releases) == 1


def test_running_out_of_pages_is_exit_5_not_absent(azure_fake: Any, tmp_path: Path, env: dict[str, str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = load(make_project(tmp_path, azure_fake.url))
    seed_releases(azure_fake, 3)
    monkeypatch.setattr(_remote, "PAGE_SIZE", 2)
    monkeypatch.setattr(_remote, "MAX_PAGES", 1)
    with pytest.raises(Unavailable) as err:
        AzurePublisher(env, Sleeps().http()).ensure(release(tmp_path), {}, config)
    assert err.value.exit_code == 5 and "more than 2 classic releases" in str(err.value)
    assert len(azure_fake.releases) == 3 and azure_fake.count("Releases_Create") == 0  # nothing created


def test_the_fake_pages_and_filters_releases_like_the_service(azure_fake: Any) -> None:
    azure_fake.seed_build(202, "2024.202")
    seed_releases(azure_fake, 3)
    seed_releases(azure_fake, 2, build=202)
    url = f"{azure_fake.vsrm_url}/{azure_fake.project}/_apis/release/releases"
    get = lambda **q: requests.get(url, params={"api-version": "7.1-preview.8", **q},  # noqa: E731
                                   auth=("", azure_fake.token), timeout=10)
    first = get(definitionId=1, **{"$top": 2})
    ids = [r["id"] for r in first.json()["value"]]
    token = first.headers["x-ms-continuationtoken"]
    second = get(definitionId=1, continuationToken=token, **{"$top": 2})
    third = get(definitionId=1, continuationToken=second.headers["x-ms-continuationtoken"], **{"$top": 2})
    ids += [r["id"] for r in second.json()["value"]] + [r["id"] for r in third.json()["value"]]
    assert ids == sorted(azure_fake.releases, reverse=True) and "x-ms-continuationtoken" not in third.headers
    only = get(artifactTypeId="Build", artifactVersionId="202", sourceId=f"{azure_fake.project_id}:7")
    assert len(only.json()["value"]) == 2
    assert get(artifactVersionId="202", sourceId="other:7").json()["value"] == []
    (named,) = get(searchText=f"ELEASE-{min(azure_fake.releases)}").json()["value"]  # in the name, any case
    assert named["id"] == min(azure_fake.releases) and get(searchText="nope").json()["value"] == []


def test_history_marks_going_back_to_an_older_version_as_a_rollback(azure_fake: Any, tmp_path: Path,
                                                                    env: dict[str, str]) -> None:
    config = load(make_project(tmp_path, azure_fake.url))
    good, bad = release(tmp_path, "1.0.0"), release(tmp_path, "1.1.0", content=b"v2")
    target(config, "test", env).deploy(job(config, "test", good))
    azure_fake.fail_next_deployment()
    assert target(config, "test", env).deploy(job(config, "test", bad)).status == "failed"
    target(config, "test", env).deploy(job(config, "test", good, kind="rollback"))
    target(config, "test", env).deploy(job(config, "test", bad))
    target(config, "dev", env).deploy(job(config, "dev", good))  # another stage has its own order
    ledger = AzureLedger(config, None, environ=env, http=Sleeps().http())
    assert [(d.version, d.kind) for d in ledger.history("test", None)] == [
        ("1.0.0", "deploy"), ("1.1.0", "deploy"), ("1.0.0", "rollback"), ("1.1.0", "deploy")]
    assert [(d.environment, d.kind) for d in ledger.history(None, None)][-1] == ("dev", "deploy")


def test_the_task_connection_url_comes_before_the_collection_uri_and_config_wins(tmp_path: Path) -> None:
    no_org = "\n".join(line for line in CONFIG.splitlines() if "organization:" not in line) + "\n"
    config = load(make_project(tmp_path, "unused", no_org))
    environ = {"SYSTEM_COLLECTIONURI": "https://dev.azure.com/agent-org/", "SYSTEM_TEAMPROJECT": "MyProject"}
    assert Settings.resolve(config, None, environ).organization == "https://dev.azure.com/agent-org"
    environ["TRAINMASTER_AZURE_ORGANIZATION"] = "https://dev.azure.com/connection-org/"
    assert Settings.resolve(config, None, environ).organization == "https://dev.azure.com/connection-org"
    configured = load(make_project(tmp_path, "https://dev.azure.com/configured"))
    assert Settings.resolve(configured, None, environ).organization == "https://dev.azure.com/configured"
