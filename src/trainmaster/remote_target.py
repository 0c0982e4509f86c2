"""What the targets of the engines that deploy a whole environment in one job share.

AWX, Puppet Enterprise, HCP Terraform and Octopus each run one job (a job template, an
orchestrator job, a run, a task) over a whole environment. Their targets are made per
environment from the adapter's settings block, resolved (and checked offline, exit 2) when the
target is made, so ``trainmaster validate`` and every deployment refuse a bad block before
anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment

__all__ = ["RemoteTarget"]


class RemoteTarget:
    """The start of a :class:`~trainmaster.interfaces.Target` built from one settings block.

    A subclass sets ``settings_class`` (its ``resolve(config, environment)`` raises a
    ConfigError, exit 2, for what can be checked offline), declares ``settings`` with that
    class's type, and sets ``whole_environment``. ``environ`` holds the variables credentials
    are read from (``None``: the process's).
    """

    settings_class: ClassVar[Any]
    settings: Any
    whole_environment: ClassVar[tuple[str, str]]
    """``(why, instead)``: deploys a whole environment in one job, so ``instances``/``strategy``
    are refused (exit 2, :func:`trainmaster.strategies.refuse_strategy`)."""

    def __init__(self, config: Config, environment: Environment, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.environment = environment
        self.environ = environ
        self.settings = self.settings_class.resolve(config, environment)

    def validate(self) -> None:
        """Offline checks happened when the target was built (``settings_class.resolve``)."""
