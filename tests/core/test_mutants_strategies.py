"""Strategy decisions at their edges: batch and canary sizes, the pause between batches, a blue-green rollback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.decisions import InProcess
from trainmaster.config.model import Strategy
from trainmaster.strategies import batch_size, canary_counts


def test_a_batch_is_never_empty() -> None:
    assert batch_size(Strategy(kind="rolling", batch=0), 3) == 1
    assert batch_size(Strategy(kind="rolling", batch=0, batch_percent=1.0), 1) == 1


def test_canary_counts_round_up_not_to_the_nearest() -> None:
    assert canary_counts([20, 100], 7) == [2, 7]  # 1.4 instances: 2
    assert canary_counts([10, 60, 100], 9) == [1, 6, 9]  # 0.9 and 5.4


def _rollout_lines(p: InProcess, env_name: str = "prod") -> list[str]:
    from trainmaster.deploy import deploy

    printed: list[str] = []
    assert p.call(deploy, "1.0.0", env_name, out=printed.append).deployment.status == "succeeded"
    return [line for line in "".join(printed).splitlines() if line.startswith(("batch ", "pause", "[smoke"))]


def test_the_pause_comes_between_batches_only_and_smokes_before_and_after_it(tmp_path: Path) -> None:
    p = InProcess(tmp_path / "proj", "- name: prod\n  instances: [web-1, web-2, web-3]\n"
                                     "  smoke: 'echo \"smoke $TRAINMASTER_INSTANCE\" >> smoked.log'\n"
                                     "  strategy: {rolling: {batch: 1, pause: 0.01}}\n")
    p.release("1.0.0", "one")
    assert [line for line in _rollout_lines(p) if not line.startswith("[")] == [
        "batch 1/3: web-1", "pause: waiting 0.01s", "batch 2/3: web-2", "pause: waiting 0.01s", "batch 3/3: web-3"]
    smoked = (p.root / "smoked.log").read_text().split("\n")
    # each instance's own smoke, plus the pause's smoke of the instances done before and after it waits
    assert smoked[:-1] == ["smoke web-1", "smoke web-1", "smoke web-1", "smoke web-2", "smoke web-1", "smoke web-2",
                           "smoke web-1", "smoke web-2", "smoke web-3"]


BLUE_GREEN = """\
- name: prod
  on_failure: rollback
  deploy: 'echo "deploy $TRAINMASTER_SLOT $TRAINMASTER_VERSION" >> events.log; test ! -f fail-$TRAINMASTER_VERSION'
  strategy: {blue_green: {slots: [blue, green], switch: 'echo "switch $TRAINMASTER_SLOT" >> events.log'}}
"""


def _events(p: InProcess) -> list[str]:
    return (p.root / "events.log").read_text().splitlines()


def test_a_blue_green_rollback_switches_back_to_the_slot_that_kept_the_release(tmp_path: Path) -> None:
    from trainmaster.deploy import rollback

    p = InProcess(tmp_path / "proj", BLUE_GREEN)
    p.release("1.0.0", "one")
    p.release("1.1.0", "two")
    p.deploy("1.0.0", "prod")
    p.deploy("1.1.0", "prod")
    assert _events(p) == ["deploy blue 1.0.0", "switch blue", "deploy green 1.1.0", "switch green"]
    printed: list[str] = []
    back = p.call(rollback, "prod", None, out=printed.append).deployment
    assert (back.version, back.status) == ("1.0.0", "succeeded")
    assert "slot blue still holds 1.0.0: switching back without redeploying" in "".join(printed)
    assert _events(p)[4:] == ["switch blue"]


def test_a_rollback_after_a_failure_in_the_idle_slot_leaves_the_live_slot_alone(tmp_path: Path) -> None:
    from trainmaster.deploy import deploy
    from trainmaster.errors import DeploymentFailed

    p = InProcess(tmp_path / "proj", BLUE_GREEN)
    p.release("1.0.0", "one")
    p.release("1.1.0", "two")
    p.deploy("1.0.0", "prod")
    (p.root / "fail-1.1.0").touch()
    printed: list[str] = []
    with pytest.raises(DeploymentFailed) as failed:
        p.call(deploy, "1.1.0", "prod", out=printed.append)
    assert "the live slot blue already serves 1.0.0: nothing to switch" in "".join(printed)
    assert _events(p) == ["deploy blue 1.0.0", "switch blue", "deploy green 1.1.0"]
    back = failed.value.rollback
    assert back is not None and (back.version, back.kind, back.status) == ("1.0.0", "rollback", "succeeded")


def test_without_a_smoke_or_monitor_the_pause_just_waits(tmp_path: Path) -> None:
    p = InProcess(tmp_path / "proj", "- name: prod\n  instances: [web-1, web-2]\n"
                                     "  strategy: {rolling: {batch: 1, pause: 0.01}}\n")
    p.release("1.0.0", "one")
    assert _rollout_lines(p) == ["batch 1/2: web-1", "pause: waiting 0.01s", "batch 2/2: web-2"]


def test_a_rollout_within_max_failed_succeeds_with_no_failure_reason(tmp_path: Path) -> None:
    p = InProcess(tmp_path / "proj", "- name: prod\n  deploy: 'test -z \"$BROKEN\"'\n"
                                     "  instances: [web-1, {name: web-2, variables: {BROKEN: 'yes'}}, web-3]\n"
                                     "  strategy: {rolling: {batch: 1, max_failed: 1}}\n")
    p.release("1.0.0", "one")
    dep = p.deploy("1.0.0", "prod")
    assert (dep.status, dep.reason) == ("succeeded", "")


def test_a_rollout_whose_monitor_fails_after_the_last_batch_fails(tmp_path: Path) -> None:
    from trainmaster.errors import DeploymentFailed

    p = InProcess(tmp_path / "proj", "- name: prod\n  instances: [web-1, web-2]\n"
                                     "  monitor: {command: 'test ! -f unhealthy', every: 1s, for: 0s}\n")
    p.release("1.0.0", "one")
    (p.root / "unhealthy").touch()
    with pytest.raises(DeploymentFailed) as failed:
        p.deploy("1.0.0", "prod")
    assert failed.value.deployment.reason == "post-deploy monitoring failed"
    assert p.ran() == ["1.0.0 one", "1.0.0 one"]  # both instances were deployed before the monitor
