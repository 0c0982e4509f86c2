"""The built-in ``sqlite`` ledger: the train's questions answered from the local ledger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trainmaster.config.model import Config
from trainmaster.hookspecs import hookimpl
from trainmaster.interfaces import Deployment, LedgerFactory, Release


class LocalLedgerView:
    """Adapts :class:`trainmaster.ledger.SqliteLedger` to :class:`RemoteLedger`."""

    def __init__(self, config: Config, local: Any) -> None:
        self.local = local

    def succeeded(self, release: Release, environment: str) -> str | None:
        result: str | None = self.local.succeeded_at(release.id, environment)
        return result

    def history(self, environment: str | None, limit: int | None) -> list[Deployment]:
        result: list[Deployment] = self.local.history(environment, limit)
        return result

    def current(self, environment: str) -> Deployment | None:
        result: Deployment | None = self.local.latest(environment)
        return result


@hookimpl
def register_ledgers(register: Callable[[str, LedgerFactory], None]) -> None:
    register("sqlite", LocalLedgerView)
