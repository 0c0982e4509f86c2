"""Hook implementations of the Puppet Enterprise adapter.

Registers the ``puppet-enterprise:`` settings schema and the ``puppet-enterprise`` target (Code
Manager deploys the code environment, the orchestrator runs Puppet on a scope or runs a plan with
the release manifest, and the target waits for the job).

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

NAME = "puppet-enterprise"


@hookimpl
def register_config_schema(register: Callable[[str, dict[str, Any]], None]) -> None:
    """The ``puppet-enterprise:`` block (see docs/puppet-enterprise.md)."""
    from trainmaster_puppet._schema import SCHEMA

    register(NAME, SCHEMA)


@hookimpl
def register_targets(register: Callable[[str, TargetFactory], None]) -> None:
    """Target ``puppet-enterprise``: Code Manager, then an orchestrator job (or plan), waited on."""
    register(NAME, lazy("trainmaster_puppet._target:PuppetTarget"))
