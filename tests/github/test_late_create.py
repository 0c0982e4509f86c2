"""A create-deployment answered after the read timeout (issue 10, item 8), against the GitHub fake's ``slow`` fault.

The fake applies a slow create after its delay, like a slow GitHub. The target looks the create up by
its attempt key with backoff and adopts what it finds; when the create lands only after it was sent
again, the second GitHub deployment of the same trainmaster deployment is marked ``inactive`` with a
description saying why, and the ``github`` ledger does not show it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.github import environ, load, make_project, release
from trainmaster.http import RetryPolicy
from trainmaster.interfaces import DeployJob, DeployOutcome
from trainmaster.masking import Masker
from trainmaster_github._ledger import GitHubLedger
from trainmaster_github._target import GitHubTarget
from trainmaster_github.context import GitHubActionsContext

LATE = 1.5  # seconds the fake holds the first create; the client's read timeout is 0.3 s


def deployments(fake: Any) -> dict[int, Any]:
    return fake.repos[("acme", "app")].deployments


def statuses(fake: Any, dep_id: int) -> list[dict[str, Any]]:
    return fake.repos[("acme", "app")].statuses.get(dep_id, [])


def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for ``condition`` (what the fake has applied), never for a fixed time."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the fake never applied the slow create"
        threading.Event().wait(0.02)


class Steps:
    """The core's run_steps: optionally waits until the late create has landed (a job that takes a while)."""

    def __init__(self, before: Callable[[], None] = lambda: None) -> None:
        self.before = before

    def __call__(self) -> DeployOutcome:
        self.before()
        return DeployOutcome(status="succeeded", packages={"app": "deployed", "docs": "deployed"})


def run(fake: Any, tmp_path: Path, sleep: Callable[[float], None], steps: Steps,
        force: bool = False) -> DeployOutcome:
    config = load(make_project(tmp_path))
    rel, _ = release(tmp_path)
    env = environ(fake, GITHUB_RUN_ID="77")
    target = GitHubTarget(config, config.environment("dev"), env, timeout=(5.0, 0.3),
                          policy=RetryPolicy(attempts=6, budget=1000.0, sleep=sleep, rand=lambda: 0.5))
    job = DeployJob(config=config, environment=config.environment("dev"), release=rel,  # type: ignore[arg-type]
                    deployment_id=7, kind="deploy", plan=[], variables={}, masker=Masker(), out=lambda _: None,
                    ci=GitHubActionsContext(env), run_steps=steps, run_checks=steps,
                    run_command=lambda a, b: None, force=force)  # type: ignore[arg-type,return-value]
    return target.deploy(job)


def test_a_create_that_lands_during_the_lookups_is_adopted(github_fake: Any, tmp_path: Path) -> None:
    github_fake.slow(LATE, operation_id="repos/create-deployment", count=1)
    lookups: list[float] = []

    def backoff(_seconds: float) -> None:  # the lookups' backoff: the slow create lands meanwhile
        lookups.append(_seconds)
        until(lambda: bool(deployments(github_fake)))

    outcome = run(github_fake, tmp_path, backoff, Steps())

    assert outcome.status == "succeeded"
    (dep,) = deployments(github_fake).values()  # adopted, not created twice
    assert github_fake.count("repos/create-deployment") == 1 and lookups
    assert [s["state"] for s in statuses(github_fake, dep["id"])] == ["in_progress", "success"]
    assert outcome.remote["github_deployment_id"] == dep["id"]


def test_a_create_that_lands_after_it_was_sent_again_is_marked_inactive(github_fake: Any, tmp_path: Path) -> None:
    github_fake.slow(LATE, operation_id="repos/create-deployment", count=1)
    both = Steps(lambda: until(lambda: len(deployments(github_fake)) == 2))  # the job outlasts the late create

    outcome = run(github_fake, tmp_path, lambda _: None, both)  # the backoff passes before the create lands

    assert outcome.status == "succeeded" and github_fake.count("repos/create-deployment") == 2
    used = outcome.remote["github_deployment_id"]
    (late,) = [d for d in deployments(github_fake).values() if d["id"] != used]
    assert late["payload"]["trainmaster"]["deployment_id"] == 7  # the same trainmaster deployment
    assert [s["state"] for s in statuses(github_fake, used)] == ["in_progress", "success"]
    (retired,) = statuses(github_fake, late["id"])
    assert retired["state"] == "inactive"
    assert retired["description"].startswith(f"duplicate of deployment {used}: its create was answered after")
    ledger = GitHubLedger(load(tmp_path / "trainmaster.yaml"), environ=environ(github_fake))
    current = ledger.current("dev")
    assert current is not None and current.id == used and current.status == "succeeded"
    assert [d.id for d in ledger.history("dev", None)] == [used]


def test_a_duplicate_that_lands_after_the_run_is_retired_by_the_next_deploy(github_fake: Any, tmp_path: Path) -> None:
    github_fake.slow(LATE, operation_id="repos/create-deployment", count=1)
    first = run(github_fake, tmp_path, lambda _: None, Steps())
    until(lambda: len(deployments(github_fake)) == 2)
    used = first.remote["github_deployment_id"]
    (late,) = [d for d in deployments(github_fake).values() if d["id"] != used]
    assert statuses(github_fake, late["id"]) == []  # landed after the run: nothing marked it yet

    again = run(github_fake, tmp_path, lambda _: None, Steps(), force=True)

    assert again.remote["github_deployment_id"] not in (used, late["id"])  # not adopted as "waiting"
    (retired,) = statuses(github_fake, late["id"])
    assert retired["state"] == "inactive" and retired["description"].startswith(f"duplicate of deployment {used}")
