"""Hook implementations of the HCP Terraform adapter: the ``terraform-cloud`` target and its settings.

Only light imports at module level: ``trainmaster --help`` must not import requests.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trainmaster.hookspecs import hookimpl

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.interfaces import Approval, Release, Target, TargetFactory

__all__ = ["approval_recorded", "register_config_schema", "register_targets"]

NAME = "terraform-cloud"


def _target(config: Config, environment: Environment) -> Target:
    from trainmaster_terraform_cloud._target import TerraformCloudTarget

    return TerraformCloudTarget(config, environment)


@hookimpl
def register_config_schema(register: Callable[[str, dict[str, Any]], None]) -> None:
    """The ``terraform-cloud:`` block (see docs/terraform-cloud.md)."""
    from trainmaster_terraform_cloud._settings import BLOCK, SCHEMA

    register(BLOCK, SCHEMA)


@hookimpl
def register_targets(register: Callable[[str, TargetFactory], None]) -> None:
    """Target ``terraform-cloud``: a run per deployment on the release's one configuration version."""
    register(NAME, _target)


@hookimpl
def approval_recorded(approval: Approval, release: Release, environment: Environment, config: Config) -> None:
    """``trainmaster approve``: apply this release's run that waits for confirmation (``actions/apply``)."""
    if environment.target != NAME or not approval.counts:
        return
    from trainmaster.errors import TrainmasterError
    from trainmaster_terraform_cloud._approve import approve

    try:
        note = approve(approval, release, environment, config)
    except TrainmasterError as err:
        note = f"terraform-cloud: the approval was recorded here but not in HCP Terraform: {err}"
    if note:
        sys.stderr.write(note + "\n")
