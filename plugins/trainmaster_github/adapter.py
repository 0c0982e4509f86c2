"""Hook implementations of the GitHub adapter (entry point ``github = "trainmaster_github.adapter"``).

* ``ci_context``: the GitHub Actions runner, when ``GITHUB_ACTIONS=true``;
* ``register_config_schema``: the ``github:`` settings block;
* ``register_publishers``: ``github`` (GitHub Releases, draft → assets → publish);
* ``register_targets``: ``github`` (a GitHub Deployment per deploy; commands run in the job);
* ``register_ledgers``: ``github`` (the train's questions answered from the Deployments API).

Nothing heavy is imported here: ``requests`` is loaded only when GitHub is called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from trainmaster.hookspecs import hookimpl

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.interfaces import CIContext, LedgerFactory, Publisher, PublisherFactory, Target, TargetFactory
    from trainmaster_github._ledger import GitHubLedger

NAME = "github"


@hookimpl
def ci_context(environ: Mapping[str, str]) -> CIContext | None:
    """The GitHub Actions context inside a workflow job, else None."""
    from trainmaster_github.context import GitHubActionsContext, is_github_actions

    return GitHubActionsContext(environ) if is_github_actions(environ) else None


@hookimpl
def register_config_schema(register: Callable[[str, dict[str, Any]], None]) -> None:
    from trainmaster_github._settings import SCHEMA

    register(NAME, SCHEMA)


def _target(config: Config, environment: Environment) -> Target:
    from trainmaster_github._target import GitHubTarget

    return GitHubTarget(config, environment)


def _ledger(config: Config, local: Any) -> GitHubLedger:
    from trainmaster_github._ledger import GitHubLedger

    return GitHubLedger(config, local)


def _publisher(config: Config) -> Publisher:
    from trainmaster_github._publish import GitHubPublisher

    return GitHubPublisher()


@hookimpl
def register_publishers(register: Callable[[str, PublisherFactory], None]) -> None:
    register(NAME, _publisher)


@hookimpl
def register_targets(register: Callable[[str, TargetFactory], None]) -> None:
    register(NAME, _target)


@hookimpl
def register_ledgers(register: Callable[[str, LedgerFactory], None]) -> None:
    register(NAME, _ledger)
