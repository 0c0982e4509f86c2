"""Fixtures of the Azure DevOps adapter's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.azure import agent_env


@pytest.fixture
def env(azure_fake: Any, tmp_path: Path) -> dict[str, str]:
    """A later pipeline run (build 202) acting on releases built by build 101."""
    return agent_env(azure_fake, tmp_path, BUILD_BUILDID="202", BUILD_BUILDNUMBER="20240102.1")


@pytest.fixture(autouse=True)
def _fresh_command() -> None:
    """Each test starts as a new command: no reads of an earlier test's fake are remembered."""
    from trainmaster_azure import _remote

    _remote.reset()
