"""Fixtures of the HCP Terraform adapter's tests: a project whose train runs through the fake."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.project import host_env

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """\
project: infra
packages:
  infra: infra.tar.gz
terraform-cloud:
  hostname: {url}
  organization: acme
  poll_interval: 0.01
  timeout: {timeout}
defaults:
  target: terraform-cloud
train:
  - name: dev
  - name: test
    on_failure: rollback
  - name: prod
"""


def config_archive(text: str) -> bytes:
    """A .tar.gz holding one main.tf (deterministic bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        data = text.encode()
        info = tarfile.TarInfo("main.tf")
        info.size, info.mtime = len(data), 0
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def tfc_project(tmp_path: Path, terraform_cloud_fake: Any) -> Any:
    """(run, work dir, fake): ``run(*args, **env)`` runs ``python -m trainmaster`` in the project."""
    work = tmp_path / "proj"
    work.mkdir()
    (work / "infra.tar.gz").write_bytes(config_archive('variable "trainmaster" {}\n'))
    (work / "trainmaster.yaml").write_text(CONFIG.format(url=terraform_cloud_fake.url, timeout=30))
    env = host_env(TF_API_TOKEN=terraform_cloud_fake.token,
                   PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT / "plugins")]))
    env.pop("TFE_TOKEN", None)

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "trainmaster", *args], cwd=work, env={**env, **extra},
                              capture_output=True, text=True, timeout=120)

    return run, work, terraform_cloud_fake
