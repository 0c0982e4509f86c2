"""Hook implementations of the AWX / Ansible Automation Platform controller adapter.

Registers the ``awx:`` settings schema and the ``awx`` target (launch a job template or a workflow
job template with the release manifest, wait for it), and carries ``trainmaster approve`` into the
pending approval node of the workflow job the release waits on.

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

NAME = "awx"


@hookimpl
def register_config_schema(register: Callable[[str, dict[str, Any]], None]) -> None:
    """The ``awx:`` block (see docs/awx.md)."""
    from trainmaster_awx._schema import SCHEMA

    register(NAME, SCHEMA)


@hookimpl
def register_targets(register: Callable[[str, TargetFactory], None]) -> None:
    """Target ``awx``: launch an AWX job template or workflow job template and wait for it."""
    register(NAME, lazy("trainmaster_awx._target:AwxTarget"))
