"""trainmaster's Azure DevOps plugin: classic releases, the ``azure-devops`` target and ledger,
and the Azure Pipelines runner context (``##vso`` logging commands).

Registered through the ``trainmaster`` entry-point group as ``azure-devops =
"trainmaster_azure.adapter"``. The Azure DevOps client is the optional extra
``trainmaster[azure]``; it is imported only when an Azure environment is used.
"""

from __future__ import annotations

__all__ = ["adapter"]
