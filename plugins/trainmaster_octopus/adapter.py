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
from trainmaster.plugins import lazy

if TYPE_CHECKING:
    from trainmaster.interfaces import LedgerFactory, PublisherFactory, TargetFactory

__all__ = ["register_config_schema", "register_ledgers", "register_publishers", "register_targets"]


@hookimpl
def register_config_schema(register: Callable[[str, dict[str, Any]], None]) -> None:
    """The ``octopus:`` block (see docs/octopus.md)."""
    from trainmaster_octopus._schema import SCHEMA

    register("octopus", SCHEMA)


@hookimpl
def register_targets(register: Callable[[str, TargetFactory], None]) -> None:
    """Target ``octopus``: create deployments in Octopus and wait for their tasks."""
    register("octopus", lazy("trainmaster_octopus._target:OctopusTarget"))


@hookimpl
def register_ledgers(register: Callable[[str, LedgerFactory], None]) -> None:
    """Ledger ``octopus``: status and history from Octopus's progression."""
    register("octopus", lazy("trainmaster_octopus._ledger:OctopusLedger"))


@hookimpl
def register_publishers(register: Callable[[str, PublisherFactory], None]) -> None:
    """Publisher ``octopus``: packages, build information and releases."""
    register("octopus", lazy("trainmaster_octopus._publish:OctopusPublisher", with_arguments=False))
