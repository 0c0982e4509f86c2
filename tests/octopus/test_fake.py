"""The Octopus adapter against the contract-checked Octopus fake (real HTTP over loopback).

Each test fails at teardown if the fake recorded a contract violation.
"""

from __future__ import annotations

import hashlib

import pytest

from tests.support.octopus import make_job
from tests.support.octopus_flow import ENVS, deploy, setup
from trainmaster.errors import DigestMismatch, IntegrityError, InvalidInput, Refused, TrainmasterError, Unavailable
from trainmaster_octopus._ledger import OctopusLedger
from trainmaster_octopus._publish import OctopusPublisher
from trainmaster_octopus._settings import reset_clients
from trainmaster_octopus._target import OctopusTarget


def test_publish_is_idempotent_and_wraps_deterministically(octo, tmp_path):
    fake, env = octo
    config, release, paths = setup(tmp_path, env, source={"commit": "abc123", "branch": "main",
                                                           "build_url": "https://ci/1"})
    first = OctopusPublisher(env).ensure(release, paths, config)
    assert first.state == "created", first.detail
    pkg = first.remote["packages"]["app"]
    assert pkg["file_name"] == "app.1.2.3.zip" and pkg["pinned"] == release.packages[0].digest
    assert pkg["wrapper"].startswith("sha256:") and pkg["wrapper"] != pkg["pinned"]
    reset_clients()
    again = OctopusPublisher(env).ensure(release, paths, config)
    assert again.state == "exists", again.detail
    assert again.remote["packages"]["app"]["wrapper"] == pkg["wrapper"]  # same bytes on a re-run
    assert fake.count("createPackageRepositoryUpload_Spaces") == 1
    assert len(fake.releases) == 1
    rel = next(iter(fake.releases.values()))
    assert release.id in rel["ReleaseNotes"] and pkg["wrapper"] in rel["ReleaseNotes"]
    assert [p["Version"] for p in rel["SelectedPackages"]] == ["1.2.3"]
    info = next(iter(fake.build_information.values()))
    assert info["Branch"] == "main" and info["BuildUrl"] == "https://ci/1"
    assert info["Commits"][0]["Id"] == "abc123"


def test_supported_format_is_pushed_as_is(octo, tmp_path):
    fake, env = octo
    config, release, paths = setup(tmp_path, env, files={"web.tar.gz": b"\x1f\x8b not really"})
    result = OctopusPublisher(env).ensure(release, paths, config)
    assert result.state == "created"
    assert "wrapper" not in result.remote["packages"]["web"]
    pkg = next(iter(fake.packages.values()))
    assert pkg["FileExtension"].lower() == ".tar.gz"
    assert fake.package_bytes[pkg["Id"]] == b"\x1f\x8b not really"


def test_different_bytes_under_same_version_conflict_and_nothing_is_overwritten(octo, tmp_path):
    fake, env = octo
    config, release, paths = setup(tmp_path, env, files={"web.zip": b"one"})
    assert OctopusPublisher(env).ensure(release, paths, config).state == "created"
    other = tmp_path / "o"
    other.mkdir()
    _, release2, paths2 = setup(other, env, files={"web.zip": b"two"})
    result = OctopusPublisher(env).ensure(release2, paths2, config)
    assert result.state == "conflict" and "nothing was overwritten" in result.detail
    assert fake.package_bytes[next(iter(fake.packages.values()))["Id"]] == b"one"
    assert fake.count("createPackageRepositoryUpload_Spaces") == 1


def test_faults_are_survived_without_duplicates(octo, tmp_path):
    fake, env = octo
    fake.throttle(retry_after=1, operation_id="getSpaces")
    fake.drop_upload(after_bytes=200, operation_id="createPackageRepositoryUpload_Spaces")
    fake.fail(503, operation_id="createReleaseV1_Spaces")
    fake.lose_response(operation_id="createDeploymentUntenantedV1_Spaces")
    config, release, paths = setup(tmp_path, env, files={"app.zip": b"z" * 50_000})
    from trainmaster_octopus import _settings

    sleeps: list[float] = []
    _settings.client_for(_settings.Settings.resolve(config), env).sleep = sleeps.append
    assert OctopusPublisher(env).ensure(release, paths, config).state == "created"
    outcome = deploy(config, release, paths, env, "dev")
    assert outcome.status == "succeeded", outcome.message
    assert 1.0 in sleeps  # Retry-After honoured
    assert len(fake.packages) == 1 and len(fake.releases) == 1 and len(fake.deployments) == 1
    assert fake.count("createPackageRepositoryUpload_Spaces", 201) == 1


def test_deploy_waits_with_one_batched_poll_per_interval(octo, tmp_path):
    fake, env = octo
    config, release, paths = setup(tmp_path, env, settings={"projects": {"api": "Api"}, "components": "parallel"},
                                   files={"app.zip": b"a", "api.zip": b"b"})
    lc = next(iter(fake.lifecycles))
    fake.seed_project("Api", lifecycle_id=lc)
    assert OctopusPublisher(env).ensure(release, paths, config).state == "created"
    fake.reset_log()
    outcome = deploy(config, release, paths, env, "dev")
    assert outcome.status == "succeeded"
    assert outcome.packages == {"app": "deployed", "api": "deployed"}
    polls = fake.calls_to("getListTasks_Spaces")
    assert len(polls) == 2  # Queued/Executing, then Success: two tasks, one call per interval
    assert all(len(c.query["ids"].split(",")) == 2 for c in polls[:1])


def test_components_deploy_in_declared_order_and_stop_at_a_failure(octo, tmp_path):
    fake, env = octo
    config, release, paths = setup(tmp_path, env, settings={"projects": {"api": "Api"}},
                                   files={"app.zip": b"a", "api.zip": b"b"})
    fake.seed_project("Api", lifecycle_id=next(iter(fake.lifecycles)))
    assert OctopusPublisher(env).ensure(release, paths, config).state == "created"
    fake.fail_next_deployment("migration failed")
    outcome = deploy(config, release, paths, env, "dev")
    assert outcome.status == "failed" and "migration failed" in outcome.message
    assert outcome.packages == {"app": "failed", "api": "failed"}
    assert len(fake.deployments) == 1  # the second component never started
    reset_clients()
    fake.reset_log()
    outcome = deploy(config, release, paths, env, "dev")
    assert outcome.status == "succeeded"
    creates = fake.calls_to("createDeploymentUntenantedV1_Spaces")
    polls = fake.calls_to("getListTasks_Spaces")
    assert len(creates) == 2 and all(len(c.query["ids"].split(",")) == 1 for c in polls)
    assert creates[0].time <= polls[0].time and polls[-1].time >= creates[1].time  # one after the other


def test_components_already_current_are_skipped(octo, tmp_path):
    fake, env = octo
    config, release, paths = setup(tmp_path, env, settings={"projects": {"api": "Api"}},
                                   files={"app.zip": b"a", "api.zip": b"b"})
    fake.seed_project("Api", lifecycle_id=next(iter(fake.lifecycles)))
    OctopusPublisher(env).ensure(release, paths, config)
    assert deploy(config, release, paths, env, "dev").status == "succeeded"
    reset_clients()
    out: list[str] = []
    again = deploy(config, release, paths, env, "dev", skip=("api",), out=out)
    # api: the core planned a skip. app: planned, but this release's deployment there succeeded and is
    # current, so it is adopted (reported deployed, checks run), never deployed a second time.
    assert again.packages == {"app": "deployed", "api": "skipped"}, out
    assert len(fake.deployments) == 2


def test_failed_task_is_a_failure(octo, tmp_path):
    fake, env = octo
    config, release, paths = setup(tmp_path, env)
    OctopusPublisher(env).ensure(release, paths, config)
    fake.fail_next_deployment("boom")
    outcome = deploy(config, release, paths, env, "dev")
    assert outcome.status == "failed" and "boom" in outcome.message
    assert outcome.packages == {"app": "failed"}


def test_manual_intervention_exits_3_and_a_rerun_resumes_the_same_task(octo, tmp_path):
    fake, env = octo
    config, release, paths = setup(tmp_path, env)
    OctopusPublisher(env).ensure(release, paths, config)
    from trainmaster_octopus import _settings

    client = _settings.client_for(_settings.Settings.resolve(config), env)
    client.sleep = lambda s: [fake.hold_task(t) for t in list(fake.tasks) if not fake.interruptions]
    target = OctopusTarget(config, config.environment("dev"), env)
    with pytest.raises(Refused) as exc:
        target.deploy(make_job(config, "dev", release, paths))
    task_id = next(iter(fake.tasks))
    assert exc.value.exit_code == 3 and f"/app#/Spaces-1/tasks/{task_id}" in str(exc.value)
    out: list[str] = []
    with pytest.raises(Refused):  # still held: the re-run attaches to the same task
        target.deploy(make_job(config, "dev", release, paths, out=out))
    assert f"resuming the wait on MyApp task {task_id}" in "".join(out)
    fake.release_task(task_id)
    reset_clients()
    outcome = deploy(config, release, paths, env, "dev")
    assert outcome.status == "succeeded"
    assert len(fake.deployments) == 1 and len(fake.tasks) == 1


def test_package_changed_behind_our_back_exits_4(octo, tmp_path):
    fake, env = octo
    config, release, paths = setup(tmp_path, env)
    OctopusPublisher(env).ensure(release, paths, config)
    next(iter(fake.packages.values()))["Hash"] = "0" * 40
    with pytest.raises(IntegrityError) as exc:
        deploy(config, release, paths, env, "dev")
    assert exc.value.exit_code == 4 and "behind trainmaster's back" in str(exc.value)
    assert not fake.deployments


def test_drift_check_reports_different_package_versions(octo, tmp_path):
    fake, env = octo
    config, release, paths = setup(tmp_path, env)
    pub = OctopusPublisher(env)
    assert pub.check(release, config).state == "created"  # not in Octopus yet
    pub.ensure(release, paths, config)
    assert pub.check(release, config).state == "exists"
    next(iter(fake.releases.values()))["SelectedPackages"][0]["Version"] = "9.9.9"
    drift = pub.check(release, config)
    assert drift.state == "conflict" and "9.9.9" in drift.detail


def test_ledger_answers_what_is_deployed_where(octo, tmp_path):
    fake, env = octo
    config, release, paths = setup(tmp_path, env)
    OctopusPublisher(env).ensure(release, paths, config)
    assert deploy(config, release, paths, env, "dev").status == "succeeded"
    ledger = OctopusLedger(config, None, env)
    assert ledger.succeeded(release, "dev")
    assert ledger.succeeded(release, "test") is None
    current = ledger.current("dev")
    assert current is not None and current.version == "1.2.3" and current.status == "succeeded"
    assert current.release_id == release.id
    assert [d.environment for d in ledger.history(None, None)] == ["dev"]


@pytest.mark.parametrize("case", ["key", "space", "project"])
def test_wrong_key_unknown_space_or_project_exit_2_naming_the_fix(octo, tmp_path, case):
    fake, env = octo
    env = dict(env)
    settings = {}
    if case == "key":
        env["OCTOPUS_API_KEY"] = "API-WRONGWRONGWRONG"
    elif case == "space":
        env["OCTOPUS_SPACE"] = "Nowhere"
    else:
        settings = {"project": "Ghost"}
    config, release, paths = setup(tmp_path, env, settings=settings)
    with pytest.raises(TrainmasterError) as exc:
        OctopusPublisher(env).ensure(release, paths, config)
    fix = {"key": "OCTOPUS_API_KEY", "space": "OCTOPUS_SPACE", "project": "octopus.project"}[case]
    assert exc.value.exit_code == 2 and fix in str(exc.value)
    assert "API-WRONGWRONGWRONG" not in str(exc.value)
    assert not fake.packages


def test_validate_refuses_an_environment_missing_from_the_lifecycle(octo, tmp_path):
    fake, env = octo
    fake.seed_environment("Staging")
    config, _, _ = setup(tmp_path, env, envs=[*ENVS[:2], ("staging", {"environment": "Staging"}), ENVS[2]])
    with pytest.raises(InvalidInput) as exc:
        OctopusTarget(config, config.environment("staging"), env).validate()
    assert exc.value.exit_code == 2 and "missing from lifecycle" in str(exc.value)


def test_validate_refuses_an_order_octopus_would_refuse(octo, tmp_path):
    _, env = octo
    config, _, _ = setup(tmp_path, env, envs=[ENVS[0], ENVS[2], ENVS[1]])
    with pytest.raises(InvalidInput) as exc:
        OctopusTarget(config, config.environment("dev"), env).validate()
    assert "reorder the train" in str(exc.value)
    good, _, _ = setup(tmp_path, env)
    OctopusTarget(good, good.environment("dev"), env).validate()


def test_prompted_variables_come_from_the_environment(octo, tmp_path):
    fake, env = octo
    config, release, paths = setup(tmp_path, env, settings={"prompted_variables": ["DB_PASSWORD"]})
    OctopusPublisher(env).ensure(release, paths, config)
    secret = "s3cr3t-value-xyz"
    out: list[str] = []
    outcome = deploy(config, release, paths, env, "dev", variables={"DB_PASSWORD": secret, "OTHER": "x"}, out=out)
    assert outcome.status == "succeeded"
    assert secret not in "".join(out) and secret not in repr(outcome)


@pytest.mark.parametrize("cancel", [True, False])
def test_a_task_that_never_finishes_times_out_exit_5_and_is_cancelled_when_asked(octo, tmp_path, cancel):
    fake, env = octo
    config, release, paths = setup(tmp_path, env, settings={"timeout": 0.2, "cancel_on_timeout": cancel})
    OctopusPublisher(env).ensure(release, paths, config)
    fake.stall_next_deployment()
    with pytest.raises(Unavailable) as exc:
        deploy(config, release, paths, env, "dev")
    (task_id,) = fake.tasks
    assert exc.value.exit_code == 5 and f"/app#/Spaces-1/tasks/{task_id}" in str(exc.value)
    if cancel:
        assert "were cancelled" in str(exc.value)
        assert fake.tasks[task_id]["State"] == "Canceled" and fake.count("createTaskCancel_Spaces") == 1
    else:
        assert "a re-run resumes waiting" in str(exc.value)
        assert fake.tasks[task_id]["State"] == "Executing" and fake.count("createTaskCancel_Spaces") == 0


def test_a_push_octopus_received_other_bytes_of_is_deleted_and_refused(octo, tmp_path, monkeypatch):
    """Octopus answers the push with the SHA-1 of what it received: bytes that are not the ones sent
    (a proxy that altered them) are never taken for the pinned package."""
    fake, env = octo
    config, release, paths = setup(tmp_path, env, files={"web.tar.gz": b"\x1f\x8b the app"})
    real = type(fake).package_resource

    def received_other_bytes(self, sid, package_id, version, ext, sha1, size):
        return real(self, sid, package_id, version, ext, hashlib.sha1(b"\x1f\x8b the evil").hexdigest(), size)

    monkeypatch.setattr(type(fake), "package_resource", received_other_bytes)
    with pytest.raises(DigestMismatch) as err:
        OctopusPublisher(env).ensure(release, paths, config)
    assert err.value.exit_code == 4 and "deleted" in str(err.value)
    assert not fake.packages and not fake.releases
