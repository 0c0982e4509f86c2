"""Hook implementations of the GitHub adapter (entry point ``github = "trainmaster_github.adapter"``).

* ``ci_context``: the GitHub Actions runner, when ``GITHUB_ACTIONS=true``;
* ``register_config_schema``: the ``github:`` settings block;
* ``register_publishers``: ``github`` (GitHub Releases, draft → assets → publish);
* ``register_targets``: ``github`` (a GitHub Deployment per deploy; commands run in the job);
* ``register_ledgers``: ``github`` (the train's questions answered from the Deployments API).

Nothing heavy is imported here: ``requests`` is loaded only when GitHub is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from trainmaster.hookspecs import hookimpl
from trainmaster.plugins import lazy_hook, schema_hook

if TYPE_CHECKING:
    from trainmaster.interfaces import CIContext

NAME = "github"

register_config_schema = schema_hook(NAME, "trainmaster_github._schema:SCHEMA")
register_publishers = lazy_hook(NAME, "trainmaster_github._publish:GitHubPublisher", with_arguments=False)
register_targets = lazy_hook(NAME, "trainmaster_github._target:GitHubTarget")
register_ledgers = lazy_hook(NAME, "trainmaster_github._ledger:GitHubLedger")


@hookimpl
def ci_context(environ: Mapping[str, str]) -> CIContext | None:
    """The GitHub Actions context inside a workflow job, else None."""
    from trainmaster_github.context import GitHubActionsContext, is_github_actions

    return GitHubActionsContext(environ) if is_github_actions(environ) else None
