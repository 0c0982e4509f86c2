"""Running an environment's commands for one deployment: deploy, smoke, monitor.

Every command runs with a clean environment (the small base, ``pass_env``, the
environment's resolved variables and ``TRAINMASTER_*``), a timeout, and live
output with secret values masked.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from trainmaster.config import package_env_name
from trainmaster.interfaces import DeployOutcome, PackagePlan

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.masking import Masker
    from trainmaster.model import Release
    from trainmaster.runner import CommandResult


class StepRunner:
    """Runs the commands of one deployment and collects per-package outcomes."""

    def __init__(self, *, config: Config, environment: Environment, release: Release, deployment_id: int,
                 plan: list[PackagePlan], variables: dict[str, str], masker: Masker,
                 out: Callable[[str], None], on_spawn: Callable[[int], None] | None = None, run_token: str = "",
                 verify: Callable[[StepRunner], str | None] | None = None) -> None:
        self.config = config
        self.env = environment
        self.release = release
        self.plan = plan
        self.masker = masker
        self.out = out
        self.on_spawn = on_spawn
        self.verify = verify  # performance verification after the checks (trainmaster.verify): None or why it failed
        self.excerpts: list[str] = []
        trainmaster = {
            "TRAINMASTER_PROJECT": config.project,
            "TRAINMASTER_VERSION": release.version,
            "TRAINMASTER_RELEASE_ID": release.id,
            "TRAINMASTER_ENVIRONMENT": environment.name,
            "TRAINMASTER_DEPLOYMENT_ID": str(deployment_id),
        }
        if run_token:  # finds a command its dead deployer never recorded (trainmaster.locks.stop_orphans)
            trainmaster["TRAINMASTER_RUN_TOKEN"] = run_token
        for item in plan:
            trainmaster[package_env_name(item.package.name)] = str(item.path.resolve())
        from trainmaster.runner import clean_environment

        self.base_env = clean_environment(os.environ, environment.pass_env, variables, trainmaster)

    def run(self, label: str, command: str, extra: dict[str, str] | None = None) -> CommandResult:
        from trainmaster.runner import run_command

        env = dict(self.base_env, **(extra or {}))
        self.out(f"==> {label}: {self.masker.mask(command)}\n")
        result = run_command(command, env=env, cwd=self.config.root, timeout=self.env.timeout,
                             masker=self.masker, out=self.out, label=f"[{label}] ", on_spawn=self.on_spawn)
        if result.excerpt:
            self.excerpts.append(f"[{label}]\n{result.excerpt}")
        if result.timed_out:
            self.out(f"<== {label} timed out after {self.env.timeout:g}s\n")
        elif not result.ok:
            self.out(f"<== {label} failed with exit code {result.returncode}\n")
        return result

    def _outcome(self, status: str, packages: dict[str, str], message: str = "") -> DeployOutcome:
        excerpt = "\n".join(self.excerpts)[-4000:]
        return DeployOutcome(status=status, packages=packages, message=message,  # type: ignore[arg-type]
                             excerpt=self.masker.mask(excerpt))

    def _command(self, item: PackagePlan, which: str) -> str | None:
        """A package's own ``deploy``/``smoke``: from the config (trusted), never from the release record."""
        spec = self.config.package(item.package.name)
        command: str | None = getattr(spec, which) if spec is not None else None
        return command

    def _package_extra(self, item: PackagePlan) -> dict[str, str]:
        return {"TRAINMASTER_PACKAGE": item.package.name, "TRAINMASTER_PACKAGE_PATH": str(item.path.resolve())}

    def steps(self, *, include_deploy: bool = True) -> DeployOutcome:
        """Deploy (unless ``include_deploy`` is false), then smoke, then monitor."""
        outcome: dict[str, str] = {}
        for item in self.plan:
            if item.action == "skip":
                outcome[item.package.name] = "skipped"
                self.out(f"skip {item.package.name}: {item.reason}\n")
        todo = [item for item in self.plan if item.action == "deploy"]
        if not todo:
            self.out("nothing to deploy: every package is already in its desired state\n")
            return self._outcome("succeeded", outcome)
        if include_deploy:
            env_deploy_done = False
            for item in todo:
                name = item.package.name
                command = self._command(item, "deploy")
                if command:
                    result = self.run(f"{name} deploy", command, self._package_extra(item))
                elif self.env.deploy and not env_deploy_done:
                    env_deploy_done = True
                    shared = [i for i in todo if not self._command(i, "deploy")]
                    result = self.run("deploy", self.env.deploy)
                    if not result.ok:
                        for other in shared:
                            outcome[other.package.name] = "failed"
                        return self._fail(outcome, todo, "deploy failed")
                    for other in shared:
                        outcome[other.package.name] = "deployed"
                    continue
                elif self.env.deploy:
                    continue
                else:
                    outcome[name] = "deployed"
                    continue
                if not result.ok:
                    outcome[name] = "failed"
                    return self._fail(outcome, todo, f"{name} deploy failed")
                outcome[name] = "deployed"
        else:
            for item in todo:
                outcome[item.package.name] = "deployed"
        return self.checks(outcome, todo)

    def checks(self, outcome: dict[str, str], todo: list[PackagePlan]) -> DeployOutcome:
        for item in todo:
            smoke = self._command(item, "smoke")
            if smoke:
                if not self.run(f"{item.package.name} smoke", smoke, self._package_extra(item)).ok:
                    outcome[item.package.name] = "failed"
                    return self._fail(outcome, todo, f"{item.package.name} smoke test failed", checks=True)
        if self.env.smoke and not self.run("smoke", self.env.smoke).ok:
            return self._fail(outcome, todo, "smoke test failed", checks=True)
        if self.env.monitor:
            from trainmaster.runner import run_monitor

            monitor = self.env.monitor
            self.out(f"==> monitor: every {monitor.every:g}s for {monitor.for_:g}s\n")
            result = run_monitor(monitor.command, every=monitor.every, for_=monitor.for_, env=self.base_env,
                                 cwd=self.config.root, timeout=self.env.timeout, masker=self.masker,
                                 out=self.out, on_spawn=self.on_spawn)
            if not result.ok:
                return self._fail(outcome, todo, "post-deploy monitoring failed", checks=True)
        failure = self.verify(self) if self.verify is not None else None
        if failure:
            return self._fail(outcome, todo, failure, checks=True)
        return self._outcome("succeeded", outcome)

    def _fail(self, outcome: dict[str, str], todo: list[PackagePlan], message: str, *,
              checks: bool = False) -> DeployOutcome:
        """Packages not reached are ``failed``; after a failed smoke or monitor check, all are."""
        for item in todo:
            if checks or item.package.name not in outcome:
                outcome[item.package.name] = "failed"
        return self._outcome("failed", outcome, message)
