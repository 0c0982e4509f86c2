"""The core's side of remote runbooks (``remote: NAME``), through the CLI with an in-process target plugin.

What the core decides, whatever the remote system: nothing is recorded before the target calls
``job.begin()``; an outcome the target could not learn (exit 5) leaves the run ``interrupted`` and the
next run of that runbook against that release there resumes it (``job.resumes``); the target's log
lines are masked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.plugins import make_project, registered, run_cli
from trainmaster import hookimpl
from trainmaster.errors import InvalidInput, Unavailable
from trainmaster.interfaces import DeployOutcome, RunbookJob

# re-exported so that this module's tests get a fresh plugin manager too
from tests.support.plugins import fresh_plugin_manager  # noqa: F401, E402  isort: skip

SECRET = "s3cr3t-remote-runbook"
CONFIG = """\
project: demo
packages: {app: app.bin}
train:
  - name: dev
    target: ops
    variables: {TOKEN: {secret: env:OPS_TOKEN}}
runbooks:
  migrate:
    remote: Migrate
    environments: [dev]
"""


@dataclass
class OpsTarget:
    """Deploys by doing nothing; runs remote runbooks by following ``script`` (one entry per call)."""

    script: list[str]
    seen: list[dict[str, Any]] = field(default_factory=list)

    def validate(self) -> None:
        return None

    def deploy(self, job: Any) -> DeployOutcome:
        return DeployOutcome("succeeded", packages={p.package.name: "deployed" for p in job.plan})

    def run_runbook(self, job: RunbookJob) -> DeployOutcome:
        step = self.script.pop(0)
        if step == "unknown":
            raise InvalidInput(f"no runbook named {job.remote!r} there")
        run_id = job.begin()
        self.seen.append({"run": run_id, "resumes": job.resumes, "marker": job.marker(run_id)})
        job.out(f"remote says: using {job.variables['TOKEN']}\n")
        if step == "unreachable":
            raise Unavailable("the remote system stayed unreachable")
        return DeployOutcome("succeeded", excerpt=f"done with {job.variables['TOKEN']}")


@pytest.fixture
def ops() -> Iterator[OpsTarget]:
    target = OpsTarget(script=[])

    class Plugin:
        @hookimpl
        def register_targets(self, register: Any) -> None:
            register("ops", lambda config, env: target)

    with registered(Plugin(), "ops-target"):
        yield target


def test_remote_runbook_records_only_after_begin_and_resumes_an_unfinished_run(tmp_path: Path,
                                                                              ops: OpsTarget) -> None:
    config = make_project(tmp_path / "proj", config=CONFIG)
    env = {"OPS_TOKEN": SECRET}
    assert run_cli(config, "release", "create", "1.0.0", env=env).code == 0
    assert run_cli(config, "deploy", "1.0.0", "--to", "dev", env=env).code == 0
    ops.script[:] = ["unknown", "unreachable", "ok", "ok"]

    refused = run_cli(config, "run", "migrate", "--env", "dev", env=env)
    assert refused.code == 2 and "no runbook named 'Migrate'" in refused.err
    assert run_cli(config, "runs", "--json", env=env).json()["runs"] == []  # nothing recorded

    lost = run_cli(config, "run", "migrate", "--env", "dev", env=env)
    assert lost.code == 5, lost.err
    assert "remote says: using ***" in lost.out and SECRET not in lost.out + lost.err
    done = run_cli(config, "run", "migrate", "--env", "dev", env=env)
    assert done.code == 0, done.err
    again = run_cli(config, "run", "migrate", "--env", "dev", env=env)
    assert again.code == 0, again.err

    runs = run_cli(config, "runs", "--json", env=env).json()["runs"]
    assert [(r["id"], r["status"]) for r in runs] == [(1, "interrupted"), (2, "succeeded"), (3, "succeeded")]
    assert [(s["run"], s["resumes"]) for s in ops.seen] == [(1, None), (2, 1), (3, None)]
    assert ops.seen[0]["marker"].startswith("trainmaster runbook migrate run #1 against sha256:")
    assert ops.seen[0]["marker"].endswith(" in dev")
    assert all(SECRET not in r["excerpt"] for r in runs) and "done with ***" in runs[1]["excerpt"]
