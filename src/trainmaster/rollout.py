"""Running a deployment strategy: the environment's commands per instance, batch, slot and step.

:class:`Rollout` takes the place of :meth:`trainmaster.steps.StepRunner.steps` for an
environment with instances (see :mod:`trainmaster.strategies` for the decisions). Every
command runs through the deployment's :class:`~trainmaster.steps.StepRunner` (clean
environment, timeout, masking, orphan tracking), with these extra variables:

* ``deploy`` and ``smoke`` of an instance: ``TRAINMASTER_INSTANCE`` and the instance's
  ``variables``; ``TRAINMASTER_BATCH`` (rolling batch or canary step, from 1);
  ``TRAINMASTER_SLOT`` and ``TRAINMASTER_PREVIOUS_SLOT`` (blue-green: the slot deployed
  to, the live one);
* ``switch``: ``TRAINMASTER_SLOT`` (the slot to make live) and ``TRAINMASTER_PREVIOUS_SLOT``;
* ``route``: ``TRAINMASTER_WEIGHT`` (percent of traffic for the new release) and
  ``TRAINMASTER_INSTANCES`` (the instances holding it, comma separated).

Each step is recorded in the ledger before its command runs (:mod:`trainmaster.rollout_log`),
so a killed deployer leaves rows that the next command reports and that a ``rollback``
or a re-run of ``deploy`` picks up; each finished step is announced (``rollout_step_finished``).
The environment's ``monitor`` does not run per instance: it runs during a rolling ``pause``
and after the last batch, during each canary step, and after a blue-green switch.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import TYPE_CHECKING

from trainmaster.interfaces import DeployOutcome
from trainmaster.strategies import (
    batch_size,
    batches,
    can_switch_back,
    canary_counts,
    holds,
    idle_slot,
    instance_state,
    instances_of,
    strategy_of,
    too_many_failed,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from trainmaster.config.model import Environment, Instance
    from trainmaster.interfaces import Deployment, PackagePlan
    from trainmaster.rollout_log import RolloutLog, Step
    from trainmaster.steps import StepRunner

__all__ = ["Rollout"]


class Rollout:
    """One deployment (or rollback) of a release to the instances of an environment."""

    def __init__(self, *, log: RolloutLog, env: Environment, deployment: Deployment, runner: StepRunner,
                 plan: list[PackagePlan], kind: str, force: bool, out: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep, emit: Callable[..., None] | None = None) -> None:
        self.log = log
        self.env = env
        self.dep = deployment
        self.runner = runner
        self.plan = [dataclasses.replace(p, action="deploy") for p in plan]  # an instance gets every package
        self.kind = kind
        self.redeploy = force and kind == "deploy"
        self.out = out
        self.sleep = sleep
        self.emit = emit  # App.emit: each finished step is announced (``rollout_step_finished``)
        self.strategy = strategy_of(env)
        self.instances = instances_of(env)
        self.held = log.instances(env.name)
        self.ran = False  # whether the target ran the strategy (a remote target may deploy without it)

    # -- the strategies ------------------------------------------------------------------

    def run(self) -> DeployOutcome:
        """Run the strategy; the outcome covers the whole environment."""
        self.ran = True
        kind = self.strategy.kind
        self.out(f"{self.kind} to {len(self.instances)} instance(s) of {self.env.name}, {kind}\n")
        if kind == "blue_green":
            return self._blue_green()
        if kind == "canary":
            return self._canary()
        return self._rolling()

    def _rolling(self) -> DeployOutcome:
        groups = batches(self.instances, batch_size(self.strategy, len(self.instances)))
        failed: list[str] = []
        for number, group in enumerate(groups, start=1):
            done = [i for g in groups[:number - 1] for i in g]
            if number > 1 and self.strategy.pause and not self._watch(self.strategy.pause, "pause", done):
                return self._failed(f"a check failed during the pause before batch {number}")
            self.out(f"batch {number}/{len(groups)}: {', '.join(i.name for i in group)}\n")
            for inst in group:
                if not self._instance(inst, batch=number):
                    failed.append(inst.name)
                if too_many_failed(len(failed), self.strategy.max_failed):
                    return self._failed(f"{len(failed)} instance(s) failed ({', '.join(failed)}), more than "
                                        f"max_failed {self.strategy.max_failed}; stopped in batch {number}")
        if not self._monitor():
            return self._failed("post-deploy monitoring failed")
        note = f"{len(failed)} instance(s) failed within max_failed: {', '.join(failed)}" if failed else ""
        return self._verified(note)

    def _blue_green(self) -> DeployOutcome:
        slots = self.strategy.slots
        switched = self.log.last(self.env.name, "switch", succeeded=True)
        live = switched.slot if switched is not None else None
        idle = idle_slot(slots, live)
        if self.kind == "rollback" and live and can_switch_back(self.held, self.instances, live, self.dep.release_id):
            self.out(f"the live slot {live} already serves {self.dep.version}: nothing to switch\n")
            return self._outcome("succeeded")
        if self.kind == "rollback" and live and can_switch_back(self.held, self.instances, idle, self.dep.release_id):
            self.out(f"slot {idle} still holds {self.dep.version}: switching back without redeploying\n")
        else:
            for inst in self.instances:
                if not self._instance(inst, slot=idle, previous=live or ""):
                    return self._failed(f"deploying to slot {idle} failed on {inst.name}; "
                                        f"the live slot {live or '(none)'} is unchanged")
        if not self._switch(idle, live or ""):
            return self._failed(f"switch to slot {idle} failed; the live slot {live or '(none)'} is unchanged")
        if not self._monitor():
            return self._failed(f"post-deploy monitoring failed on slot {idle}")
        return self._verified()

    def _canary(self) -> DeployOutcome:
        if self.kind == "rollback":
            last = self.log.last(self.env.name, "route")
            if last is not None and last.weight != 0 and not self._route(0, []):
                return self._failed("routing the traffic back to 0 failed; no instance was rolled back")
            failed = [inst.name for inst in self.instances if not self._instance(inst)]
            return self._failed(f"rollback failed on {', '.join(failed)}") if failed else self._outcome("succeeded")
        counts = canary_counts(self.strategy.steps, len(self.instances))
        done = 0
        for number, (weight, count) in enumerate(zip(self.strategy.steps, counts, strict=True), start=1):
            self.out(f"canary step {number}/{len(counts)}: {weight}% of the traffic on {count} instance(s)\n")
            for inst in self.instances[done:count]:
                if not self._instance(inst, batch=number):
                    return self._abort(f"the canary failed on {inst.name} at step {number}")
            done = count
            if not self._route(weight, [i.name for i in self.instances[:count]], batch=number):
                return self._abort(f"routing {weight}% of the traffic failed at step {number}")
            if not self._watch(self.strategy.pause, f"canary {weight}%", list(self.instances[:count])):
                return self._abort(f"a check failed at {weight}% of the traffic (step {number})")
        return self._verified(abort=True)

    def _verified(self, note: str = "", *, abort: bool = False) -> DeployOutcome:
        """Every instance holds the release: the performance verification runs once, for the whole
        environment (a failed one fails the deployment; a canary routes back to 0 first)."""
        verify = self.runner.verify
        failure = verify(self.runner) if verify is not None else None
        if failure:
            return self._abort(failure) if abort else self._failed(failure)
        return self._outcome("succeeded", note)

    def _abort(self, message: str) -> DeployOutcome:
        """A failed canary: route every request back to the previous release, then fail (and roll back)."""
        self.out(f"{message}: routing the traffic back to 0\n")
        routed = self._route(0, [])
        return self._failed(message + ("; traffic routed back to 0" if routed else "; routing back to 0 FAILED"))

    # -- steps -----------------------------------------------------------------------------

    def _instance(self, inst: Instance, *, batch: int = 0, slot: str = "", previous: str = "") -> bool:
        """Deploy and smoke one instance (in ``slot``); True when it holds the release afterwards."""
        state = instance_state(self.plan, inst)
        where = f"{inst.name}" + (f" (slot {slot})" if slot else "")
        current = self.held.get((inst.name, slot))
        if not self.redeploy and holds(current, self.dep.release_id, state):
            assert current is not None
            self.out(f"{where} already holds {self.dep.version} (deployment #{current.deployment_id}): skipped\n")
            return True
        self.out(f"--> {where}\n")
        extra = {**inst.variables, "TRAINMASTER_INSTANCE": inst.name}
        if batch:
            extra["TRAINMASTER_BATCH"] = str(batch)
        if slot:
            extra.update(TRAINMASTER_SLOT=slot, TRAINMASTER_PREVIOUS_SLOT=previous)
        step = self.log.start(self.dep, self.strategy.kind, "deploy", instance=inst.name, slot=slot, batch=batch,
                              state=state)
        runner = self._runner(extra)
        try:
            outcome = runner.steps()
        except BaseException:
            self.log.finish(step, "failed", self.dep.actor)
            raise
        ok = outcome.status == "succeeded"
        self.held[(inst.name, slot)] = self._finished(step, ok)
        self.out(f"<-- {where}: {'holds ' + self.dep.version if ok else 'FAILED'}\n")
        return ok

    def _command(self, action: str, command: str, extra: dict[str, str], **record: object) -> bool:
        step = self.log.start(self.dep, self.strategy.kind, action, **record)  # type: ignore[arg-type]
        try:
            ok = self.runner.run(action, command, extra).ok
        except BaseException:
            self.log.finish(step, "failed", self.dep.actor)
            raise
        self._finished(step, ok)
        return ok

    def _finished(self, step: Step, ok: bool) -> Step:
        """Record ``step``'s outcome, then announce it."""
        done = self.log.finish(step, "succeeded" if ok else "failed", self.dep.actor)
        if self.emit is not None:
            self.emit("rollout_step_finished", step={"strategy": done.strategy, **done.to_json()},
                      deployment=self.dep, release=self.runner.release, environment=self.env)
        return done

    def _switch(self, slot: str, previous: str) -> bool:
        assert self.strategy.switch
        extra = {"TRAINMASTER_SLOT": slot, "TRAINMASTER_PREVIOUS_SLOT": previous}
        return self._command("switch", self.strategy.switch, extra, slot=slot)

    def _route(self, weight: int, holders: list[str], batch: int = 0) -> bool:
        assert self.strategy.route
        extra = {"TRAINMASTER_WEIGHT": str(weight), "TRAINMASTER_INSTANCES": ",".join(holders)}
        return self._command("route", self.strategy.route, extra, weight=weight, batch=batch)

    def _runner(self, extra: dict[str, str]) -> StepRunner:
        """The deployment's runner for one instance: its variables added, every package, no monitor
        and no verification (both run once for the environment)."""
        runner = copy.copy(self.runner)
        runner.base_env = {**self.runner.base_env, **extra}
        runner.env = dataclasses.replace(self.env, monitor=None)
        runner.verify = None  # once, after every instance (Rollout._verified)
        runner.plan = self.plan
        return runner

    def _watch(self, seconds: float, label: str, holders: list[Instance]) -> bool:
        """Check the instances holding the release for ``seconds``.

        With a ``monitor``, its command runs every ``monitor.every`` with ``TRAINMASTER_INSTANCES``;
        else the ``smoke`` of each of them runs now and again after ``seconds``; with neither, just wait.
        """
        names = ",".join(i.name for i in holders)
        monitor = self.env.monitor
        if monitor is not None:
            return self._checks(monitor.command, monitor.every, seconds, label, {"TRAINMASTER_INSTANCES": names})
        rounds = 2 if seconds else 1
        for number in range(rounds):
            if number or (self.env.smoke is None and seconds):
                self.out(f"{label}: waiting {seconds:g}s\n")
                self.sleep(seconds)
            for inst in holders if self.env.smoke else ():
                assert self.env.smoke is not None
                extra = {**inst.variables, "TRAINMASTER_INSTANCE": inst.name, "TRAINMASTER_INSTANCES": names}
                if not self.runner.run(f"{label} smoke {inst.name}", self.env.smoke, extra).ok:
                    return False
            if self.env.smoke is None:
                break
        return True

    def _monitor(self) -> bool:
        monitor = self.env.monitor
        names = ",".join(i.name for i in self.instances)
        return monitor is None or self._checks(monitor.command, monitor.every, monitor.for_, "monitor",
                                               {"TRAINMASTER_INSTANCES": names})

    def _checks(self, command: str, every: float, for_: float, label: str, extra: dict[str, str]) -> bool:
        from trainmaster.runner import run_monitor

        r = self.runner
        self.out(f"==> {label}: `{r.masker.mask(command)}` every {every:g}s for {for_:g}s\n")
        return run_monitor(command, every=every, for_=for_, env={**r.base_env, **extra}, cwd=r.config.root,
                           timeout=self.env.timeout, masker=r.masker, out=self.out, label=label,
                           sleep=self.sleep, on_spawn=r.on_spawn).ok

    # -- outcome ------------------------------------------------------------------------------

    def _outcome(self, status: str, message: str = "") -> DeployOutcome:
        packages = {p.package.name: "deployed" if status == "succeeded" else "failed" for p in self.plan}
        excerpt = "\n".join(self.runner.excerpts)[-4000:]
        return DeployOutcome(status=status, packages=packages, message=message,  # type: ignore[arg-type]
                             excerpt=self.runner.masker.mask(excerpt))

    def _failed(self, message: str) -> DeployOutcome:
        self.out(f"{message}\n")
        return self._outcome("failed", message)
