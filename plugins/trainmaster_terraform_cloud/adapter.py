"""Hook implementations of the HCP Terraform adapter: the ``terraform-cloud`` target and its settings.

Only light imports at module level: ``trainmaster --help`` must not import requests.
"""

from __future__ import annotations

from trainmaster.plugins import target_hooks

__all__ = ["register_config_schema", "register_targets"]

register_config_schema, register_targets = target_hooks(
    "terraform-cloud", "trainmaster_terraform_cloud._schema:SCHEMA",
    "trainmaster_terraform_cloud._target:TerraformCloudTarget")
