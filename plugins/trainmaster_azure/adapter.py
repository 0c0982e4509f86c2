"""Hook implementations of the Azure DevOps plugin (entry point ``azure-devops``).

Registers the ``azure-devops`` target, ledger and publisher, the JSON Schema of the
``azure-devops:`` settings block, the Azure Pipelines CI context, and mirrors
``trainmaster approve`` into the classic release's approvals. Nothing here imports
``requests`` or ``azure.devops`` at module level: a missing ``trainmaster[azure]``
extra is reported only when an Azure environment is used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from trainmaster.hookspecs import hookimpl

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.interfaces import (
        Approval,
        CIContext,
        LedgerFactory,
        Publisher,
        PublisherFactory,
        Release,
        Target,
        TargetFactory,
    )

NAME = "azure-devops"


def _target(config: Config, environment: Environment) -> Target:
    from trainmaster_azure._target import AzureTarget

    return AzureTarget(config, environment)


def _ledger(config: Config, local: Any) -> Any:
    from trainmaster_azure._ledger import AzureLedger

    return AzureLedger(config, local)


def _publisher(config: Config) -> Publisher:
    from trainmaster_azure._publish import AzurePublisher

    return AzurePublisher()


@hookimpl
def register_targets(register: Callable[[str, TargetFactory], None]) -> None:
    register(NAME, _target)


@hookimpl
def register_ledgers(register: Callable[[str, LedgerFactory], None]) -> None:
    register(NAME, _ledger)


@hookimpl
def register_publishers(register: Callable[[str, PublisherFactory], None]) -> None:
    register(NAME, _publisher)


@hookimpl
def register_config_schema(register: Callable[[str, dict[str, Any]], None]) -> None:
    from trainmaster_azure._settings import SCHEMA

    register(NAME, SCHEMA)


@hookimpl
def ci_context(environ: Mapping[str, str]) -> CIContext | None:
    from trainmaster_azure.context import detect

    return detect(environ)


@hookimpl
def approval_recorded(approval: Approval, release: Release, environment: Environment, config: Config) -> None:
    """Record ``trainmaster approve`` on the stage's pending pre-deployment approval, when there is one."""
    if environment.target != NAME or not approval.counts:
        return
    from trainmaster_azure._approve import mirror

    mirror(approval, release, environment, config)
