"""Fixtures of the AWX adapter's tests: fresh clients per test, and a project driven through the CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.project import host_env
from trainmaster_awx._settings import reset_clients

CONFIG = """\
project: demo
packages:
  app: app.bin
awx:
  job_template: deploy-app
  poll_interval: 0.05
defaults:
  target: awx
train:
  - name: dev
    variables: {GREETING: hello-dev}
  - name: test
    on_failure: rollback
  - name: prod
"""


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    reset_clients()
    yield
    reset_clients()


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def project(tmp_path: Path, awx_fake: Any) -> tuple[Run, Path, Any, dict[str, str]]:
    """``(run, work dir, fake, env)``: ``run(*args)`` is the real ``trainmaster`` CLI against the fake."""
    work = tmp_path / "proj"
    work.mkdir()
    (work / "app.bin").write_bytes(b"binary-v1")
    (work / "trainmaster.yaml").write_text(CONFIG)
    env = host_env(CONTROLLER_HOST=awx_fake.url, CONTROLLER_OAUTH_TOKEN=awx_fake.token)

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "trainmaster", *args], cwd=work, env={**env, **extra},
                              capture_output=True, text=True, timeout=60)

    return run, work, awx_fake, env
