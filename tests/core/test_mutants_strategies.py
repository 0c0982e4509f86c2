"""Strategy decisions at their edges: batch and canary sizes, the pause between batches, a blue-green rollback."""

from __future__ import annotations

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
