"""Fixtures of the Octopus adapter's tests: fresh clients per test and the fake's connection settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from trainmaster_octopus._settings import reset_clients


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    """Every test starts without the clients (and their caches) an earlier test built."""
    reset_clients()
    yield
    reset_clients()


@pytest.fixture
def octo(octopus_fake: Any) -> tuple[Any, dict[str, str]]:
    """The Octopus fake and the variables that point the adapter at it."""
    env = {"OCTOPUS_URL": octopus_fake.url, "OCTOPUS_API_KEY": octopus_fake.api_key, "OCTOPUS_SPACE": "Default"}
    return octopus_fake, env
