"""The event hooks of the release duties: strategies' steps, runbook runs, gate samples and
outcomes, sign-offs and performance verifications, each announced after the ledger recorded it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.plugins import CONFIG, make_project, registered, run_cli
from trainmaster import hookimpl
from trainmaster.config.model import Environment
from trainmaster.interfaces import Deployment
from trainmaster.model import Release

# re-exported so that this module's tests get a fresh plugin manager too
from tests.support.plugins import fresh_plugin_manager  # noqa: F401, E402  isort: skip

EVENTS = ("rollout_step_finished", "runbook_run_finished", "gate_sampled", "gates_finished", "signoff_recorded",
          "verification_finished")


@dataclass
class DutyRecorder:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [args for event, args in self.events if event == name]

    @hookimpl
    def rollout_step_finished(self, step: dict[str, Any], deployment: Deployment, release: Release,
                              environment: Environment) -> None:
        self.events.append(("rollout_step_finished", {"step": step, "deployment": deployment, "release": release,
                                                      "environment": environment}))

    @hookimpl
    def runbook_run_finished(self, run: dict[str, Any], release: Release, environment: Environment) -> None:
        self.events.append(("runbook_run_finished", {"run": run, "release": release, "environment": environment}))

    @hookimpl
    def gate_sampled(self, sample: dict[str, Any], release: Release, environment: Environment) -> None:
        self.events.append(("gate_sampled", {"sample": sample, "release": release, "environment": environment}))

    @hookimpl
    def gates_finished(self, gates: dict[str, Any], release: Release, environment: Environment) -> None:
        self.events.append(("gates_finished", {"gates": gates, "release": release, "environment": environment}))

    @hookimpl
    def signoff_recorded(self, signoff: dict[str, Any], release: Release, environment: Environment) -> None:
        self.events.append(("signoff_recorded", {"signoff": signoff, "release": release,
                                                 "environment": environment}))

    @hookimpl
    def verification_finished(self, verification: dict[str, Any], deployment: Deployment, release: Release,
                              environment: Environment) -> None:
        self.events.append(("verification_finished", {"verification": verification, "deployment": deployment,
                                                       "release": release, "environment": environment}))


@pytest.fixture
def recorder() -> Iterator[DutyRecorder]:
    plugin = DutyRecorder()
    with registered(plugin, "duty-recorder"):
        yield plugin


def _config(tmp_path: Path, dev: str, top: str = "") -> Path:
    return make_project(tmp_path, config=CONFIG + "".join(f"    {line}\n" for line in dev.splitlines()) + top)


def test_hook_rollout_step_finished(tmp_path: Path, recorder: DutyRecorder) -> None:
    """One event per instance deployed, in order, with the strategy, batch and outcome."""
    config = _config(tmp_path, "instances: [web-1, web-2, web-3]\nstrategy: {rolling: {batch: 2}}\n"
                               'smoke: test "$TRAINMASTER_INSTANCE" != web-3')
    assert run_cli(config, "release", "create", "1.0.0").code == 0
    assert run_cli(config, "deploy", "1.0.0", "--to", "dev").code == 1

    steps = [(e["step"]["strategy"], e["step"]["action"], e["step"]["instance"], e["step"]["batch"],
              e["step"]["status"]) for e in recorder.of("rollout_step_finished")[:3]]
    assert steps == [("rolling", "deploy", "web-1", 1, "succeeded"), ("rolling", "deploy", "web-2", 1, "succeeded"),
                     ("rolling", "deploy", "web-3", 2, "failed")]
    first = recorder.of("rollout_step_finished")[0]
    assert first["deployment"].status == "in_progress" and first["deployment"].kind == "deploy"
    assert first["release"].version == "1.0.0" and first["environment"].name == "dev"


def test_hook_runbook_run_finished(tmp_path: Path, recorder: DutyRecorder) -> None:
    config = _config(tmp_path, "", "runbooks:\n  tidy: {command: 'echo tidied', environments: [dev]}\n"
                                   "  broken: {command: 'exit 4', environments: [dev]}\n")
    run_cli(config, "release", "create", "1.0.0")
    run_cli(config, "deploy", "1.0.0", "--to", "dev")
    assert run_cli(config, "run", "tidy", "--env", "dev").code == 0
    assert run_cli(config, "run", "broken", "--env", "dev").code == 1

    runs = recorder.of("runbook_run_finished")
    assert [(e["run"]["runbook"], e["run"]["status"], e["run"]["version"]) for e in runs] == [
        ("tidy", "succeeded", "1.0.0"), ("broken", "failed", "1.0.0")]
    assert "tidied" in runs[0]["run"]["excerpt"] and runs[0]["environment"].name == "dev"


GATES = "gates: {checks: [{name: ready, command: 'test -e ready'}], every: 0.05, timeout: 0.2}"


def test_hook_gate_sampled(tmp_path: Path, recorder: DutyRecorder) -> None:
    """Every sample is announced with its number and per-gate results."""
    config = _config(tmp_path, GATES)
    run_cli(config, "release", "create", "1.0.0")
    assert run_cli(config, "deploy", "1.0.0", "--to", "dev").code == 3
    (tmp_path / "ready").touch()
    assert run_cli(config, "deploy", "1.0.0", "--to", "dev").code == 0

    samples = [e["sample"] for e in recorder.of("gate_sampled")]
    assert [(s["number"], s["passed"]) for s in samples] == [(1, False), (1, True)]
    assert samples[0]["results"] == [{"gate": "ready", "ok": False, "detail": "exit 1"}]
    assert samples[0]["id"] < samples[1]["id"]


def test_hook_gates_finished(tmp_path: Path, recorder: DutyRecorder) -> None:
    """The decision: not met after every sample of ``--wait`` (exit 3), then passed."""
    config = _config(tmp_path, GATES)
    run_cli(config, "release", "create", "1.0.0")
    assert run_cli(config, "deploy", "1.0.0", "--to", "dev", "--wait").code == 3
    (tmp_path / "ready").touch()
    assert run_cli(config, "deploy", "1.0.0", "--to", "dev").code == 0

    refused, passed = (e["gates"] for e in recorder.of("gates_finished"))
    assert (refused["passed"], refused["waited"], refused["failed"][0]["gate"]) == (False, True, "ready")
    assert refused["samples"] == len(recorder.of("gate_sampled")) - 1 >= 2
    assert (passed["passed"], passed["samples"], passed["failed"]) == (True, 1, [])


def test_hook_signoff_recorded(tmp_path: Path, recorder: DutyRecorder) -> None:
    """A sign-off and its revocation are announced; a repeat is not."""
    config = _config(tmp_path, "signoff: {count: 1}")
    run_cli(config, "release", "create", "1.0.0", "--by", "carol")
    run_cli(config, "deploy", "1.0.0", "--to", "dev")
    assert run_cli(config, "signoff", "1.0.0", "--env", "dev", "--by", "alice", "--comment", "UAT ok").code == 0
    assert run_cli(config, "signoff", "1.0.0", "--env", "dev", "--by", "alice").code == 0
    assert run_cli(config, "signoff", "1.0.0", "--env", "dev", "--by", "alice", "--revoke").code == 0

    shown = [(e["signoff"]["actor"], e["signoff"]["comment"], e["signoff"]["counts"], e["signoff"]["revoked_by"])
             for e in recorder.of("signoff_recorded")]
    assert shown == [("alice", "UAT ok", True, None), ("alice", "UAT ok", True, "alice")]
    assert recorder.of("signoff_recorded")[0]["release"].version == "1.0.0"


def test_hook_verification_finished(tmp_path: Path, recorder: DutyRecorder) -> None:
    config = _config(tmp_path, "verify:\n  command: 'echo \"{\\\"p95_ms\\\": 350}\" > \"$TRAINMASTER_METRICS\"'\n"
                               "  metrics: {p95_ms: {max: 300}}")
    run_cli(config, "release", "create", "1.0.0")
    assert run_cli(config, "deploy", "1.0.0", "--to", "dev").code == 1

    (event,) = recorder.of("verification_finished")
    found = event["verification"]
    assert (found["passed"], found["metrics"]) == (False, {"p95_ms": 350.0})
    assert found["results"][0]["metric"] == "p95_ms" and "above the maximum 300" in found["reason"]
    assert event["deployment"].status == "in_progress" and event["environment"].name == "dev"


def test_every_duty_event_hook_is_exercised_here() -> None:
    from trainmaster import hookspecs

    specs = {name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "trainmaster_spec")}
    assert set(EVENTS) <= specs
    assert set(EVENTS) == {name for name in vars(DutyRecorder) if name in specs}
