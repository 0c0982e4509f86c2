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
from trainmaster.plugins import lazy

if TYPE_CHECKING:
    from trainmaster.interfaces import (
        CIContext,
        LedgerFactory,
        PublisherFactory,
        TargetFactory,
    )

NAME = "azure-devops"


@hookimpl
def register_targets(register: Callable[[str, TargetFactory], None]) -> None:
    register(NAME, lazy("trainmaster_azure._target:AzureTarget"))


@hookimpl
def register_ledgers(register: Callable[[str, LedgerFactory], None]) -> None:
    register(NAME, lazy("trainmaster_azure._ledger:AzureLedger"))


@hookimpl
def register_publishers(register: Callable[[str, PublisherFactory], None]) -> None:
    register(NAME, lazy("trainmaster_azure._publish:AzurePublisher", with_arguments=False))


@hookimpl
def register_config_schema(register: Callable[[str, dict[str, Any]], None]) -> None:
    from trainmaster_azure._schema import SCHEMA

    register(NAME, SCHEMA)


@hookimpl
def ci_context(environ: Mapping[str, str]) -> CIContext | None:
    from trainmaster_azure.context import detect

    return detect(environ)
