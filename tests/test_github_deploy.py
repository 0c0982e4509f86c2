"""The ``github`` target and ledger against the contract-checked GitHub fake.

A Deployment per deploy (ref = tag, payload = release id/version/digests, auto_merge false,
required_contexts [], statuses with auto_inactive false), the commands run in the job, and the
train's questions answered from the Deployments API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_github_support import Sleeps, environ, load, make_project, release
from trainmaster.errors import ConfigError, Refused
from trainmaster.interfaces import DeployJob, DeployOutcome
from trainmaster.masking import Masker
from trainmaster.model import Release
from trainmaster_github._deploy import GitHubLedger, GitHubTarget
from trainmaster_github.context import GitHubActionsContext


def repo(fake: Any) -> Any:
    return fake.repos[("acme", "app")]


class Steps:
    """Stands in for the core's run_steps: records that the commands ran and returns an outcome."""

    def __init__(self, status: str = "succeeded") -> None:
        self.status = status
        self.ran = 0

    def __call__(self) -> DeployOutcome:
        self.ran += 1
        return DeployOutcome(status=self.status, packages={"app": "deployed"})  # type: ignore[arg-type]


def job(config: Any, env_name: str, rel: Release, steps: Steps, ci: Any, deployment_id: int = 1) -> DeployJob:
    def unused() -> Any:
        raise AssertionError("not used by the github target")

    return DeployJob(
        config=config,
        environment=config.environment(env_name),
        release=rel,
        deployment_id=deployment_id,
        kind="deploy",
        plan=[],
        variables={},
        masker=Masker(),
        out=lambda text: None,
        ci=ci,
        run_steps=steps,
        run_checks=unused,
        run_command=lambda a, b: unused(),
    )


@pytest.fixture
def runner(tmp_path: Path, github_fake: Any) -> dict[str, str]:
    out = tmp_path / "gh_output"
    out.touch()
    return environ(
        github_fake,
        GITHUB_ACTIONS="true",
        GITHUB_RUN_ID="77",
        GITHUB_ACTOR="octocat",
        GITHUB_SERVER_URL="https://github.com",
        GITHUB_OUTPUT=str(out),
    )


def deploy(
    fake: Any,
    tmp_path: Path,
    runner: dict[str, str],
    env_name: str,
    version: str = "1.2.3",
    status: str = "succeeded",
    deployment_id: int = 1,
) -> tuple[DeployOutcome, Steps, Release]:
    config = load(make_project(tmp_path))
    rel, _ = release(tmp_path, version)
    steps = Steps(status)
    target = GitHubTarget(config, config.environment(env_name), runner, **Sleeps().kw())
    outcome = target.deploy(job(config, env_name, rel, steps, GitHubActionsContext(runner), deployment_id))
    return outcome, steps, rel


def test_deploy_records_a_deployment_and_statuses(github_fake: Any, tmp_path: Path, runner: dict[str, str]) -> None:
    outcome, steps, rel = deploy(github_fake, tmp_path, runner, "test")
    assert steps.ran == 1 and outcome.status == "succeeded"
    (dep,) = repo(github_fake).deployments.values()
    assert dep["ref"] == "v1.2.3" and dep["environment"] == "test"
    meta = dep["payload"]["trainmaster"]
    assert meta["release_id"] == rel.id and meta["version"] == "1.2.3"
    assert meta["digests"] == {p.name: p.digest for p in rel.packages}
    states = [s["state"] for s in repo(github_fake).statuses[dep["id"]]]
    assert states == ["in_progress", "success"]
    final = repo(github_fake).statuses[dep["id"]][-1]
    assert final["log_url"] == "https://github.com/acme/app/actions/runs/77"
    assert final["environment_url"] == "https://test.example.com"
    assert outcome.remote["github_deployment_id"] == dep["id"]
    assert "environment-url<<" in Path(runner["GITHUB_OUTPUT"]).read_text()
    body = github_fake.calls_to("repos/create-deployment")
    assert len(body) == 1


def test_failed_steps_post_failure(github_fake: Any, tmp_path: Path, runner: dict[str, str]) -> None:
    outcome, _, _ = deploy(github_fake, tmp_path, runner, "dev", status="failed")
    (dep,) = repo(github_fake).deployments.values()
    assert outcome.status == "failed"
    assert [s["state"] for s in repo(github_fake).statuses[dep["id"]]] == ["in_progress", "failure"]


@pytest.mark.parametrize("fault", ["lost_201", "bad_gateway", "throttle", "lost_status"])
def test_deploy_faults_no_duplicate_deployment(
    github_fake: Any, tmp_path: Path, runner: dict[str, str], fault: str
) -> None:
    if fault == "lost_201":
        github_fake.lose_response(operation_id="repos/create-deployment")
    elif fault == "bad_gateway":
        github_fake.fail(502, operation_id="repos/create-deployment")
    elif fault == "throttle":
        github_fake.throttle(retry_after=1, operation_id="repos/create-deployment-status")
    else:
        github_fake.lose_response(operation_id="repos/create-deployment-status")
    outcome, steps, _ = deploy(github_fake, tmp_path, runner, "dev")
    assert outcome.status == "succeeded" and steps.ran == 1
    assert len(repo(github_fake).deployments) == 1
    (dep,) = repo(github_fake).deployments.values()
    assert [s["state"] for s in repo(github_fake).statuses[dep["id"]]] == ["in_progress", "success"]
    assert any(c.fault for c in github_fake.calls)


def test_waiting_for_reviewers_is_refused_then_resumed(
    github_fake: Any, tmp_path: Path, runner: dict[str, str]
) -> None:
    github_fake.set_environment("acme", "app", "prod", reviewers=["boss"])
    with pytest.raises(Refused) as info:
        deploy(github_fake, tmp_path, runner, "prod")
    assert info.value.exit_code == 3
    (dep,) = repo(github_fake).deployments.values()
    github_fake.approve_deployment("acme", "app", dep["id"])
    outcome, steps, _ = deploy(github_fake, tmp_path, runner, "prod")
    assert outcome.status == "succeeded" and steps.ran == 1
    assert len(repo(github_fake).deployments) == 1


def test_ledger_answers_from_deployments(github_fake: Any, tmp_path: Path, runner: dict[str, str]) -> None:
    deploy(github_fake, tmp_path, runner, "dev", deployment_id=1)
    deploy(github_fake, tmp_path, runner, "dev", version="1.3.0", status="failed", deployment_id=2)
    config = load(tmp_path / "trainmaster.yaml")
    ledger = GitHubLedger(config, None, runner, **Sleeps().kw())
    rel_ok, _ = release(tmp_path, "1.2.3")
    rel_bad, _ = release(tmp_path, "1.3.0")
    assert ledger.succeeded(rel_ok, "dev")
    assert ledger.succeeded(rel_bad, "dev") is None
    assert ledger.succeeded(rel_ok, "test") is None
    current = ledger.current("dev")
    assert current is not None and current.version == "1.3.0" and current.status == "failed"
    assert current.id == 2 and current.actor == "octocat"
    history = ledger.history("dev", None)
    assert [(d.version, d.status) for d in history] == [("1.2.3", "succeeded"), ("1.3.0", "failed")]
    assert [d.version for d in ledger.history(None, 1)] == ["1.3.0"]
    assert ledger.current("prod") is None


def test_success_superseded_by_inactive_still_counts(github_fake: Any, tmp_path: Path, runner: dict[str, str]) -> None:
    """GitHub marks older deployments inactive when a job's own environment deployment succeeds."""
    deploy(github_fake, tmp_path, runner, "dev")
    (dep,) = repo(github_fake).deployments.values()
    github_fake._append_status(repo(github_fake), dep["id"], "inactive", "superseded")
    ledger = GitHubLedger(load(tmp_path / "trainmaster.yaml"), None, runner, **Sleeps().kw())
    rel, _ = release(tmp_path)
    assert ledger.succeeded(rel, "dev")


def test_validate_requires_reviewers_when_approvals_set(
    github_fake: Any, tmp_path: Path, runner: dict[str, str]
) -> None:
    config = load(make_project(tmp_path))
    target = GitHubTarget(config, config.environment("prod"), runner, **Sleeps().kw())
    with pytest.raises(ConfigError) as info:
        target.validate()
    assert info.value.exit_code == 2 and "prod" in str(info.value) and "required reviewers" in str(info.value)
    assert info.value.line is not None
    github_fake.set_environment("acme", "app", "prod", reviewers=["boss"])
    target.validate()
    GitHubTarget(config, config.environment("dev"), runner).validate()  # no approvals: nothing to check


def test_local_sqlite_ledger_inside_actions_is_warned(
    github_fake: Any, tmp_path: Path, runner: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from trainmaster_github import _settings

    _settings._warned.clear()
    config = load(make_project(tmp_path, config=CONFIG_SQLITE))
    GitHubTarget(config, config.environment("dev"), runner).validate()
    err = capsys.readouterr().err
    assert err.startswith("::warning::") and "sqlite" in err and "ledger: github" in err
    _settings._warned.clear()
    GitHubTarget(config, config.environment("dev"), {**runner, "GITHUB_ACTIONS": ""}).validate()
    assert "::warning::" not in capsys.readouterr().err


CONFIG_SQLITE = """\
project: demo
packages:
  app: build/app.bin
defaults:
  target: github
train:
  - name: dev
"""
