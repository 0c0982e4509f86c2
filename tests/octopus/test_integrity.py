"""Octopus adapter: slow creates, interventions that later succeed, what Octopus pinned, feed checks.

Against the contract-checked Octopus fake (real HTTP over loopback), plus single-call unit tests of
the client with ``responses`` (each mocked request checked against tests/contracts/).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from tests.support.octopus import check_contract, make_config, make_job, make_release
from trainmaster.errors import IntegrityError, OutcomeUnknown, Refused
from trainmaster.interfaces import DeployOutcome
from trainmaster_octopus import _settings, _wrap
from trainmaster_octopus._publish import OctopusPublisher
from trainmaster_octopus._settings import reset_clients
from trainmaster_octopus._target import OctopusTarget
from trainmaster_octopus._wrap import wrap, wrapper_sha1
from trainmaster_octopus.client import UNKNOWN, OctopusClient

ENVS = [("dev", {"environment": "Development"})]


def setup(tmp: Path, files: dict[str, bytes] | None = None, **settings: Any) -> tuple[Any, Any, dict[str, Path]]:
    config = make_config(tmp, {"poll_interval": 0.01, "timeout": 30, **settings}, ENVS)
    release, paths = make_release(tmp, files or {"app.bin": b"payload-1" * 100})
    return config, release, paths


def client(config: Any, env: dict[str, str]) -> OctopusClient:
    return _settings.client_for(_settings.Settings.resolve(config), env)


class Counter:
    def __init__(self) -> None:
        self.ran = 0

    def __call__(self) -> DeployOutcome:
        self.ran += 1
        return DeployOutcome("succeeded")


def wait_for(check: Any, fake: Any, seconds: float = 5.0) -> None:
    """Until ``check()`` holds and the fake has answered every request it received (none half-handled)."""
    deadline = time.monotonic() + seconds
    while not (check() and all(c.status is not None for c in fake.calls)) and time.monotonic() < deadline:
        time.sleep(0.05)


# -- 2: a slow create is never sent twice ---------------------------------------------------------
def test_a_slow_deployment_create_is_not_resent_and_a_rerun_attaches(octo: Any, tmp_path: Path) -> None:
    fake, env = octo
    config, release, paths = setup(tmp_path)
    assert OctopusPublisher(env).ensure(release, paths, config).state == "created"
    sleeps: list[float] = []
    c = client(config, env)
    c.timeout, c.sleep = (5.0, 0.3), sleeps.append
    fake.slow(1.0, path=r"deployments/create")
    target = OctopusTarget(config, config.environment("dev"), env)
    with pytest.raises(OutcomeUnknown) as err:
        target.deploy(make_job(config, "dev", release, paths))
    assert err.value.exit_code == 5 and "not sent again" in str(err.value)
    assert len(sleeps) >= 2  # the deployments were looked up again, with backoff, before giving up
    assert fake.count("createDeploymentUntenantedV1_Spaces") == 1
    wait_for(lambda: fake.deployments, fake)
    c.sleep = lambda s: None
    outcome = target.deploy(make_job(config, "dev", release, paths))  # same process: attaches, no second one
    assert outcome.status == "succeeded" and outcome.packages == {"app": "deployed"}
    assert len(fake.deployments) == 1 and fake.count("createDeploymentUntenantedV1_Spaces") == 1


def test_a_slow_deployment_create_that_lands_while_looking_is_found(octo: Any, tmp_path: Path) -> None:
    fake, env = octo
    config, release, paths = setup(tmp_path)
    OctopusPublisher(env).ensure(release, paths, config)
    c = client(config, env)
    c.timeout, c.sleep = (5.0, 0.5), time.sleep
    fake.slow(0.6, path=r"deployments/create")
    outcome = OctopusTarget(config, config.environment("dev"), env).deploy(make_job(config, "dev", release, paths))
    assert outcome.status == "succeeded"
    assert len(fake.deployments) == 1 and fake.count("createDeploymentUntenantedV1_Spaces") == 1


URL = "https://octo.example"


@pytest.fixture
def rsps() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


def unit_client() -> tuple[OctopusClient, list[float]]:
    sleeps: list[float] = []
    c = OctopusClient(URL, api_key="API-UNITKEY", timeout=(1.0, 4.0), sleep=sleeps.append)
    c._space_id = "Spaces-1"
    return c, sleeps


BODY = {"SpaceId": "Spaces-1", "SpaceIdOrName": "Spaces-1", "ProjectName": "p", "ReleaseVersion": "1.0.0",
        "EnvironmentNames": ["Development"]}


@pytest.mark.parametrize("answer", [requests.ReadTimeout("read timed out"), 500, 502, 504])
def test_an_ambiguous_failure_of_a_create_polls_the_lookup_then_exits_5(rsps: Any, answer: Any) -> None:
    path = f"{URL}/api/Spaces-1/deployments/create/untenanted/v1"
    rsps.post(path, body=answer) if isinstance(answer, Exception) else rsps.post(path, status=answer)
    c, sleeps = unit_client()
    lookups: list[int] = []

    def lookup() -> Any:
        lookups.append(1)
        return UNKNOWN  # Octopus may still be creating it

    with pytest.raises(OutcomeUnknown) as err:
        c.post(c.space_path("deployments/create/untenanted/v1"), BODY, recover=lookup)
    assert err.value.exit_code == 5
    assert len(rsps.calls) == 1  # never re-sent
    assert len(lookups) == len(sleeps) + 1 >= 4  # looked up again after each backoff
    check_contract(rsps.calls[0].request)


def test_a_503_to_a_create_proves_it_was_not_applied_and_it_is_sent_again(rsps: Any) -> None:
    path = f"{URL}/api/Spaces-1/deployments/create/untenanted/v1"
    rsps.post(path, status=503, json={"ErrorMessage": "Octopus Server is starting up"})
    rsps.post(path, json={"DeploymentServerTasks": [{"DeploymentId": "Deployments-1", "ServerTaskId": "T-1"}]})
    c, _ = unit_client()
    out = c.post(c.space_path("deployments/create/untenanted/v1"), BODY, recover=lambda: pytest.fail("looked up"))
    assert out["DeploymentServerTasks"][0]["ServerTaskId"] == "T-1" and len(rsps.calls) == 2


def test_a_create_that_never_reached_the_server_is_sent_again(rsps: Any) -> None:
    path = f"{URL}/api/Spaces-1/deployments/create/untenanted/v1"
    rsps.post(path, body=requests.ConnectTimeout("connect timed out"))
    rsps.post(path, json={"DeploymentServerTasks": [{"DeploymentId": "Deployments-1", "ServerTaskId": "T-1"}]})
    c, _ = unit_client()
    out = c.post(c.space_path("deployments/create/untenanted/v1"), BODY, recover=lambda: pytest.fail("looked up"))
    assert out["DeploymentServerTasks"][0]["DeploymentId"] == "Deployments-1" and len(rsps.calls) == 2
    for call in rsps.calls:
        check_contract(call.request)


# -- 4: an intervention that later succeeds is this deployment's outcome --------------------------
def test_after_a_manual_intervention_the_finished_task_is_adopted_and_checks_run(octo: Any, tmp_path: Path) -> None:
    fake, env = octo
    config, release, paths = setup(tmp_path)
    OctopusPublisher(env).ensure(release, paths, config)
    client(config, env).sleep = lambda s: [fake.hold_task(t) for t in list(fake.tasks) if not fake.interruptions]
    with pytest.raises(Refused) as err:
        OctopusTarget(config, config.environment("dev"), env).deploy(make_job(config, "dev", release, paths))
    assert err.value.exit_code == 3
    (task_id,) = fake.tasks
    fake.release_task(task_id)
    for _ in range(3):  # Octopus finishes the task while nobody watches
        requests.get(f"{fake.url}/api/Spaces-1/tasks/{task_id}", headers={"X-Octopus-ApiKey": fake.api_key},
                     timeout=10)
    assert fake.tasks[task_id]["State"] == "Success"
    reset_clients()
    client(config, env).sleep = lambda s: None
    checks, out = Counter(), []
    job = dataclasses.replace(make_job(config, "dev", release, paths, out=out), run_checks=checks)
    outcome = OctopusTarget(config, config.environment("dev"), env).deploy(job)
    assert outcome.status == "succeeded" and outcome.packages == {"app": "deployed"}, out
    assert checks.ran == 1 and "adopting it" in "".join(out) and "skipped" not in "".join(out)
    assert outcome.remote["deployments"]["MyApp"]["task_id"] == task_id
    assert len(fake.deployments) == 1


def test_a_component_the_core_planned_to_skip_is_still_skipped(octo: Any, tmp_path: Path) -> None:
    fake, env = octo
    config, release, paths = setup(tmp_path)
    OctopusPublisher(env).ensure(release, paths, config)
    client(config, env).sleep = lambda s: None
    target = OctopusTarget(config, config.environment("dev"), env)
    assert target.deploy(make_job(config, "dev", release, paths)).status == "succeeded"
    checks = Counter()
    job = dataclasses.replace(make_job(config, "dev", release, paths, skip=("app",)), run_checks=checks)
    outcome = target.deploy(job)
    assert outcome.packages == {"app": "skipped"} and checks.ran == 0 and len(fake.deployments) == 1


# -- 7: a new release is compared with the pins too -----------------------------------------------
def test_a_new_release_octopus_pinned_differently_is_a_conflict(octo: Any, tmp_path: Path) -> None:
    fake, env = octo
    fake.seed_package("Acme.Web", "0.9.0")
    fake.seed_process("MyApp", [("Deploy web", "Acme.Web")])  # references the package by another id
    config, release, paths = setup(tmp_path, files={"app.zip": b"PK\x05\x06" + b"\0" * 18})
    result = OctopusPublisher(env).ensure(release, paths, config)
    assert result.state == "conflict" and "app is not part of it" in result.detail, result.detail
    (made,) = fake.releases.values()
    assert made["SelectedPackages"] == [{"ActionName": "Deploy web", "PackageReferenceName": "", "Version": "0.9.0"}]


def test_a_new_release_whose_step_maps_to_the_pinned_package_is_created(octo: Any, tmp_path: Path) -> None:
    fake, env = octo
    fake.seed_process("MyApp", [("Deploy web", "app")])
    config, release, paths = setup(tmp_path, files={"app.zip": b"PK\x05\x06" + b"\0" * 18})
    assert OctopusPublisher(env).ensure(release, paths, config).state == "created"
    assert fake.count("getDeploymentProcessById_Spaces") == 1  # the step name differs: the process maps it


# -- 6: the pre-deploy feed check makes no copy ---------------------------------------------------
@pytest.mark.parametrize("size", [0, 1, 700_001])
def test_the_wrapper_sha1_streams_the_same_bytes_wrap_writes(tmp_path: Path, size: int) -> None:
    release, paths = make_release(tmp_path, {"app.bin": bytes(i % 251 for i in range(size))})
    wrap(release, release.packages[0], paths["app"], tmp_path / "w.zip")
    expected = hashlib.sha1((tmp_path / "w.zip").read_bytes()).hexdigest()
    assert wrapper_sha1(release, release.packages[0], paths["app"]) == expected


def test_the_feed_check_before_a_deploy_writes_no_wrapper(octo: Any, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fake, env = octo
    config, release, paths = setup(tmp_path, files={"app.bin": b"wrapped" * 1000, "api.zip": b"as is" * 100},
                                   projects={"api": "MyApp"})
    assert OctopusPublisher(env).ensure(release, paths, config).state == "created"
    reset_clients()  # a later run: nothing known in this process

    def no_copy(*args: Any) -> None:
        raise AssertionError("the pre-deploy check wrote a wrapper")

    monkeypatch.setattr(_wrap, "wrap", no_copy)
    client(config, env).sleep = lambda s: None
    target = OctopusTarget(config, config.environment("dev"), env)
    assert target.deploy(make_job(config, "dev", release, paths)).status == "succeeded"
    reset_clients()
    client(config, env).sleep = lambda s: None
    next(p for p in fake.packages.values() if p["PackageId"] == "app")["Hash"] = "0" * 40
    with pytest.raises(IntegrityError) as err:  # the streamed hash still catches a changed wrapper
        target.deploy(make_job(config, "dev", release, paths))
    assert err.value.exit_code == 4 and "behind trainmaster's back" in str(err.value)
