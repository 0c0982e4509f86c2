"""Hook implementations of the Azure DevOps plugin (entry point ``azure-devops``).

Registers the ``azure-devops`` target, ledger and publisher, the JSON Schema of the
``azure-devops:`` settings block, the Azure Pipelines CI context, and mirrors
``trainmaster approve`` into the classic release's approvals. Nothing here imports
``requests`` or ``azure.devops`` at module level: a missing ``trainmaster[azure]``
extra is reported only when an Azure environment is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from trainmaster.hookspecs import hookimpl
from trainmaster.plugins import lazy_hook, schema_hook

if TYPE_CHECKING:
    from trainmaster.interfaces import CIContext

NAME = "azure-devops"

register_targets = lazy_hook(NAME, "trainmaster_azure._target:AzureTarget")
register_ledgers = lazy_hook(NAME, "trainmaster_azure._ledger:AzureLedger")
register_publishers = lazy_hook(NAME, "trainmaster_azure._publish:AzurePublisher", with_arguments=False)
register_config_schema = schema_hook(NAME, "trainmaster_azure._schema:SCHEMA")


@hookimpl
def ci_context(environ: Mapping[str, str]) -> CIContext | None:
    from trainmaster_azure.context import detect

    return detect(environ)
