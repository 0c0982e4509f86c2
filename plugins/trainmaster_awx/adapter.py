"""Hook implementations of the AWX / Ansible Automation Platform controller adapter.

Registers the ``awx:`` settings schema and the ``awx`` target (launch a job template or a workflow
job template with the release manifest, wait for it), and carries ``trainmaster approve`` into the
pending approval node of the workflow job the release waits on.

Only light imports at module level: ``trainmaster --help`` must not import requests.
"""

from __future__ import annotations

from trainmaster.plugins import target_hooks

__all__ = ["register_config_schema", "register_targets"]

register_config_schema, register_targets = target_hooks(
    "awx", "trainmaster_awx._schema:SCHEMA", "trainmaster_awx._target:AwxTarget")
