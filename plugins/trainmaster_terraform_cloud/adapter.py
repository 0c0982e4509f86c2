"""Hook implementations of the HCP Terraform adapter: the ``terraform-cloud`` target and its settings.

Only light imports at module level: ``trainmaster --help`` must not import requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trainmaster.hookspecs import hookimpl
from trainmaster.plugins import lazy

if TYPE_CHECKING:
    from trainmaster.interfaces import TargetFactory

__all__ = ["register_config_schema", "register_targets"]

NAME = "terraform-cloud"


@hookimpl
def register_config_schema(register: Callable[[str, dict[str, Any]], None]) -> None:
    """The ``terraform-cloud:`` block (see docs/terraform-cloud.md)."""
    from trainmaster_terraform_cloud._schema import BLOCK, SCHEMA

    register(BLOCK, SCHEMA)


@hookimpl
def register_targets(register: Callable[[str, TargetFactory], None]) -> None:
    """Target ``terraform-cloud``: a run per deployment on the release's one configuration version."""
    register(NAME, lazy("trainmaster_terraform_cloud._target:TerraformCloudTarget"))
