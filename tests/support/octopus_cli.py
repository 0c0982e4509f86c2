"""The real ``trainmaster`` CLI in subprocesses against the Octopus fake (no tests here).

The adapter is loaded through the ``trainmaster`` entry-point group exactly as when installed: a
throwaway ``*.dist-info`` on PYTHONPATH declares ``octopus = trainmaster_octopus.adapter``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
project: MyApp
packages:
  app: app.bin
publish: [octopus]
octopus:
  poll_interval: 0.05
  environments: {dev: Development, staging: Staging, test: Test, prod: Production}
defaults:
  target: octopus
train:
  - name: dev
  - name: test
  - name: prod
"""

OCTOPUS_LEDGER_CONFIG = """\
project: MyApp
packages:
  app: app.bin
publish: [octopus]
ledger: octopus
octopus:
  poll_interval: 0.01
  environments: {dev: Development, test: Test, prod: Production}
defaults:
  target: octopus
train:
  - name: dev
  - name: test
  - name: prod
"""
"""The same train with `ledger: octopus`: Octopus holds the history (call-count tests and bench)."""


def entry_point(tmp_path: Path) -> Path:
    """A throwaway ``*.dist-info`` under ``tmp_path/ep`` declaring the ``octopus`` plugin; returns ``tmp_path/ep``
    (put it on PYTHONPATH)."""
    ep = tmp_path / "ep" / "trainmaster_octopus_ep-0.dist-info"
    ep.mkdir(parents=True, exist_ok=True)
    (ep / "METADATA").write_text("Metadata-Version: 2.1\nName: trainmaster-octopus-ep\nVersion: 0\n")
    (ep / "entry_points.txt").write_text("[trainmaster]\noctopus = trainmaster_octopus.adapter\n")
    return ep.parent


def cli_env(tmp_path: Path, octopus_fake: Any) -> dict[str, str]:
    """The environment of :func:`cli_project`'s commands (for a test that starts one itself)."""
    from tests.support.project import host_env  # without the CI markers of the run the tests are in

    return host_env(PYTHONPATH=os.pathsep.join([str(tmp_path / "ep"), str(ROOT / "src"), str(ROOT / "plugins")]),
                    OCTOPUS_URL=octopus_fake.url, OCTOPUS_API_KEY=octopus_fake.api_key, OCTOPUS_SPACE="Default")


Run = Callable[..., subprocess.CompletedProcess[str]]


def cli_project(tmp_path: Path, octopus_fake: Any) -> tuple[Run, Path, Any]:
    """``(run, work, fake)``: ``run(*args, **env)`` runs trainmaster in ``work`` (config: CONFIG)."""
    entry_point(tmp_path)
    work = tmp_path / "proj"
    work.mkdir()
    (work / "app.bin").write_bytes(b"binary-v1")
    (work / "trainmaster.yaml").write_text(CONFIG)
    env = cli_env(tmp_path, octopus_fake)

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "trainmaster", *args], cwd=work, env={**env, **extra},
                              capture_output=True, text=True, timeout=60)

    return run, work, octopus_fake
