"""Hook implementations of the AWX / Ansible Automation Platform controller adapter.

Registers the ``awx:`` settings schema and the ``awx`` target (launch a job template or a workflow
job template with the release manifest, wait for it), and carries ``trainmaster approve`` into the
pending approval node of the workflow job the release waits on.

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

NAME = "awx"


def _target(config: Config, environment: Environment) -> Target:
    from trainmaster_awx._target import AwxTarget

    return AwxTarget(config, environment)


@hookimpl
def register_config_schema(register: Callable[[str, dict[str, Any]], None]) -> None:
    """The ``awx:`` block (see docs/awx.md)."""
    from trainmaster_awx._settings import SCHEMA

    register(NAME, SCHEMA)


@hookimpl
def register_targets(register: Callable[[str, TargetFactory], None]) -> None:
    """Target ``awx``: launch an AWX job template or workflow job template and wait for it."""
    register(NAME, _target)


@hookimpl
def approval_recorded(approval: Approval, release: Release, environment: Environment, config: Config) -> None:
    """Approve the workflow's pending approval node for ``release`` in ``environment``, when there is one."""
    if environment.target != NAME or not approval.counts:
        return
    from trainmaster.errors import TrainmasterError

    try:
        from trainmaster_awx._approve import approve

        note = approve(approval, release, environment, config)
    except TrainmasterError as err:
        note = f"awx: the approval was recorded here but not in AWX: {err}"
    if note:
        sys.stderr.write(note + "\n")
