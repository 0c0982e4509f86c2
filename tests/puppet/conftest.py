"""Fixtures of the Puppet Enterprise adapter's tests: fresh clients per test, a project driven through the CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.project import host_env
from trainmaster_puppet._settings import reset_clients

CONFIG = """\
project: demo
packages:
  app: app.bin
puppet-enterprise:
  server: {server}
  ports: {{code_manager: {port}, orchestrator: {port}, classifier: {port}}}
  node_group: {group}
  poll_interval: 0.05
defaults:
  target: puppet-enterprise
train:
  - name: dev
    variables: {{GREETING: hello-dev}}
  - name: test
    on_failure: rollback
  - name: prod
"""

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    reset_clients()
    yield
    reset_clients()


def make_project(tmp_path: Path, fake: Any, config: str = CONFIG) -> tuple[Run, Path, dict[str, str]]:
    work = tmp_path / "proj"
    work.mkdir()
    (work / "app.bin").write_bytes(b"binary-v1")
    (work / "trainmaster.yaml").write_text(config.format(server=fake.url, port=fake.port, group=fake.app_group))
    env = host_env(PE_TOKEN=fake.token)
    env.pop("TRAINMASTER_LOAD_PLUGINS", None)
    env.pop("PE_SERVER", None)
    env.pop("PE_CA_FILE", None)

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "trainmaster", *args], cwd=work, env={**env, **extra},
                              capture_output=True, text=True, timeout=60)

    return run, work, env


@pytest.fixture
def project(tmp_path: Path, puppet_fake: Any) -> tuple[Run, Path, Any, dict[str, str]]:
    """``(run, work dir, fake, env)``: ``run(*args)`` is the real ``trainmaster`` CLI against the fake."""
    run, work, env = make_project(tmp_path, puppet_fake)
    return run, work, puppet_fake, env


@pytest.fixture
def puppet_tls_fake(tmp_path: Path) -> Iterator[Any]:
    """A Puppet Enterprise fake on HTTPS; ``.ca_file`` is the self-signed CA made for it by ``openssl``."""
    from tests.fakes.plugin import _run
    from tests.fakes.puppet import PuppetFake

    yield from _run(PuppetFake(tls_dir=tmp_path / "pe-ca"))
