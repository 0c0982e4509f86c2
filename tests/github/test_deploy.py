"""The ``github`` target and ledger against the contract-checked GitHub fake.

A Deployment per deploy (ref = tag, payload = release id/version/digests, auto_merge false,
required_contexts [], statuses with auto_inactive false), the commands run in the job, and the
train's questions answered from the Deployments API.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.github import Sleeps, environ, load, make_project, release
from trainmaster.errors import ConfigError, InvalidInput, Refused
from trainmaster.interfaces import DeployJob, DeployOutcome
from trainmaster.masking import Masker
from trainmaster.model import Release
from trainmaster_github._ledger import GitHubLedger
from trainmaster_github._target import GitHubTarget
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
    github_fake.hold_next_deployment()  # a deployment GitHub holds (a protection rule)
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
    newest = max(repo(github_fake).deployments)
    assert current.id == newest and current.actor == "octocat"  # GitHub's id: unique across jobs
    assert current.remote["trainmaster_deployment_id"] == 2
    history = ledger.history("dev", None)
    assert [(d.version, d.status) for d in history] == [("1.2.3", "succeeded"), ("1.3.0", "failed")]
    assert [d.version for d in ledger.history(None, 1)] == ["1.3.0"]
    assert ledger.current("prod") is None
    one_format = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")  # GitHub's own is without .000
    assert all(one_format.match(d.started_at) and one_format.match(d.finished_at or "") for d in history)


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


def test_ledger_leaves_approvals_of_github_targets_to_github(github_fake: Any, tmp_path: Path) -> None:
    text = CONFIG_SQLITE.replace("defaults:", "ledger: github\ndefaults:")
    config = load(make_project(tmp_path, config=text + "  - name: qa\n    target: local\n    approvals: 1\n"))
    ledger = GitHubLedger(config, None, environ(github_fake), **Sleeps().kw())
    assert ledger.approvals_enforced_remotely(config.environment("dev")) is True
    assert ledger.approvals_enforced_remotely("dev") is True
    assert ledger.approvals_enforced_remotely(config.environment("qa")) is False  # local target: local approvals
    assert github_fake.calls == []


def test_deploy_refuses_approvals_without_required_reviewers(
    github_fake: Any, tmp_path: Path, runner: dict[str, str]
) -> None:
    """The core leaves approvals to GitHub, so deploy re-checks that GitHub really has reviewers."""
    with pytest.raises(ConfigError) as info:
        deploy(github_fake, tmp_path, runner, "prod")
    assert info.value.exit_code == 2 and "environment prod" in str(info.value)
    assert "required reviewers" in str(info.value)
    assert repo(github_fake).deployments == {}


def test_approvals_above_one_cannot_be_enforced_by_github(
    github_fake: Any, tmp_path: Path, runner: dict[str, str]
) -> None:
    from tests.support.github import CONFIG

    config = load(make_project(tmp_path, config=CONFIG.replace("approvals: 1", "approvals: 2")))
    github_fake.set_environment("acme", "app", "prod", reviewers=["boss", "chief"])
    with pytest.raises(ConfigError) as info:
        GitHubTarget(config, config.environment("prod"), runner, **Sleeps().kw()).validate()
    assert info.value.exit_code == 2 and "approvals: 1" in str(info.value)


def test_validate_needs_no_token_when_nothing_is_checked_on_github(github_fake: Any, tmp_path: Path) -> None:
    config = load(make_project(tmp_path))
    no_token = {"GITHUB_REPOSITORY": "acme/app", "GITHUB_API_URL": github_fake.url}
    GitHubTarget(config, config.environment("dev"), no_token).validate()
    assert github_fake.calls == []
    with pytest.raises(InvalidInput):  # prod's approvals are checked on GitHub: that needs the token
        GitHubTarget(config, config.environment("prod"), no_token).validate()


def test_environment_name_is_quoted_in_the_url(github_fake: Any, tmp_path: Path, runner: dict[str, str]) -> None:
    from tests.support.github import CONFIG

    text = CONFIG.replace("    approvals: 1\n", "    approvals: 1\n    github:\n      environment: 'prod?eu #1'\n")
    config = load(make_project(tmp_path, config=text))
    github_fake.set_environment("acme", "app", "prod?eu #1", reviewers=["boss"])
    GitHubTarget(config, config.environment("prod"), runner, **Sleeps().kw()).validate()
    (call,) = github_fake.calls_to("repos/get-environment")
    assert call.status == 200


@pytest.mark.parametrize("key", ["tag", "repository", "api_url", "token_env"])
def test_train_wide_keys_only_at_the_top_level(github_fake: Any, tmp_path: Path, key: str) -> None:
    from tests.support.github import CONFIG

    value = {"tag": "rel-{version}", "repository": "acme/other", "api_url": "https://ghe.example", "token_env": "T"}
    text = CONFIG.replace("  - name: dev\n", f"  - name: dev\n    github:\n      {key}: '{value[key]}'\n")
    config = load(make_project(tmp_path, config=text))
    with pytest.raises(ConfigError) as info:
        GitHubTarget(config, config.environment("dev"), environ(github_fake))
    assert info.value.exit_code == 2 and f"github.{key}" in str(info.value) and "dev" in str(info.value)
    assert info.value.line == text.splitlines().index(f"      {key}: '{value[key]}'") + 1  # the key's own line
    GitHubTarget(config, config.environment("test"), environ(github_fake))  # others are unaffected


def test_cancelled_job_posts_a_final_cancelled_status(
    github_fake: Any, tmp_path: Path, runner: dict[str, str]
) -> None:
    class Cancelled(Steps):
        def __call__(self) -> DeployOutcome:
            raise KeyboardInterrupt

    config = load(make_project(tmp_path))
    rel, _ = release(tmp_path)
    target = GitHubTarget(config, config.environment("dev"), runner, **Sleeps().kw())
    with pytest.raises(KeyboardInterrupt):
        target.deploy(job(config, "dev", rel, Cancelled(), GitHubActionsContext(runner)))
    (dep,) = repo(github_fake).deployments.values()
    final = repo(github_fake).statuses[dep["id"]][-1]
    assert final["state"] == "error" and final["description"].startswith("cancelled")
    current = GitHubLedger(config, None, runner, **Sleeps().kw()).current("dev")
    assert current is not None and current.status == "cancelled"


def seed_deployments(fake: Any, count: int) -> None:
    """``count`` finished trainmaster deployments to dev, straight through the fake's API."""
    import requests

    api = f"{fake.url}/repos/acme/app"
    headers = {"Authorization": f"Bearer {fake.token}", "X-GitHub-Api-Version": "2022-11-28"}
    for i in range(count):
        meta = {"release_id": f"sha256:{i:064x}", "version": f"1.0.{i}", "project": "demo", "environment": "dev"}
        body = {"ref": "v1.0.0", "environment": "dev", "payload": {"trainmaster": meta}, "required_contexts": []}
        dep = requests.post(f"{api}/deployments", json=body, headers=headers, timeout=10).json()
        status = {"state": "success", "auto_inactive": False}
        requests.post(f"{api}/deployments/{dep['id']}/statuses", json=status, headers=headers, timeout=10)


def test_history_reads_a_capped_number_of_deployments_and_caches_states(
    github_fake: Any, tmp_path: Path, runner: dict[str, str]
) -> None:
    seed_deployments(github_fake, 40)
    github_fake.reset_log()
    ledger = GitHubLedger(load(make_project(tmp_path)), None, runner, **Sleeps().kw())
    history = ledger.history("dev", None)
    assert len(history) == 30 and history[-1].version == "1.0.39" and history[0].version == "1.0.10"
    assert github_fake.count("repos/list-deployment-statuses") == 30
    assert github_fake.count("repos/list-deployments") == 1
    current = ledger.current("dev")
    assert current is not None and current.id == history[-1].id
    assert github_fake.count("repos/list-deployment-statuses") == 30, "a known deployment's state is cached"
    assert len(ledger.history("dev", 500)) == 40  # the whole scan, never more than 100


def test_deployments_page_past_100_and_keep_the_environment_filter(github_fake: Any) -> None:
    """More than 100 matching deployments: the next pages (GitHub's Link URLs) stay filtered."""
    import requests

    from trainmaster_github._ledger import deployments
    from trainmaster_github.client import GitHubClient

    base = f"{github_fake.url}/repos/acme/app/deployments"
    headers = {"Authorization": f"Bearer {github_fake.token}", "X-GitHub-Api-Version": "2022-11-28"}
    made: dict[str, list[int]] = {"dev": [], "prod": []}
    with requests.Session() as s:
        for i in range(260):
            env = "dev" if i % 2 else "prod"
            made[env].append(s.post(base, json={"ref": "v1.2.3", "environment": env}, headers=headers).json()["id"])
    client = GitHubClient("acme/app", github_fake.token, api_url=github_fake.url)
    found = list(deployments(client, "dev", "v1.2.3"))
    assert [d["id"] for d in found] == sorted(made["dev"], reverse=True)  # 130, newest first, each once
    assert github_fake.count("repos/list-deployments") == 2
