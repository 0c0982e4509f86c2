"""The ``azure-devops`` publisher, target and ledger against the contract-checked Azure DevOps fake.

Classic releases pinned to the build, idempotent re-runs, stages started with PATCH and polled,
approvals (exit 3, then attach), failure then rollback, throttling and lost responses.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.azure import Checks, Sleeps, agent_env, job, load, make_project, release
from trainmaster.errors import (
    ConfigError,
    DigestMismatch,
    InvalidInput,
    PluginError,
    Refused,
    TrainmasterError,
)
from trainmaster_azure._ledger import AzureLedger
from trainmaster_azure._publish import AzurePublisher
from trainmaster_azure._target import AzureTarget


def setup(fake: Any, tmp: Path, env: dict[str, str], sleeps: Sleeps | None = None) -> tuple[Any, AzurePublisher]:
    config = load(make_project(tmp, fake.url))
    return config, AzurePublisher(env, (sleeps if sleeps is not None else Sleeps()).http())


def target(config: Any, name: str, env: dict[str, str], sleeps: Sleeps | None = None) -> AzureTarget:
    t = AzureTarget(config, config.environment(name), env, http=(sleeps if sleeps is not None else Sleeps()).http())
    t.sleep = lambda s: None
    return t


def test_publish_creates_a_classic_release_pinned_to_the_build(azure_fake: Any, tmp_path: Path,
                                                               env: dict[str, str], capsys: Any) -> None:
    config, pub = setup(azure_fake, tmp_path, env)
    rel = release(tmp_path)
    result = pub.ensure(rel, {}, config)
    assert result.state == "created" and result.url and "releaseId=" in result.url
    (classic,) = azure_fake.releases.values()
    assert f"trainmaster.releaseId: {rel.id}" in classic["description"]
    assert rel.packages[0].digest in classic["description"]
    assert classic["artifacts"][0]["definitionReference"]["version"]["id"] == "101"
    again = pub.ensure(rel, {}, config)
    assert again.state == "exists" and len(azure_fake.releases) == 1
    assert azure_fake.count("Releases_Create") == 1


def test_inside_the_build_it_uploads_release_json_and_defers_the_classic_release(
        azure_fake: Any, tmp_path: Path, capsys: Any) -> None:
    """Azure creates a classic release only for a completed build: the build's own run defers it."""
    in_build = agent_env(azure_fake, tmp_path)
    config, pub = setup(azure_fake, tmp_path, in_build)
    rel = release(tmp_path)
    result = pub.ensure(rel, {}, config)
    assert result.state == "deferred" and result.remote["deferred"] and "still running" in result.detail
    assert azure_fake.count("Releases_Create") == 0
    out = capsys.readouterr().out
    assert "##vso[artifact.upload containerfolder=trainmaster;artifactname=trainmaster;]" in out
    record = tmp_path / "staging" / "trainmaster" / "release.json"
    assert record.read_bytes() == rel.to_json()
    with pytest.raises(Refused) as err:
        target(config, "dev", in_build).deploy(job(config, "dev", rel))
    assert "has not completed" in str(err.value)
    later = agent_env(azure_fake, tmp_path, BUILD_BUILDID="202")
    assert AzurePublisher(later, Sleeps().http()).ensure(rel, {}, config).state == "created"


def test_a_different_id_for_the_same_version_is_a_conflict(azure_fake: Any, tmp_path: Path,
                                                           env: dict[str, str]) -> None:
    config, pub = setup(azure_fake, tmp_path, env)
    assert pub.ensure(release(tmp_path), {}, config).state == "created"
    other = release(tmp_path, content=b"different bytes")
    result = pub.ensure(other, {}, config)
    assert result.state == "conflict" and "1.2.3" in result.detail
    assert len(azure_fake.releases) == 1


def test_a_lost_create_response_does_not_duplicate_the_release(azure_fake: Any, tmp_path: Path,
                                                               env: dict[str, str]) -> None:
    config, pub = setup(azure_fake, tmp_path, env)
    azure_fake.lose_response(operation_id="Releases_Create")
    result = pub.ensure(release(tmp_path), {}, config)
    assert result.state == "created"
    assert len(azure_fake.releases) == 1 and azure_fake.count("Releases_Create") == 1


def test_429_with_retry_after_is_honoured(azure_fake: Any, tmp_path: Path, env: dict[str, str]) -> None:
    sleeps = Sleeps()
    config, pub = setup(azure_fake, tmp_path, env, sleeps)
    azure_fake.throttle(count=2, retry_after=7, operation_id="Definitions_List")
    assert pub.ensure(release(tmp_path), {}, config).state == "created"
    assert sleeps == [7.0, 7.0]
    assert azure_fake.count("Definitions_List", 429) == 2


def test_deploy_starts_the_stage_and_polls_it(azure_fake: Any, tmp_path: Path, env: dict[str, str]) -> None:
    config, pub = setup(azure_fake, tmp_path, env)
    rel = release(tmp_path)
    checks, out = Checks(), []
    outcome = target(config, "test", env).deploy(job(config, "test", rel, checks=checks, out=out))
    assert outcome.status == "succeeded" and checks.ran == 1
    assert outcome.remote["deployment_id"] and outcome.remote["system"] == "azure-devops"
    assert azure_fake.count("Releases_Update Release Environment") == 1
    assert any("Test succeeded" in line for line in out)
    assert azure_fake.count("Releases_Create") == 1  # created on first use


def test_a_lost_answer_to_starting_the_stage_is_looked_up_not_resent(azure_fake: Any, tmp_path: Path,
                                                                      env: dict[str, str]) -> None:
    config, pub = setup(azure_fake, tmp_path, env)
    rel = release(tmp_path)
    assert pub.ensure(rel, {}, config).state == "created"
    azure_fake.lose_response(operation_id="Releases_Update Release Environment")
    outcome = target(config, "test", env).deploy(job(config, "test", rel))
    assert outcome.status == "succeeded"
    assert azure_fake.count("Releases_Update Release Environment") == 1  # the stage ran once
    assert len([d for d in azure_fake.deployments.values() if d["releaseEnvironment"]["name"] == "Test"]) == 1


def test_a_lost_start_that_did_not_land_is_sent_again(azure_fake: Any, tmp_path: Path,
                                                      env: dict[str, str]) -> None:
    config, pub = setup(azure_fake, tmp_path, env)
    rel = release(tmp_path)
    assert pub.ensure(rel, {}, config).state == "created"
    azure_fake.fail(503, operation_id="Releases_Update Release Environment")  # refused, not applied
    outcome = target(config, "test", env).deploy(job(config, "test", rel))
    assert outcome.status == "succeeded"
    assert azure_fake.count("Releases_Update Release Environment", 503) == 1
    assert azure_fake.count("Releases_Update Release Environment") == 2


def test_pending_approval_exits_3_with_its_url_then_the_rerun_attaches(azure_fake: Any, tmp_path: Path,
                                                                       env: dict[str, str]) -> None:
    azure_fake.require_approval(1, "Prod")
    config, _ = setup(azure_fake, tmp_path, env)
    rel = release(tmp_path)
    with pytest.raises(Refused) as err:
        target(config, "prod", env).deploy(job(config, "prod", rel))
    assert err.value.exit_code == 3 and "_releaseProgress?releaseId=" in str(err.value)
    (classic,) = azure_fake.releases.values()
    assert azure_fake.stage_status(classic["id"], "Prod") == "queued"
    azure_fake.approve(classic["id"], "Prod")
    outcome = target(config, "prod", env).deploy(job(config, "prod", rel))
    assert outcome.status == "succeeded"
    assert azure_fake.count("Releases_Update Release Environment") == 1  # attached, never re-started


def test_a_failed_stage_then_rollback_redeploys_the_last_good_release(azure_fake: Any, tmp_path: Path,
                                                                     env: dict[str, str]) -> None:
    config, _ = setup(azure_fake, tmp_path, env)
    good, bad = release(tmp_path, "1.0.0"), release(tmp_path, "1.1.0", content=b"v2")
    assert target(config, "test", env).deploy(job(config, "test", good)).status == "succeeded"
    azure_fake.fail_next_deployment()
    failed = target(config, "test", env).deploy(job(config, "test", bad))
    assert failed.status == "failed" and "rejected" in failed.message
    rolled = target(config, "test", env).deploy(job(config, "test", good, kind="rollback"))
    assert rolled.status == "succeeded"
    ledger = AzureLedger(config, None, environ=env, http=Sleeps().http())
    history = ledger.history("test", None)
    assert [(d.version, d.status) for d in history] == [("1.0.0", "succeeded"), ("1.1.0", "failed"),
                                                        ("1.0.0", "succeeded")]
    assert ledger.current("test").version == "1.0.0"  # type: ignore[union-attr]
    assert ledger.succeeded(good, "test") and ledger.succeeded(bad, "test") is None
    assert ledger.succeeded(good, "prod") is None


@pytest.mark.parametrize("lost", [False, True])
def test_trainmaster_approve_records_the_azure_approval(azure_fake: Any, tmp_path: Path, env: dict[str, str],
                                                       monkeypatch: pytest.MonkeyPatch, lost: bool,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from trainmaster.interfaces import Approval

    azure_fake.require_approval(1, "Prod")
    config, _ = setup(azure_fake, tmp_path, env)
    rel = release(tmp_path)
    with pytest.raises(Refused):
        target(config, "prod", env).deploy(job(config, "prod", rel))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if lost:  # applied, answer lost: looked up, not sent again
        azure_fake.lose_response(operation_id="Approvals_Update")
    note = target(config, "prod", env).approve(
        Approval(rel.id, rel.version, "prod", "boss@example.com", "now", "ship it"), rel)
    (classic,) = azure_fake.releases.values()
    (approval,) = azure_fake.approvals.values()
    assert approval["status"] == "approved" and "boss@example.com" in approval["comments"]
    assert azure_fake.count("Approvals_Update") == 1 and "approved 1 pending approval" in note
    assert target(config, "prod", env).deploy(job(config, "prod", rel)).status == "succeeded"


@pytest.mark.parametrize("case", ["definition", "stage", "token", "extra", "bad-token"])
def test_each_setup_mistake_exits_2_naming_the_fix(case: str, azure_fake: Any, tmp_path: Path,
                                                   env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    config = load(make_project(tmp_path, azure_fake.url))
    name = "test"
    if case == "definition":
        config = load(make_project(tmp_path, azure_fake.url, (tmp_path / "trainmaster.yaml").read_text()
                                   .replace("definition: app-release", "definition: no-such-definition")))
        expected = (InvalidInput, "azure-devops.definition")
    elif case == "stage":
        config = load(make_project(tmp_path, azure_fake.url, (tmp_path / "trainmaster.yaml").read_text()
                                   .replace("stage: Test", "stage: QA")))
        expected = (InvalidInput, "azure-devops.stage")
    elif case == "token":
        env.pop("SYSTEM_ACCESSTOKEN")
        expected = (InvalidInput, "SYSTEM_ACCESSTOKEN")
    elif case == "bad-token":
        env["SYSTEM_ACCESSTOKEN"] = "wrong-token-123456"
        expected = (TrainmasterError, "valid, unexpired token")
    else:
        monkeypatch.setitem(sys.modules, "azure.devops.connection", None)
        expected = (PluginError, "install trainmaster[azure]")
    with pytest.raises(expected[0]) as err:
        target(config, name, env).deploy(job(config, name, release(tmp_path)))
    assert err.value.exit_code == 2 and expected[1] in str(err.value)
    assert "wrong-token-123456" not in str(err.value) and azure_fake.token not in str(err.value)
    if case == "bad-token":
        assert "401" in str(err.value)


def test_no_organisation_is_a_config_error(tmp_path: Path) -> None:
    config = load(make_project(tmp_path, "x", make_project(tmp_path, "x").read_text()
                               .replace("  organization: x\n", "")))
    with pytest.raises(ConfigError) as err:
        AzureTarget(config, config.environment("dev"), {}).validate()
    assert err.value.exit_code == 2 and "azure-devops.organization" in str(err.value)


def stage_env(tmp: Path, rel: Any, content: bytes, **extra: str) -> dict[str, str]:
    drop = tmp / "a" / "_app" / "trainmaster"
    drop.mkdir(parents=True)
    (drop / "release.json").write_bytes(rel.to_json())
    (tmp / "a" / "_app" / "drop").mkdir()
    (tmp / "a" / "_app" / "drop" / "app.bin").write_bytes(content)
    return {"TF_BUILD": "True", "RELEASE_RELEASEID": "9", "RELEASE_ENVIRONMENTNAME": "Test",
            "SYSTEM_ARTIFACTSDIRECTORY": str(tmp / "a"), **extra}


def test_inside_a_release_stage_it_verifies_digests_and_runs_the_commands(tmp_path: Path) -> None:
    config = load(make_project(tmp_path, "http://127.0.0.1:1/myorg"))
    rel = release(tmp_path)
    environ = stage_env(tmp_path, rel, (tmp_path / "build" / "app.bin").read_bytes())
    steps = Checks()
    outcome = AzureTarget(config, config.environment("test"), environ).deploy(job(config, "test", rel, steps=steps))
    assert outcome.status == "succeeded" and steps.ran == 1 and outcome.remote["stage"] == "Test"
    fetched = AzurePublisher(environ).fetch("1.2.3", tmp_path / "fetched", config)
    assert fetched is not None and fetched[0].id == rel.id and fetched[1]["app"].read_bytes()


def test_inside_a_release_stage_a_digest_mismatch_exits_4_before_anything_runs(tmp_path: Path) -> None:
    config = load(make_project(tmp_path, "http://127.0.0.1:1/myorg"))
    rel = release(tmp_path)
    environ = stage_env(tmp_path, rel, b"tampered")
    steps = Checks()
    with pytest.raises(DigestMismatch) as err:
        AzureTarget(config, config.environment("test"), environ).deploy(job(config, "test", rel, steps=steps))
    assert err.value.exit_code == 4 and steps.ran == 0
    with pytest.raises(DigestMismatch):
        AzurePublisher(environ).fetch("1.2.3", tmp_path / "fetched", config)


def test_inside_a_release_stage_it_never_starts_another_stage(tmp_path: Path) -> None:
    config = load(make_project(tmp_path, "http://127.0.0.1:1/myorg"))
    rel = release(tmp_path)
    environ = stage_env(tmp_path, rel, (tmp_path / "build" / "app.bin").read_bytes())
    with pytest.raises(InvalidInput) as err:
        AzureTarget(config, config.environment("prod"), environ).deploy(job(config, "prod", rel))
    assert "'Test'" in str(err.value) and err.value.exit_code == 2


@pytest.mark.parametrize(("policy", "expected"), [(None, "failed"), ("succeeded", "succeeded")])
def test_partially_succeeded_counts_as_configured(azure_fake: Any, tmp_path: Path, env: dict[str, str],
                                                  policy: str | None, expected: str) -> None:
    config, _ = setup(azure_fake, tmp_path, env)
    if policy:
        text = (tmp_path / "trainmaster.yaml").read_text()
        text = text.replace("azure-devops:\n", f"azure-devops:\n  partially_succeeded: {policy}\n", 1)
        (tmp_path / "trainmaster.yaml").write_text(text)
        config = load(tmp_path / "trainmaster.yaml")
        assert config.plugin_settings["azure-devops"]["partially_succeeded"] == policy
    azure_fake.partially_succeed_next_deployment()
    outcome = target(config, "test", env).deploy(job(config, "test", release(tmp_path)))
    assert outcome.status == expected
    (classic,) = azure_fake.releases.values()
    assert azure_fake.stage_status(classic["id"], "Test") == "partiallySucceeded"
    ledger = AzureLedger(config, None, environ=env, http=Sleeps().http())
    assert [d.status for d in ledger.history("test", None)] == [expected]
