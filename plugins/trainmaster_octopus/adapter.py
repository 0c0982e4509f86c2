"""Hook implementations of the Octopus Deploy adapter.

Registers the ``octopus:`` settings schema, the ``octopus`` publisher (packages,
build information, releases; ``check`` reports drift), the ``octopus`` target
(deploy through Octopus and wait) and the ``octopus`` ledger (what is deployed
where). Octopus has no CI-runner protocol, so there is no ``ci_context``.

Only light imports at module level: ``trainmaster --help`` must not import requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trainmaster.hookspecs import hookimpl

if TYPE_CHECKING:
    from trainmaster.config.model import Config, Environment
    from trainmaster.interfaces import LedgerFactory, Publisher, RemoteLedger, Target, TargetFactory

__all__ = ["register_config_schema", "register_ledgers", "register_publishers", "register_targets"]


def _target(config: Config, environment: Environment) -> Target:
    from ._target import OctopusTarget

    return OctopusTarget(config, environment)


def _ledger(config: Config, local: Any) -> RemoteLedger:
    from ._ledger import OctopusLedger

    return OctopusLedger(config, local)


class _LazyPublisher:
    """Defers importing the publisher (and requests) until it is used."""

    def _real(self) -> Any:
        from ._publish import OctopusPublisher

        return OctopusPublisher()

    def ensure(self, release: Any, files: Any, config: Any) -> Any:
        return self._real().ensure(release, files, config)

    def check(self, release: Any, config: Any) -> Any:
        return self._real().check(release, config)

    def fetch(self, version: Any, dest: Any, config: Any) -> Any:
        return self._real().fetch(version, dest, config)


@hookimpl
def register_config_schema(register: Callable[[str, dict[str, Any]], None]) -> None:
    """The ``octopus:`` block (see docs/octopus.md)."""
    from ._settings import SCHEMA

    register("octopus", SCHEMA)


@hookimpl
def register_targets(register: Callable[[str, TargetFactory], None]) -> None:
    """Target ``octopus``: create deployments in Octopus and wait for their tasks."""
    register("octopus", _target)


@hookimpl
def register_ledgers(register: Callable[[str, LedgerFactory], None]) -> None:
    """Ledger ``octopus``: status and history from Octopus's progression."""
    register("octopus", _ledger)


@hookimpl
def register_publishers(register: Callable[[str, Publisher], None]) -> None:
    """Publisher ``octopus``: packages, build information and releases."""
    register("octopus", _LazyPublisher())
