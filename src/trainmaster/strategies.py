"""Deployment strategies over an environment's instances: the decisions, and where a rollout stands.

An environment with ``instances`` (or a ``strategy``) is deployed instance by instance by
:class:`trainmaster.rollout.Rollout`; this module holds the pure decisions it takes and
the summary ``status`` shows:

* ``rolling``: instances in batches of :func:`batch_size` (``batch: 2`` or ``"25%"`` of
  them, rounded up, at least 1); the rollout stops as soon as more than ``max_failed``
  instances failed (:func:`too_many_failed`).
* ``blue_green``: the release goes to the :func:`idle_slot`, is smoked there, then
  ``switch`` makes it live; the other slot keeps the previous release, so a rollback
  only switches back (:func:`can_switch_back`).
* ``canary``: step ``i`` puts the release on :func:`canary_counts` ``[i]`` instances
  (at least one, all of them at 100), routes that share of traffic to them and checks.

An environment with instances but no strategy is ``rolling`` with every instance in one
batch. Without ``instances`` a strategy works on one implicit instance named after the
environment. An instance already holding the release in the same desired state (its
latest ``deploy`` step succeeded with the same release, packages and variables) is
skipped, so a re-run after a killed deployer resumes, and a rollback only touches the
instances that do not hold the release it goes back to (``--force`` on ``deploy``
redeploys every instance).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from trainmaster.config.model import Instance, Strategy

if TYPE_CHECKING:
    from trainmaster.app import App
    from trainmaster.config.model import Environment
    from trainmaster.interfaces import Deployment, PackagePlan
    from trainmaster.rollout_log import Step

__all__ = ["batch_size", "batches", "can_switch_back", "canary_counts", "idle_slot", "instance_state",
           "instances_of", "rollout_status", "strategy_of", "too_many_failed", "uses_strategy"]

T = TypeVar("T")


def uses_strategy(env: Environment) -> bool:
    """Whether ``env`` is deployed instance by instance."""
    return bool(env.instances) or env.strategy is not None


def refuse_strategy(env: Environment, target: str, why: str, instead: str) -> None:
    """Exit 2, located at its ``strategy``/``instances`` key, when ``env`` has ``instances`` or a
    ``strategy`` but its ``target`` deploys the whole environment in one remote piece of work
    (``why``), so neither could be applied.

    ``App.target`` calls it for a target with a ``whole_environment = (why, instead)`` attribute, so
    ``validate``, ``deploy`` and ``rollback`` refuse before anything changes, instead of deploying
    and then warning that the strategy was ignored.
    """
    from trainmaster.errors import ConfigError

    if not uses_strategy(env):
        return
    what = f"strategy {env.strategy.kind!r}" if env.strategy else "instances"
    where = env.key_locations.get("strategy" if env.strategy else "instances") or env.location
    raise ConfigError(
        f"environment {env.name!r} uses target {target!r}, which cannot apply its {what}: {why}. Remove "
        f"`instances` and `strategy` there ({instead}), or deploy that environment with a target that runs "
        "its commands (local, github)",
        file=where.file if where else None, line=where.line if where else None,
        column=where.column if where else None, key="strategy" if env.strategy else "instances")


def instances_of(env: Environment) -> tuple[Instance, ...]:
    """The instances of ``env``; one named after the environment when it lists none."""
    return env.instances or (Instance(env.name),)


def strategy_of(env: Environment) -> Strategy:
    """The strategy of ``env``; rolling with every instance in one batch when none is given."""
    return env.strategy or Strategy(kind="rolling", batch_percent=100.0)


def batch_size(strategy: Strategy, count: int) -> int:
    """Instances per batch: ``batch``, or ``batch_percent`` of ``count`` rounded up; within [1, count]."""
    if strategy.batch_percent is not None:
        size = math.ceil(count * strategy.batch_percent / 100 - 1e-9)
    else:
        size = strategy.batch
    return max(1, min(count, size))


def batches(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` in consecutive groups of ``size`` (the last one may be smaller)."""
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def too_many_failed(failed: int, max_failed: int) -> bool:
    """A rolling deployment stops once more than ``max_failed`` instances failed."""
    return failed > max_failed


def canary_counts(steps: Sequence[int], count: int) -> list[int]:
    """How many instances hold the canary at each traffic step (rounded up, at least one)."""
    return [max(1, min(count, math.ceil(count * step / 100 - 1e-9))) for step in steps]


def idle_slot(slots: Sequence[str], live: str | None) -> str:
    """The slot a blue-green deployment goes to: the one not live (the first when none is)."""
    if live not in slots:
        return slots[0]
    return slots[1] if live == slots[0] else slots[0]


def can_switch_back(held: dict[tuple[str, str], Step], instances: Sequence[Instance], slot: str,
                    release_id: str) -> bool:
    """Whether every instance's ``slot`` still holds ``release_id`` (a rollback switches without redeploying)."""
    for inst in instances:
        step = held.get((inst.name, slot))
        if step is None or step.release_id != release_id or step.effective_status != "succeeded":
            return False
    return True


def instance_state(plan: Sequence[PackagePlan], instance: Instance) -> str:
    """The desired state of one instance: each package's desired state and the instance's variables."""
    body = {"packages": {p.package.name: p.state for p in plan}, "variables": instance.variables}
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def holds(step: Step | None, release_id: str, state: str) -> bool:
    """Whether an instance's latest step says it holds ``release_id`` in ``state``."""
    return (step is not None and step.release_id == release_id and step.state == state
            and step.effective_status == "succeeded")


def rollout_status(app: App, env: Environment, current: Deployment | None) -> dict[str, Any] | None:
    """Where the instances of ``env`` stand (``status``): None for an environment without instances.

    ``{"strategy", "version", "on", "of", "slot", "weight", "text", "instances": {name: {...}}}``, where
    ``on`` counts the instances serving ``version`` (the latest deployment's release): for blue-green,
    those whose live slot holds it.
    """
    if not uses_strategy(env):
        return None
    from trainmaster.rollout_log import RolloutLog

    log = RolloutLog(app.ledger)
    strategy = strategy_of(env)
    held = log.instances(env.name)
    switch = log.last(env.name, "switch", succeeded=True)
    route = log.last(env.name, "route")
    live = switch.slot if switch is not None else ""
    names = [inst.name for inst in instances_of(env)]
    shown: dict[str, Any] = {}
    on = 0
    for name in names:
        step = held.get((name, live)) if strategy.kind == "blue_green" else held.get((name, ""))
        shown[name] = ({"version": step.version, "status": step.effective_status, "slot": step.slot or None,
                        "deployment": step.deployment_id} if step else {"version": None, "status": "none"})
        if step and current and step.release_id == current.release_id and step.effective_status == "succeeded":
            on += 1
    version = current.version if current else None
    text = f"{version or '-'} on {on} of {len(names)} instance{'s' if len(names) != 1 else ''}, {strategy.kind}"
    if strategy.kind == "blue_green" and live:
        serving = sorted({held[(n, live)].version for n in names if (n, live) in held})
        text += f" (live slot {live}{': ' + ', '.join(serving) if serving else ''})"
    if strategy.kind == "canary" and route is not None:
        text += f" (traffic {route.weight}%)"
    return {"strategy": strategy.kind, "version": version, "on": on, "of": len(names), "slot": live or None,
            "weight": route.weight if route is not None else None, "text": text, "instances": shown}
