"""The event hooks: each receives the right objects at the right moment and can never change an outcome."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.plugins import CONFIG, make_project, registered, run_cli
from trainmaster import hookimpl
from trainmaster.config.model import Config, Environment
from trainmaster.interfaces import Approval, Deployment
from trainmaster.model import Release

# re-exported so that this module's tests get a fresh plugin manager too
from tests.support.plugins import fresh_plugin_manager  # noqa: F401, E402  isort: skip

EVENTS = ("release_created", "deployment_started", "deployment_finished", "approval_recorded")


@dataclass
class Recorder:
    """Records every event with a snapshot of the fields that matter (objects may be reused later)."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [args for event, args in self.events if event == name]

    @hookimpl
    def release_created(self, release: Release, config: Config) -> None:
        self.events.append(("release_created", {"release": release, "config": config}))

    @hookimpl
    def deployment_started(self, deployment: Deployment, release: Release, environment: Environment,
                           config: Config) -> None:
        self.events.append(("deployment_started", {"status": deployment.status, "deployment": deployment,
                                                   "release": release, "environment": environment}))

    @hookimpl
    def deployment_finished(self, deployment: Deployment, release: Release, environment: Environment,
                            config: Config) -> None:
        self.events.append(("deployment_finished", {"deployment": deployment, "release": release,
                                                    "environment": environment}))

    @hookimpl
    def approval_recorded(self, approval: Approval, release: Release, environment: Environment,
                          config: Config) -> None:
        self.events.append(("approval_recorded", {"approval": approval, "release": release,
                                                  "environment": environment}))


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    plugin = Recorder()
    with registered(plugin, "event-recorder"):
        yield plugin


class Exploder:
    """Raises in every event hook."""

    @hookimpl
    def release_created(self) -> None:
        raise RuntimeError("boom in release_created")

    @hookimpl
    def deployment_started(self) -> None:
        raise RuntimeError("boom in deployment_started")

    @hookimpl
    def deployment_finished(self) -> None:
        raise RuntimeError("boom in deployment_finished")

    @hookimpl
    def approval_recorded(self) -> None:
        raise RuntimeError("boom in approval_recorded")


@pytest.fixture
def exploder() -> Iterator[Exploder]:
    plugin = Exploder()
    with registered(plugin, "event-exploder"):
        yield plugin


def _release_id(output: str) -> str:
    return next(line.split()[1] for line in output.splitlines() if line.strip().startswith("id "))


def test_hook_release_created(tmp_path: Path, recorder: Recorder) -> None:
    """Called once with the committed release; not called when ``release create`` is a no-op."""
    config = make_project(tmp_path)

    first = run_cli(config, "release", "create", "1.0.0", "--notes", "n")
    again = run_cli(config, "release", "create", "1.0.0")

    assert (first.code, again.code) == (0, 0)
    (event,) = recorder.of("release_created")
    release, cfg = event["release"], event["config"]
    assert isinstance(release, Release) and isinstance(cfg, Config)
    assert (release.project, release.version, release.id) == ("demo", "1.0.0", _release_id(first.out))
    assert [p.name for p in release.packages] == ["app"]
    assert cfg.project == "demo"


def test_hook_deployment_started(tmp_path: Path, recorder: Recorder) -> None:
    """Called after the gates, before the target runs, with the ``in_progress`` ledger row."""
    config = make_project(tmp_path)
    run_cli(config, "release", "create", "1.0.0")
    assert run_cli(config, "deploy", "1.0.0", "--to", "dev").code == 0

    (event,) = recorder.of("deployment_started")
    assert event["status"] == "in_progress"
    assert isinstance(event["deployment"], Deployment)
    assert (event["deployment"].version, event["deployment"].kind) == ("1.0.0", "deploy")
    assert event["release"].version == "1.0.0"
    assert isinstance(event["environment"], Environment) and event["environment"].name == "dev"
    names = [name for name, _ in recorder.events]
    assert names.index("deployment_started") < names.index("deployment_finished")


def test_deployment_started_not_called_when_a_gate_refuses(tmp_path: Path, recorder: Recorder) -> None:
    config = make_project(tmp_path, "  - name: prod\n    deploy: 'true'\n")
    run_cli(config, "release", "create", "1.0.0")
    assert run_cli(config, "deploy", "1.0.0", "--to", "prod").code == 3
    assert recorder.of("deployment_started") == []


FAILING = CONFIG.replace('deploy: "true"', 'deploy: test "$TRAINMASTER_VERSION" = 1.0.0') + \
    "    on_failure: rollback\n"


def test_hook_deployment_finished(tmp_path: Path, recorder: Recorder) -> None:
    """Called with the final row (status, packages, finish time); a rollback is announced the same way."""
    config = make_project(tmp_path, config=FAILING)
    run_cli(config, "release", "create", "1.0.0")
    (tmp_path / "app.bin").write_bytes(b"the next build\n")
    run_cli(config, "release", "create", "1.1.0")
    assert run_cli(config, "deploy", "1.0.0", "--to", "dev").code == 0
    assert run_cli(config, "deploy", "1.1.0", "--to", "dev").code == 1

    finished = [(e["deployment"].version, e["deployment"].kind, e["deployment"].status, e["release"].version,
                 e["environment"].name) for e in recorder.of("deployment_finished")]
    assert finished == [
        ("1.0.0", "deploy", "succeeded", "1.0.0", "dev"),
        ("1.1.0", "deploy", "failed", "1.1.0", "dev"),
        ("1.0.0", "rollback", "succeeded", "1.0.0", "dev"),
    ]
    first = recorder.of("deployment_finished")[0]["deployment"]
    assert first.finished_at and first.packages == {"app": "deployed"}


def test_hook_approval_recorded(tmp_path: Path, recorder: Recorder) -> None:
    """Called once per new approval, with who approved and whether it counts."""
    config = make_project(tmp_path, "  - name: prod\n    deploy: 'true'\n    approvals: 1\n")
    run_cli(config, "release", "create", "1.0.0", "--by", "alice")

    approved = run_cli(config, "approve", "1.0.0", "--env", "prod", "--by", "bob", "--comment", "CHG-1")
    repeated = run_cli(config, "approve", "1.0.0", "--env", "prod", "--by", "bob")
    by_creator = run_cli(config, "approve", "1.0.0", "--env", "prod", "--by", "alice")

    assert (approved.code, repeated.code, by_creator.code) == (0, 0, 3)
    events = recorder.of("approval_recorded")
    assert [(e["approval"].actor, e["approval"].comment, e["approval"].counts) for e in events] == [
        ("bob", "CHG-1", True), ("alice", "", False)]
    assert all(isinstance(e["approval"], Approval) for e in events)
    assert {(e["release"].version, e["environment"].name) for e in events} == {("1.0.0", "prod")}


def test_a_failing_event_hook_never_changes_an_outcome(tmp_path: Path, exploder: Exploder,
                                                      recorder: Recorder) -> None:
    """Every event hook raising: every command still exits 0, warns on stderr, and records as usual."""
    config = make_project(tmp_path, "  - name: prod\n    deploy: 'true'\n    approvals: 1\n")

    runs = {
        "release_created": run_cli(config, "release", "create", "1.0.0", "--by", "alice"),
        "deployment_started": run_cli(config, "deploy", "1.0.0", "--to", "dev"),
        "approval_recorded": run_cli(config, "approve", "1.0.0", "--env", "prod", "--by", "bob"),
    }
    runs["deployment_finished"] = runs["deployment_started"]

    for event, result in runs.items():
        assert result.code == 0, (event, result.err)
        expected = f"warning: plugin 'event-exploder' failed while handling {event}: RuntimeError: boom in {event}"
        assert expected in result.err
        assert "Traceback" not in result.err
    (dep,) = run_cli(config, "history", "--json").json()["deployments"]
    assert dep["status"] == "succeeded"
    assert run_cli(config, "deploy", "1.0.0", "--to", "prod").code == 0


def test_every_event_hook_is_exercised_here() -> None:
    from trainmaster import hookspecs

    specs = {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "trainmaster_spec")}
    assert set(EVENTS) <= specs
    assert set(EVENTS) == {name for name in vars(Recorder) if name in specs}


def test_a_failing_event_hook_does_not_silence_other_plugins(tmp_path: Path, recorder: Recorder,
                                                             exploder: Exploder) -> None:
    """``exploder`` is registered last, so pluggy calls it first; the recorder must still hear the event."""
    config = make_project(tmp_path)
    assert run_cli(config, "release", "create", "1.0.0").code == 0
    assert len(recorder.of("release_created")) == 1
