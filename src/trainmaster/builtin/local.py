"""The built-in ``local`` target: run the environment's commands on this machine."""

from __future__ import annotations

from collections.abc import Callable

from trainmaster.config.model import Config, Environment
from trainmaster.hookspecs import hookimpl
from trainmaster.interfaces import DeployJob, DeployOutcome, TargetFactory


class LocalTarget:
    """Runs ``deploy``, ``smoke`` and ``monitor`` with a clean environment (see :class:`DeployJob`)."""

    def __init__(self, config: Config, environment: Environment) -> None:
        self.config = config
        self.environment = environment
        if not environment.deploy and not all(p.deploy for p in config.packages):
            from trainmaster.errors import ConfigError

            where = environment.location
            raise ConfigError(f"environment {environment.name!r} has no deploy command: give it (or defaults) "
                              "a `deploy:`, or give every package its own", file=where.file if where else None,
                              line=where.line if where else None, column=where.column if where else None,
                              key="deploy")

    def validate(self) -> None:
        return None

    def deploy(self, job: DeployJob) -> DeployOutcome:
        return job.run_steps()


@hookimpl
def register_targets(register: Callable[[str, TargetFactory], None]) -> None:
    register("local", LocalTarget)
