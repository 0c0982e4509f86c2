"""The core's tests use the CLI fixtures of ``tests/conftest.py``; in-process plugin tests take
``tests.support.plugins.fresh_plugin_manager`` into their module (it is autouse there)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.decisions import OtherRunner
from trainmaster.ledger import SqliteLedger


@pytest.fixture
def other_runner(tmp_path: Path) -> Iterator[SqliteLedger]:
    """A second runner's ledger, answering as ``ledger: other-runner`` while the test runs."""
    from trainmaster.plugins import get_plugin_manager

    ledger = SqliteLedger(tmp_path / "other" / "ledger.db")
    pm = get_plugin_manager()
    pm.register(OtherRunner(ledger.path), name="other-runner")
    try:
        yield ledger
    finally:
        pm.unregister(name="other-runner")
        ledger.close()
