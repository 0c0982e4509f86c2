"""Hook implementations of the Puppet Enterprise adapter.

Registers the ``puppet-enterprise:`` settings schema and the ``puppet-enterprise`` target (Code
Manager deploys the code environment, the orchestrator runs Puppet on a scope or runs a plan with
the release manifest, and the target waits for the job).

Only light imports at module level: ``trainmaster --help`` must not import requests.
"""

from __future__ import annotations

from trainmaster.plugins import target_hooks

__all__ = ["register_config_schema", "register_targets"]

register_config_schema, register_targets = target_hooks(
    "puppet-enterprise", "trainmaster_puppet._schema:SCHEMA", "trainmaster_puppet._target:PuppetTarget")
