"""Strategy decisions at their edges: batch and canary sizes, the pause between batches, a blue-green rollback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.decisions import InProcess
from tests.support.project import Project
from tests.support.strategies import events, release, setup
from trainmaster.config.model import Strategy
from trainmaster.strategies import batch_size, canary_counts


def test_a_batch_is_never_empty() -> None:
    assert batch_size(Strategy(kind="rolling", batch=0), 3) == 1
    assert batch_size(Strategy(kind="rolling", batch=0, batch_percent=1.0), 1) == 1


def test_canary_counts_round_up_not_to_the_nearest() -> None:
    assert canary_counts([20, 100], 7) == [2, 7]  # 1.4 instances: 2
    assert canary_counts([10, 60, 100], 9) == [1, 6, 9]  # 0.9 and 5.4


def test_the_pause_comes_between_batches_only(bare_project: Project) -> None:
    p = bare_project
    setup(p, "  - name: prod\n    instances: [web-1, web-2, web-3]\n"
             "    strategy: {rolling: {batch: 1, pause: 0.01}}\n")
    release(p, "1.0.0")
    out = p.ok("deploy", "1.0.0", "--to", "prod").stdout
    lines = [line for line in out.splitlines() if line.startswith(("batch ", "pause"))]
    assert lines == ["batch 1/3: web-1", "pause: waiting 0.01s", "batch 2/3: web-2", "pause: waiting 0.01s",
                     "batch 3/3: web-3"], out


def test_a_blue_green_rollback_switches_back_to_the_slot_that_kept_the_release(bare_project: Project) -> None:
    p = bare_project
    dest = setup(p, "  - name: prod\n    strategy: {blue_green: {slots: [blue, green], switch: sh switch.sh}}\n")
    release(p, "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "prod")
    release(p, "1.1.0")
    p.ok("deploy", "1.1.0", "--to", "prod")
    before = len(events(dest))
    out = p.ok("rollback", "--env", "prod").stdout
    assert "slot blue still holds 1.0.0: switching back without redeploying" in out, out
    assert events(dest)[before:] == ["switch blue previous=green"]


def test_a_rollback_after_a_failure_in_the_idle_slot_leaves_the_live_slot_alone(bare_project: Project) -> None:
    p = bare_project
    dest = setup(p, "  - name: prod\n    on_failure: rollback\n"
                    "    strategy: {blue_green: {slots: [blue, green], switch: sh switch.sh}}\n")
    release(p, "1.0.0")
    p.ok("deploy", "1.0.0", "--to", "prod")
    release(p, "1.1.0")
    (dest / "fail-prod").write_text("1.1.0")  # the smoke fails for 1.1.0 only
    before = len(events(dest))
    failed = p.run("deploy", "1.1.0", "--to", "prod")
    assert failed.returncode == 1
    assert "the live slot blue already serves 1.0.0: nothing to switch" in failed.stdout, failed.stdout
    assert events(dest)[before:] == ["deploy prod green 1.1.0 batch=- previous=blue port=-"]
    assert (dest / "live").readlink().name == "blue"
    last = p.json("history")["deployments"][-1]
    assert (last["kind"], last["version"], last["status"]) == ("rollback", "1.0.0", "succeeded")


def test_without_a_smoke_or_monitor_the_pause_just_waits(tmp_path: Path) -> None:
    from trainmaster.deploy import deploy

    p = InProcess(tmp_path / "proj", "- name: prod\n  instances: [web-1, web-2]\n"
                                     "  strategy: {rolling: {batch: 1, pause: 0.01}}\n")
    p.release("1.0.0", "one")
    printed: list[str] = []
    assert p.call(deploy, "1.0.0", "prod", out=printed.append).deployment.status == "succeeded"
    lines = [line for line in "".join(printed).splitlines() if line.startswith(("batch ", "pause"))]
    assert lines == ["batch 1/2: web-1", "pause: waiting 0.01s", "batch 2/2: web-2"]


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
