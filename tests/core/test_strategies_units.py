"""The decisions of the deployment strategies, as units."""

from __future__ import annotations

import pytest

from trainmaster.config.model import Environment, Instance, Strategy
from trainmaster.rollout_log import Step
from trainmaster.strategies import (
    batch_size,
    batches,
    can_switch_back,
    canary_counts,
    holds,
    idle_slot,
    instances_of,
    strategy_of,
    too_many_failed,
)


@pytest.mark.parametrize(("batch", "percent", "count", "size"), [
    (1, None, 4, 1), (3, None, 4, 3), (9, None, 4, 4),
    (0, 25.0, 4, 1), (0, 25.0, 10, 3), (0, 50.0, 3, 2), (0, 1.0, 4, 1), (0, 100.0, 7, 7), (0, 33.3, 3, 1),
])
def test_batch_size_rounds_a_percentage_up_within_one_and_all(batch: int, percent: float | None, count: int,
                                                             size: int) -> None:
    assert batch_size(Strategy(kind="rolling", batch=batch, batch_percent=percent), count) == size


def test_batches_keep_the_order_and_the_last_may_be_smaller() -> None:
    assert batches(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]


def test_max_failed_is_how_many_may_fail() -> None:
    assert not too_many_failed(0, 0)
    assert too_many_failed(1, 0)
    assert not too_many_failed(2, 2)
    assert too_many_failed(3, 2)


def test_canary_counts_put_at_least_one_instance_and_all_at_100() -> None:
    assert canary_counts([10, 50, 100], 4) == [1, 2, 4]
    assert canary_counts([25, 50, 100], 1) == [1, 1, 1]
    assert canary_counts([10, 100], 20) == [2, 20]


def test_idle_slot_is_the_one_not_live() -> None:
    assert idle_slot(("blue", "green"), None) == "blue"
    assert idle_slot(("blue", "green"), "blue") == "green"
    assert idle_slot(("blue", "green"), "green") == "blue"


def _step(release: str, status: str, *, slot: str = "", state: str = "s", deployment_status: str = "succeeded",
          instance: str = "web-1") -> Step:
    return Step(id=1, deployment_id=1, environment="prod", strategy="rolling", action="deploy", instance=instance,
                slot=slot, batch=0, weight=None, release_id=release, version="1.0.0", state=state, status=status,
                started_at="t", finished_at=None, deployment_status=deployment_status)


def test_an_instance_holds_a_release_only_after_a_finished_success_in_the_same_state() -> None:
    assert holds(_step("r1", "succeeded"), "r1", "s")
    assert not holds(_step("r1", "succeeded"), "r2", "s")
    assert not holds(_step("r1", "succeeded", state="other"), "r1", "s")
    assert not holds(_step("r1", "failed"), "r1", "s")
    assert not holds(None, "r1", "s")
    killed = _step("r1", "in_progress", deployment_status="interrupted")
    assert killed.effective_status == "interrupted" and not holds(killed, "r1", "s")


def test_blue_green_switches_back_only_when_every_instance_kept_the_release() -> None:
    insts = (Instance("a"), Instance("b"))
    held = {("a", "blue"): _step("r1", "succeeded", slot="blue", instance="a"),
            ("b", "blue"): _step("r1", "succeeded", slot="blue", instance="b")}
    assert can_switch_back(held, insts, "blue", "r1")
    assert not can_switch_back(held, insts, "blue", "r2")
    held[("b", "blue")] = _step("r1", "failed", slot="blue", instance="b")
    assert not can_switch_back(held, insts, "blue", "r1")


def test_without_instances_or_strategy_the_defaults() -> None:
    env = Environment(name="prod", stage="prod", stage_index=0, strategy=Strategy(kind="canary", steps=(100,)))
    assert instances_of(env) == (Instance("prod"),)
    plain = Environment(name="web", stage="web", stage_index=0, instances=(Instance("a"), Instance("b")))
    default = strategy_of(plain)
    assert default.kind == "rolling" and batch_size(default, 2) == 2
